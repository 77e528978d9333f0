/*
 * dispatch — the relay's core logic, without sockets: how an upstream
 * dispatch instruction (発動指令) is checked and split among the resource
 * aggregators.
 *
 * Power is carried in integer watts throughout, so that a split is exact:
 * the shares of a target always add up to exactly the watts allocated.
 */
#ifndef ACGW_DISPATCH_H
#define ACGW_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "acgw/oadr.h"

#define DISPATCH_ERR_MAX 512

enum dispatch_rule {
	DISPATCH_PROPORTIONAL = 0,	/* to each RA's weight (contracted W) */
	DISPATCH_PRIORITY,		/* fill in rank order (lower first) */
	DISPATCH_STATIC,		/* fixed shares (weights in ppm) */
};

/* One RA as an allocation sees it. */
struct dispatch_member {
	int64_t capacity_w;	/* the most it may be given (headroom) */
	int64_t weight;		/* proportional: W; static: ppm; priority: rank */
	int eligible;		/* 0: gets nothing (opted out, late, severed) */
};

/*
 * Split target_w among the n members into out[0..n).
 *
 * The allocated total is min(target_w, the summed capacity of the eligible
 * members); no member gets more than its capacity, an ineligible member
 * gets 0, and the shares add up to the allocated total exactly.
 *
 * Proportional and static: each eligible member's exact share is
 * total × weight / Σweight; a member whose share would exceed its
 * capacity is given its capacity and the rest is shared again among the
 * others, until no share exceeds a capacity. Rounding rule (largest
 * remainder): every member gets the floor of its exact share in watts,
 * then the watts left over go one each to the members with the largest
 * fractional remainders, ties to the lower index. A member with weight 0
 * gets nothing.
 *
 * Priority: members in increasing weight (rank), ties by index, each
 * filled to its capacity until the total is reached.
 *
 * Returns the allocated total (≤ target_w), or -1 for a negative target
 * or an unknown rule (out untouched).
 */
int64_t dispatch_allocate(int rule, int64_t target_w,
    const struct dispatch_member *m, size_t n, int64_t *out);

/* What an upstream event must satisfy before anything is relayed. */
struct dispatch_limits {
	const char *const *signals;	/* "NAME/type" pairs accepted, NULL-ended */
	int64_t capacity_w;		/* the portfolio's contracted total */
	int64_t past_tolerance_us;	/* a start this far in the past is late */
	int64_t min_duration_us;
	int64_t max_duration_us;
};

/*
 * One checked signal of an upstream event: its target per interval in
 * watts, converted from the signal's units (powerReal W with its SI
 * scale; no item: kW).
 */
struct dispatch_target {
	int64_t dtstart;		/* microseconds UTC */
	size_t n;
	int64_t *duration_us;		/* per interval */
	int64_t *watts;			/* per interval */
	char *signal_name;		/* its own copy */
	int signal_type;
};

/*
 * Check an upstream event against the limits at time now (µs UTC) and
 * extract its dispatch target. 0 and *t filled (free with
 * dispatch_target_free), or -1 with the reason in why, e.g.
 * "interval 2: 1500000 W is more than the portfolio's capacity 1200000 W".
 * A cancelled event is not checked (nothing is relayed for it but its
 * cancellation).
 */
int dispatch_check_event(const struct dispatch_limits *lim,
    const struct oadr_event *ev, int64_t now, struct dispatch_target *t,
    char *why, size_t whylen);
void dispatch_target_free(struct dispatch_target *t);

/* ---- the engine ----------------------------------------------------------
 *
 * Upstream events in, per-RA events out. The caller (the R1 and R3 edges)
 * feeds what arrives and asks what to send; the engine never does I/O.
 * Every call that changes state bumps d->changes, which the caller
 * persists before it acknowledges anything.
 */

/* One RA as the engine sees it (the caller keeps it current). */
struct dispatch_ra {
	char name[64];
	int64_t contracted_w;
	int64_t available_w;		/* from EiOpt; < 0: not told */
	int64_t rank;			/* priority rule: lower first */
	int64_t share_ppm;		/* static rule */
	int active;			/* registered and not severed */
};

struct dispatch_config {
	int rule;			/* enum dispatch_rule */
	struct dispatch_limits lim;
	int64_t ack_deadline_us;	/* an RA answers within this, or is late */
	double coverage_threshold;	/* optIn upstream at this coverage, 0..1 */
};

enum dispatch_share_state {
	SHARE_PENDING = 0,		/* waiting for the RA's answer */
	SHARE_OPT_IN,
	SHARE_OPT_OUT,
	SHARE_LATE,			/* no answer by the deadline */
	SHARE_NONE,			/* the RA has no part (inactive, or 0 W) */
};

/* One RA's part of one upstream event. */
struct dispatch_share {
	uint32_t mod;			/* the RA-side modification number */
	int64_t *watts;			/* per interval ... */
	size_t n;			/* ... this many */
	int state;			/* enum dispatch_share_state */
	int cancelled;			/* the RA-side event is cancelled */
	int exists;			/* the RA has been told of this event */
	int64_t sent_at;		/* this mod handed to the RA; 0: not yet */
	int64_t deadline;		/* answer by then (from delivery, or from
					 * the first tick it waited undelivered) */
	int64_t answered_at;
};

struct dispatch_event {
	char *id;
	uint32_t mod;			/* upstream modification number */
	int cancelled;			/* upstream cancelled (or implied) */
	int refused;			/* failed the checks: optOut, nothing relayed */
	char why[DISPATCH_ERR_MAX];
	struct oadr_event up;		/* the upstream event as last received */
	struct dispatch_target target;
	struct dispatch_share *shares;	/* one per RA (index as d->ras) */
	int64_t received_at;
	int answered;			/* an upstream answer was given ... */
	uint32_t answered_mod;		/* ... for this modification ... */
	int answered_opt;		/* ... with this opt (enum oadr_opt_type) */
};

struct dispatch {
	struct dispatch_config cfg;
	struct dispatch_ra *ras;
	size_t nras;
	struct dispatch_event *events;
	size_t nevents;
	uint64_t changes;
};

/* Takes copies of nothing: cfg and ras are copied in. */
int dispatch_init(struct dispatch *d, const struct dispatch_config *cfg,
    const struct dispatch_ra *ras, size_t nras);
void dispatch_free(struct dispatch *d);

/*
 * An oadrDistributeEvent from the VTN at time now: new events are checked
 * and split, higher modification numbers re-split (RAs whose part changed
 * get a new modification), cancellations and events no longer listed
 * (implied cancellation) cancel every RA's part; a repeat changes
 * nothing for the RAs but is answered upstream again, as before.
 * Returns how many events changed.
 */
size_t dispatch_distribution(struct dispatch *d,
    const struct oadr_distribute_event *de, int64_t now);

/* The RA at index ra was handed its current events at now. */
void dispatch_delivered(struct dispatch *d, size_t ra, int64_t now);

/*
 * The RA's answer to its event event_id, modification mod. An optOut
 * moves its part to the others. -1 if the RA has no such event or the
 * modification is not its current one (a stale answer: ignored).
 */
int dispatch_answer(struct dispatch *d, size_t ra, const char *event_id,
    uint32_t mod, int opt, int64_t now);

/*
 * After a restart: parts handed to an RA that it has not answered since
 * are queued again (the reply may have died with the process after the
 * state was written). Answered parts are never handed out twice; an RA
 * may see an unanswered modification again, which OpenADR treats as a
 * repeat. Returns how many.
 */
size_t dispatch_requeue_unanswered(struct dispatch *d);

/* Has RA ra events it has not been handed in their current form? */
int dispatch_ra_pending(const struct dispatch *d, size_t ra);

/*
 * Forget events that are over: cancelled or completed before
 * now - keep_us, answered upstream, and with nothing left to hand to an
 * RA. Returns how many went.
 */
size_t dispatch_prune(struct dispatch *d, int64_t now, int64_t keep_us);

/* Deadlines: parts not answered in time are late and move. Changes. */
size_t dispatch_tick(struct dispatch *d, int64_t now);

/* An RA registered, severed or changed availability: every event re-split. */
size_t dispatch_ras_changed(struct dispatch *d, const struct dispatch_ra *ras,
    size_t nras);

/*
 * Coverage of an event: the least, over its intervals, of the watts RAs
 * accepted (optIn) over the target, 0..1 (1 for a cancelled event).
 */
double dispatch_coverage(const struct dispatch *d,
    const struct dispatch_event *e);

/*
 * The upstream answer an event needs now, if any: 1 and *opt when the
 * event has no answer for its current modification and every RA's part
 * is settled (answered, late or none), or it was refused, or it is
 * cancelled; 0 otherwise. dispatch_answered records that it was sent.
 */
int dispatch_upstream_due(const struct dispatch *d, size_t i, int *opt);
void dispatch_answered(struct dispatch *d, size_t i, int opt);

/*
 * The events RA ra must see in its oadrDistributeEvent, appended to
 * out (values in kW with powerReal units; venID targets left to the
 * caller). 0, or -1 on out of memory.
 */
int dispatch_ra_events(const struct dispatch *d, size_t ra, int64_t now,
    struct oadr_distribute_event *out);

/*
 * The engine's state as JSON (dispatch_save; the RAs are named, the
 * upstream events kept as the codec writes them) and back
 * (dispatch_load, into an engine made with the current RAs: parts of RAs
 * no longer configured are dropped). dispatch_load replaces the events
 * whole or leaves them as they were. 0, or -1 with err.
 */
struct json_buf;
int dispatch_save(const struct dispatch *d, struct json_buf *j, char *err,
    size_t errlen);
int dispatch_load(struct dispatch *d, const char *text, size_t len,
    char *err, size_t errlen);

#endif
