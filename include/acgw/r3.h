/*
 * r3 — the downstream edge: the mTLS listener resource aggregators
 * connect to, evhttp on bufferevent_openssl.
 *
 * Admission happens in the handshake: chain, expiry and CRL (OpenSSL,
 * with tls_verify_reason), then the peer table (pin, CA, source address,
 * per-peer session limit). Every refusal is logged with the address and
 * the precise reason. Admitted sessions get rate limits, an output cap
 * and an idle timeout; a reload re-checks every live session.
 */
#ifndef ACGW_R3_H
#define ACGW_R3_H

#include <stddef.h>

#include "acgw/audit.h"
#include "acgw/config.h"
#include "acgw/json.h"
#include "acgw/tls.h"

struct event_base;
struct evhttp_request;
struct r3;

/*
 * A request from an admitted peer. The handler answers with
 * evhttp_send_reply() before returning.
 */
typedef void (*r3_handler)(void *arg, const char *peer,
    struct evhttp_request *req);

/*
 * audit (may be NULL) records refusals, admissions and session ends;
 * while it cannot write, new handshakes are refused (fail closed).
 */
struct r3 *r3_new(struct event_base *base, const struct config *cfg,
    const struct tls *tls, struct audit *audit, char *err, size_t errlen);
void r3_free(struct r3 *r3);

/*
 * The policy's say: NULL when peer may connect and be served, else why
 * not. Asked in every handshake (a refusal is a TLS alert), before every
 * request (a refusal closes the session) and for every live session on
 * a reload.
 */
typedef const char *(*r3_gate)(void *arg, const char *peer);
void r3_set_gate(struct r3 *r3, r3_gate fn, void *arg);

/* The SPKI SHA-256 of the key a request's session was admitted with. */
int r3_request_pin(struct evhttp_request *req, unsigned char pin[32]);

/* Serve path (exact match) with handler. */
int r3_route(struct r3 *r3, const char *path, r3_handler fn, void *arg);

/*
 * An OpenADR service request from an admitted peer: the HTTP status,
 * with *reply (malloc'd XML) and an optional *token for 200, or the
 * reason in err otherwise.
 */
typedef int (*r3_oadr_handler)(void *arg, const char *peer,
    const char *service, const char *body, size_t len, char **reply,
    size_t *replylen, void **token, char *err, size_t errlen);
/* Make what this turn's replies acknowledge durable: 0, or -1. */
typedef int (*r3_oadr_sync)(void *arg);
/* Each reply's fate: sent (1) or not (0: write failed, session gone). */
typedef void (*r3_oadr_done)(void *arg, void *token, int sent);

/*
 * Serve the 2.0b simple-HTTP services (EiRegisterParty, EiEvent,
 * EiReport, EiOpt, OadrPoll under /OpenADR2/Simple/2.0b/) with fn.
 * Replies are held to the end of the loop's turn, sync runs once for
 * all of them (group commit), and then they go out ("Content-Type:
 * application/xml"), or each gets 503 if sync failed.
 */
int r3_serve_oadr(struct r3 *r3, r3_oadr_handler fn, r3_oadr_sync sync,
    r3_oadr_done done, void *arg);

/*
 * Reload: r3_prepare binds a new listener if r3.listen changed (nothing
 * visible changes); r3_commit switches to the new config and tls for
 * new handshakes and closes live sessions whose peer is no longer
 * allowed; r3_abort drops what prepare made.
 */
int r3_prepare(struct r3 *r3, const struct config *cfg, char *err,
    size_t errlen);
void r3_commit(struct r3 *r3, const struct config *cfg,
    const struct tls *tls);
void r3_abort(struct r3 *r3);

/* Stop listening and close every session (close_notify first). */
void r3_shutdown(struct r3 *r3);

/* Closes every session of peer; returns how many. */
size_t r3_close_peer(struct r3 *r3, const char *peer, const char *why);

/* Live sessions as a JSON array value (acgwctl peers). */
void r3_sessions_json(const struct r3 *r3, struct json_buf *j);
size_t r3_nsessions(const struct r3 *r3);

#endif
