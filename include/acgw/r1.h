/*
 * r1 — the upstream edge: acgwd's mTLS link to the TSO's 簡易指令システム,
 * an evhttp client over bufferevent_openssl.
 *
 * acgwd is the VEN and speaks first. What it says is decided by a
 * conversation (the relay's VEN side): r1 asks it for the next request,
 * POSTs it, and hands it the answer; a request that gets no answer backs
 * off exponentially with jitter up to r1.backoff_max. The server must chain
 * to r1.ca, carry r1.server_name (or the URL host) and, if configured,
 * present the key r1.pin names.
 */
#ifndef ACGW_R1_H
#define ACGW_R1_H

#include "acgw/audit.h"
#include "acgw/config.h"
#include "acgw/json.h"
#include "acgw/tls.h"

struct event_base;
struct r1;

/* The VEN's side of the talk (relay_up_next, relay_up_answer, ...). */
struct r1_conv {
	/* 1 and a request (doc malloc'd, r1 frees it), or 0: ask again
	 * after *wait_ms. */
	int (*next)(void *arg, const char **service, char **doc, size_t *len,
	    uint64_t *wait_ms);
	/* The HTTP answer to the last request. */
	void (*answer)(void *arg, int status, const char *body, size_t len);
	/* The last request got no answer. */
	void (*failed)(void *arg);
	void *arg;
};

/* audit (may be NULL) records the link going up and down. */
struct r1 *r1_new(struct event_base *base, const struct config *cfg,
    const struct tls *tls, const struct r1_conv *conv, struct audit *audit);
void r1_free(struct r1 *r1);

/* Reload: a changed link setting reconnects at once; else nothing moves. */
void r1_commit(struct r1 *r1, const struct config *cfg, const struct tls *tls);

/* Incident kill switch: 1 closes the link and keeps it closed; 0 lifts. */
void r1_isolate(struct r1 *r1, int on);

/* Something is due now: ask the conversation at once (if idle and up). */
void r1_kick(struct r1 *r1);

/* Stop: no new attempts; the connection is closed. */
void r1_shutdown(struct r1 *r1);

/* Link state members for status: state, failures, last success, ... */
void r1_status_json(const struct r1 *r1, struct json_buf *j);

#endif
