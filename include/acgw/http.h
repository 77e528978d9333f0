/*
 * http — OpenADR "simple HTTP" over mutually authenticated TLS: libevent's
 * evhttp on bufferevent_openssl, for servers (a VTN) and clients (a VEN).
 *
 * Every request is a POST of an XML document to
 * <prefix>/OpenADR2/Simple/2.0b/<Service>; every answer is
 * "Content-Type: application/xml". The caller brings the SSL_CTX (see
 * tls_ctx_simple) and does the OpenADR work; this module owns sockets,
 * TLS sessions, keep-alive, timeouts and the dead-session rule of
 * bufferevent_openssl (a closed TLS session cannot carry a new
 * connection, so the client makes a fresh one).
 */
#ifndef ACGW_HTTP_H
#define ACGW_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "acgw/tls.h"

#define HTTP_OADR_PATH "/OpenADR2/Simple/2.0b/"
#define HTTP_ERR_MAX 512

struct event_base;

/* ---- server ---------------------------------------------------------- */

struct http_server;
struct http_exchange;

/* One request; answer it with http_reply or http_reply_error before returning. */
typedef void (*http_handler)(void *arg, struct http_exchange *x);
/* A connection event for the log: "handshake failed: ...", "closed". */
typedef void (*http_conn_event)(void *arg, const char *addr,
    const char *what);

struct http_server_opts {
	SSL_CTX *ctx;			/* server context, client cert required */
	const char *listen;		/* "127.0.0.1:8443", "[::1]:8443" */
	size_t max_body;		/* 0: 1 MiB */
	unsigned idle_timeout_ms;	/* 0: 120 s */
	http_handler handler;
	http_conn_event on_event;	/* may be NULL */
	void *arg;
};

struct http_server *http_server_new(struct event_base *base,
    const struct http_server_opts *o, char *err, size_t errlen);
void http_server_free(struct http_server *s);
/* The port bound (as in the listen address). */
uint16_t http_server_port(const struct http_server *s);
/* Close every connection (close_notify first). Returns how many. */
size_t http_server_drop(struct http_server *s);
/* Stop accepting and drop everything / accept again. */
void http_server_pause(struct http_server *s);
void http_server_resume(struct http_server *s);
size_t http_server_nconns(const struct http_server *s);

/* The service ("EiEvent", "OadrPoll", ...) or NULL for another path. */
const char *http_service(const struct http_exchange *x);
const char *http_path(const struct http_exchange *x);
/* The request body (not NUL-terminated) and its length. */
const char *http_body(struct http_exchange *x, size_t *len);
/* The client's certificate identity (pin, OpenADR fingerprint, CN...). */
const struct tls_identity *http_peer(const struct http_exchange *x);
const char *http_peer_addr(const struct http_exchange *x);
/* "TLSv1.3 TLS_AES_128_GCM_SHA256" of the session. */
const char *http_tls_version(const struct http_exchange *x);
const char *http_tls_cipher(const struct http_exchange *x);
int http_is_post(const struct http_exchange *x);

void http_reply(struct http_exchange *x, const char *body, size_t len);
void http_reply_error(struct http_exchange *x, int code, const char *text);

/* ---- client ---------------------------------------------------------- */

struct http_client;

/* status 0: no HTTP answer, err says why (TLS, refused, timeout). */
typedef void (*http_response_cb)(void *arg, int status, const char *body,
    size_t len, const char *err);

struct http_client_opts {
	SSL_CTX *ctx;			/* client context with the server's CA */
	const char *url;		/* "https://host[:port][/prefix]" */
	const char *server_name;	/* name to check; NULL: the URL's host */
	unsigned timeout_ms;		/* per request; 0: 30 s */
	/*
	 * With verify, it has the last word at each step of the chain
	 * check (OpenSSL's verify callback; ok as OpenSSL found it), and
	 * the server's name is not checked: verify identifies the server
	 * (by a pin). It returns the verdict; a refusal with why set is
	 * reported with that reason.
	 */
	int (*verify)(void *arg, int ok, X509_STORE_CTX *x, char *why,
	    size_t whylen);
	void *verify_arg;
};

struct http_client *http_client_new(struct event_base *base,
    const struct http_client_opts *o, char *err, size_t errlen);
void http_client_free(struct http_client *c);
/*
 * POST body to <prefix>/OpenADR2/Simple/2.0b/<service>. cb runs once,
 * from the loop. -1 (err set, cb never runs) if the request cannot even
 * be started.
 */
int http_post(struct http_client *c, const char *service, const char *body,
    size_t len, http_response_cb cb, void *arg, char *err, size_t errlen);
/*
 * Close the connection; the next post makes a new one. Call it with no
 * request in flight: one still queued is dropped without its callback.
 */
void http_client_close(struct http_client *c);
/* The last session's TLS version and cipher ("" before the first). */
const char *http_client_tls(const struct http_client *c);

#endif
