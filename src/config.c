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
#include <openssl/evp.h>

#include "acgw/config.h"

#define CONFIG_DEPTH_MAX 32
#define CONFIG_NODES_MAX 20000

#define OFF(field) offsetof(struct config, field)

/*
 * The settings table. Sections later releases fill are listed so that a
 * config using them is refused with a reason instead of being ignored.
 */
static const struct config_key config_table[] = {
	{ "log", CONFIG_SECTION, 0, 0, 0, NULL, NULL },
	{ "log.level", CONFIG_LOGLEVEL, OFF(log.level), 0, 0, "info", NULL },

	{ "daemon", CONFIG_SECTION, 0, 0, 0, NULL, NULL },
	{ "daemon.watchdog_fraction", CONFIG_UINT,
	    OFF(daemon.watchdog_fraction), 2, 10, "3", NULL },
	{ "daemon.stop_timeout", CONFIG_DURATION, OFF(daemon.stop_timeout_ms),
	    100, 300000, "10s", NULL },

	{ "control", CONFIG_SECTION, 0, 0, 0, NULL, NULL },
	{ "control.socket", CONFIG_PATH, OFF(control.socket), 0, 0,
	    CONFIG_DEFAULT_SOCKET, NULL },
	{ "control.mode", CONFIG_MODE, OFF(control.mode), 0, 0, "0660", NULL },
	{ "control.group", CONFIG_GROUP, OFF(control.group), 0, 0, NULL, NULL },
	{ "control.readers", CONFIG_GROUPLIST, OFF(control.readers), 0, 64,
	    NULL, NULL },
	{ "control.operators", CONFIG_GROUPLIST, OFF(control.operators), 0, 64,
	    NULL, NULL },
	{ "control.max_line", CONFIG_SIZE, OFF(control.max_line), 256,
	    65536, "4KiB", NULL },
	{ "control.max_response", CONFIG_SIZE, OFF(control.max_response),
	    65536, 64ULL << 20, "4MiB", NULL },
	{ "control.max_clients", CONFIG_UINT, OFF(control.max_clients), 1,
	    4096, "64", NULL },
	{ "control.max_clients_per_uid", CONFIG_UINT,
	    OFF(control.max_clients_per_uid), 1, 4096, "8", NULL },
	{ "control.idle_timeout", CONFIG_DURATION,
	    OFF(control.idle_timeout_ms), 1000, 86400000, "5m", NULL },

	{ "r3", CONFIG_SECTION, 0, 0, 0, NULL, NULL },
	{ "r3.listen", CONFIG_SOCKADDR, OFF(r3.listen), 0, 0, NULL, NULL },
	{ "r3.allow_wildcard", CONFIG_BOOL, OFF(r3.allow_wildcard), 0, 0,
	    "false", NULL },

	{ "tls", CONFIG_SECTION, 0, 0, 0, NULL,
	    "not supported yet (arrives with the mTLS transport)" },
	{ "r1", CONFIG_SECTION, 0, 0, 0, NULL,
	    "not supported yet (arrives with the R1 relay)" },
	{ "peers", CONFIG_SECTION, 0, 0, 0, NULL,
	    "not supported yet (arrives with the mTLS transport)" },
	{ "policy", CONFIG_SECTION, 0, 0, 0, NULL,
	    "not supported yet (arrives with policy and attestation)" },
	{ "audit", CONFIG_SECTION, 0, 0, 0, NULL,
	    "not supported yet (arrives with the audit log)" },
	{ "dispatch", CONFIG_SECTION, 0, 0, 0, NULL,
	    "not supported yet (arrives with the relay)" },
};

#define CONFIG_NKEYS (sizeof(config_table) / sizeof(config_table[0]))

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

struct loadctx {
	const char *name;
	const char *buf;	/* the text, for positions of reader errors */
	size_t len;
	struct config_errors *errs;
	size_t nodes;
	size_t lines[CONFIG_NKEYS];	/* where each key was written */
	size_t vlines[CONFIG_NKEYS], vcols[CONFIG_NKEYS];	/* and its value */
	int seen[CONFIG_NKEYS];
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
config_suggest(const char *path, char *buf, size_t len)
{
	const char *dot = strrchr(path, '.');
	size_t plen = dot ? (size_t)(dot - path) : 0;
	const char *best = NULL;
	size_t bestd = 3;

	buf[0] = '\0';
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const char *cand = config_table[i].path;
		const char *cdot = strrchr(cand, '.');
		size_t clen = cdot ? (size_t)(cdot - cand) : 0;

		if (clen != plen || strncmp(cand, path, plen) != 0)
			continue;
		size_t d = edit_distance(path, cand);
		if (d < bestd) {
			bestd = d;
			best = cand;
		}
	}
	if (best != NULL)
		snprintf(buf, len, " (did you mean %s?)", best);
}

static void
grouplist_free(struct config_grouplist *gl)
{
	for (size_t i = 0; i < gl->n; i++)
		free(gl->v[i].name);
	free(gl->v);
	gl->v = NULL;
	gl->n = 0;
}

/* Converts one scalar text into the field; err gets the reason. */
static int
config_set_scalar(struct config *cfg, const struct config_key *k,
    const char *text, char *err, size_t errlen)
{
	void *field = (char *)cfg + k->offset;
	char lo[32], hi[32];
	uint64_t v;

	switch (k->type) {
	case CONFIG_STRING:
	case CONFIG_PATH: {
		char *s;

		if (*text == '\0') {
			snprintf(err, errlen, "must not be empty");
			return -1;
		}
		if (k->type == CONFIG_PATH && text[0] != '/') {
			snprintf(err, errlen, "\"%s\" is not an absolute path",
			    text);
			return -1;
		}
		if ((s = strdup(text)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(*(char **)field);
		*(char **)field = s;
		return 0;
	}
	case CONFIG_BOOL:
		if (strcmp(text, "true") == 0)
			*(int *)field = 1;
		else if (strcmp(text, "false") == 0)
			*(int *)field = 0;
		else {
			snprintf(err, errlen,
			    "\"%s\" is not a boolean (write true or false)",
			    text);
			return -1;
		}
		return 0;
	case CONFIG_UINT:
		if (units_parse_uint(text, &v, err, errlen) != 0)
			return -1;
		if (v < k->min || v > k->max) {
			snprintf(err, errlen, "%s is out of range (%llu..%llu)",
			    text, (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return -1;
		}
		*(uint64_t *)field = v;
		return 0;
	case CONFIG_DURATION:
		if (units_parse_duration(text, &v, err, errlen) != 0)
			return -1;
		if (v < k->min || v > k->max) {
			units_format_duration(k->min, lo, sizeof(lo));
			units_format_duration(k->max, hi, sizeof(hi));
			snprintf(err, errlen, "\"%s\" is out of range (%s..%s)",
			    text, lo, hi);
			return -1;
		}
		*(uint64_t *)field = v;
		return 0;
	case CONFIG_SIZE:
		if (units_parse_size(text, &v, err, errlen) != 0)
			return -1;
		if (v < k->min || v > k->max) {
			units_format_size(k->min, lo, sizeof(lo));
			units_format_size(k->max, hi, sizeof(hi));
			snprintf(err, errlen, "\"%s\" is out of range (%s..%s)",
			    text, lo, hi);
			return -1;
		}
		*(uint64_t *)field = v;
		return 0;
	case CONFIG_SOCKADDR: {
		struct config_addr *a = field;
		struct units_sockaddr sa;
		char *s;

		if (units_parse_sockaddr(text, &sa, err, errlen) != 0)
			return -1;
		if ((s = strdup(text)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(a->text);
		a->text = s;
		a->sa = sa;
		return 0;
	}
	case CONFIG_MODE:
		return units_parse_mode(text, (mode_t *)field, err, errlen);
	case CONFIG_GROUP: {
		struct config_group *g = field;
		gid_t gid;
		char *s;

		if (units_parse_group(text, &gid, err, errlen) != 0)
			return -1;
		if ((s = strdup(text)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(g->name);
		g->name = s;
		g->gid = gid;
		return 0;
	}
	case CONFIG_LOGLEVEL: {
		int l = log_level_from_name(text);

		if (l < 0) {
			snprintf(err, errlen, "\"%s\" is not a log level "
			    "(error, warning, notice, info, debug)", text);
			return -1;
		}
		*(enum log_level *)field = (enum log_level)l;
		return 0;
	}
	case CONFIG_SECTION:
	case CONFIG_GROUPLIST:
		break;
	}
	snprintf(err, errlen, "internal error: bad key type");
	return -1;
}

static int
config_set_grouplist(struct loadctx *ctx, struct config *cfg,
    const struct config_key *k, const struct ynode *val)
{
	struct config_grouplist *gl =
	    (struct config_grouplist *)((char *)cfg + k->offset);
	struct config_grouplist nl = { NULL, 0 };
	char err[UNITS_ERR_MAX];

	if (val->kind != YNODE_SEQ) {
		config_err(ctx, val->line, val->col, k->path,
		    "expected a list of group names, found %s",
		    ynode_kind_name(val));
		return -1;
	}
	if (val->n > k->max) {
		config_err(ctx, val->line, val->col, k->path,
		    "more than %llu groups", (unsigned long long)k->max);
		return -1;
	}
	if (val->n > 0 && (nl.v = calloc(val->n, sizeof(*nl.v))) == NULL) {
		config_err(ctx, 0, 0, NULL, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < val->n; i++) {
		const struct ynode *it = val->items[i];
		char path[128];

		snprintf(path, sizeof(path), "%s[%zu]", k->path, i);
		if (it->kind != YNODE_SCALAR) {
			config_err(ctx, it->line, it->col, path,
			    "expected a group name, found %s",
			    ynode_kind_name(it));
			goto fail;
		}
		if (units_parse_group(it->value, &nl.v[i].gid, err,
		    sizeof(err)) != 0) {
			config_err(ctx, it->line, it->col, path, "%s", err);
			goto fail;
		}
		if ((nl.v[i].name = strdup(it->value)) == NULL) {
			config_err(ctx, 0, 0, NULL, "out of memory");
			goto fail;
		}
		nl.n = i + 1;
	}
	grouplist_free(gl);
	*gl = nl;
	return 0;
fail:
	nl.n = val->n;
	grouplist_free(&nl);
	return -1;
}

static void config_walk(struct loadctx *ctx, struct config *cfg,
    const struct ynode *map, const char *prefix);

static void
config_apply_key(struct loadctx *ctx, struct config *cfg, const char *path,
    const struct ynode *key, const struct ynode *val)
{
	const struct config_key *k;
	char err[CONFIG_ERR_MAX];
	size_t idx;

	if ((k = config_lookup(path, &idx)) == NULL) {
		config_suggest(path, err, sizeof(err));
		config_err(ctx, key->line, key->col, path, "unknown key%s",
		    err);
		return;
	}
	if (ctx->seen[idx]) {
		config_err(ctx, key->line, key->col, path,
		    "duplicate key (first set at line %zu)", ctx->lines[idx]);
		return;
	}
	ctx->seen[idx] = 1;
	ctx->lines[idx] = key->line;
	ctx->vlines[idx] = val->line;
	ctx->vcols[idx] = val->col;
	if (k->unsupported != NULL) {
		config_err(ctx, key->line, key->col, path, "%s",
		    k->unsupported);
		return;
	}
	if (k->type == CONFIG_SECTION) {
		if (val->kind == YNODE_SCALAR && val->value[0] == '\0')
			return;		/* "section:" with nothing in it */
		if (val->kind != YNODE_MAP) {
			config_err(ctx, val->line, val->col, path,
			    "expected a mapping, found %s", ynode_kind_name(val));
			return;
		}
		config_walk(ctx, cfg, val, path);
		return;
	}
	if (k->type == CONFIG_GROUPLIST) {
		config_set_grouplist(ctx, cfg, k, val);
		return;
	}
	if (val->kind != YNODE_SCALAR) {
		config_err(ctx, val->line, val->col, path,
		    "expected a %s, found %s", config_type_name(k->type),
		    ynode_kind_name(val));
		return;
	}
	if (config_set_scalar(cfg, k, val->value, err, sizeof(err)) != 0)
		config_err(ctx, val->line, val->col, path, "%s", err);
}

static void
config_walk(struct loadctx *ctx, struct config *cfg,
    const struct ynode *map, const char *prefix)
{
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *key = map->items[i];
		const struct ynode *val = map->items[i + 1];
		char path[256];

		if (key->kind != YNODE_SCALAR) {
			config_err(ctx, key->line, key->col,
			    prefix[0] ? prefix : "(top level)",
			    "keys must be plain names, found %s",
			    ynode_kind_name(key));
			continue;
		}
		if (snprintf(path, sizeof(path), "%s%s%s", prefix,
		    prefix[0] ? "." : "", key->value) >= (int)sizeof(path)) {
			config_err(ctx, key->line, key->col, prefix,
			    "key name too long");
			continue;
		}
		/* A key path must not smuggle a dot into a nested lookup. */
		if (strchr(key->value, '.') != NULL || key->value[0] == '\0') {
			config_err(ctx, key->line, key->col, path,
			    "unknown key");
			continue;
		}
		config_apply_key(ctx, cfg, path, key, val);
	}
}

/* Where the value of path was written (0, 0 if it took its default). */
static void
config_where(const struct loadctx *ctx, const char *path, size_t *line,
    size_t *col)
{
	size_t idx;

	*line = *col = 0;
	if (config_lookup(path, &idx) != NULL && ctx->seen[idx]) {
		*line = ctx->vlines[idx];
		*col = ctx->vcols[idx];
	}
}

/* Checks that involve more than one key, or the environment. */
static void
config_check(struct loadctx *ctx, struct config *cfg)
{
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
}

static int
config_defaults(struct loadctx *ctx, struct config *cfg)
{
	char err[CONFIG_ERR_MAX];

	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_table[i];

		if (k->def == NULL || k->type == CONFIG_SECTION)
			continue;
		if (config_set_scalar(cfg, k, k->def, err, sizeof(err)) != 0) {
			config_err(ctx, 0, 0, NULL,
			    "internal error: default of %s: %s", k->path, err);
			return -1;
		}
	}
	return 0;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->control.socket);
	free(cfg->control.group.name);
	grouplist_free(&cfg->control.readers);
	grouplist_free(&cfg->control.operators);
	free(cfg->r3.listen.text);
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

struct config *
config_load_buffer(const char *name, const char *buf, size_t len,
    struct config_errors *errs)
{
	struct loadctx ctx;
	struct ynode *root = NULL;
	struct config *cfg;

	memset(errs, 0, sizeof(*errs));
	memset(&ctx, 0, sizeof(ctx));
	ctx.name = name;
	ctx.errs = errs;
	ctx.buf = buf;
	ctx.len = len;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->path = strdup(name)) == NULL) {
		config_err(&ctx, 0, 0, NULL, "out of memory");
		goto fail;
	}
	if (EVP_Digest(buf, len, cfg->sha256, NULL, EVP_sha256(), NULL) != 1) {
		config_err(&ctx, 0, 0, NULL, "cannot compute SHA-256");
		goto fail;
	}
	if (config_defaults(&ctx, cfg) != 0)
		goto fail;
	if (memchr(buf, '\0', len) != NULL) {
		config_err(&ctx, 0, 0, NULL, "file contains a NUL byte");
		goto fail;
	}
	if (ynode_load(&ctx, buf, len, &root) != 0)
		goto fail;
	if (root != NULL) {
		if (root->kind != YNODE_MAP) {
			config_err(&ctx, root->line, root->col, "(top level)",
			    "expected a mapping of sections, found %s",
			    ynode_kind_name(root));
			goto fail;
		}
		config_walk(&ctx, cfg, root, "");
	}
	if (errs->count == 0)
		config_check(&ctx, cfg);
	if (errs->count != 0)
		goto fail;
	ynode_free(root);
	return cfg;
fail:
	ynode_free(root);
	config_free(cfg);
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
