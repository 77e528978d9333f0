/*
 * scenario — acgw-mockdispatch's timeline, from YAML.
 *
 * libyaml's document loader gives a node tree with positions; the
 * helpers below (ydoc_*) turn each node into a typed value or an error
 * naming file:line:column and the key path, and refuse unknown keys, so
 * that a typo in a scenario is reported instead of silently ignored.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acgw/oadr.h"
#include "acgw/units.h"
#include "scenario.h"

static const char *const step_names[STEP_KIND_COUNT] = {
	[STEP_EVENT] = "event",
	[STEP_MODIFY] = "modify",
	[STEP_CANCEL] = "cancel",
	[STEP_REMOVE] = "remove",
	[STEP_REQUEST_REPORT] = "request_report",
	[STEP_REREGISTER] = "reregister",
	[STEP_CANCEL_REGISTRATION] = "cancel_registration",
	[STEP_SILENT] = "silent",
	[STEP_DROP] = "drop",
	[STEP_RESTART] = "restart",
	[STEP_EXPECT_REGISTRATION] = "expect_registration",
	[STEP_EXPECT_RESPONSE] = "expect_response",
	[STEP_EXPECT_REPORT] = "expect_report",
	[STEP_EXPECT_TLS] = "expect_tls",
};

const char *
scenario_step_name(int kind)
{
	if (kind < 0 || kind >= STEP_KIND_COUNT)
		return "?";
	return step_names[kind];
}

/* ---- YAML helpers ------------------------------------------------------- */

int
ydoc_load(struct ydoc *y, const char *path, char *err, size_t errlen)
{
	yaml_parser_t p;
	FILE *f;
	int ok;

	memset(y, 0, sizeof(*y));
	y->path = path;
	y->err = err;
	y->errlen = errlen;
	if ((f = fopen(path, "rb")) == NULL)
		return units_errf(err, errlen, "%s: %s", path, strerror(errno));
	if (!yaml_parser_initialize(&p)) {
		fclose(f);
		return units_errf(err, errlen, "out of memory");
	}
	yaml_parser_set_input_file(&p, f);
	ok = yaml_parser_load(&p, &y->doc);
	if (!ok)
		units_errf(err, errlen, "%s:%zu:%zu: %s", path,
		    p.problem_mark.line + 1, p.problem_mark.column + 1,
		    p.problem ? p.problem : "not YAML");
	yaml_parser_delete(&p);
	fclose(f);
	if (!ok)
		return -1;
	if (yaml_document_get_root_node(&y->doc) == NULL) {
		yaml_document_delete(&y->doc);
		return units_errf(err, errlen, "%s: empty document", path);
	}
	return 0;
}

void
ydoc_free(struct ydoc *y)
{
	yaml_document_delete(&y->doc);
}

yaml_node_t *
ydoc_root(struct ydoc *y)
{
	return yaml_document_get_root_node(&y->doc);
}

void
ydoc_fail(struct ydoc *y, const yaml_node_t *n, const char *key,
    const char *fmt, ...)
{
	char why[SCENARIO_ERR_MAX];
	va_list ap;

	if (y->failed)
		return;
	y->failed = 1;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(y->err, y->errlen, "%s:%zu:%zu: %s%s%s", y->path,
	    n ? n->start_mark.line + 1 : 0, n ? n->start_mark.column + 1 : 0,
	    key ? key : "", key ? ": " : "", why);
}

yaml_node_t *
ydoc_get(struct ydoc *y, yaml_node_t *map, const char *name)
{
	yaml_node_pair_t *pr;

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pr = map->data.mapping.pairs.start;
	    pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pr->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, name))
			return yaml_document_get_node(&y->doc, pr->value);
	}
	return NULL;
}

int
ydoc_keys(struct ydoc *y, yaml_node_t *n, const char *key,
    const char *const *keys)
{
	yaml_node_pair_t *pr, *q;
	char path[256];

	if (n->type != YAML_MAPPING_NODE) {
		ydoc_fail(y, n, key, "expected a mapping");
		return -1;
	}
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	    pr++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pr->key);
		const char *name;
		size_t i;

		if (!k || k->type != YAML_SCALAR_NODE) {
			ydoc_fail(y, k, key, "keys must be plain names");
			return -1;
		}
		name = (const char *)k->data.scalar.value;
		for (i = 0; keys[i] && strcmp(keys[i], name); i++)
			;
		snprintf(path, sizeof(path), "%s%s%s", key ? key : "",
		    key ? "." : "", name);
		if (!keys[i]) {
			ydoc_fail(y, k, path, "unknown key");
			return -1;
		}
		for (q = n->data.mapping.pairs.start; q < pr; q++) {
			yaml_node_t *o = yaml_document_get_node(&y->doc,
			    q->key);

			if (o && o->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)o->data.scalar.value, name)) {
				ydoc_fail(y, k, path, "duplicate key");
				return -1;
			}
		}
	}
	return 0;
}

const char *
ydoc_scalar(struct ydoc *y, yaml_node_t *n, const char *key)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE) {
		ydoc_fail(y, n, key, "expected a single value");
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

int
ydoc_str(struct ydoc *y, yaml_node_t *n, const char *key, char **out)
{
	const char *s = ydoc_scalar(y, n, key);

	if (s == NULL)
		return -1;
	if (*s == '\0') {
		ydoc_fail(y, n, key, "empty");
		return -1;
	}
	free(*out);
	if ((*out = strdup(s)) == NULL) {
		ydoc_fail(y, n, key, "out of memory");
		return -1;
	}
	return 0;
}

int
ydoc_duration(struct ydoc *y, yaml_node_t *n, const char *key, uint64_t *ms)
{
	const char *s = ydoc_scalar(y, n, key);
	char why[256];

	if (s == NULL)
		return -1;
	if (units_parse_duration(s, ms, why, sizeof(why)) != 0) {
		ydoc_fail(y, n, key, "%s", why);
		return -1;
	}
	return 0;
}

int
ydoc_double(struct ydoc *y, yaml_node_t *n, const char *key, double *v)
{
	const char *s = ydoc_scalar(y, n, key);
	char *end;

	if (s == NULL)
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno || !isfinite(*v)) {
		ydoc_fail(y, n, key, "\"%s\" is not a number", s);
		return -1;
	}
	return 0;
}

int
ydoc_long(struct ydoc *y, yaml_node_t *n, const char *key, long min,
    long max, long *v)
{
	const char *s = ydoc_scalar(y, n, key);
	char *end;

	if (s == NULL)
		return -1;
	errno = 0;
	*v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno || *v < min || *v > max) {
		ydoc_fail(y, n, key, "\"%s\" is not a whole number from %ld to "
		    "%ld", s, min, max);
		return -1;
	}
	return 0;
}

int
ydoc_bool(struct ydoc *y, yaml_node_t *n, const char *key, int *v)
{
	static const char *const tf[] = { "false", "true", NULL };

	return ydoc_choice(y, n, key, tf, v);
}

int
ydoc_choice(struct ydoc *y, yaml_node_t *n, const char *key,
    const char *const *choices, int *v)
{
	const char *s = ydoc_scalar(y, n, key);
	char list[256];
	size_t i, o = 0;

	if (s == NULL)
		return -1;
	for (i = 0; choices[i]; i++)
		if (!strcmp(s, choices[i])) {
			*v = (int)i;
			return 0;
		}
	list[0] = '\0';
	for (i = 0; choices[i] && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
		    i ? ", " : "", choices[i]);
	ydoc_fail(y, n, key, "\"%s\" is not one of %s", s, list);
	return -1;
}

/* ---- steps ---------------------------------------------------------------- */

static int
get_values(struct ydoc *y, yaml_node_t *n, const char *key, struct step *st)
{
	yaml_node_item_t *it;
	char path[256];
	size_t k = 0;

	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.top == n->data.sequence.items.start) {
		ydoc_fail(y, n, key, "expected a list of numbers, one per "
		    "interval");
		return -1;
	}
	st->nvalues = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	free(st->values);
	if ((st->values = calloc(st->nvalues, sizeof(double))) == NULL) {
		ydoc_fail(y, n, key, "out of memory");
		return -1;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	    it++, k++) {
		snprintf(path, sizeof(path), "%s[%zu]", key, k);
		if (ydoc_double(y, yaml_document_get_node(&y->doc, *it), path,
		    &st->values[k]) != 0)
			return -1;
	}
	return 0;
}

static int
get_strings(struct ydoc *y, yaml_node_t *n, const char *key, char ***v,
    size_t *nv)
{
	yaml_node_item_t *it;

	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.top == n->data.sequence.items.start) {
		ydoc_fail(y, n, key, "expected a list of names");
		return -1;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	    it++) {
		char **c = oadr_append((void **)v, nv, sizeof(char *));

		if (!c || ydoc_str(y, yaml_document_get_node(&y->doc, *it),
		    key, c) != 0)
			return -1;
	}
	return 0;
}

static int
get_vens(struct ydoc *y, yaml_node_t *n, const char *key, long *v)
{
	const char *s = ydoc_scalar(y, n, key);

	if (s == NULL)
		return -1;
	if (!strcmp(s, "all")) {
		*v = -1;
		return 0;
	}
	return ydoc_long(y, n, key, 1, 1000000, v);
}

static int
get_tolerance(struct ydoc *y, yaml_node_t *n, const char *key, double *v)
{
	const char *s = ydoc_scalar(y, n, key);
	char *end;

	if (s == NULL)
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (*end == '%' && end[1] == '\0')
		*v /= 100;
	else if (*end != '\0')
		*v = -1;
	if (*s == '\0' || errno || !(*v >= 0 && *v <= 10)) {
		ydoc_fail(y, n, key, "\"%s\" is not a tolerance (\"5%%\" or "
		    "0.05)", s);
		return -1;
	}
	return 0;
}

#define KEY(name) (snprintf(path, sizeof(path), "%s.%s", base, name), path)

static int
parse_event(struct ydoc *y, yaml_node_t *n, const char *base, struct step *st)
{
	static const char *const ev_keys[] = { "id", "signal", "type",
	    "units", "start", "interval", "values", "response_required",
	    "test", "market_context", NULL };
	static const char *const mod_keys[] = { "event", "start", "interval",
	    "values", NULL };
	static const char *const rr[] = { "always", "never", NULL };
	static const char *const units[] = { "W", "kW", "MW", NULL };
	const char *const *types = oadr_signal_type_names;
	int is_event = st->kind == STEP_EVENT;
	yaml_node_t *v;
	char path[192];
	int u;

	if (ydoc_keys(y, n, base, is_event ? ev_keys : mod_keys) != 0)
		return -1;
	v = ydoc_get(y, n, is_event ? "id" : "event");
	if (!v) {
		ydoc_fail(y, n, base, "needs \"%s\"", is_event ? "id" : "event");
		return -1;
	}
	if (ydoc_str(y, v, KEY(is_event ? "id" : "event"), &st->event_id))
		return -1;
	if ((v = ydoc_get(y, n, "start"))) {
		uint64_t ms;

		if (ydoc_duration(y, v, KEY("start"), &ms) != 0)
			return -1;
		st->start_ms = (int64_t)ms;
		st->have_start = 1;
	}
	if ((v = ydoc_get(y, n, "interval")) &&
	    ydoc_duration(y, v, KEY("interval"), &st->interval_ms) != 0)
		return -1;
	if (st->interval_ms && st->interval_ms % 1000) {
		ydoc_fail(y, v, KEY("interval"), "must be whole seconds");
		return -1;
	}
	if ((v = ydoc_get(y, n, "values")) &&
	    get_values(y, v, KEY("values"), st) != 0)
		return -1;
	if (!is_event)
		return 0;
	if (!st->nvalues || !st->interval_ms) {
		ydoc_fail(y, n, base, "needs \"values\" and \"interval\"");
		return -1;
	}
	if ((v = ydoc_get(y, n, "signal"))) {
		if (ydoc_str(y, v, KEY("signal"), &st->signal_name) != 0)
			return -1;
	} else if (!(st->signal_name = strdup("LOAD_DISPATCH")))
		return -1;
	st->signal_type = OADR_SIGNAL_SETPOINT;
	if ((v = ydoc_get(y, n, "type")) &&
	    ydoc_choice(y, v, KEY("type"), types, &st->signal_type) != 0)
		return -1;
	u = 1;
	if ((v = ydoc_get(y, n, "units")) &&
	    ydoc_choice(y, v, KEY("units"), units, &u) != 0)
		return -1;
	if (!(st->units = strdup(units[u])))
		return -1;
	if ((v = ydoc_get(y, n, "response_required")) &&
	    ydoc_choice(y, v, KEY("response_required"), rr,
	    &st->response_required) != 0)
		return -1;
	if ((v = ydoc_get(y, n, "test")) &&
	    ydoc_bool(y, v, KEY("test"), &st->test) != 0)
		return -1;
	if ((v = ydoc_get(y, n, "market_context")) &&
	    ydoc_str(y, v, KEY("market_context"), &st->market_context) != 0)
		return -1;
	return 0;
}

static int
parse_event_ref(struct ydoc *y, yaml_node_t *n, const char *base,
    struct step *st)
{
	static const char *const keys[] = { "event", NULL };
	yaml_node_t *v;
	char path[192];

	if (ydoc_keys(y, n, base, keys) != 0)
		return -1;
	if (!(v = ydoc_get(y, n, "event"))) {
		ydoc_fail(y, n, base, "needs \"event\"");
		return -1;
	}
	return ydoc_str(y, v, KEY("event"), &st->event_id);
}

static int
parse_request_report(struct ydoc *y, yaml_node_t *n, const char *base,
    struct step *st)
{
	static const char *const keys[] = { "id", "report", "granularity",
	    "back", "duration", NULL };
	yaml_node_t *v;
	char path[192];

	if (ydoc_keys(y, n, base, keys) != 0)
		return -1;
	if (!(v = ydoc_get(y, n, "id")) ||
	    ydoc_str(y, v, KEY("id"), &st->request_id) != 0) {
		ydoc_fail(y, n, base, "needs \"id\"");
		return -1;
	}
	if ((v = ydoc_get(y, n, "report"))) {
		if (ydoc_str(y, v, KEY("report"), &st->report_name) != 0)
			return -1;
	} else if (!(st->report_name = strdup("TELEMETRY_USAGE")))
		return -1;
	st->granularity_ms = 60000;
	st->back_ms = 60000;
	if ((v = ydoc_get(y, n, "granularity")) &&
	    ydoc_duration(y, v, KEY("granularity"), &st->granularity_ms) != 0)
		return -1;
	if ((v = ydoc_get(y, n, "back")) &&
	    ydoc_duration(y, v, KEY("back"), &st->back_ms) != 0)
		return -1;
	if ((v = ydoc_get(y, n, "duration")) &&
	    ydoc_duration(y, v, KEY("duration"), &st->duration_ms) != 0)
		return -1;
	if (st->granularity_ms % 1000 || st->back_ms % 1000 ||
	    st->duration_ms % 1000 || !st->granularity_ms || !st->back_ms) {
		ydoc_fail(y, n, base, "granularity, back and duration must "
		    "be whole seconds (and the first two not 0)");
		return -1;
	}
	return 0;
}

static int
parse_expect(struct ydoc *y, yaml_node_t *n, const char *base,
    struct step *st)
{
	static const char *const reg_keys[] = { "vens", "within", "again",
	    NULL };
	static const char *const resp_keys[] = { "event", "opt", "vens",
	    "within", NULL };
	static const char *const rep_keys[] = { "request", "vens", "reports",
	    "rids", "value", "tolerance", "aggregate", "within", NULL };
	static const char *const tls_keys[] = { "min_version", "ciphers",
	    "vens", NULL };
	static const char *const opts[] = { "optIn", "optOut", NULL };
	static const char *const aggs[] = { "each", "sum", NULL };
	static const char *const versions[] = { "TLSv1.2", "TLSv1.3", NULL };
	const char *const *keys = st->kind == STEP_EXPECT_REGISTRATION ?
	    reg_keys : st->kind == STEP_EXPECT_RESPONSE ? resp_keys :
	    st->kind == STEP_EXPECT_REPORT ? rep_keys : tls_keys;
	yaml_node_t *v;
	char path[192];
	long l;
	int i;

	if (ydoc_keys(y, n, base, keys) != 0)
		return -1;
	st->vens = -1;
	st->within_ms = 30000;
	st->min_reports = 1;
	if ((v = ydoc_get(y, n, "vens")) &&
	    get_vens(y, v, KEY("vens"), &st->vens) != 0)
		return -1;
	if ((v = ydoc_get(y, n, "within")) &&
	    ydoc_duration(y, v, KEY("within"), &st->within_ms) != 0)
		return -1;
	if ((v = ydoc_get(y, n, "again")) &&
	    ydoc_bool(y, v, KEY("again"), &st->again) != 0)
		return -1;
	switch (st->kind) {
	case STEP_EXPECT_RESPONSE:
		if (!(v = ydoc_get(y, n, "event")) ||
		    ydoc_str(y, v, KEY("event"), &st->event_id) != 0) {
			ydoc_fail(y, n, base, "needs \"event\"");
			return -1;
		}
		if ((v = ydoc_get(y, n, "opt")) &&
		    ydoc_choice(y, v, KEY("opt"), opts, &st->opt) != 0)
			return -1;
		break;
	case STEP_EXPECT_REPORT:
		if (!(v = ydoc_get(y, n, "request")) ||
		    ydoc_str(y, v, KEY("request"), &st->request_id) != 0) {
			ydoc_fail(y, n, base, "needs \"request\"");
			return -1;
		}
		if ((v = ydoc_get(y, n, "reports"))) {
			if (ydoc_long(y, v, KEY("reports"), 1, 100000, &l))
				return -1;
			st->min_reports = (uint32_t)l;
		}
		if ((v = ydoc_get(y, n, "rids")) && get_strings(y, v,
		    KEY("rids"), &st->rids, &st->nrids) != 0)
			return -1;
		if ((v = ydoc_get(y, n, "value"))) {
			if (ydoc_double(y, v, KEY("value"), &st->value) != 0)
				return -1;
			st->have_value = 1;
			st->tolerance = 0.05;
		}
		if ((v = ydoc_get(y, n, "tolerance")) &&
		    get_tolerance(y, v, KEY("tolerance"), &st->tolerance) != 0)
			return -1;
		if ((v = ydoc_get(y, n, "aggregate"))) {
			if (ydoc_choice(y, v, KEY("aggregate"), aggs, &i) != 0)
				return -1;
			st->aggregate_sum = i;
		}
		break;
	case STEP_EXPECT_TLS:
		st->within_ms = 0;
		if ((v = ydoc_get(y, n, "min_version"))) {
			if (ydoc_choice(y, v, KEY("min_version"), versions, &i))
				return -1;
			if (!(st->min_version = strdup(versions[i])))
				return -1;
		}
		if ((v = ydoc_get(y, n, "ciphers")) && get_strings(y, v,
		    KEY("ciphers"), &st->ciphers, &st->nciphers) != 0)
			return -1;
		break;
	default:
		break;
	}
	return 0;
}

/* Steps whose value is empty ({} or nothing) or a duration (silent). */
static int
parse_plain(struct ydoc *y, yaml_node_t *n, const char *base, struct step *st)
{
	static const char *const none[] = { NULL };

	if (st->kind == STEP_SILENT)
		return ydoc_duration(y, n, base, &st->duration);
	if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
		return 0;
	return ydoc_keys(y, n, base, none);
}

static int
parse_step(struct ydoc *y, yaml_node_t *n, size_t idx, struct step *st)
{
	static const char *const keys[] = { "at", "event", "modify", "cancel",
	    "remove", "request_report", "reregister", "cancel_registration",
	    "silent", "drop", "restart", "expect_registration",
	    "expect_response", "expect_report", "expect_tls", NULL };
	yaml_node_pair_t *pr;
	yaml_node_t *v;
	char base[64], path[128];
	int found = 0;

	snprintf(base, sizeof(base), "steps[%zu]", idx);
	st->line = n->start_mark.line + 1;
	st->col = n->start_mark.column + 1;
	st->kind = -1;
	if (ydoc_keys(y, n, base, keys) != 0)
		return -1;
	if (!(v = ydoc_get(y, n, "at"))) {
		ydoc_fail(y, n, base, "needs \"at\" (a time from the start, "
		    "e.g. 5s)");
		return -1;
	}
	snprintf(path, sizeof(path), "%s.at", base);
	if (ydoc_duration(y, v, path, &st->at_ms) != 0)
		return -1;
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	    pr++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pr->key);
		const char *name = (const char *)k->data.scalar.value;

		if (!strcmp(name, "at"))
			continue;
		if (found++) {
			ydoc_fail(y, k, base, "one action per step (\"%s\" "
			    "and \"%s\")", scenario_step_name(st->kind), name);
			return -1;
		}
		for (st->kind = 0; st->kind < STEP_KIND_COUNT &&
		    strcmp(step_names[st->kind], name); st->kind++)
			;
		v = yaml_document_get_node(&y->doc, pr->value);
		snprintf(path, sizeof(path), "%s.%s", base, name);
		switch (st->kind) {
		case STEP_EVENT:
		case STEP_MODIFY:
			if (parse_event(y, v, path, st) != 0)
				return -1;
			break;
		case STEP_CANCEL:
		case STEP_REMOVE:
			if (parse_event_ref(y, v, path, st) != 0)
				return -1;
			break;
		case STEP_REQUEST_REPORT:
			if (parse_request_report(y, v, path, st) != 0)
				return -1;
			break;
		case STEP_EXPECT_REGISTRATION:
		case STEP_EXPECT_RESPONSE:
		case STEP_EXPECT_REPORT:
		case STEP_EXPECT_TLS:
			if (parse_expect(y, v, path, st) != 0)
				return -1;
			break;
		default:
			if (parse_plain(y, v, path, st) != 0)
				return -1;
		}
	}
	if (!found) {
		ydoc_fail(y, n, base, "needs an action (event, modify, cancel, "
		    "expect_response, ...)");
		return -1;
	}
	return 0;
}

static void
step_free(struct step *st)
{
	free(st->event_id);
	free(st->signal_name);
	free(st->units);
	free(st->values);
	free(st->market_context);
	free(st->request_id);
	free(st->report_name);
	free(st->min_version);
	for (size_t i = 0; i < st->nciphers; i++)
		free(st->ciphers[i]);
	free(st->ciphers);
	for (size_t i = 0; i < st->nrids; i++)
		free(st->rids[i]);
	free(st->rids);
}

void
scenario_free(struct scenario *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nsteps; i++)
		step_free(&s->steps[i]);
	free(s->steps);
	free(s->path);
	free(s->name);
	free(s->vtn_id);
	free(s->market_context);
	free(s);
}

/* Every event a step names must have been issued by an earlier step. */
static int
check_refs(struct ydoc *y, struct scenario *s)
{
	for (size_t i = 0; i < s->nsteps; i++) {
		struct step *st = &s->steps[i];
		int seen = 0;

		if (st->kind == STEP_EVENT || !st->event_id)
			continue;
		/* The list is in playing order: earlier means before i. */
		for (size_t j = 0; j < i; j++)
			if (s->steps[j].kind == STEP_EVENT &&
			    !strcmp(s->steps[j].event_id, st->event_id))
				seen = 1;
		if (!seen) {
			units_errf(y->err, y->errlen, "%s:%zu:%zu: steps[%zu]: "
			    "event \"%s\" is not issued by an earlier step",
			    y->path, st->line, st->col, st->index, st->event_id);
			return -1;
		}
	}
	return 0;
}

static int
by_time(const void *a, const void *b)
{
	const struct step *x = a, *y = b;

	return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms ? 1 :
	    x->index < y->index ? -1 : x->index > y->index;
}

struct scenario *
scenario_load(const char *path, char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "vtn_id", "poll_freq",
	    "market_context", "steps", NULL };
	struct scenario *s = calloc(1, sizeof(*s));
	struct ydoc y;
	yaml_node_t *root, *v;
	yaml_node_item_t *it;
	size_t i = 0;

	if (s == NULL) {
		units_errf(err, errlen, "out of memory");
		return NULL;
	}
	if (ydoc_load(&y, path, err, errlen) != 0) {
		free(s);
		return NULL;
	}
	root = ydoc_root(&y);
	if (ydoc_keys(&y, root, NULL, keys) != 0)
		goto fail;
	if (!(s->path = strdup(path)))
		goto fail;
	s->poll_freq_ms = 10000;
	if ((v = ydoc_get(&y, root, "name")) &&
	    ydoc_str(&y, v, "name", &s->name) != 0)
		goto fail;
	if ((v = ydoc_get(&y, root, "vtn_id"))) {
		if (ydoc_str(&y, v, "vtn_id", &s->vtn_id) != 0)
			goto fail;
	} else if (!(s->vtn_id = strdup("MOCK-VTN")))
		goto fail;
	if ((v = ydoc_get(&y, root, "market_context"))) {
		if (ydoc_str(&y, v, "market_context", &s->market_context))
			goto fail;
	} else if (!(s->market_context = strdup("http://mockdispatch.test/r3")))
		goto fail;
	if ((v = ydoc_get(&y, root, "poll_freq")) &&
	    ydoc_duration(&y, v, "poll_freq", &s->poll_freq_ms) != 0)
		goto fail;
	if (s->poll_freq_ms < 1000 || s->poll_freq_ms % 1000) {
		ydoc_fail(&y, v, "poll_freq", "must be whole seconds, at least "
		    "1s (the 2.0b schema has no fractions)");
		goto fail;
	}
	if (!(v = ydoc_get(&y, root, "steps")) ||
	    v->type != YAML_SEQUENCE_NODE) {
		ydoc_fail(&y, v ? v : root, "steps", "needs a list of steps");
		goto fail;
	}
	s->nsteps = (size_t)(v->data.sequence.items.top -
	    v->data.sequence.items.start);
	if (!(s->steps = calloc(s->nsteps ? s->nsteps : 1, sizeof(*s->steps))))
		goto fail;
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	    it++, i++)
		if (parse_step(&y, yaml_document_get_node(&y.doc, *it), i,
		    &s->steps[i]) != 0)
			goto fail;
	for (i = 0; i < s->nsteps; i++)
		s->steps[i].index = i;
	qsort(s->steps, s->nsteps, sizeof(*s->steps), by_time);
	if (check_refs(&y, s) != 0) {
		ydoc_free(&y);
		scenario_free(s);
		return NULL;
	}
	for (i = 0; i < s->nsteps; i++) {
		uint64_t end = s->steps[i].at_ms + s->steps[i].within_ms +
		    (s->steps[i].kind == STEP_SILENT ? s->steps[i].duration : 0);

		if (end > s->end_ms)
			s->end_ms = end;
	}
	ydoc_free(&y);
	return s;
fail:
	if (!y.failed)
		units_errf(err, errlen, "%s: out of memory", path);
	ydoc_free(&y);
	scenario_free(s);
	return NULL;
}

void
scenario_step_label(const struct scenario *s, size_t i, char *buf,
    size_t len)
{
	const struct step *st = &s->steps[i];
	char at[32];

	units_format_duration(st->at_ms, at, sizeof(at));
	snprintf(buf, len, "step %zu (%s at %s, line %zu)", i + 1,
	    scenario_step_name(st->kind), at, st->line);
}

void
scenario_xml_escape(FILE *f, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
}
