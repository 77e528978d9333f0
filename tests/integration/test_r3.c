/*
 * R3 end to end: a real acgwd with the throwaway PKI from scripts/mkpki,
 * and real clients (curl, openssl s_client) on loopback. Admission and
 * every refusal reason as the log states it, TLS versions and ciphers,
 * reloads that revoke live sessions, session limits, the handshake and
 * idle timeouts, a peer that vanishes, key-file hygiene and acgwctl
 * peers.
 *
 * The PKI is made once per run (mkpki takes over a second) in main(),
 * under a run directory that main() removes at the end, so even a failed
 * test (Check forks each one) leaves nothing behind in /tmp. Every child
 * gets PR_SET_PDEATHSIG, so a failed test never leaves a process either.
 */
#include "config.h"

#include <check.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "acgw/json.h"
#include "../lib/testlib.h"

#define CURL "/usr/bin/curl"
#define OPENSSL "/usr/bin/openssl"

/* Set up by main() before the runner forks the tests. */
static char *run_dir, *pki_dir;

/* The SPKI pins mkpki wrote, as lowercase hex. */
static struct {
	const char *name;
	char pin[65];
} pins[] = {
	{ "ra1", "" }, { "ra2", "" }, { "ra-rsa", "" }, { "ra-revoked", "" },
	{ "ra-expired", "" }, { "ra-notyet", "" }, { "ra-wrongca", "" },
	{ "ra-extra", "" },
};

static const char *
pin(const char *name)
{
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++)
		if (strcmp(pins[i].name, name) == 0)
			return pins[i].pin;
	ck_abort_msg("no pin for %s", name);
	return NULL;
}

/* ---- the daemon ----------------------------------------------------- */

struct r3d {
	char *dir, *cfg, *sock, *log, *notify_path;
	int notify_fd;
	int port;
	pid_t pid;
};

/* What a test changes in the config; NULL means the default. */
struct r3opts {
	const char *ca;		/* all peers' CA (default PKI ca.pem) */
	const char *crl;	/* ra1's CRL, in the PKI (default none) */
	const char *idle;	/* r3.idle_timeout (default 10s) */
	const char *cert;	/* r3.cert (default PKI r3-server.pem) */
	const char *key;	/* r3.key (default PKI r3-server.key) */
	const char *r3_extra;	/* more lines under r3: */
	const char *ra1_extra;	/* more lines for peer ra1 */
	const char *tls;	/* a tls: section (default none) */
};


static void
write_config(struct r3d *d, const struct r3opts *o)
{
	char *ca = o->ca ? strdup(o->ca) : tl_path(pki_dir, "ca.pem");
	char *key = o->key ? strdup(o->key) : tl_path(pki_dir,
	    "r3-server.key");
	char *cert = o->cert ? strdup(o->cert) : tl_path(pki_dir,
	    "r3-server.pem");
	char *crl;

	if (o->crl != NULL)
		ck_assert(asprintf(&crl, "    crl: %s/%s\n", pki_dir,
		    o->crl) > 0);
	else
		crl = strdup("");
	/*
	 * ra1 also holds the pins of the bad certificates, so that each is
	 * refused for its own defect, not for being unknown.
	 */
	tl_write(d->cfg,
	    "audit:\n"
	    "  enabled: false\n"
	    "dispatch:\n"
	    "  state_dir: %s.state\n"
	    "log:\n"
	    "  level: debug\n"
	    "control:\n"
	    "  socket: %s\n"
	    "%s"
	    "r3:\n"
	    "  listen: \"127.0.0.1:%d\"\n"
	    "  cert: %s\n"
	    "  key: %s\n"
	    "  handshake_timeout: 500ms\n"
	    "  idle_timeout: %s\n"
	    "%s"
	    "peers:\n"
	    "  - name: ra1\n"
	    "    ca: %s\n"
	    "%s"
	    "    pins: [\"%s\", \"%s\", \"%s\", \"%s\", \"%s\"]\n"
	    "    sources: [\"127.0.0.1/32\"]\n"
	    "%s"
	    "  - name: ra-rsa\n"
	    "    ca: %s\n"
	    "    pins: [\"%s\"]\n"
	    "    sources: [\"127.0.0.1/32\"]\n"
	    "  - name: far\n"
	    "    ca: %s\n"
	    "    pins: [\"%s\"]\n"
	    "    sources: [\"127.0.0.2/32\"]\n",
	    d->cfg, d->sock, o->tls ? o->tls : "", d->port, cert, key,
	    o->idle ? o->idle : "10s",
	    o->r3_extra ? o->r3_extra : "", ca, crl, pin("ra1"),
	    pin("ra-revoked"), pin("ra-expired"), pin("ra-notyet"),
	    pin("ra-wrongca"), o->ra1_extra ? o->ra1_extra : "", ca,
	    pin("ra-rsa"), ca, pin("ra2"));
	free(ca);
	free(key);
	free(cert);
	free(crl);
}

static void
r3d_setup(struct r3d *d, const struct r3opts *o)
{
	char *tmpl = tl_path(run_dir, "t.XXXXXX");

	memset(d, 0, sizeof(*d));
	ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp: %s", strerror(errno));
	d->dir = tmpl;
	d->cfg = tl_path(d->dir, "acgwd.yaml");
	d->sock = tl_path(d->dir, "control.sock");
	d->log = tl_path(d->dir, "acgwd.log");
	d->notify_path = tl_path(d->dir, "notify");
	d->notify_fd = tl_notify_listen(d->notify_path);
	d->port = tl_free_port();
	write_config(d, o);
}

/* As test_daemon starts it: foreground, ready once READY=1 arrives. */
static void
r3d_start(struct r3d *d)
{
	char *argv[] = { (char *)tl_env("ACGWD"), "-f", "-c", d->cfg, NULL };
	char *env[2], *m, *want;

	ck_assert(asprintf(&env[0], "NOTIFY_SOCKET=%s", d->notify_path) > 0);
	env[1] = NULL;
	d->pid = tl_spawn(argv, d->log, env);
	m = tl_notify_expect(d->notify_fd, "READY=1", 10000);
	ck_assert_msg(m != NULL, "acgwd did not report READY=1; log:\n%s",
	    tl_read(d->log));
	ck_assert_str_eq(m, "READY=1\nSTATUS=running");
	free(m);
	free(env[0]);
	ck_assert(asprintf(&want, "notice: r3: listening on 127.0.0.1:%d\n",
	    d->port) > 0);
	ck_assert_msg(tl_wait_file_contains(d->log, want, 1000), "log:\n%s",
	    tl_read(d->log));
	free(want);
}

/* SIGTERM must end it with 0: under ASan that also means no leaks. */
static void
r3d_stop(struct r3d *d)
{
	int st;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		st = tl_wait_exit(d->pid, 15000);
		if (st == -1) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
		}
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
ctl(struct r3d *d, const char *a1, const char *a2)
{
	char *argv[] = { (char *)tl_env("ACGWCTL"), "-s", d->sock,
	    (char *)a1, (char *)a2, NULL };

	return tl_run(d->dir, argv, 15000);
}

/* ---- the log -------------------------------------------------------- */

/* Where the log ends now: later checks look only past this point. */
static size_t
log_mark(struct r3d *d)
{
	char *s = tl_read(d->log);
	size_t n = strlen(s);

	free(s);
	return n;
}

/*
 * The first line past mark that contains needle, waiting up to
 * timeout_ms; a malloc'd copy without its newline, or NULL.
 */
static char *
log_line(struct r3d *d, size_t mark, const char *needle, int timeout_ms)
{
	long end = tl_now_ms() + timeout_ms;

	do {
		char *s = tl_read(d->log);
		char *hit = strlen(s) > mark ? strstr(s + mark, needle) : NULL;

		if (hit != NULL) {
			char *bol = hit, *eol = strchr(hit, '\n'), *line;

			while (bol > s + mark && bol[-1] != '\n')
				bol--;
			if (eol != NULL) {
				line = strndup(bol, (size_t)(eol - bol));
				free(s);
				return line;
			}
			/* A line still being written: read again. */
		}
		free(s);
		usleep(10000);
	} while (tl_now_ms() < end);
	return NULL;
}

static void
expect_log(struct r3d *d, size_t mark, const char *needle, int timeout_ms)
{
	char *line = log_line(d, mark, needle, timeout_ms);

	ck_assert_msg(line != NULL, "no \"%s\" in the log within %d ms; "
	    "log:\n%s", needle, timeout_ms, tl_read(d->log));
	free(line);
}

static void
expect_no_log(struct r3d *d, size_t mark, const char *needle)
{
	char *line = log_line(d, mark, needle, 0);

	ck_assert_msg(line == NULL, "unexpected log line: %s", line);
}

/*
 * "warning: r3: refused 127.0.0.1:PORT: REASON" as a whole line's tail,
 * past mark; port 0 when the client's port is not known (s_client).
 * And no admission for that connection.
 */
static void
expect_refused(struct r3d *d, size_t mark, int port, const char *reason)
{
	long end = tl_now_ms() + 5000;
	const char *pfx = "warning: r3: refused 127.0.0.1:";
	char *s = NULL, *want, pbuf[16] = "PORT";

	do {
		free(s);
		s = tl_read(d->log);
		for (char *p = strlen(s) > mark ? s + mark : NULL;
		    p != NULL && (p = strstr(p, pfx)) != NULL; p++) {
			char *q = p + strlen(pfx), *eol = strchr(q, '\n');
			int lport = 0;

			if (eol == NULL)
				break;
			while (isdigit((unsigned char)*q))
				lport = lport * 10 + (*q++ - '0');
			if (lport == 0 || (port != 0 && lport != port) ||
			    strncmp(q, ": ", 2) != 0 || (size_t)(eol - q - 2) !=
			    strlen(reason) || strncmp(q + 2, reason,
			    strlen(reason)) != 0)
				continue;
			free(s);
			ck_assert(asprintf(&want, "r3: 127.0.0.1:%d: admitted",
			    lport) > 0);
			expect_no_log(d, mark, want);
			free(want);
			return;
		}
		usleep(10000);
	} while (tl_now_ms() < end);
	if (port != 0)
		snprintf(pbuf, sizeof(pbuf), "%d", port);
	ck_abort_msg("no \"%s%s: %s\" in the log; log:\n%s", pfx, pbuf,
	    reason, s);
}

/* ---- clients -------------------------------------------------------- */

static void
stdin_null(void *arg)
{
	int fd = open("/dev/null", O_RDONLY);

	(void)arg;
	if (fd == -1 || dup2(fd, 0) == -1)
		_exit(125);
}

/*
 * curl GET https://127.0.0.1:PORT/x, presenting cert (NULL: none);
 * returns its exit status, the HTTP code ("000" when the TLS handshake
 * failed) and the local port (curl knows it even when TLS fails), so a
 * log line can be tied to this very connection.
 */
static int
curl_get(struct r3d *d, const char *cert, const char *const *opts,
    int *code, int *lport)
{
	char *argv[24], *ca, *crt = NULL, *key = NULL, *url;
	struct tl_run r;
	int n = 0, st;

	ca = tl_path(pki_dir, "ca.pem");
	ck_assert(asprintf(&url, "https://127.0.0.1:%d/x", d->port) > 0);
	argv[n++] = CURL;
	argv[n++] = "-q";		/* no ~/.curlrc */
	argv[n++] = "-sS";
	argv[n++] = "--noproxy";
	argv[n++] = "*";
	argv[n++] = "--max-time";
	argv[n++] = "10";
	argv[n++] = "-o";
	argv[n++] = "/dev/null";
	argv[n++] = "-w";
	argv[n++] = "%{http_code} %{local_port}";
	argv[n++] = "--cacert";
	argv[n++] = ca;
	if (cert != NULL) {
		ck_assert(asprintf(&crt, "%s/%s.pem", pki_dir, cert) > 0);
		ck_assert(asprintf(&key, "%s/%s.key", pki_dir, cert) > 0);
		argv[n++] = "--cert";
		argv[n++] = crt;
		argv[n++] = "--key";
		argv[n++] = key;
	}
	for (size_t i = 0; opts != NULL && opts[i] != NULL; i++) {
		ck_assert(n < 22);
		argv[n++] = (char *)opts[i];
	}
	argv[n++] = url;
	argv[n] = NULL;
	r = tl_run_as(d->dir, argv, 15000, stdin_null, NULL);
	ck_assert_msg(sscanf(r.out, "%d %d", code, lport) == 2,
	    "curl said \"%s\" / \"%s\"", r.out, r.err);
	ck_assert_msg(*lport > 0, "curl did not connect: %s", r.err);
	st = r.status;
	tl_run_free(&r);
	free(ca);
	free(crt);
	free(key);
	free(url);
	return st;
}

/* curl must be refused in the handshake, and the log must say why. */
static void
curl_refused(struct r3d *d, const char *cert, const char *const *opts,
    const char *reason)
{
	size_t mark = log_mark(d);
	int code, lport, st;

	st = curl_get(d, cert, opts, &code, &lport);
	ck_assert_msg(st != 0 && code == 0, "%s: curl exit %d, HTTP %d",
	    reason, st, code);
	expect_refused(d, mark, lport, reason);
}

/* curl as peer/cert gets 404 (TLS and HTTP work; no routes yet). */
static void
curl_admitted(struct r3d *d, const char *peer, const char *cert)
{
	size_t mark = log_mark(d);
	int code, lport, st;
	char *want;

	st = curl_get(d, cert, NULL, &code, &lport);
	ck_assert_msg(st == 0 && code == 404, "%s: curl exit %d, HTTP %d",
	    cert, st, code);
	ck_assert(asprintf(&want, "info: r3: 127.0.0.1:%d: admitted %s (CN=%s, "
	    "pin %s, TLSv1.3, TLS_AES_128_GCM_SHA256)\n", lport, peer, cert,
	    pin(cert)) > 0);
	expect_log(d, mark, want, 5000);
	free(want);
	/* curl ends with close_notify: the daemon tells that apart. */
	ck_assert(asprintf(&want, "info: r3: 127.0.0.1:%d: session of %s ended "
	    "(closed by the peer) after 1 requests\n", lport, peer) > 0);
	expect_log(d, mark, want, 5000);
	free(want);
}

/* openssl s_client to completion (stdin /dev/null: it leaves at once). */
static struct tl_run
s_client(struct r3d *d, const char *cert, const char *opt1,
    const char *opt2, const char *opt3)
{
	char *argv[20], *ca, *crt, *key, *addr;
	struct tl_run r;
	int n = 0;

	ca = tl_path(pki_dir, "ca.pem");
	ck_assert(asprintf(&crt, "%s/%s.pem", pki_dir, cert) > 0);
	ck_assert(asprintf(&key, "%s/%s.key", pki_dir, cert) > 0);
	ck_assert(asprintf(&addr, "127.0.0.1:%d", d->port) > 0);
	argv[n++] = OPENSSL;
	argv[n++] = "s_client";
	argv[n++] = "-connect";
	argv[n++] = addr;
	argv[n++] = "-CAfile";
	argv[n++] = ca;
	argv[n++] = "-verify_return_error";
	argv[n++] = "-cert";
	argv[n++] = crt;
	argv[n++] = "-key";
	argv[n++] = key;
	if (opt1 != NULL)
		argv[n++] = (char *)opt1;
	if (opt2 != NULL)
		argv[n++] = (char *)opt2;
	if (opt3 != NULL)
		argv[n++] = (char *)opt3;
	argv[n] = NULL;
	r = tl_run_as(d->dir, argv, 15000, stdin_null, NULL);
	free(ca);
	free(crt);
	free(key);
	free(addr);
	return r;
}

/* A long-lived session: s_client -quiet with a stdin pipe we keep open. */
struct sess {
	pid_t pid;
	int in;			/* its stdin; -1 once closed */
	char *out;		/* its stdout and stderr */
	char addr[64];		/* its address as the daemon logs it */
};

static void
sess_open(struct r3d *d, struct sess *s, const char *peer, const char *cert)
{
	static int seq;
	char *ca, *crt, *key, *addr, *want, *line, *a, *e;
	int p[2];
	size_t mark = log_mark(d);
	pid_t parent = getpid();

	memset(s, 0, sizeof(*s));
	ca = tl_path(pki_dir, "ca.pem");
	ck_assert(asprintf(&crt, "%s/%s.pem", pki_dir, cert) > 0);
	ck_assert(asprintf(&key, "%s/%s.key", pki_dir, cert) > 0);
	ck_assert(asprintf(&addr, "127.0.0.1:%d", d->port) > 0);
	ck_assert(asprintf(&s->out, "%s/sess%d.out", d->dir, seq++) > 0);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	s->pid = fork();
	ck_assert(s->pid != -1);
	if (s->pid == 0) {
		char *argv[] = { OPENSSL, "s_client", "-quiet", "-connect",
		    addr, "-CAfile", ca, "-verify_return_error", "-cert", crt,
		    "-key", key, NULL };
		int fd = open(s->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* The test may have died before prctl took effect. */
		if (getppid() != parent || fd == -1)
			_exit(126);
		dup2(p[0], 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[0]);
	s->in = p[1];
	free(ca);
	free(crt);
	free(key);
	free(addr);
	ck_assert(asprintf(&want, ": admitted %s (CN=%s, pin %s, ", peer, cert,
	    pin(cert)) > 0);
	line = log_line(d, mark, want, 5000);
	ck_assert_msg(line != NULL, "%s not admitted; s_client: %s; log:\n%s",
	    cert, tl_read(s->out), tl_read(d->log));
	free(want);
	/* "... info: r3: 127.0.0.1:PORT: admitted ..." */
	a = strstr(line, "info: r3: ");
	ck_assert_ptr_nonnull(a);
	a += strlen("info: r3: ");
	e = strstr(a, ": admitted ");
	ck_assert(e != NULL && (size_t)(e - a) < sizeof(s->addr));
	memcpy(s->addr, a, (size_t)(e - a));
	s->addr[e - a] = '\0';
	ck_assert_msg(strncmp(s->addr, "127.0.0.1:", 10) == 0, "%s", line);
	free(line);
}

/* Sends bytes down the session (s_client encrypts and forwards them). */
static void
sess_send(struct sess *s, const char *data)
{
	signal(SIGPIPE, SIG_IGN);
	ck_assert(write(s->in, data, strlen(data)) == (ssize_t)strlen(data));
}

static void
sess_close(struct sess *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		ck_assert_int_ne(tl_wait_exit(s->pid, 5000), -1);
		s->pid = 0;
	}
	if (s->in != -1)
		close(s->in);
	s->in = -1;
	free(s->out);
	s->out = NULL;
}

/* acgwctl --json peers, parsed. */
static struct json_value *
peers_json(struct r3d *d)
{
	struct tl_run r = ctl(d, "--json", "peers");
	struct json_value *v;
	char err[128];

	ck_assert_msg(r.status == 0, "acgwctl peers: %s", r.err);
	v = json_parse(r.out, strlen(r.out), err, sizeof(err));
	ck_assert_msg(v != NULL, "not JSON (%s): %s", err, r.out);
	ck_assert_ptr_nonnull(json_get(v, "sessions"));
	ck_assert_int_eq(json_get(v, "sessions")->type, JSON_ARRAY);
	tl_run_free(&r);
	return v;
}

/* The session with this pin in a peers reply, or NULL. */
static const struct json_value *
session_with_pin(const struct json_value *v, const char *p)
{
	const struct json_value *a = json_get(v, "sessions");

	for (size_t i = 0; i < a->n; i++)
		if (strcmp(json_get(a->items[i], "pin")->string, p) == 0)
			return a->items[i];
	return NULL;
}

/* ---- tests ---------------------------------------------------------- */

START_TEST(good_clients)
{
	struct r3opts o = { .crl = "ca.crl" };
	struct r3d d;

	r3d_setup(&d, &o);
	r3d_start(&d);
	curl_admitted(&d, "ra1", "ra1");		/* ECDSA P-256 */
	curl_admitted(&d, "ra-rsa", "ra-rsa");		/* RSA-2048 */
	r3d_stop(&d);
}
END_TEST

START_TEST(refusals)
{
	static const char *const tls11[] = { "--tlsv1.1", "--tls-max", "1.1",
	    "--ciphers", "DEFAULT:@SECLEVEL=0", NULL };
	struct r3opts o = { .crl = "ca.crl" };
	struct r3d d;
	struct tl_run r;
	char *want;
	size_t mark;

	r3d_setup(&d, &o);
	r3d_start(&d);
	curl_refused(&d, NULL, NULL, "no certificate");
	curl_refused(&d, "ra-wrongca", NULL, "unknown CA");
	curl_refused(&d, "ra-expired", NULL, "certificate expired");
	curl_refused(&d, "ra-notyet", NULL, "certificate not yet valid");
	curl_refused(&d, "ra-revoked", NULL, "certificate revoked");
	ck_assert(asprintf(&want, "unknown pin (no configured peer has this "
	    "key); CN=ra-extra pin %s", pin("ra-extra")) > 0);
	curl_refused(&d, "ra-extra", NULL, want);
	free(want);
	/* ra2 is peer "far", which may only come from 127.0.0.2. */
	curl_refused(&d, "ra2", NULL,
	    "source address not allowed for peer far");
	/*
	 * TLS 1.1 with a good certificate; SECLEVEL=0 so that this client's
	 * own policy cannot keep it from asking.
	 */
	curl_refused(&d, "ra1", tls11, "protocol version");

	/* A TLS 1.2 suite outside tls.ciphers (CBC with SHA-1). */
	mark = log_mark(&d);
	r = s_client(&d, "ra1", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA");
	ck_assert_int_ne(r.status, 0);
	ck_assert_msg(strstr(r.err, "alert handshake failure") != NULL, "%s",
	    r.err);
	tl_run_free(&r);
	expect_refused(&d, mark, 0, "no shared cipher");

	/* The daemon is unharmed by all that. */
	curl_admitted(&d, "ra1", "ra1");
	r3d_stop(&d);
}
END_TEST

START_TEST(versions_and_ciphers)
{
	struct r3opts o = { 0 };
	struct r3d d;
	struct tl_run r;
	char *want;
	size_t mark;

	r3d_setup(&d, &o);
	r3d_start(&d);

	/* One of the two suites OpenADR 2.0 mandates, on TLS 1.2. */
	mark = log_mark(&d);
	r = s_client(&d, "ra1", "-tls1_2", "-cipher",
	    "ECDHE-ECDSA-AES128-SHA256");
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "New, TLSv1.2, Cipher is "
	    "ECDHE-ECDSA-AES128-SHA256\n") != NULL, "%s", r.out);
	tl_run_free(&r);
	ck_assert(asprintf(&want, ": admitted ra1 (CN=ra1, pin %s, TLSv1.2, "
	    "ECDHE-ECDSA-AES128-SHA256)\n", pin("ra1")) > 0);
	expect_log(&d, mark, want, 5000);
	free(want);

	mark = log_mark(&d);
	r = s_client(&d, "ra1", "-tls1_3", NULL, NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "New, TLSv1.3, Cipher is "
	    "TLS_AES_128_GCM_SHA256\n") != NULL, "%s", r.out);
	tl_run_free(&r);
	ck_assert(asprintf(&want, ": admitted ra1 (CN=ra1, pin %s, TLSv1.3, "
	    "TLS_AES_128_GCM_SHA256)\n", pin("ra1")) > 0);
	expect_log(&d, mark, want, 5000);
	free(want);
	r3d_stop(&d);
}
END_TEST

/* A CRL past its nextUpdate cannot vouch for anyone: refused. */
START_TEST(stale_crl)
{
	struct r3opts o = { .crl = "ca-stale.crl" };
	struct r3d d;

	r3d_setup(&d, &o);
	r3d_start(&d);
	curl_refused(&d, "ra1", NULL, "CRL expired (nextUpdate passed)");
	r3d_stop(&d);
}
END_TEST

/*
 * Resumption from the session cache: the resumed session skips the
 * verify callback, so acgwd checks it after the handshake, and it is
 * admitted the same way.
 */
/* ra1 offers the session in SESS; acgwd resumes it and admits it. */
static void
expect_resumed(struct r3d *d, const char *sess)
{
	size_t mark = log_mark(d);
	struct tl_run r = s_client(d, "ra1", "-tls1_2", "-sess_in", sess);
	char *want;

	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "Reused, TLSv1.2") != NULL, "%s", r.out);
	tl_run_free(&r);
	ck_assert(asprintf(&want, ": admitted ra1 (CN=ra1, pin %s, TLSv1.2, "
	    "ECDHE-ECDSA-AES128-GCM-SHA256, resumed)\n", pin("ra1")) > 0);
	expect_log(d, mark, want, 5000);
	free(want);
}

START_TEST(resumed_session)
{
	struct r3opts o = { 0 };
	struct r3d d;
	struct tl_run r;
	char *sess;

	r3d_setup(&d, &o);
	r3d_start(&d);
	sess = tl_path(d.dir, "ra1.session");
	r = s_client(&d, "ra1", "-tls1_2", "-sess_out", sess);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "New, TLSv1.2"));
	tl_run_free(&r);
	expect_resumed(&d, sess);
	free(sess);
	r3d_stop(&d);
}
END_TEST

/*
 * A reload that revokes a certificate and swaps the CA file (same CA,
 * new path) ends the revoked live session and only that one.
 */
START_TEST(reload_revokes_live_session)
{
	struct r3opts o = { .crl = "ca-empty.crl" };
	struct r3d d;
	struct sess good, bad;
	struct json_value *v = NULL;
	const struct json_value *a;
	struct tl_run r;
	char *copy, *src, *want;
	size_t mark;
	long end;

	r3d_setup(&d, &o);
	r3d_start(&d);
	sess_open(&d, &good, "ra1", "ra1");
	/* ca-empty.crl revokes nothing: ra-revoked is let in for now. */
	sess_open(&d, &bad, "ra1", "ra-revoked");
	end = tl_now_ms() + 5000;
	for (;;) {
		v = peers_json(&d);
		if (session_with_pin(v, pin("ra1")) != NULL &&
		    session_with_pin(v, pin("ra-revoked")) != NULL)
			break;
		json_value_free(v);
		ck_assert_msg(tl_now_ms() < end, "both sessions not listed");
		usleep(50000);
	}
	a = session_with_pin(v, pin("ra1"));
	ck_assert_str_eq(json_get(a, "peer")->string, "ra1");
	ck_assert_str_eq(json_get(a, "remote")->string, good.addr);
	ck_assert_str_eq(json_get(session_with_pin(v, pin("ra-revoked")),
	    "remote")->string, bad.addr);
	json_value_free(v);

	copy = tl_path(d.dir, "ca-copy.pem");
	src = tl_path(pki_dir, "ca.pem");
	want = tl_read(src);
	ck_assert_uint_gt(strlen(want), 0);
	tl_write(copy, "%s", want);
	free(want);
	free(src);
	o.ca = copy;
	o.crl = "ca.crl";
	write_config(&d, &o);
	mark = log_mark(&d);
	r = ctl(&d, "reload", NULL);
	ck_assert_msg(r.status == 0, "reload: %s", r.err);
	tl_run_free(&r);

	ck_assert(asprintf(&want, "warning: r3: %s: ra1 is no longer allowed: "
	    "certificate revoked\n", bad.addr) > 0);
	expect_log(&d, mark, want, 5000);
	free(want);
	/* Closed by us, with close_notify: s_client sees the end and exits. */
	ck_assert(asprintf(&want, "info: r3: %s: session of ra1 closed after 0 "
	    "requests\n", bad.addr) > 0);
	expect_log(&d, mark, want, 5000);
	free(want);
	ck_assert_int_ne(tl_wait_exit(bad.pid, 5000), -1);
	bad.pid = 0;
	ck_assert(asprintf(&want, "r3: %s: ra1 is no longer allowed", good.addr)
	    > 0);
	expect_no_log(&d, mark, want);
	free(want);

	/* The good session is untouched: listed alone, still serving. */
	v = peers_json(&d);
	a = json_get(v, "sessions");
	ck_assert_int_eq(a->n, 1);
	ck_assert_str_eq(json_get(a->items[0], "pin")->string, pin("ra1"));
	ck_assert_str_eq(json_get(a->items[0], "remote")->string, good.addr);
	json_value_free(v);
	ck_assert_int_eq(waitpid(good.pid, NULL, WNOHANG), 0);
	usleep(1000000);
	v = peers_json(&d);
	ck_assert_int_eq(json_get(v, "sessions")->n, 1);
	ck_assert_ptr_nonnull(session_with_pin(v, pin("ra1")));
	json_value_free(v);
	sess_send(&good, "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	ck_assert_msg(tl_wait_file_contains(good.out,
	    "HTTP/1.1 404 Not Found\r\n", 5000), "s_client: %s",
	    tl_read(good.out));
	ck_assert_int_eq(waitpid(good.pid, NULL, WNOHANG), 0);

	/* New handshakes see the new CRL and the CA at its new path. */
	curl_refused(&d, "ra-revoked", NULL, "certificate revoked");
	curl_admitted(&d, "ra1", "ra1");

	sess_close(&good);
	sess_close(&bad);
	free(copy);
	r3d_stop(&d);
}
END_TEST

/*
 * The chain sent with r3.cert: a file holding only the leaf gets the
 * issuer from the peers' CAs (built once at start, not per handshake),
 * as OpenSSL's per-handshake building did.
 */
START_TEST(served_chain)
{
	struct r3opts o = { 0 };
	struct r3d d;
	struct tl_run r;
	const char *p;
	int n = 0;

	r3d_setup(&d, &o);
	r3d_start(&d);
	for (int i = 0; i < 2; i++) {
		r = s_client(&d, "ra1", i ? "-tls1_2" : "-tls1_3",
		    "-showcerts", NULL);
		ck_assert_msg(r.status == 0, "%s", r.err);
		for (p = r.out, n = 0; (p = strstr(p, "-----BEGIN "
		    "CERTIFICATE-----")) != NULL; p++)
			n++;
		ck_assert_msg(n == 2, "%d certificates sent: %s", n, r.out);
		ck_assert_msg(strstr(r.out, " 1 s:O = acgw test, CN = acgw test AC CA\n") != NULL,
		    "%s", r.out);
		tl_run_free(&r);
	}
	r3d_stop(&d);
}
END_TEST


/* A full TLS 1.2 handshake as cert; its session saved in d's dir/name. */
static char *
new_session(struct r3d *d, const char *cert, const char *name)
{
	char *sess = tl_path(d->dir, name);
	struct tl_run r = s_client(d, cert, "-tls1_2", "-sess_out", sess);

	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "New, TLSv1.2"));
	tl_run_free(&r);
	return sess;
}

/*
 * Sessions taken back are checked: a certificate revoked while acgwd was
 * down is left out (and then refused in its full handshake), and a file
 * that is not a sessions file is refused whole and removed.
 */
START_TEST(keep_sessions_checked)
{
	struct r3opts o = { .tls = "tls:\n  keep_sessions: true\n",
	    .crl = "ca-empty.crl" };
	struct r3d d;
	struct tl_run r;
	char *sess, *file, *want;
	size_t mark;
	struct stat st;

	r3d_setup(&d, &o);
	ck_assert(asprintf(&file, "%s.state/tls-sessions", d.cfg) > 0);
	r3d_start(&d);
	/* ca-empty.crl revokes nothing: ra-revoked is admitted as ra1. */
	sess = new_session(&d, "ra-revoked", "revoked.session");
	kill(d.pid, SIGTERM);
	ck_assert_int_eq(tl_wait_exit(d.pid, 15000), 0);
	d.pid = 0;
	o.crl = "ca.crl";
	write_config(&d, &o);
	mark = log_mark(&d);
	r3d_start(&d);
	expect_log(&d, mark, "notice: tls: 1 session(s) of the last run left "
	    "out: expired, or their certificate no longer verifies\n", 1000);
	expect_no_log(&d, mark, "session(s) of the last run taken back");
	r = s_client(&d, "ra-revoked", "-tls1_2", "-sess_in", sess);
	ck_assert_msg(strstr(r.out, "Reused,") == NULL, "%s", r.out);
	tl_run_free(&r);
	expect_refused(&d, mark, 0, "certificate revoked");

	/* Not a sessions file: refused whole, removed, nothing taken. */
	kill(d.pid, SIGTERM);
	ck_assert_int_eq(tl_wait_exit(d.pid, 15000), 0);
	d.pid = 0;
	tl_write(file, "-----BEGIN SSL SESSION PARAMETERS-----\n");
	ck_assert_int_eq(chmod(file, 0600), 0);
	mark = log_mark(&d);
	r3d_start(&d);
	ck_assert(asprintf(&want, "warning: tls: sessions of the last run not "
	    "taken back: %s: not an acgw-tls-sessions 1 file\n", file) > 0);
	expect_log(&d, mark, want, 1000);
	free(want);
	ck_assert(stat(file, &st) == -1 && errno == ENOENT);
	free(file);
	free(sess);
	r3d_stop(&d);
}
END_TEST

/* SIGTERM, exit 0, and start again in the same directory. */
static void
r3d_restart(struct r3d *d)
{
	int st;

	kill(d->pid, SIGTERM);
	st = tl_wait_exit(d->pid, 15000);
	ck_assert_msg(st == 0, "acgwd exited with %d; log:\n%s", st,
	    tl_read(d->log));
	d->pid = 0;
	r3d_start(d);
}

/*
 * tls.keep_sessions: the session cache outlives a restart (written at
 * the stop, read and removed at the start); a file others could read is
 * refused and removed; without the setting a file left behind is removed.
 */
START_TEST(keep_sessions)
{
	struct r3opts o = { .tls = "tls:\n  keep_sessions: true\n" };
	struct r3d d;
	struct tl_run r;
	char *sess, *file, *want;
	struct stat st;

	r3d_setup(&d, &o);
	ck_assert(asprintf(&file, "%s.state/tls-sessions", d.cfg) > 0);
	r3d_start(&d);
	sess = new_session(&d, "ra1", "ra1.session");
	r3d_restart(&d);
	expect_log(&d, 0, "notice: tls: 1 session(s) kept for the next run "
	    "(tls.keep_sessions)\n", 1000);
	expect_log(&d, 0, "notice: tls: 1 session(s) of the last run taken "
	    "back (tls.keep_sessions)\n", 1000);
	ck_assert_msg(stat(file, &st) == -1 && errno == ENOENT,
	    "%s still there after the start", file);
	expect_resumed(&d, sess);

	/* Kept again at the next stop, but readable by others: refused. */
	kill(d.pid, SIGTERM);
	ck_assert_int_eq(tl_wait_exit(d.pid, 15000), 0);
	d.pid = 0;
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(chmod(file, 0644), 0);
	r3d_start(&d);
	ck_assert(asprintf(&want, "warning: tls: sessions of the last run not "
	    "taken back: tls.keep_sessions %s: session secrets readable by "
	    "group or others (mode 0644); fix: chmod 600 %s\n", file, file) >
	    0);
	expect_log(&d, 0, want, 1000);
	free(want);
	ck_assert(stat(file, &st) == -1 && errno == ENOENT);
	r = s_client(&d, "ra1", "-tls1_2", "-sess_in", sess);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "New, TLSv1.2") != NULL, "%s", r.out);
	tl_run_free(&r);

	/* Off: the next stop keeps nothing, a stale file is removed. */
	o.tls = NULL;
	write_config(&d, &o);
	r = ctl(&d, "reload", NULL);
	ck_assert_msg(r.status == 0, "reload: %s", r.err);
	tl_run_free(&r);
	/* The reload's READY=1, so that the next start waits for its own. */
	free(tl_notify_expect(d.notify_fd, "READY=1", 5000));
	kill(d.pid, SIGTERM);
	ck_assert_int_eq(tl_wait_exit(d.pid, 15000), 0);
	d.pid = 0;
	ck_assert(stat(file, &st) == -1 && errno == ENOENT);
	tl_write(file, "acgw-tls-sessions 1\n");
	ck_assert_int_eq(chmod(file, 0600), 0);
	r3d_start(&d);
	ck_assert_msg(stat(file, &st) == -1 && errno == ENOENT,
	    "%s left behind; log:\n%s", file, tl_read(d.log));
	free(file);
	free(sess);
	r3d_stop(&d);
}
END_TEST

/*
 * Handshakes in flight across reloads: each finishes with the context
 * it began with, verified in full (under ASan, any use of the freed
 * configuration stops acgwd and fails the test).
 */
START_TEST(reload_during_handshakes)
{
	struct r3opts o = { .ra1_extra = "    max_sessions: 100\n",
	    .r3_extra = "  requests_per_second: 1000\n"
	    "  request_burst: 1000\n" };
	struct r3d d;
	struct tl_run r;
	char *script, *argv[4];
	pid_t pid;
	int st;

	r3d_setup(&d, &o);
	r3d_start(&d);
	/* 40 clients at once, each with one request: 404 means admitted. */
	ck_assert(asprintf(&script,
	    "n=0; while [ $n -lt 40 ]; do n=$((n + 1));"
	    " %s -q -s --noproxy '*' --max-time 20 -o /dev/null"
	    " -w '%%{http_code}\\n' --cacert %s/ca.pem --cert %s/ra1.pem"
	    " --key %s/ra1.key https://127.0.0.1:%d/x >> %s/codes & done;"
	    " wait", CURL, pki_dir, pki_dir, pki_dir, d.port, d.dir) > 0);
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = script;
	argv[3] = NULL;
	pid = tl_spawn(argv, "/dev/null", NULL);
	for (int i = 0; i < 10; i++) {
		r = ctl(&d, "reload", NULL);
		ck_assert_msg(r.status == 0, "reload: %s", r.err);
		tl_run_free(&r);
		free(tl_notify_expect(d.notify_fd, "READY=1", 5000));
	}
	st = tl_wait_exit(pid, 30000);
	ck_assert_int_eq(st, 0);
	{
		char *path = tl_path(d.dir, "codes"), *codes = tl_read(path);
		size_t n = 0;

		for (char *p = codes; (p = strstr(p, "404\n")) != NULL; p++)
			n++;
		ck_assert_msg(n == 40, "%zu of 40 admitted: %s", n, codes);
		free(codes);
		free(path);
	}
	free(script);
	r3d_stop(&d);
}
END_TEST

/* The verified-certificate cache, from acgwctl status. */
static void
expect_vcache(struct r3d *d, long long entries, long long hits,
    long long misses)
{
	struct tl_run r = ctl(d, "--json", "status");
	struct json_value *v;
	char err[128];

	ck_assert_msg(r.status == 0, "acgwctl status: %s", r.err);
	v = json_parse(r.out, strlen(r.out), err, sizeof(err));
	ck_assert_msg(v != NULL, "not JSON (%s): %s", err, r.out);
	ck_assert_msg(json_get(v, "verify_cache_entries")->number == entries &&
	    json_get(v, "verify_cache_hits")->number == hits &&
	    json_get(v, "verify_cache_misses")->number == misses,
	    "want entries %lld hits %lld misses %lld: %s", entries, hits,
	    misses, r.out);
	json_value_free(v);
	tl_run_free(&r);
}

/*
 * A certificate verified once is not verified again, but every other
 * check still runs on each handshake; a reload (here: a CRL that now
 * revokes a cached certificate) empties the cache; 0 turns it off.
 */
START_TEST(verify_cache)
{
	struct r3opts o = { .crl = "ca-empty.crl" };
	struct r3d d;
	struct tl_run r;
	char *why;

	r3d_setup(&d, &o);
	r3d_start(&d);
	expect_vcache(&d, 0, 0, 0);
	curl_admitted(&d, "ra1", "ra1");
	curl_admitted(&d, "ra1", "ra1");
	curl_admitted(&d, "ra1", "ra-revoked");	/* nothing revoked yet */
	expect_vcache(&d, 2, 1, 2);
	/* A good chain with an unknown key: refused, never cached. */
	ck_assert(asprintf(&why, "unknown pin (no configured peer has this "
	    "key); CN=ra-extra pin %s", pin("ra-extra")) > 0);
	curl_refused(&d, "ra-extra", NULL, why);
	curl_refused(&d, "ra-extra", NULL, why);
	free(why);
	expect_vcache(&d, 2, 1, 4);
	/* The CRL now revokes a cached certificate: the reload empties it. */
	o.crl = "ca.crl";
	write_config(&d, &o);
	r = ctl(&d, "reload", NULL);
	ck_assert_msg(r.status == 0, "reload: %s", r.err);
	tl_run_free(&r);
	expect_vcache(&d, 0, 0, 0);
	curl_refused(&d, "ra-revoked", NULL, "certificate revoked");
	curl_admitted(&d, "ra1", "ra1");
	curl_admitted(&d, "ra1", "ra1");
	expect_vcache(&d, 1, 1, 2);
	o.tls = "tls:\n  verify_cache: 0\n";
	write_config(&d, &o);
	r = ctl(&d, "reload", NULL);
	ck_assert_msg(r.status == 0, "reload: %s", r.err);
	tl_run_free(&r);
	curl_admitted(&d, "ra1", "ra1");
	curl_admitted(&d, "ra1", "ra1");
	expect_vcache(&d, 0, 0, 0);
	r3d_stop(&d);
}
END_TEST

START_TEST(peer_session_limit)
{
	struct r3opts o = { .ra1_extra = "    max_sessions: 1\n" };
	struct r3d d;
	struct sess s;
	char *want;
	size_t mark;

	r3d_setup(&d, &o);
	r3d_start(&d);
	sess_open(&d, &s, "ra1", "ra1");
	curl_refused(&d, "ra1", NULL, "over session limit for peer ra1 (1)");
	/* The limit is ra1's: another peer still gets in. */
	curl_admitted(&d, "ra-rsa", "ra-rsa");
	/* Once ra1's session ends, ra1 may connect again. */
	mark = log_mark(&d);
	sess_close(&s);
	ck_assert(asprintf(&want, "r3: %s: session of ra1 ended", s.addr) > 0);
	expect_log(&d, mark, want, 5000);
	free(want);
	curl_admitted(&d, "ra1", "ra1");
	r3d_stop(&d);
}
END_TEST

START_TEST(total_session_limit)
{
	struct r3opts o = { .r3_extra = "  max_sessions: 1\n" };
	struct r3d d;
	struct sess s;
	char *want;
	size_t mark;

	r3d_setup(&d, &o);
	r3d_start(&d);
	sess_open(&d, &s, "ra1", "ra1");
	/* Another peer: only the total limit can refuse it. */
	curl_refused(&d, "ra-rsa", NULL,
	    "over the total session limit (r3.max_sessions 1)");
	mark = log_mark(&d);
	sess_close(&s);
	ck_assert(asprintf(&want, "r3: %s: session of ra1 ended", s.addr) > 0);
	expect_log(&d, mark, want, 5000);
	free(want);
	curl_admitted(&d, "ra-rsa", "ra-rsa");
	r3d_stop(&d);
}
END_TEST

/* A TCP client that never says hello is cut at r3.handshake_timeout. */
START_TEST(handshake_timeout)
{
	struct r3opts o = { 0 };
	struct r3d d;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct pollfd p;
	char *want, c;
	size_t mark;
	long t0, dt;
	int fd;

	r3d_setup(&d, &o);
	r3d_start(&d);
	mark = log_mark(&d);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)d.port);
	t0 = tl_now_ms();
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	ck_assert_msg(poll(&p, 1, 2000) == 1, "still open after 2 s");
	ck_assert_int_eq(read(fd, &c, 1), 0);		/* EOF */
	dt = tl_now_ms() - t0;
	/* Not before the timeout (500 ms, with some slack for the loop). */
	ck_assert_msg(dt >= 450, "cut after %ld ms", dt);
	close(fd);
	ck_assert(asprintf(&want, "warning: r3: refused 127.0.0.1:%d: "
	    "handshake timeout (500 ms)\n", ntohs(sin.sin_port)) > 0);
	expect_log(&d, mark, want, 2000);
	free(want);
	r3d_stop(&d);
}
END_TEST

/* An admitted session that stays silent is cut at r3.idle_timeout. */
START_TEST(idle_timeout)
{
	struct r3opts o = { .idle = "2s" };
	struct r3d d;
	struct sess s;
	char *want;
	size_t mark;
	long t0, dt;

	r3d_setup(&d, &o);
	r3d_start(&d);
	mark = log_mark(&d);
	sess_open(&d, &s, "ra1", "ra1");
	t0 = tl_now_ms();
	ck_assert(asprintf(&want, "notice: r3: %s: closing session of ra1: "
	    "idle timeout (2000 ms)\n", s.addr) > 0);
	expect_log(&d, mark, want, 5000);
	free(want);
	dt = tl_now_ms() - t0;
	ck_assert_msg(dt >= 1500, "cut after %ld ms, before the idle timeout",
	    dt);
	/* The client sees its connection end and leaves. */
	ck_assert_int_ne(tl_wait_exit(s.pid, 3000), -1);
	s.pid = 0;
	sess_close(&s);
	r3d_stop(&d);
}
END_TEST

/* A client killed mid-session: no close_notify, and the log says so. */
START_TEST(peer_dropped)
{
	struct r3opts o = { 0 };
	struct r3d d;
	struct sess s;
	char *want;
	size_t mark;

	r3d_setup(&d, &o);
	r3d_start(&d);
	sess_open(&d, &s, "ra1", "ra1");
	mark = log_mark(&d);
	kill(s.pid, SIGKILL);
	ck_assert_int_eq(tl_wait_exit(s.pid, 5000), 128 + SIGKILL);
	s.pid = 0;
	ck_assert(asprintf(&want, "info: r3: %s: session of ra1 ended (peer "
	    "dropped: connection closed without close_notify) after 0 "
	    "requests\n", s.addr) > 0);
	expect_log(&d, mark, want, 3000);
	free(want);
	sess_close(&s);
	r3d_stop(&d);
}
END_TEST

/* A private key others can read is refused, like ssh does. */
START_TEST(key_hygiene)
{
	struct r3opts o = { 0 };
	struct r3d d;
	struct tl_run r;
	char *argv[] = { (char *)tl_env("ACGWD"), "-t", "-c", NULL, NULL };
	char *key, *src, *pem, *want;

	/*
	 * A copy of r3-server.key in the test's own directory: the shared
	 * PKI stays 0600 even if this test fails half way.
	 */
	r3d_setup(&d, &o);
	key = tl_path(d.dir, "r3.key");
	src = tl_path(pki_dir, "r3-server.key");
	pem = tl_read(src);
	ck_assert_uint_gt(strlen(pem), 0);
	tl_write(key, "%s", pem);
	free(pem);
	free(src);
	o.key = key;
	write_config(&d, &o);
	argv[3] = d.cfg;

	ck_assert_int_eq(chmod(key, 0644), 0);
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out, "");
	/* r3.key is on line 8, its value at column 8. */
	ck_assert(asprintf(&want, "%s:12:8: r3.key: %s: private key readable by "
	    "group or others (mode 0644); fix: chmod 600 %s\n", d.cfg, key,
	    key) > 0);
	ck_assert_str_eq(r.err, want);
	free(want);
	tl_run_free(&r);

	/* 0600 again: the same configuration is fine. */
	ck_assert_int_eq(chmod(key, 0600), 0);
	r = tl_run(d.dir, argv, 10000);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_str_eq(r.out, "configuration ok\n");
	tl_run_free(&r);
	free(key);
	r3d_stop(&d);
}
END_TEST

/*
 * A peer with push_url: acgwd pushes with r3.cert, so a certificate
 * without clientAuth is refused at the start (and by acgwd -t), not in
 * every push later; with r3-server.pem (which has it) all is well.
 */
START_TEST(push_needs_client_cert)
{
	struct r3opts o = { 0 };
	struct r3d d;
	struct tl_run r;
	char *argv[] = { (char *)tl_env("ACGWD"), "-t", "-c", NULL, NULL };
	char *cert = tl_path(pki_dir, "tso-server.pem");
	char *key = tl_path(pki_dir, "tso-server.key");
	char *want;

	r3d_setup(&d, &o);
	o.ra1_extra = "    push_url: https://127.0.0.1:9/ra1\n";
	o.cert = cert;
	o.key = key;
	write_config(&d, &o);
	argv[3] = d.cfg;
	r = tl_run(d.dir, argv, 10000);
	ck_assert_int_eq(r.status, 1);
	ck_assert(asprintf(&want, "%s:11:9: r3.cert: %s: not usable as a "
	    "client certificate (its extended key usage lacks clientAuth), "
	    "which pushing to peers[].push_url needs\n", d.cfg, cert) > 0);
	ck_assert_str_eq(r.err, want);
	free(want);
	tl_run_free(&r);

	o.cert = o.key = NULL;
	write_config(&d, &o);
	r = tl_run(d.dir, argv, 10000);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_str_eq(r.out, "configuration ok\n");
	tl_run_free(&r);
	free(cert);
	free(key);
	r3d_stop(&d);
}
END_TEST

/* acgwctl peers as a table, with a live session and without. */
START_TEST(peers_table)
{
	struct r3opts o = { 0 };
	struct r3d d;
	struct sess s;
	struct tl_run r;
	char *want;
	size_t mark;
	int w;

	r3d_setup(&d, &o);
	r3d_start(&d);
	sess_open(&d, &s, "ra1", "ra1");
	r = ctl(&d, "peers", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	/* Columns are as wide as their widest cell (here the address). */
	w = (int)strlen(s.addr);
	ck_assert(asprintf(&want, "\n%-4s  %-*s  %-7s  %-22s  %-64s  SINCE",
	    "PEER", w, "REMOTE", "TLS", "CIPHER", "PIN") > 0);
	ck_assert_msg(strncmp(r.out, want, strlen(want)) == 0,
	    "header:\n%s\nwanted:\n%s", r.out, want);
	free(want);
	ck_assert(asprintf(&want, "\n%-4s  %-*s  %-7s  %-22s  %s  ", "ra1", w,
	    s.addr, "TLSv1.3", "TLS_AES_128_GCM_SHA256", pin("ra1")) > 0);
	ck_assert_msg(strstr(r.out, want) != NULL, "row:\n%s\nwanted:%s", r.out,
	    want);
	free(want);
	tl_run_free(&r);

	mark = log_mark(&d);
	sess_close(&s);
	ck_assert(asprintf(&want, "r3: %s: session of ra1 ended", s.addr) > 0);
	expect_log(&d, mark, want, 5000);
	free(want);
	r = ctl(&d, "peers", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "\nsessions: none\n");
	tl_run_free(&r);
	r3d_stop(&d);
}
END_TEST

/* ---- main ----------------------------------------------------------- */

/* Makes the PKI and reads the pins the tests use. Outside any test. */
static int
make_pki(const char *dir)
{
	if (tl_make_pki(dir) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		char *path, *s;

		if (asprintf(&path, "%s/%s.pin", dir, pins[i].name) < 0)
			return -1;
		s = tl_slurp(path);
		free(path);
		if (s == NULL || strlen(s) != 65 || s[64] != '\n') {
			fprintf(stderr, "%s/%s.pin: not a pin: %s\n", dir,
			    pins[i].name, s ? s : "(unreadable)");
			free(s);
			return -1;
		}
		memcpy(pins[i].pin, s, 64);
		pins[i].pin[64] = '\0';
		free(s);
	}
	return 0;
}

/* tl_rmrf without its Check calls. */
static void
rmrf_run_dir(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", run_dir);
}

int
main(void)
{
	char tmpl[] = "/tmp/acgw-r3.XXXXXX";
	Suite *s;
	TCase *tc;
	int rc;

	if (access(CURL, X_OK) != 0 || access(OPENSSL, X_OK) != 0) {
		fprintf(stderr, "test_r3 needs %s and %s\n", CURL, OPENSSL);
		return 99;
	}
	if (mkdtemp(tmpl) == NULL || chmod(tmpl, 0755) != 0) {
		perror("mkdtemp");
		return 99;
	}
	run_dir = tmpl;
	if (asprintf(&pki_dir, "%s/pki", run_dir) < 0 ||
	    make_pki(pki_dir) != 0) {
		rmrf_run_dir();
		return 99;
	}
	s = suite_create("r3");
	tc = tl_tcase(s, "r3", 30);
	tcase_add_test(tc, good_clients);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, versions_and_ciphers);
	tcase_add_test(tc, resumed_session);
	tcase_add_test(tc, stale_crl);
	tcase_add_test(tc, reload_revokes_live_session);
	tcase_add_test(tc, verify_cache);
	tcase_add_test(tc, served_chain);
	tcase_add_test(tc, keep_sessions);
	tcase_add_test(tc, keep_sessions_checked);
	tcase_add_test(tc, reload_during_handshakes);
	tcase_add_test(tc, peer_session_limit);
	tcase_add_test(tc, total_session_limit);
	tcase_add_test(tc, handshake_timeout);
	tcase_add_test(tc, idle_timeout);
	tcase_add_test(tc, peer_dropped);
	tcase_add_test(tc, key_hygiene);
	tcase_add_test(tc, push_needs_client_cert);
	tcase_add_test(tc, peers_table);
	rc = tl_run_suite(s);
	rmrf_run_dir();
	free(pki_dir);
	return rc;
}
