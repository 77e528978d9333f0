/*
 * relay — acgw's main job, without sockets: acgwd as the VEN of the TSO's
 * 簡易指令システム (R1, upstream) and as the VTN of the resource
 * aggregators (R3, downstream), with the dispatch engine between them,
 * telemetry aggregation, and the state that must survive a crash.
 *
 * The edges (r1, r3) move bytes; everything OpenADR happens here, so it
 * can be tested without a network. Every entry point that changes state
 * writes the state file (acgw-state(5)) before it returns anything that
 * acknowledges the change: a reply to an RA, or the next message to the
 * TSO. When the state cannot be written, nothing is acknowledged.
 */
#ifndef ACGW_RELAY_H
#define ACGW_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "acgw/audit.h"
#include "acgw/config.h"
#include "acgw/json.h"

#define RELAY_ERR_MAX 512
#define RELAY_STATE_FILE "relay.json"

struct oadr_schema;
struct relay;

/*
 * Loads dispatch.state_dir/relay.json if it exists (state from a run
 * before; RAs no longer configured are dropped). NULL with err when the
 * file exists but cannot be read or is not a valid state.
 */
struct relay *relay_new(const struct config *cfg,
    const struct oadr_schema *schema, struct audit *audit, int64_t now,
    char *err, size_t errlen);
void relay_free(struct relay *r);

/*
 * Reload: relay_prepare builds the engine for cfg's peers and dispatch
 * settings aside (-1 with err: nothing changes; dispatch.state_dir
 * cannot change on a reload); relay_switch puts it in force (RAs added
 * or removed, allocations re-split) and cannot fail; relay_abort drops
 * what prepare built.
 */
int relay_prepare(struct relay *r, const struct config *cfg, char *err,
    size_t errlen);
void relay_switch(struct relay *r, const struct config *cfg,
    const struct oadr_schema *schema, int64_t now);
void relay_abort(struct relay *r);

/* ---- upstream: the VEN's conversation with the TSO ------------------- */

/*
 * The next request for the TSO at now: 1 with *service and *doc (malloc'd,
 * the caller frees it), or 0 when nothing is due; *wait_ms then says when
 * to ask again. One request at a time: the answer (or the failure) comes
 * back through relay_up_answer or relay_up_failed before the next.
 */
int relay_up_next(struct relay *r, int64_t now, const char **service,
    char **doc, size_t *len, uint64_t *wait_ms);

/* The TSO's HTTP answer to the request relay_up_next gave. */
void relay_up_answer(struct relay *r, int64_t now, int status,
    const char *body, size_t len);

/*
 * The request got no answer (link down). After the link returns the
 * events are resynchronised with oadrRequestEvent.
 */
void relay_up_failed(struct relay *r, int64_t now);

/* ---- downstream: an RA's request on its R3 session ------------------ */

/*
 * One request from the configured peer named peer, POSTed to service.
 * Returns the HTTP status: 200 with *reply (malloc'd, an OpenADR
 * document; OpenADR-level refusals are eiResponse codes inside it), or
 * 400 (unparsable), 403 (not a configured or a severed RA), 404, or 503
 * with the reason in err.
 *
 * Nothing is written here: the caller writes the state (relay_flush)
 * before it sends any reply, once for all the replies of one turn of its
 * loop (group commit). *undo (may be NULL) says what the reply hands
 * over: if the reply does not go out (the write failed, the session
 * closed), relay_undo_apply queues it again; either way relay_undo_free.
 */
struct relay_undo;
int relay_ra_request(struct relay *r, const char *peer, const char *service,
    const char *body, size_t len, int64_t now, char **reply,
    size_t *replylen, struct relay_undo **undo, char *err, size_t errlen);
void relay_undo_apply(struct relay *r, struct relay_undo *u);

/*
 * Push model, for an RA that registered with oadrHttpPullModel false at
 * its peers[].push_url: the next message owed to it, as its poll would
 * have had it. 1 with *doc (to POST to *service there; the state must
 * be flushed before it leaves), 0 when nothing is owed, -1 on error.
 * relay_ra_pushed takes the endpoint's answer (status 0: none) and the
 * undo; 0 when delivered, -1 when it was taken back.
 */
int relay_ra_push_next(struct relay *r, const char *peer, int64_t now,
    const char **service, char **doc, size_t *len, struct relay_undo **undo,
    char *err, size_t errlen);
int relay_ra_pushed(struct relay *r, const char *peer, int64_t now,
    int status, const char *body, size_t len, struct relay_undo *undo);
/* Registered for push, and not severed. */
int relay_ra_pushable(const struct relay *r, const char *peer);
/* Called after every write of the state that changed it. */
void relay_set_commit_cb(struct relay *r, void (*cb)(void *), void *arg);
void relay_undo_free(struct relay_undo *u);

/* An RA's running totals of invalid payloads and venID mismatches. */
int relay_ra_counters(const struct relay *r, const char *peer,
    uint64_t *invalid, uint64_t *mismatches);

/* An RA severed or released from severance (policy): 0, or -1 unknown. */
int relay_ra_set_active(struct relay *r, const char *peer, int active,
    int64_t now);

/* ---- time ----------------------------------------------------------- */

/*
 * Deadlines, availability windows, pruning, state written if changed.
 * Returns 1 when something is now due upstream (kick the R1 link).
 */
int relay_tick(struct relay *r, int64_t now);

/* Write the state now if it changed (at stop): 0, or -1. */
int relay_flush(struct relay *r);

/* Did the last state write fail? (status, and a reason for 503s) */
const char *relay_state_error(const struct relay *r);

/* ---- control -------------------------------------------------------- */

/* Members "events" (one row per upstream event) and "allocations" (one
 * row per event and RA). */
void relay_events_json(const struct relay *r, int64_t now, struct json_buf *j);
/* admission (may be NULL) names each RA's policy state (acgwctl ras). */
void relay_ras_json(const struct relay *r, int64_t now, struct json_buf *j,
    const char *(*admission)(void *, const char *), void *arg);
/* Members (not an object) describing the VEN side: venID, state, ... */
void relay_up_json(const struct relay *r, struct json_buf *j);

#endif
