/*
 * testlib — helpers shared by the Check suites: scratch directories,
 * files, child processes with captured output and a time bound, control
 * socket requests and a fake NOTIFY_SOCKET.
 *
 * Every child a test starts gets PR_SET_PDEATHSIG, so a failing test
 * (Check runs each in its own process) never leaves a daemon behind.
 */
#ifndef ACGW_TESTLIB_H
#define ACGW_TESTLIB_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acgw/json.h"

/* A test case added to s; the caller adds its tests. */
static inline TCase *
tl_tcase(Suite *s, const char *name, int timeout_s)
{
	TCase *tc = tcase_create(name);

	if (timeout_s > 0)
		tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

/* Runs every test in s; the exit status for main(). */
static inline int
tl_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static inline long
tl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline const char *
tl_env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v != NULL && *v != '\0', "%s is not set (run the "
	    "tests with make check)", name);
	return v;
}

/* A fresh directory under /tmp, 0755 so that other uids can reach it. */
static inline char *
tl_tmpdir(void)
{
	char tmpl[] = "/tmp/acgw-test.XXXXXX";
	char *d = mkdtemp(tmpl);

	ck_assert_msg(d != NULL, "mkdtemp: %s", strerror(errno));
	ck_assert_int_eq(chmod(d, 0755), 0);
	return strdup(d);
}

static inline void
tl_rmrf(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
}

static inline char *
tl_path(const char *dir, const char *name)
{
	char *p;

	ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static inline void
tl_write(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "w");
	va_list ap;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
}

/* Whole file, NUL-terminated ("" if missing). */
static inline char *
tl_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t len = 0, cap = 4096, r;

	buf = malloc(cap);
	ck_assert(buf != NULL);
	buf[0] = '\0';
	if (f == NULL)
		return buf;
	while ((r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += r;
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert(buf != NULL);
		}
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* Polls until path's content contains needle, or timeout. */
static inline int
tl_wait_file_contains(const char *path, const char *needle, int timeout_ms)
{
	long end = tl_now_ms() + timeout_ms;

	do {
		char *s = tl_read(path);
		int found = strstr(s, needle) != NULL;

		free(s);
		if (found)
			return 1;
		usleep(10000);
	} while (tl_now_ms() < end);
	return 0;
}

struct tl_run {
	int status;		/* exit code, or 128 + signal */
	char *out;
	char *err;
};

/* Optional hook run in the child before exec (e.g. to drop privileges). */
typedef void (*tl_child_hook)(void *arg);

static inline void
tl_run_free(struct tl_run *r)
{
	free(r->out);
	free(r->err);
}

/*
 * Runs argv to completion (killed after timeout_ms) and captures its
 * stdout and stderr into files under dir.
 */
static inline struct tl_run
tl_run_as(const char *dir, char *const argv[], int timeout_ms,
    tl_child_hook hook, void *arg)
{
	static int seq;
	struct tl_run r;
	char *outp, *errp;
	pid_t pid;
	int st = 0;
	long end = tl_now_ms() + timeout_ms;

	ck_assert(asprintf(&outp, "%s/run%d.out", dir, seq) > 0);
	ck_assert(asprintf(&errp, "%s/run%d.err", dir, seq++) > 0);
	pid = fork();
	ck_assert(pid != -1);
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0666);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (o == -1 || e == -1)
			_exit(126);
		dup2(o, 1);
		dup2(e, 2);
		if (hook != NULL)
			hook(arg);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			break;
		if (tl_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			ck_abort_msg("%s did not finish within %d ms", argv[0],
			    timeout_ms);
		}
		usleep(5000);
	}
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.out = tl_read(outp);
	r.err = tl_read(errp);
	free(outp);
	free(errp);
	return r;
}

static inline struct tl_run
tl_run(const char *dir, char *const argv[], int timeout_ms)
{
	return tl_run_as(dir, argv, timeout_ms, NULL, NULL);
}

/* Starts a long-running child with stdout+stderr appended to logpath. */
static inline pid_t
tl_spawn(char *const argv[], const char *logpath, char *const extra_env[])
{
	pid_t pid = fork();

	ck_assert(pid != -1);
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd == -1)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		for (size_t i = 0; extra_env && extra_env[i]; i++)
			putenv(extra_env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Waits for pid to exit; returns its status as tl_run does, -1 on timeout. */
static inline int
tl_wait_exit(pid_t pid, int timeout_ms)
{
	long end = tl_now_ms() + timeout_ms;
	int st;

	do {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		usleep(5000);
	} while (tl_now_ms() < end);
	return -1;
}

static inline int
tl_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert(fd != -1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static inline int
tl_wait_socket(const char *path, int timeout_ms)
{
	long end = tl_now_ms() + timeout_ms;

	do {
		int fd = tl_connect(path);

		if (fd != -1) {
			close(fd);
			return 1;
		}
		usleep(10000);
	} while (tl_now_ms() < end);
	return 0;
}

/* Reads one line (without newline) within timeout; NULL on EOF/timeout. */
static inline char *
tl_readline(int fd, int timeout_ms)
{
	size_t len = 0, cap = 1024;
	char *buf = malloc(cap);
	long end = tl_now_ms() + timeout_ms;

	ck_assert(buf != NULL);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		long left = end - tl_now_ms();
		ssize_t r;
		char c;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		r = read(fd, &c, 1);
		if (r <= 0)
			break;
		if (c == '\n') {
			buf[len] = '\0';
			return buf;
		}
		if (len + 2 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert(buf != NULL);
		}
		buf[len++] = c;
	}
	free(buf);
	return NULL;
}

/* Sends raw bytes (a request line with its newline) and reads one reply. */
static inline char *
tl_request_raw(const char *sock, const char *data, size_t len)
{
	int fd = tl_connect(sock);
	char *reply;

	ck_assert_msg(fd != -1, "connect %s: %s", sock, strerror(errno));
	ck_assert(write(fd, data, len) == (ssize_t)len);
	reply = tl_readline(fd, 10000);
	close(fd);
	ck_assert_msg(reply != NULL, "no reply to %.40s", data);
	return reply;
}

static inline char *
tl_request(const char *sock, const char *line)
{
	char *buf;
	char *reply;

	ck_assert(asprintf(&buf, "%s\n", line) > 0);
	reply = tl_request_raw(sock, buf, strlen(buf));
	free(buf);
	return reply;
}

/*
 * The value of "key" in acgwctl's "key   value" listing (a malloc'd
 * copy), or NULL if no line has that key.
 */
static inline char *
tl_table_value(const char *out, const char *key)
{
	size_t kl = strlen(key);

	for (const char *l = out; l != NULL && *l != '\0';
	    l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *v = l + kl;

		if (strncmp(l, key, kl) != 0 || *v != ' ')
			continue;
		while (*v == ' ')
			v++;
		return strndup(v, strcspn(v, "\n"));
	}
	return NULL;
}

/* A datagram socket standing in for systemd's NOTIFY_SOCKET. */
static inline int
tl_notify_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert(fd != -1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0,
	    "bind %s: %s", path, strerror(errno));
	return fd;
}

/* Next notification datagram, or NULL after timeout. */
static inline char *
tl_notify_recv(int fd, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[4096];
	ssize_t r;

	if (poll(&p, 1, timeout_ms) <= 0)
		return NULL;
	r = recv(fd, buf, sizeof(buf) - 1, 0);
	if (r < 0)
		return NULL;
	buf[r] = '\0';
	return strdup(buf);
}

/* Receives datagrams until one starts with prefix; returns it or NULL. */
static inline char *
tl_notify_expect(int fd, const char *prefix, int timeout_ms)
{
	long end = tl_now_ms() + timeout_ms;

	while (tl_now_ms() < end) {
		char *m = tl_notify_recv(fd, (int)(end - tl_now_ms()));

		if (m == NULL)
			return NULL;
		if (strncmp(m, prefix, strlen(prefix)) == 0)
			return m;
		free(m);
	}
	return NULL;
}

/* A loopback TCP port that was free a moment ago. */
static inline int
tl_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	ck_assert(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/*
 * A JSON value as text: a string bare, anything else written back as
 * compact JSON (a malloc'd copy). For asserting on record members.
 */
static inline char *
tl_json_text(const struct json_value *f)
{
	struct json_buf j;
	char *s;

	if (f->type == JSON_STRING)
		return strdup(f->string);
	json_init(&j, 0);
	json_write_value(&j, f);
	s = strdup(j.s);
	json_free(&j);
	return s;
}

static inline int
tl_is_audit_file(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return strncmp(de->d_name, "audit-", 6) == 0 && n > 4 &&
	    strcmp(de->d_name + n - 4, ".log") == 0;
}

/* The audit log's files in dir, oldest first (names sort by number). */
static inline size_t
tl_audit_files(const char *dir, char ***out)
{
	struct dirent **de;
	int n = scandir(dir, &de, tl_is_audit_file, alphasort);

	ck_assert_int_ge(n, 0);
	*out = calloc((size_t)n + 1, sizeof(char *));
	ck_assert_ptr_nonnull(*out);
	for (int i = 0; i < n; i++) {
		(*out)[i] = tl_path(dir, de[i]->d_name);
		free(de[i]);
	}
	free(de);
	return (size_t)n;
}

static inline void
tl_files_free(char **files)
{
	for (size_t i = 0; files[i] != NULL; i++)
		free(files[i]);
	free(files);
}

/*
 * The helpers below run in main(), outside any test, where Check's
 * macros (even passing ones) have no runner to report to: plain C only.
 */

/* Whole file (at most 64 KiB), "" if missing; NULL without memory. */
static inline char *
tl_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	if (buf == NULL) {
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	if (f != NULL) {
		n = fread(buf, 1, 65535, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* Runs scripts/mkpki (ACGW_MKPKI) into dir; 0 on success. */
static inline int
tl_make_pki(const char *dir)
{
	const char *mkpki = getenv("ACGW_MKPKI");
	char *logp;
	pid_t pid;
	int st;

	if (mkpki == NULL || *mkpki == '\0') {
		fprintf(stderr, "ACGW_MKPKI is not set (run the tests with "
		    "make check)\n");
		return -1;
	}
	if (asprintf(&logp, "%s.log", dir) < 0)
		return -1;
	if ((pid = fork()) == -1) {
		free(logp);
		return -1;
	}
	if (pid == 0) {
		int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd == -1)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		execl("/bin/sh", "sh", mkpki, dir, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		char *s = tl_slurp(logp);

		fprintf(stderr, "%s %s failed:\n%s", mkpki, dir, s ? s : "");
		free(s);
		free(logp);
		return -1;
	}
	unlink(logp);
	free(logp);
	return 0;
}

#endif
