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
	gid_t groups[4];
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
	tl_write(cfg, "control:\n  socket: %s\n  group: users\n"
	    "  readers: [audio]\n  operators: [video]\n", sock);
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

	r = ctl_as(&c, "status");
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "your_role        reader\n"));
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
	return tl_run_suite(s);
}
