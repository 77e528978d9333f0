/*
 * push — the push model of R3: acgwd POSTs what it owes an RA to the
 * RA's own endpoint (peers[].push_url) instead of waiting for its poll.
 *
 * Only an RA that registered with oadrHttpPullModel false, at exactly
 * the address the operator configured, is pushed to. acgwd connects with
 * its R3 certificate and accepts the endpoint only if its certificate
 * chains to the peers' CAs (CRLs checked) and its key is one of that
 * peer's pins. What is pushed is what a poll would have handed over, in
 * the same order, written durably first; an endpoint that does not
 * answer 200 gets it again after a backoff (1 s doubling up to
 * r3.push_backoff_max), and meanwhile its events stay undelivered, so
 * the acknowledgement deadline moves them to the other RAs as for a
 * silent pull RA.
 */
#ifndef ACGW_PUSH_H
#define ACGW_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "acgw/config.h"
#include "acgw/json.h"
#include "acgw/relay.h"
#include "acgw/tls.h"

struct event_base;
struct push;

/* relay and tls stay the caller's; push_commit follows a reload. */
struct push *push_new(struct event_base *base, struct relay *relay,
    const struct config *cfg, struct tls *tls, char *err, size_t errlen);
void push_commit(struct push *p, const struct config *cfg, struct tls *tls);
void push_free(struct push *p);

/* Something may be owed to a push RA: looked at from the loop. */
void push_kick(struct push *p);

/* One object per push endpoint, for acgwctl ras / status. */
void push_json(const struct push *p, struct json_buf *j);

#endif
