/*
 * oadr — parse, build, free and compare OpenADR 2.0b messages by walking
 * the schema tables of oadr_model.c.
 *
 * Parsing is a libxml2 SAX2 push parse into the C structs directly: no
 * DOM, so memory and time follow the payload, and every limit is checked
 * as the element arrives. Safety comes first: the bytes must be UTF-8
 * and within oadr.max_payload before libxml2 sees them; a DOCTYPE stops
 * the parse from its SAX callback (so no DTD, internal subset or entity
 * declaration is ever processed); XML_PARSE_NONET; no entity
 * substitution, so an undeclared entity is a well-formedness error.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include "acgw/json.h"
#include "acgw/oadr.h"
#include "acgw/units.h"
#include "oadr_model.h"

#define PATH_MAX_LEN 384
#define QUOTE_MAX 64		/* bytes of a bad value quoted in errors */

/* Length of s to quote: at most QUOTE_MAX bytes, cut between characters. */
static int
qlen(const char *s, size_t n)
{
	if (n <= QUOTE_MAX)
		return (int)n;
	n = QUOTE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}
#define Q(s) qlen((s), strlen(s)), (s)

void
oadr_limits_default(struct oadr_limits *l)
{
	/* Keep in step with the "oadr" rows of config_table (config.c). */
	l->max_payload = 1024 * 1024;
	l->max_depth = 32;
	l->max_elements = 100000;
	l->max_events = 256;
	l->max_signals = 64;
	l->max_intervals = 4096;
	l->max_reports = 1024;
	l->max_duration = 366LL * 86400 * 1000000;
}

const char *
oadr_msg_name(int type)
{
	if (type <= OADR_MSG_NONE || type >= OADR_MSG_COUNT)
		return NULL;
	return oadr_msg_table[type].name;
}

const char *
oadr_msg_service(int type)
{
	if (type <= OADR_MSG_NONE || type >= OADR_MSG_COUNT)
		return NULL;
	return oadr_msg_table[type].service;
}

const char *
oadr_status_name(int status)
{
	if (status < OADR_STATUS_NONE || status > OADR_STATUS_CANCELLED)
		return "?";
	return oadr_event_status_names[status];
}

const char *
oadr_signal_type_name(int type)
{
	if (type < OADR_SIGNAL_DELTA || type > OADR_SIGNAL_X_LOAD_CONTROL_SETPOINT)
		return "?";
	return oadr_signal_type_names[type];
}

char *
oadr_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/*
 * Arrays grow to 1, 2, 4, 8, ... elements; the capacity is implied by
 * the count, so structs need no capacity member and free() is enough.
 * Most arrays hold one element (events, signals, payloads): they cost
 * one small allocation.
 */
static void *
grow(void **v, size_t *n, size_t sz)
{
	size_t cnt = *n;
	char *p;

	if ((cnt & (cnt - 1)) == 0) {		/* 0 or a power of two */
		size_t cap = cnt ? cnt * 2 : 1;

		if (cap > SIZE_MAX / sz)
			return NULL;
		p = realloc(*v, cap * sz);
		if (!p)
			return NULL;
		*v = p;
	}
	p = (char *)*v + cnt * sz;
	memset(p, 0, sz);
	*n = cnt + 1;
	return p;
}

void *
oadr_append(void **v, size_t *n, size_t sz)
{
	return grow(v, n, sz);
}

/* ---- table helpers ----------------------------------------------------- */

#define AT(base, off) ((char *)(base) + (off))
#define INT_AT(base, off) (*(int *)AT(base, off))

/* First row of the particle that row i belongs to. */
static size_t
particle(const struct oadr_type *t, size_t i)
{
	uint8_t c = t->f[i].choice;

	if (!c)
		return i;
	while (i > 0 && t->f[i - 1].choice == c)
		i--;
	return i;
}

/* One past the last row of the particle starting at i. */
static size_t
particle_end(const struct oadr_type *t, size_t i)
{
	uint8_t c = t->f[i].choice;

	if (!c)
		return i + 1;
	while (i < t->nf && t->f[i].choice == c)
		i++;
	return i;
}

/* The alternative of particle [i, end) whose tag is stored at target. */
static const struct oadr_field *
resolve(const struct oadr_type *t, size_t i, size_t end, const char *target)
{
	int tag;

	if (end == i + 1 && !t->f[i].choice)
		return &t->f[i];
	if (t->f[i].tag_rel == OADR_NOTAG)
		return NULL;
	tag = *(const int *)(target + t->f[i].tag_rel);
	for (; i < end; i++)
		if (t->f[i].tag_rel != OADR_NOTAG && t->f[i].tag == tag)
			return &t->f[i];
	return NULL;
}

static size_t
elem_size(const struct oadr_field *r)
{
	return r->elem_size;
}

/* ---- free -------------------------------------------------------------- */

static void free_obj(const struct oadr_type *t, char *obj);

static void
free_value(const struct oadr_field *r, char *target)
{
	if (r->kind == OADR_K_STR || r->kind == OADR_K_TOKEN) {
		free(*(char **)target);
		*(char **)target = NULL;
	} else if (r->kind == OADR_K_SUB) {
		free_obj(r->sub, target);
	}
}

static void
free_obj(const struct oadr_type *t, char *obj)
{
	size_t i, end, k;

	for (i = 0; i < t->nf; i = end) {
		const struct oadr_field *r = &t->f[i];

		end = particle_end(t, i);
		if (r->kind == OADR_K_SKIP && !r->choice)
			continue;
		if (r->max != 1) {
			char *v = *(char **)AT(obj, r->off);
			size_t n = *(size_t *)AT(obj, r->aux);

			for (k = 0; v && k < n; k++) {
				char *e = v + k * elem_size(r);
				const struct oadr_field *a =
				    resolve(t, i, end, e);

				if (a)
					free_value(a, e);
			}
			free(v);
			*(char **)AT(obj, r->off) = NULL;
			*(size_t *)AT(obj, r->aux) = 0;
		} else {
			const struct oadr_field *a =
			    resolve(t, i, end, AT(obj, r->off));

			if (a)
				free_value(a, AT(obj, r->off));
		}
	}
}

void
oadr_msg_free(struct oadr_msg *m)
{
	if (!m)
		return;
	free_obj(&oadr_type_payload, (char *)m);
	memset(m, 0, sizeof(*m));
}

/* ---- copy -------------------------------------------------------------- */

static int copy_obj(const struct oadr_type *t, char *obj);

/* Capacity for n elements under grow()'s rule: a power of two. */
static size_t
cap_for(size_t n)
{
	size_t c = 1;

	while (c < n)
		c *= 2;
	return c;
}

/* After a shallow copy, give target its own copies of what it points to. */
static int
copy_value(const struct oadr_field *r, char *target)
{
	if (r->kind == OADR_K_STR || r->kind == OADR_K_TOKEN) {
		char **p = (char **)target;

		if (*p && !(*p = strdup(*p)))
			return -1;
		return 0;
	}
	if (r->kind == OADR_K_SUB)
		return copy_obj(r->sub, target);
	return 0;
}

/*
 * On failure the pointers not yet copied are cleared, so that the copy
 * can be freed without touching the original.
 */
static void
clear_rest(const struct oadr_type *t, size_t from, char *obj)
{
	size_t i, end;

	for (i = from; i < t->nf; i = end) {
		const struct oadr_field *r = &t->f[i];

		end = particle_end(t, i);
		if (r->kind == OADR_K_SKIP && !r->choice)
			continue;
		if (r->max != 1) {
			*(char **)AT(obj, r->off) = NULL;
			*(size_t *)AT(obj, r->aux) = 0;
		} else if (r->kind == OADR_K_STR || r->kind == OADR_K_TOKEN) {
			*(char **)AT(obj, r->off) = NULL;
		} else if (r->kind == OADR_K_SUB && !r->choice) {
			clear_rest(r->sub, 0, AT(obj, r->off));
		} else if (r->choice && r->tag_rel != OADR_NOTAG) {
			const struct oadr_field *a = resolve(t, i, end,
			    AT(obj, r->off));

			if (a && a->kind == OADR_K_SUB)
				clear_rest(a->sub, 0, AT(obj, r->off));
		}
	}
}

static int
copy_obj(const struct oadr_type *t, char *obj)
{
	size_t i, end, k;

	for (i = 0; i < t->nf; i = end) {
		const struct oadr_field *r = &t->f[i];

		end = particle_end(t, i);
		if (r->kind == OADR_K_SKIP && !r->choice)
			continue;
		if (r->max != 1) {
			char **pv = (char **)AT(obj, r->off);
			size_t n = *(size_t *)AT(obj, r->aux);
			char *v;

			if (n == 0 || *pv == NULL) {
				*pv = NULL;
				*(size_t *)AT(obj, r->aux) = 0;
				continue;
			}
			if (!(v = malloc(cap_for(n) * r->elem_size))) {
				clear_rest(t, i, obj);
				return -1;
			}
			memcpy(v, *pv, n * r->elem_size);
			*pv = v;
			for (k = 0; k < n; k++) {
				char *e = v + k * r->elem_size;
				const struct oadr_field *a = resolve(t, i, end, e);

				if (a && copy_value(a, e) != 0) {
					/* Elements after k still point into the
					 * original: cut the array at k + 1. */
					*(size_t *)AT(obj, r->aux) = k + 1;
					clear_rest(t, end, obj);
					return -1;
				}
			}
			continue;
		}
		{
			const struct oadr_field *a = resolve(t, i, end,
			    AT(obj, r->off));

			if (a && copy_value(a, AT(obj, r->off)) != 0) {
				clear_rest(t, end, obj);
				return -1;
			}
		}
	}
	return 0;
}

int
oadr_msg_copy(struct oadr_msg *dst, const struct oadr_msg *src)
{
	*dst = *src;
	if (copy_obj(&oadr_type_payload, (char *)dst) != 0) {
		oadr_msg_free(dst);
		return -1;
	}
	return 0;
}

/* ---- equality ---------------------------------------------------------- */

static int eq_obj(const struct oadr_type *t, const char *a, const char *b);

static int
eq_str(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
eq_value(const struct oadr_field *r, const char *a, const char *b)
{
	switch (r->kind) {
	case OADR_K_STR:
	case OADR_K_TOKEN:
		return eq_str(*(char *const *)a, *(char *const *)b);
	case OADR_K_UINT:
		return *(const uint32_t *)a == *(const uint32_t *)b;
	case OADR_K_PCT:
	case OADR_K_CODE:
		return *(const unsigned *)a == *(const unsigned *)b;
	case OADR_K_FLOAT:
	case OADR_K_DECIMAL:
		return *(const double *)a == *(const double *)b;
	case OADR_K_BOOL:
		return !*(const int *)a == !*(const int *)b;
	case OADR_K_TIME:
	case OADR_K_DUR:
		return *(const int64_t *)a == *(const int64_t *)b;
	case OADR_K_ENUM:
		return *(const int *)a == *(const int *)b;
	case OADR_K_SUB:
		return eq_obj(r->sub, a, b);
	default:
		return 1;
	}
}

/*
 * Present: flag set, string non-NULL, or always for required values. An
 * optional wrapper without a flag (xcal:uid) holds one string, and is
 * present when that string is set.
 */
static int
present(const struct oadr_field *r, const char *obj)
{
	if (r->aux != OADR_NOAUX)
		return INT_AT(obj, r->aux) != 0;
	if (r->kind == OADR_K_STR || r->kind == OADR_K_TOKEN)
		return *(char *const *)AT(obj, r->off) != NULL;
	if (r->kind == OADR_K_SUB && r->min == 0 && !r->choice)
		return *(char *const *)AT(obj, r->off + r->sub->f[0].off) !=
		    NULL;
	return 1;
}

static int
eq_obj(const struct oadr_type *t, const char *a, const char *b)
{
	size_t i, end, k;

	for (i = 0; i < t->nf; i = end) {
		const struct oadr_field *r = &t->f[i];

		end = particle_end(t, i);
		if (r->kind == OADR_K_SKIP && !r->choice) {
			if (r->aux != OADR_NOAUX &&
			    !INT_AT(a, r->aux) != !INT_AT(b, r->aux))
				return 0;
			continue;
		}
		if (r->max != 1) {
			const char *va = *(char *const *)AT(a, r->off);
			const char *vb = *(char *const *)AT(b, r->off);
			size_t n = *(const size_t *)AT(a, r->aux);

			if (n != *(const size_t *)AT(b, r->aux))
				return 0;
			for (k = 0; k < n; k++) {
				const char *ea = va + k * elem_size(r);
				const char *eb = vb + k * elem_size(r);
				const struct oadr_field *x, *y;

				x = resolve(t, i, end, ea);
				y = resolve(t, i, end, eb);
				if (x != y || (x && !eq_value(x, ea, eb)))
					return 0;
			}
			continue;
		}
		if (present(r, a) != present(r, b))
			return 0;
		if (!present(r, a))
			continue;
		{
			const struct oadr_field *x, *y;

			x = resolve(t, i, end, AT(a, r->off));
			y = resolve(t, i, end, AT(b, r->off));
			if (x != y)
				return 0;
			if (x && x->kind != OADR_K_SKIP &&
			    !eq_value(x, AT(a, r->off), AT(b, r->off)))
				return 0;
		}
	}
	return 1;
}

int
oadr_msg_equal(const struct oadr_msg *a, const struct oadr_msg *b)
{
	if (a->type != b->type)
		return 0;
	return eq_obj(&oadr_type_payload, (const char *)a, (const char *)b);
}

/* ---- value text -------------------------------------------------------- */

static int
xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Trim XML whitespace in place; returns the start. */
static char *
trim(char *s)
{
	char *e;

	while (xml_space(*s))
		s++;
	e = s + strlen(s);
	while (e > s && xml_space(e[-1]))
		*--e = '\0';
	return s;
}

/* xs:float lexical form without INF and NaN; xs:decimal has no exponent. */
static int
float_lexical(const char *s, int exponent)
{
	int digits = 0;

	if (*s == '+' || *s == '-')
		s++;
	while (*s >= '0' && *s <= '9')
		s++, digits++;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9')
			s++, digits++;
	}
	if (!digits)
		return 0;
	if (exponent && (*s == 'e' || *s == 'E')) {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static int
parse_uint(const char *s, unsigned long long max, unsigned long long *v)
{
	unsigned long long x = 0;

	if (*s == '+')
		s++;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (x > (ULLONG_MAX - 9) / 10)
			return -2;
		x = x * 10 + (unsigned)(*s - '0');
	}
	if (x > max)
		return -2;
	*v = x;
	return 0;
}

/* A time without a zone is UTC: the 2.0b DateTimeType pattern allows it. */
static int
parse_time(const char *s, int64_t *v, char *err, size_t errlen)
{
	const char *t = strchr(s, 'T');
	size_t len = strlen(s);
	char buf[96];

	if (t && len > 0 && len < sizeof(buf) - 1 && s[len - 1] != 'Z' &&
	    !strchr(t, '+') && !strchr(t, '-')) {
		memcpy(buf, s, len);
		buf[len] = 'Z';
		buf[len + 1] = '\0';
		return units_parse_datetime(buf, v, err, errlen);
	}
	return units_parse_datetime(s, v, err, errlen);
}

/*
 * Convert the text of a value element and store it at target. Returns 0,
 * or -1 with the reason (without the path) in err.
 */
static int
store_value(const struct oadr_field *r, char *text, char *target,
    const struct oadr_limits *lim, char *err, size_t errlen)
{
	unsigned long long u;
	char *s = text;
	char tmp[64];
	int rc;

	if (r->kind != OADR_K_STR)
		s = trim(text);
	switch (r->kind) {
	case OADR_K_STR:
	case OADR_K_TOKEN:
		if (!(*(char **)target = strdup(s)))
			return units_errf(err, errlen, "out of memory");
		return 0;
	case OADR_K_UINT:
		rc = parse_uint(s, UINT32_MAX, &u);
		if (rc == -1)
			return units_errf(err, errlen,
			    "\"%.*s\" is not an unsigned integer", Q(s));
		if (rc == -2)
			return units_errf(err, errlen, "\"%.*s\" is out of range "
			    "for an unsigned 32-bit integer", Q(s));
		*(uint32_t *)target = (uint32_t)u;
		return 0;
	case OADR_K_PCT:
		if (parse_uint(s, 100, &u) != 0)
			return units_errf(err, errlen, "\"%.*s\" is not a "
			    "percentage from 0 to 100", Q(s));
		*(unsigned *)target = (unsigned)u;
		return 0;
	case OADR_K_CODE:
		if (strlen(s) != 3 || parse_uint(s, 999, &u) != 0 || *s == '+')
			return units_errf(err, errlen, "\"%.*s\" is not a "
			    "three-digit response code", Q(s));
		*(unsigned *)target = (unsigned)u;
		return 0;
	case OADR_K_FLOAT:
	case OADR_K_DECIMAL: {
		double d;

		if (!float_lexical(s, r->kind == OADR_K_FLOAT))
			return units_errf(err, errlen, r->kind == OADR_K_FLOAT ?
			    "\"%.*s\" is not a finite decimal number" :
			    "\"%.*s\" is not a decimal number (digits, one "
			    "point, no exponent)", Q(s));
		errno = 0;
		d = strtod(s, NULL);
		if (!isfinite(d))
			return units_errf(err, errlen, "\"%.*s\" is out of range "
			    "for a number", Q(s));
		*(double *)target = d;
		return 0;
	}
	case OADR_K_BOOL:
		if (!strcmp(s, "true") || !strcmp(s, "1"))
			*(int *)target = 1;
		else if (!strcmp(s, "false") || !strcmp(s, "0"))
			*(int *)target = 0;
		else
			return units_errf(err, errlen, "\"%.*s\" is not a boolean "
			    "(true, false, 1 or 0)", Q(s));
		return 0;
	case OADR_K_TIME:
		return parse_time(s, (int64_t *)target, err, errlen);
	case OADR_K_DUR: {
		int64_t d;

		if (units_parse_iso_duration_nominal(s, &d, err, errlen) != 0)
			return -1;
		if (d < 0)
			return units_errf(err, errlen, "\"%.*s\" is a negative "
			    "duration", Q(s));
		if (d > lim->max_duration) {
			units_format_duration((uint64_t)(lim->max_duration / 1000),
			    tmp, sizeof(tmp));
			return units_errf(err, errlen, "\"%.*s\" is longer than "
			    "oadr.max_duration (%s)", Q(s), tmp);
		}
		*(int64_t *)target = d;
		return 0;
	}
	case OADR_K_ENUM: {
		char list[256];
		size_t k, o = 0;

		for (k = 0; r->choices[k]; k++)
			if (!strcmp(s, r->choices[k])) {
				*(int *)target = (int)k;
				return 0;
			}
		list[0] = '\0';
		for (k = 0; r->choices[k] && o < sizeof(list); k++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
			    k ? ", " : "", r->choices[k]);
		return units_errf(err, errlen, "\"%.*s\" is not one of %s",
		    Q(s), list);
	}
	default:
		return units_errf(err, errlen, "internal error: kind %d",
		    r->kind);
	}
}

/* ---- parser ------------------------------------------------------------ */

struct pframe {
	const struct oadr_type *type;	/* NULL: a value element */
	const struct oadr_field *row;	/* the row that opened it; NULL: doc */
	char *obj;			/* struct, or where the value goes */
	const char *name;		/* local name (libxml2 dictionary) */
	size_t index;			/* 1-based position in an array */
	size_t last;			/* particle last seen, for order */
	uint32_t count[OADR_ROWS_MAX];	/* occurrences per particle */
};

struct parser {
	xmlParserCtxtPtr ctxt;
	const struct oadr_limits *lim;
	struct pframe *st;
	size_t depth;			/* frames in use, st[0] = document */
	size_t skip;			/* nesting inside a skipped element */
	size_t elements;
	size_t root;			/* frame of the message element, or 0 */
	char *text;
	size_t tlen, tcap;
	int failed;
	char *err;
	size_t errlen;
	const char *ns_seen[OADR_NS_COUNT];	/* interned URIs of this parse */
};

static void
path_of(const struct parser *p, size_t upto, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = p->root ? p->root : 1; i <= upto && i < p->depth && o < len;
	    i++) {
		const struct pframe *f = &p->st[i];

		if (f->row && f->row->max != 1)
			o += (size_t)snprintf(buf + o, len - o, "%s%s[%zu]",
			    o ? "/" : "", f->name, f->index);
		else
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
			    o ? "/" : "", f->name);
	}
}

static void fail(struct parser *p, size_t frame, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the first error with the path of frame (0: no path); stop. */
static void
fail(struct parser *p, size_t frame, const char *fmt, ...)
{
	char path[PATH_MAX_LEN], why[OADR_ERR_MAX];
	va_list ap;

	if (p->failed)
		return;
	p->failed = 1;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	path[0] = '\0';
	if (frame > 0)
		path_of(p, frame, path, sizeof(path));
	if (path[0])
		snprintf(p->err, p->errlen, "%s: %s", path, why);
	else
		snprintf(p->err, p->errlen, "%s", why);
	xmlStopParser(p->ctxt);
}

static const char *
limit_value(const struct parser *p, int kind, size_t *v)
{
	switch (kind) {
	case OADR_L_EVENTS:
		*v = p->lim->max_events;
		return "max_events";
	case OADR_L_SIGNALS:
		*v = p->lim->max_signals;
		return "max_signals";
	case OADR_L_INTERVALS:
		*v = p->lim->max_intervals;
		return "max_intervals";
	case OADR_L_REPORTS:
		*v = p->lim->max_reports;
		return "max_reports";
	default:
		*v = SIZE_MAX;
		return NULL;
	}
}

static const struct oadr_field *
find_row(struct parser *p, size_t top, const char *name, const char *uri)
{
	const struct oadr_type *t = p->st[top].type;
	const struct oadr_field *other = NULL;
	size_t i;

	for (i = 0; i < t->nf; i++) {
		const struct oadr_field *r = &t->f[i];

		if (r->name[0] != name[0] || strcmp(r->name, name) != 0)
			continue;
		/* libxml2 interns URIs: after the first match, a pointer test. */
		if (uri && (uri == p->ns_seen[r->ns] ||
		    !strcmp(uri, oadr_ns_table[r->ns].uri))) {
			p->ns_seen[r->ns] = uri;
			return r;
		}
		other = r;
	}
	if (top == 0 && other)
		fail(p, 0, "the root element \"%s\" is in namespace \"%s\", "
		    "not the OpenADR 2.0b namespace \"%s\"", name,
		    uri ? uri : "", oadr_ns_table[OADR_NS_OADR].uri);
	else if (top == 0)
		fail(p, 0, "not an OpenADR 2.0b message: the root element is "
		    "\"%s\"%s%s%s", name, uri ? " in namespace \"" : "",
		    uri ? uri : "", uri ? "\"" : "");
	else if (other)
		fail(p, top, "element \"%s\" is in namespace \"%s\", expected "
		    "\"%s\"", name, uri ? uri : "(none)",
		    oadr_ns_table[other->ns].uri);
	else
		fail(p, top, "unexpected element \"%s\"%s%s%s", name,
		    uri ? " (namespace \"" : "", uri ? uri : "",
		    uri ? "\")" : "");
	return NULL;
}

/* Count the occurrence of row r in frame top; 0 if within bounds. */
static int
count_row(struct parser *p, size_t top, const struct oadr_field *r,
    size_t pi)
{
	struct pframe *f = &p->st[top];
	const char *lname;
	size_t lv;

	if (pi < f->last) {
		fail(p, top, "element \"%s\" is out of order (the schema puts "
		    "it before \"%s\")", r->name, f->type->f[f->last].name);
		return -1;
	}
	f->last = pi;
	f->count[pi]++;
	if (r->max && f->count[pi] > r->max) {
		if (r->max == 1)
			fail(p, top, "more than one \"%s\"", r->name);
		else
			fail(p, top, "more than %u \"%s\"", r->max, r->name);
		return -1;
	}
	lname = limit_value(p, r->limit, &lv);
	if (lname && f->count[pi] > lv) {
		fail(p, top, "more than %zu \"%s\" elements (oadr.%s)", lv,
		    r->name, lname);
		return -1;
	}
	return 0;
}

static void
sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
    int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
	struct parser *p = ctx;
	const char *name = (const char *)localname;
	const struct oadr_field *r;
	struct pframe *f;
	size_t top = p->depth - 1, pi;
	char *target;

	(void)prefix, (void)nb_namespaces, (void)namespaces;
	(void)nb_attributes, (void)nb_defaulted, (void)attributes;
	if (p->failed)
		return;
	if (++p->elements > p->lim->max_elements) {
		fail(p, top, "more than %zu elements (oadr.max_elements)",
		    p->lim->max_elements);
		return;
	}
	if (top + p->skip + 1 > p->lim->max_depth) {
		fail(p, top, "elements nested more than %zu deep "
		    "(oadr.max_depth)", p->lim->max_depth);
		return;
	}
	if (p->skip) {
		p->skip++;
		return;
	}
	if (!p->st[top].type) {
		fail(p, top, "unexpected element \"%s\" inside a value", name);
		return;
	}
	if (!(r = find_row(p, top, name, (const char *)uri)))
		return;
	pi = particle(p->st[top].type, (size_t)(r - p->st[top].type->f));
	if (count_row(p, top, r, pi) != 0)
		return;
	f = &p->st[top];
	if (r->kind == OADR_K_SKIP) {
		if (r->aux != OADR_NOAUX)
			INT_AT(f->obj, r->aux) = 1;
		if (r->max == 1 && r->tag_rel != OADR_NOTAG)
			INT_AT(AT(f->obj, r->off), r->tag_rel) = r->tag;
		p->skip = 1;
		return;
	}
	if (r->max != 1) {
		target = grow((void **)AT(f->obj, r->off),
		    (size_t *)AT(f->obj, r->aux), r->elem_size);
		if (!target) {
			fail(p, top, "out of memory");
			return;
		}
	} else {
		target = AT(f->obj, r->off);
		if (r->aux != OADR_NOAUX)
			INT_AT(f->obj, r->aux) = 1;
	}
	if (r->tag_rel != OADR_NOTAG)
		*(int *)(target + r->tag_rel) = r->tag;
	f = &p->st[p->depth++];
	f->type = r->kind == OADR_K_SUB ? r->sub : NULL;
	f->row = r;
	f->obj = target;
	f->name = name;
	f->index = r->max != 1 ? *(size_t *)AT(p->st[top].obj, r->aux) : 0;
	f->last = 0;
	if (f->type)
		memset(f->count, 0, sizeof(f->count[0]) * f->type->nf);
	if (r->root)
		p->root = p->depth - 1;
	p->tlen = 0;
}

static void
sax_text(void *ctx, const xmlChar *ch, int len)
{
	struct parser *p = ctx;
	size_t top = p->depth - 1, i;

	if (p->failed || p->skip || len <= 0)
		return;
	if (p->st[top].type || top == 0) {
		for (i = 0; i < (size_t)len; i++)
			if (!xml_space((char)ch[i])) {
				int n = len - (int)i;

				if (top == 0)
					fail(p, 0, "text outside the root "
					    "element");
				else
					fail(p, top, "unexpected text \"%.*s\" "
					    "(the schema expects elements here, "
					    "first \"%s\")", qlen((const char *)ch + i,
					    (size_t)n), (const char *)ch + i,
					    p->st[top].type->f[0].name);
				return;
			}
		return;
	}
	if (p->tlen + (size_t)len + 1 > p->tcap) {
		size_t cap = p->tcap ? p->tcap : 256;
		char *t;

		while (cap < p->tlen + (size_t)len + 1)
			cap *= 2;
		if (!(t = realloc(p->text, cap))) {
			fail(p, top, "out of memory");
			return;
		}
		p->text = t;
		p->tcap = cap;
	}
	memcpy(p->text + p->tlen, ch, (size_t)len);
	p->tlen += (size_t)len;
}

static void
sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri)
{
	struct parser *p = ctx;
	size_t top = p->depth - 1, i, end;
	struct pframe *f = &p->st[top];
	char why[OADR_ERR_MAX];

	(void)localname, (void)prefix, (void)uri;
	if (p->failed)
		return;
	if (p->skip) {
		p->skip--;
		return;
	}
	if (!f->type) {
		if (!p->text) {
			if (!(p->text = malloc(256))) {
				fail(p, top, "out of memory");
				return;
			}
			p->tcap = 256;
		}
		p->text[p->tlen] = '\0';
		if (store_value(f->row, p->text, f->obj, p->lim, why,
		    sizeof(why)) != 0) {
			fail(p, top, "%s", why);
			return;
		}
		p->tlen = 0;
		p->depth--;
		return;
	}
	for (i = 0; i < f->type->nf; i = end) {
		const struct oadr_field *r = &f->type->f[i];

		end = particle_end(f->type, i);
		if (f->count[i] >= r->min)
			continue;
		if (end == i + 1)
			fail(p, top, "missing \"%s\"", r->name);
		else
			fail(p, top, "missing \"%s\" (or another %s)", r->name,
			    r->ns == OADR_NS_POWER || r->ns == OADR_NS_OADR ?
			    "substitute" : "alternative");
		return;
	}
	/* Errors after the message closes are the wrapper's own. */
	if (p->root == top)
		p->root = 0;
	p->depth--;
}

static void
sax_doctype(void *ctx, const xmlChar *name, const xmlChar *eid,
    const xmlChar *sid)
{
	(void)name, (void)eid, (void)sid;
	fail(ctx, 0, "DOCTYPE is not allowed (OpenADR payloads carry no DTD "
	    "and no entity declarations)");
}

static void
sax_silent(void *ctx, xmlErrorPtr e)
{
	/* libxml2 keeps the last error in the context; nothing to print. */
	(void)ctx, (void)e;
}

/* The XML declaration may name only UTF-8. */
static int
check_declaration(const char *buf, size_t len, char *err, size_t errlen)
{
	const char *end, *e, *q;
	size_t n = len;

	if (n >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		buf += 3, n -= 3;
	if (n < 5 || memcmp(buf, "<?xml", 5) != 0)
		return 0;
	/*
	 * The declaration ends at the first "?>": none of its values may
	 * hold one. It may be padded with any amount of space, so search
	 * the whole payload (bounded by oadr.max_payload).
	 */
	if (!(end = memmem(buf, n, "?>", 2)))
		return 0;	/* libxml2 reports the broken declaration */
	e = memmem(buf, (size_t)(end - buf), "encoding", 8);
	if (!e)
		return 0;
	for (e += 8; e < end && (xml_space(*e) || *e == '='); e++)
		;
	if (e >= end || (*e != '"' && *e != '\''))
		return 0;
	q = memchr(e + 1, *e, (size_t)(end - e - 1));
	if (!q)
		return 0;
	if ((q - e - 1 == 5 && !strncasecmp(e + 1, "UTF-8", 5)) ||
	    (q - e - 1 == 4 && !strncasecmp(e + 1, "UTF8", 4)))
		return 0;
	return units_errf(err, errlen, "encoding \"%.*s\" is not allowed: "
	    "OpenADR payloads are UTF-8", qlen(e + 1, (size_t)(q - e - 1)),
	    e + 1);
}

static int schema_validate(const struct oadr_schema *s, const char *buf,
    size_t len, char *err, size_t errlen);

static void
libxml_error(xmlParserCtxtPtr ctxt, char *err, size_t errlen)
{
	xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
	char msg[OADR_ERR_MAX];
	size_t n;

	if (!e || !e->message) {
		snprintf(err, errlen, "XML is not well-formed");
		return;
	}
	snprintf(msg, sizeof(msg), "%s", e->message);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	snprintf(err, errlen, "XML is not well-formed: line %d, column %d: %s",
	    e->line, e->int2, msg);
}

/*
 * One parser context per thread, reset for each document: creating one
 * (its dictionary and buffers) costs as much as parsing a small payload.
 * The document is parsed from memory (xmlCtxtReadMemory), which skips the
 * copy and the chunk handling of a push parse.
 */
static __thread xmlParserCtxtPtr cached_ctxt;

static xmlParserCtxtPtr
parser_ctxt(void)
{
	xmlInitParser();
	if (!cached_ctxt)
		cached_ctxt = xmlNewParserCtxt();
	return cached_ctxt;
}

int
oadr_parse(const char *buf, size_t len, const struct oadr_limits *lim,
    const struct oadr_schema *schema, struct oadr_msg *m, char *err,
    size_t errlen)
{
	struct oadr_limits dflt;
	struct parser p;
	xmlSAXHandler sax;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	memset(&p, 0, sizeof(p));
	if (!lim) {
		oadr_limits_default(&dflt);
		lim = &dflt;
	}
	if (len > lim->max_payload)
		return units_errf(err, errlen, "payload is %zu bytes, more than "
		    "oadr.max_payload (%zu)", len, lim->max_payload);
	if (len == 0)
		return units_errf(err, errlen, "payload is empty");
	if (len > INT_MAX || !json_utf8_valid(buf, len))
		return units_errf(err, errlen, "payload is not valid UTF-8");
	if (memchr(buf, '\0', len))
		return units_errf(err, errlen, "payload contains a NUL byte");
	if (check_declaration(buf, len, err, errlen) != 0)
		return -1;

	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = sax_start;
	sax.endElementNs = sax_end;
	sax.characters = sax_text;
	sax.cdataBlock = sax_text;
	sax.ignorableWhitespace = sax_text;
	sax.internalSubset = sax_doctype;
	sax.externalSubset = sax_doctype;
	sax.serror = sax_silent;

	p.lim = lim;
	p.err = err;
	p.errlen = errlen;
	p.st = malloc((lim->max_depth + 2) * sizeof(*p.st));
	if (!p.st)
		return units_errf(err, errlen, "out of memory");
	p.st[0].type = &oadr_type_doc;
	p.st[0].row = NULL;
	p.st[0].obj = (char *)m;
	p.st[0].name = "";
	p.st[0].last = 0;
	memset(p.st[0].count, 0, sizeof(p.st[0].count));
	p.depth = 1;

	if (!(p.ctxt = parser_ctxt())) {
		units_errf(err, errlen, "out of memory");
		goto out;
	}
	/* Our handler builds no tree: xmlCtxtReadMemory returns NULL. */
	memcpy(p.ctxt->sax, &sax, sizeof(sax));
	p.ctxt->userData = &p;
	xmlCtxtReadMemory(p.ctxt, buf, (int)len, NULL, "UTF-8",
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (p.failed)
		goto out;
	if (!p.ctxt->wellFormed) {
		libxml_error(p.ctxt, err, errlen);
		goto out;
	}
	if (m->type == OADR_MSG_NONE) {
		units_errf(err, errlen, "no OpenADR message in the document");
		goto out;
	}
	if (schema && schema_validate(schema, buf, len, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	if (p.ctxt)
		p.ctxt->userData = NULL;
	free(p.st);
	free(p.text);
	if (rc != 0)
		oadr_msg_free(m);
	return rc;
}

/* ---- schema ------------------------------------------------------------ */

struct oadr_schema {
	xmlSchemaPtr xsd;
};

struct first_error {
	char msg[OADR_ERR_MAX];
	int line;
	char *path;
	int set;
};

static void
keep_first(void *ctx, xmlErrorPtr e)
{
	struct first_error *fe = ctx;
	size_t n;

	if (fe->set || !e)
		return;
	fe->set = 1;
	snprintf(fe->msg, sizeof(fe->msg), "%s", e->message ? e->message : "?");
	n = strlen(fe->msg);
	while (n > 0 && (fe->msg[n - 1] == '\n' || fe->msg[n - 1] == ' '))
		fe->msg[--n] = '\0';
	fe->line = e->line;
	if (e->node)
		fe->path = (char *)xmlGetNodePath((xmlNodePtr)e->node);
	if (!fe->line && e->file)
		fe->line = e->line;
}

static char schema_dir_real[PATH_MAX];
static xmlExternalEntityLoader schema_prev_loader;

/*
 * While a schema compiles, only files under its directory may be read.
 * The one import that names the W3C site (xml.xsd) is served from the
 * copy the 2.0b schema set ships as oadr_xml.xsd.
 */
static xmlParserInputPtr
schema_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	char path[PATH_MAX], real[PATH_MAX];
	size_t dl = strlen(schema_dir_real);

	if (url && !strcmp(url, "http://www.w3.org/2001/03/xml.xsd") &&
	    (size_t)snprintf(path, sizeof(path), "%s/oadr_xml.xsd",
	    schema_dir_real) < sizeof(path))
		url = path;
	if (!url || strstr(url, "://") || !realpath(url, real) ||
	    strncmp(real, schema_dir_real, dl) != 0 || real[dl] != '/') {
		xmlGenericError(xmlGenericErrorContext, "refused to load %s\n",
		    url ? url : "(null)");
		return NULL;
	}
	return schema_prev_loader(real, id, ctxt);
}

static void
schema_generic_silent(void *ctx, const char *msg, ...)
{
	(void)ctx, (void)msg;
}

struct oadr_schema *
oadr_schema_load(const char *dir, char *err, size_t errlen)
{
	struct oadr_schema *s = NULL;
	xmlSchemaParserCtxtPtr pc = NULL;
	struct first_error fe;
	char path[PATH_MAX];
	struct stat st;

	memset(&fe, 0, sizeof(fe));
	xmlInitParser();
	if (!realpath(dir, schema_dir_real)) {
		units_errf(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/oadr_20b.xsd",
	    schema_dir_real) >= sizeof(path)) {
		units_errf(err, errlen, "%s: path too long", dir);
		return NULL;
	}
	if (stat(path, &st) != 0) {
		units_errf(err, errlen, "%s/oadr_20b.xsd: %s", dir,
		    strerror(errno));
		return NULL;
	}
	if (!(s = calloc(1, sizeof(*s)))) {
		units_errf(err, errlen, "out of memory");
		return NULL;
	}
	schema_prev_loader = xmlGetExternalEntityLoader();
	xmlSetExternalEntityLoader(schema_loader);
	xmlSetGenericErrorFunc(NULL, schema_generic_silent);
	pc = xmlSchemaNewParserCtxt(path);
	if (pc) {
		xmlSchemaSetParserStructuredErrors(pc, keep_first, &fe);
		s->xsd = xmlSchemaParse(pc);
		xmlSchemaFreeParserCtxt(pc);
	}
	xmlSetExternalEntityLoader(schema_prev_loader);
	xmlSetGenericErrorFunc(NULL, NULL);
	if (!s->xsd) {
		units_errf(err, errlen, "%s/oadr_20b.xsd: the schema does not "
		    "compile: %s", dir, fe.set ? fe.msg : "unknown error");
		xmlFree(fe.path);
		free(s);
		return NULL;
	}
	xmlFree(fe.path);
	return s;
}

void
oadr_schema_free(struct oadr_schema *s)
{
	if (!s)
		return;
	xmlSchemaFree(s->xsd);
	free(s);
}

/* The document was checked by our parser or written by our builder. */
static int
schema_validate(const struct oadr_schema *s, const char *buf, size_t len,
    char *err, size_t errlen)
{
	xmlSchemaValidCtxtPtr vc = NULL;
	struct first_error fe;
	xmlDocPtr doc;
	int rc;

	memset(&fe, 0, sizeof(fe));
	doc = xmlReadMemory(buf, (int)len, "payload", "UTF-8", XML_PARSE_NONET |
	    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return units_errf(err, errlen, "schema check: the document "
		    "does not parse");
	if (!(vc = xmlSchemaNewValidCtxt(s->xsd))) {
		xmlFreeDoc(doc);
		return units_errf(err, errlen, "out of memory");
	}
	xmlSchemaSetValidStructuredErrors(vc, keep_first, &fe);
	rc = xmlSchemaValidateDoc(vc, doc);
	xmlSchemaFreeValidCtxt(vc);
	xmlFreeDoc(doc);
	if (rc == 0) {
		xmlFree(fe.path);
		return 0;
	}
	units_errf(err, errlen, "does not validate against the 2.0b schema: "
	    "line %d%s%s: %s", fe.line, fe.path ? ": " : "",
	    fe.path ? fe.path : "", fe.set ? fe.msg : "unknown error");
	xmlFree(fe.path);
	return -1;
}

/* ---- builder ----------------------------------------------------------- */

struct builder {
	char *buf;
	size_t len, cap;
	int oom;
	int failed;
	char *err;
	size_t errlen;
	const char *names[64];		/* path from the message element */
	size_t idx[64];
	size_t depth;
};

static void
put(struct builder *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *t;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(t = realloc(b->buf, cap))) {
			b->oom = 1;
			return;
		}
		b->buf = t;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void
puts_(struct builder *b, const char *s)
{
	put(b, s, strlen(s));
}

static void bfail(struct builder *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bfail(struct builder *b, const char *fmt, ...)
{
	char path[PATH_MAX_LEN], why[OADR_ERR_MAX];
	size_t i, o = 0;
	va_list ap;

	if (b->failed)
		return;
	b->failed = 1;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	path[0] = '\0';
	for (i = 0; i < b->depth && i < 64 && o < sizeof(path); i++)
		o += (size_t)snprintf(path + o, sizeof(path) - o,
		    b->idx[i] ? "%s%s[%zu]" : "%s%s", i ? "/" : "",
		    b->names[i], b->idx[i]);
	snprintf(b->err, b->errlen, "%s%s%s", path, path[0] ? ": " : "", why);
}

/* XML 1.0 cannot carry most C0 controls; \r would come back as \n. */
static void
put_text(struct builder *b, const char *s)
{
	const char *run = s;
	size_t n;

	if (!s) {
		bfail(b, "the string is not set");
		return;
	}
	n = strlen(s);
	if (!json_utf8_valid(s, n)) {
		bfail(b, "text is not valid UTF-8");
		return;
	}
	for (; *s; s++) {
		const char *esc = NULL;
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			bfail(b, "text contains control character 0x%02x, "
			    "which XML cannot carry", c);
			return;
		}
		/* U+FFFE and U+FFFF are not XML characters either. */
		if (c == 0xef && (unsigned char)s[1] == 0xbf &&
		    ((unsigned char)s[2] == 0xbe || (unsigned char)s[2] == 0xbf)) {
			bfail(b, "text contains U+%s, which XML cannot carry",
			    (unsigned char)s[2] == 0xbe ? "FFFE" : "FFFF");
			return;
		}
		switch (c) {
		case '&': esc = "&amp;"; break;
		case '<': esc = "&lt;"; break;
		case '>': esc = "&gt;"; break;
		case '\r': esc = "&#13;"; break;
		default: continue;
		}
		put(b, run, (size_t)(s - run));
		puts_(b, esc);
		run = s + 1;
	}
	put(b, run, (size_t)(s - run));
}

/* The shortest text that reads back as exactly d. */
static void
format_double(double d, char *buf, size_t len)
{
	int prec;

	for (prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

/*
 * The same without an exponent (xs:decimal): fewest fraction digits that
 * read back exactly. Powers of ten and frequencies, in practice.
 */
static int
format_decimal(double d, char *buf, size_t len)
{
	int prec, n;

	for (prec = 0; prec <= 40; prec++) {
		n = snprintf(buf, len, "%.*f", prec, d);
		if (n < 0 || (size_t)n >= len)
			return -1;
		if (strtod(buf, NULL) == d)
			return 0;
	}
	return -1;
}

static void
put_value(struct builder *b, const struct oadr_field *r, const char *target)
{
	char tmp[64];

	switch (r->kind) {
	case OADR_K_STR:
	case OADR_K_TOKEN:
		put_text(b, *(char *const *)target);
		return;
	case OADR_K_UINT:
		snprintf(tmp, sizeof(tmp), "%" PRIu32, *(const uint32_t *)target);
		break;
	case OADR_K_PCT:
		if (*(const unsigned *)target > 100) {
			bfail(b, "%u is not a percentage from 0 to 100",
			    *(const unsigned *)target);
			return;
		}
		snprintf(tmp, sizeof(tmp), "%u", *(const unsigned *)target);
		break;
	case OADR_K_CODE:
		if (*(const unsigned *)target > 999) {
			bfail(b, "%u is not a three-digit response code",
			    *(const unsigned *)target);
			return;
		}
		snprintf(tmp, sizeof(tmp), "%03u", *(const unsigned *)target);
		break;
	case OADR_K_FLOAT:
		if (!isfinite(*(const double *)target)) {
			bfail(b, "the value is not a finite number");
			return;
		}
		format_double(*(const double *)target, tmp, sizeof(tmp));
		break;
	case OADR_K_DECIMAL:
		if (!isfinite(*(const double *)target) ||
		    format_decimal(*(const double *)target, tmp,
		    sizeof(tmp)) != 0) {
			bfail(b, "%g cannot be written as a decimal number of "
			    "at most 40 fraction digits", *(const double *)target);
			return;
		}
		break;
	case OADR_K_BOOL:
		snprintf(tmp, sizeof(tmp), "%s", *(const int *)target ? "true" :
		    "false");
		break;
	case OADR_K_TIME:
		units_format_datetime(*(const int64_t *)target, tmp, sizeof(tmp));
		break;
	case OADR_K_DUR: {
		int64_t d = *(const int64_t *)target;

		if (d < 0) {
			bfail(b, "negative duration");
			return;
		}
		if (d % 1000000) {
			bfail(b, "duration has a fraction of a second, which "
			    "the 2.0b schema cannot express");
			return;
		}
		units_format_iso_duration(d, tmp, sizeof(tmp));
		break;
	}
	case OADR_K_ENUM: {
		int v = *(const int *)target, k;

		for (k = 0; r->choices[k] && k < v; k++)
			;
		if (v < 0 || !r->choices[k]) {
			bfail(b, "%d is not a valid value", v);
			return;
		}
		snprintf(tmp, sizeof(tmp), "%s", r->choices[v]);
		break;
	}
	default:
		bfail(b, "internal error: kind %d", r->kind);
		return;
	}
	puts_(b, tmp);
}

static void build_obj(struct builder *b, const struct oadr_type *t,
    const char *obj);

static void
open_tag(struct builder *b, const struct oadr_field *r)
{
	puts_(b, "<");
	puts_(b, oadr_ns_table[r->ns].prefix);
	puts_(b, ":");
	puts_(b, r->name);
	if (r->root)
		puts_(b, " ei:schemaVersion=\"2.0b\"");
	puts_(b, ">");
}

static void
close_tag(struct builder *b, const struct oadr_field *r)
{
	puts_(b, "</");
	puts_(b, oadr_ns_table[r->ns].prefix);
	puts_(b, ":");
	puts_(b, r->name);
	puts_(b, ">");
}

static void
build_element(struct builder *b, const struct oadr_field *r,
    const char *target, size_t index)
{
	int inpath = r->root || b->depth > 0;

	if (b->failed)
		return;
	if (inpath && b->depth < 64) {
		b->names[b->depth] = r->name;
		b->idx[b->depth] = index;
	}
	if (inpath)
		b->depth++;
	open_tag(b, r);
	if (r->kind == OADR_K_SUB)
		build_obj(b, r->sub, target);
	else
		put_value(b, r, target);
	close_tag(b, r);
	if (inpath && !b->failed)
		b->depth--;
}

static void
build_particle(struct builder *b, const struct oadr_type *t, size_t i,
    size_t end, const char *obj)
{
	const struct oadr_field *r = &t->f[i], *a;
	size_t k, n;

	if (r->kind == OADR_K_SKIP && !r->choice) {
		if (r->min > 0) {
			open_tag(b, r);
			close_tag(b, r);
		}
		return;
	}
	if (r->max != 1) {
		const char *v = *(char *const *)AT(obj, r->off);

		n = *(const size_t *)AT(obj, r->aux);
		if (n < r->min) {
			bfail(b, "needs at least %u \"%s\"%s", r->min, r->name,
			    r->choice ? " or one of its substitutes" : "");
			return;
		}
		for (k = 0; k < n && !b->failed; k++) {
			const char *e = v + k * r->elem_size;

			if (!(a = resolve(t, i, end, e))) {
				bfail(b, "\"%s\" #%zu has an unknown kind %d",
				    r->name, k + 1, *(const int *)(e + r->tag_rel));
				return;
			}
			build_element(b, a, e, k + 1);
		}
		return;
	}
	if (!present(r, obj)) {
		if (r->min > 0)
			bfail(b, "missing \"%s\"", r->name);
		return;
	}
	if (!(a = resolve(t, i, end, AT(obj, r->off)))) {
		if (r->min > 0 || r->aux != OADR_NOAUX)
			bfail(b, "missing \"%s\" (kind %d is unknown)", r->name,
			    *(const int *)(AT(obj, r->off) + r->tag_rel));
		return;
	}
	if (a->kind == OADR_K_SKIP) {
		bfail(b, "\"%s\" cannot be built: its content is not kept",
		    a->name);
		return;
	}
	build_element(b, a, AT(obj, r->off), 0);
}

static void
build_obj(struct builder *b, const struct oadr_type *t, const char *obj)
{
	size_t i, end;

	for (i = 0; i < t->nf && !b->failed; i = end) {
		end = particle_end(t, i);
		build_particle(b, t, i, end, obj);
	}
}

char *
oadr_build(const struct oadr_msg *m, const struct oadr_schema *schema,
    size_t *len, char *err, size_t errlen)
{
	struct builder b;
	size_t i;

	memset(&b, 0, sizeof(b));
	b.err = err;
	b.errlen = errlen;
	if (m->type <= OADR_MSG_NONE || m->type >= OADR_MSG_COUNT) {
		units_errf(err, errlen, "unknown message type %d", m->type);
		return NULL;
	}
	puts_(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<oadr:oadrPayload");
	for (i = 0; i < OADR_NS_COUNT; i++) {
		if (i == OADR_NS_DS)
			continue;
		puts_(&b, " xmlns:");
		puts_(&b, oadr_ns_table[i].prefix);
		puts_(&b, "=\"");
		puts_(&b, oadr_ns_table[i].uri);
		puts_(&b, "\"");
	}
	puts_(&b, "><oadr:oadrSignedObject>");
	build_obj(&b, oadr_type_payload.f[1].sub, (const char *)m);
	puts_(&b, "</oadr:oadrSignedObject></oadr:oadrPayload>\n");
	if (b.oom && !b.failed)
		units_errf(err, errlen, "out of memory");
	if (b.failed || b.oom)
		goto fail;
	if (schema && schema_validate(schema, b.buf, b.len, err, errlen) != 0)
		goto fail;
	*len = b.len;
	return b.buf;
fail:
	free(b.buf);
	return NULL;
}

/* ---- describe ---------------------------------------------------------- */

struct dbuf {
	char *s;
	size_t len, cap;
	int oom;
};

static void dprintf_(struct dbuf *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
dprintf_(struct dbuf *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (d->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(d->s ? d->s + d->len : NULL,
		    d->s ? d->cap - d->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			d->oom = 1;
			return;
		}
		if (d->s && d->len + (size_t)n < d->cap) {
			d->len += (size_t)n;
			return;
		}
		{
			size_t cap = d->cap ? d->cap * 2 : 1024;
			char *t;

			while (cap < d->len + (size_t)n + 1)
				cap *= 2;
			if (!(t = realloc(d->s, cap))) {
				d->oom = 1;
				return;
			}
			d->s = t;
			d->cap = cap;
		}
	}
}

static const char *
opt(const char *s)
{
	return s ? s : "-";
}

static void
describe_response(struct dbuf *d, const struct oadr_response *r)
{
	dprintf_(d, " response=%03u", r->code);
	if (r->description)
		dprintf_(d, " (%s)", r->description);
}

static void
describe_event(struct dbuf *d, const struct oadr_event *e)
{
	char t[64], du[64];
	size_t k;

	units_format_datetime(e->active.dtstart, t, sizeof(t));
	units_format_iso_duration(e->active.duration, du, sizeof(du));
	dprintf_(d, "\n  event %s modification=%" PRIu32 " status=%s "
	    "start=%s duration=%s response=%s%s",
	    e->descriptor.event_id, e->descriptor.modification_number,
	    oadr_status_name(e->descriptor.status), t, du,
	    e->response_required == OADR_RESPONSE_NEVER ? "never" : "always",
	    e->descriptor.test_event && strcmp(e->descriptor.test_event,
	    "false") ? " test" : "");
	for (k = 0; k < e->n_signals; k++) {
		const struct oadr_signal *s = &e->signals[k];

		dprintf_(d, "\n    signal %s name=%s type=%s intervals=%zu",
		    s->id, s->name, oadr_signal_type_name(s->type),
		    s->intervals.n);
		if (s->has_item)
			dprintf_(d, " units=%s%s", s->item.si_scale &&
			    strcmp(s->item.si_scale, "none") ?
			    s->item.si_scale : "", opt(s->item.units));
	}
	if (e->target.ven_ids.n || e->target.resource_ids.n ||
	    e->target.group_ids.n || e->target.party_ids.n)
		dprintf_(d, "\n    target venIDs=%zu resourceIDs=%zu "
		    "groupIDs=%zu partyIDs=%zu", e->target.ven_ids.n,
		    e->target.resource_ids.n, e->target.group_ids.n,
		    e->target.party_ids.n);
}

static void
describe_reports(struct dbuf *d, const struct oadr_report_msg *m)
{
	size_t k;

	dprintf_(d, " requestID=%s venID=%s reports=%zu", opt(m->request_id),
	    opt(m->ven_id), m->n_reports);
	for (k = 0; k < m->n_reports; k++) {
		const struct oadr_report *r = &m->reports[k];

		dprintf_(d, "\n  report %s specifier=%s request=%s "
		    "descriptions=%zu intervals=%zu", opt(r->name),
		    opt(r->specifier_id), opt(r->request_id),
		    r->n_descriptions, r->intervals.n);
	}
}

static void
describe_requests(struct dbuf *d, const struct oadr_report_request_msg *m)
{
	char g[64], bd[64];
	size_t k;

	dprintf_(d, " venID=%s requests=%zu", opt(m->ven_id), m->n_requests);
	for (k = 0; k < m->n_requests; k++) {
		const struct oadr_report_request *r = &m->requests[k];

		units_format_iso_duration(r->granularity, g, sizeof(g));
		units_format_iso_duration(r->back_duration, bd, sizeof(bd));
		dprintf_(d, "\n  request %s specifier=%s granularity=%s "
		    "backDuration=%s rIDs=%zu", r->request_id, r->specifier_id,
		    g, bd, r->n_payloads);
	}
}

static void
describe_body(struct dbuf *d, const struct oadr_msg *m)
{
	char t[64];
	size_t k;

	switch (m->type) {
	case OADR_QUERY_REGISTRATION:
		dprintf_(d, " requestID=%s", m->u.query_registration.request_id);
		break;
	case OADR_CREATE_PARTY_REGISTRATION: {
		const struct oadr_create_party_registration *c =
		    &m->u.create_party_registration;

		dprintf_(d, " venName=%s venID=%s registrationID=%s "
		    "profile=%s transport=%s pull=%s", opt(c->ven_name),
		    opt(c->ven_id), opt(c->registration_id), c->profile_name,
		    c->transport_name, !c->has_http_pull_model ? "-" :
		    c->http_pull_model ? "true" : "false");
		break;
	}
	case OADR_CREATED_PARTY_REGISTRATION: {
		const struct oadr_created_party_registration *c =
		    &m->u.created_party_registration;

		describe_response(d, &c->response);
		dprintf_(d, " vtnID=%s venID=%s registrationID=%s profiles=",
		    c->vtn_id, opt(c->ven_id), opt(c->registration_id));
		for (k = 0; k < c->n_profiles; k++)
			dprintf_(d, "%s%s", k ? "," : "", c->profiles[k].name);
		if (c->has_poll_freq) {
			units_format_iso_duration(c->poll_freq, t, sizeof(t));
			dprintf_(d, " pollFreq=%s", t);
		}
		break;
	}
	case OADR_CANCEL_PARTY_REGISTRATION:
		dprintf_(d, " registrationID=%s venID=%s",
		    m->u.cancel_party_registration.registration_id,
		    opt(m->u.cancel_party_registration.ven_id));
		break;
	case OADR_CANCELED_PARTY_REGISTRATION:
		describe_response(d, &m->u.canceled_party_registration.response);
		dprintf_(d, " registrationID=%s venID=%s",
		    opt(m->u.canceled_party_registration.registration_id),
		    opt(m->u.canceled_party_registration.ven_id));
		break;
	case OADR_REQUEST_REREGISTRATION:
		dprintf_(d, " venID=%s", m->u.request_reregistration.ven_id);
		break;
	case OADR_POLL:
		dprintf_(d, " venID=%s", m->u.poll.ven_id);
		break;
	case OADR_RESPONSE:
		describe_response(d, &m->u.response.response);
		dprintf_(d, " venID=%s", opt(m->u.response.ven_id));
		break;
	case OADR_REQUEST_EVENT:
		dprintf_(d, " requestID=%s venID=%s",
		    m->u.request_event.request_id, m->u.request_event.ven_id);
		break;
	case OADR_DISTRIBUTE_EVENT: {
		const struct oadr_distribute_event *e = &m->u.distribute_event;

		dprintf_(d, " requestID=%s vtnID=%s events=%zu", e->request_id,
		    e->vtn_id, e->n_events);
		for (k = 0; k < e->n_events; k++)
			describe_event(d, &e->events[k]);
		break;
	}
	case OADR_CREATED_EVENT: {
		const struct oadr_created_event *c = &m->u.created_event;

		describe_response(d, &c->response);
		dprintf_(d, " venID=%s responses=%zu", c->ven_id,
		    c->n_event_responses);
		for (k = 0; k < c->n_event_responses; k++)
			dprintf_(d, "\n  event %s modification=%" PRIu32
			    " %s code=%03u",
			    c->event_responses[k].event.event_id,
			    c->event_responses[k].event.modification_number,
			    c->event_responses[k].opt_type == OADR_OPT_OUT ?
			    "optOut" : "optIn", c->event_responses[k].code);
		break;
	}
	case OADR_REGISTER_REPORT:
		describe_reports(d, &m->u.register_report);
		break;
	case OADR_UPDATE_REPORT:
		describe_reports(d, &m->u.update_report);
		break;
	case OADR_REGISTERED_REPORT:
		describe_response(d, &m->u.registered_report.response);
		describe_requests(d, &m->u.registered_report);
		break;
	case OADR_CREATE_REPORT:
		dprintf_(d, " requestID=%s", m->u.create_report.request_id);
		describe_requests(d, &m->u.create_report);
		break;
	case OADR_CREATED_REPORT:
	case OADR_CANCELED_REPORT: {
		const struct oadr_pending_reports_msg *c =
		    m->type == OADR_CREATED_REPORT ? &m->u.created_report :
		    &m->u.canceled_report;

		describe_response(d, &c->response);
		dprintf_(d, " venID=%s pending=%zu", opt(c->ven_id),
		    c->pending.n);
		break;
	}
	case OADR_UPDATED_REPORT:
		describe_response(d, &m->u.updated_report.response);
		dprintf_(d, " venID=%s cancelReport=%s",
		    opt(m->u.updated_report.ven_id),
		    m->u.updated_report.has_cancel_report ? "yes" : "no");
		break;
	case OADR_CANCEL_REPORT:
		dprintf_(d, " requestID=%s reportRequestIDs=%zu "
		    "reportToFollow=%s", m->u.cancel_report.request_id,
		    m->u.cancel_report.report_request_ids.n,
		    m->u.cancel_report.report_to_follow ? "true" : "false");
		break;
	case OADR_CREATE_OPT: {
		const struct oadr_create_opt *c = &m->u.create_opt;

		dprintf_(d, " optID=%s %s reason=%s venID=%s available=%zu",
		    c->opt_id, c->opt_type == OADR_OPT_OUT ? "optOut" : "optIn",
		    c->opt_reason, c->ven_id, c->n_available);
		if (c->has_qualified_event)
			dprintf_(d, " event=%s/%" PRIu32,
			    c->qualified_event.event_id,
			    c->qualified_event.modification_number);
		break;
	}
	case OADR_CREATED_OPT:
	case OADR_CANCELED_OPT: {
		const struct oadr_opt_response *c = m->type ==
		    OADR_CREATED_OPT ? &m->u.created_opt : &m->u.canceled_opt;

		describe_response(d, &c->response);
		dprintf_(d, " optID=%s", opt(c->opt_id));
		break;
	}
	case OADR_CANCEL_OPT:
		dprintf_(d, " optID=%s venID=%s", m->u.cancel_opt.opt_id,
		    m->u.cancel_opt.ven_id);
		break;
	default:
		break;
	}
}

char *
oadr_msg_describe(const struct oadr_msg *m)
{
	struct dbuf d;
	const char *name = oadr_msg_name(m->type);

	memset(&d, 0, sizeof(d));
	dprintf_(&d, "%s", name ? name : "(none)");
	describe_body(&d, m);
	if (d.oom) {
		free(d.s);
		return NULL;
	}
	return d.s;
}
