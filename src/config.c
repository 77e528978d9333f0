/*
 * config — libyaml event stream -> small node tree (with positions) ->
 * table-driven conversion into struct config -> cross-field checks.
 *
 * The tree step exists so that duplicate keys, aliases and wrong node
 * kinds are found with their exact line and column before any value is
 * converted; the table step makes sure every key is typed, bounded and
 * defaulted in exactly one place.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "acgw/config.h"
#include "acgw/oadr.h"

#define CONFIG_DEPTH_MAX 32
/* About 12 nodes a peer: 10,000 peers and the rest with room to spare. */
#define CONFIG_NODES_MAX 1000000

#define OFF(field) offsetof(struct config, field)
#define POFF(field) offsetof(struct config_peer, field)

#define SECTION(p) { .path = p, .type = CONFIG_SECTION }
#define LATER(p, why) { .path = p, .type = CONFIG_SECTION, .unsupported = why }
#define KEY(p, t, f, lo, hi, d) \
	{ .path = p, .type = t, .offset = OFF(f), .min = lo, .max = hi, .def = d }
#define PEERKEY(p, t, f, lo, hi, d, req) \
	{ .path = "peers[]." p, .type = t, .offset = POFF(f), .min = lo, \
	  .max = hi, .def = d, .required = req }

#define SEC(n) ((uint64_t)(n) * 1000)
#define MIN(n) (SEC(n) * 60)
#define HOUR(n) (MIN(n) * 60)
#define DAY(n) (HOUR(n) * 24)

/*
 * The settings table. Sections later releases fill are listed so that a
 * config using them is refused with a reason instead of being ignored.
 */
static const struct config_key config_table[] = {
	SECTION("log"),
	KEY("log.level", CONFIG_LOGLEVEL, log.level, 0, 0, "info"),

	SECTION("daemon"),
	KEY("daemon.watchdog_fraction", CONFIG_UINT, daemon.watchdog_fraction,
	    2, 10, "3"),
	KEY("daemon.stop_timeout", CONFIG_DURATION, daemon.stop_timeout_ms,
	    100, MIN(5), "10s"),

	SECTION("control"),
	KEY("control.socket", CONFIG_PATH, control.socket, 0, 0,
	    CONFIG_DEFAULT_SOCKET),
	KEY("control.mode", CONFIG_MODE, control.mode, 0, 0, "0660"),
	KEY("control.group", CONFIG_GROUP, control.group, 0, 0, NULL),
	KEY("control.readers", CONFIG_GROUPLIST, control.readers, 0, 64, NULL),
	KEY("control.operators", CONFIG_GROUPLIST, control.operators, 0, 64,
	    NULL),
	KEY("control.max_line", CONFIG_SIZE, control.max_line, 256, 65536,
	    "4KiB"),
	KEY("control.max_response", CONFIG_SIZE, control.max_response, 65536,
	    64ULL << 20, "4MiB"),
	KEY("control.max_clients", CONFIG_UINT, control.max_clients, 1, 4096,
	    "64"),
	KEY("control.max_clients_per_uid", CONFIG_UINT,
	    control.max_clients_per_uid, 1, 4096, "8"),
	KEY("control.idle_timeout", CONFIG_DURATION, control.idle_timeout_ms,
	    SEC(1), DAY(1), "5m"),

	SECTION("tls"),
	{ .path = "tls.min_version", .type = CONFIG_ENUM,
	  .offset = OFF(tls.min_version), .def = "1.2", .choices = "1.2|1.3" },
	KEY("tls.ciphers", CONFIG_STRING, tls.ciphers, 0, 0,
	    CONFIG_DEFAULT_CIPHERS),
	KEY("tls.ciphersuites", CONFIG_STRING, tls.ciphersuites, 0, 0,
	    CONFIG_DEFAULT_SUITES),
	KEY("tls.session_cache", CONFIG_UINT, tls.session_cache, 0, 1000000,
	    "20000"),
	KEY("tls.session_timeout", CONFIG_DURATION, tls.session_timeout_ms,
	    SEC(10), DAY(1), "2h"),
	KEY("tls.keep_sessions", CONFIG_BOOL, tls.keep_sessions, 0, 0, "false"),
	KEY("tls.verify_cache", CONFIG_UINT, tls.verify_cache, 0, 1000000,
	    "20000"),
	KEY("tls.verify_cache_ttl", CONFIG_DURATION, tls.verify_cache_ttl_ms,
	    SEC(10), DAY(1), "1h"),
	KEY("tls.expiry_warning", CONFIG_DURATION, tls.expiry_warning_ms,
	    HOUR(1), DAY(365), "30d"),
	KEY("tls.expiry_critical", CONFIG_DURATION, tls.expiry_critical_ms,
	    HOUR(1), DAY(365), "7d"),
	KEY("tls.expiry_check", CONFIG_DURATION, tls.expiry_check_ms, SEC(10),
	    DAY(1), "1h"),

	SECTION("r3"),
	KEY("r3.listen", CONFIG_SOCKADDR, r3.listen, 0, 0, NULL),
	KEY("r3.allow_wildcard", CONFIG_BOOL, r3.allow_wildcard, 0, 0,
	    "false"),
	KEY("r3.cert", CONFIG_PATH, r3.cert, 0, 0, NULL),
	KEY("r3.key", CONFIG_PATH, r3.key, 0, 0, NULL),
	KEY("r3.handshake_timeout", CONFIG_DURATION, r3.handshake_timeout_ms,
	    100, MIN(5), "10s"),
	KEY("r3.idle_timeout", CONFIG_DURATION, r3.idle_timeout_ms, SEC(1),
	    HOUR(24), "2m"),
	KEY("r3.max_sessions", CONFIG_UINT, r3.max_sessions, 1, 1000000,
	    "20000"),
	KEY("r3.max_header_size", CONFIG_SIZE, r3.max_header_size, 1024,
	    1024 * 1024, "8KiB"),
	KEY("r3.max_body_size", CONFIG_SIZE, r3.max_body_size, 1024,
	    64ULL << 20, "1MiB"),
	KEY("r3.max_output", CONFIG_SIZE, r3.max_output, 16384, 256ULL << 20,
	    "4MiB"),
	KEY("r3.requests_per_second", CONFIG_UINT, r3.requests_per_second, 1,
	    1000000, "20"),
	KEY("r3.request_burst", CONFIG_UINT, r3.request_burst, 1, 1000000,
	    "40"),
	KEY("r3.push_timeout", CONFIG_DURATION, r3.push_timeout_ms, SEC(1),
	    MIN(10), "10s"),
	KEY("r3.push_backoff_max", CONFIG_DURATION, r3.push_backoff_max_ms,
	    SEC(1), HOUR(1), "1m"),

	SECTION("r1"),
	KEY("r1.url", CONFIG_URL, r1.url, 0, 0, NULL),
	KEY("r1.server_name", CONFIG_STRING, r1.server_name, 0, 0, NULL),
	KEY("r1.ca", CONFIG_PATH, r1.ca, 0, 0, NULL),
	KEY("r1.crl", CONFIG_PATH, r1.crl, 0, 0, NULL),
	KEY("r1.pin", CONFIG_PIN, r1.pin, 0, 0, NULL),
	KEY("r1.cert", CONFIG_PATH, r1.cert, 0, 0, NULL),
	KEY("r1.key", CONFIG_PATH, r1.key, 0, 0, NULL),
	KEY("r1.source_address", CONFIG_IPADDR, r1.source_address, 0, 0,
	    NULL),
	KEY("r1.interface", CONFIG_NAME, r1.interface, 0, 0, NULL),
	KEY("r1.connect_timeout", CONFIG_DURATION, r1.connect_timeout_ms,
	    100, MIN(5), "10s"),
	KEY("r1.timeout", CONFIG_DURATION, r1.timeout_ms, SEC(1), MIN(10),
	    "30s"),
	KEY("r1.poll_interval", CONFIG_DURATION, r1.poll_interval_ms, SEC(1),
	    HOUR(1), "1m"),
	KEY("r1.backoff_initial", CONFIG_DURATION, r1.backoff_initial_ms, 100,
	    MIN(5), "1s"),
	KEY("r1.backoff_max", CONFIG_DURATION, r1.backoff_max_ms, SEC(1),
	    HOUR(1), "5m"),

	{ .path = "peers", .type = CONFIG_LIST, .offset = OFF(peers),
	  .min = 0, .max = 100000, .elem_size = sizeof(struct config_peer) },
	PEERKEY("name", CONFIG_NAME, name, 0, 0, NULL, 1),
	PEERKEY("ca", CONFIG_PATH, ca, 0, 0, NULL, 1),
	PEERKEY("crl", CONFIG_PATH, crl, 0, 0, NULL, 0),
	PEERKEY("pins", CONFIG_PINLIST, pins, 1, 64, NULL, 1),
	PEERKEY("sources", CONFIG_CIDRLIST, sources, 1, 256, NULL, 1),
	PEERKEY("max_sessions", CONFIG_UINT, max_sessions, 1, 100000, "4", 0),
	PEERKEY("ven_id", CONFIG_NAME, ven_id, 0, 0, NULL, 0),
	{ .path = "peers[].importance", .type = CONFIG_ENUM,
	  .offset = POFF(importance), .def = "B", .choices = "B|A" },
	PEERKEY("contracted", CONFIG_POWER, contracted_w, 0,
	    1000000000000ULL, "0W", 0),
	PEERKEY("rank", CONFIG_UINT, rank, 0, 1000000, "0", 0),
	PEERKEY("share", CONFIG_UINT, share, 0, 100, "0", 0),
	PEERKEY("push_url", CONFIG_URL, push_url, 0, 0, NULL, 0),

	SECTION("oadr"),
	KEY("oadr.schema", CONFIG_PATH, oadr.schema, 0, 0, NULL),
	KEY("oadr.max_payload", CONFIG_SIZE, oadr.max_payload, 4096,
	    64ULL << 20, "1MiB"),
	KEY("oadr.max_depth", CONFIG_UINT, oadr.max_depth, 16, 256, "32"),
	KEY("oadr.max_elements", CONFIG_UINT, oadr.max_elements, 100,
	    10000000, "100000"),
	KEY("oadr.max_events", CONFIG_UINT, oadr.max_events, 1, 100000,
	    "256"),
	KEY("oadr.max_signals", CONFIG_UINT, oadr.max_signals, 1, 10000,
	    "64"),
	KEY("oadr.max_intervals", CONFIG_UINT, oadr.max_intervals, 1,
	    1000000, "4096"),
	KEY("oadr.max_reports", CONFIG_UINT, oadr.max_reports, 1, 100000,
	    "1024"),
	KEY("oadr.max_duration", CONFIG_DURATION, oadr.max_duration_ms,
	    HOUR(1), DAY(3660), "366d"),

	SECTION("policy"),
	KEY("policy.enabled", CONFIG_BOOL, policy.enabled, 0, 0, "false"),
	KEY("policy.catalog", CONFIG_PATH, policy.catalog, 0, 0,
	    PKGDATADIR "/controls.yaml"),
	KEY("policy.assessor_ca", CONFIG_PATH, policy.assessor_ca, 0, 0, NULL),
	{ .path = "policy.assessor_key_usage", .type = CONFIG_ENUM,
	  .offset = OFF(policy.assessor_key_usage), .def = "digitalSignature",
	  .choices = "digitalSignature|nonRepudiation" },
	KEY("policy.required_a", CONFIG_NAMELIST, policy.required_a, 0, 256,
	    NULL),
	KEY("policy.required_b", CONFIG_NAMELIST, policy.required_b, 0, 256,
	    NULL),
	KEY("policy.third_party_for_a", CONFIG_BOOL, policy.third_party_for_a,
	    0, 0, "true"),
	KEY("policy.max_age", CONFIG_DURATION, policy.max_age_ms, DAY(1),
	    DAY(3660), "400d"),
	KEY("policy.clock_skew", CONFIG_DURATION, policy.clock_skew_ms, 0,
	    HOUR(1), "5m"),
	KEY("policy.reevaluate", CONFIG_DURATION, policy.reevaluate_ms,
	    100, HOUR(1), "1m"),
	{ .path = "policy.failure_action", .type = CONFIG_ENUM,
	  .offset = OFF(policy.failure_action), .def = "sever",
	  .choices = "sever|warn" },
	KEY("policy.allow_warn", CONFIG_BOOL, policy.allow_warn, 0, 0,
	    "false"),
	{ .path = "policy.restore", .type = CONFIG_ENUM,
	  .offset = OFF(policy.restore), .def = "manual",
	  .choices = "manual|auto" },
	KEY("policy.attestation_dir", CONFIG_PATH, policy.attestation_dir, 0,
	    0, NULL),
	KEY("policy.expiry_warning", CONFIG_DURATION,
	    policy.expiry_warning_ms, HOUR(1), DAY(365), "30d"),
	KEY("policy.expiry_critical", CONFIG_DURATION,
	    policy.expiry_critical_ms, HOUR(1), DAY(365), "7d"),
	KEY("policy.max_invalid_per_minute", CONFIG_UINT,
	    policy.max_invalid_per_minute, 0, 1000000, "30"),
	KEY("policy.max_mismatches_per_minute", CONFIG_UINT,
	    policy.max_mismatches_per_minute, 0, 1000000, "3"),
	SECTION("audit"),
	KEY("audit.enabled", CONFIG_BOOL, audit.enabled, 0, 0, "true"),
	KEY("audit.dir", CONFIG_PATH, audit.dir, 0, 0, "/var/lib/acgw/audit"),
	{ .path = "audit.sync", .type = CONFIG_ENUM, .offset = OFF(audit.sync),
	  .def = "always", .choices = "always|batch" },
	KEY("audit.batch_interval", CONFIG_DURATION, audit.batch_interval_ms,
	    1, SEC(10), "50ms"),
	KEY("audit.key_interval", CONFIG_DURATION, audit.key_interval_ms,
	    SEC(1), DAY(1), "15m"),
	KEY("audit.key_records", CONFIG_UINT, audit.key_records, 1,
	    100000000, "100000"),
	KEY("audit.max_file_size", CONFIG_SIZE, audit.max_file_size, 65536,
	    4ULL << 30, "64MiB"),
	KEY("audit.max_file_age", CONFIG_DURATION, audit.max_file_age_ms,
	    MIN(1), DAY(365), "1d"),
	KEY("audit.keep_files", CONFIG_UINT, audit.keep_files, 0, 1000000,
	    "0"),
	KEY("audit.keep_age", CONFIG_DURATION, audit.keep_age_ms, 0,
	    DAY(3650), "0s"),
	KEY("audit.syslog", CONFIG_BOOL, audit.syslog, 0, 0, "true"),
	{ .path = "audit.disk_full_action", .type = CONFIG_ENUM,
	  .offset = OFF(audit.disk_full_action), .def = "fail_closed",
	  .choices = "fail_closed|stop" },
	KEY("audit.retry_interval", CONFIG_DURATION, audit.retry_interval_ms,
	    100, MIN(10), "5s"),
	SECTION("dispatch"),
	KEY("dispatch.state_dir", CONFIG_PATH, dispatch.state_dir, 0, 0,
	    "/var/lib/acgw/state"),
	KEY("dispatch.ven_name", CONFIG_STRING, dispatch.ven_name, 0, 0,
	    "acgw"),
	KEY("dispatch.vtn_id", CONFIG_NAME, dispatch.vtn_id, 0, 0, "acgw"),
	{ .path = "dispatch.rule", .type = CONFIG_ENUM,
	  .offset = OFF(dispatch.rule), .def = "proportional",
	  .choices = "proportional|priority|static" },
	KEY("dispatch.capacity", CONFIG_POWER, dispatch.capacity_w, 0,
	    1000000000000000ULL, "0W"),
	KEY("dispatch.signals", CONFIG_SIGNALLIST, dispatch.signals, 1, 64,
	    "LOAD_DISPATCH/setpoint"),
	KEY("dispatch.past_tolerance", CONFIG_DURATION,
	    dispatch.past_tolerance_ms, 0, HOUR(24), "5m"),
	KEY("dispatch.min_duration", CONFIG_DURATION, dispatch.min_duration_ms,
	    SEC(1), DAY(366), "1m"),
	KEY("dispatch.max_duration", CONFIG_DURATION, dispatch.max_duration_ms,
	    SEC(1), DAY(366), "24h"),
	KEY("dispatch.ack_deadline", CONFIG_DURATION, dispatch.ack_deadline_ms,
	    SEC(1), HOUR(24), "1m"),
	KEY("dispatch.coverage_threshold", CONFIG_UINT,
	    dispatch.coverage_threshold, 1, 100, "100"),
	KEY("dispatch.ra_poll_interval", CONFIG_DURATION,
	    dispatch.ra_poll_interval_ms, SEC(1), HOUR(1), "10s"),
	KEY("dispatch.report_grace", CONFIG_DURATION, dispatch.report_grace_ms,
	    0, HOUR(1), "10s"),
	KEY("dispatch.retention", CONFIG_DURATION, dispatch.retention_ms,
	    MIN(1), DAY(366), "1d"),
};

#define CONFIG_NKEYS (sizeof(config_table) / sizeof(config_table[0]))

void
config_oadr_limits(const struct config *c, struct oadr_limits *l)
{
	l->max_payload = (size_t)c->oadr.max_payload;
	l->max_depth = (size_t)c->oadr.max_depth;
	l->max_elements = (size_t)c->oadr.max_elements;
	l->max_events = (size_t)c->oadr.max_events;
	l->max_signals = (size_t)c->oadr.max_signals;
	l->max_intervals = (size_t)c->oadr.max_intervals;
	l->max_reports = (size_t)c->oadr.max_reports;
	l->max_duration = (int64_t)c->oadr.max_duration_ms * 1000;
}

const struct config_key *
config_keys(size_t *n)
{
	*n = CONFIG_NKEYS;
	return config_table;
}

const char *
config_type_name(enum config_type type)
{
	switch (type) {
	case CONFIG_SECTION: return "section";
	case CONFIG_STRING: return "string";
	case CONFIG_PATH: return "path";
	case CONFIG_BOOL: return "boolean";
	case CONFIG_UINT: return "integer";
	case CONFIG_DURATION: return "duration";
	case CONFIG_SIZE: return "size";
	case CONFIG_SOCKADDR: return "address";
	case CONFIG_MODE: return "mode";
	case CONFIG_GROUP: return "group";
	case CONFIG_GROUPLIST: return "group list";
	case CONFIG_LOGLEVEL: return "level";
	case CONFIG_ENUM: return "choice";
	case CONFIG_NAME: return "name";
	case CONFIG_URL: return "url";
	case CONFIG_PIN: return "pin";
	case CONFIG_PINLIST: return "pin list";
	case CONFIG_CIDRLIST: return "address block list";
	case CONFIG_IPADDR: return "ip";
	case CONFIG_LIST: return "list";
	case CONFIG_POWER: return "power";
	case CONFIG_SIGNALLIST: return "signal list";
	case CONFIG_NAMELIST: return "name list";
	}
	return "?";
}

/* ---- YAML node tree ------------------------------------------------ */

enum ynode_kind { YNODE_MAP, YNODE_SEQ, YNODE_SCALAR };

struct ynode {
	enum ynode_kind kind;
	size_t line, col;	/* 1-based */
	char *value;		/* scalars */
	struct ynode **items;	/* maps: key, value, key, value, ... */
	size_t n, cap;
};

/* Which keys one mapping has set, and where. */
struct seen {
	int set[CONFIG_NKEYS];
	size_t kline[CONFIG_NKEYS];		/* the key */
	size_t vline[CONFIG_NKEYS], vcol[CONFIG_NKEYS];	/* its value */
};

struct loadctx {
	const char *name;
	const char *buf;	/* the text, for positions of reader errors */
	size_t len;
	struct config_errors *errs;
	size_t nodes;
	struct seen root;
};

static void
config_err(struct loadctx *ctx, size_t line, size_t col, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
config_err(struct loadctx *ctx, size_t line, size_t col, const char *key,
    const char *fmt, ...)
{
	struct config_errors *e = ctx->errs;
	char reason[CONFIG_ERR_MAX];
	va_list ap;

	if (e->count++ >= CONFIG_ERRS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* Long file names or reasons are cut, never overflow. */
	char *out = e->msg[e->count - 1];
	int n;

	if (line == 0 && key != NULL)
		n = snprintf(out, CONFIG_ERR_MAX, "%s: %s: %s", ctx->name, key,
		    reason);
	else if (line == 0)
		n = snprintf(out, CONFIG_ERR_MAX, "%s: %s", ctx->name, reason);
	else if (key == NULL)
		n = snprintf(out, CONFIG_ERR_MAX, "%s:%zu:%zu: %s", ctx->name,
		    line, col, reason);
	else
		n = snprintf(out, CONFIG_ERR_MAX, "%s:%zu:%zu: %s: %s",
		    ctx->name, line, col, key, reason);
	if (n >= CONFIG_ERR_MAX)
		memcpy(out + CONFIG_ERR_MAX - 4, "...", 4);
}

static void
ynode_free(struct ynode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++)
		ynode_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n);
}

static struct ynode *
ynode_new(struct loadctx *ctx, enum ynode_kind kind, const yaml_mark_t *m)
{
	struct ynode *n;

	if (++ctx->nodes > CONFIG_NODES_MAX) {
		config_err(ctx, m->line + 1, m->column + 1, NULL,
		    "too many YAML nodes (more than %d)", CONFIG_NODES_MAX);
		return NULL;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		config_err(ctx, 0, 0, NULL, "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->line = m->line + 1;
	n->col = m->column + 1;
	return n;
}

static int
ynode_add(struct loadctx *ctx, struct ynode *parent, struct ynode *child)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct ynode **v = realloc(parent->items, cap * sizeof(*v));

		if (v == NULL) {
			config_err(ctx, 0, 0, NULL, "out of memory");
			return -1;
		}
		parent->items = v;
		parent->cap = cap;
	}
	parent->items[parent->n++] = child;
	return 0;
}

static void
config_yaml_error(struct loadctx *ctx, yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "malformed document";

	if (p->error == YAML_READER_ERROR) {
		/* Reader errors carry a byte offset, not a mark. */
		size_t line = 1, col = 1;

		for (size_t i = 0; i < p->problem_offset && i < ctx->len; i++) {
			if (ctx->buf[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)ctx->buf[i] & 0xc0) != 0x80)
				col++;
		}
		config_err(ctx, line, col, NULL, "%s (byte 0x%02x at offset %zu)",
		    problem, (unsigned)p->problem_value & 0xff,
		    p->problem_offset);
		return;
	}
	if (p->context != NULL)
		config_err(ctx, p->problem_mark.line + 1,
		    p->problem_mark.column + 1, NULL,
		    "YAML syntax error: %s %s", p->context, problem);
	else
		config_err(ctx, p->problem_mark.line + 1,
		    p->problem_mark.column + 1, NULL, "YAML syntax error: %s",
		    problem);
}

/*
 * Parses one node starting with event ev (already taken from the parser).
 * Returns the node, or NULL after recording an error.
 */
static struct ynode *
ynode_parse(struct loadctx *ctx, yaml_parser_t *p, yaml_event_t *ev,
    int depth)
{
	struct ynode *n = NULL;
	yaml_event_t sub;

	if (depth > CONFIG_DEPTH_MAX) {
		config_err(ctx, ev->start_mark.line + 1,
		    ev->start_mark.column + 1, NULL,
		    "nesting deeper than %d levels", CONFIG_DEPTH_MAX);
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if ((n = ynode_new(ctx, YNODE_SCALAR, &ev->start_mark)) == NULL)
			return NULL;
		if (memchr(ev->data.scalar.value, '\0',
		    ev->data.scalar.length) != NULL) {
			config_err(ctx, n->line, n->col, NULL,
			    "NUL character in value");
			goto fail;
		}
		n->value = strndup((const char *)ev->data.scalar.value,
		    ev->data.scalar.length);
		if (n->value == NULL) {
			config_err(ctx, 0, 0, NULL, "out of memory");
			goto fail;
		}
		return n;
	case YAML_ALIAS_EVENT:
		config_err(ctx, ev->start_mark.line + 1,
		    ev->start_mark.column + 1, NULL,
		    "YAML aliases (*%s) are not supported",
		    (const char *)ev->data.alias.anchor);
		return NULL;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		n = ynode_new(ctx, ev->type == YAML_MAPPING_START_EVENT ?
		    YNODE_MAP : YNODE_SEQ, &ev->start_mark);
		if (n == NULL)
			return NULL;
		for (;;) {
			struct ynode *child;

			if (!yaml_parser_parse(p, &sub)) {
				config_yaml_error(ctx, p);
				goto fail;
			}
			if (sub.type == YAML_SEQUENCE_END_EVENT ||
			    sub.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&sub);
				return n;
			}
			child = ynode_parse(ctx, p, &sub, depth + 1);
			yaml_event_delete(&sub);
			if (child == NULL)
				goto fail;
			if (ynode_add(ctx, n, child) != 0) {
				ynode_free(child);
				goto fail;
			}
		}
	default:
		config_err(ctx, ev->start_mark.line + 1,
		    ev->start_mark.column + 1, NULL, "unexpected YAML event");
		return NULL;
	}
fail:
	ynode_free(n);
	return NULL;
}

/* Whole stream -> root node (NULL root for an empty document). */
static int
ynode_load(struct loadctx *ctx, const char *buf, size_t len,
    struct ynode **root)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int docs = 0, rc = -1;

	*root = NULL;
	if (!yaml_parser_initialize(&p)) {
		config_err(ctx, 0, 0, NULL, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			config_yaml_error(ctx, &p);
			goto out;
		}
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			config_err(ctx, ev.start_mark.line + 1,
			    ev.start_mark.column + 1, NULL,
			    "only one YAML document is allowed");
			yaml_event_delete(&ev);
			goto out;
		}
		if (ev.type == YAML_SCALAR_EVENT && *root == NULL &&
		    ev.data.scalar.length == 0 &&
		    ev.data.scalar.plain_implicit) {
			/* An empty document: everything takes its default. */
			yaml_event_delete(&ev);
			continue;
		}
		if (ev.type == YAML_SCALAR_EVENT ||
		    ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_MAPPING_START_EVENT ||
		    ev.type == YAML_ALIAS_EVENT) {
			*root = ynode_parse(ctx, &p, &ev, 0);
			yaml_event_delete(&ev);
			if (*root == NULL)
				goto out;
			continue;
		}
		yaml_event_delete(&ev);
	}
	rc = 0;
out:
	yaml_parser_delete(&p);
	if (rc != 0) {
		ynode_free(*root);
		*root = NULL;
	}
	return rc;
}

/* ---- table-driven conversion -------------------------------------- */

static const char *
ynode_kind_name(const struct ynode *n)
{
	switch (n->kind) {
	case YNODE_MAP: return "a mapping";
	case YNODE_SEQ: return "a list";
	case YNODE_SCALAR: return "a scalar";
	}
	return "?";
}

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t d = prev[j - 1] + (a[i - 1] != b[j - 1]);
			if (prev[j] + 1 < d)
				d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			cur[j] = d;
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

static const struct config_key *
config_lookup(const char *path, size_t *idx)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_table[i].path, path) == 0) {
			*idx = i;
			return &config_table[i];
		}
	return NULL;
}

/* "control.sockt" -> " (did you mean control.socket?)" or "". */
static void
config_suggest(const char *lookup, const char *shown, char *buf, size_t len)
{
	const char *dot = strrchr(lookup, '.');
	size_t plen = dot ? (size_t)(dot - lookup) : 0;
	const char *best = NULL;
	size_t bestd = 3;

	buf[0] = '\0';
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const char *cand = config_table[i].path;
		const char *cdot = strrchr(cand, '.');
		size_t clen = cdot ? (size_t)(cdot - cand) : 0;

		if (clen != plen || strncmp(cand, lookup, plen) != 0)
			continue;
		size_t d = edit_distance(lookup, cand);
		if (d < bestd) {
			bestd = d;
			best = cand;
		}
	}
	if (best == NULL)
		return;
	/* Suggest in the user's terms: "peers[2].name", not "peers[].name". */
	const char *shown_dot = strrchr(shown, '.');
	if (plen > 0 && shown_dot != NULL)
		snprintf(buf, len, " (did you mean %.*s%s?)",
		    (int)(shown_dot - shown), shown, best + plen);
	else
		snprintf(buf, len, " (did you mean %s?)", best);
}

/* ---- value conversion ---------------------------------------------- */

static void
grouplist_free(struct config_grouplist *gl)
{
	for (size_t i = 0; i < gl->n; i++)
		free(gl->v[i].name);
	free(gl->v);
	gl->v = NULL;
	gl->n = 0;
}

void
config_url_free(struct config_url *u)
{
	free(u->text);
	free(u->host);
	free(u->path);
	memset(u, 0, sizeof(*u));
}


static int
config_strdup(char **dst, const char *src, char *err, size_t errlen)
{
	char *s = strdup(src);

	if (s == NULL)
		return units_errf(err, errlen, "out of memory");
	free(*dst);
	*dst = s;
	return 0;
}

static void
strlist_free(struct config_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* "NAME/type": a signalName and one of the 2.0b signalTypes. */
static int
config_parse_signal(const char *s, char *err, size_t errlen)
{
	const char *slash = strchr(s, '/');

	if (slash == NULL || slash == s || slash - s > 64)
		return units_errf(err, errlen, "\"%s\" is not a signal "
		    "(write NAME/type, e.g. LOAD_DISPATCH/setpoint)", s);
	for (const char *p = s; p < slash; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.'))
			return units_errf(err, errlen, "\"%s\": the signal name "
			    "may hold only letters, digits, '_', '-' and '.'",
			    s);
	for (size_t i = 0; oadr_signal_type_names[i] != NULL; i++)
		if (strcmp(slash + 1, oadr_signal_type_names[i]) == 0)
			return 0;
	return units_errf(err, errlen, "\"%s\": \"%s\" is not a 2.0b "
	    "signalType (delta, level, multiplier, price, priceMultiplier, "
	    "priceRelative, setpoint, x-loadControlCapacity, "
	    "x-loadControlLevelOffset, x-loadControlPercentOffset, "
	    "x-loadControlSetpoint)", s, slash + 1);
}

static int
config_parse_name(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return units_errf(err, errlen, "\"%s\" is not a name (1 to 64 "
		    "of A-Z a-z 0-9 . _ -)", s);
	for (const char *p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		    *p == '-'))
			return units_errf(err, errlen, "\"%s\" is not a name "
			    "(1 to 64 of A-Z a-z 0-9 . _ -)", s);
	return 0;
}

/* "https://host[:port][/prefix]" with a name, IPv4 or [IPv6] host. */
int
config_parse_url(const char *s, struct config_url *u, char *err,
    size_t errlen)
{
	const char *h, *end, *p;
	struct config_url nu;
	uint64_t port = 443;
	char portbuf[8];

	memset(&nu, 0, sizeof(nu));
	if (strncmp(s, "https://", 8) != 0)
		return units_errf(err, errlen, "\"%s\" is not an https:// URL",
		    s);
	h = s + 8;
	if (*h == '[') {
		if ((end = strchr(h, ']')) == NULL)
			return units_errf(err, errlen, "\"%s\" has an "
			    "unterminated [IPv6] host", s);
		nu.host = strndup(h + 1, (size_t)(end - h - 1));
		p = end + 1;
	} else {
		end = h + strcspn(h, ":/");
		nu.host = strndup(h, (size_t)(end - h));
		p = end;
	}
	if (nu.host == NULL)
		return units_errf(err, errlen, "out of memory");
	if (nu.host[0] == '\0' || strpbrk(nu.host, " @?#") != NULL) {
		free(nu.host);
		return units_errf(err, errlen, "\"%s\" has no usable host", s);
	}
	if (*p == ':') {
		size_t n = strcspn(p + 1, "/");

		if (n == 0 || n >= sizeof(portbuf))
			goto badport;
		memcpy(portbuf, p + 1, n);
		portbuf[n] = '\0';
		if (units_parse_uint(portbuf, &port, err, errlen) != 0 ||
		    port == 0 || port > 65535)
			goto badport;
		p += 1 + n;
	}
	if (*p != '\0' && *p != '/') {
		free(nu.host);
		return units_errf(err, errlen, "\"%s\" is not host[:port][/path]",
		    s);
	}
	if (strpbrk(p, "?# ") != NULL) {
		free(nu.host);
		return units_errf(err, errlen, "\"%s\": no query, fragment or "
		    "spaces in the path", s);
	}
	nu.path = strdup(p);
	nu.text = strdup(s);
	if (nu.path == NULL || nu.text == NULL) {
		config_url_free(&nu);
		return units_errf(err, errlen, "out of memory");
	}
	/* "/prefix/" and "/prefix" mean the same base. */
	size_t pl = strlen(nu.path);
	while (pl > 0 && nu.path[pl - 1] == '/')
		nu.path[--pl] = '\0';
	nu.port = (uint16_t)port;
	config_url_free(u);
	*u = nu;
	return 0;
badport:
	free(nu.host);
	return units_errf(err, errlen, "\"%s\" has an invalid port (1-65535)",
	    s);
}

static int
config_parse_enum(const struct config_key *k, const char *text, int *out,
    char *err, size_t errlen)
{
	const char *p = k->choices;
	int idx = 0;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, "|");

		if (strlen(text) == n && strncmp(p, text, n) == 0) {
			*out = idx;
			return 0;
		}
		idx++;
		p += n;
		if (*p == '|')
			p++;
	}
	return units_errf(err, errlen, "\"%s\" is not one of %s", text,
	    k->choices);
}

static int
config_check_range(const struct config_key *k, const char *text, uint64_t v,
    char *err, size_t errlen)
{
	char lo[32], hi[32];

	if (v >= k->min && v <= k->max)
		return 0;
	switch (k->type) {
	case CONFIG_DURATION:
		units_format_duration(k->min, lo, sizeof(lo));
		units_format_duration(k->max, hi, sizeof(hi));
		return units_errf(err, errlen, "\"%s\" is out of range (%s..%s)",
		    text, lo, hi);
	case CONFIG_POWER:
		units_format_power((int64_t)k->min, lo, sizeof(lo));
		units_format_power((int64_t)k->max, hi, sizeof(hi));
		return units_errf(err, errlen, "\"%s\" is out of range (%s..%s)",
		    text, lo, hi);
	case CONFIG_SIZE:
		units_format_size(k->min, lo, sizeof(lo));
		units_format_size(k->max, hi, sizeof(hi));
		return units_errf(err, errlen, "\"%s\" is out of range (%s..%s)",
		    text, lo, hi);
	default:
		return units_errf(err, errlen, "%s is out of range (%llu..%llu)",
		    text, (unsigned long long)k->min,
		    (unsigned long long)k->max);
	}
}

/* Converts one scalar text into the field at base + k->offset. */
static int
config_set_scalar(void *base, const struct config_key *k, const char *text,
    char *err, size_t errlen)
{
	void *field = (char *)base + k->offset;
	uint64_t v;

	switch (k->type) {
	case CONFIG_STRING:
		if (*text == '\0')
			return units_errf(err, errlen, "must not be empty");
		return config_strdup(field, text, err, errlen);
	case CONFIG_PATH:
		if (*text == '\0')
			return units_errf(err, errlen, "must not be empty");
		if (text[0] != '/')
			return units_errf(err, errlen, "\"%s\" is not an "
			    "absolute path", text);
		return config_strdup(field, text, err, errlen);
	case CONFIG_NAME:
		if (config_parse_name(text, err, errlen) != 0)
			return -1;
		return config_strdup(field, text, err, errlen);
	case CONFIG_BOOL:
		if (strcmp(text, "true") == 0)
			*(int *)field = 1;
		else if (strcmp(text, "false") == 0)
			*(int *)field = 0;
		else
			return units_errf(err, errlen, "\"%s\" is not a boolean "
			    "(write true or false)", text);
		return 0;
	case CONFIG_UINT:
		if (units_parse_uint(text, &v, err, errlen) != 0 ||
		    config_check_range(k, text, v, err, errlen) != 0)
			return -1;
		*(uint64_t *)field = v;
		return 0;
	case CONFIG_DURATION:
		if (units_parse_duration(text, &v, err, errlen) != 0 ||
		    config_check_range(k, text, v, err, errlen) != 0)
			return -1;
		*(uint64_t *)field = v;
		return 0;
	case CONFIG_SIZE:
		if (units_parse_size(text, &v, err, errlen) != 0 ||
		    config_check_range(k, text, v, err, errlen) != 0)
			return -1;
		*(uint64_t *)field = v;
		return 0;
	case CONFIG_SOCKADDR: {
		struct config_addr *a = field;
		struct units_sockaddr sa;

		if (units_parse_sockaddr(text, &sa, err, errlen) != 0 ||
		    config_strdup(&a->text, text, err, errlen) != 0)
			return -1;
		a->sa = sa;
		return 0;
	}
	case CONFIG_IPADDR: {
		struct config_ipaddr *a = field;
		struct sockaddr_storage ss;
		socklen_t len;

		if (units_parse_ipaddr(text, &ss, &len, err, errlen) != 0 ||
		    config_strdup(&a->text, text, err, errlen) != 0)
			return -1;
		a->ss = ss;
		a->len = len;
		return 0;
	}
	case CONFIG_MODE:
		return units_parse_mode(text, (mode_t *)field, err, errlen);
	case CONFIG_GROUP: {
		struct config_group *g = field;
		gid_t gid;

		if (units_parse_group(text, &gid, err, errlen) != 0 ||
		    config_strdup(&g->name, text, err, errlen) != 0)
			return -1;
		g->gid = gid;
		return 0;
	}
	case CONFIG_LOGLEVEL: {
		int l = log_level_from_name(text);

		if (l < 0)
			return units_errf(err, errlen, "\"%s\" is not a log level "
			    "(error, warning, notice, info, debug)", text);
		*(enum log_level *)field = (enum log_level)l;
		return 0;
	}
	case CONFIG_ENUM:
		return config_parse_enum(k, text, (int *)field, err, errlen);
	case CONFIG_URL:
		return config_parse_url(text, field, err, errlen);
	case CONFIG_PIN: {
		struct config_pin *p = field;
		unsigned char pin[32];

		if (units_parse_pin(text, pin, err, errlen) != 0)
			return -1;
		memcpy(p->v, pin, sizeof(pin));
		p->set = 1;
		return 0;
	}
	case CONFIG_POWER: {
		int64_t w;

		if (units_parse_power(text, &w, err, errlen) != 0 ||
		    config_check_range(k, text, (uint64_t)w, err, errlen) != 0)
			return -1;
		*(uint64_t *)field = (uint64_t)w;
		return 0;
	}
	case CONFIG_SIGNALLIST: {
		/* Only a default comes here: one signal. */
		struct config_strlist *l = field;
		char **sv;

		if (config_parse_signal(text, err, errlen) != 0)
			return -1;
		if ((sv = calloc(1, sizeof(*sv))) == NULL ||
		    (sv[0] = strdup(text)) == NULL) {
			free(sv);
			return units_errf(err, errlen, "out of memory");
		}
		strlist_free(l);
		l->v = sv;
		l->n = 1;
		return 0;
	}
	case CONFIG_SECTION:
	case CONFIG_GROUPLIST:
	case CONFIG_PINLIST:
	case CONFIG_CIDRLIST:
	case CONFIG_NAMELIST:
	case CONFIG_LIST:
		break;
	}
	return units_errf(err, errlen, "internal error: bad key type");
}

/* ---- lists of scalars ---------------------------------------------- */

static void
config_free_scalar_list(enum config_type type, void *field)
{
	switch (type) {
	case CONFIG_GROUPLIST:
		grouplist_free(field);
		break;
	case CONFIG_PINLIST: {
		struct config_pinlist *l = field;
		free(l->v);
		l->v = NULL;
		l->n = 0;
		break;
	}
	case CONFIG_CIDRLIST: {
		struct config_cidrlist *l = field;
		free(l->v);
		l->v = NULL;
		l->n = 0;
		break;
	}
	case CONFIG_SIGNALLIST:
	case CONFIG_NAMELIST:
		strlist_free(field);
		break;
	default:
		break;
	}
}

static const char *
config_item_name(enum config_type type)
{
	switch (type) {
	case CONFIG_GROUPLIST: return "a group name";
	case CONFIG_PINLIST: return "a pin";
	case CONFIG_SIGNALLIST: return "a signal";
	case CONFIG_NAMELIST: return "a name";
	default: return "an address block";
	}
}

/*
 * A list of group names, pins or address blocks. Built aside and swapped
 * in whole, so an error leaves the field as it was.
 */
static int
config_set_scalar_list(struct loadctx *ctx, void *base,
    const struct config_key *k, const char *path, const struct ynode *val)
{
	void *field = (char *)base + k->offset;
	size_t esize = k->type == CONFIG_GROUPLIST ? sizeof(struct config_group) :
	    k->type == CONFIG_PINLIST ? 32 : k->type == CONFIG_SIGNALLIST ||
	    k->type == CONFIG_NAMELIST ? sizeof(char *) :
	    sizeof(struct units_cidr);
	char err[CONFIG_ERR_MAX], ipath[300];
	char *items = NULL;
	size_t n = 0;

	if (val->kind != YNODE_SEQ) {
		config_err(ctx, val->line, val->col, path, "expected a list of "
		    "%ss, found %s", config_item_name(k->type) + (k->type ==
		    CONFIG_CIDRLIST ? 3 : 2), ynode_kind_name(val));
		return -1;
	}
	if (val->n < k->min || val->n > k->max) {
		config_err(ctx, val->line, val->col, path, "needs %llu to %llu "
		    "items, found %zu", (unsigned long long)k->min,
		    (unsigned long long)k->max, val->n);
		return -1;
	}
	if (val->n > 0 && (items = calloc(val->n, esize)) == NULL) {
		config_err(ctx, 0, 0, NULL, "out of memory");
		return -1;
	}
	for (; n < val->n; n++) {
		const struct ynode *it = val->items[n];
		void *slot = items + n * esize;
		int rc = -1;

		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, n);
		if (it->kind != YNODE_SCALAR) {
			config_err(ctx, it->line, it->col, ipath,
			    "expected %s, found %s", config_item_name(k->type),
			    ynode_kind_name(it));
			goto fail;
		}
		if (k->type == CONFIG_GROUPLIST) {
			struct config_group *g = slot;

			rc = units_parse_group(it->value, &g->gid, err,
			    sizeof(err));
			if (rc == 0 && (g->name = strdup(it->value)) == NULL)
				rc = units_errf(err, sizeof(err), "out of memory");
		} else if (k->type == CONFIG_PINLIST)
			rc = units_parse_pin(it->value, slot, err, sizeof(err));
		else if (k->type == CONFIG_SIGNALLIST ||
		    k->type == CONFIG_NAMELIST) {
			rc = k->type == CONFIG_SIGNALLIST ?
			    config_parse_signal(it->value, err, sizeof(err)) :
			    config_parse_name(it->value, err, sizeof(err));
			if (rc == 0 && (*(char **)slot = strdup(it->value)) ==
			    NULL)
				rc = units_errf(err, sizeof(err), "out of memory");
		} else
			rc = units_parse_cidr(it->value, slot, err, sizeof(err));
		if (rc != 0) {
			config_err(ctx, it->line, it->col, ipath, "%s", err);
			goto fail;
		}
		/* The same pin or block twice is a copy-paste slip. */
		for (size_t j = 0; k->type != CONFIG_GROUPLIST && j < n; j++)
			if (k->type == CONFIG_SIGNALLIST ||
			    k->type == CONFIG_NAMELIST ? strcmp(*(char **)
			    (void *)(items + j * esize), it->value) == 0 :
			    memcmp(items + j * esize, slot, esize) == 0) {
				config_err(ctx, it->line, it->col, ipath,
				    "\"%s\" is listed twice", it->value);
				goto fail;
			}
	}
	config_free_scalar_list(k->type, field);
	/* All three list structs are { pointer, count }. */
	memcpy(field, &items, sizeof(items));
	memcpy((char *)field + sizeof(void *), &n, sizeof(n));
	return 0;
fail:
	if (k->type == CONFIG_GROUPLIST)
		for (size_t j = 0; j <= n && j < val->n; j++)
			free(((struct config_group *)(void *)items)[j].name);
	if (k->type == CONFIG_SIGNALLIST || k->type == CONFIG_NAMELIST)
		for (size_t j = 0; j <= n && j < val->n; j++)
			free(((char **)(void *)items)[j]);
	free(items);
	return -1;
}

/* ---- walking mappings ---------------------------------------------- */

static void config_walk(struct loadctx *ctx, void *base, struct seen *seen,
    const struct ynode *map, const char *lookup, const char *shown);
static int config_apply_defaults(struct loadctx *ctx, void *base,
    const char *prefix);

static void config_free_peer(struct config_peer *p);

/* A list of mappings (peers:): each element walked with its own keys. */
static void
config_set_list(struct loadctx *ctx, void *base, const struct config_key *k,
    const char *path, const struct ynode *val)
{
	struct config_peerlist *list = (void *)((char *)base + k->offset);
	struct config_peer *v = NULL;
	char lookup[300], shown[300];
	size_t before = ctx->errs->count, n;

	if (val->kind != YNODE_SEQ) {
		config_err(ctx, val->line, val->col, path,
		    "expected a list of mappings, found %s",
		    ynode_kind_name(val));
		return;
	}
	if (val->n > k->max) {
		config_err(ctx, val->line, val->col, path, "more than %llu "
		    "entries", (unsigned long long)k->max);
		return;
	}
	if (val->n > 0 && (v = calloc(val->n, k->elem_size)) == NULL) {
		config_err(ctx, 0, 0, NULL, "out of memory");
		return;
	}
	snprintf(lookup, sizeof(lookup), "%s[]", path);
	for (n = 0; n < val->n; n++) {
		const struct ynode *it = val->items[n];
		struct seen *s;

		snprintf(shown, sizeof(shown), "%s[%zu]", path, n);
		v[n].line = it->line;
		v[n].col = it->col;
		if (config_apply_defaults(ctx, &v[n], lookup) != 0)
			break;
		if (it->kind != YNODE_MAP) {
			config_err(ctx, it->line, it->col, shown,
			    "expected a mapping, found %s", ynode_kind_name(it));
			continue;
		}
		if ((s = calloc(1, sizeof(*s))) == NULL) {
			config_err(ctx, 0, 0, NULL, "out of memory");
			break;
		}
		config_walk(ctx, &v[n], s, it, lookup, shown);
		for (size_t i = 0; i < CONFIG_NKEYS; i++) {
			const struct config_key *ek = &config_table[i];
			size_t pl = strlen(lookup);

			if (ek->required && !s->set[i] &&
			    strncmp(ek->path, lookup, pl) == 0 &&
			    ek->path[pl] == '.')
				config_err(ctx, it->line, it->col, shown,
				    "missing required key \"%s\"",
				    ek->path + pl + 1);
		}
		free(s);
	}
	if (ctx->errs->count != before) {
		for (size_t i = 0; i < val->n; i++)
			config_free_peer(&v[i]);
		free(v);
		return;
	}
	list->v = v;
	list->n = val->n;
}

static void
config_apply_key(struct loadctx *ctx, void *base, struct seen *seen,
    const char *lookup, const char *shown, const struct ynode *key,
    const struct ynode *val)
{
	const struct config_key *k;
	char err[CONFIG_ERR_MAX];
	size_t idx;

	if ((k = config_lookup(lookup, &idx)) == NULL) {
		config_suggest(lookup, shown, err, sizeof(err));
		config_err(ctx, key->line, key->col, shown, "unknown key%s",
		    err);
		return;
	}
	if (seen->set[idx]) {
		config_err(ctx, key->line, key->col, shown,
		    "duplicate key (first set at line %zu)", seen->kline[idx]);
		return;
	}
	seen->set[idx] = 1;
	seen->kline[idx] = key->line;
	seen->vline[idx] = val->line;
	seen->vcol[idx] = val->col;
	if (k->unsupported != NULL) {
		config_err(ctx, key->line, key->col, shown, "%s",
		    k->unsupported);
		return;
	}
	switch (k->type) {
	case CONFIG_SECTION:
		if (val->kind == YNODE_SCALAR && val->value[0] == '\0')
			return;		/* "section:" with nothing in it */
		if (val->kind != YNODE_MAP) {
			config_err(ctx, val->line, val->col, shown,
			    "expected a mapping, found %s", ynode_kind_name(val));
			return;
		}
		config_walk(ctx, base, seen, val, lookup, shown);
		return;
	case CONFIG_LIST:
		config_set_list(ctx, base, k, shown, val);
		return;
	case CONFIG_GROUPLIST:
	case CONFIG_PINLIST:
	case CONFIG_CIDRLIST:
	case CONFIG_SIGNALLIST:
	case CONFIG_NAMELIST:
		config_set_scalar_list(ctx, base, k, shown, val);
		return;
	default:
		break;
	}
	if (val->kind != YNODE_SCALAR) {
		config_err(ctx, val->line, val->col, shown,
		    "expected a %s, found %s", config_type_name(k->type),
		    ynode_kind_name(val));
		return;
	}
	if (config_set_scalar(base, k, val->value, err, sizeof(err)) != 0)
		config_err(ctx, val->line, val->col, shown, "%s", err);
}

static void
config_walk(struct loadctx *ctx, void *base, struct seen *seen,
    const struct ynode *map, const char *lookup, const char *shown)
{
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *key = map->items[i];
		const struct ynode *val = map->items[i + 1];
		char lpath[256], spath[256];

		if (key->kind != YNODE_SCALAR) {
			config_err(ctx, key->line, key->col,
			    shown[0] ? shown : "(top level)",
			    "keys must be plain names, found %s",
			    ynode_kind_name(key));
			continue;
		}
		if (snprintf(lpath, sizeof(lpath), "%s%s%s", lookup,
		    lookup[0] ? "." : "", key->value) >= (int)sizeof(lpath) ||
		    snprintf(spath, sizeof(spath), "%s%s%s", shown,
		    shown[0] ? "." : "", key->value) >= (int)sizeof(spath)) {
			config_err(ctx, key->line, key->col, shown,
			    "key name too long");
			continue;
		}
		/* A key must not smuggle a dot or brackets into the lookup. */
		if (key->value[0] == '\0' || strpbrk(key->value, ".[]") != NULL) {
			config_err(ctx, key->line, key->col, spath,
			    "unknown key");
			continue;
		}
		config_apply_key(ctx, base, seen, lpath, spath, key, val);
	}
}

/* Defaults of the keys directly under prefix ("" for top-level keys). */
static int
config_apply_defaults(struct loadctx *ctx, void *base, const char *prefix)
{
	size_t pl = strlen(prefix);
	char err[CONFIG_ERR_MAX];

	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_table[i];
		int inside = pl == 0 ? strchr(k->path, '[') == NULL :
		    strncmp(k->path, prefix, pl) == 0 && k->path[pl] == '.';

		if (!inside || k->def == NULL || k->type == CONFIG_SECTION)
			continue;
		if (config_set_scalar(base, k, k->def, err, sizeof(err)) != 0) {
			config_err(ctx, 0, 0, NULL,
			    "internal error: default of %s: %s", k->path, err);
			return -1;
		}
	}
	return 0;
}

/* ---- checks across keys -------------------------------------------- */

/* Where the value of a top-level key was written (0, 0: its default). */
static void
config_where(const struct loadctx *ctx, const char *path, size_t *line,
    size_t *col)
{
	size_t idx;

	*line = *col = 0;
	if (config_lookup(path, &idx) != NULL && ctx->root.set[idx]) {
		*line = ctx->root.vline[idx];
		*col = ctx->root.vcol[idx];
	}
}

static void
config_require(struct loadctx *ctx, const char *needed_by, const char *key,
    int present)
{
	size_t line, col;

	if (present)
		return;
	config_where(ctx, needed_by, &line, &col);
	config_err(ctx, line, col, needed_by, "is set, so %s is required too",
	    key);
}

static int
config_cipher_check(const char *list, int suites, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	int ok;

	if (ctx == NULL)
		return units_errf(err, errlen, "OpenSSL: cannot create context");
	ok = suites ? SSL_CTX_set_ciphersuites(ctx, list) :
	    SSL_CTX_set_cipher_list(ctx, list);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (!ok)
		return units_errf(err, errlen, "OpenSSL knows none of the %s in "
		    "\"%s\"", suites ? "TLS 1.3 suites" : "TLS 1.2 ciphers", list);
	return 0;
}

/* Checks that involve more than one key, or the environment. */
static void config_check_unique(struct loadctx *, const struct config *);

static void
config_check(struct loadctx *ctx, struct config *cfg)
{
	char err[CONFIG_ERR_MAX];
	size_t line, col;

	if (cfg->r3.listen.text != NULL && cfg->r3.listen.sa.wildcard &&
	    !cfg->r3.allow_wildcard) {
		config_where(ctx, "r3.listen", &line, &col);
		config_err(ctx, line, col, "r3.listen",
		    "\"%s\" is a wildcard address; set r3.allow_wildcard: "
		    "true to permit it", cfg->r3.listen.text);
	}
	if (strlen(cfg->control.socket) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path)) {
		config_where(ctx, "control.socket", &line, &col);
		config_err(ctx, line, col, "control.socket",
		    "\"%s\" is too long for a UNIX socket path (at most %zu "
		    "bytes)", cfg->control.socket,
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	}
	if ((cfg->control.mode & 0007) != 0) {
		config_where(ctx, "control.mode", &line, &col);
		config_err(ctx, line, col, "control.mode",
		    "0%03o gives every local user access; use control.group "
		    "and control.readers instead", (unsigned)cfg->control.mode);
	}
	if (config_cipher_check(cfg->tls.ciphers, 0, err, sizeof(err)) != 0) {
		config_where(ctx, "tls.ciphers", &line, &col);
		config_err(ctx, line, col, "tls.ciphers", "%s", err);
	}
	if (config_cipher_check(cfg->tls.ciphersuites, 1, err,
	    sizeof(err)) != 0) {
		config_where(ctx, "tls.ciphersuites", &line, &col);
		config_err(ctx, line, col, "tls.ciphersuites", "%s", err);
	}
	if (cfg->tls.expiry_critical_ms > cfg->tls.expiry_warning_ms) {
		config_where(ctx, "tls.expiry_critical", &line, &col);
		config_err(ctx, line, col, "tls.expiry_critical",
		    "must not be longer than tls.expiry_warning");
	}
	if (cfg->r1.backoff_initial_ms > cfg->r1.backoff_max_ms) {
		config_where(ctx, "r1.backoff_initial", &line, &col);
		config_err(ctx, line, col, "r1.backoff_initial",
		    "must not be longer than r1.backoff_max");
	}
	if (cfg->r3.request_burst < cfg->r3.requests_per_second) {
		config_where(ctx, "r3.request_burst", &line, &col);
		config_err(ctx, line, col, "r3.request_burst",
		    "must be at least r3.requests_per_second");
	}
	for (size_t i = 0; i < cfg->peers.n; i++)
		if (cfg->peers.v[i].push_url.text != NULL &&
		    cfg->r3.listen.text == NULL) {
			char key[64];

			snprintf(key, sizeof(key), "peers[%zu].push_url", i);
			config_err(ctx, cfg->peers.v[i].line,
			    cfg->peers.v[i].col, key, "pushing to an RA needs "
			    "r3.listen (the RA registers over R3, and acgwd "
			    "pushes with r3.cert)");
			break;
		}
	if (cfg->r3.listen.text != NULL) {
		config_require(ctx, "r3.listen", "r3.cert", cfg->r3.cert != NULL);
		config_require(ctx, "r3.listen", "r3.key", cfg->r3.key != NULL);
	}
	if (cfg->r1.url.text != NULL) {
		config_require(ctx, "r1.url", "r1.ca", cfg->r1.ca != NULL);
		config_require(ctx, "r1.url", "r1.cert", cfg->r1.cert != NULL);
		config_require(ctx, "r1.url", "r1.key", cfg->r1.key != NULL);
	}
	if (cfg->policy.enabled)
		config_require(ctx, "policy.enabled", "policy.assessor_ca",
		    cfg->policy.assessor_ca != NULL);
	if (cfg->policy.failure_action == 1 && !cfg->policy.allow_warn) {
		config_where(ctx, "policy.failure_action", &line, &col);
		config_err(ctx, line, col, "policy.failure_action",
		    "warn keeps non-compliant peers connected; it is for test "
		    "setups only and needs policy.allow_warn: true");
	}
	if (cfg->policy.expiry_critical_ms > cfg->policy.expiry_warning_ms) {
		config_where(ctx, "policy.expiry_critical", &line, &col);
		config_err(ctx, line, col, "policy.expiry_critical",
		    "must not be longer than policy.expiry_warning");
	}
	if (cfg->dispatch.min_duration_ms > cfg->dispatch.max_duration_ms) {
		config_where(ctx, "dispatch.min_duration", &line, &col);
		config_err(ctx, line, col, "dispatch.min_duration",
		    "must not be longer than dispatch.max_duration");
	}
	if (cfg->dispatch.rule == 2 && cfg->peers.n > 0) {
		uint64_t sum = 0;

		for (size_t i = 0; i < cfg->peers.n; i++)
			sum += cfg->peers.v[i].share;
		if (sum != 100) {
			config_where(ctx, "dispatch.rule", &line, &col);
			config_err(ctx, line, col, "dispatch.rule",
			    "static: peers[].share must add up to 100, "
			    "they add up to %llu", (unsigned long long)sum);
		}
	}
	config_check_unique(ctx, cfg);
}

/* One name, venID or pin of a peer, for finding those used twice. */
struct config_dup {
	const char *s;			/* a name or venID; NULL for a pin */
	const unsigned char *pin;
	size_t peer;
};

static int
config_dup_cmp(const void *a, const void *b)
{
	const struct config_dup *x = a, *y = b;

	if (x->s != NULL)
		return strcmp(x->s, y->s);
	return memcmp(x->pin, y->pin, 32);
}

/*
 * Marks in dup[] every peer that shares one of the n keys in v with
 * another peer: sorted, so that 10,000 peers cost n log n, not n².
 */
static void
config_dup_mark(struct config_dup *v, size_t n, unsigned char *dup)
{
	qsort(v, n, sizeof(*v), config_dup_cmp);
	for (size_t i = 1; i < n; i++)
		if (config_dup_cmp(&v[i - 1], &v[i]) == 0 &&
		    v[i - 1].peer != v[i].peer)
			dup[v[i - 1].peer] = dup[v[i].peer] = 1;
}

/* The pairs of marked peers, checked and reported in peer order. */
static void
config_dup_report(struct loadctx *ctx, const struct config *cfg,
    const unsigned char *dup)
{
	for (size_t i = 0; i < cfg->peers.n; i++)
		for (size_t j = 0; j < i; j++) {
			const struct config_peer *p = &cfg->peers.v[i];

			if (!dup[i] || !dup[j])
				continue;
			const char *vi = p->ven_id ? p->ven_id : p->name;
			const char *vj = cfg->peers.v[j].ven_id ?
			    cfg->peers.v[j].ven_id : cfg->peers.v[j].name;

			if (strcmp(p->name, cfg->peers.v[j].name) == 0)
				config_err(ctx, p->line, p->col, "peers",
				    "[%zu]: name \"%s\" is already used by "
				    "peers[%zu]", i, p->name, j);
			else if (strcmp(vi, vj) == 0)
				config_err(ctx, p->line, p->col, "peers",
				    "[%zu]: venID \"%s\" is already that of "
				    "peers[%zu]", i, vi, j);
			for (size_t a = 0; a < p->pins.n; a++)
				for (size_t b = 0; b < cfg->peers.v[j].pins.n;
				    b++)
					if (memcmp(p->pins.v[a],
					    cfg->peers.v[j].pins.v[b], 32) == 0)
						config_err(ctx, p->line, p->col,
						    "peers", "[%zu]: pins[%zu] is "
						    "also a pin of peers[%zu] "
						    "(\"%s\"); a key identifies "
						    "one peer", i, a, j,
						    cfg->peers.v[j].name);
		}
}

/* Names, venIDs and pins each belong to one peer. */
static void
config_check_unique(struct loadctx *ctx, const struct config *cfg)
{
	size_t n = cfg->peers.n, npins = 0, k = 0;
	struct config_dup *v;
	unsigned char *dup;

	for (size_t i = 0; i < n; i++)
		npins += cfg->peers.v[i].pins.n;
	if (n < 2)
		return;
	dup = calloc(n, 1);
	v = calloc(n + npins, sizeof(*v));
	if (dup == NULL || v == NULL) {
		free(dup);
		free(v);
		config_err(ctx, 0, 0, "peers", "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = (struct config_dup){ cfg->peers.v[i].name, NULL, i };
	config_dup_mark(v, n, dup);
	for (size_t i = 0; i < n; i++) {
		const struct config_peer *p = &cfg->peers.v[i];

		v[i] = (struct config_dup){ p->ven_id ? p->ven_id : p->name,
		    NULL, i };
	}
	config_dup_mark(v, n, dup);
	for (size_t i = 0; i < n; i++)
		for (size_t a = 0; a < cfg->peers.v[i].pins.n; a++)
			v[k++] = (struct config_dup){ NULL,
			    cfg->peers.v[i].pins.v[a], i };
	config_dup_mark(v, k, dup);
	free(v);
	config_dup_report(ctx, cfg, dup);
	free(dup);
}

/* ---- public -------------------------------------------------------- */

static void
config_free_peer(struct config_peer *p)
{
	free(p->name);
	free(p->ca);
	free(p->crl);
	free(p->pins.v);
	free(p->sources.v);
	free(p->ven_id);
	config_url_free(&p->push_url);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->key_pos);
	free(cfg->control.socket);
	free(cfg->control.group.name);
	grouplist_free(&cfg->control.readers);
	grouplist_free(&cfg->control.operators);
	free(cfg->tls.ciphers);
	free(cfg->tls.ciphersuites);
	free(cfg->r3.listen.text);
	free(cfg->r3.cert);
	free(cfg->r3.key);
	config_url_free(&cfg->r1.url);
	free(cfg->r1.server_name);
	free(cfg->r1.ca);
	free(cfg->r1.crl);
	free(cfg->r1.cert);
	free(cfg->r1.key);
	free(cfg->r1.source_address.text);
	free(cfg->r1.interface);
	free(cfg->audit.dir);
	free(cfg->oadr.schema);
	free(cfg->policy.catalog);
	free(cfg->policy.assessor_ca);
	free(cfg->policy.attestation_dir);
	strlist_free(&cfg->policy.required_a);
	strlist_free(&cfg->policy.required_b);
	free(cfg->dispatch.state_dir);
	free(cfg->dispatch.ven_name);
	free(cfg->dispatch.vtn_id);
	strlist_free(&cfg->dispatch.signals);
	for (size_t i = 0; i < cfg->peers.n; i++)
		config_free_peer(&cfg->peers.v[i]);
	free(cfg->peers.v);
	free(cfg);
}

int
config_grouplist_has(const struct config_grouplist *list, gid_t gid)
{
	for (size_t i = 0; i < list->n; i++)
		if (list->v[i].gid == gid)
			return 1;
	return 0;
}

const struct config_peer *
config_peer_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->peers.n; i++)
		if (strcmp(cfg->peers.v[i].name, name) == 0)
			return &cfg->peers.v[i];
	return NULL;
}

void
config_locate(const struct config *cfg, const char *path, long peer,
    char *buf, size_t len)
{
	size_t idx, line = 0, col = 0;

	if (peer >= 0 && (size_t)peer < cfg->peers.n) {
		snprintf(buf, len, "%s:%zu:%zu: peers[%ld].%s", cfg->path,
		    cfg->peers.v[peer].line, cfg->peers.v[peer].col, peer,
		    path);
		return;
	}
	if (config_lookup(path, &idx) != NULL && cfg->key_pos != NULL) {
		line = cfg->key_pos[2 * idx];
		col = cfg->key_pos[2 * idx + 1];
	}
	if (line != 0)
		snprintf(buf, len, "%s:%zu:%zu: %s", cfg->path, line, col, path);
	else
		snprintf(buf, len, "%s: %s", cfg->path, path);
}

struct config *
config_load_buffer(const char *name, const char *buf, size_t len,
    struct config_errors *errs)
{
	struct loadctx *ctx;
	struct ynode *root = NULL;
	struct config *cfg = NULL;

	memset(errs, 0, sizeof(*errs));
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		errs->count = 1;
		snprintf(errs->msg[0], CONFIG_ERR_MAX, "%s: out of memory", name);
		return NULL;
	}
	ctx->name = name;
	ctx->errs = errs;
	ctx->buf = buf;
	ctx->len = len;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->path = strdup(name)) == NULL ||
	    (cfg->key_pos = calloc(2 * CONFIG_NKEYS, sizeof(size_t))) == NULL) {
		config_err(ctx, 0, 0, NULL, "out of memory");
		goto fail;
	}
	if (EVP_Digest(buf, len, cfg->sha256, NULL, EVP_sha256(), NULL) != 1) {
		config_err(ctx, 0, 0, NULL, "cannot compute SHA-256");
		goto fail;
	}
	if (config_apply_defaults(ctx, cfg, "") != 0)
		goto fail;
	if (memchr(buf, '\0', len) != NULL) {
		config_err(ctx, 0, 0, NULL, "file contains a NUL byte");
		goto fail;
	}
	if (ynode_load(ctx, buf, len, &root) != 0)
		goto fail;
	if (root != NULL) {
		if (root->kind != YNODE_MAP) {
			config_err(ctx, root->line, root->col, "(top level)",
			    "expected a mapping of sections, found %s",
			    ynode_kind_name(root));
			goto fail;
		}
		config_walk(ctx, cfg, &ctx->root, root, "", "");
	}
	if (errs->count == 0)
		config_check(ctx, cfg);
	if (errs->count != 0)
		goto fail;
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		cfg->key_pos[2 * i] = ctx->root.vline[i];
		cfg->key_pos[2 * i + 1] = ctx->root.vcol[i];
	}
	ynode_free(root);
	free(ctx);
	return cfg;
fail:
	ynode_free(root);
	config_free(cfg);
	free(ctx);
	return NULL;
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	struct config *cfg = NULL;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd;

	memset(errs, 0, sizeof(*errs));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		errs->count = 1;
		snprintf(errs->msg[0], CONFIG_ERR_MAX, "%s: cannot open: %s",
		    path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		errs->count = 1;
		snprintf(errs->msg[0], CONFIG_ERR_MAX,
		    "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		errs->count = 1;
		snprintf(errs->msg[0], CONFIG_ERR_MAX,
		    "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		errs->count = 1;
		snprintf(errs->msg[0], CONFIG_ERR_MAX, "%s: out of memory",
		    path);
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			errs->count = 1;
			snprintf(errs->msg[0], CONFIG_ERR_MAX,
			    "%s: cannot read: %s", path,
			    r == 0 ? "file shrank while reading" :
			    strerror(errno));
			goto out;
		}
		len += (size_t)r;
	}
	cfg = config_load_buffer(path, buf, len, errs);
out:
	free(buf);
	close(fd);
	return cfg;
}
