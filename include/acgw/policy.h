/*
 * policy — who may stay interconnected (相互接続の中止): every configured
 * peer's state (pending, admitted, severed), the attestation it holds and
 * the verdict on it, the control catalog, the isolation switches, and
 * the anomaly thresholds. No I/O but its own state files: the caller
 * (acgwd) carries out what policy_review decides — audit record first,
 * then the state, then the sessions.
 */
#ifndef ACGW_POLICY_H
#define ACGW_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "acgw/attest.h"
#include "acgw/config.h"
#include "acgw/json.h"

#define POLICY_ERR_MAX 512
#define POLICY_STATE_FILE "policy.json"

enum policy_state {
	POLICY_PENDING = 0,		/* no passing attestation yet */
	POLICY_ADMITTED,
	POLICY_SEVERED,
};

struct policy_control {
	char *id;
	char *title;
	char **sections;		/* guideline sections it comes from */
	size_t nsections;
};

struct policy;

/*
 * The policy of cfg: the catalog (every required control must be in it),
 * the assessor trust anchor (when policy.enabled), the peers' states and
 * attestations kept in dispatch.state_dir from an earlier run (re-checked
 * now). NULL with err ("file:line:col: key: reason" where it can).
 */
struct policy *policy_new(const struct config *cfg, int64_t now, char *err,
    size_t errlen);
void policy_free(struct policy *p);

/*
 * Reload: a new policy for cfg carrying over every peer's state and
 * attestation from old (by name). NULL with err: old stays.
 */
struct policy *policy_reload(const struct policy *old,
    const struct config *cfg, int64_t now, char *err, size_t errlen);

/* The cheap check (handshake, every request): NULL, or why not. */
const char *policy_refusal(const struct policy *p, const char *peer);

/*
 * An attestation from a source (for the record: "operator", "upload",
 * "directory FILE"). expect: the peer it must be about (NULL: the one it
 * names, which must be configured). It must verify (attest_verify) and be
 * newer (issued later) than the one held, which it then replaces — even
 * if the policy then finds it insufficient (a newer assessment speaks
 * for the peer). 0 and the peer's name in peer; -1 and why; 1 and why
 * when it verifies but is not newer than the one held.
 */
int policy_offer(struct policy *p, const char *expect, const void *data,
    size_t len, int64_t now, char *peer, size_t peerlen, char *err,
    size_t errlen);

/* The verdict on a peer's current attestation now: 0 "ok", -1 why. */
int policy_evaluate(const struct policy *p, const char *peer, int64_t now,
    char *why, size_t whylen);

enum policy_action_kind {
	POLICY_DO_SEVER = 0,		/* close, refuse, withdraw its events */
	POLICY_DO_ADMIT,		/* a pending peer's attestation passes */
	POLICY_DO_RESTORE,		/* restore: auto, and it passes again */
	POLICY_DO_WARN,			/* failure_action warn: only logged */
	POLICY_DO_EXPIRY,		/* its attestation expires soon */
};

struct policy_action {
	int kind;			/* enum policy_action_kind */
	char peer[65];
	char reason[POLICY_ERR_MAX];
	int level;			/* POLICY_DO_EXPIRY: 1 warning, 2 critical */
};

/*
 * Every peer re-evaluated at now. Returns what must happen (malloc'd,
 * *n entries; the caller frees it), without changing any state: the
 * caller records each action, then policy_mark()s it.
 */
struct policy_action *policy_review(struct policy *p, int64_t now,
    size_t *n);

/* Anomaly counters of a peer (running totals): 1 and why when over. */
int policy_anomaly(struct policy *p, const char *peer, uint64_t invalid,
    uint64_t mismatches, int64_t now, char *why, size_t whylen);

/*
 * Set a peer's state after its audit record is written. by: "policy",
 * "operator:UID". The expiry level for POLICY_DO_EXPIRY is kept too.
 */
void policy_mark(struct policy *p, const char *peer, int state,
    const char *reason, const char *by, int64_t now);
void policy_mark_warned(struct policy *p, const char *peer, int level);

/* Can an operator restore peer now? 0, or -1 and why not. */
int policy_restorable(const struct policy *p, const char *peer, int64_t now,
    char *why, size_t whylen);

/* Isolation (incident kill switch): which = "r1", "r3". */
int policy_isolated(const struct policy *p, const char *which);
void policy_set_isolated(struct policy *p, const char *which, int on);

/* Write the state (policy.json and held attestations): 0, or -1. */
int policy_commit(struct policy *p, char *err, size_t errlen);

int policy_state_of(const struct policy *p, const char *peer);
size_t policy_npeers(const struct policy *p);
/* The assessor trust anchor; NULL when attestations are not in use. */
const struct attest_anchor *policy_anchor(const struct policy *p);
const char *policy_peer_name(const struct policy *p, size_t i);
/* policy.attestation_dir when attestations are in use, else NULL. */
const char *policy_attestation_dir(const struct policy *p);
uint64_t policy_reevaluate_ms(const struct policy *p);
const char *policy_state_name(int state);
const struct policy_control *policy_catalog(const struct policy *p,
    size_t *n);

/* Control views: "peers" rows; one peer's attestation. */
void policy_peers_json(const struct policy *p, int64_t now,
    struct json_buf *j);
int policy_attest_json(const struct policy *p, const char *peer, int64_t now,
    struct json_buf *j, char *err, size_t errlen);

#endif
