/*
 * Daemon smoke tests over the real control socket: start (foreground and
 * detached), status, reload with good and broken configs (by command and
 * by SIGHUP), the systemd notifications, stale and live sockets, bad
 * request lines, acgwctl's exit codes, and a clean stop.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acgw/json.h"
#include "../lib/testlib.h"

struct daemon {
	char *dir, *cfg, *sock, *log, *notify_path;
	int notify_fd;
	pid_t pid;
};

static void
write_config(struct daemon *d, const char *sock, const char *extra)
{
	tl_write(d->cfg, "audit:\n  enabled: false\n"
	    "log:\n  level: info\ncontrol:\n  socket: %s\n"
	    "  idle_timeout: 2s\n%s", sock, extra ? extra : "");
}

static void
daemon_start(struct daemon *d)
{
	char *argv[] = { (char *)tl_env("ACGWD"), "-f", "-c", d->cfg, NULL };
	char *env[2];
	char *m;

	ck_assert(asprintf(&env[0], "NOTIFY_SOCKET=%s", d->notify_path) > 0);
	env[1] = NULL;
	d->pid = tl_spawn(argv, d->log, env);
	m = tl_notify_expect(d->notify_fd, "READY=1", 10000);
	ck_assert_msg(m != NULL, "acgwd did not report READY=1; log:\n%s",
	    tl_read(d->log));
	ck_assert_str_eq(m, "READY=1\nSTATUS=running");
	free(m);
	free(env[0]);
}

static void
daemon_setup(struct daemon *d)
{
	memset(d, 0, sizeof(*d));
	d->dir = tl_tmpdir();
	d->cfg = tl_path(d->dir, "acgwd.yaml");
	d->sock = tl_path(d->dir, "control.sock");
	d->log = tl_path(d->dir, "acgwd.log");
	d->notify_path = tl_path(d->dir, "notify");
	d->notify_fd = tl_notify_listen(d->notify_path);
	write_config(d, d->sock, NULL);
}

static void
daemon_stop(struct daemon *d)
{
	int st;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		st = tl_wait_exit(d->pid, 15000);
		ck_assert_msg(st == 0, "acgwd exited with %d; log:\n%s", st,
		    tl_read(d->log));
		d->pid = 0;
	}
	close(d->notify_fd);
	tl_rmrf(d->dir);
	free(d->dir);
	free(d->cfg);
	free(d->sock);
	free(d->log);
	free(d->notify_path);
}

static struct tl_run
ctl(struct daemon *d, const char *a1, const char *a2, const char *a3)
{
	char *argv[] = { (char *)tl_env("ACGWCTL"), "-s", d->sock,
	    (char *)a1, (char *)a2, (char *)a3, NULL };

	return tl_run(d->dir, argv, 15000);
}

static struct json_value *
parse(const char *s)
{
	char err[128];
	struct json_value *v = json_parse(s, strlen(s), err, sizeof(err));

	ck_assert_msg(v != NULL, "not JSON (%s): %s", err, s);
	return v;
}

START_TEST(status_and_stop)
{
	struct daemon d;
	struct json_value *v;
	struct tl_run r;
	char *reply, *m;

	daemon_setup(&d);
	daemon_start(&d);

	reply = tl_request(d.sock, "status");
	v = parse(reply);
	ck_assert(json_get(v, "ok")->boolean);
	ck_assert_int_eq(json_get(v, "pid")->integer, d.pid);
	ck_assert_str_eq(json_get(v, "version")->string, PACKAGE_VERSION);
	ck_assert_str_eq(json_get(v, "config")->string, d.cfg);
	ck_assert_str_eq(json_get(v, "state")->string, "running");
	ck_assert_str_eq(json_get(v, "your_role")->string, "operator");
	ck_assert_int_eq(json_get(v, "control_clients")->integer, 1);
	ck_assert_int_eq(json_get(v, "reloads")->integer, 0);
	ck_assert_uint_eq(strlen(json_get(v, "config_sha256")->string), 64);
	json_value_free(v);
	free(reply);

	/* acgwctl prints a table; --json prints the reply as it came. */
	r = ctl(&d, "status", NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	{
		char *state = tl_table_value(r.out, "state");
		char *version = tl_table_value(r.out, "version");

		ck_assert_msg(state != NULL, "%s", r.out);
		ck_assert_str_eq(state, "running");
		ck_assert_str_eq(version, PACKAGE_VERSION);
		free(state);
		free(version);
	}
	tl_run_free(&r);
	r = ctl(&d, "--json", "status", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strncmp(r.out, "{\"ok\":true,\"version\":", 21) == 0,
	    "%s", r.out);
	tl_run_free(&r);
	r = ctl(&d, "help", NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	/* A table: a header, then one row per command this role may run. */
	ck_assert_msg(strncmp(strstr(r.out, "COMMAND ") ? strstr(r.out,
	    "COMMAND ") : "", "COMMAND ", 8) == 0, "%s", r.out);
	ck_assert_msg(strstr(r.out, "\nreload ") != NULL &&
	    strstr(r.out, " operator  reload the configuration (as SIGHUP "
	    "does)\n") != NULL, "%s", r.out);
	tl_run_free(&r);

	/* SIGTERM: STOPPING=1, exit 0, socket gone, stop logged. */
	kill(d.pid, SIGTERM);
	m = tl_notify_expect(d.notify_fd, "STOPPING=1", 10000);
	ck_assert_ptr_nonnull(m);
	free(m);
	ck_assert_int_eq(tl_wait_exit(d.pid, 10000), 0);
	d.pid = 0;
	ck_assert_int_eq(access(d.sock, F_OK), -1);
	ck_assert(tl_wait_file_contains(d.log, "notice: stopping (SIGTERM)", 1));
	ck_assert(tl_wait_file_contains(d.log, "notice: stopped", 1));

	/* Nobody listening now: acgwctl says so, exit 3. */
	r = ctl(&d, "status", NULL, NULL);
	ck_assert_int_eq(r.status, 3);
	ck_assert_msg(strstr(r.err, "does not exist: acgwd is not running")
	    != NULL, "%s", r.err);
	tl_run_free(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(reload_good_and_broken)
{
	struct daemon d;
	struct json_value *v;
	struct tl_run r;
	char *reply, *m, *want;

	daemon_setup(&d);
	daemon_start(&d);

	/* A good change takes effect. */
	write_config(&d, d.sock, "daemon:\n  stop_timeout: 5s\n");
	tl_write(d.cfg, "audit:\n  enabled: false\n"
	    "log:\n  level: debug\ncontrol:\n  socket: %s\n",
	    d.sock);
	r = ctl(&d, "reload", NULL, NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "config_sha256"));
	tl_run_free(&r);
	m = tl_notify_expect(d.notify_fd, "RELOADING=1", 5000);
	ck_assert_ptr_nonnull(m);
	free(m);
	m = tl_notify_expect(d.notify_fd, "READY=1", 5000);
	ck_assert_str_eq(m, "READY=1\nSTATUS=running");
	free(m);
	v = parse(reply = tl_request(d.sock, "status"));
	ck_assert_str_eq(json_get(v, "log_level")->string, "debug");
	ck_assert_int_eq(json_get(v, "reloads")->integer, 1);
	json_value_free(v);
	free(reply);

	/* A broken one is refused with its location; the old one stays. */
	tl_write(d.cfg, "audit:\n  enabled: false\n"
	    "log:\n  level: info\ncontrol:\n  socket: %s\n"
	    "  max_clients: 0\n", d.sock);
	r = ctl(&d, "reload", NULL, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "acgwctl: %s:7:16: control.max_clients: 0 is "
	    "out of range (1..4096)\n", d.cfg) > 0);
	ck_assert_str_eq(r.err, want);
	tl_run_free(&r);
	v = parse(reply = tl_request(d.sock, "status"));
	ck_assert_str_eq(json_get(v, "log_level")->string, "debug");
	ck_assert_int_eq(json_get(v, "reloads")->integer, 1);
	ck_assert_int_eq(json_get(v, "reload_failures")->integer, 1);
	want[strlen(want) - 1] = '\0';		/* no newline in JSON */
	ck_assert_str_eq(json_get(v, "last_reload_error")->string,
	    want + strlen("acgwctl: "));
	json_value_free(v);
	free(reply);
	ck_assert(tl_wait_file_contains(d.log, "warning: reload failed, keeping "
	    "the running configuration: ", 1));

	/* SIGHUP with a broken config: logged, still running. */
	tl_write(d.cfg, "policy:\n  x: 1\n");
	kill(d.pid, SIGHUP);
	free(want);
	ck_assert(asprintf(&want, "reload failed, keeping the running "
	    "configuration: %s:2:3: policy.x: unknown key", d.cfg) > 0);
	ck_assert_msg(tl_wait_file_contains(d.log, want, 5000), "log:\n%s",
	    tl_read(d.log));
	v = parse(reply = tl_request(d.sock, "status"));
	ck_assert_int_eq(json_get(v, "reload_failures")->integer, 2);
	json_value_free(v);
	free(reply);
	free(want);

	/* SIGHUP with a good config works too. */
	tl_write(d.cfg, "audit:\n  enabled: false\n"
	    "log:\n  level: warning\ncontrol:\n  socket: %s\n",
	    d.sock);
	kill(d.pid, SIGHUP);
	/* The log already holds one "configuration reloaded": poll status. */
	for (long end = tl_now_ms() + 5000;; usleep(20000)) {
		v = parse(reply = tl_request(d.sock, "status"));
		if (json_get(v, "reloads")->integer == 2 ||
		    tl_now_ms() > end)
			break;
		json_value_free(v);
		free(reply);
	}
	ck_assert_str_eq(json_get(v, "log_level")->string, "warning");
	ck_assert_int_eq(json_get(v, "reloads")->integer, 2);
	json_value_free(v);
	free(reply);
	daemon_stop(&d);
}
END_TEST

START_TEST(reload_moves_socket)
{
	struct daemon d;
	char *sock2, *reply;

	daemon_setup(&d);
	daemon_start(&d);
	sock2 = tl_path(d.dir, "control2.sock");
	write_config(&d, sock2, NULL);
	reply = tl_request(d.sock, "reload");
	ck_assert_msg(strncmp(reply, "{\"ok\":true", 10) == 0, "%s", reply);
	free(reply);
	ck_assert_int_eq(access(d.sock, F_OK), -1);
	reply = tl_request(sock2, "status");
	ck_assert_msg(strncmp(reply, "{\"ok\":true", 10) == 0, "%s", reply);
	free(reply);
	/* The new socket is ours: it goes away at stop. */
	kill(d.pid, SIGTERM);
	ck_assert_int_eq(tl_wait_exit(d.pid, 10000), 0);
	d.pid = 0;
	ck_assert_int_eq(access(sock2, F_OK), -1);
	free(sock2);
	daemon_stop(&d);
}
END_TEST

START_TEST(bad_requests)
{
	struct daemon d;
	char *reply, big[6000];
	int fd;

	daemon_setup(&d);
	daemon_start(&d);
	reply = tl_request(d.sock, "frobnicate");
	ck_assert_str_eq(reply, "{\"ok\":false,\"error\":\"unknown command "
	    "\\\"frobnicate\\\"; try \\\"help\\\"\"}");
	free(reply);
	reply = tl_request_raw(d.sock, "status \xff\n", 9);
	ck_assert_str_eq(reply, "{\"ok\":false,\"error\":\"request is not "
	    "valid UTF-8\"}");
	free(reply);
	reply = tl_request(d.sock, "");
	ck_assert_str_eq(reply, "{\"ok\":false,\"error\":\"empty request; try "
	    "\\\"help\\\"\"}");
	free(reply);
	reply = tl_request(d.sock, "status extra");
	ck_assert_str_eq(reply, "{\"ok\":false,\"error\":\"usage: status\"}");
	free(reply);

	/* Over 4 KiB without a newline: refused and disconnected. */
	memset(big, 'a', sizeof(big));
	fd = tl_connect(d.sock);
	ck_assert(write(fd, big, sizeof(big)) == (ssize_t)sizeof(big));
	reply = tl_readline(fd, 5000);
	ck_assert_str_eq(reply, "{\"ok\":false,\"error\":\"request line longer "
	    "than 4096 bytes\"}");
	free(reply);
	ck_assert_ptr_null(tl_readline(fd, 5000));	/* closed */
	close(fd);

	/* Several requests on one connection, answered in order. */
	fd = tl_connect(d.sock);
	ck_assert(write(fd, "help\nstatus\n", 12) == 12);
	reply = tl_readline(fd, 5000);
	ck_assert_ptr_nonnull(strstr(reply, "\"commands\""));
	free(reply);
	reply = tl_readline(fd, 5000);
	ck_assert_ptr_nonnull(strstr(reply, "\"pid\""));
	free(reply);
	/* An idle client is cut after control.idle_timeout (2s here). */
	ck_assert_ptr_null(tl_readline(fd, 6000));
	close(fd);

	/* The daemon is unharmed. */
	reply = tl_request(d.sock, "status");
	ck_assert_ptr_nonnull(strstr(reply, "\"ok\":true"));
	free(reply);
	daemon_stop(&d);
}
END_TEST

/* A client that sends much and reads late loses nothing (backpressure). */
START_TEST(slow_reader)
{
	struct daemon d;
	enum { N = 3000 };
	char *reply;
	int fd, got = 0;
	size_t off = 0, len;
	char *burst;

	daemon_setup(&d);
	tl_write(d.cfg, "audit:\n  enabled: false\n"
	    "log:\n  level: debug\ncontrol:\n  socket: %s\n"
	    "  max_response: 64KiB\n", d.sock);
	daemon_start(&d);
	len = (size_t)N * 7;
	burst = malloc(len);
	for (int i = 0; i < N; i++)
		memcpy(burst + (size_t)i * 7, "status\n", 7);
	fd = tl_connect(d.sock);
	/* Write everything first (the daemon pauses reading meanwhile)... */
	while (off < len) {
		struct pollfd p = { fd, POLLOUT | POLLIN, 0 };
		ssize_t w;

		ck_assert_int_gt(poll(&p, 1, 10000), 0);
		if (!(p.revents & POLLOUT)) {
			/* Our send buffer is full: read one reply to move on. */
			reply = tl_readline(fd, 5000);
			ck_assert_ptr_nonnull(reply);
			ck_assert_ptr_nonnull(strstr(reply, "\"ok\":true"));
			free(reply);
			got++;
			continue;
		}
		w = write(fd, burst + off, len - off);
		ck_assert_int_gt(w, 0);
		off += (size_t)w;
	}
	/* ... then every request still gets its reply, in order. */
	while (got < N) {
		reply = tl_readline(fd, 5000);
		ck_assert_msg(reply != NULL, "reply %d of %d missing", got + 1, N);
		ck_assert_ptr_nonnull(strstr(reply, "\"ok\":true"));
		free(reply);
		got++;
	}
	close(fd);
	free(burst);
	ck_assert_msg(tl_wait_file_contains(d.log, "reads its replies slowly; "
	    "pausing its requests", 1), "backpressure was not exercised");
	daemon_stop(&d);
}
END_TEST

/* A client that shuts down its write side still gets every reply. */
START_TEST(half_close)
{
	struct daemon d;
	enum { N = 500 };
	char *reply;
	int fd, got = 0;

	daemon_setup(&d);
	daemon_start(&d);
	fd = tl_connect(d.sock);
	for (int i = 0; i < N; i++)
		ck_assert(write(fd, "status\n", 7) == 7);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	while ((reply = tl_readline(fd, 5000)) != NULL) {
		ck_assert_ptr_nonnull(strstr(reply, "\"ok\":true"));
		free(reply);
		got++;
	}
	ck_assert_int_eq(got, N);
	close(fd);
	daemon_stop(&d);
}
END_TEST

START_TEST(stale_and_live_sockets)
{
	struct daemon d;
	struct sockaddr_un sun;
	struct tl_run r;
	char *argv[5], *want;
	int fd;

	daemon_setup(&d);
	/* A socket file nobody listens on, as a crash leaves it. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", d.sock);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	daemon_start(&d);
	ck_assert(tl_wait_file_contains(d.log, "removed stale socket", 1));

	/* A second daemon on the live socket refuses to start. */
	argv[0] = (char *)tl_env("ACGWD");
	argv[1] = "-f";
	argv[2] = "-c";
	argv[3] = d.cfg;
	argv[4] = NULL;
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "error: control.socket %s is in use by a "
	    "running acgwd; stop it first\n", d.sock) > 0);
	ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
	free(want);
	tl_run_free(&r);
	/* ... and the first one still answers. */
	free(tl_request(d.sock, "status"));
	daemon_stop(&d);
}
END_TEST

START_TEST(not_a_socket)
{
	struct daemon d;
	struct tl_run r;
	char *argv[] = { (char *)tl_env("ACGWD"), "-f", "-c", NULL, NULL };
	char *want;

	daemon_setup(&d);
	tl_write(d.sock, "precious data\n");
	argv[3] = d.cfg;
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "error: control.socket %s exists and is not "
	    "a socket; remove it or choose another path\n", d.sock) > 0);
	ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
	free(want);
	tl_run_free(&r);
	want = tl_read(d.sock);
	ck_assert_str_eq(want, "precious data\n");	/* untouched */
	free(want);
	daemon_stop(&d);
}
END_TEST

START_TEST(check_mode)
{
	struct daemon d;
	struct tl_run r;
	char *argv[] = { (char *)tl_env("ACGWD"), "-t", "-c", NULL, NULL };
	char *want;

	daemon_setup(&d);
	argv[3] = d.cfg;
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "configuration ok\n");
	ck_assert_str_eq(r.err, "");
	tl_run_free(&r);

	tl_write(d.cfg, "r3:\n  listen: \"0.0.0.0:8443\"\ncontrol:\n"
	    "  idle_timeout: 5\n");
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert(asprintf(&want, "%s:4:17: control.idle_timeout: \"5\" needs a "
	    "unit after each number (ms, s, m, h, d)\n", d.cfg) > 0);
	ck_assert_str_eq(r.err, want);
	free(want);
	tl_run_free(&r);

	tl_write(d.cfg, "r3:\n  listen: \"0.0.0.0:8443\"\n  cert: /x.pem\n"
	    "  key: /x.key\n");
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "%s:2:11: r3.listen: \"0.0.0.0:8443\" is a "
	    "wildcard address; set r3.allow_wildcard: true to permit it\n",
	    d.cfg) > 0);
	ck_assert_str_eq(r.err, want);
	free(want);
	tl_run_free(&r);

	/* Options. */
	argv[1] = "-V";
	argv[2] = NULL;
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "acgwd " PACKAGE_VERSION "\n");
	tl_run_free(&r);
	argv[1] = "-x";
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "usage: acgwd [-f] [-t] [-c FILE]"));
	tl_run_free(&r);
	daemon_stop(&d);
}
END_TEST

/*
 * oadr.schema is compiled by acgwd -t, at start and on every reload; one
 * that does not compile is named with its place in the file, and a reload
 * to it is refused with the running configuration kept.
 */
START_TEST(schema_compiled)
{
	struct daemon d;
	struct json_value *v;
	struct tl_run r;
	char *argv[] = { (char *)tl_env("ACGWD"), "-t", "-c", NULL, NULL };
	char *good, *bad, *extra, *want, *reply;

	daemon_setup(&d);
	argv[3] = d.cfg;
	good = tl_path(d.dir, "xsd-good");
	bad = tl_path(d.dir, "xsd-bad");
	ck_assert_int_eq(mkdir(good, 0700), 0);
	ck_assert_int_eq(mkdir(bad, 0700), 0);
	extra = tl_path(good, "oadr_20b.xsd");
	tl_write(extra, "<xs:schema xmlns:xs=\"http://www.w3.org/2001/"
	    "XMLSchema\"><xs:element name=\"x\"/></xs:schema>\n");
	free(extra);
	extra = tl_path(bad, "oadr_20b.xsd");
	tl_write(extra, "<xs:schema>not a schema\n");
	free(extra);

	ck_assert(asprintf(&extra, "oadr:\n  schema: %s/nowhere\n", d.dir) > 0);
	write_config(&d, d.sock, extra);
	free(extra);
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "%s:9:11: oadr.schema: %s/nowhere: No such "
	    "file or directory\n", d.cfg, d.dir) > 0);
	ck_assert_str_eq(r.err, want);
	free(want);
	tl_run_free(&r);

	ck_assert(asprintf(&extra, "oadr:\n  schema: %s\n", bad) > 0);
	write_config(&d, d.sock, extra);
	free(extra);
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "%s:9:11: oadr.schema: %s/oadr_20b.xsd: the "
	    "schema does not compile: ", d.cfg, bad) > 0);
	ck_assert_msg(strncmp(r.err, want, strlen(want)) == 0, "%s", r.err);
	free(want);
	tl_run_free(&r);

	ck_assert(asprintf(&extra, "oadr:\n  schema: %s\n", good) > 0);
	write_config(&d, d.sock, extra);
	free(extra);
	r = tl_run(d.dir, argv, 10000);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_str_eq(r.out, "configuration ok\n");
	tl_run_free(&r);

	/* Running with the good one, a reload to the bad one is refused. */
	daemon_start(&d);
	ck_assert(asprintf(&extra, "oadr:\n  schema: %s\n", bad) > 0);
	write_config(&d, d.sock, extra);
	free(extra);
	r = ctl(&d, "reload", NULL, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "acgwctl: %s:9:11: oadr.schema: %s/oadr_20b.xsd: "
	    "the schema does not compile: ", d.cfg, bad) > 0);
	ck_assert_msg(strncmp(r.err, want, strlen(want)) == 0, "%s", r.err);
	free(want);
	tl_run_free(&r);
	v = parse(reply = tl_request(d.sock, "status"));
	ck_assert_int_eq(json_get(v, "reloads")->integer, 0);
	ck_assert_int_eq(json_get(v, "reload_failures")->integer, 1);
	json_value_free(v);
	free(reply);
	free(good);
	free(bad);
	daemon_stop(&d);
}
END_TEST

/*
 * acgwctl oadr check works on files, without a daemon: one line per file,
 * the decoded message or exactly why it is refused; exit 0 only when all
 * are accepted, 2 for a usage error or a schema that does not compile.
 */
START_TEST(oadr_check_cli)
{
	char *dir = tl_tmpdir(), *ok = tl_path(dir, "ok.xml"),
	    *bad = tl_path(dir, "bad.xml"), *none = tl_path(dir, "none.xml");
	char *argv[8] = { (char *)tl_env("ACGWCTL"), "oadr", "check", NULL };
	struct tl_run r;
	char *want;

	tl_write(ok, "<oadrPoll xmlns=\"http://openadr.org/oadr-2.0b/2012/07\">"
	    "<venID xmlns=\"http://docs.oasis-open.org/ns/energyinterop/"
	    "201110\">v1</venID></oadrPoll>");
	tl_write(bad, "<oadrPoll xmlns=\"http://openadr.org/oadr-2.0b/2012/07"
	    "\"/>");
	argv[3] = ok;
	r = tl_run(dir, argv, 10000);
	ck_assert_int_eq(r.status, 0);
	ck_assert(asprintf(&want, "%s: oadrPoll venID=v1\n", ok) > 0);
	ck_assert_str_eq(r.out, want);
	free(want);
	tl_run_free(&r);

	argv[4] = bad;
	argv[5] = none;
	r = tl_run(dir, argv, 10000);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "%s: oadrPoll venID=v1\n"
	    "%s: error: oadrPoll: missing \"venID\"\n"
	    "%s: error: No such file or directory\n", ok, bad, none) > 0);
	ck_assert_str_eq(r.out, want);
	free(want);
	tl_run_free(&r);

	argv[3] = NULL;
	r = tl_run(dir, argv, 10000);
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "usage: acgwctl oadr check [--schema DIR] "
	    "FILE...\n");
	tl_run_free(&r);

	argv[3] = "--schema";
	argv[4] = "/nonexistent/acgw-xsd";
	argv[5] = ok;
	r = tl_run(dir, argv, 10000);
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "acgwctl: oadr check: /nonexistent/acgw-xsd: "
	    "No such file or directory\n");
	tl_run_free(&r);
	tl_rmrf(dir);
	free(dir);
	free(ok);
	free(bad);
	free(none);
}
END_TEST

START_TEST(detached_start)
{
	struct daemon d;
	struct tl_run r;
	struct json_value *v;
	char *argv[] = { (char *)tl_env("ACGWD"), "-c", NULL, NULL };
	char *reply;
	pid_t pid;

	daemon_setup(&d);
	argv[2] = d.cfg;
	/* The starter returns only once the daemon is ready. */
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 0);
	tl_run_free(&r);
	reply = tl_request(d.sock, "status");
	v = parse(reply);
	pid = (pid_t)json_get(v, "pid")->integer;
	json_value_free(v);
	free(reply);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	for (int i = 0; i < 500 && kill(pid, 0) == 0; i++)
		usleep(10000);
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(access(d.sock, F_OK), -1);

	/* A detached start that cannot start returns 1. */
	tl_write(d.sock, "not a socket");
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "exists and is not a socket"));
	tl_run_free(&r);
	daemon_stop(&d);
}
END_TEST

START_TEST(watchdog_keepalive)
{
	struct daemon d;
	char *argv[] = { (char *)tl_env("ACGWD"), "-f", "-c", NULL, NULL };
	char *env[3], *m;
	long t0;

	daemon_setup(&d);
	argv[3] = d.cfg;
	ck_assert(asprintf(&env[0], "NOTIFY_SOCKET=%s", d.notify_path) > 0);
	env[1] = "WATCHDOG_USEC=300000";	/* keepalive every 100 ms */
	env[2] = NULL;
	d.pid = tl_spawn(argv, d.log, env);
	m = tl_notify_expect(d.notify_fd, "READY=1", 10000);
	ck_assert_ptr_nonnull(m);
	free(m);
	t0 = tl_now_ms();
	for (int i = 0; i < 3; i++) {
		m = tl_notify_expect(d.notify_fd, "WATCHDOG=1", 5000);
		ck_assert_ptr_nonnull(m);
		free(m);
	}
	/* Three keepalives at 100 ms need at least 200 ms. */
	ck_assert_int_ge(tl_now_ms() - t0, 150);
	free(env[0]);
	daemon_stop(&d);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tl_tcase(s, "smoke", 60);

	tcase_add_test(tc, status_and_stop);
	tcase_add_test(tc, reload_good_and_broken);
	tcase_add_test(tc, reload_moves_socket);
	tcase_add_test(tc, bad_requests);
	tcase_add_test(tc, slow_reader);
	tcase_add_test(tc, half_close);
	tcase_add_test(tc, stale_and_live_sockets);
	tcase_add_test(tc, not_a_socket);
	tcase_add_test(tc, check_mode);
	tcase_add_test(tc, schema_compiled);
	tcase_add_test(tc, oadr_check_cli);
	tcase_add_test(tc, detached_start);
	tcase_add_test(tc, watchdog_keepalive);
	return tl_run_suite(s);
}
