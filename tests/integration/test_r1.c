/*
 * The R1 link against a real TLS server: a second acgwd whose R3
 * listener plays the TSO (its certificate from the TSO CA, acgwd's R1
 * client certificate as its only peer). The link must come up, refuse a
 * server with the wrong name or the wrong key, and come back with
 * backoff after the server restarts.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/testlib.h"

static char pki[64];

struct proc {
	char *cfg, *log, *sock, *notify;
	int nfd;
	pid_t pid;
};

static char *
pki_line(const char *name)
{
	char *p = tl_path(pki, name), *s = tl_read(p);

	s[strcspn(s, "\n")] = '\0';
	free(p);
	return s;
}

static void
proc_start(struct proc *p)
{
	char *argv[] = { (char *)tl_env("ACGWD"), "-f", "-c", p->cfg, NULL };
	char *env[2], *m;

	ck_assert(asprintf(&env[0], "NOTIFY_SOCKET=%s", p->notify) > 0);
	env[1] = NULL;
	p->pid = tl_spawn(argv, p->log, env);
	m = tl_notify_expect(p->nfd, "READY=1", 10000);
	ck_assert_msg(m != NULL, "acgwd did not start:\n%s", tl_read(p->log));
	free(m);
	free(env[0]);
}

static void
proc_stop(struct proc *p)
{
	int st;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGTERM);
	st = tl_wait_exit(p->pid, 10000);
	ck_assert_msg(st == 0, "acgwd exited %d:\n%s", st, tl_read(p->log));
	p->pid = 0;
}

static void
proc_init(struct proc *p, const char *dir, const char *name)
{
	char buf[64];

	memset(p, 0, sizeof(*p));
	snprintf(buf, sizeof(buf), "%s.yaml", name);
	p->cfg = tl_path(dir, buf);
	snprintf(buf, sizeof(buf), "%s.log", name);
	p->log = tl_path(dir, buf);
	snprintf(buf, sizeof(buf), "%s.sock", name);
	p->sock = tl_path(dir, buf);
	snprintf(buf, sizeof(buf), "%s.notify", name);
	p->notify = tl_path(dir, buf);
	p->nfd = tl_notify_listen(p->notify);
}

static void
proc_free(struct proc *p)
{
	proc_stop(p);
	close(p->nfd);
	free(p->cfg);
	free(p->log);
	free(p->sock);
	free(p->notify);
}

/* Waits for needle in the part of the file past offset. */
static int
log_after(const char *path, size_t offset, const char *needle, int ms)
{
	long end = tl_now_ms() + ms;

	do {
		char *s = tl_read(path);
		int found = strlen(s) > offset &&
		    strstr(s + offset, needle) != NULL;

		free(s);
		if (found)
			return 1;
		usleep(20000);
	} while (tl_now_ms() < end);
	return 0;
}


/* The TSO stand-in, serving cert (tso-server or tso-wrongname). */
static void
write_tso_from(struct proc *tso, int port, const char *cert,
    const char *sources)
{
	char *pin = pki_line("r1-client.pin");

	tl_write(tso->cfg, "audit:\n  enabled: false\n"
	    "dispatch:\n  state_dir: %s.state\n"
	    "control:\n  socket: %s\n"
	    "r3:\n  listen: \"127.0.0.1:%d\"\n  cert: %s/%s.pem\n"
	    "  key: %s/%s.key\n"
	    "peers:\n  - name: acgw-r1\n    ca: %s/tso-ca.pem\n"
	    "    pins: [\"%s\"]\n    sources: [%s]\n",
	    tso->cfg, tso->sock, port, pki, cert, pki, cert, pki, pin, sources);
	free(pin);
}

static void
write_tso(struct proc *tso, int port, const char *cert)
{
	write_tso_from(tso, port, cert, "127.0.0.0/8");
}

/* extra: more r1 keys, e.g. "  source_address: 127.0.0.2\n". */
static void
write_acgw_with(struct proc *a, int port, const char *pinfile,
    const char *extra)
{
	char *pin = pki_line(pinfile);

	tl_write(a->cfg, "audit:\n  enabled: false\n"
	    "dispatch:\n  state_dir: %s.state\n"
	    "control:\n  socket: %s\n"
	    "r1:\n  url: https://127.0.0.1:%d/vtn\n  server_name: tso.test\n"
	    "  ca: %s/tso-ca.pem\n  cert: %s/r1-client.pem\n"
	    "  key: %s/r1-client.key\n  pin: \"%s\"\n"
	    "  poll_interval: 1s\n  backoff_initial: 100ms\n"
	    "  backoff_max: 1s\n%s",
	    a->cfg, a->sock, port, pki, pki, pki, pin, extra);
	free(pin);
}

static void
write_acgw(struct proc *a, int port, const char *pinfile)
{
	write_acgw_with(a, port, pinfile, "");
}

START_TEST(link_up_and_back_after_restart)
{
	char *dir = tl_tmpdir();
	struct proc tso, acgw;
	int port = tl_free_port();
	size_t mark;
	char *s;

	proc_init(&tso, dir, "tso");
	proc_init(&acgw, dir, "acgw");
	write_tso(&tso, port, "tso-server");
	write_acgw(&acgw, port, "tso-server.pin");
	proc_start(&tso);
	proc_start(&acgw);
	ck_assert_msg(tl_wait_file_contains(acgw.log, "notice: r1: link up to "
	    "https://127.0.0.1:", 10000), "%s", tl_read(acgw.log));
	ck_assert(tl_wait_file_contains(acgw.log, "(CN=tso, TLSv1.3", 1));
	/* The TSO admitted acgwd's client certificate: mutual auth. */
	ck_assert(tl_wait_file_contains(tso.log, "admitted acgw-r1 (CN=acgw r1",
	    5000));
	s = tl_request(acgw.sock, "status");
	ck_assert_msg(strstr(s, "\"r1_state\":\"up\"") != NULL, "%s", s);
	free(s);

	/* The TSO goes away: failures back off, the state says so. */
	proc_stop(&tso);
	ck_assert_msg(tl_wait_file_contains(acgw.log, "connection failed "
	    "(refused, reset or unreachable); retrying in", 10000), "%s",
	    tl_read(acgw.log));
	ck_assert(tl_wait_file_contains(acgw.log, "(failure 3)", 10000));
	s = tl_request(acgw.sock, "status");
	ck_assert_msg(strstr(s, "\"r1_state\":\"backing off\"") != NULL, "%s",
	    s);
	free(s);
	/* It comes back: the link is up again with no operator action. */
	s = tl_read(acgw.log);
	mark = strlen(s);
	free(s);
	proc_start(&tso);
	ck_assert_msg(log_after(acgw.log, mark, "notice: r1: link up to ",
	    10000), "%s", tl_read(acgw.log));
	s = tl_request(acgw.sock, "status");
	ck_assert_msg(strstr(s, "\"r1_state\":\"up\"") != NULL, "%s", s);
	ck_assert_ptr_nonnull(strstr(s, "\"r1_failures\":0"));
	free(s);
	proc_free(&acgw);
	proc_free(&tso);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(wrong_name_refused)
{
	char *dir = tl_tmpdir();
	struct proc tso, acgw;
	int port = tl_free_port();
	char *s;

	proc_init(&tso, dir, "tso");
	proc_init(&acgw, dir, "acgw");
	write_tso(&tso, port, "tso-wrongname");
	write_acgw(&acgw, port, "tso-wrongname.pin");
	proc_start(&tso);
	proc_start(&acgw);
	ck_assert_msg(tl_wait_file_contains(acgw.log, "r1: https://127.0.0.1:",
	    10000) && tl_wait_file_contains(acgw.log, "/vtn: TLS: server name "
	    "mismatch; retrying in", 10000), "%s", tl_read(acgw.log));
	s = tl_request(acgw.sock, "status");
	ck_assert_ptr_nonnull(strstr(s, "\"r1_last_error\":\"TLS: server name "
	    "mismatch\""));
	ck_assert_ptr_null(strstr(s, "\"r1_state\":\"up\""));
	free(s);
	proc_free(&acgw);
	proc_free(&tso);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(wrong_pin_refused)
{
	char *dir = tl_tmpdir();
	struct proc tso, acgw;
	int port = tl_free_port();
	char *want, *pin;

	proc_init(&tso, dir, "tso");
	proc_init(&acgw, dir, "acgw");
	write_tso(&tso, port, "tso-server");
	write_acgw(&acgw, port, "ra1.pin");	/* some other key's pin */
	proc_start(&tso);
	proc_start(&acgw);
	pin = pki_line("tso-server.pin");
	ck_assert(asprintf(&want, "TLS: pin mismatch: the server key is %s, "
	    "r1.pin wants another; retrying in", pin) > 0);
	ck_assert_msg(tl_wait_file_contains(acgw.log, want, 10000), "%s",
	    tl_read(acgw.log));
	ck_assert(!tl_wait_file_contains(acgw.log, "link up", 1));
	free(want);
	free(pin);
	proc_free(&acgw);
	proc_free(&tso);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

/*
 * Network separation: the link leaves from r1.source_address (the TSO
 * admits only that address), and r1.interface is checked in the
 * handshake.
 */
START_TEST(source_address_and_interface)
{
	char *dir = tl_tmpdir();
	struct proc tso, acgw;
	int port = tl_free_port();
	size_t mark;
	char *s;

	proc_init(&tso, dir, "tso");
	proc_init(&acgw, dir, "acgw");
	write_tso_from(&tso, port, "tso-server", "127.0.0.2/32");
	write_acgw_with(&acgw, port, "tso-server.pin",
	    "  source_address: 127.0.0.2\n  interface: lo\n");
	proc_start(&tso);
	proc_start(&acgw);
	ck_assert_msg(tl_wait_file_contains(acgw.log, "r1: link up to", 10000),
	    "%s", tl_read(acgw.log));
	ck_assert(tl_wait_file_contains(tso.log, "127.0.0.2:", 5000));
	proc_stop(&acgw);

	/* Without the source address the TSO refuses the link... */
	write_acgw(&acgw, port, "tso-server.pin");
	proc_start(&acgw);
	ck_assert_msg(tl_wait_file_contains(tso.log, "refused 127.0.0.1:", 10000)
	    && tl_wait_file_contains(tso.log, "source address not allowed for "
	    "peer acgw-r1", 10000), "%s", tl_read(tso.log));
	proc_stop(&acgw);

	/* ... and an interface the connection does not use fails it. */
	write_acgw_with(&acgw, port, "tso-server.pin",
	    "  source_address: 127.0.0.2\n  interface: acgw-none0\n");
	s = tl_read(acgw.log);
	mark = strlen(s);
	free(s);
	proc_start(&acgw);
	ck_assert_msg(tl_wait_file_contains(acgw.log, "TLS: the connection left "
	    "from 127.0.0.2:", 10000) && tl_wait_file_contains(acgw.log,
	    "which is not on r1.interface acgw-none0; retrying in", 10000),
	    "%s", tl_read(acgw.log));
	ck_assert(!log_after(acgw.log, mark, "link up", 500));
	proc_free(&acgw);
	proc_free(&tso);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

/* A reload that removes r1 while the link fails stops the attempts. */
START_TEST(reload_removes_link)
{
	char *dir = tl_tmpdir();
	struct proc acgw;
	int port = tl_free_port();
	size_t mark;
	char *s;

	proc_init(&acgw, dir, "acgw");
	write_acgw(&acgw, port, "tso-server.pin");	/* nobody listens */
	proc_start(&acgw);
	ck_assert(tl_wait_file_contains(acgw.log, "(failure 2)", 10000));
	tl_write(acgw.cfg, "audit:\n  enabled: false\n"
	    "dispatch:\n  state_dir: %s.state\n"
	    "control:\n  socket: %s\n", acgw.cfg, acgw.sock);
	s = tl_request(acgw.sock, "reload");
	ck_assert_msg(strncmp(s, "{\"ok\":true", 10) == 0, "%s", s);
	free(s);
	s = tl_read(acgw.log);
	mark = strlen(s);
	free(s);
	s = tl_request(acgw.sock, "status");
	ck_assert_msg(strstr(s, "\"r1_state\":\"not configured\"") != NULL,
	    "%s", s);
	free(s);
	/* No more attempts (the backoff would retry within a second). */
	ck_assert(!log_after(acgw.log, mark, "r1:", 1500));
	proc_free(&acgw);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("r1");
	TCase *tc = tl_tcase(s, "link", 60);
	char tmpl[] = "/tmp/acgw-r1.XXXXXX", cmd[512];
	int rc;

	if (mkdtemp(tmpl) == NULL || chmod(tmpl, 0755) != 0) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	snprintf(pki, sizeof(pki), "%s/pki", tmpl);
	if (tl_make_pki(pki) != 0)
		return EXIT_FAILURE;
	tcase_add_test(tc, link_up_and_back_after_restart);
	tcase_add_test(tc, wrong_name_refused);
	tcase_add_test(tc, wrong_pin_refused);
	tcase_add_test(tc, source_address_and_interface);
	tcase_add_test(tc, reload_removes_link);
	rc = tl_run_suite(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", tmpl);
	return rc;
}
