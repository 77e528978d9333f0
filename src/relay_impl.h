/*
 * relay internals shared by relay.c (state, persistence, control),
 * relay_up.c (the VEN side) and relay_down.c (the VTN side). Not part of
 * the public interface: include/acgw/relay.h is.
 */
#ifndef ACGW_RELAY_IMPL_H
#define ACGW_RELAY_IMPL_H

#include "acgw/dispatch.h"
#include "acgw/oadr.h"
#include "acgw/relay.h"

/* What acgw offers the TSO, and the rID of its one data point. */
#define RELAY_USAGE_SPECIFIER "ACGW-TELEMETRY-USAGE"
#define RELAY_STATUS_SPECIFIER "ACGW-TELEMETRY-STATUS"
#define RELAY_USAGE_RID "usage"
#define RELAY_STATUS_RID "status"

/* One telemetry value of an RA: interval start (on the grid) and watts. */
struct relay_sample {
	int64_t t;
	int64_t w;
};

/* An availability window an RA declared with oadrCreateOpt. */
struct relay_opt {
	char *id;
	int type;			/* enum oadr_opt_type */
	int64_t from, until;
};

enum relay_rreq_state {
	RREQ_NONE = 0,			/* nothing asked of the RA */
	RREQ_TO_SEND,			/* oadrCreateReport waits for its poll */
	RREQ_SENT,			/* handed over, no oadrCreatedReport yet */
	RREQ_ACTIVE,			/* the RA confirmed it */
	RREQ_CANCEL,			/* oadrCancelReport waits for its poll */
};

struct relay_ra {
	char name[65];
	char ven_id[65];
	char registration_id[80];
	int registered;
	int severed;			/* by policy or operator */
	int64_t registered_at, last_poll, last_request;
	uint64_t requests, invalid, mismatches, delivered;
	int rereg;			/* oadrRequestReregistration owed */
	int push;			/* registered for the push model ... */
	char push_url[300];		/* ... at this peers[].push_url */
	uint64_t pushed, push_failures;
	/* The TELEMETRY_USAGE report it offers. */
	char *poll_ok;			/* its "nothing for you" answer, built once */
	size_t poll_ok_len;
	char *usage_specifier;
	char *usage_rid;
	double usage_w_per_unit;	/* from its itemUnits/siScaleCode */
	/* What we asked of it, for the TSO's request. */
	int rreq_state;			/* enum relay_rreq_state */
	char rreq_id[80];
	int64_t rreq_granularity;
	int64_t rreq_sent_at;		/* handed out (not kept over a restart) */
	struct relay_sample *samples;
	size_t nsamples;
	struct relay_opt *opts;
	size_t nopts;
	int64_t last_update;
};

/* A report the TSO asked for (oadrCreateReport). */
struct relay_treq {
	char *request_id;
	char *specifier_id;
	int status;			/* TELEMETRY_STATUS rather than USAGE */
	int64_t granularity;
	int64_t back;
	int64_t next_from;		/* start of the next window to send */
	int64_t until;			/* 0: until cancelled */
};

enum relay_up_state {
	UP_QUERY = 0,			/* oadrQueryRegistration */
	UP_CREATE,			/* oadrCreatePartyRegistration */
	UP_REGISTER_REPORT,		/* oadrRegisterReport (METADATA) */
	UP_READY,			/* registered: poll */
};

/* A message owed to the TSO (an answer to what a poll handed us). */
struct relay_owed {
	int type;
	char *doc;
	size_t len;
};

/* The request in flight upstream and what its success settles. */
struct relay_flight {
	int type;			/* OADR_* sent; OADR_MSG_NONE: none */
	char **events;			/* oadrCreatedEvent: event IDs ... */
	uint32_t *mods;			/* ... at these modifications ... */
	int *opts;			/* ... answered so */
	size_t nevents;
	size_t treq;			/* oadrUpdateReport: which request */
	int64_t window_end;		/* ... and up to where it reported */
	int owed;			/* it was owed[0] */
};

struct relay {
	const struct config *cfg;
	const struct oadr_schema *schema;
	struct audit *audit;
	struct dispatch d;
	char **signals;			/* NULL-ended, for the engine's limits */
	struct relay_ra *ras;		/* index as d.ras */
	size_t nras;
	size_t *byname;			/* hash of RA names: index + 1, 0 empty */
	size_t nbyname;			/* a power of two, > 2 × nras */

	/* upstream */
	int up_state;
	char *ven_id;
	char *registration_id;
	char *vtn_id;
	int64_t poll_freq_us;		/* the VTN's; 0: r1.poll_interval */
	int resync;			/* oadrRequestEvent owed */
	int64_t last_poll;		/* last oadrPoll answered */
	int64_t last_answer;
	uint64_t polls, up_refused;
	char up_error[RELAY_ERR_MAX];
	struct relay_treq *treqs;
	size_t ntreqs;
	struct relay_owed *owed;
	size_t nowed;
	struct relay_flight flight;
	uint64_t seq;			/* for request IDs */

	/* a reload's new engine, from relay_prepare */
	int have_next;
	struct dispatch next_d;
	struct relay_ra *next_ras;
	size_t next_nras;
	char **next_signals;
	int64_t retry_at;		/* after a refusal, wait till then */
	int refusals;			/* the same message refused, running */

	/* persistence */
	uint64_t saved_changes;		/* d.changes when last written */
	int dirty;			/* relay state changed since */
	char state_error[RELAY_ERR_MAX];
	uint64_t writes, write_failures;
	void (*commit_cb)(void *);	/* told of every write */
	void *commit_arg;
};

/* relay.c */
int relay_commit(struct relay *r);
void relay_audit(struct relay *r, const char *type, const char *peer,
    struct json_buf *details);
void relay_request_id(struct relay *r, const char *prefix, char *buf,
    size_t len);
struct relay_ra *relay_ra_find(struct relay *r, const char *name,
    size_t *index);
void relay_sync_ras(struct relay *r, int64_t now);
char *relay_build(struct relay *r, struct oadr_msg *m, size_t *len,
    char *err, size_t errlen);
void relay_response(struct oadr_response *resp, unsigned code,
    const char *desc, const char *request_id);
int relay_parse(struct relay *r, const char *body, size_t len,
    struct oadr_msg *m, char *err, size_t errlen);
int64_t relay_grid(int64_t t, int64_t step);

/* relay_up.c */
void relay_up_reset(struct relay *r);
void relay_up_flight_clear(struct relay *r);

/* relay_down.c */
void relay_ra_clear(struct relay_ra *ra);
void relay_push_recheck(struct relay *r);
void relay_down_reports(struct relay *r);
int64_t relay_ra_window_sum(const struct relay *r, int64_t t,
    size_t *reported, size_t *expected, char *missing, size_t mlen);

#endif
