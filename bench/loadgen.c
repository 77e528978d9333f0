/*
 * loadgen — a load generator for acgw's benchmarks (issue 9): many
 * mutually authenticated TLS sessions to one server on loopback, from one
 * thread and one libevent loop, with OpenSSL driven directly on
 * non-blocking sockets (no bufferevents: the client must cost little
 * next to the server it measures).
 *
 *   loadgen -m MODE -u HOST:PORT --ca CA.pem
 *       (--cert C.pem --key K.pem | --certs DIR) [options]   (-h: all)
 *
 * Modes:
 *   handshake  -c connections in flight, each a full handshake with a
 *              client certificate, then close; until -n are done.
 *              Latency: connect start to handshake complete (TLS 1.3:
 *              to the server's session ticket, sent once it has
 *              checked our certificate and Finished).
 *   resume     the same with session resumption: one full handshake per
 *              slot first (a warm-up, not measured), then handshakes that
 *              offer the session kept from the last one; resumed_pct says
 *              how many the server resumed.
 *   idle       -n sessions (at most -c handshakes in flight), held for
 *              --hold seconds without traffic, then closed.
 *   poll       -c keep-alive sessions, each posting an oadrPoll and
 *              waiting for the answer, closed loop or paced by -r, for
 *              the whole of -t. Latency: request written to answer read.
 *   register   -n sessions: handshake, oadrCreatePartyRegistration, an
 *              oadrCreatedPartyRegistration with 200 expected, close.
 *   storm      -n sessions: handshake, oadrPoll, any answer but a refusal
 *              counts (a fleet re-admitted after an outage); wall time
 *              from the first connect to the last success.
 *
 * register --sessions DIR keeps each venID's TLS session in DIR/NAME.session
 * (PEM); storm --sessions DIR offers it again, as an RA that outlived the
 * server's restart would (resumed_pct says how many the server took).
 *
 * With --certs DIR, session i presents the i-th (mod the count) of the
 * DIR/NAME.pem + DIR/NAME.key pairs in name order, and NAME is its venID.
 * Payloads are built once per venID with acgw's own OpenADR codec.
 *
 * Output: one figure per line on standard output, as the other
 * benchmarks: "loadgen.NAME mode=M tls=V [PARAM=V] value=V"; a few lines
 * for people on standard error (none with -q but error reasons).
 * Every run is bounded by -t: when it passes, what is open is closed and
 * the figures so far are printed with loadgen.timed_out value=1.
 * Loopback only: any other target is refused.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "acgw/oadr.h"

#define STEP_TIMEOUT_MS	10000	/* one connect, handshake, request or answer */
#define DRAIN_MS	1000	/* TLS 1.3: the server's first word (step_drain) */
#define BACKOFF_MS	100	/* poll: before reconnecting after a failure */
#define MAX_REASONS	5
#define MAX_HEADER	(64 * 1024)
#define MAX_RESPONSE	(4 * 1024 * 1024)
#define DEFAULT_POLL	"/OpenADR2/Simple/2.0b/OadrPoll"
#define DEFAULT_REG	"/OpenADR2/Simple/2.0b/EiRegisterParty"

enum mode { M_HANDSHAKE, M_RESUME, M_IDLE, M_POLL, M_REGISTER, M_STORM };
static const char *const mode_names[] = { "handshake", "resume", "idle",
	"poll", "register", "storm", NULL };

enum cstate {
	C_FREE,		/* no connection */
	C_CONNECT,	/* TCP connect in progress */
	C_HANDSHAKE,
	C_DRAIN,	/* TLS 1.3: waiting for the server's side to finish */
	C_WRITE,	/* sending the request */
	C_READ,		/* reading the answer */
	C_READY,	/* poll: up, waiting for the start or the pacer */
	C_HOLD,		/* idle: held, only watching for the server closing */
	C_LATER		/* a timer before the slot's next step */
};
static const char *const step_names[] = { "", "connect", "TLS handshake",
	"", "sending the request", "reading the answer", "", "", "" };

struct ident {
	char *name;			/* venID */
	X509 *cert;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
	char *req;			/* this mode's HTTP request, whole */
	size_t reqlen;
};

struct gen;

struct conn {
	struct gen *g;
	size_t slot;
	size_t seq;			/* session number: picks the identity */
	int fd;
	SSL *ssl;
	SSL_SESSION *sess;		/* resume: what the next one offers */
	int got_ticket;			/* a session arrived on this connection */
	struct event *ev;		/* reassigned for each wait */
	int state;
	int warm;			/* resume: warmed up; poll: was up once */
	int retired;			/* failed before the measured phase */
	int queued;			/* waiting for the pacer */
	double t0;			/* start of the operation measured */
	double t1;			/* its handshake complete */
	size_t woff;
	char *rbuf;
	size_t rlen, rcap;
};

struct reason {
	char text[240];
	uint64_t n;
};

struct samples {
	double *v;
	size_t n, cap;
};

struct gen {
	/* options */
	int mode;
	int tls13;
	int quiet;
	size_t conc, count;
	double limit_s, rate, hold_s;
	const char *path, *ready_file, *target, *sessions;
	long server_pid;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct oadr_limits lim;
	/* the run */
	struct event_base *base;
	SSL_CTX *ctx;
	struct ident *ids;
	size_t nids;
	struct conn *conns;
	size_t nconns;
	struct event *deadline, *hold, *pacer, *sigint, *sigterm;
	size_t launched;		/* operations or sessions started */
	size_t completed;		/* measured operations ended, well or not */
	size_t up, retired, lost;	/* warm-up/setup outcomes; idle losses */
	uint64_t ok, errors, resumed;
	double t_start, t_meas0, t_meas1, t_last_ok;
	int measuring, measured, done, timed_out, interrupted, ready_written;
	uint64_t tickets;		/* TLS 1.3 session tickets seen */
	int no_tickets;			/* the server sends none: do not wait */
	double cpu0, cpu1;
	/* the pacer: slots waiting for their turn, FIFO */
	size_t *queue;
	size_t qhead, qlen;
	double admitted, pace_t0;
	/* figures */
	struct samples lat, fin;
	struct reason reasons[MAX_REASONS];
	size_t nreasons;
	uint64_t other_reasons;
	int samples_lost;
};

static void conn_cb(evutil_socket_t, short, void *);
static void conn_start(struct conn *, size_t);
static void slot_next(struct conn *);
static void slot_go(struct conn *);
static void finish(struct gen *);

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void say(const struct gen *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* A line for people (standard error), unless -q. */
static void
say(const struct gen *g, const char *fmt, ...)
{
	va_list ap;

	if (g->quiet)
		return;
	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
push(struct gen *g, struct samples *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		double *v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL) {
			g->samples_lost = 1;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
}

/* ---- errors ------------------------------------------------------------- */

/* Counted, and the first few distinct reasons kept for the end. */
static void
note_error(struct gen *g, const char *why)
{
	g->errors++;
	for (size_t i = 0; i < g->nreasons; i++)
		if (strcmp(g->reasons[i].text, why) == 0) {
			g->reasons[i].n++;
			return;
		}
	if (g->nreasons == MAX_REASONS) {
		g->other_reasons++;
		return;
	}
	snprintf(g->reasons[g->nreasons].text,
	    sizeof(g->reasons[g->nreasons].text), "%s", why);
	g->reasons[g->nreasons++].n = 1;
}

/* Why OpenSSL failed, in words: its reason string, the verify result. */
static void
tls_reason(SSL *ssl, int e, int saved_errno, char *buf, size_t len)
{
	unsigned long code = ERR_get_error();
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	const char *rs;

	if (e == SSL_ERROR_ZERO_RETURN)
		snprintf(buf, len, "closed by server");
	else if (code != 0) {
		rs = ERR_reason_error_string(code);
		if (ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
		    vr != X509_V_OK)
			snprintf(buf, len, "%s: %s", rs ? rs : "?",
			    X509_verify_cert_error_string(vr));
		else if (rs != NULL)
			snprintf(buf, len, "%s", rs);
		else
			ERR_error_string_n(code, buf, len);
	} else if (e == SSL_ERROR_SYSCALL && saved_errno != 0)
		snprintf(buf, len, "%s", strerror(saved_errno));
	else if (e == SSL_ERROR_SYSCALL)
		snprintf(buf, len, "closed by server");
	else
		snprintf(buf, len, "SSL error %d", e);
	ERR_clear_error();
}

/* ---- server CPU ----------------------------------------------------------- */

/* utime + stime of the server in seconds; -1 if /proc cannot tell. */
static double
server_cpu(const struct gen *g)
{
	char path[64], buf[1024], *p, *save = NULL, *tok;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;
	int field = 2;

	snprintf(path, sizeof(path), "/proc/%ld/stat", g->server_pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and ')': fields follow the last. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	for (tok = strtok_r(p + 1, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		if (++field == 14)
			ut = strtoull(tok, NULL, 10);
		else if (field == 15) {
			st = strtoull(tok, NULL, 10);
			return (double)(ut + st) / sysconf(_SC_CLK_TCK);
		}
	}
	return -1;
}

/* ---- phases ---------------------------------------------------------------- */

static void
pacer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gen *g = arg;
	struct conn *c;

	(void)fd, (void)what;
	while (g->qlen > 0 && !g->done &&
	    g->admitted < g->rate * (now_s() - g->pace_t0) + 1) {
		c = &g->conns[g->queue[g->qhead]];
		g->qhead = (g->qhead + 1) % g->nconns;
		g->qlen--;
		c->queued = 0;
		g->admitted++;
		slot_go(c);
	}
}

static void
begin_measure(struct gen *g)
{
	double ms;
	struct timeval tv;

	g->measuring = 1;
	g->t_meas0 = g->pace_t0 = now_s();
	if (g->server_pid)
		g->cpu0 = server_cpu(g);
	if (g->rate <= 0)
		return;
	/* Ticks of 1/rate, between 1 ms and 50 ms: each lets out what is due. */
	ms = fmin(fmax(1000 / g->rate, 1), 50);
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)(ms * 1000);
	g->pacer = event_new(g->base, -1, EV_PERSIST, pacer_cb, g);
	if (g->pacer != NULL)
		event_add(g->pacer, &tv);
}

static void
end_measure(struct gen *g)
{
	if (!g->measuring || g->measured)
		return;
	g->measured = 1;
	g->t_meas1 = now_s();
	if (g->server_pid)
		g->cpu1 = server_cpu(g);
}

static void
finish(struct gen *g)
{
	if (g->done)
		return;
	end_measure(g);
	g->done = 1;
	event_base_loopbreak(g->base);
}

/* A measured operation ended (well or not): the end of -n? */
static void
op_end(struct gen *g)
{
	g->completed++;
	if (g->mode != M_POLL && g->mode != M_IDLE &&
	    g->completed >= g->count)
		finish(g);
}

static void
op_ok(struct conn *c, double t)
{
	struct gen *g = c->g;

	if (g->mode == M_RESUME || g->mode == M_STORM)
		g->resumed += SSL_session_reused(c->ssl) == 1;
	g->ok++;
	g->t_last_ok = t;
	push(g, &g->lat, (t - c->t0) * 1000);
	if (g->mode == M_STORM)
		push(g, &g->fin, (t - g->t_meas0) * 1000);
	op_end(g);
}

/* Every slot warmed up (resume) or up (poll), or given up: start. */
static void
barrier(struct gen *g)
{
	if (g->measuring || g->up + g->retired < g->nconns)
		return;
	if (g->up == 0) {
		finish(g);
		return;
	}
	say(g, "%zu of %zu sessions %s; measuring", g->up, g->nconns,
	    g->mode == M_RESUME ? "warmed up" : "up");
	begin_measure(g);
	for (size_t i = 0; i < g->nconns && !g->done; i++)
		if (!g->conns[i].retired)
			slot_next(&g->conns[i]);
}

static void
hold_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	finish(arg);
}

static void
write_ready_file(struct gen *g)
{
	FILE *f;

	if (g->ready_file == NULL)
		return;
	if ((f = fopen(g->ready_file, "w")) == NULL ||
	    fprintf(f, "%zu\n", g->up - g->lost) < 0 || fclose(f) != 0) {
		fprintf(stderr, "loadgen: --ready-file %s: %s\n",
		    g->ready_file, strerror(errno));
		return;
	}
	g->ready_written = 1;
}

/* idle: every session established or failed: hold them. */
static void
idle_all_up(struct gen *g)
{
	struct timeval tv;

	if (g->up + g->retired < g->count || g->measured)
		return;
	end_measure(g);
	if (g->up == 0) {
		finish(g);
		return;
	}
	say(g, "%zu sessions up in %.2f s (%zu failed); holding them %g s",
	    g->up, g->t_meas1 - g->t_meas0, g->retired, g->hold_s);
	write_ready_file(g);
	tv.tv_sec = (time_t)g->hold_s;
	tv.tv_usec = (suseconds_t)((g->hold_s - floor(g->hold_s)) * 1e6);
	if ((g->hold = evtimer_new(g->base, hold_cb, g)) == NULL) {
		finish(g);
		return;
	}
	evtimer_add(g->hold, &tv);
}

/* idle: start sessions while fewer than -c handshakes are in flight. */
static void
idle_launch(struct gen *g)
{
	while (!g->done && g->launched < g->count &&
	    g->launched - g->up - g->retired < g->conc) {
		size_t i = g->launched++;

		conn_start(&g->conns[i], i);
	}
}

/* ---- connections ---------------------------------------------------------- */

static struct ident *
ident_of(const struct conn *c)
{
	return &c->g->ids[c->seq % c->g->nids];
}

/* Wait for what (EV_READ, EV_WRITE, 0 for a timer) for at most ms. */
static void
conn_want(struct conn *c, short what, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_del(c->ev);
	event_assign(c->ev, c->g->base, what ? c->fd : -1, what, conn_cb, c);
	event_add(c->ev, ms > 0 || what == 0 ? &tv : NULL);
}

/*
 * hard: SO_LINGER {1, 0}, so close() sends a RST (after the close_notify
 * of a finished handshake) and the client's port does not sit in
 * TIME_WAIT: thousands of handshakes a second from one address would
 * otherwise run out of ephemeral ports. Fine for a benchmark.
 */
static void
conn_close(struct conn *c, int hard)
{
	struct linger lg = { 1, 0 };

	event_del(c->ev);
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1) {
		if (hard)
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg,
			    sizeof(lg));
		close(c->fd);
		c->fd = -1;
	}
	c->state = C_FREE;
	c->rlen = 0;
}

/* close_notify, once; the answer is not waited for. */
static void
conn_shutdown(struct conn *c)
{
	if (c->ssl != NULL && SSL_is_init_finished(c->ssl)) {
		ERR_clear_error();
		SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
}

/* The slot's next step from the loop, not from this call stack. */
static void
conn_later(struct conn *c, int ms)
{
	c->state = C_LATER;
	conn_want(c, 0, ms);
}

static void conn_fail(struct conn *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	struct gen *g = c->g;
	char why[240];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	note_error(g, why);
	conn_close(c, 1);
	switch (g->mode) {
	case M_RESUME:
	case M_POLL:
		if (!c->warm) {
			/* The warm-up or first session failed: out of it. */
			c->retired = 1;
			g->retired++;
			barrier(g);
			return;
		}
		if (g->mode == M_RESUME)
			op_end(g);
		conn_later(c, g->mode == M_POLL ? BACKOFF_MS : 0);
		return;
	case M_IDLE:
		g->retired++;
		idle_all_up(g);
		conn_later(c, 0);
		return;
	default:
		op_end(g);
		conn_later(c, 0);
	}
}

/* After an SSL call returned r <= 0: wait as it asks, or fail. */
static void
tls_wait(struct conn *c, int r, const char *what)
{
	int saved_errno = errno;
	int e = SSL_get_error(c->ssl, r);
	char why[200];

	if (e == SSL_ERROR_WANT_READ)
		conn_want(c, EV_READ, STEP_TIMEOUT_MS);
	else if (e == SSL_ERROR_WANT_WRITE)
		conn_want(c, EV_WRITE, STEP_TIMEOUT_MS);
	else {
		tls_reason(c->ssl, e, saved_errno, why, sizeof(why));
		conn_fail(c, "%s: %s", what, why);
	}
}

/*
 * A session from the server: the sign that it has finished its side of
 * a TLS 1.3 handshake (see step_drain). resume keeps the latest one.
 */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct conn *c = SSL_get_app_data(ssl);

	if (c == NULL)
		return 0;
	c->got_ticket = 1;
	c->g->tickets++;
	if (c->g->mode != M_RESUME)
		return 0;
	SSL_SESSION_free(c->sess);
	c->sess = sess;
	return 1;			/* the reference is ours */
}

static void handshake_done(struct conn *);

static void
step_handshake(struct conn *c)
{
	int r;

	ERR_clear_error();
	if ((r = SSL_connect(c->ssl)) == 1)
		handshake_done(c);
	else
		tls_wait(c, r, "TLS handshake");
}

/* --sessions DIR: where this identity's session is kept. */
static void
session_path(const struct conn *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.session", c->g->sessions, ident_of(c)->name);
}

/* register: keep the session the server gave (0600: it holds a secret). */
static void
session_save(struct conn *c)
{
	SSL_SESSION *s = SSL_get1_session(c->ssl);
	char path[4096];
	FILE *f;
	int fd;

	if (s == NULL || !SSL_SESSION_is_resumable(s)) {
		note_error(c->g, "no resumable session to keep");
		SSL_SESSION_free(s);
		return;
	}
	session_path(c, path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		note_error(c->g, "cannot write a session file");
	} else {
		if (!PEM_write_SSL_SESSION(f, s))
			note_error(c->g, "cannot write a session file");
		fclose(f);
	}
	SSL_SESSION_free(s);
}

/* storm: offer the kept session, if there is one. */
static void
session_offer(struct conn *c)
{
	char path[4096];
	SSL_SESSION *s;
	FILE *f;

	session_path(c, path, sizeof(path));
	if ((f = fopen(path, "r")) == NULL)
		return;
	s = PEM_read_SSL_SESSION(f, NULL, NULL, NULL);
	fclose(f);
	if (s != NULL)
		SSL_set_session(c->ssl, s);
	SSL_SESSION_free(s);
	ERR_clear_error();
}

static void
tls_begin(struct conn *c)
{
	struct gen *g = c->g;
	struct ident *id = ident_of(c);
	char why[200];

	ERR_clear_error();
	if ((c->ssl = SSL_new(g->ctx)) == NULL ||
	    (g->nids > 1 && SSL_use_cert_and_key(c->ssl, id->cert, id->key,
	    id->chain, 1) != 1) || SSL_set_fd(c->ssl, c->fd) != 1) {
		tls_reason(NULL, SSL_ERROR_SSL, 0, why, sizeof(why));
		conn_fail(c, "TLS setup: %s", why);
		return;
	}
	SSL_set_app_data(c->ssl, c);
	if (c->sess != NULL)
		SSL_set_session(c->ssl, c->sess);
	else if (g->sessions != NULL && g->mode == M_STORM)
		session_offer(c);
	c->got_ticket = 0;
	c->state = C_HANDSHAKE;
	step_handshake(c);
}

static void
step_connect(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		conn_fail(c, "connect: %s", strerror(err));
		return;
	}
	tls_begin(c);
}

/* A new TCP connection for session seq; the operation's clock starts. */
static void
conn_start(struct conn *c, size_t seq)
{
	struct gen *g = c->g;
	int one = 1;

	c->seq = seq;
	c->t0 = now_s();
	c->fd = socket(g->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		conn_fail(c, "socket: %s", strerror(errno));
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&g->addr, g->addrlen) == 0) {
		tls_begin(c);
		return;
	}
	if (errno != EINPROGRESS) {
		c->state = C_CONNECT;
		conn_fail(c, "connect: %s", strerror(errno));
		return;
	}
	c->state = C_CONNECT;
	conn_want(c, EV_WRITE, STEP_TIMEOUT_MS);
}

/* ---- handshake and resume ------------------------------------------------- */

/* The operation is over: close, and resume warm-ups count themselves. */
static void
cycle_end(struct conn *c)
{
	struct gen *g = c->g;

	conn_close(c, 1);
	if (g->mode == M_RESUME && !c->warm) {
		c->warm = 1;
		g->up++;
		barrier(g);
		return;
	}
	slot_next(c);
}

/* resume's warm-ups are not counted; the rest are. Then close. */
static void
cycle_ok(struct conn *c)
{
	if (c->g->mode == M_HANDSHAKE || c->warm)
		op_ok(c, c->t1);
	conn_shutdown(c);
	cycle_end(c);
}

/* idle: established; held, watching only for the server closing it. */
static void
idle_up(struct conn *c)
{
	struct gen *g = c->g;

	g->up++;
	push(g, &g->lat, (c->t1 - c->t0) * 1000);
	c->state = C_HOLD;
	conn_want(c, EV_READ | EV_PERSIST, 0);
	idle_launch(g);
	idle_all_up(g);
}

/* Both sides are done with the handshake. */
static void
confirmed(struct conn *c)
{
	if (c->g->mode == M_IDLE)
		idle_up(c);
	else
		cycle_ok(c);
}

/*
 * TLS 1.3 ends the client's handshake before the server's: our last
 * flight (certificate, Finished) may still be unread when SSL_connect
 * returns, and a refusal of the certificate comes after it. Closing at
 * once would cut the server's handshake short (sparing it the work
 * measured, and making it drop the session resume needs), so we wait
 * for its first word: a session ticket, sent once it has finished, is
 * a success; an alert or its closing is a refusal. A server that sends
 * no tickets (nothing in DRAIN_MS, no ticket ever seen) is not waited
 * for again.
 */
static void
step_drain(struct conn *c, short what)
{
	struct gen *g = c->g;
	char buf[512], why[200];
	int r, e, saved_errno;

	if (!(what & EV_READ)) {
		if (g->tickets == 0 && !g->no_tickets) {
			g->no_tickets = 1;
			say(g, "no TLS 1.3 session ticket from the server in "
			    "%d ms: not waiting for one any more", DRAIN_MS);
		}
		confirmed(c);
		return;
	}
	ERR_clear_error();
	while ((r = SSL_read(c->ssl, buf, sizeof(buf))) > 0)
		continue;
	saved_errno = errno;
	if ((e = SSL_get_error(c->ssl, r)) != SSL_ERROR_WANT_READ) {
		tls_reason(c->ssl, e, saved_errno, why, sizeof(why));
		conn_fail(c, "TLS handshake: %s", why);
	} else if (c->got_ticket) {
		/* The server is done only now: the latency ends here. */
		c->t1 = now_s();
		confirmed(c);
	} else
		conn_want(c, EV_READ, DRAIN_MS);	/* a part of it */
}

/* handshake, resume, idle: SSL_connect is done; is the server? */
static void
handshake_cycle(struct conn *c, double t)
{
	c->t1 = t;
	if (SSL_version(c->ssl) == TLS1_3_VERSION && !c->got_ticket &&
	    !c->g->no_tickets) {
		c->state = C_DRAIN;
		conn_want(c, EV_READ, DRAIN_MS);
		return;
	}
	confirmed(c);
}

/* ---- HTTP ------------------------------------------------------------------- */

struct http_resp {
	int status;
	int close;			/* the server will close after it */
	char *body;
	size_t bodylen;
	char err[128];
};

/*
 * Chunked body at p (len bytes): 1 complete (compacted in place when
 * apply is set), 0 incomplete, -1 malformed. Trailers are skipped.
 */
static int
dechunk(char *p, size_t len, int apply, size_t *out)
{
	size_t i = 0, o = 0;

	for (;;) {
		char *eol, *end;
		unsigned long n;

		if ((eol = memmem(p + i, len - i, "\r\n", 2)) == NULL)
			return 0;
		n = strtoul(p + i, &end, 16);
		if (end == p + i || n > MAX_RESPONSE)
			return -1;
		i = (size_t)(eol - p) + 2;
		if (n == 0)
			break;
		if (len - i < n + 2)
			return 0;
		if (apply)
			memmove(p + o, p + i, n);
		o += n;
		i += n + 2;
	}
	/* Trailer lines up to an empty one. */
	while (len - i >= 2 && memcmp(p + i, "\r\n", 2) != 0) {
		char *eol = memmem(p + i, len - i, "\r\n", 2);

		if (eol == NULL)
			return 0;
		i = (size_t)(eol - p) + 2;
	}
	if (len - i < 2)
		return 0;
	*out = o;
	return 1;
}

/* One header line: the three that matter here. */
static void
http_header(const char *line, size_t n, long long *cl, int *chunked,
    int *close_)
{
	const char *v = memchr(line, ':', n);
	size_t nl;

	if (v == NULL)
		return;
	nl = (size_t)(v - line);
	for (v++; *v == ' ' || *v == '\t'; v++)
		continue;
	if (nl == 14 && strncasecmp(line, "Content-Length", nl) == 0)
		*cl = strtoll(v, NULL, 10);
	else if (nl == 17 && strncasecmp(line, "Transfer-Encoding", nl) == 0)
		*chunked = strncasecmp(v, "chunked", 7) == 0;
	else if (nl == 10 && strncasecmp(line, "Connection", nl) == 0)
		*close_ = strncasecmp(v, "close", 5) == 0;
}

/* The answer in buf so far: 1 complete, 0 not yet, -1 malformed. */
static int
http_parse(char *buf, size_t len, struct http_resp *r)
{
	char *end = memmem(buf, len, "\r\n\r\n", 4), *line, *eol;
	long long cl = -1;
	int chunked = 0, rc;
	size_t hlen;

	if (end == NULL) {
		if (len <= MAX_HEADER)
			return 0;
		snprintf(r->err, sizeof(r->err), "answer headers over %d "
		    "bytes", MAX_HEADER);
		return -1;
	}
	hlen = (size_t)(end - buf) + 4;
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 ||
	    (r->status = atoi(buf + 9)) < 100 || r->status > 999) {
		snprintf(r->err, sizeof(r->err), "not an HTTP/1.x answer");
		return -1;
	}
	r->close = buf[7] == '0';
	for (line = memmem(buf, hlen, "\r\n", 2) + 2; line < end;
	    line = eol + 2) {
		eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
		http_header(line, (size_t)(eol - line), &cl, &chunked,
		    &r->close);
	}
	r->body = buf + hlen;
	if (chunked) {
		if ((rc = dechunk(r->body, len - hlen, 0, &r->bodylen)) == 1)
			dechunk(r->body, len - hlen, 1, &r->bodylen);
		else if (rc < 0)
			snprintf(r->err, sizeof(r->err), "bad chunked body");
		return rc;
	}
	if (cl < 0 || cl > MAX_RESPONSE) {
		snprintf(r->err, sizeof(r->err), "answer without a usable "
		    "Content-Length");
		return -1;
	}
	r->bodylen = (size_t)cl;
	return len - hlen >= (size_t)cl;
}

/* register/storm: is this answer the success the mode wants? */
static int
answer_ok(struct gen *g, const struct http_resp *r, char *why, size_t len)
{
	struct oadr_msg m;
	char err[OADR_ERR_MAX];
	unsigned code = 200;
	int ok;

	if (r->status != 200) {
		snprintf(why, len, "HTTP %d", r->status);
		return 0;
	}
	if (oadr_parse(r->body, r->bodylen, &g->lim, NULL, &m, err,
	    sizeof(err)) != 0) {
		snprintf(why, len, "answer refused: %.180s", err);
		return 0;
	}
	if (m.type == OADR_CREATED_PARTY_REGISTRATION)
		code = m.u.created_party_registration.response.code;
	else if (m.type == OADR_RESPONSE)
		code = m.u.response.response.code;
	if (g->mode == M_REGISTER)
		ok = m.type == OADR_CREATED_PARTY_REGISTRATION && code == 200;
	else
		ok = code == 200;
	if (!ok)
		snprintf(why, len, "%s %03u", oadr_msg_name(m.type), code);
	oadr_msg_free(&m);
	return ok;
}

static void
response_done(struct conn *c, const struct http_resp *r)
{
	struct gen *g = c->g;
	double t = now_s();
	char why[240];

	if (g->mode == M_POLL) {
		if (r->status == 200)
			op_ok(c, t);
		else {
			snprintf(why, sizeof(why), "HTTP %d", r->status);
			note_error(g, why);
			op_end(g);
		}
		if (!r->close) {
			c->state = C_READY;
			slot_next(c);
			return;
		}
		note_error(g, "closed by server (Connection: close)");
		conn_close(c, 1);
		conn_later(c, 0);
		return;
	}
	if (answer_ok(g, r, why, sizeof(why))) {
		if (g->sessions != NULL && g->mode == M_REGISTER)
			session_save(c);
		op_ok(c, t);
	} else {
		note_error(g, why);
		op_end(g);
	}
	conn_shutdown(c);
	conn_close(c, 0);
	slot_next(c);
}

static void
step_read(struct conn *c)
{
	struct http_resp resp;
	int r;

	for (;;) {
		if (c->rcap - c->rlen < 4096) {
			size_t cap = c->rcap ? c->rcap * 2 : 16384;
			char *p = cap <= MAX_RESPONSE + MAX_HEADER ?
			    realloc(c->rbuf, cap) : NULL;

			if (p == NULL) {
				conn_fail(c, "answer over %d bytes",
				    MAX_RESPONSE);
				return;
			}
			c->rbuf = p;
			c->rcap = cap;
		}
		ERR_clear_error();
		r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(c->rcap -
		    c->rlen - 1));
		if (r <= 0) {
			tls_wait(c, r, "reading the answer");
			return;
		}
		c->rlen += (size_t)r;
		c->rbuf[c->rlen] = '\0';
		memset(&resp, 0, sizeof(resp));
		if ((r = http_parse(c->rbuf, c->rlen, &resp)) < 0) {
			conn_fail(c, "%s", resp.err);
			return;
		}
		if (r == 1) {
			response_done(c, &resp);
			return;
		}
	}
}

static void
step_write(struct conn *c)
{
	const struct ident *id = ident_of(c);
	int r;

	while (c->woff < id->reqlen) {
		ERR_clear_error();
		r = SSL_write(c->ssl, id->req + c->woff, (int)(id->reqlen -
		    c->woff));
		if (r <= 0) {
			tls_wait(c, r, "sending the request");
			return;
		}
		c->woff += (size_t)r;
	}
	c->rlen = 0;
	c->state = C_READ;
	conn_want(c, EV_READ, STEP_TIMEOUT_MS);
}

static void
request_begin(struct conn *c)
{
	if (c->g->mode == M_POLL)
		c->t0 = now_s();
	c->woff = 0;
	c->state = C_WRITE;
	step_write(c);
}

/* ---- the modes' steps ----------------------------------------------------- */

/* idle: a held session is readable: a ticket, or the server closing. */
static void
step_hold(struct conn *c)
{
	struct gen *g = c->g;
	char buf[512], why[200];
	int r, e, saved_errno;

	ERR_clear_error();
	while ((r = SSL_read(c->ssl, buf, sizeof(buf))) > 0)
		continue;
	saved_errno = errno;
	if ((e = SSL_get_error(c->ssl, r)) == SSL_ERROR_WANT_READ)
		return;
	tls_reason(c->ssl, e, saved_errno, why, sizeof(why));
	conn_close(c, 1);
	/* Not conn_fail: the session was up and counted as such. */
	g->lost++;
	if (strcmp(why, "closed by server") == 0)
		note_error(g, "idle session closed by server");
	else {
		char msg[240];

		snprintf(msg, sizeof(msg), "idle session: %s", why);
		note_error(g, msg);
	}
}

static void
handshake_done(struct conn *c)
{
	struct gen *g = c->g;
	double t = now_s();

	switch (g->mode) {
	case M_HANDSHAKE:
	case M_RESUME:
	case M_IDLE:
		handshake_cycle(c, t);
		return;
	case M_POLL:
		c->state = C_READY;
		if (g->measuring) {
			slot_next(c);
			return;
		}
		c->warm = 1;
		g->up++;
		barrier(g);
		return;
	default:
		request_begin(c);
	}
}

/* -r: may one more operation start now? Else the slot waits its turn. */
static int
paced(struct conn *c)
{
	struct gen *g = c->g;

	if (g->rate <= 0)
		return 1;
	if (g->qlen == 0 && g->admitted < g->rate * (now_s() - g->pace_t0) +
	    1) {
		g->admitted++;
		return 1;
	}
	if (!c->queued) {
		c->queued = 1;
		g->queue[(g->qhead + g->qlen++) % g->nconns] = c->slot;
	}
	return 0;
}

/* handshake, resume, poll: the slot's next operation, its turn come. */
static void
slot_go(struct conn *c)
{
	struct gen *g = c->g;

	if (g->done)
		return;
	if (g->mode == M_POLL) {
		request_begin(c);
		return;
	}
	if (g->launched >= g->count)
		return;
	g->launched++;
	/* resume: a slot keeps its identity, its session is bound to it. */
	conn_start(c, g->mode == M_RESUME ? c->slot : g->launched - 1);
}

/* The slot is free (or, poll, its session idle): what it does next. */
static void
slot_next(struct conn *c)
{
	struct gen *g = c->g;

	if (g->done)
		return;
	switch (g->mode) {
	case M_HANDSHAKE:
	case M_RESUME:
		if (g->launched < g->count && paced(c))
			slot_go(c);
		return;
	case M_IDLE:
		idle_launch(g);
		return;
	case M_POLL:
		if (c->ssl == NULL)
			conn_start(c, c->slot);	/* reconnect: not measured */
		else if (paced(c))
			slot_go(c);
		return;
	default:
		if (g->launched < g->count)
			conn_start(c, g->launched++);
	}
}

static void
conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	if (c->g->done)
		return;
	if ((what & EV_TIMEOUT) && c->state != C_DRAIN &&
	    c->state != C_LATER) {
		conn_fail(c, "%s: no progress in %d s", step_names[c->state],
		    STEP_TIMEOUT_MS / 1000);
		return;
	}
	switch (c->state) {
	case C_CONNECT:
		step_connect(c);
		break;
	case C_HANDSHAKE:
		step_handshake(c);
		break;
	case C_DRAIN:
		step_drain(c, what);
		break;
	case C_WRITE:
		step_write(c);
		break;
	case C_READ:
		step_read(c);
		break;
	case C_HOLD:
		step_hold(c);
		break;
	case C_LATER:
		c->state = C_FREE;
		slot_next(c);
		break;
	default:
		break;
	}
}

/* ---- setup ---------------------------------------------------------------- */

struct pair {
	char *name, *cert, *key;
};

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->name,
	    ((const struct pair *)b)->name);
}

static void
pairs_free(struct pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].cert);
		free(p[i].key);
	}
	free(p);
}

/* DIR/NAME.pem with DIR/NAME.key beside it, in name order. */
static int
list_pairs(const char *dir, struct pair **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct pair *p;

	*out = NULL;
	*n = 0;
	if (d == NULL) {
		fprintf(stderr, "loadgen: --certs %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 4, ".pem") != 0)
			continue;
		if ((p = oadr_append((void **)out, n, sizeof(*p))) == NULL ||
		    (p->name = strndup(de->d_name, l - 4)) == NULL)
			goto oom;
		if (asprintf(&p->cert, "%s/%s", dir, de->d_name) < 0) {
			p->cert = NULL;
			goto oom;
		}
		if (asprintf(&p->key, "%s/%s.key", dir, p->name) < 0) {
			p->key = NULL;
			goto oom;
		}
		if (access(p->key, R_OK) != 0) {
			/* A CA or other PEM without a key: not an identity. */
			free(p->name);
			free(p->cert);
			free(p->key);
			(*n)--;
		}
	}
	closedir(d);
	if (*n == 0) {
		fprintf(stderr, "loadgen: --certs %s: no NAME.pem with its "
		    "NAME.key\n", dir);
		return -1;
	}
	qsort(*out, *n, sizeof(**out), by_name);
	return 0;
oom:
	closedir(d);
	pairs_free(*out, *n);
	*out = NULL;
	*n = 0;
	fprintf(stderr, "loadgen: out of memory\n");
	return -1;
}

static const char *
ossl_why(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;

	return s ? s : "no PEM data";
}

/*
 * OpenSSL 3.0 sets up a decoder chain for every key it reads: most of
 * the time to load 10,000 identities. One chain for EC keys in PEM, made
 * once and reused, reads a key in a tenth of that; other keys take the
 * general path.
 */
struct keyreader {
	OSSL_DECODER_CTX *dec;
	EVP_PKEY *pkey;			/* where dec puts what it read */
};

static EVP_PKEY *
read_key(struct keyreader *kr, FILE *f)
{
	BIO *b;
	int ok;

	if (kr->dec != NULL && (b = BIO_new_fp(f, BIO_NOCLOSE)) != NULL) {
		kr->pkey = NULL;
		ok = OSSL_DECODER_from_bio(kr->dec, b);
		BIO_free(b);
		if (ok && kr->pkey != NULL)
			return kr->pkey;	/* ours now */
		EVP_PKEY_free(kr->pkey);
		ERR_clear_error();
		rewind(f);
	}
	return PEM_read_PrivateKey(f, NULL, NULL, NULL);
}

/* The certificate (and any chain after it) and the key of one identity. */
static int
ident_load(struct ident *id, const char *cert, const char *key,
    struct keyreader *kr)
{
	FILE *f;
	X509 *x;

	ERR_clear_error();
	if ((f = fopen(cert, "r")) == NULL) {
		fprintf(stderr, "loadgen: %s: %s\n", cert, strerror(errno));
		return -1;
	}
	id->cert = PEM_read_X509(f, NULL, NULL, NULL);
	if (id->cert != NULL && (id->chain = sk_X509_new_null()) != NULL)
		while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
			sk_X509_push(id->chain, x);
	fclose(f);
	if (id->cert == NULL || id->chain == NULL) {
		fprintf(stderr, "loadgen: %s: no certificate: %s\n", cert,
		    ossl_why());
		return -1;
	}
	ERR_clear_error();
	if ((f = fopen(key, "r")) == NULL) {
		fprintf(stderr, "loadgen: %s: %s\n", key, strerror(errno));
		return -1;
	}
	id->key = read_key(kr, f);
	fclose(f);
	if (id->key == NULL || X509_check_private_key(id->cert, id->key)
	    != 1) {
		fprintf(stderr, "loadgen: %s: %s\n", key, id->key == NULL ?
		    ossl_why() : "not the key of its certificate");
		return -1;
	}
	return 0;
}

static char *
build_poll(const char *ven, size_t *len, char *err, size_t errlen)
{
	struct oadr_msg m;
	char *doc = NULL;

	memset(&m, 0, sizeof(m));
	m.type = OADR_POLL;
	if ((m.u.poll.ven_id = oadr_strdup(ven)) != NULL)
		doc = oadr_build(&m, NULL, len, err, errlen);
	else
		snprintf(err, errlen, "out of memory");
	oadr_msg_free(&m);
	return doc;
}

static char *
build_register(const char *ven, size_t *len, char *err, size_t errlen)
{
	struct oadr_create_party_registration *c;
	struct oadr_msg m;
	char rid[160], *doc = NULL;

	memset(&m, 0, sizeof(m));
	m.type = OADR_CREATE_PARTY_REGISTRATION;
	c = &m.u.create_party_registration;
	snprintf(rid, sizeof(rid), "loadgen-%s", ven);
	c->request_id = oadr_strdup(rid);
	c->profile_name = oadr_strdup("2.0b");
	c->transport_name = oadr_strdup("simpleHttp");
	c->ven_name = oadr_strdup(ven);
	c->report_only = 0;
	c->xml_signature = 0;
	c->has_http_pull_model = 1;
	c->http_pull_model = 1;
	if (c->request_id && c->profile_name && c->transport_name &&
	    c->ven_name)
		doc = oadr_build(&m, NULL, len, err, errlen);
	else
		snprintf(err, errlen, "out of memory");
	oadr_msg_free(&m);
	return doc;
}

/* The whole HTTP request this mode sends for identity id. */
static int
ident_request(struct gen *g, struct ident *id)
{
	char err[OADR_ERR_MAX], *doc;
	size_t len;
	int n;

	if (g->mode != M_POLL && g->mode != M_REGISTER && g->mode != M_STORM)
		return 0;
	doc = g->mode == M_REGISTER ? build_register(id->name, &len, err,
	    sizeof(err)) : build_poll(id->name, &len, err, sizeof(err));
	if (doc == NULL) {
		fprintf(stderr, "loadgen: venID \"%s\": cannot build the "
		    "payload: %s\n", id->name, err);
		return -1;
	}
	n = asprintf(&id->req, "POST %s HTTP/1.1\r\nHost: %s\r\n"
	    "Content-Type: application/xml\r\nContent-Length: %zu\r\n"
	    "Connection: keep-alive\r\n\r\n%s", g->path, g->target, len, doc);
	free(doc);
	if (n < 0) {
		fprintf(stderr, "loadgen: out of memory\n");
		return -1;
	}
	id->reqlen = (size_t)n;
	return 0;
}

static int
load_idents(struct gen *g, const char *cert, const char *key,
    const char *dir, const char *ven)
{
	struct pair *p = NULL, one;
	struct keyreader kr;
	size_t n = 1;
	double t0 = now_s();
	int rc = -1;

	one.name = (char *)ven;
	one.cert = (char *)cert;
	one.key = (char *)key;
	if (dir != NULL && list_pairs(dir, &p, &n) != 0)
		return -1;
	memset(&kr, 0, sizeof(kr));
	kr.dec = OSSL_DECODER_CTX_new_for_pkey(&kr.pkey, "PEM", NULL, "EC",
	    OSSL_KEYMGMT_SELECT_KEYPAIR, NULL, NULL);
	if ((g->ids = calloc(n, sizeof(*g->ids))) == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	for (g->nids = 0; g->nids < n; g->nids++) {
		struct pair *q = p ? &p[g->nids] : &one;
		struct ident *id = &g->ids[g->nids];

		if ((id->name = strdup(q->name)) == NULL ||
		    ident_load(id, q->cert, q->key, &kr) != 0 ||
		    ident_request(g, id) != 0) {
			g->nids++;		/* freed with the others */
			goto out;
		}
	}
	if (dir != NULL)
		say(g, "%zu identities from %s in %.2f s", n, dir,
		    now_s() - t0);
	rc = 0;
out:
	OSSL_DECODER_CTX_free(kr.dec);
	pairs_free(p, p ? n : 0);
	return rc;
}

static void
idents_free(struct gen *g)
{
	for (size_t i = 0; i < g->nids; i++) {
		free(g->ids[i].name);
		X509_free(g->ids[i].cert);
		sk_X509_pop_free(g->ids[i].chain, X509_free);
		EVP_PKEY_free(g->ids[i].key);
		free(g->ids[i].req);
	}
	free(g->ids);
}

static int
ctx_setup(struct gen *g, const char *ca, const char *cipher)
{
	int v = g->tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	FILE *f;

	if ((f = fopen(ca, "r")) == NULL) {
		fprintf(stderr, "loadgen: --ca %s: %s\n", ca, strerror(errno));
		return -1;
	}
	fclose(f);
	ERR_clear_error();
	if ((g->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(g->ctx, v) ||
	    !SSL_CTX_set_max_proto_version(g->ctx, v)) {
		fprintf(stderr, "loadgen: TLS setup: %s\n", ossl_why());
		return -1;
	}
	if (!g->tls13 && !SSL_CTX_set_cipher_list(g->ctx, cipher)) {
		fprintf(stderr, "loadgen: --cipher %s: %s\n", cipher,
		    ossl_why());
		return -1;
	}
	if (!SSL_CTX_load_verify_file(g->ctx, ca)) {
		fprintf(stderr, "loadgen: --ca %s: %s\n", ca, ossl_why());
		return -1;
	}
	/* The chain is verified; the name is not (a loopback address). */
	SSL_CTX_set_verify(g->ctx, SSL_VERIFY_PEER, NULL);
	/* 10,000 idle sessions must not hold 10,000 sets of buffers. */
	SSL_CTX_set_mode(g->ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE);
	/* An EOF is a close: no fatal alert that would spoil the session. */
	SSL_CTX_set_options(g->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Sessions are seen (new_session_cb), only resume offers them. */
	SSL_CTX_set_session_cache_mode(g->ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(g->ctx, new_session_cb);
	/* One identity: set once here rather than on every SSL. */
	if (g->nids == 1 && SSL_CTX_use_cert_and_key(g->ctx, g->ids[0].cert,
	    g->ids[0].key, g->ids[0].chain, 1) != 1) {
		fprintf(stderr, "loadgen: client certificate: %s\n",
		    ossl_why());
		return -1;
	}
	return 0;
}

/* HOST:PORT or [HOST]:PORT, loopback only. 0, or -1 with a message. */
static int
parse_target(struct gen *g, const char *url)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&g->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&g->addr;
	char host[64], *end;
	const char *colon;
	long port;
	size_t hl;

	if (url[0] == '[') {
		if ((colon = strstr(url, "]:")) == NULL)
			goto bad;
		hl = (size_t)(colon - url - 1);
		colon++;
	} else {
		if ((colon = strrchr(url, ':')) == NULL)
			goto bad;
		hl = (size_t)(colon - url);
	}
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, url + (url[0] == '['), hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || errno || port < 1 || port > 65535)
		goto bad;
	memset(&g->addr, 0, sizeof(g->addr));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			goto remote;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		g->addrlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			goto remote;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		g->addrlen = sizeof(*sin6);
	} else
		goto remote;
	g->target = url;
	return 0;
bad:
	fprintf(stderr, "loadgen: -u %s: expected HOST:PORT, e.g. "
	    "127.0.0.1:8443 or [::1]:8443\n", url);
	return -1;
remote:
	fprintf(stderr, "loadgen: -u %s: not a loopback address (127.0.0.0/8 "
	    "or ::1): loadgen loads only this machine\n", url);
	return -1;
}

/* As many descriptors as allowed; refuse a run that cannot fit. */
static int
raise_nofile(const struct gen *g)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)g->nconns + 32 >
	    rl.rlim_cur) {
		fprintf(stderr, "loadgen: %zu sessions need %zu file "
		    "descriptors; the limit is %llu (raise ulimit -Hn)\n",
		    g->nconns, g->nconns + 32,
		    (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* ---- results -------------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
fig(const struct gen *g, const char *name, const char *param, int prec,
    double v)
{
	printf("loadgen.%s mode=%s tls=%s%s%s value=%.*f\n", name,
	    mode_names[g->mode], g->tls13 ? "1.3" : "1.2", param ? " " : "",
	    param ? param : "", prec, v);
}

/* p50, p99, p99.9 by nearest rank. */
static void
fig_pcts(const struct gen *g, const char *name, struct samples *s)
{
	static const double pcts[] = { 50, 99, 99.9 };
	char param[32];

	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof(double), cmp_double);
	for (size_t i = 0; i < 3; i++) {
		/* Nearest rank; the epsilon keeps 0.999 * 1000 at 999. */
		size_t rank = (size_t)ceil(pcts[i] / 100 * (double)s->n - 1e-9);

		snprintf(param, sizeof(param), "pct=%g", pcts[i]);
		fig(g, name, param, 3, s->v[rank ? rank - 1 : 0]);
	}
}

static void
report_cpu(const struct gen *g, uint64_t ops)
{
	double cpu = g->cpu1 - g->cpu0;

	if (!g->server_pid || !g->measured || g->cpu0 < 0 || g->cpu1 < 0)
		return;
	if (ops > 0)
		fig(g, "server_cpu_us_per_op", NULL, 1, cpu * 1e6 /
		    (double)ops);
	fig(g, "server_cpu_s", NULL, 2, cpu);
}

static void
report(struct gen *g)
{
	double span = g->measured ? g->t_meas1 - g->t_meas0 : 0;
	double rate = span > 0 ? (double)g->ok / span : 0;
	uint64_t ops = g->ok;

	switch (g->mode) {
	case M_HANDSHAKE:
	case M_RESUME:
		fig(g, "handshakes_per_s", NULL, 1, rate);
		fig_pcts(g, "latency_ms", &g->lat);
		if (g->mode == M_RESUME)
			fig(g, "resumed_pct", NULL, 1, g->ok ? 100.0 *
			    (double)g->resumed / (double)g->ok : 0);
		break;
	case M_IDLE:
		fig(g, "sessions", NULL, 0, (double)g->up);
		fig(g, "establish_s", NULL, 3, span);
		fig_pcts(g, "latency_ms", &g->lat);
		ops = g->up;
		break;
	case M_POLL:
		fig(g, "requests_per_s", NULL, 1, rate);
		fig_pcts(g, "latency_ms", &g->lat);
		break;
	default:
		fig(g, "ok", NULL, 0, (double)g->ok);
		fig(g, "wall_s", NULL, 3, g->ok ? g->t_last_ok - g->t_meas0 :
		    0);
		fig_pcts(g, "latency_ms", &g->lat);
		if (g->mode == M_STORM)
			fig_pcts(g, "completion_ms", &g->fin);
		if (g->mode == M_STORM && g->sessions != NULL)
			fig(g, "resumed_pct", NULL, 1, g->ok ? 100.0 *
			    (double)g->resumed / (double)g->ok : 0);
	}
	fig(g, "errors", NULL, 0, (double)g->errors);
	report_cpu(g, ops);
	if (g->timed_out)
		fig(g, "timed_out", NULL, 0, 1);
	if (g->interrupted)
		fig(g, "interrupted", NULL, 0, 1);
	fflush(stdout);
}

static void
report_people(const struct gen *g)
{
	double span = g->measured ? g->t_meas1 - g->t_meas0 : 0;

	if (g->mode == M_IDLE)
		say(g, "%zu sessions established, %zu failed, %zu lost while "
		    "held", g->up, g->retired, g->lost);
	else
		say(g, "%llu ok, %llu errors in %.2f s measured%s",
		    (unsigned long long)g->ok, (unsigned long long)g->errors,
		    span, g->timed_out ? " (cut short by -t)" : "");
	if (g->samples_lost)
		fprintf(stderr, "loadgen: out of memory for latency samples: "
		    "percentiles are of the first %zu\n", g->lat.n);
	/* Errors say why even with -q: figures alone would hide it. */
	for (size_t i = 0; i < g->nreasons; i++)
		fprintf(stderr, "loadgen: error x%llu: %s\n",
		    (unsigned long long)g->reasons[i].n, g->reasons[i].text);
	if (g->other_reasons)
		fprintf(stderr, "loadgen: error x%llu: other reasons\n",
		    (unsigned long long)g->other_reasons);
}

/* ---- the run -------------------------------------------------------------- */

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gen *g = arg;

	(void)fd, (void)what;
	/* poll runs for -t by design; elsewhere it is a cut. */
	g->timed_out = g->mode != M_POLL || !g->measuring;
	finish(g);
}

static void
signal_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gen *g = arg;

	(void)fd, (void)what;
	g->interrupted = 1;
	finish(g);
}

static int
run_setup(struct gen *g)
{
	struct timeval tv;

	tv.tv_sec = (time_t)g->limit_s;
	tv.tv_usec = (suseconds_t)((g->limit_s - floor(g->limit_s)) * 1e6);
	if ((g->conns = calloc(g->nconns, sizeof(*g->conns))) == NULL ||
	    (g->queue = calloc(g->nconns, sizeof(*g->queue))) == NULL)
		return -1;
	for (size_t i = 0; i < g->nconns; i++) {
		struct conn *c = &g->conns[i];

		c->g = g;
		c->slot = i;
		c->fd = -1;
		if ((c->ev = event_new(g->base, -1, 0, conn_cb, c)) == NULL)
			return -1;
	}
	if ((g->deadline = evtimer_new(g->base, deadline_cb, g)) == NULL ||
	    (g->sigint = evsignal_new(g->base, SIGINT, signal_cb, g)) ==
	    NULL || (g->sigterm = evsignal_new(g->base, SIGTERM, signal_cb,
	    g)) == NULL)
		return -1;
	evtimer_add(g->deadline, &tv);
	evsignal_add(g->sigint, NULL);
	evsignal_add(g->sigterm, NULL);
	return 0;
}

static void
run(struct gen *g)
{
	g->t_start = now_s();
	switch (g->mode) {
	case M_RESUME:
	case M_POLL:
		/* Warm-up or setup first; the barrier starts the measure. */
		for (size_t i = 0; i < g->nconns && !g->done; i++)
			conn_start(&g->conns[i], i);
		break;
	case M_IDLE:
		begin_measure(g);
		idle_launch(g);
		break;
	default:
		begin_measure(g);
		for (size_t i = 0; i < g->nconns && !g->done; i++)
			slot_next(&g->conns[i]);
	}
	if (!g->done)
		event_base_dispatch(g->base);
}

static void
teardown(struct gen *g)
{
	for (size_t i = 0; g->conns && i < g->nconns; i++) {
		struct conn *c = &g->conns[i];

		if (c->ev != NULL) {
			conn_shutdown(c);
			conn_close(c, 1);
			event_free(c->ev);
		}
		SSL_SESSION_free(c->sess);
		free(c->rbuf);
	}
	free(g->conns);
	free(g->queue);
	if (g->deadline)
		event_free(g->deadline);
	if (g->hold)
		event_free(g->hold);
	if (g->pacer)
		event_free(g->pacer);
	if (g->sigint)
		event_free(g->sigint);
	if (g->sigterm)
		event_free(g->sigterm);
	if (g->ready_written)
		unlink(g->ready_file);
	SSL_CTX_free(g->ctx);
	idents_free(g);
	free(g->lat.v);
	free(g->fin.v);
	if (g->base)
		event_base_free(g->base);
}

/* ---- command line --------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: loadgen -m MODE -u HOST:PORT --ca FILE\n"
	    "           (--cert FILE --key FILE | --certs DIR) [options]\n"
	    "  -m, --mode MODE       handshake, resume, idle, poll, register "
	    "or storm\n"
	    "  -u, --url HOST:PORT   the server: 127.x.x.x:PORT or [::1]:PORT\n"
	    "      --ca FILE         CA of the server's certificate (chain "
	    "verified, name not)\n"
	    "      --cert, --key     one client certificate for every session\n"
	    "      --certs DIR       NAME.pem + NAME.key pairs; session i uses "
	    "pair i mod their\n"
	    "                        number, in name order; NAME is its venID\n"
	    "      --ven-id ID       venID with --cert (default ven1)\n"
	    "      --tls 1.2|1.3     the one version offered (default 1.3)\n"
	    "      --cipher LIST     TLS 1.2 ciphers (default "
	    "ECDHE-ECDSA-AES128-SHA256)\n"
	    "  -c, --concurrency N   sessions in flight (default 50)\n"
	    "  -n, --count N         handshakes (handshake, resume) or "
	    "sessions (idle,\n"
	    "                        register, storm; default 1000, or the "
	    "--certs pairs)\n"
	    "  -t, --time SECONDS    bound on the run (default 30)\n"
	    "  -r, --rate N          handshake, resume, poll: operations per "
	    "second (0: no pacing)\n"
	    "      --hold SECONDS    idle: how long to hold them (default 10)\n"
	    "      --path PATH       HTTP path (default: OadrPoll or "
	    "EiRegisterParty's)\n"
	    "      --server-pid PID  report the server's CPU time (/proc/PID/stat)\n"
	    "      --ready-file FILE idle: written when all are up, removed "
	    "at exit\n"
	    "      --sessions DIR    register: keep each venID's TLS session "
	    "there; storm:\n"
	    "                        offer it again (resumption after a "
	    "server restart)\n"
	    "  -q, --quiet           only the figure lines (and error "
	    "reasons)\n"
	    "  -h, --help            this help\n"
	    "Exit status: 0 after a run, 1 if nothing succeeded or setup "
	    "failed, 2 on usage.\n");
}

static int
num(const char *opt, const char *s, double lo, double hi, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	if (end == s || *end != '\0' || errno || !(*v >= lo && *v <= hi)) {
		fprintf(stderr, "loadgen: %s: \"%s\" is not a number from %.15g "
		    "to %.15g\n", opt, s, lo, hi);
		return -1;
	}
	return 0;
}

struct args {
	const char *url, *ca, *cert, *key, *certs, *ven, *cipher;
	int have_count;
};

static int
parse_opt(struct gen *g, struct args *a, int ch, const char *arg)
{
	double v = 0;

	switch (ch) {
	case 'm':
		for (g->mode = 0; mode_names[g->mode] &&
		    strcmp(mode_names[g->mode], arg) != 0; g->mode++)
			continue;
		if (mode_names[g->mode] == NULL) {
			fprintf(stderr, "loadgen: -m %s: not a mode\n", arg);
			return -1;
		}
		return 0;
	case 'u': a->url = arg; return 0;
	case 'A': a->ca = arg; return 0;
	case 'C': a->cert = arg; return 0;
	case 'K': a->key = arg; return 0;
	case 'D': a->certs = arg; return 0;
	case 'V': a->ven = arg; return 0;
	case 'X': a->cipher = arg; return 0;
	case 'P': g->path = arg; return 0;
	case 'R': g->ready_file = arg; return 0;
	case 'E': g->sessions = arg; return 0;
	case 'q': g->quiet = 1; return 0;
	case 'T':
		if (strcmp(arg, "1.2") && strcmp(arg, "1.3")) {
			fprintf(stderr, "loadgen: --tls %s: 1.2 or 1.3\n", arg);
			return -1;
		}
		g->tls13 = arg[2] == '3';
		return 0;
	case 'c':
		if (num("-c", arg, 1, 1000000, &v) != 0)
			return -1;
		g->conc = (size_t)v;
		return 0;
	case 'n':
		a->have_count = 1;
		if (num("-n", arg, 1, 100000000, &v) != 0)
			return -1;
		g->count = (size_t)v;
		return 0;
	case 't': return num("-t", arg, 0.001, 1e6, &g->limit_s);
	case 'r': return num("-r", arg, 0, 1e7, &g->rate);
	case 'H': return num("--hold", arg, 0, 1e6, &g->hold_s);
	case 'S':
		if (num("--server-pid", arg, 1, INT_MAX, &v) != 0)
			return -1;
		g->server_pid = (long)v;
		return 0;
	}
	return -1;
}

/* 0 to run, 1 done (help), 2 usage error. */
static int
parse_args(struct gen *g, struct args *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "url", required_argument, NULL, 'u' },
		{ "ca", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "certs", required_argument, NULL, 'D' },
		{ "ven-id", required_argument, NULL, 'V' },
		{ "tls", required_argument, NULL, 'T' },
		{ "cipher", required_argument, NULL, 'X' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "time", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, 'r' },
		{ "hold", required_argument, NULL, 'H' },
		{ "path", required_argument, NULL, 'P' },
		{ "server-pid", required_argument, NULL, 'S' },
		{ "ready-file", required_argument, NULL, 'R' },
		{ "sessions", required_argument, NULL, 'E' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	g->mode = -1;
	while ((ch = getopt_long(argc, argv, "m:u:c:n:t:r:qh", longopts,
	    NULL)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return 1;
		}
		if (ch == '?' || parse_opt(g, a, ch, optarg) != 0) {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || g->mode < 0 || !a->url || !a->ca ||
	    (a->certs ? a->cert || a->key : !a->cert || !a->key)) {
		fprintf(stderr, "loadgen: needs -m, -u, --ca and either --cert "
		    "with --key or --certs\n");
		usage(stderr);
		return 2;
	}
	if (g->ready_file && g->mode != M_IDLE) {
		fprintf(stderr, "loadgen: --ready-file is for -m idle\n");
		return 2;
	}
	if (g->sessions && g->mode != M_REGISTER && g->mode != M_STORM) {
		fprintf(stderr, "loadgen: --sessions is for -m register and "
		    "-m storm\n");
		return 2;
	}
	if (g->path == NULL)
		g->path = g->mode == M_REGISTER ? DEFAULT_REG : DEFAULT_POLL;
	return parse_target(g, a->url) == 0 ? 0 : 2;
}

/* Slots: -c for the loops, one per session for idle, never more than -n. */
static void
size_run(struct gen *g, int have_count)
{
	if (!have_count && g->nids > 1 && (g->mode == M_REGISTER ||
	    g->mode == M_STORM))
		g->count = g->nids;	/* one session per identity */
	if (g->mode == M_IDLE)
		g->nconns = g->count;
	else if (g->mode == M_POLL)
		g->nconns = g->conc;
	else
		g->nconns = g->conc < g->count ? g->conc : g->count;
}

int
main(int argc, char **argv)
{
	struct gen g;
	struct args a;
	int rc;

	memset(&g, 0, sizeof(g));
	memset(&a, 0, sizeof(a));
	g.tls13 = 1;
	g.conc = 50;
	g.count = 1000;
	g.limit_s = 30;
	g.hold_s = 10;
	a.ven = "ven1";
	a.cipher = "ECDHE-ECDSA-AES128-SHA256";
	oadr_limits_default(&g.lim);
	if ((rc = parse_args(&g, &a, argc, argv)) != 0)
		return rc == 1 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	rc = 1;
	if (load_idents(&g, a.cert, a.key, a.certs, a.ven) != 0)
		goto out;
	size_run(&g, a.have_count);
	if (raise_nofile(&g) != 0 || ctx_setup(&g, a.ca, a.cipher) != 0)
		goto out;
	if (g.server_pid && server_cpu(&g) < 0) {
		fprintf(stderr, "loadgen: --server-pid %ld: cannot read "
		    "/proc/%ld/stat: %s\n", g.server_pid, g.server_pid,
		    strerror(errno));
		goto out;
	}
	if ((g.base = event_base_new()) == NULL || run_setup(&g) != 0) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	say(&g, "%s against %s, TLS %s, %zu slots, -n %zu, at most %g s",
	    mode_names[g.mode], g.target, g.tls13 ? "1.3" : "1.2", g.nconns,
	    g.count, g.limit_s);
	run(&g);
	report(&g);
	report_people(&g);
	rc = (g.mode == M_IDLE ? g.up : g.ok) > 0 ? 0 : 1;
	if (rc != 0)
		fprintf(stderr, "loadgen: nothing succeeded\n");
out:
	teardown(&g);
	return rc;
}
