/*
 * Control socket roles with real uids: acgwctl runs as "nobody" with
 * chosen groups against a running acgwd. Needs root to switch uid; as
 * another user it reports SKIP (exit 77), which automake counts apart
 * from passes. CI runs as root.
 */
#include "config.h"

#include <check.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/testlib.h"

#define NOBODY 65534

static char *dir, *cfg, *sock, *logpath;
static pid_t daemon_pid;
static gid_t g_socket, g_reader, g_operator;

struct creds {
	gid_t groups[96];
	int ngroups;
};

static void
drop_to_nobody(void *arg)
{
	struct creds *c = arg;

	if (setgroups((size_t)c->ngroups, c->groups) != 0 ||
	    setgid(NOBODY) != 0 || setuid(NOBODY) != 0) {
		perror("drop privileges");
		_exit(125);
	}
}

static struct tl_run
ctl_as(struct creds *c, const char *cmd)
{
	char *argv[] = { (char *)tl_env("ACGWCTL"), "-s", sock, (char *)cmd,
	    NULL };

	return tl_run_as(dir, argv, 15000, drop_to_nobody, c);
}

static gid_t
gid_of(const char *name)
{
	struct group *g = getgrnam(name);

	ck_assert_msg(g != NULL, "group %s missing", name);
	return g->gr_gid;
}

static void
setup(void)
{
	char *argv[5];
	char *notify;
	int nfd;
	char *env[2], *m;

	g_socket = gid_of("users");
	g_reader = gid_of("audio");
	g_operator = gid_of("video");
	dir = tl_tmpdir();
	cfg = tl_path(dir, "acgwd.yaml");
	sock = tl_path(dir, "control.sock");
	logpath = tl_path(dir, "acgwd.log");
	notify = tl_path(dir, "notify");
	nfd = tl_notify_listen(notify);
	tl_write(cfg, "audit:\n  enabled: false\n"
	    "control:\n  socket: %s\n  group: users\n"
	    "  readers: [audio]\n  operators: [video]\n"
	    "  max_clients: 2\n  max_clients_per_uid: 2\n", sock);
	argv[0] = (char *)tl_env("ACGWD");
	argv[1] = "-f";
	argv[2] = "-c";
	argv[3] = cfg;
	argv[4] = NULL;
	ck_assert(asprintf(&env[0], "NOTIFY_SOCKET=%s", notify) > 0);
	env[1] = NULL;
	daemon_pid = tl_spawn(argv, logpath, env);
	m = tl_notify_expect(nfd, "READY=1", 10000);
	ck_assert_msg(m != NULL, "acgwd did not start:\n%s", tl_read(logpath));
	free(m);
	free(env[0]);
	close(nfd);
	free(notify);
}

static void
teardown(void)
{
	kill(daemon_pid, SIGTERM);
	ck_assert_int_eq(tl_wait_exit(daemon_pid, 10000), 0);
	tl_rmrf(dir);
	free(dir);
	free(cfg);
	free(sock);
	free(logpath);
}

START_TEST(socket_permissions)
{
	struct stat st;

	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0660);
	ck_assert_uint_eq(st.st_gid, g_socket);
}
END_TEST

START_TEST(reader)
{
	struct creds c = { { g_socket, g_reader }, 2 };
	struct tl_run r;
	char *role;

	r = ctl_as(&c, "status");
	ck_assert_msg(r.status == 0, "%s", r.err);
	role = tl_table_value(r.out, "your_role");
	ck_assert_msg(role != NULL, "%s", r.out);
	ck_assert_str_eq(role, "reader");
	free(role);
	tl_run_free(&r);
	r = ctl_as(&c, "reload");
	ck_assert_int_eq(r.status, 4);
	ck_assert_str_eq(r.err, "acgwctl: permission denied: \"reload\" needs "
	    "the operator role; uid 65534 has the reader role\n");
	tl_run_free(&r);
	/* Nothing was reloaded. */
	ck_assert(!tl_wait_file_contains(logpath, "reloading", 1));
}
END_TEST

START_TEST(operator)
{
	struct creds c = { { g_socket, g_operator }, 2 };
	struct tl_run r = ctl_as(&c, "reload");

	ck_assert_msg(r.status == 0, "%s", r.err);
	tl_run_free(&r);
	ck_assert(tl_wait_file_contains(logpath, "reload requested by uid 65534",
	    1));
}
END_TEST

START_TEST(socket_group_only)
{
	struct creds c = { { g_socket }, 1 };
	struct tl_run r = ctl_as(&c, "status");

	ck_assert_msg(r.status == 4, "status %d: %s", r.status, r.err);
	ck_assert_str_eq(r.err, "acgwctl: permission denied: uid 65534 is not "
	    "a member of control.readers or control.operators\n");
	tl_run_free(&r);
	ck_assert(tl_wait_file_contains(logpath, "control: refused uid 65534", 1));
}
END_TEST

/* More supplementary groups than one getsockopt buffer holds. */
START_TEST(many_groups)
{
	struct creds c;
	struct tl_run r;
	char *role;

	c.ngroups = 80;
	for (int i = 0; i < 78; i++)
		c.groups[i] = 20000 + (gid_t)i;	/* groups nobody configured */
	c.groups[78] = g_socket;
	c.groups[79] = g_reader;
	r = ctl_as(&c, "status");
	ck_assert_msg(r.status == 0, "%s", r.err);
	role = tl_table_value(r.out, "your_role");
	ck_assert_msg(role != NULL, "%s", r.out);
	ck_assert_str_eq(role, "reader");
	free(role);
	tl_run_free(&r);
}
END_TEST

/*
 * One uid cannot take every slot (max_clients_per_uid 2), and readers
 * filling the total (max_clients 2) do not lock out an operator.
 */
static void
hold_connections(void *arg)
{
	int *fds = arg;

	drop_to_nobody(&(struct creds){ { g_socket, g_reader }, 2 });
	for (int i = 0; i < 2; i++)
		fds[i] = tl_connect(sock);
}

START_TEST(connection_limits)
{
	struct creds c = { { g_socket, g_reader }, 2 };
	struct tl_run r;
	int fds[2] = { -1, -1 }, p[2];
	pid_t holder;
	char ok;

	/* A child as nobody holds two idle connections. */
	ck_assert_int_eq(pipe(p), 0);
	holder = fork();
	ck_assert(holder != -1);
	if (holder == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		hold_connections(fds);
		ok = fds[0] != -1 && fds[1] != -1 ? 'y' : 'n';
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(p[0], &ok, 1), 1);
	ck_assert_int_eq(ok, 'y');
	usleep(200000);		/* let acgwd accept both */

	r = ctl_as(&c, "status");
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.err, "acgwctl: too many control connections for "
	    "uid 65534 (2); close some and try again\n");
	tl_run_free(&r);

	/* Root (an operator) still gets in although the total is reached. */
	{
		char *argv[] = { (char *)tl_env("ACGWCTL"), "-s", sock,
		    "status", NULL };
		r = tl_run(dir, argv, 15000);
		ck_assert_msg(r.status == 0, "%s", r.err);
		tl_run_free(&r);
	}
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	close(p[0]);
	close(p[1]);
	ck_assert(tl_wait_file_contains(logpath, "(control.max_clients_per_uid)",
	    1));
}
END_TEST

START_TEST(no_group)
{
	struct creds c = { { 0 }, 0 };
	struct tl_run r = ctl_as(&c, "status");
	char *want;

	ck_assert_int_eq(r.status, 4);
	ck_assert(asprintf(&want, "acgwctl: permission denied on %s: run as "
	    "root or as a member of group \"users\"\n", sock) > 0);
	ck_assert_str_eq(r.err, want);
	free(want);
	tl_run_free(&r);
}
END_TEST

/*
 * acgwd running as nobody cannot give its socket to a group it is not in:
 * a reload asking for that is refused whole, not half-applied.
 */
START_TEST(reload_refuses_foreign_group)
{
	struct creds none = { { 0 }, 0 };
	char *d = tl_tmpdir(), *sub = tl_path(d, "run");
	char *conf = tl_path(d, "acgwd.yaml");
	char *s = tl_path(sub, "control.sock");
	char *argv[] = { (char *)tl_env("ACGWD"), "-c", conf, NULL };
	char *ctlv[] = { (char *)tl_env("ACGWCTL"), "-s", s, "reload", NULL };
	char *want, *reply;
	struct tl_run r;
	struct stat st;
	pid_t pid;

	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(chown(sub, NOBODY, NOBODY), 0);
	tl_write(conf, "audit:\n  enabled: false\n"
	    "control:\n  socket: %s\n", s);
	ck_assert_int_eq(chmod(conf, 0644), 0);
	r = tl_run_as(d, argv, 15000, drop_to_nobody, &none);
	ck_assert_msg(r.status == 0, "acgwd as nobody did not start: %s", r.err);
	tl_run_free(&r);
	reply = tl_request(s, "status");
	pid = (pid_t)atol(strstr(reply, "\"pid\":") + 6);
	free(reply);

	tl_write(conf, "audit:\n  enabled: false\n"
	    "control:\n  socket: %s\n  group: users\n"
	    "  mode: \"0640\"\n", s);
	r = tl_run(d, ctlv, 15000);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "acgwctl: control.group users: acgwd (uid "
	    "65534) is not a member, so it cannot give %s to it\n", s) > 0);
	ck_assert_str_eq(r.err, want);
	free(want);
	tl_run_free(&r);
	/* Nothing changed: neither the group nor the mode. */
	ck_assert_int_eq(stat(s, &st), 0);
	ck_assert_uint_eq(st.st_gid, NOBODY);
	ck_assert_uint_eq(st.st_mode & 0777, 0660);
	reply = tl_request(s, "status");
	ck_assert_ptr_nonnull(strstr(reply, "\"reload_failures\":1"));
	free(reply);

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	for (int i = 0; i < 500 && kill(pid, 0) == 0; i++)
		usleep(10000);
	ck_assert_int_eq(kill(pid, 0), -1);
	tl_rmrf(d);
	free(d);
	free(sub);
	free(conf);
	free(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("roles");
	TCase *tc = tl_tcase(s, "uids", 60);

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: switching to uid 65534 needs root\n");
		return 77;
	}
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, socket_permissions);
	tcase_add_test(tc, reader);
	tcase_add_test(tc, operator);
	tcase_add_test(tc, socket_group_only);
	tcase_add_test(tc, no_group);
	tcase_add_test(tc, many_groups);
	tcase_add_test(tc, connection_limits);
	tc = tl_tcase(s, "unprivileged", 60);
	tcase_add_test(tc, reload_refuses_foreign_group);
	return tl_run_suite(s);
}
