/*
 * enforce — carries out what the policy decides, on the edges: severance
 * (相互接続の中止), restoration, isolation, attestations coming in, the
 * re-evaluation timer and the watched attestation directory.
 *
 * The order of a severance is fixed: the audit record with the reason
 * first (durable), then every session of the peer closed (close_notify;
 * from the same moment new handshakes are refused), then the state
 * written (so a restart keeps it severed), then its events withdrawn and
 * re-split among the others.
 */
#ifndef ACGW_ENFORCE_H
#define ACGW_ENFORCE_H

#include <stddef.h>
#include <stdint.h>

#include "acgw/audit.h"
#include "acgw/json.h"
#include "acgw/policy.h"

#define ENFORCE_ERR_MAX 600

struct event_base;
struct r1;
struct r3;
struct relay;
struct enforce;

/* Every pointer stays the caller's; enforce_set_policy swaps policies. */
struct enforce *enforce_new(struct event_base *base, struct policy *policy,
    struct r1 *r1, struct r3 *r3, struct relay *relay, struct audit *audit,
    char *err, size_t errlen);
void enforce_free(struct enforce *e);
/* A reload's policy (the old one is the caller's to free). */
void enforce_set_policy(struct enforce *e, struct policy *policy);

/* At start: severed and isolated states from before take effect. */
void enforce_start(struct enforce *e);

/* Re-evaluate now (the timer does it every policy.reevaluate). */
void enforce_review(struct enforce *e);

/*
 * Operator commands; by = "operator:UID". 0, or -1 with why (nothing
 * changed).
 */
int enforce_sever(struct enforce *e, const char *peer, const char *reason,
    const char *by, char *err, size_t errlen);
int enforce_restore(struct enforce *e, const char *peer, const char *by,
    char *err, size_t errlen);
/* which: "r1", "r3" or "all"; on 1 isolates, 0 lifts. */
int enforce_isolate(struct enforce *e, const char *which, int on,
    const char *by, char *err, size_t errlen);

/*
 * An attestation from a source ("operator:UID", "upload", "directory").
 * expect: the peer it must be about (NULL: the one it names). On
 * acceptance the peer is re-evaluated at once; *verdict says what its
 * evaluation is ("ok" or why not). 0, or -1 with err.
 */
int enforce_attestation(struct enforce *e, const char *expect,
    const void *data, size_t len, const char *source, char *verdict,
    size_t vlen, char *err, size_t errlen);

/*
 * An RA's upload over its own session (POST /acgw/attestation): as
 * enforce_attestation for that peer, and the attestation must name the
 * session's key (pin).
 */
int enforce_upload(struct enforce *e, const char *peer,
    const unsigned char pin[32], const void *data, size_t len, char *verdict,
    size_t vlen, char *err, size_t errlen);

/* The gate r3 asks (r3_set_gate). */
const char *enforce_gate(void *arg, const char *peer);

#endif
