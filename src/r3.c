/*
 * r3 — mTLS listener for the resource aggregators.
 *
 * Choice (see the libevent 2.1.12 + OpenSSL 3 pitfalls in the mTLS
 * issue): evhttp over bufferevent_openssl, with these deliberate
 * workarounds rather than our own TLS driver:
 *  - every bufferevent is made with BEV_OPT_DEFER_CALLBACKS, so the
 *    event callback never runs before the bytes read reach the input;
 *  - no read high-watermarks anywhere (they strand decrypted bytes);
 *  - each session's output is capped (r3.max_output): a peer that does
 *    not read is dropped, since bufferevent_write never refuses data;
 *  - we close sessions ourselves with SSL_shutdown (close_notify) before
 *    the bufferevent goes, as freeing one sends nothing;
 *  - the thread's OpenSSL error queue is cleared before each handshake
 *    step we look at and drained after, so a stale error never colours
 *    another connection's SSL_get_error;
 *  - an unexpected EOF (SSL_R_UNEXPECTED_EOF_WHILE_READING in OpenSSL 3)
 *    is reported as "peer dropped", and SSL_OP_IGNORE_UNEXPECTED_EOF is
 *    not set (a truncation must stay visible).
 * Admission is decided inside the handshake (verify callback), so a
 * refused client gets a TLS alert, not an HTTP error. Sessions resumed
 * from the cache skip the verify callback; they are checked the same way
 * right after the handshake and closed if they fail.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <openssl/err.h>

#include "acgw/log.h"
#include "acgw/r3.h"
#include "acgw/units.h"

enum conn_state {
	CONN_HANDSHAKE = 0,
	CONN_ADMITTED,
	CONN_CLOSING,
};

#define R3_REFUSAL_MAX	400

struct r3_conn {
	struct r3 *r3;			/* NULL once r3 is gone */
	struct bufferevent *bev;
	SSL *ssl;
	enum conn_state state;
	union {				/* a TCP peer: IPv4 or IPv6 */
		struct sockaddr sa;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} addr;
	char addrtext[64];
	char peer[65];			/* configured peer name, once known */
	/*
	 * What a live session needs of its certificate; the rest of
	 * struct tls_identity lives on the stack while it is admitted
	 * (10,000 idle sessions: each byte here is 10 kB).
	 */
	struct {
		unsigned char spki_sha256[32];
		char pin[65];
		char cn[128];
	} id;
	int have_id;
	const char *refusal;		/* why the handshake was refused */
	char *refusal_buf;		/* malloc'd when one is worded */
	struct event *timer;		/* handshake timeout, then checks */
	time_t since;
	struct timespec last_active;	/* for telling idle timeouts apart */
	uint64_t requests;
	int peer_closed;		/* the peer sent close_notify */
	int admitted;			/* was ever admitted */
	size_t bucket;			/* its peer's bucket + 1; 0: not known */
	int logged;			/* its refusal is logged already */
	unsigned gen;			/* configuration it was admitted under */
	struct r3_conn *prev, *next;
};

struct r3_route {
	char *path;
	r3_handler fn;
	void *arg;
};

/* Per-peer request budget (token bucket), kept across reloads by name. */
struct r3_bucket {
	char name[65];
	double tokens;
	struct timespec last;
};

struct r3 {
	struct event_base *base;
	struct audit *audit;
	const struct config *cfg;
	const struct tls *tls;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct evhttp_bound_socket *pending;	/* from r3_prepare */
	char *bound_addr;
	struct r3_conn *conns;
	size_t nconns;
	struct r3_route *routes;
	size_t nroutes;
	struct r3_bucket *buckets;
	size_t nbuckets;
	unsigned gen;			/* bumped by every reload */
	r3_gate gate;			/* policy: may this peer connect? */
	void *gate_arg;
	r3_oadr_handler oadr;		/* OpenADR services, if served */
	r3_oadr_sync oadr_sync;
	r3_oadr_done oadr_done;
	void *oadr_arg;
	struct r3_pending *held;	/* replies waiting for the write */
	struct r3_pending **held_tail;
	struct event *ev_flush;		/* runs once at the end of a turn */
};

/*
 * A reply held back until the state it acknowledges is on disk. The
 * request stays valid while we hold it: libevent 2.1 detaches (does not
 * free) a request whose connection fails before the user replied, and
 * frees it in evhttp_send_reply.
 */
struct r3_pending {
	struct evhttp_request *req;
	char *reply;
	size_t len;
	void *token;
	struct r3_pending *next;
};

static int r3_conn_idx = -1;

/* ---- connection bookkeeping ---------------------------------------- */

static void
r3_conn_unlink(struct r3_conn *c)
{
	struct r3 *r3 = c->r3;

	if (r3 == NULL)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		r3->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	r3->nconns--;
	c->r3 = NULL;
	c->prev = c->next = NULL;
}

/*
 * One audit record about a connection (queued; group-committed in this
 * turn of the loop). -1 if it could not even be queued.
 */
static int
r3_audit(struct audit *audit, const char *type, const struct r3_conn *c,
    const char *reason)
{
	struct json_buf j;
	int rc = 0;

	if (audit == NULL)
		return 0;
	json_init(&j, 8192);
	json_object_begin(&j);
	json_kv_str(&j, "address", c->addrtext);
	if (reason != NULL)
		json_kv_str(&j, "reason", reason);
	if (c->have_id) {
		json_kv_str(&j, "cn", c->id.cn);
		json_kv_str(&j, "pin", c->id.pin);
	}
	if (c->admitted) {
		json_kv_str(&j, "tls", SSL_get_version(c->ssl));
		json_kv_str(&j, "cipher", SSL_get_cipher_name(c->ssl));
		json_kv_uint(&j, "requests", c->requests);
	}
	json_object_end(&j);
	if (j.failed || audit_append(audit, type, "r3", c->peer[0] ? c->peer :
	    NULL, j.s, NULL, NULL) != 0) {
		log_warnx("r3: %s: cannot record %s in the audit log",
		    c->addrtext, type);
		rc = -1;
	}
	json_free(&j);
	return rc;
}

static long
r3_ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L +
	    (now.tv_nsec - t->tv_nsec) / 1000000L;
}

/* Why an admitted session ended that we did not end ourselves. */
static const char *
r3_end_reason(const struct r3_conn *c)
{
	if (c->peer_closed)
		return "closed by the peer";
	if (c->r3 != NULL && r3_ms_since(&c->last_active) >=
	    (long)c->r3->cfg->r3.idle_timeout_ms)
		return "stalled past the idle timeout";
	return "peer dropped: connection closed without close_notify";
}

/* The peer's address, once the socket is known (after accept). */
static void
r3_conn_addr(struct r3_conn *c)
{
	socklen_t len = sizeof(c->addr);
	int fd;

	if (c->addr.sa.sa_family != 0)
		return;
	if ((fd = SSL_get_fd(c->ssl)) < 0 ||
	    getpeername(fd, (struct sockaddr *)&c->addr, &len) != 0) {
		memset(&c->addr, 0, sizeof(c->addr));
		return;
	}
	units_format_sockaddr((struct sockaddr *)&c->addr, c->addrtext,
	    sizeof(c->addrtext));
}

/*
 * The SSL owns the connection record: bufferevent_openssl frees the SSL
 * when evhttp frees the connection, and this runs then.
 */
static void
r3_conn_ssl_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct r3_conn *c = ptr;

	if (c == NULL)
		return;
	if (!c->admitted && !c->logged) {
		const char *why = c->refusal ? c->refusal :
		    c->state == CONN_CLOSING ? "closed during the handshake "
		    "(acgwd stopping or reloading)" :
		    "connection closed during the handshake";

		log_warnx("r3: refused %s: %s", c->addrtext, why);
		if (c->r3 != NULL)
			r3_audit(c->r3->audit, "tls.refused", c, why);
	}
	if (c->admitted && c->r3 != NULL)
		r3_audit(c->r3->audit, "peer.closed", c,
		    c->state == CONN_ADMITTED ? r3_end_reason(c) :
		    "closed by acgwd");
	if (c->admitted && c->state == CONN_ADMITTED)
		log_info("r3: %s: session of %s ended (%s) after %llu "
		    "requests", c->addrtext, c->peer, r3_end_reason(c),
		    (unsigned long long)c->requests);
	else if (c->admitted)
		log_info("r3: %s: session of %s closed after %llu requests",
		    c->addrtext, c->peer, (unsigned long long)c->requests);
	/*
	 * A session that ended cleanly (close_notify from the peer) stays
	 * resumable: without this OpenSSL drops it from the cache, because
	 * we never sent our own close_notify before the free.
	 */
	if (c->admitted && c->peer_closed)
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN |
		    SSL_RECEIVED_SHUTDOWN);
	r3_conn_unlink(c);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->refusal_buf);
	free(c);
}

static size_t
r3_peer_sessions(const struct r3 *r3, const char *peer)
{
	size_t n = 0;

	for (const struct r3_conn *c = r3->conns; c != NULL; c = c->next)
		if (c->state != CONN_HANDSHAKE || c->peer[0] != '\0')
			if (strcmp(c->peer, peer) == 0)
				n++;
	return n;
}

/*
 * Ends a session: close_notify first (freeing a bufferevent sends none),
 * then an error event, on which evhttp frees the connection; the record
 * goes with its SSL. c may be gone when this returns.
 */
/*
 * evhttp may have freed the connection in this same turn of the loop
 * (the peer closed, a timeout): bufferevent_free clears the callbacks at
 * once, but the memory, the SSL and this record go only when its
 * finalizer runs, later in the turn. A callback scheduled on it then
 * would run after that free, so nothing may be done to it; the record
 * goes with the SSL, and says why it ended.
 */
static int
r3_conn_alive(const struct r3_conn *c)
{
	bufferevent_event_cb cb = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, &cb, NULL);
	return cb != NULL;
}

static void
r3_conn_close(struct r3_conn *c, const char *why)
{
	if (c->state == CONN_CLOSING || !r3_conn_alive(c))
		return;
	if (c->state == CONN_ADMITTED)
		log_notice("r3: %s: closing session of %s: %s", c->addrtext,
		    c->peer, why);
	c->state = CONN_CLOSING;
	ERR_clear_error();
	if (SSL_is_init_finished(c->ssl))
		SSL_shutdown(c->ssl);
	ERR_clear_error();
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING,
	    BEV_TRIG_DEFER_CALLBACKS);
}

/* ---- admission ------------------------------------------------------ */

static void r3_refuse(struct r3_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records why the handshake is refused; the first reason wins. */
static void
r3_refuse(struct r3_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->refusal_buf == NULL &&
	    (c->refusal_buf = malloc(R3_REFUSAL_MAX)) == NULL) {
		c->refusal = "refused (out of memory to say why)";
		return;
	}
	va_start(ap, fmt);
	vsnprintf(c->refusal_buf, R3_REFUSAL_MAX, fmt, ap);
	va_end(ap);
	c->refusal = c->refusal_buf;
}

/*
 * The peer-table checks, for a full handshake (from the verify callback,
 * chain already good) and for a resumed one (after the handshake).
 */
static int
r3_admit(struct r3_conn *c, X509 *cert, STACK_OF(X509) *chain)
{
	struct r3 *r3 = c->r3;
	const struct config_peer *peer;
	struct tls_identity id;
	const char *reason;

	if (r3 == NULL)
		return 0;
	if (r3->audit != NULL && !audit_ok(r3->audit)) {
		c->refusal = "the audit log cannot be written (fail closed)";
		return 0;
	}
	if (tls_identity_from_cert(cert, &id) != 0) {
		c->refusal = "cannot read the certificate";
		return 0;
	}
	memcpy(c->id.spki_sha256, id.spki_sha256, sizeof(c->id.spki_sha256));
	snprintf(c->id.pin, sizeof(c->id.pin), "%s", id.pin);
	snprintf(c->id.cn, sizeof(c->id.cn), "%s", id.subject_cn);
	c->have_id = 1;
	if ((peer = tls_match_peer(r3->tls, &id, chain, &reason)) == NULL) {
		r3_refuse(c, "%s; CN=%s pin %s", reason, id.subject_cn, id.pin);
		return 0;
	}
	if (!tls_source_allowed(peer, (struct sockaddr *)&c->addr)) {
		r3_refuse(c, "source address not allowed for peer %s",
		    peer->name);
		return 0;
	}
	if (r3_peer_sessions(r3, peer->name) >= peer->max_sessions) {
		r3_refuse(c, "over session limit for peer %s (%llu)",
		    peer->name, (unsigned long long)peer->max_sessions);
		return 0;
	}
	if (r3->gate != NULL &&
	    (reason = r3->gate(r3->gate_arg, peer->name)) != NULL) {
		r3_refuse(c, "peer %s not admitted by policy: %s", peer->name,
		    reason);
		return 0;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", peer->name);
	c->gen = r3->gen;
	return 1;
}

static int
r3_verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct r3_conn *c = SSL_get_ex_data(ssl, r3_conn_idx);

	if (c == NULL || c->r3 == NULL)
		return 0;
	r3_conn_addr(c);
	if (!ok) {
		if (tls_crl_optional(c->r3->tls, x))
			return 1;
		if (c->refusal == NULL)
			c->refusal = tls_verify_reason(
			    X509_STORE_CTX_get_error(x));
		return 0;
	}
	if (X509_STORE_CTX_get_error_depth(x) != 0)
		return 1;
	if (!r3_admit(c, X509_STORE_CTX_get_current_cert(x),
	    X509_STORE_CTX_get0_chain(x))) {
		X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}

static void r3_timer_cb(evutil_socket_t fd, short what, void *arg);
static void r3_idle_arm(struct r3_conn *c);

/*
 * Handshake progress, seen from inside OpenSSL: only noted here (the
 * error queue is peeked, never cleared: bufferevent_openssl reads it),
 * acted on from the loop.
 */
static void
r3_info_cb(const SSL *ssl, int where, int ret)
{
	struct r3_conn *c = SSL_get_ex_data(ssl, r3_conn_idx);
	struct timeval now = { 0, 0 };
	unsigned long e;

	if (c == NULL || c->r3 == NULL)
		return;
	if (where & SSL_CB_HANDSHAKE_START)
		r3_conn_addr(c);
	if ((where & SSL_CB_ALERT) && (where & SSL_CB_READ) && ret ==
	    (SSL3_AL_WARNING << 8 | SSL3_AD_CLOSE_NOTIFY)) {
		c->peer_closed = 1;
		return;
	}
	if (c->state != CONN_HANDSHAKE)
		return;
	if (where & SSL_CB_HANDSHAKE_DONE) {
		/* Run the post-handshake step from the loop, not in OpenSSL. */
		event_add(c->timer, &now);
		return;
	}
	if (c->refusal != NULL)
		return;
	if (((where & SSL_CB_EXIT) && ret <= 0) ||
	    ((where & SSL_CB_ALERT) && (where & SSL_CB_WRITE))) {
		if ((e = ERR_peek_last_error()) != 0)
			c->refusal = tls_error_reason(e);
		else if (where & SSL_CB_ALERT)
			r3_refuse(c, "handshake failed (we sent alert: %s)",
			    SSL_alert_desc_string_long(ret));
	} else if ((where & SSL_CB_ALERT) && (where & SSL_CB_READ))
		r3_refuse(c, "the client gave up (its alert: %s)",
		    SSL_alert_desc_string_long(ret));
}

static const char *r3_still_allowed(struct r3 *r3, struct r3_conn *c);

/* Refuses a connection whose handshake has just completed. */
static void
r3_refuse_now(struct r3_conn *c, const char *how)
{
	log_warnx("r3: refused %s: %s%s", c->addrtext, c->refusal ?
	    c->refusal : "?", how);
	r3_audit(c->r3->audit, "tls.refused", c, c->refusal);
	c->refusal = NULL;
	c->logged = 1;
	r3_conn_close(c, "refused");
}

/* After the handshake: admit resumed sessions, then mark it live. */
static void
r3_established(struct r3_conn *c)
{
	const char *version = SSL_get_version(c->ssl);

	if (SSL_session_reused(c->ssl)) {
		/*
		 * No verify callback ran: verify the certificate the session
		 * holds against today's CAs and CRLs, and admit it as a full
		 * handshake would be.
		 */
		X509 *cert = SSL_get1_peer_certificate(c->ssl);
		STACK_OF(X509) *chain = NULL;
		const char *reason = NULL;
		int ok = cert != NULL &&
		    tls_reverify(c->r3->tls, cert, SSL_get_peer_cert_chain(
		    c->ssl), &chain, &reason) == 0 && r3_admit(c, cert, chain);

		if (reason != NULL)
			c->refusal = reason;
		X509_free(cert);
		sk_X509_pop_free(chain, X509_free);
		if (!ok) {
			/* Not offered again: the next try is a full handshake. */
			SSL_CTX_remove_session(SSL_get_SSL_CTX(c->ssl),
			    SSL_get0_session(c->ssl));
			r3_refuse_now(c, " (resumed session)");
			return;
		}
	} else if (c->gen != c->r3->gen) {
		/* Admitted in the handshake, but a reload came in between. */
		const char *why = r3_still_allowed(c->r3, c);

		if (why != NULL) {
			c->refusal = why;
			r3_refuse_now(c, " (reloaded during the handshake)");
			return;
		}
		c->gen = c->r3->gen;
	}
	c->state = CONN_ADMITTED;
	c->admitted = 1;
	c->since = time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &c->last_active);
	r3_idle_arm(c);
	if (r3_audit(c->r3->audit, "peer.admitted", c, NULL) != 0) {
		/* No admission without its record (fail closed). */
		c->admitted = 0;
		c->state = CONN_HANDSHAKE;
		c->refusal = "the audit log cannot record the admission";
		r3_refuse_now(c, "");
		return;
	}
	log_info("r3: %s: admitted %s (CN=%s, pin %s, %s, %s%s)", c->addrtext,
	    c->peer, c->id.cn, c->id.pin, version,
	    SSL_get_cipher_name(c->ssl),
	    SSL_session_reused(c->ssl) ? ", resumed" : "");
}

/* (Re)arms the session's timer for what is left of its idle time. */
static void
r3_idle_arm(struct r3_conn *c)
{
	long left = (long)c->r3->cfg->r3.idle_timeout_ms -
	    r3_ms_since(&c->last_active);
	struct timeval tv;

	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

static void
r3_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct r3_conn *c = arg;
	char why[64];

	if (c->r3 == NULL)
		return;
	if (c->state == CONN_ADMITTED) {
		/*
		 * Our own idle timer, ahead of evhttp's: we end the session
		 * with close_notify, evhttp's timeout would just drop it.
		 */
		if (r3_ms_since(&c->last_active) <
		    (long)c->r3->cfg->r3.idle_timeout_ms) {
			r3_idle_arm(c);
			return;
		}
		snprintf(why, sizeof(why), "idle timeout (%llu ms)",
		    (unsigned long long)c->r3->cfg->r3.idle_timeout_ms);
		r3_conn_close(c, why);
		return;
	}
	if (c->state != CONN_HANDSHAKE)
		return;
	r3_conn_addr(c);
	if (c->refusal == NULL && SSL_is_init_finished(c->ssl)) {
		r3_established(c);
		return;
	}
	if (c->refusal == NULL)
		r3_refuse(c, "handshake timeout (%llu ms)",
		    (unsigned long long)c->r3->cfg->r3.handshake_timeout_ms);
	/* Logged once, when the record goes (r3_conn_ssl_free). */
	if (!r3_conn_alive(c))
		return;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_trigger_event(c->bev, BEV_EVENT_ERROR | BEV_EVENT_READING,
	    BEV_TRIG_DEFER_CALLBACKS);
}

static struct bufferevent *
r3_bevcb(struct event_base *base, void *arg)
{
	struct r3 *r3 = arg;
	struct r3_conn *c;
	struct timeval tv;
	SSL *ssl;
	struct bufferevent *bev;

	/*
	 * evhttp takes a NULL from here as "plain TCP" and would serve HTTP
	 * without TLS on this port. Better to stop (systemd restarts us)
	 * than to do that; these only fail when memory is gone.
	 */
	ERR_clear_error();
	if ((ssl = SSL_new(tls_server_ctx(r3->tls))) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		fatalx("r3: cannot set up a TLS session (out of memory); "
		    "stopping rather than serving plain HTTP");
	c->r3 = r3;
	c->ssl = ssl;
	snprintf(c->addrtext, sizeof(c->addrtext), "(connecting)");
	SSL_set_ex_data(ssl, r3_conn_idx, c);
	SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	    r3_verify_cb);
	SSL_set_info_callback(ssl, r3_info_cb);
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		fatalx("r3: cannot set up a TLS session (out of memory); "
		    "stopping rather than serving plain HTTP");
	c->bev = bev;
	c->timer = evtimer_new(base, r3_timer_cb, c);
	tv.tv_sec = (time_t)(r3->cfg->r3.handshake_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(r3->cfg->r3.handshake_timeout_ms % 1000) *
	    1000;
	if (r3->nconns >= r3->cfg->r3.max_sessions) {
		/* Refused from the loop, once the address is known. */
		r3_refuse(c, "over the total session limit (r3.max_sessions "
		    "%llu)", (unsigned long long)r3->cfg->r3.max_sessions);
		tv.tv_sec = 0;
		tv.tv_usec = 0;
	}
	if (c->timer != NULL)
		evtimer_add(c->timer, &tv);
	c->next = r3->conns;
	if (r3->conns != NULL)
		r3->conns->prev = c;
	r3->conns = c;
	r3->nconns++;
	return bev;
}

/* ---- requests ------------------------------------------------------- */

static struct r3_conn *
r3_conn_of(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	SSL *ssl;

	if (evcon == NULL ||
	    (bev = evhttp_connection_get_bufferevent(evcon)) == NULL ||
	    (ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		return NULL;
	return SSL_get_ex_data(ssl, r3_conn_idx);
}

static struct r3_bucket *
r3_bucket(struct r3 *r3, struct r3_conn *c)
{
	const char *peer = c->peer;
	struct r3_bucket *v;

	/* The session remembers its bucket: no search per request. */
	if (c->bucket > 0 && c->bucket <= r3->nbuckets &&
	    strcmp(r3->buckets[c->bucket - 1].name, peer) == 0)
		return &r3->buckets[c->bucket - 1];
	for (size_t i = 0; i < r3->nbuckets; i++)
		if (strcmp(r3->buckets[i].name, peer) == 0) {
			c->bucket = i + 1;
			return &r3->buckets[i];
		}
	v = realloc(r3->buckets, (r3->nbuckets + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	r3->buckets = v;
	v = &r3->buckets[r3->nbuckets++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", peer);
	v->tokens = (double)r3->cfg->r3.request_burst;
	clock_gettime(CLOCK_MONOTONIC, &v->last);
	c->bucket = r3->nbuckets;
	return v;
}

/* Token bucket: requests_per_second, at most request_burst at once. */
static int
r3_rate_ok(struct r3 *r3, struct r3_conn *c)
{
	struct r3_bucket *b = r3_bucket(r3, c);
	struct timespec now;
	double dt;

	if (b == NULL)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (double)(now.tv_sec - b->last.tv_sec) +
	    (double)(now.tv_nsec - b->last.tv_nsec) / 1e9;
	b->last = now;
	b->tokens += dt * (double)r3->cfg->r3.requests_per_second;
	if (b->tokens > (double)r3->cfg->r3.request_burst)
		b->tokens = (double)r3->cfg->r3.request_burst;
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

static void
r3_reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	if (body != NULL)
		evbuffer_add_printf(body, "%s\n", text);
	evhttp_send_reply(req, code, reason, body);
	if (body != NULL)
		evbuffer_free(body);
}

static void
r3_request_cb(struct evhttp_request *req, void *arg)
{
	struct r3 *r3 = arg;
	struct r3_conn *c = r3_conn_of(req);
	const char *path;

	if (c == NULL || c->state != CONN_ADMITTED) {
		/* A resumed session not yet checked, or one being closed. */
		r3_reply_text(req, 403, "Forbidden", "not admitted");
		return;
	}
	c->requests++;
	clock_gettime(CLOCK_MONOTONIC, &c->last_active);
	/* The cheap per-request check: a severed peer has no say. */
	if (r3->gate != NULL && r3->gate(r3->gate_arg, c->peer) != NULL) {
		r3_reply_text(req, 403, "Forbidden", "not admitted by policy");
		r3_conn_close(c, "not admitted by policy");
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
	    r3->cfg->r3.max_output) {
		log_warnx("r3: %s: %s does not read its replies (over "
		    "r3.max_output); dropping it", c->addrtext, c->peer);
		evhttp_send_error(req, 503, "Service Unavailable");
		r3_conn_close(c, "output over r3.max_output");
		return;
	}
	if (!r3_rate_ok(r3, c)) {
		log_warnx("r3: %s: %s over r3.requests_per_second; 429",
		    c->addrtext, c->peer);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "1");
		r3_reply_text(req, 429, "Too Many Requests",
		    "over the request rate limit");
		return;
	}
	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	for (size_t i = 0; path != NULL && i < r3->nroutes; i++)
		if (strcmp(r3->routes[i].path, path) == 0) {
			r3->routes[i].fn(r3->routes[i].arg, c->peer, req);
			return;
		}
	r3_reply_text(req, 404, "Not Found", "no such endpoint");
}

void
r3_set_gate(struct r3 *r3, r3_gate fn, void *arg)
{
	r3->gate = fn;
	r3->gate_arg = arg;
}

int
r3_request_pin(struct evhttp_request *req, unsigned char pin[32])
{
	struct r3_conn *c = r3_conn_of(req);

	if (c == NULL || !c->have_id)
		return -1;
	memcpy(pin, c->id.spki_sha256, 32);
	return 0;
}

int
r3_route(struct r3 *r3, const char *path, r3_handler fn, void *arg)
{
	struct r3_route *v = realloc(r3->routes,
	    (r3->nroutes + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	r3->routes = v;
	if ((v[r3->nroutes].path = strdup(path)) == NULL)
		return -1;
	v[r3->nroutes].fn = fn;
	v[r3->nroutes].arg = arg;
	r3->nroutes++;
	return 0;
}

static void
r3_send_xml(struct evhttp_request *req, const char *reply, size_t len)
{
	struct evbuffer *out = evbuffer_new();

	if (out == NULL || evbuffer_add(out, reply, len) != 0) {
		if (out)
			evbuffer_free(out);
		evhttp_send_error(req, 503, "Service Unavailable");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/xml");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/*
 * Group commit: every reply of this turn of the loop waits for one
 * write of the state; then all go out (or, if it failed, none does and
 * each gets 503).
 */
static void
r3_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct r3 *r3 = arg;
	struct r3_pending *p = r3->held, *next;
	int ok;

	r3->held = NULL;
	r3->held_tail = &r3->held;
	if (p == NULL)
		return;
	ok = r3->oadr_sync(r3->oadr_arg) == 0;
	for (; p != NULL; p = next) {
		/* A request whose session closed meanwhile reaches nobody. */
		int alive = evhttp_request_get_connection(p->req) != NULL;

		next = p->next;
		if (ok && alive)
			r3_send_xml(p->req, p->reply, p->len);
		else if (!ok)
			r3_reply_text(p->req, 503, "Service Unavailable",
			    "the state cannot be written; nothing was taken");
		else
			evhttp_send_reply(p->req, 503, "Service Unavailable",
			    NULL);	/* frees the detached request */
		r3->oadr_done(r3->oadr_arg, p->token, ok && alive);
		free(p->reply);
		free(p);
	}
}

/*
 * One OpenADR request: a POST of an XML document to one of the 2.0b
 * services; the answer is the document the handler returns, sent once
 * the state it acknowledges is written.
 */
static void
r3_oadr_cb(void *arg, const char *peer, struct evhttp_request *req)
{
	struct r3 *r3 = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(
	    req));
	const char *service = strrchr(path, '/') + 1;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in), rlen = 0;
	struct r3_pending *p;
	const char *body;
	char *reply = NULL, err[600];
	void *token = NULL;
	int code;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		r3_reply_text(req, 405, "Method Not Allowed", "OpenADR "
		    "services take POST");
		return;
	}
	body = len ? (const char *)evbuffer_pullup(in, -1) : "";
	code = r3->oadr(r3->oadr_arg, peer, service, body ? body : "",
	    body ? len : 0, &reply, &rlen, &token, err, sizeof(err));
	if (code != 200 || reply == NULL) {
		r3_reply_text(req, code == 200 ? 500 : code, code == 400 ?
		    "Bad Request" : code == 403 ? "Forbidden" : code == 404 ?
		    "Not Found" : "Service Unavailable", err);
		free(reply);
		if (token)
			r3->oadr_done(r3->oadr_arg, token, 0);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		evhttp_send_error(req, 503, "Service Unavailable");
		free(reply);
		r3->oadr_done(r3->oadr_arg, token, 0);
		return;
	}
	p->req = req;
	p->reply = reply;
	p->len = rlen;
	p->token = token;
	if (r3->held == NULL)
		event_active(r3->ev_flush, EV_TIMEOUT, 0);
	*r3->held_tail = p;
	r3->held_tail = &p->next;
}

int
r3_serve_oadr(struct r3 *r3, r3_oadr_handler fn, r3_oadr_sync sync,
    r3_oadr_done done, void *arg)
{
	static const char *const services[] = { "EiRegisterParty", "EiEvent",
	    "EiReport", "EiOpt", "OadrPoll" };
	char path[128];

	r3->oadr = fn;
	r3->oadr_sync = sync;
	r3->oadr_done = done;
	r3->oadr_arg = arg;
	if (r3->ev_flush == NULL &&
	    (r3->ev_flush = event_new(r3->base, -1, 0, r3_flush_cb, r3)) ==
	    NULL)
		return -1;
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		snprintf(path, sizeof(path), "/OpenADR2/Simple/2.0b/%s",
		    services[i]);
		if (r3_route(r3, path, r3_oadr_cb, r3) != 0)
			return -1;
	}
	return 0;
}

/* ---- listener and life cycle --------------------------------------- */

static void
r3_apply_limits(struct r3 *r3, const struct config *cfg)
{
	struct timeval tv;
	uint64_t ms;

	evhttp_set_max_headers_size(r3->http, (ev_ssize_t)cfg->r3.max_header_size);
	evhttp_set_max_body_size(r3->http, (ev_ssize_t)cfg->r3.max_body_size);
	/*
	 * evhttp's timeout is only the backstop for a stalled read or write:
	 * idle sessions are ended by our timer first (with close_notify).
	 */
	ms = cfg->r3.idle_timeout_ms + 1000;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evhttp_set_timeout_tv(r3->http, &tv);
}

/* Binds r3.listen; evhttp owns the socket from here. */
static struct evhttp_bound_socket *
r3_bind(struct r3 *r3, const struct config *cfg, char *err, size_t errlen)
{
	const struct units_sockaddr *sa = &cfg->r3.listen.sa;
	struct evconnlistener *lev;
	struct evhttp_bound_socket *b;
	int fd, one = 1;

	fd = socket(sa->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "r3.listen %s: socket: %s",
		    cfg->r3.listen.text, strerror(errno));
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/*
	 * Accepted sockets inherit it: an answer leaves as TLS records for
	 * its headers and its body, and Nagle would hold the second until
	 * the client's delayed ACK of the first (40 ms on Linux).
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sa->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&sa->ss, sa->len) == -1 ||
	    listen(fd, 1024) == -1) {
		snprintf(err, errlen, "r3.listen %s: %s", cfg->r3.listen.text,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	lev = evconnlistener_new(r3->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (lev == NULL || (b = evhttp_bind_listener(r3->http, lev)) == NULL) {
		if (lev != NULL)
			evconnlistener_free(lev);
		else
			close(fd);
		snprintf(err, errlen, "r3.listen %s: cannot listen",
		    cfg->r3.listen.text);
		return NULL;
	}
	return b;
}

struct r3 *
r3_new(struct event_base *base, const struct config *cfg,
    const struct tls *tls, struct audit *audit, char *err, size_t errlen)
{
	struct r3 *r3 = calloc(1, sizeof(*r3));

	if (r3 == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (r3_conn_idx == -1)
		r3_conn_idx = SSL_get_ex_new_index(0, "acgw r3 conn", NULL,
		    NULL, r3_conn_ssl_free);
	r3->base = base;
	r3->audit = audit;
	r3->cfg = cfg;
	r3->tls = tls;
	r3->held_tail = &r3->held;
	if ((r3->http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "r3: cannot create the HTTP server");
		goto fail;
	}
	evhttp_set_allowed_methods(r3->http, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
	evhttp_set_gencb(r3->http, r3_request_cb, r3);
	evhttp_set_bevcb(r3->http, r3_bevcb, r3);
	r3_apply_limits(r3, cfg);
	if (cfg->r3.listen.text == NULL)
		return r3;
	if ((r3->bound = r3_bind(r3, cfg, err, errlen)) == NULL)
		goto fail;
	r3->bound_addr = strdup(cfg->r3.listen.text);
	log_notice("r3: listening on %s", cfg->r3.listen.text);
	return r3;
fail:
	r3_free(r3);
	return NULL;
}

int
r3_prepare(struct r3 *r3, const struct config *cfg, char *err, size_t errlen)
{
	r3_abort(r3);
	if (cfg->r3.listen.text == NULL || (r3->bound_addr != NULL &&
	    strcmp(r3->bound_addr, cfg->r3.listen.text) == 0))
		return 0;
	if ((r3->pending = r3_bind(r3, cfg, err, errlen)) == NULL)
		return -1;
	return 0;
}

void
r3_abort(struct r3 *r3)
{
	if (r3->pending != NULL) {
		evhttp_del_accept_socket(r3->http, r3->pending);
		r3->pending = NULL;
	}
}

/* Is this live session still allowed under the new configuration? */
static const char *
r3_still_allowed(struct r3 *r3, struct r3_conn *c)
{
	X509 *cert = SSL_get1_peer_certificate(c->ssl);
	const struct config_peer *peer;
	STACK_OF(X509) *chain = NULL;
	struct tls_identity id;
	const char *reason = NULL;

	if (cert == NULL)
		return "no certificate";
	/* Today's CAs and CRLs, and the chain they build, decide. */
	if (tls_identity_from_cert(cert, &id) != 0) {
		X509_free(cert);
		return "cannot read the certificate";
	}
	if (tls_reverify(r3->tls, cert, SSL_get_peer_cert_chain(c->ssl),
	    &chain, &reason) != 0) {
		X509_free(cert);
		return reason;
	}
	X509_free(cert);
	peer = tls_match_peer(r3->tls, &id, chain, &reason);
	sk_X509_pop_free(chain, X509_free);
	if (peer == NULL)
		return reason;
	if (strcmp(peer->name, c->peer) != 0)
		return "the key now belongs to another peer";
	if (!tls_source_allowed(peer, (struct sockaddr *)&c->addr))
		return "source address no longer allowed";
	if (r3->gate != NULL && (reason = r3->gate(r3->gate_arg,
	    peer->name)) != NULL)
		return reason;
	return NULL;
}

void
r3_commit(struct r3 *r3, const struct config *cfg, const struct tls *tls)
{
	struct r3_conn *c, *next;

	r3->cfg = cfg;
	r3->tls = tls;
	r3->gen++;
	r3_apply_limits(r3, cfg);
	if (cfg->r3.listen.text == NULL && r3->bound != NULL) {
		evhttp_del_accept_socket(r3->http, r3->bound);
		r3->bound = NULL;
		free(r3->bound_addr);
		r3->bound_addr = NULL;
		log_notice("r3: no longer listening");
	} else if (r3->pending != NULL) {
		if (r3->bound != NULL)
			evhttp_del_accept_socket(r3->http, r3->bound);
		r3->bound = r3->pending;
		r3->pending = NULL;
		free(r3->bound_addr);
		r3->bound_addr = strdup(cfg->r3.listen.text);
		log_notice("r3: now listening on %s", cfg->r3.listen.text);
	}
	for (c = r3->conns; c != NULL; c = next) {
		const char *why;

		next = c->next;
		if (c->state != CONN_ADMITTED)
			continue;
		if ((why = r3_still_allowed(r3, c)) != NULL) {
			log_warnx("r3: %s: %s is no longer allowed: %s",
			    c->addrtext, c->peer, why);
			r3_conn_close(c, why);
		}
	}
}

size_t
r3_close_peer(struct r3 *r3, const char *peer, const char *why)
{
	struct r3_conn *c, *next;
	size_t n = 0;

	for (c = r3->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_ADMITTED && strcmp(c->peer, peer) == 0) {
			r3_conn_close(c, why);
			n++;
		}
	}
	return n;
}

void
r3_shutdown(struct r3 *r3)
{
	struct r3_conn *c, *next;

	r3_abort(r3);
	if (r3->bound != NULL) {
		evhttp_del_accept_socket(r3->http, r3->bound);
		r3->bound = NULL;
	}
	for (c = r3->conns; c != NULL; c = next) {
		next = c->next;
		r3_conn_close(c, "acgwd is stopping");
	}
}

size_t
r3_nsessions(const struct r3 *r3)
{
	size_t n = 0;

	for (const struct r3_conn *c = r3->conns; c != NULL; c = c->next)
		if (c->state == CONN_ADMITTED)
			n++;
	return n;
}

void
r3_sessions_json(const struct r3 *r3, struct json_buf *j)
{
	char since[32];

	json_array_begin(j);
	for (const struct r3_conn *c = r3->conns; c != NULL; c = c->next) {
		struct tm tm;

		if (c->state != CONN_ADMITTED)
			continue;
		gmtime_r(&c->since, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_begin(j);
		json_kv_str(j, "peer", c->peer);
		json_kv_str(j, "remote", c->addrtext);
		json_kv_str(j, "tls", SSL_get_version(c->ssl));
		json_kv_str(j, "cipher", SSL_get_cipher_name(c->ssl));
		json_kv_str(j, "pin", c->id.pin);
		json_kv_str(j, "since", since);
		json_kv_uint(j, "requests", c->requests);
		json_kv_uint(j, "bytes_in", (uint64_t)BIO_number_read(
		    SSL_get_rbio(c->ssl)));
		json_kv_uint(j, "bytes_out", (uint64_t)BIO_number_written(
		    SSL_get_wbio(c->ssl)));
		json_object_end(j);
	}
	json_array_end(j);
}

void
r3_free(struct r3 *r3)
{
	struct r3_conn *c, *next;

	if (r3 == NULL)
		return;
	r3_abort(r3);
	/* Replies still held: written and sent (or refused) now. */
	r3_flush_cb(-1, 0, r3);
	if (r3->ev_flush != NULL)
		event_free(r3->ev_flush);
	if (r3->http != NULL)
		evhttp_free(r3->http);
	/* Records whose SSL is not freed yet must not point back here. */
	for (c = r3->conns; c != NULL; c = next) {
		next = c->next;
		if (c->timer != NULL) {
			event_free(c->timer);
			c->timer = NULL;
		}
		c->r3 = NULL;
		c->prev = c->next = NULL;
	}
	for (size_t i = 0; i < r3->nroutes; i++)
		free(r3->routes[i].path);
	free(r3->routes);
	free(r3->buckets);
	free(r3->bound_addr);
	free(r3);
}
