/*
 * The audit log with real processes: a writer killed -9 at random points
 * (every record it reported durable must be in the log, which must
 * verify), acgwd failing closed when its audit file cannot grow and
 * resuming when it can, and what acgwd records of its own life and of
 * its operators, read back with acgwctl and verified offline.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "acgw/audit.h"
#include "acgw/json.h"
#include "../lib/testlib.h"

#define FILE_LIMIT 4096		/* RLIMIT_FSIZE of the disk-full daemon */

struct env {
	char *dir, *audit, *k0, *cfg, *sock, *log, *notify_path;
	int notify_fd;
	pid_t pid, cat;
};

static void
env_setup(struct env *e, const char *extra)
{
	memset(e, 0, sizeof(*e));
	e->notify_fd = -1;
	e->dir = tl_tmpdir();
	e->audit = tl_path(e->dir, "audit");
	e->k0 = tl_path(e->dir, "k0");
	e->cfg = tl_path(e->dir, "acgwd.yaml");
	e->sock = tl_path(e->dir, "control.sock");
	e->log = tl_path(e->dir, "acgwd.log");
	e->notify_path = tl_path(e->dir, "notify");
	/* No syslog mirror: the tests must not fill the host's logs. */
	tl_write(e->cfg, "log:\n  level: debug\ncontrol:\n  socket: %s\n"
	    "audit:\n  dir: %s\n  syslog: false\n%s", e->sock, e->audit,
	    extra ? extra : "");
}

/*
 * Reads what acgwd sent to NOTIFY_SOCKET since: a datagram queue holds
 * only a few, and a full one would block the daemon's next reload.
 */
static void
drain_notify(struct env *e)
{
	char *m;

	while (e->notify_fd != -1 && (m = tl_notify_recv(e->notify_fd, 0)) !=
	    NULL)
		free(m);
}

static struct tl_run
ctl(struct env *e, const char *a1, const char *a2, const char *a3,
    const char *a4, const char *a5)
{
	char *argv[] = { (char *)tl_env("ACGWCTL"), "-s", e->sock,
	    (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5, NULL };

	drain_notify(e);
	return tl_run(e->dir, argv, 15000);
}

/* acgwctl audit init --dir DIR --export K0: a new log, K0 in a file. */
static void
env_init_log(struct env *e)
{
	struct tl_run r = ctl(e, "audit", "init", "--dir", e->audit, "--export");
	char *argv[] = { (char *)tl_env("ACGWCTL"), "audit", "init", "--dir",
	    e->audit, "--export", e->k0, NULL };
	char *want;
	struct stat st;

	/* (That one lacked the file: a usage error, and nothing created.) */
	ck_assert_int_eq(r.status, 2);
	ck_assert_int_eq(access(e->audit, F_OK), -1);
	tl_run_free(&r);
	r = tl_run(e->dir, argv, 15000);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(asprintf(&want, "audit log created in %s; K0 written to %s\n"
	    "Move %s offline: it verifies every record ever written, and "
	    "acgwd keeps no copy once the key evolves.\n", e->audit, e->k0,
	    e->k0) > 0);
	ck_assert_str_eq(r.out, want);
	free(want);
	tl_run_free(&r);
	ck_assert_int_eq(stat(e->k0, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
}

/*
 * Starts acgwd with its output through a pipe into the log (a pipe is
 * not limited by RLIMIT_FSIZE, so a small limit hits the audit file and
 * not the daemon's own log) and waits for READY=1. fsize 0: no limit.
 */
static void
daemon_start(struct env *e, rlim_t fsize)
{
	char *argv[] = { (char *)tl_env("ACGWD"), "-f", "-c", e->cfg, NULL };
	char *notify, *m;
	int p[2];

	if (e->notify_fd == -1)
		e->notify_fd = tl_notify_listen(e->notify_path);
	ck_assert(asprintf(&notify, "NOTIFY_SOCKET=%s", e->notify_path) > 0);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	e->cat = fork();
	ck_assert(e->cat != -1);
	if (e->cat == 0) {
		int fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd == -1)
			_exit(126);
		dup2(p[0], 0);
		dup2(fd, 1);
		execl("/bin/cat", "cat", (char *)NULL);
		_exit(127);
	}
	e->pid = fork();
	ck_assert(e->pid != -1);
	if (e->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		dup2(p[1], 2);
		if (fsize != 0) {
			struct rlimit rl = { fsize, RLIM_INFINITY };

			/* EFBIG from write(), not death by SIGXFSZ. */
			signal(SIGXFSZ, SIG_IGN);
			if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
				_exit(125);
		}
		putenv(notify);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[0]);
	close(p[1]);
	free(notify);
	m = tl_notify_expect(e->notify_fd, "READY=1", 15000);
	ck_assert_msg(m != NULL, "acgwd did not report READY=1; log:\n%s",
	    tl_read(e->log));
	ck_assert_str_eq(m, "READY=1\nSTATUS=running");
	free(m);
}

/* SIGTERM: acgwd must stop cleanly, and its log pipe drain. */
static void
daemon_stop(struct env *e)
{
	int st;

	if (e->pid <= 0)
		return;
	kill(e->pid, SIGTERM);
	st = tl_wait_exit(e->pid, 15000);
	ck_assert_msg(st == 0, "acgwd exited with %d; log:\n%s", st,
	    tl_read(e->log));
	e->pid = 0;
	ck_assert_int_eq(tl_wait_exit(e->cat, 5000), 0);
	e->cat = 0;
}

static void
env_free(struct env *e)
{
	daemon_stop(e);
	if (e->notify_fd != -1)
		close(e->notify_fd);
	tl_rmrf(e->dir);
	free(e->dir);
	free(e->audit);
	free(e->k0);
	free(e->cfg);
	free(e->sock);
	free(e->log);
	free(e->notify_path);
}


/* acgwctl audit verify --key K0 FILE... over every file of the log. */
static struct tl_run
verify_log(struct env *e)
{
	char **files, **argv;
	size_t n = tl_audit_files(e->audit, &files);
	struct tl_run r;

	ck_assert_uint_ge(n, 1);
	argv = calloc(n + 6, sizeof(char *));
	ck_assert_ptr_nonnull(argv);
	argv[0] = (char *)tl_env("ACGWCTL");
	argv[1] = "audit";
	argv[2] = "verify";
	argv[3] = "--key";
	argv[4] = e->k0;
	memcpy(argv + 5, files, n * sizeof(char *));
	r = tl_run(e->dir, argv, 30000);
	free(argv);
	tl_files_free(files);
	return r;
}

/* A member of a record line, written back as JSON (strings bare). */
static char *
rec_field(const char *line, const char *key)
{
	char err[128], *s;
	struct json_value *v = json_parse(line, strlen(line), err, sizeof(err));
	const struct json_value *f;

	ck_assert_msg(v != NULL, "not a record (%s): %s", err, line);
	f = json_get(v, key);
	ck_assert_msg(f != NULL, "no %s in %s", key, line);
	s = tl_json_text(f);
	json_value_free(v);
	return s;
}

static int
count_nl(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* The lines of a file (a NULL-terminated array into buf). */
static char **
split_lines(char *buf, size_t *n)
{
	size_t cap = 16;
	char **v = malloc(cap * sizeof(char *)), *p = buf, *nl;

	ck_assert_ptr_nonnull(v);
	*n = 0;
	while ((nl = strchr(p, '\n')) != NULL) {
		*nl = '\0';
		if (*n + 2 > cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof(char *));
			ck_assert_ptr_nonnull(v);
		}
		v[(*n)++] = p;
		p = nl + 1;
	}
	v[*n] = NULL;
	return v;
}

/* ---- crash test ---------------------------------------------------------- */

/* What the scans of the log have seen so far, across writer runs. */
struct scan {
	const char *dir;
	unsigned long fileno;	/* the newest file scanned */
	size_t off;		/* end of its last whole line */
	unsigned long long seq;	/* last seq */
	int torn;		/* a partial line follows off */
	unsigned long torn_seen, recovered, cut_unrecorded, records;
	unsigned long unlinked;	/* files begun without audit.rotated */
};

/*
 * Reads what the last run appended (from where the previous scan ended)
 * and checks it: seq continues by one, the run's records are i=1..m in
 * order with m the acknowledged count or one more (written, killed
 * before it could say so), a torn tail left by a kill is replaced by an
 * audit.recovered record as soon as a writer opens the log.
 */
static void
scan_run(struct scan *sc, long acked)
{
	char **files;
	size_t n = tl_audit_files(sc->dir, &files);
	long next_i = 1;

	for (size_t k = 0; k < n; k++) {
		unsigned long num = strtoul(strrchr(files[k], '-') + 1, NULL,
		    10);
		char *buf, *p, *nl;
		size_t len;

		if (num < sc->fileno)
			continue;
		buf = tl_read(files[k]);
		len = strlen(buf);
		if (num > sc->fileno) {
			/* Torn tails are cut before the log rotates. */
			ck_assert_msg(!sc->torn, "audit-%08lu.log kept a torn "
			    "tail into rotation", sc->fileno);
			sc->fileno = num;
			sc->off = 0;
		}
		ck_assert_msg(len >= sc->off, "%s shrank below a whole record",
		    files[k]);
		if (sc->torn && len == sc->off) {
			/*
			 * The tail was cut and the writer killed before its
			 * audit.recovered record: the next open finds a clean
			 * end and has nothing to report.
			 */
			sc->torn = 0;
			sc->cut_unrecorded++;
		}
		/*
		 * A kill between creating a file and writing its
		 * audit.rotated record leaves it empty; the next writer
		 * continues the chain in it without one.
		 */
		if (sc->off == 0 && num > 1 && strchr(buf, '\n') != NULL) {
			const char *t = strstr(buf, "\"type\":");

			ck_assert_ptr_nonnull(t);
			if (strncmp(t + 7, "\"audit.rotated\"", 15) != 0)
				sc->unlinked++;
		}
		for (p = buf + sc->off; (nl = strchr(p, '\n')) != NULL;
		    p = nl + 1) {
			unsigned long long seq;
			long i;
			char *d;

			*nl = '\0';
			ck_assert_msg(sscanf(p, "{\"seq\":%llu,", &seq) == 1,
			    "%s", p);
			ck_assert_msg(seq == sc->seq + 1, "seq %llu after %llu",
			    seq, sc->seq);
			if (sc->torn) {
				ck_assert_msg(strstr(p, "\"type\":"
				    "\"audit.recovered\"") != NULL, "a torn tail "
				    "was followed by %s", p);
				sc->torn = 0;
			}
			if (strstr(p, "\"type\":\"operator.command\"") != NULL) {
				d = strstr(p, "\"details\":{\"i\":");
				ck_assert_msg(d != NULL && sscanf(d,
				    "\"details\":{\"i\":%ld}", &i) == 1, "%s", p);
				ck_assert_msg(i == next_i, "record i=%ld where "
				    "i=%ld belongs (seq %llu)", i, next_i, seq);
				next_i++;
			} else if (strstr(p, "\"type\":\"audit.recovered\"") !=
			    NULL)
				sc->recovered++;
			sc->seq = seq;
			sc->records++;
			sc->off = (size_t)(nl + 1 - buf);
		}
		if (*p != '\0' && !sc->torn) {
			sc->torn = 1;
			sc->torn_seen++;
		}
		free(buf);
	}
	tl_files_free(files);
	/* Every acknowledged record is there; at most one more made it. */
	ck_assert_msg(next_i - 1 >= acked && next_i - 1 <= acked + 1,
	    "the run acknowledged %ld records and the log holds %ld", acked,
	    next_i - 1);
}

/* The acknowledged count of a writer's output: "ok 1".."ok N", in order. */
static long
acked_count(const char *out)
{
	long n = 0;

	for (const char *l = out; *l != '\0'; l += strcspn(l, "\n") + 1) {
		long i;

		ck_assert_msg(strncmp(l, "fail ", 5) != 0, "writer: %.*s",
		    (int)strcspn(l, "\n"), l);
		if (sscanf(l, "ok %ld", &i) == 1) {
			ck_assert_int_eq(i, n + 1);
			n = i;
		}
		if (l[strcspn(l, "\n")] == '\0')
			break;
	}
	return n;
}

START_TEST(crash_loop)
{
	enum { RUNS = 200 };
	struct env e;
	struct scan sc = { 0 };
	struct tl_run r;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	unsigned epoch;
	unsigned char key[AUDIT_KEY_LEN];
	char *out, *want, *keyfile, err[AUDIT_ERR_MAX];
	char *argv[] = { (char *)tl_env("ACGW_AUDIT_WRITER"), NULL,
	    "1000000000", NULL };
	unsigned long acked_total = 0;
	long t0 = tl_now_ms(), startup;

	/* Small files and epochs: kills land in rotations and evolutions. */
	env_setup(&e, "  key_records: 100\n  max_file_size: 64KiB\n");
	env_init_log(&e);
	argv[1] = e.cfg;
	out = tl_path(e.dir, "writer.out");
	sc.dir = e.audit;
	sc.fileno = 1;
	fprintf(stderr, "crash_loop: seed %u\n", seed);
	srand(seed);

	/*
	 * How long a writer takes to start and make its first record
	 * durable (many times longer under ASan). Each kill comes after a
	 * random part of that plus 1-30 ms, so kills land in start-up and
	 * recovery as well as among the appends.
	 */
	argv[2] = "1";
	startup = tl_now_ms();
	r = tl_run(e.dir, argv, 15000);
	startup = tl_now_ms() - startup;
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	ck_assert_int_eq(acked_count(r.out), 1);
	tl_run_free(&r);
	scan_run(&sc, 1);
	argv[2] = "1000000000";
	for (int run = 0; run < RUNS; run++) {
		pid_t pid;
		int st;
		char *o;
		long acked;

		unlink(out);
		pid = tl_spawn(argv, out, NULL);
		usleep((useconds_t)(rand() % (startup + 1) + 1 + rand() % 30) *
		    1000);
		kill(pid, SIGKILL);
		st = tl_wait_exit(pid, 10000);
		o = tl_read(out);
		ck_assert_msg(st == 128 + SIGKILL, "writer run %d ended with %d:"
		    "\n%s", run, st, o);
		acked = acked_count(o);
		free(o);
		acked_total += (unsigned long)acked;
		scan_run(&sc, acked);
	}

	/* One run to the end: it cuts what the last kill tore. */
	argv[2] = "1";
	r = tl_run(e.dir, argv, 15000);
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	ck_assert_int_eq(acked_count(r.out), 1);
	tl_run_free(&r);
	scan_run(&sc, 1);
	ck_assert(!sc.torn);

	keyfile = tl_path(e.audit, "key");
	ck_assert_msg(audit_read_key(keyfile, key, &epoch, err,
	    sizeof(err)) == 0, "%s", err);
	free(keyfile);
	r = verify_log(&e);
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	ck_assert(asprintf(&want, "ok: %llu records, seq 1..%llu, epochs "
	    "0..%u, first ", sc.seq, sc.seq, epoch) > 0);
	ck_assert_msg(strncmp(r.out, want, strlen(want)) == 0, "%s\nwant %s",
	    r.out, want);
	ck_assert_str_eq(r.err, "");
	free(want);
	tl_run_free(&r);
	ck_assert_uint_eq(sc.records, sc.seq);
	/* Torn tails need a kill inside write(): rare, so only reported. */
	fprintf(stderr, "crash_loop: %d kills in %ld ms (start-up %ld ms), "
	    "%lu records acknowledged, %lu in the log (epoch %u, file %lu), "
	    "%lu torn tails seen, %lu audit.recovered, %lu cut before "
	    "recording it, %lu files begun without audit.rotated\n", RUNS,
	    tl_now_ms() - t0, startup, acked_total, sc.records, epoch,
	    sc.fileno, sc.torn_seen, sc.recovered, sc.cut_unrecorded,
	    sc.unlinked);
	ck_assert_uint_eq(sc.recovered + sc.cut_unrecorded, sc.torn_seen);
	free(out);
	env_free(&e);
}
END_TEST

/* ---- disk full ------------------------------------------------------------ */

static const char *
prlimit_path(void)
{
	static const char *const paths[] = { "/usr/bin/prlimit",
	    "/bin/prlimit" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	ck_abort_msg("prlimit (util-linux) is not installed");
	return NULL;
}

START_TEST(disk_full_fail_closed)
{
	static const char why[] = "writing audit-00000001.log: File too large";
	struct env e;
	struct tl_run r;
	struct stat st;
	char *path, *buf, *want, *v, pidbuf[32];
	int reloads = 0;
	long t0;

	env_setup(&e, "  retry_interval: 200ms\n");
	env_init_log(&e);
	daemon_start(&e, FILE_LIMIT);
	path = tl_path(e.audit, "audit-00000001.log");

	/* Each reload is an operator.command and a daemon.reload record. */
	for (;; reloads++) {
		ck_assert_int_lt(reloads, 100);
		r = ctl(&e, "reload", NULL, NULL, NULL, NULL);
		if (r.status != 0)
			break;
		tl_run_free(&r);
	}
	ck_assert_int_gt(reloads, 0);
	/*
	 * Refused before it ran (its operator.command record failed), or
	 * its daemon.reload record failed: either way the same reason.
	 */
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strcmp(r.err, "acgwctl: refused: the audit log cannot "
	    "be written (writing audit-00000001.log: File too large)\n") == 0 ||
	    strcmp(r.err, "acgwctl: the audit log cannot be written (writing "
	    "audit-00000001.log: File too large)\n") == 0, "%s", r.err);
	tl_run_free(&r);

	/* From now on every operator command is refused up front. */
	r = ctl(&e, "reload", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.err, "acgwctl: refused: the audit log cannot be "
	    "written (writing audit-00000001.log: File too large)\n");
	ck_assert_str_eq(r.out, "");
	tl_run_free(&r);
	ck_assert(asprintf(&want, "warning: audit: CANNOT WRITE THE AUDIT LOG "
	    "(%s): refusing every action that needs a record until it can",
	    why) > 0);
	ck_assert_msg(tl_wait_file_contains(e.log, want, 2000), "log:\n%s",
	    tl_read(e.log));
	free(want);
	ck_assert(asprintf(&want, "warning: audit: still failing, new actions "
	    "stay refused: %s", why) > 0);
	ck_assert_msg(tl_wait_file_contains(e.log, want, 2000), "no retry; "
	    "log:\n%s", tl_read(e.log));
	free(want);

	/* Reads go on: status says what is wrong, the log can be read. */
	r = ctl(&e, "status", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	v = tl_table_value(r.out, "audit_state");
	ck_assert_msg(v != NULL, "%s", r.out);
	ck_assert_str_eq(v, "FAILED (actions refused)");
	free(v);
	v = tl_table_value(r.out, "audit_error");
	ck_assert_msg(v != NULL, "%s", r.out);
	ck_assert_str_eq(v, why);
	free(v);
	tl_run_free(&r);
	r = ctl(&e, "audit", "tail", "1", NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, " daemon.reload system - ") != NULL ||
	    strstr(r.out, " operator.command operator:0 - ") != NULL, "%s",
	    r.out);
	tl_run_free(&r);

	/* No partial record was left behind, and what is there verifies. */
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_le(st.st_size, FILE_LIMIT);
	buf = tl_read(path);
	ck_assert(buf[0] != '\0' && buf[strlen(buf) - 1] == '\n');
	free(buf);
	r = verify_log(&e);
	ck_assert_msg(r.status == 0 && strncmp(r.out, "ok: ", 4) == 0, "%s",
	    r.out);
	tl_run_free(&r);

	/* Space returns: within a second the retry writes audit.recovered. */
	{
		char *argv[] = { (char *)prlimit_path(), "--pid", pidbuf,
		    "--fsize=unlimited", NULL };

		snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)e.pid);
		r = tl_run(e.dir, argv, 10000);
		ck_assert_msg(r.status == 0, "%s", r.err);
		tl_run_free(&r);
	}
	t0 = tl_now_ms();
	ck_assert_msg(tl_wait_file_contains(e.log, "notice: audit: writing "
	    "again after ", 1000), "not writing again after %ld ms; log:\n%s",
	    tl_now_ms() - t0, tl_read(e.log));
	ck_assert(asprintf(&want, "\"type\":\"audit.recovered\",\"actor\":"
	    "\"system\",\"peer\":null,\"details\":{\"reason\":\"write error\","
	    "\"error\":\"%s\",\"failed_for_s\":", why) > 0);
	buf = tl_read(path);
	ck_assert_msg(strstr(buf, want) != NULL, "%s", buf);
	free(buf);
	free(want);

	r = ctl(&e, "reload", NULL, NULL, NULL, NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	tl_run_free(&r);
	r = ctl(&e, "status", NULL, NULL, NULL, NULL);
	v = tl_table_value(r.out, "audit_state");
	ck_assert_str_eq(v, "ok");
	free(v);
	ck_assert_ptr_null(tl_table_value(r.out, "audit_error"));
	tl_run_free(&r);
	daemon_stop(&e);

	/* Every record, the failure and the recovery in it, verifies. */
	buf = tl_read(path);
	ck_assert(asprintf(&want, "ok: %d records, seq 1..%d, epochs 0..0, "
	    "first ", count_nl(buf), count_nl(buf)) > 0);
	free(buf);
	r = verify_log(&e);
	ck_assert_msg(r.status == 0, "%s", r.out);
	ck_assert_msg(strncmp(r.out, want, strlen(want)) == 0, "%s", r.out);
	free(want);
	tl_run_free(&r);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_gt(st.st_size, FILE_LIMIT);
	free(path);
	env_free(&e);
}
END_TEST

/* ---- what acgwd records ----------------------------------------------------- */

/* Writes the child's pid where the test can find it (for "pid":N). */
static void
note_pid(void *arg)
{
	int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd != -1) {
		dprintf(fd, "%ld", (long)getpid());
		close(fd);
	}
}

START_TEST(daemon_records)
{
	struct env e;
	struct tl_run r;
	struct json_value *v;
	const struct json_value *recs;
	char *want, *pidfile, *pidtext, *path, *buf, **lines, *t1, *t4, *copy;
	char *argv[] = { (char *)tl_env("ACGWD"), "-f", "-c", NULL, NULL };
	size_t n;
	char perr[128];

	env_setup(&e, NULL);

	/*
	 * No key, no start: acgwd checks it with the configuration (so -t
	 * does too) and says where audit.dir is set and how to create the log.
	 */
	argv[3] = e.cfg;
	ck_assert(asprintf(&want, "%s:6:8: audit.dir: %s has no key: create "
	    "the log with \"acgwctl audit init --dir %s\" and keep the K0 it "
	    "prints offline\n", e.cfg, e.audit, e.audit) > 0);
	r = tl_run(e.dir, argv, 15000);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.err, want);
	tl_run_free(&r);
	argv[1] = "-t";
	r = tl_run(e.dir, argv, 15000);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, want);
	tl_run_free(&r);
	free(want);
	ck_assert_int_eq(access(e.audit, F_OK), -1);

	env_init_log(&e);
	/* A second init would orphan the log: refused. */
	r = ctl(&e, "audit", "init", "--dir", e.audit, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "acgwctl: audit init: %s/key already exists: "
	    "this log is initialised (a new K0 would orphan its records)\n",
	    e.audit) > 0);
	ck_assert_str_eq(r.err, want);
	free(want);
	tl_run_free(&r);

	daemon_start(&e, 0);
	r = ctl(&e, "audit", "tail", "5", NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert(asprintf(&want, " daemon.start system - {\"version\":\""
	    PACKAGE_VERSION "\",\"pid\":%ld,\"config\":\"%s\","
	    "\"config_sha256\":\"", (long)e.pid, e.cfg) > 0);
	ck_assert_msg(strncmp(r.out, "1 ", 2) == 0 && strstr(r.out, want) !=
	    NULL && count_nl(r.out) == 1, "%s", r.out);
	free(want);
	tl_run_free(&r);

	/* An operator's reload: on record, with uid and pid, before it ran. */
	pidfile = tl_path(e.dir, "ctl.pid");
	drain_notify(&e);
	{
		char *rargv[] = { (char *)tl_env("ACGWCTL"), "-s", e.sock,
		    "reload", NULL };

		r = tl_run_as(e.dir, rargv, 15000, note_pid, pidfile);
	}
	ck_assert_msg(r.status == 0, "%s", r.err);
	tl_run_free(&r);
	pidtext = tl_read(pidfile);
	ck_assert_int_gt(atol(pidtext), 0);
	r = ctl(&e, "audit", "tail", "5", NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert(asprintf(&want, " operator.command operator:0 - {\"uid\":0,"
	    "\"pid\":%s,\"command\":\"reload\"}\n3 ", pidtext) > 0);
	ck_assert_msg(strstr(r.out, want) != NULL && strstr(r.out, "\n2 ") !=
	    NULL && count_nl(r.out) == 3, "%s", r.out);
	free(want);
	ck_assert_msg(strstr(r.out, " daemon.reload system - {\"config\":\"")
	    != NULL, "%s", r.out);
	tl_run_free(&r);

	r = ctl(&e, "audit", "search", "--type", "operator.command", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert(asprintf(&want, " operator.command operator:0 - {\"uid\":0,"
	    "\"pid\":%s,\"command\":\"reload\"}\n", pidtext) > 0);
	ck_assert_msg(strncmp(r.out, "2 ", 2) == 0 && count_nl(r.out) == 1 &&
	    strstr(r.out, want) != NULL, "%s", r.out);
	free(want);
	tl_run_free(&r);
	r = ctl(&e, "audit", "search", "--type", "peer.admitted", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "no records\n");
	tl_run_free(&r);

	r = ctl(&e, "--json", "audit", "tail", "1", NULL);
	ck_assert_int_eq(r.status, 0);
	v = json_parse(r.out, strlen(r.out), perr, sizeof(perr));
	ck_assert_msg(v != NULL, "not JSON (%s): %s", perr, r.out);
	ck_assert(json_get(v, "ok")->boolean);
	recs = json_get(v, "records");
	ck_assert_ptr_nonnull(recs);
	ck_assert_int_eq(recs->type, JSON_ARRAY);
	ck_assert_uint_eq(recs->n, 1);
	ck_assert_int_eq(json_get(recs->items[0], "seq")->integer, 3);
	ck_assert_str_eq(json_get(recs->items[0], "type")->string,
	    "daemon.reload");
	ck_assert_uint_eq(strlen(json_get(recs->items[0], "mac")->string), 64);
	json_value_free(v);
	tl_run_free(&r);

	/* Reading is no operator command: still three records. */
	daemon_stop(&e);
	path = tl_path(e.audit, "audit-00000001.log");
	buf = tl_read(path);
	lines = split_lines(buf, &n);
	ck_assert_uint_eq(n, 4);
	{
		char *type = rec_field(lines[3], "type");
		char *det = rec_field(lines[3], "details");

		ck_assert_str_eq(type, "daemon.stop");
		ck_assert_str_eq(det, "{\"signal\":\"SIGTERM\"}");
		free(type);
		free(det);
	}
	t1 = rec_field(lines[0], "time");
	t4 = rec_field(lines[3], "time");
	r = verify_log(&e);
	ck_assert_int_eq(r.status, 0);
	ck_assert(asprintf(&want, "ok: 4 records, seq 1..4, epochs 0..0, "
	    "first %s, last %s\n", t1, t4) > 0);
	ck_assert_str_eq(r.out, want);
	ck_assert_str_eq(r.err, "");
	free(want);
	tl_run_free(&r);

	/* A copy with one byte changed in seq 3: named, exit 1. */
	copy = tl_path(e.dir, "altered.log");
	{
		char *p = strstr(lines[2], "\"sha256\":\"");
		FILE *f = fopen(copy, "w");

		ck_assert_ptr_nonnull(p);
		p[10] = p[10] == '0' ? '1' : '0';
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s\n", lines[i]);
		ck_assert_int_eq(fclose(f), 0);
	}
	{
		char *vargv[] = { (char *)tl_env("ACGWCTL"), "audit", "verify",
		    "--key", e.k0, copy, NULL };

		r = tl_run(e.dir, vargv, 15000);
	}
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "FAILED: %s:3: seq 3: MAC does not verify "
	    "under the epoch 0 key (record altered or forged)\n(the 2 records "
	    "before it verified: seq 1..2)\n", copy) > 0);
	ck_assert_str_eq(r.out, want);
	free(want);
	tl_run_free(&r);

	free(copy);
	free(t1);
	free(t4);
	free(lines);
	free(buf);
	free(path);
	free(pidtext);
	free(pidfile);
	env_free(&e);
}
END_TEST

/*
 * The log cannot move or be switched off by a reload (records would go
 * to a log nobody verifies): refused whole, the running config stays.
 */
START_TEST(reload_keeps_the_log)
{
	struct env e;
	struct tl_run r;
	char *other, *want;

	env_setup(&e, NULL);
	env_init_log(&e);
	daemon_start(&e, 0);
	other = tl_path(e.dir, "elsewhere");
	tl_write(e.cfg, "control:\n  socket: %s\naudit:\n  dir: %s\n"
	    "  syslog: false\n", e.sock, other);
	drain_notify(&e);
	r = ctl(&e, "reload", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "acgwctl: audit.dir cannot change on a reload "
	    "(%s is open); restart acgwd to move the log\n", e.audit) > 0);
	ck_assert_str_eq(r.err, want);
	free(want);
	tl_run_free(&r);

	tl_write(e.cfg, "control:\n  socket: %s\naudit:\n  enabled: false\n",
	    e.sock);
	drain_notify(&e);
	r = ctl(&e, "reload", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.err, "acgwctl: audit.enabled cannot change on a "
	    "reload; restart acgwd\n");
	tl_run_free(&r);

	/* Still the first log, still writing: both attempts are on record. */
	drain_notify(&e);
	r = ctl(&e, "status", NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	{
		char *st = tl_table_value(r.out, "audit_state");
		char *fails = tl_table_value(r.out, "reload_failures");

		ck_assert_str_eq(st, "ok");
		ck_assert_str_eq(fails, "2");
		free(st);
		free(fails);
	}
	tl_run_free(&r);
	r = ctl(&e, "audit", "search", "--type", "operator.command", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(count_nl(r.out), 2);
	tl_run_free(&r);
	ck_assert_int_eq(access(other, F_OK), -1);
	free(other);
	env_free(&e);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("audit-integration");
	TCase *tc;

	tc = tl_tcase(s, "crash", 120);
	tcase_add_test(tc, crash_loop);
	tc = tl_tcase(s, "daemon", 60);
	tcase_add_test(tc, disk_full_fail_closed);
	tcase_add_test(tc, daemon_records);
	tcase_add_test(tc, reload_keeps_the_log);
	return tl_run_suite(s);
}
