/*
 * r1 — the upstream edge: acgwd's mTLS link to the TSO's 簡易指令システム,
 * an evhttp client over bufferevent_openssl.
 *
 * acgwd is the VEN and speaks first: at r1.poll_interval it POSTs to the
 * VTN (for now the registration query, oadrQueryRegistration, which any
 * 2.0b VTN answers without prior state; built and its answer decoded by
 * the oadr codec); a failure backs off
 * exponentially with jitter up to r1.backoff_max. The server must chain
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
struct oadr_schema;
struct r1;

/*
 * audit (may be NULL) records the link going up and down; schema (may be
 * NULL) is the compiled 2.0b XSD every payload is also checked against.
 */
struct r1 *r1_new(struct event_base *base, const struct config *cfg,
    const struct tls *tls, const struct oadr_schema *schema,
    struct audit *audit);
void r1_free(struct r1 *r1);

/* Reload: a changed link setting reconnects at once; else nothing moves. */
void r1_commit(struct r1 *r1, const struct config *cfg, const struct tls *tls,
    const struct oadr_schema *schema);

/* Stop: no new attempts; the connection is closed. */
void r1_shutdown(struct r1 *r1);

/* Link state members for status: state, failures, last success, ... */
void r1_status_json(const struct r1 *r1, struct json_buf *j);

#endif
