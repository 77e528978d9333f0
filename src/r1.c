/*
 * r1 — the link to the TSO.
 *
 * One evhttp_connection at a time, each with its own SSL: an SSL object
 * cannot run a second handshake, and evhttp would reconnect a dropped
 * keep-alive connection with the old one, so a connection that closed or
 * failed is thrown away and a new one made for the next attempt.
 *
 * Network separation: r1.source_address binds the local end
 * (evhttp_connection_set_local_address). libevent 2.1's HTTP client
 * creates and connects its socket in one step, so SO_BINDTODEVICE cannot
 * be set before the SYN leaves; r1.interface is therefore enforced as a
 * check instead: during the TLS handshake, before any request byte is
 * sent, the connection's local address must belong to that interface,
 * or the handshake is failed and the attempt counts as a failure. Pair it
 * with r1.source_address (an address on that interface).
 */
#include "config.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "acgw/log.h"
#include "acgw/oadr.h"
#include "acgw/r1.h"
#include "acgw/units.h"

enum r1_state {
	R1_IDLE = 0,		/* not configured */
	R1_CONNECTING,		/* attempt in flight, not yet answered */
	R1_UP,			/* last attempt answered */
	R1_BACKOFF,		/* last attempt failed; waiting */
	R1_STOPPED,
};

struct r1 {
	struct event_base *base;
	struct audit *audit;
	const struct config *cfg;
	const struct tls *tls;
	enum r1_state state;
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	SSL *ssl;
	int discard;		/* evcon must not be used again */
	struct event *timer;	/* next attempt */
	struct event *connect_timer;
	uint64_t failures, attempts, answered;
	uint64_t delay_ms;	/* current backoff */
	uint64_t connect_ms;	/* the connect timeout armed now */
	time_t last_ok, next_at;
	char fail_reason[256];	/* set by the verify callback */
	char last_error[600];
	char server[200];	/* "CN=tso, TLSv1.3, TLS_AES_128_GCM_SHA256" */
	struct r1_conv conv;	/* what to say and what to do with answers */
	int in_flight;		/* a request is out */
	int isolated;		/* incident kill switch: no connection at all */
};

static int r1_ssl_idx = -1;

static void r1_schedule(struct r1 *r1, uint64_t ms);

/* The link went up or down: one audit record. */
static void
r1_audit(struct r1 *r1, const char *state, const char *why)
{
	struct json_buf j;

	if (r1->audit == NULL)
		return;
	json_init(&j, 4096);
	json_object_begin(&j);
	json_kv_str(&j, "state", state);
	json_kv_str(&j, "url", r1->cfg->r1.url.text);
	if (why != NULL)
		json_kv_str(&j, "reason", why);
	json_object_end(&j);
	if (j.failed || audit_append(r1->audit, "r1.link", "r1", NULL, j.s,
	    NULL, NULL) != 0)
		log_warnx("r1: cannot record the link state in the audit log");
	json_free(&j);
}
static int r1_on_interface(struct r1 *r1, char *why, size_t len);

static void
r1_drop(struct r1 *r1)
{
	if (r1->in_flight) {
		/*
		 * A request still out is dropped without its callback: the
		 * conversation hears of it as a failure, or it would wait
		 * for that answer for ever.
		 */
		r1->in_flight = 0;
		r1->conv.failed(r1->conv.arg);
	}
	if (r1->evcon != NULL) {
		evhttp_connection_free(r1->evcon);	/* frees bev and SSL */
		r1->evcon = NULL;
		r1->bev = NULL;
		r1->ssl = NULL;
	}
	if (r1->connect_timer != NULL)
		evtimer_del(r1->connect_timer);
	r1->discard = 0;
}

/* The TSO's server key must be the pinned one, when a pin is set. */
static int
r1_verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct r1 *r1 = SSL_get_ex_data(ssl, r1_ssl_idx);
	struct tls_identity id;

	if (r1 == NULL)
		return 0;
	if (!ok) {
		/* A CA without a configured CRL is not CRL-checked. */
		if (tls_crl_optional(r1->tls, x))
			return 1;
		snprintf(r1->fail_reason, sizeof(r1->fail_reason), "%s",
		    tls_verify_reason(X509_STORE_CTX_get_error(x)));
		return 0;
	}
	if (X509_STORE_CTX_get_error_depth(x) != 0)
		return 1;
	/* Checked in the handshake, before any request byte is sent. */
	if (!r1_on_interface(r1, r1->fail_reason, sizeof(r1->fail_reason))) {
		X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (!r1->cfg->r1.pin.set)
		return 1;
	if (tls_identity_from_cert(X509_STORE_CTX_get_current_cert(x),
	    &id) != 0 || memcmp(id.spki_sha256, r1->cfg->r1.pin.v, 32) != 0) {
		snprintf(r1->fail_reason, sizeof(r1->fail_reason), "pin "
		    "mismatch: the server key is %s, r1.pin wants another",
		    id.pin);
		X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}

/* Is the connection's local address on r1.interface? */
static int
r1_on_interface(struct r1 *r1, char *why, size_t len)
{
	struct sockaddr_storage local;
	socklen_t sl = sizeof(local);
	struct ifaddrs *ifa, *i;
	int fd = r1->bev ? bufferevent_getfd(r1->bev) : -1, found = 0;

	if (r1->cfg->r1.interface == NULL)
		return 1;
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&local, &sl) != 0 ||
	    getifaddrs(&ifa) != 0) {
		snprintf(why, len, "cannot check r1.interface: %s",
		    strerror(errno));
		return 0;
	}
	/*
	 * On the interface: inside one of its networks (address and
	 * netmask), as Linux counts 127.0.0.2 as lo's with 127.0.0.1/8.
	 */
	for (i = ifa; i != NULL && !found; i = i->ifa_next) {
		const unsigned char *a, *m, *l;
		size_t n;

		if (i->ifa_addr == NULL || i->ifa_netmask == NULL ||
		    strcmp(i->ifa_name, r1->cfg->r1.interface) != 0 ||
		    i->ifa_addr->sa_family != local.ss_family)
			continue;
		if (local.ss_family == AF_INET) {
			a = (const unsigned char *)&((struct sockaddr_in *)
			    i->ifa_addr)->sin_addr;
			m = (const unsigned char *)&((struct sockaddr_in *)
			    i->ifa_netmask)->sin_addr;
			l = (const unsigned char *)&((struct sockaddr_in *)
			    &local)->sin_addr;
			n = 4;
		} else {
			a = ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr.
			    s6_addr;
			m = ((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr.
			    s6_addr;
			l = ((struct sockaddr_in6 *)&local)->sin6_addr.s6_addr;
			n = 16;
		}
		found = 1;
		for (size_t k = 0; k < n; k++)
			if ((a[k] & m[k]) != (l[k] & m[k]))
				found = 0;
	}
	freeifaddrs(ifa);
	if (!found) {
		char a[64];

		units_format_sockaddr((struct sockaddr *)&local, a, sizeof(a));
		snprintf(why, len, "the connection left from %s, which is not "
		    "on r1.interface %s", a, r1->cfg->r1.interface);
	}
	return found;
}

/*
 * The TSO closed the keep-alive connection: evhttp would reconnect it
 * with the same SSL, made from the context of that time; a fresh one
 * picks up reloaded certificates, CAs and CRLs.
 */
static void
r1_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct r1 *r1 = arg;

	r1->discard = 1;
}

static void
r1_info_cb(const SSL *ssl, int where, int ret)
{
	struct r1 *r1 = SSL_get_ex_data(ssl, r1_ssl_idx);

	if (r1 != NULL && (where & SSL_CB_HANDSHAKE_DONE) &&
	    r1->connect_timer != NULL)
		evtimer_del(r1->connect_timer);
}

static uint64_t
r1_jitter(uint64_t ms)
{
	uint32_t r = 0;

	/* Half fixed, half random: many VENs must not retry in step. */
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)time(NULL);
	return ms / 2 + (ms / 2 > 0 ? r % (ms / 2 + 1) : 0);
}

static void
r1_failed(struct r1 *r1, const char *why)
{
	uint64_t wait;

	if (r1->state == R1_STOPPED || r1->cfg->r1.url.text == NULL ||
	    r1->isolated)
		return;		/* stopped, isolated, or configured away */
	r1->failures++;
	r1->delay_ms = r1->delay_ms == 0 ? r1->cfg->r1.backoff_initial_ms :
	    r1->delay_ms * 2;
	if (r1->delay_ms > r1->cfg->r1.backoff_max_ms)
		r1->delay_ms = r1->cfg->r1.backoff_max_ms;
	wait = r1_jitter(r1->delay_ms);
	/* Once per outage, not per retry. */
	if (r1->state == R1_UP || r1->failures == 1)
		r1_audit(r1, "down", why);
	snprintf(r1->last_error, sizeof(r1->last_error), "%s", why);
	log_warnx("r1: %s: %s; retrying in %llu ms (failure %llu)",
	    r1->cfg->r1.url.text, why, (unsigned long long)wait,
	    (unsigned long long)r1->failures);
	r1->state = R1_BACKOFF;
	r1->discard = 1;
	r1_schedule(r1, wait);
}

static void
r1_response_cb(struct evhttp_request *req, void *arg)
{
	struct r1 *r1 = arg;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	char why[400];

	r1->in_flight = 0;
	if (r1->state == R1_STOPPED || r1->cfg->r1.url.text == NULL)
		return;
	if (code == 0) {
		unsigned long e = r1->bev ? bufferevent_get_openssl_error(
		    r1->bev) : 0;

		if (r1->fail_reason[0] != '\0')
			snprintf(why, sizeof(why), "TLS: %s", r1->fail_reason);
		else if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SYS)
			snprintf(why, sizeof(why), "connection failed: %s",
			    strerror(ERR_GET_REASON(e)));
		else if (e != 0 && ERR_GET_LIB(e) == 0)
			/* bufferevent_openssl's SSL_ERROR_SYSCALL: the socket. */
			snprintf(why, sizeof(why), "connection failed (refused, "
			    "reset or unreachable)");
		else if (e != 0) {
			char detail[160];

			ERR_error_string_n(e, detail, sizeof(detail));
			log_debug("r1: OpenSSL says %s", detail);
			snprintf(why, sizeof(why), "TLS: %s",
			    tls_error_reason(e));
		}
		else
			snprintf(why, sizeof(why), "no answer (connection "
			    "refused, closed or timed out)");
		while (r1->bev && bufferevent_get_openssl_error(r1->bev))
			;
		ERR_clear_error();
		r1->conv.failed(r1->conv.arg);
		r1_failed(r1, why);
		return;
	}
	if (r1->state != R1_UP) {
		X509 *cert = r1->ssl ? SSL_get1_peer_certificate(r1->ssl) : NULL;
		struct tls_identity id;

		memset(&id, 0, sizeof(id));
		if (cert != NULL)
			tls_identity_from_cert(cert, &id);
		X509_free(cert);
		snprintf(r1->server, sizeof(r1->server), "CN=%s, %s, %s",
		    id.subject_cn, r1->ssl ? SSL_get_version(r1->ssl) : "?",
		    r1->ssl ? SSL_get_cipher_name(r1->ssl) : "?");
		log_notice("r1: link up to %s (%s, pin %s) after %llu failures",
		    r1->cfg->r1.url.text, r1->server, id.pin,
		    (unsigned long long)r1->failures);
		r1_audit(r1, "up", r1->server);
	}
	r1->state = R1_UP;
	r1->answered++;
	r1->failures = 0;
	r1->delay_ms = 0;
	r1->last_error[0] = '\0';
	r1->last_ok = time(NULL);
	if (code != 200)
		log_warnx("r1: %s answered HTTP %d", r1->cfg->r1.url.text, code);
	{
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		const char *body = len ? (const char *)evbuffer_pullup(in, -1) :
		    "";

		r1->conv.answer(r1->conv.arg, code, body ? body : "",
		    body ? len : 0);
	}
	/* The conversation says when the next request is due. */
	r1_schedule(r1, 0);
}

static void
r1_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct r1 *r1 = arg;
	char why[64];

	snprintf(why, sizeof(why), "connect timeout (%llu ms)",
	    (unsigned long long)r1->connect_ms);
	/* The request callback must not see this connection again. */
	r1_drop(r1);
	r1_failed(r1, why);
}

static int
r1_connect(struct r1 *r1)
{
	const struct config *cfg = r1->cfg;
	const char *name = cfg->r1.server_name ? cfg->r1.server_name :
	    cfg->r1.url.host;
	struct sockaddr_storage ss;
	socklen_t sl;
	char err[64];
	struct timeval tv;

	ERR_clear_error();
	if ((r1->ssl = SSL_new(tls_client_ctx(r1->tls))) == NULL)
		return -1;
	SSL_set_ex_data(r1->ssl, r1_ssl_idx, r1);
	SSL_set_verify(r1->ssl, SSL_VERIFY_PEER, r1_verify_cb);
	SSL_set_info_callback(r1->ssl, r1_info_cb);
	/* libevent checks no names: SNI and the name check are ours. */
	if (units_parse_ipaddr(name, &ss, &sl, err, sizeof(err)) == 0) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(r1->ssl), name);
	} else {
		SSL_set_tlsext_host_name(r1->ssl, name);
		SSL_set1_host(r1->ssl, name);
		SSL_set_hostflags(r1->ssl,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}
	r1->bev = bufferevent_openssl_socket_new(r1->base, -1, r1->ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (r1->bev == NULL) {
		SSL_free(r1->ssl);
		r1->ssl = NULL;
		return -1;
	}
	r1->evcon = evhttp_connection_base_bufferevent_new(r1->base, NULL,
	    r1->bev, cfg->r1.url.host, cfg->r1.url.port);
	if (r1->evcon == NULL) {
		bufferevent_free(r1->bev);
		r1->bev = NULL;
		r1->ssl = NULL;
		return -1;
	}
	evhttp_connection_set_retries(r1->evcon, 0);
	evhttp_connection_set_closecb(r1->evcon, r1_close_cb, r1);
	tv.tv_sec = (time_t)(cfg->r1.timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(cfg->r1.timeout_ms % 1000) * 1000;
	evhttp_connection_set_timeout_tv(r1->evcon, &tv);
	if (cfg->r1.source_address.text != NULL)
		evhttp_connection_set_local_address(r1->evcon,
		    cfg->r1.source_address.text);
	r1->connect_ms = cfg->r1.connect_timeout_ms;
	tv.tv_sec = (time_t)(cfg->r1.connect_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(cfg->r1.connect_timeout_ms % 1000) * 1000;
	evtimer_add(r1->connect_timer, &tv);
	return 0;
}

static void
r1_attempt(evutil_socket_t fd, short what, void *arg)
{
	struct r1 *r1 = arg;
	struct evhttp_request *req;
	const char *service = NULL;
	char uri[512], host[300], *doc = NULL;
	size_t len = 0;
	uint64_t wait_ms = 1000;

	if (r1->state == R1_STOPPED || r1->cfg->r1.url.text == NULL ||
	    r1->in_flight || r1->isolated)
		return;
	if (!r1->conv.next(r1->conv.arg, &service, &doc, &len, &wait_ms)) {
		r1_schedule(r1, wait_ms);
		return;
	}
	if (r1->discard || (r1->evcon != NULL && r1->state != R1_UP))
		r1_drop(r1);
	r1->fail_reason[0] = '\0';
	if (r1->evcon == NULL && r1_connect(r1) != 0) {
		ERR_clear_error();
		free(doc);
		r1->conv.failed(r1->conv.arg);
		r1_failed(r1, "cannot set up a connection (out of memory?)");
		return;
	}
	if ((req = evhttp_request_new(r1_response_cb, r1)) == NULL ||
	    evbuffer_add(evhttp_request_get_output_buffer(req), doc, len) !=
	    0) {
		if (req)
			evhttp_request_free(req);
		free(doc);
		r1->conv.failed(r1->conv.arg);
		r1_failed(r1, "out of memory");
		return;
	}
	free(doc);
	snprintf(host, sizeof(host), strchr(r1->cfg->r1.url.host, ':') ?
	    "[%s]:%u" : "%s:%u", r1->cfg->r1.url.host, r1->cfg->r1.url.port);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/xml");
	snprintf(uri, sizeof(uri), "%s/OpenADR2/Simple/2.0b/%s",
	    r1->cfg->r1.url.path, service);
	if (r1->state != R1_UP)
		r1->state = R1_CONNECTING;
	r1->attempts++;
	/* Before the call: libevent may run the callback from inside it. */
	r1->in_flight = 1;
	if (evhttp_make_request(r1->evcon, req, EVHTTP_REQ_POST, uri) != 0) {
		r1->in_flight = 0;
		char why[160];

		/* libevent 2.1.12 unlinks but does not free it here. */
		snprintf(why, sizeof(why), "cannot connect%s%s: %s",
		    r1->cfg->r1.source_address.text ? " from " : "",
		    r1->cfg->r1.source_address.text ?
		    r1->cfg->r1.source_address.text : "", strerror(errno));
		evhttp_request_free(req);
		r1->discard = 1;
		r1->conv.failed(r1->conv.arg);
		r1_failed(r1, why);
		return;
	}
}

void
r1_kick(struct r1 *r1)
{
	if (r1->state == R1_STOPPED || r1->state == R1_BACKOFF ||
	    r1->cfg->r1.url.text == NULL || r1->in_flight || r1->isolated)
		return;
	evtimer_del(r1->timer);
	r1_schedule(r1, 0);
}

void
r1_isolate(struct r1 *r1, int on)
{
	if (on == r1->isolated)
		return;
	r1->isolated = on;
	if (on) {
		evtimer_del(r1->timer);
		r1_drop(r1);
		log_warnx("r1: isolated: the link to the TSO is closed and stays "
		    "closed until the isolation is lifted");
		return;
	}
	log_notice("r1: isolation lifted");
	if (r1->state != R1_STOPPED && r1->cfg->r1.url.text != NULL) {
		r1->failures = 0;
		r1->delay_ms = 0;
		r1_schedule(r1, 0);
	}
}

static void
r1_schedule(struct r1 *r1, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	r1->next_at = time(NULL) + (time_t)(ms / 1000);
	evtimer_add(r1->timer, &tv);
}

struct r1 *
r1_new(struct event_base *base, const struct config *cfg,
    const struct tls *tls, const struct r1_conv *conv, struct audit *audit)
{
	struct r1 *r1 = calloc(1, sizeof(*r1));

	if (r1 == NULL)
		return NULL;
	if (r1_ssl_idx == -1)
		r1_ssl_idx = SSL_get_ex_new_index(0, "acgw r1", NULL, NULL,
		    NULL);
	r1->base = base;
	r1->audit = audit;
	r1->cfg = cfg;
	r1->tls = tls;
	r1->conv = *conv;
	r1->timer = evtimer_new(base, r1_attempt, r1);
	r1->connect_timer = evtimer_new(base, r1_connect_timeout_cb, r1);
	if (r1->timer == NULL || r1->connect_timer == NULL) {
		r1_free(r1);
		return NULL;
	}
	if (cfg->r1.url.text != NULL)
		r1_schedule(r1, 0);
	return r1;
}

/* The settings that make a connection what it is. */
static int
r1_same_link(const struct config *a, const struct config *b)
{
#define SAME(f) ((a->r1.f == NULL && b->r1.f == NULL) || \
	(a->r1.f != NULL && b->r1.f != NULL && strcmp(a->r1.f, b->r1.f) == 0))
	return SAME(url.text) && SAME(server_name) && SAME(ca) && SAME(crl) &&
	    SAME(cert) && SAME(key) && SAME(source_address.text) &&
	    SAME(interface) && a->r1.pin.set == b->r1.pin.set &&
	    memcmp(a->r1.pin.v, b->r1.pin.v, 32) == 0 &&
	    a->tls.min_version == b->tls.min_version &&
	    strcmp(a->tls.ciphers, b->tls.ciphers) == 0 &&
	    strcmp(a->tls.ciphersuites, b->tls.ciphersuites) == 0;
#undef SAME
}

void
r1_commit(struct r1 *r1, const struct config *cfg, const struct tls *tls)
{
	int same = r1_same_link(r1->cfg, cfg);

	r1->cfg = cfg;
	r1->tls = tls;
	if (r1->state == R1_STOPPED)
		return;
	if (cfg->r1.url.text == NULL) {
		evtimer_del(r1->timer);
		r1_drop(r1);
		r1->state = R1_IDLE;
		return;
	}
	/*
	 * The next connection is made from the new context in any case
	 * (certificate files may have been replaced in place); when the
	 * link itself changed, that happens now.
	 */
	r1->discard = 1;
	if (same && r1->state != R1_IDLE)
		return;
	log_notice("r1: link settings changed; reconnecting");
	r1->state = R1_CONNECTING;
	r1->failures = 0;
	r1->delay_ms = 0;
	evtimer_del(r1->timer);
	r1_schedule(r1, 0);
}

void
r1_shutdown(struct r1 *r1)
{
	r1->state = R1_STOPPED;
	evtimer_del(r1->timer);
	r1_drop(r1);
}

static const char *
r1_state_name(enum r1_state s)
{
	switch (s) {
	case R1_IDLE: return "not configured";
	case R1_CONNECTING: return "connecting";
	case R1_UP: return "up";
	case R1_BACKOFF: return "backing off";
	case R1_STOPPED: return "stopped";
	}
	return "?";
}

void
r1_status_json(const struct r1 *r1, struct json_buf *j)
{
	char buf[32];
	struct tm tm;

	json_kv_str(j, "r1_state", r1->isolated ? "isolated" :
	    r1_state_name(r1->state));
	if (r1->cfg->r1.url.text == NULL)
		return;
	json_kv_str(j, "r1_url", r1->cfg->r1.url.text);
	json_kv_uint(j, "r1_failures", r1->failures);
	json_kv_uint(j, "r1_answered", r1->answered);
	if (r1->last_ok != 0) {
		gmtime_r(&r1->last_ok, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_kv_str(j, "r1_last_ok", buf);
	}
	gmtime_r(&r1->next_at, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_kv_str(j, "r1_next_attempt", buf);
	json_kv_uint(j, "r1_backoff_ms", r1->delay_ms);
	if (r1->server[0] != '\0')
		json_kv_str(j, "r1_server", r1->server);
	if (r1->last_error[0] != '\0')
		json_kv_str(j, "r1_last_error", r1->last_error);
}

void
r1_free(struct r1 *r1)
{
	if (r1 == NULL)
		return;
	r1_drop(r1);
	if (r1->timer != NULL)
		event_free(r1->timer);
	if (r1->connect_timer != NULL)
		event_free(r1->connect_timer);
	free(r1);
}
