/*
 * scenario — the timeline acgw-mockdispatch plays: YAML (libyaml) into
 * steps, every error with file:line:column and the key path. See
 * acgw-mockdispatch(1) for the format.
 */
#ifndef ACGW_TOOLS_SCENARIO_H
#define ACGW_TOOLS_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#define SCENARIO_ERR_MAX 512

enum step_kind {
	STEP_EVENT,		/* issue an event */
	STEP_MODIFY,		/* new values, modificationNumber + 1 */
	STEP_CANCEL,		/* eventStatus cancelled, modificationNumber + 1 */
	STEP_REMOVE,		/* left out of distributions: implied cancel */
	STEP_REQUEST_REPORT,	/* oadrCreateReport to every VEN */
	STEP_REREGISTER,	/* oadrRequestReregistration */
	STEP_CANCEL_REGISTRATION, /* oadrCancelPartyRegistration */
	STEP_SILENT,		/* stop listening for a while */
	STEP_DROP,		/* close every connection */
	STEP_RESTART,		/* forget every registration (events stay) */
	STEP_EXPECT_REGISTRATION,
	STEP_EXPECT_RESPONSE,
	STEP_EXPECT_REPORT,
	STEP_EXPECT_TLS,
	STEP_KIND_COUNT
};

struct step {
	int kind;
	uint64_t at_ms;			/* from the start of the run */
	size_t line, col;		/* where the step starts in the file */
	size_t index;			/* its place in the file's list */
	char *event_id;
	/* event, modify */
	char *signal_name;
	int signal_type;		/* enum oadr_signal_type */
	char *units;			/* "kW", "MW", "W" or NULL */
	double *values;			/* one per interval */
	size_t nvalues;
	uint64_t interval_ms;
	int64_t start_ms;		/* event start, from the step's time */
	int have_start;
	int response_required;		/* enum oadr_response_required */
	int test;
	char *market_context;
	/* request_report */
	char *request_id;
	char *report_name;
	uint64_t granularity_ms;
	uint64_t back_ms;
	uint64_t duration_ms;		/* 0: open-ended */
	/* silent */
	uint64_t duration;
	/* expectations */
	uint64_t within_ms;
	int again;			/* expect_registration: since this step */
	long vens;			/* -1: every registered VEN */
	int opt;			/* enum oadr_opt_type */
	uint32_t min_reports;
	int have_value;
	double value, tolerance;	/* tolerance: relative, 0.05 = 5 % */
	int aggregate_sum;		/* value is the sum over VENs */
	char **rids;			/* expect_report: each must be reported */
	size_t nrids;
	char *min_version;		/* "TLSv1.2" */
	char **ciphers;
	size_t nciphers;
};

struct scenario {
	char *path;
	char *name;
	char *vtn_id;
	uint64_t poll_freq_ms;
	char *market_context;
	struct step *steps;
	size_t nsteps;
	uint64_t end_ms;		/* the last step's time plus its window */
};

/* Text for an XML attribute (the tools' JUnit results). */
#include <stdio.h>
void scenario_xml_escape(FILE *f, const char *s);

/* NULL with err ("file:line:col: steps[2].event.start: ...") on failure. */
struct scenario *scenario_load(const char *path, char *err, size_t errlen);
void scenario_free(struct scenario *s);
const char *scenario_step_name(int kind);
/* "step 4 (expect_response at 5s)" for messages. */
void scenario_step_label(const struct scenario *s, size_t i, char *buf,
    size_t len);

/*
 * Small helpers over a libyaml document, shared with acgw-mockra's
 * behaviour file: each returns 0, or -1 with err set to
 * "file:line:col: key: reason".
 */
struct ydoc {
	const char *path;
	yaml_document_t doc;
	char *err;
	size_t errlen;
	int failed;
};
int ydoc_load(struct ydoc *y, const char *path, char *err, size_t errlen);
void ydoc_free(struct ydoc *y);
yaml_node_t *ydoc_root(struct ydoc *y);
void ydoc_fail(struct ydoc *y, const yaml_node_t *n, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Every key of map n must be in keys (NULL-terminated). */
int ydoc_keys(struct ydoc *y, yaml_node_t *n, const char *key,
    const char *const *keys);
yaml_node_t *ydoc_get(struct ydoc *y, yaml_node_t *map, const char *name);
const char *ydoc_scalar(struct ydoc *y, yaml_node_t *n, const char *key);
int ydoc_str(struct ydoc *y, yaml_node_t *n, const char *key, char **out);
int ydoc_duration(struct ydoc *y, yaml_node_t *n, const char *key,
    uint64_t *ms);
int ydoc_double(struct ydoc *y, yaml_node_t *n, const char *key, double *v);
int ydoc_long(struct ydoc *y, yaml_node_t *n, const char *key, long min,
    long max, long *v);
int ydoc_bool(struct ydoc *y, yaml_node_t *n, const char *key, int *v);
int ydoc_choice(struct ydoc *y, yaml_node_t *n, const char *key,
    const char *const *choices, int *v);

#endif
