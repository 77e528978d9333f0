/*
 * http — evhttp on bufferevent_openssl for OpenADR simple HTTP, server
 * and client side. See include/acgw/http.h.
 *
 * Server: evhttp asks us for each connection's bufferevent (bevcb); we
 * make it a TLS one and hang a small record on the SSL, which owns it
 * (bufferevent_openssl frees the SSL when evhttp frees the connection,
 * and the ex_data free callback frees the record). The record keeps the
 * list of live connections, so that they can be closed on command with a
 * close_notify first.
 *
 * Client: one evhttp connection at a time. A TLS session that ended
 * cannot carry a new TCP connection, and evhttp would try to reuse it, so
 * once a connection closes or fails it is marked dead and the next post
 * makes a new one (it cannot be freed from inside its own callback).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "acgw/config.h"
#include "acgw/http.h"
#include "acgw/units.h"

/* ---- server ------------------------------------------------------------ */

struct http_conn {
	struct http_server *s;		/* NULL once the server is gone */
	struct http_conn *prev, *next;
	SSL *ssl;
	struct bufferevent *bev;
	int closing;
	int have_id;
	struct tls_identity id;
	char addr[64];
	char fail[160];			/* first verify failure */
};

struct http_server {
	struct event_base *base;
	struct http_server_opts o;
	struct evhttp *http;
	struct evconnlistener *lev;
	uint16_t port;
	struct http_conn *conns;
	size_t nconns;
};

struct http_exchange {
	struct evhttp_request *req;
	struct http_conn *c;
	const char *path;
	const char *service;
	char version[32], cipher[64];
	int replied;
};

static int http_conn_idx = -1;

static void
conn_unlink(struct http_conn *c)
{
	struct http_server *s = c->s;

	if (s == NULL)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	c->s = NULL;
}

static void
conn_event(struct http_conn *c, const char *what)
{
	if (c->s && c->s->o.on_event)
		c->s->o.on_event(c->s->o.arg, c->addr, what);
}

static void
conn_ssl_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct http_conn *c = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (c == NULL)
		return;
	if (!c->have_id)
		conn_event(c, c->fail[0] ? c->fail : "closed before the "
		    "handshake completed");
	else
		conn_event(c, "closed");
	conn_unlink(c);
	free(c);
}

static void
conn_addr(struct http_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = bufferevent_getfd(c->bev);

	if (c->addr[0] != '\0' && strcmp(c->addr, "(connecting)") != 0)
		return;
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		units_format_sockaddr((struct sockaddr *)&ss, c->addr,
		    sizeof(c->addr));
}

static int
server_verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct http_conn *c = SSL_get_ex_data(ssl, http_conn_idx);

	if (!ok && c != NULL && c->fail[0] == '\0')
		snprintf(c->fail, sizeof(c->fail), "handshake refused: %s",
		    tls_verify_reason(X509_STORE_CTX_get_error(x)));
	return ok;
}

static void
server_info_cb(const SSL *ssl, int where, int ret)
{
	struct http_conn *c = SSL_get_ex_data(ssl, http_conn_idx);

	(void)ret;
	if (c == NULL)
		return;
	if (where & SSL_CB_HANDSHAKE_START)
		conn_addr(c);
	if ((where & SSL_CB_HANDSHAKE_DONE) && !c->have_id) {
		X509 *cert = SSL_get1_peer_certificate(ssl);
		char what[300];

		if (cert != NULL && tls_identity_from_cert(cert, &c->id) == 0)
			c->have_id = 1;
		X509_free(cert);
		snprintf(what, sizeof(what), "handshake done: %s %s, CN=%s, "
		    "fingerprint %s", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl), c->have_id ? c->id.subject_cn :
		    "?", c->have_id ? c->id.openadr_fp : "?");
		conn_event(c, what);
	}
	if ((where & SSL_CB_ALERT) && (where & SSL_CB_READ) &&
	    !c->have_id && c->fail[0] == '\0')
		snprintf(c->fail, sizeof(c->fail), "handshake failed: the "
		    "client sent alert \"%s\"", SSL_alert_desc_string_long(ret));
}

static struct bufferevent *
server_bevcb(struct event_base *base, void *arg)
{
	struct http_server *s = arg;
	struct http_conn *c = calloc(1, sizeof(*c));
	SSL *ssl = c ? SSL_new(s->o.ctx) : NULL;

	/* NULL here would make evhttp serve plain HTTP: never. */
	if (ssl == NULL) {
		fprintf(stderr, "http: out of memory for a TLS session; "
		    "stopping rather than serving plain HTTP\n");
		abort();
	}
	c->s = s;
	c->ssl = ssl;
	snprintf(c->addr, sizeof(c->addr), "(connecting)");
	SSL_set_ex_data(ssl, http_conn_idx, c);
	SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	    server_verify_cb);
	SSL_set_info_callback(ssl, server_info_cb);
	c->bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL) {
		fprintf(stderr, "http: out of memory for a TLS session\n");
		abort();
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	return c->bev;
}

static struct http_conn *
conn_of(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	SSL *ssl;

	if (evcon == NULL ||
	    (bev = evhttp_connection_get_bufferevent(evcon)) == NULL ||
	    (ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		return NULL;
	return SSL_get_ex_data(ssl, http_conn_idx);
}

static void
conn_close(struct http_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	ERR_clear_error();
	if (SSL_is_init_finished(c->ssl))
		SSL_shutdown(c->ssl);
	ERR_clear_error();
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING,
	    BEV_TRIG_DEFER_CALLBACKS);
}

static void
server_request_cb(struct evhttp_request *req, void *arg)
{
	struct http_server *s = arg;
	struct http_exchange x;
	const char *p;

	memset(&x, 0, sizeof(x));
	x.req = req;
	x.c = conn_of(req);
	if (x.c == NULL || !x.c->have_id || x.c->closing) {
		evhttp_send_error(req, 403, "Forbidden");
		return;
	}
	x.path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (x.path == NULL)
		x.path = "";
	p = x.path;
	if (strncmp(p, HTTP_OADR_PATH, strlen(HTTP_OADR_PATH)) != 0)
		p = strstr(p, HTTP_OADR_PATH);	/* after a prefix */
	if (p != NULL && p[strlen(HTTP_OADR_PATH)] != '\0' &&
	    !strchr(p + strlen(HTTP_OADR_PATH), '/'))
		x.service = p + strlen(HTTP_OADR_PATH);
	snprintf(x.version, sizeof(x.version), "%s",
	    SSL_get_version(x.c->ssl));
	snprintf(x.cipher, sizeof(x.cipher), "%s",
	    SSL_get_cipher_name(x.c->ssl));
	s->o.handler(s->o.arg, &x);
	if (!x.replied)
		http_reply_error(&x, 500, "no answer");
}

const char *
http_service(const struct http_exchange *x)
{
	return x->service;
}

const char *
http_path(const struct http_exchange *x)
{
	return x->path;
}

const char *
http_body(struct http_exchange *x, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(x->req);

	*len = evbuffer_get_length(in);
	if (*len == 0)
		return "";
	return (const char *)evbuffer_pullup(in, -1);
}

const struct tls_identity *
http_peer(const struct http_exchange *x)
{
	return &x->c->id;
}

const char *
http_peer_addr(const struct http_exchange *x)
{
	return x->c->addr;
}

const char *
http_tls_version(const struct http_exchange *x)
{
	return x->version;
}

const char *
http_tls_cipher(const struct http_exchange *x)
{
	return x->cipher;
}

int
http_is_post(const struct http_exchange *x)
{
	return evhttp_request_get_command(x->req) == EVHTTP_REQ_POST;
}

void
http_reply(struct http_exchange *x, const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	x->replied = 1;
	evhttp_add_header(evhttp_request_get_output_headers(x->req),
	    "Content-Type", "application/xml");
	if (b == NULL || evbuffer_add(b, body, len) != 0) {
		if (b)
			evbuffer_free(b);
		evhttp_send_error(x->req, 500, "Internal Server Error");
		return;
	}
	evhttp_send_reply(x->req, 200, "OK", b);
	evbuffer_free(b);
}

/*
 * The standard phrase: the status line must not carry the text, which may
 * quote what the peer sent (a CR LF there would split the response).
 */
static const char *
reason_phrase(int code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

void
http_reply_error(struct http_exchange *x, int code, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	x->replied = 1;
	evhttp_add_header(evhttp_request_get_output_headers(x->req),
	    "Content-Type", "text/plain; charset=utf-8");
	if (b)
		evbuffer_add_printf(b, "%s\n", text);
	evhttp_send_reply(x->req, code, reason_phrase(code), b);
	if (b)
		evbuffer_free(b);
}

struct http_server *
http_server_new(struct event_base *base, const struct http_server_opts *o,
    char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof(*s));
	struct units_sockaddr sa;
	struct evhttp_bound_socket *b;
	struct evconnlistener *lev;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct timeval tv;
	int fd = -1, one = 1;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (http_conn_idx == -1)
		http_conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    conn_ssl_free);
	s->base = base;
	s->o = *o;
	if (units_parse_sockaddr(o->listen, &sa, err, errlen) != 0)
		goto fail;
	if ((s->http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	evhttp_set_bevcb(s->http, server_bevcb, s);
	evhttp_set_gencb(s->http, server_request_cb, s);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
	evhttp_set_max_body_size(s->http, (ev_ssize_t)(o->max_body ?
	    o->max_body : 1024 * 1024));
	evhttp_set_max_headers_size(s->http, 16384);
	tv.tv_sec = (o->idle_timeout_ms ? o->idle_timeout_ms : 120000) / 1000;
	tv.tv_usec = 0;
	evhttp_set_timeout_tv(s->http, &tv);
	fd = socket(sa.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "%s: socket: %s", o->listen,
		    strerror(errno));
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Inherited by accepted sockets: no Nagle wait between records. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa.ss, sa.len) == -1 ||
	    listen(fd, 4096) == -1) {
		snprintf(err, errlen, "%s: %s", o->listen, strerror(errno));
		goto fail;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	lev = evconnlistener_new(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (lev == NULL) {
		snprintf(err, errlen, "%s: cannot listen", o->listen);
		goto fail;
	}
	fd = -1;
	if ((b = evhttp_bind_listener(s->http, lev)) == NULL) {
		evconnlistener_free(lev);	/* closes the socket */
		snprintf(err, errlen, "%s: cannot listen", o->listen);
		goto fail;
	}
	(void)b;
	s->lev = lev;		/* evhttp frees it with itself */
	return s;
fail:
	if (fd != -1)
		close(fd);
	http_server_free(s);
	return NULL;
}

uint16_t
http_server_port(const struct http_server *s)
{
	return s->port;
}

size_t
http_server_nconns(const struct http_server *s)
{
	return s->nconns;
}

size_t
http_server_drop(struct http_server *s)
{
	size_t n = 0;

	for (struct http_conn *c = s->conns; c != NULL; c = c->next)
		if (!c->closing) {
			conn_close(c);
			n++;
		}
	return n;
}

void
http_server_pause(struct http_server *s)
{
	if (s->lev)
		evconnlistener_disable(s->lev);
	http_server_drop(s);
}

void
http_server_resume(struct http_server *s)
{
	if (s->lev)
		evconnlistener_enable(s->lev);
}

void
http_server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	/* Records outlive us until their SSL goes: detach them. */
	while (s->conns != NULL)
		conn_unlink(s->conns);
	if (s->http)
		evhttp_free(s->http);	/* frees the listener it was bound to */
	else if (s->lev)
		evconnlistener_free(s->lev);
	free(s);
}

/* ---- client ------------------------------------------------------------ */

struct http_client {
	struct event_base *base;
	SSL_CTX *ctx;
	struct config_url url;
	char *server_name;
	unsigned timeout_ms;
	int (*verify)(void *, int, X509_STORE_CTX *, char *, size_t);
	void *verify_arg;
	struct evhttp_connection *evcon;
	SSL *ssl;
	int dead;			/* evcon must not carry another request */
	struct post *posts;		/* in flight */
	struct parked *parked;
	char fail[200];			/* first verify failure of this session */
	char tls[96];
};

struct post {
	struct post *next, *prev;
	struct post **head;		/* the list it is on */
	struct http_client *c;
	http_response_cb cb;
	void *arg;
	int orphan;			/* its connection was given up */
};

/*
 * A connection given up while libevent may still call back into it (we
 * may be inside one of its callbacks): freed from the loop, later.
 */
struct parked {
	struct parked *next;
	struct evhttp_connection *evcon;
	struct post *posts;
	struct event *ev;
	struct http_client *c;
};

static int http_client_idx = -1;

static void
post_unlink(struct post *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		*p->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->next = p->prev = NULL;
}

static void
parked_free(struct parked *pk)
{
	/* evhttp frees requests still queued without calling back. */
	evhttp_connection_free(pk->evcon);	/* frees bev and SSL */
	while (pk->posts != NULL) {
		struct post *p = pk->posts;

		post_unlink(p);
		free(p);
	}
	event_free(pk->ev);
	free(pk);
}

static void
parked_cb(evutil_socket_t fd, short what, void *arg)
{
	struct parked *pk = arg, **pp;

	(void)fd, (void)what;
	for (pp = &pk->c->parked; *pp && *pp != pk; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = pk->next;
	parked_free(pk);
}

/* Give up the connection; it is freed from the loop, not from here. */
static void
client_drop(struct http_client *c)
{
	struct parked *pk;
	struct timeval now = { 0, 0 };

	if (c->evcon == NULL) {
		c->dead = 0;
		return;
	}
	if ((pk = calloc(1, sizeof(*pk))) == NULL ||
	    (pk->ev = evtimer_new(c->base, parked_cb, pk)) == NULL) {
		/* Out of memory: leak the connection rather than free it
		 * under a callback that may still run. */
		free(pk);
	} else {
		pk->evcon = c->evcon;
		pk->c = c;
		pk->posts = c->posts;
		for (struct post *p = pk->posts; p; p = p->next) {
			p->head = &pk->posts;
			p->orphan = 1;
		}
		pk->next = c->parked;
		c->parked = pk;
		evtimer_add(pk->ev, &now);
	}
	c->posts = NULL;
	c->evcon = NULL;
	c->ssl = NULL;
	c->dead = 0;
}

static int
client_verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct http_client *c = SSL_get_ex_data(ssl, http_client_idx);
	char why[160] = "";

	if (c != NULL && c->verify != NULL) {
		ok = c->verify(c->verify_arg, ok, x, why, sizeof(why));
		if (!ok && why[0] != '\0')
			X509_STORE_CTX_set_error(x,
			    X509_V_ERR_APPLICATION_VERIFICATION);
	}
	if (!ok && c != NULL && c->fail[0] == '\0')
		snprintf(c->fail, sizeof(c->fail), "TLS: server certificate "
		    "refused: %s", c->verify != NULL && why[0] != '\0' ? why :
		    tls_verify_reason(X509_STORE_CTX_get_error(x)));
	return ok;
}

static void
client_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct http_client *c = arg;

	(void)evcon;
	c->dead = 1;
}

static int
client_connect(struct http_client *c, char *err, size_t errlen)
{
	const char *name = c->server_name ? c->server_name : c->url.host;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct bufferevent *bev;
	struct timeval tv;
	char e[64];

	ERR_clear_error();
	c->fail[0] = '\0';
	if ((c->ssl = SSL_new(c->ctx)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	SSL_set_ex_data(c->ssl, http_client_idx, c);
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, client_verify_cb);
	/* libevent checks no names: SNI and the name check are ours. */
	if (c->verify != NULL) {
		if (units_parse_ipaddr(name, &ss, &sl, e, sizeof(e)) != 0)
			SSL_set_tlsext_host_name(c->ssl, name);
	} else if (units_parse_ipaddr(name, &ss, &sl, e, sizeof(e)) == 0) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name);
	} else {
		SSL_set_tlsext_host_name(c->ssl, name);
		SSL_set1_host(c->ssl, name);
		SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}
	bev = bufferevent_openssl_socket_new(c->base, -1, c->ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->evcon = evhttp_connection_base_bufferevent_new(c->base, NULL, bev,
	    c->url.host, c->url.port);
	if (c->evcon == NULL) {
		bufferevent_free(bev);
		c->ssl = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	evhttp_connection_set_retries(c->evcon, 0);
	evhttp_connection_set_closecb(c->evcon, client_close_cb, c);
	tv.tv_sec = (time_t)(c->timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(c->timeout_ms % 1000) * 1000;
	evhttp_connection_set_timeout_tv(c->evcon, &tv);
	return 0;
}

static void
client_response_cb(struct evhttp_request *req, void *arg)
{
	struct post *p = arg;
	struct http_client *c = p->c;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	char why[300];

	if (code == 0) {
		unsigned long e = ERR_peek_last_error();

		if (p->orphan)
			snprintf(why, sizeof(why), "connection closed");
		else if (c->fail[0])
			snprintf(why, sizeof(why), "%s", c->fail);
		else if (e != 0 && ERR_GET_LIB(e) != ERR_LIB_SYS &&
		    ERR_GET_LIB(e) != 0)
			snprintf(why, sizeof(why), "TLS: %s",
			    tls_error_reason(e));
		else
			snprintf(why, sizeof(why), "no answer (connection "
			    "refused, closed or timed out)");
		ERR_clear_error();
		c->dead = 1;
		p->cb(p->arg, 0, NULL, 0, why);
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		const char *body = len ? (const char *)evbuffer_pullup(in, -1) :
		    "";

		if (c->ssl && !p->orphan)
			snprintf(c->tls, sizeof(c->tls), "%s %s",
			    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
		p->cb(p->arg, code, body, len, NULL);
	}
	free(p);
}

/* Unlinked before the callback, which may post again. */
static void
client_response_cb_outer(struct evhttp_request *req, void *arg)
{
	struct post *p = arg;

	post_unlink(p);
	client_response_cb(req, p);
}

struct http_client *
http_client_new(struct event_base *base, const struct http_client_opts *o,
    char *err, size_t errlen)
{
	struct http_client *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (http_client_idx == -1)
		http_client_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    NULL);
	c->base = base;
	c->ctx = o->ctx;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : 30000;
	c->verify = o->verify;
	c->verify_arg = o->verify_arg;
	if (config_parse_url(o->url, &c->url, err, errlen) != 0 ||
	    (o->server_name && !(c->server_name = strdup(o->server_name)))) {
		if (o->server_name && !c->server_name && c->url.host)
			snprintf(err, errlen, "out of memory");
		config_url_free(&c->url);
		free(c);
		return NULL;
	}
	return c;
}

void
http_client_close(struct http_client *c)
{
	if (c->evcon != NULL)
		c->dead = 1;
}

const char *
http_client_tls(const struct http_client *c)
{
	return c->tls;
}

int
http_post(struct http_client *c, const char *service, const char *body,
    size_t len, http_response_cb cb, void *arg, char *err, size_t errlen)
{
	struct evhttp_request *req;
	struct post *p;
	char uri[512], host[300];

	if (c->dead)
		client_drop(c);
	if (c->evcon == NULL && client_connect(c, err, errlen) != 0)
		return -1;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (req = evhttp_request_new(client_response_cb_outer, p)) == NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->c = c;
	p->cb = cb;
	p->arg = arg;
	p->head = &c->posts;
	p->next = c->posts;
	if (c->posts)
		c->posts->prev = p;
	c->posts = p;
	snprintf(host, sizeof(host), strchr(c->url.host, ':') ? "[%s]:%u" :
	    "%s:%u", c->url.host, c->url.port);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
	    host);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/xml");
	evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	snprintf(uri, sizeof(uri), "%s%s%s", c->url.path, HTTP_OADR_PATH,
	    service);
	if (evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST, uri) != 0) {
		/*
		 * libevent 2.1.12 unlinks but does not free it when the
		 * connect fails (the one way this fails but out of memory).
		 */
		evhttp_request_free(req);
		post_unlink(p);
		free(p);
		c->dead = 1;
		snprintf(err, errlen, "cannot send the request");
		return -1;
	}
	return 0;
}

void
http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	client_drop(c);
	/* Outside any callback now: what was parked goes at once. */
	while (c->parked != NULL) {
		struct parked *pk = c->parked;

		c->parked = pk->next;
		parked_free(pk);
	}
	config_url_free(&c->url);
	free(c->server_name);
	free(c);
}
