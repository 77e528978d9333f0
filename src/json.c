/*
 * json — a small writer and reader. The writer keeps track of commas so
 * callers cannot produce malformed output; it replaces invalid UTF-8 with
 * U+FFFD rather than refusing, because a reply must always go out.
 */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acgw/json.h"

void
json_init(struct json_buf *j, size_t limit)
{
	memset(j, 0, sizeof(*j));
	j->limit = limit;
	j->first[0] = 1;
}

void
json_free(struct json_buf *j)
{
	free(j->s);
	memset(j, 0, sizeof(*j));
}

void
json_reset(struct json_buf *j)
{
	j->len = 0;
	if (j->s != NULL)
		j->s[0] = '\0';
	j->failed = 0;
	j->depth = 0;
	j->first[0] = 1;
}

static void
json_put(struct json_buf *j, const char *s, size_t n)
{
	if (j->failed)
		return;
	if (j->limit != 0 && j->len + n > j->limit) {
		j->failed = 1;
		return;
	}
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 256;
		char *p;

		while (cap < j->len + n + 1)
			cap *= 2;
		if ((p = realloc(j->s, cap)) == NULL) {
			j->failed = 1;
			return;
		}
		j->s = p;
		j->cap = cap;
	}
	memcpy(j->s + j->len, s, n);
	j->len += n;
	j->s[j->len] = '\0';
}

/* Comma before every value but the first at this depth (keys count). */
static void
json_sep(struct json_buf *j)
{
	if (!j->first[j->depth])
		json_put(j, ",", 1);
	j->first[j->depth] = 0;
}

static void
json_open(struct json_buf *j, char c)
{
	json_sep(j);
	json_put(j, &c, 1);
	if (j->depth >= JSON_DEPTH_MAX) {
		j->failed = 1;
		return;
	}
	j->first[++j->depth] = 1;
}

static void
json_close(struct json_buf *j, char c)
{
	if (j->depth > 0)
		j->depth--;
	json_put(j, &c, 1);
}

void json_object_begin(struct json_buf *j) { json_open(j, '{'); }
void json_object_end(struct json_buf *j) { json_close(j, '}'); }
void json_array_begin(struct json_buf *j) { json_open(j, '['); }
void json_array_end(struct json_buf *j) { json_close(j, ']'); }

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int
json_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	while (len > 0) {
		size_t n;
		uint64_t w;

		/* Eight ASCII bytes at a time: payloads are mostly ASCII. */
		if (len >= 8) {
			memcpy(&w, p, 8);
			if ((w & 0x8080808080808080ULL) == 0) {
				p += 8;
				len -= 8;
				continue;
			}
		}
		n = utf8_seq(p, len);

		if (n == 0)
			return 0;
		p += n;
		len -= n;
	}
	return 1;
}

static void
json_quote(struct json_buf *j, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	json_put(j, "\"", 1);
	while (i < len) {
		unsigned char c = p[i];
		char esc[8];
		size_t n;

		switch (c) {
		case '"': json_put(j, "\\\"", 2); i++; continue;
		case '\\': json_put(j, "\\\\", 2); i++; continue;
		case '\n': json_put(j, "\\n", 2); i++; continue;
		case '\r': json_put(j, "\\r", 2); i++; continue;
		case '\t': json_put(j, "\\t", 2); i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			json_put(j, esc, 6);
			i++;
			continue;
		}
		if ((n = utf8_seq(p + i, len - i)) == 0) {
			json_put(j, "\\ufffd", 6);
			i++;
			continue;
		}
		json_put(j, s + i, n);
		i += n;
	}
	json_put(j, "\"", 1);
}

void
json_key(struct json_buf *j, const char *key)
{
	json_sep(j);
	json_quote(j, key, strlen(key));
	json_put(j, ":", 1);
	/* The value that follows takes no comma of its own. */
	j->first[j->depth] = 1;
}

void
json_string_len(struct json_buf *j, const char *s, size_t len)
{
	json_sep(j);
	json_quote(j, s, len);
}

void
json_string(struct json_buf *j, const char *s)
{
	if (s == NULL) {
		json_null(j);
		return;
	}
	json_string_len(j, s, strlen(s));
}

void
json_int(struct json_buf *j, int64_t v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%" PRId64, v);

	json_sep(j);
	json_put(j, b, (size_t)n);
}

void
json_uint(struct json_buf *j, uint64_t v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%" PRIu64, v);

	json_sep(j);
	json_put(j, b, (size_t)n);
}

void
json_bool(struct json_buf *j, int v)
{
	json_sep(j);
	json_put(j, v ? "true" : "false", v ? 4 : 5);
}

void
json_null(struct json_buf *j)
{
	json_sep(j);
	json_put(j, "null", 4);
}

void
json_raw(struct json_buf *j, const char *s, size_t len)
{
	json_sep(j);
	json_put(j, s, len);
}

void json_kv_str(struct json_buf *j, const char *k, const char *s)
{ json_key(j, k); json_string(j, s); }
void json_kv_int(struct json_buf *j, const char *k, int64_t v)
{ json_key(j, k); json_int(j, v); }
void json_kv_uint(struct json_buf *j, const char *k, uint64_t v)
{ json_key(j, k); json_uint(j, v); }
void json_kv_bool(struct json_buf *j, const char *k, int v)
{ json_key(j, k); json_bool(j, v); }

/* ---- reader --------------------------------------------------------- */

struct jparser {
	const char *s;
	size_t len, pos;
	char *err;
	size_t errlen;
};

static struct json_value *jp_value(struct jparser *p, int depth);

static void *
jp_fail(struct jparser *p, const char *what)
{
	if (p->err[0] == '\0')
		snprintf(p->err, p->errlen, "offset %zu: %s", p->pos, what);
	return NULL;
}

static void
jp_ws(struct jparser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' ||
	    p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
	    p->s[p->pos] == '\r'))
		p->pos++;
}

void
json_value_free(struct json_value *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->n; i++) {
		json_value_free(v->items[i]);
		if (v->keys != NULL)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->string);
	free(v);
}

static int
jp_hex4(struct jparser *p, unsigned *out)
{
	unsigned v = 0;

	if (p->len - p->pos < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p->s[p->pos++];
		v <<= 4;
		if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
		else return -1;
	}
	*out = v;
	return 0;
}

static size_t
utf8_put(char *d, unsigned cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* At the opening quote; returns a malloc'd decoded string. */
static char *
jp_string(struct jparser *p, size_t *outlen)
{
	size_t start = ++p->pos, cap = 0;
	char *d;
	size_t n = 0;

	/* Decoded length never exceeds the raw length. */
	while (p->pos < p->len && p->s[p->pos] != '"') {
		if (p->s[p->pos] == '\\')
			p->pos++;
		p->pos++;
	}
	if (p->pos >= p->len) {
		p->pos = start - 1;	/* point at the opening quote */
		return jp_fail(p, "unterminated string");
	}
	cap = p->pos - start + 1;
	p->pos = start;
	if ((d = malloc(cap)) == NULL)
		return jp_fail(p, "out of memory");
	while (p->s[p->pos] != '"') {
		unsigned char c = (unsigned char)p->s[p->pos];

		if (c < 0x20) {
			free(d);
			return jp_fail(p, "control character in string");
		}
		if (c != '\\') {
			size_t sl = utf8_seq((const unsigned char *)p->s +
			    p->pos, p->len - p->pos);
			if (sl == 0) {
				free(d);
				return jp_fail(p, "invalid UTF-8 in string");
			}
			memcpy(d + n, p->s + p->pos, sl);
			n += sl;
			p->pos += sl;
			continue;
		}
		p->pos++;
		switch (p->s[p->pos++]) {
		case '"': d[n++] = '"'; break;
		case '\\': d[n++] = '\\'; break;
		case '/': d[n++] = '/'; break;
		case 'b': d[n++] = '\b'; break;
		case 'f': d[n++] = '\f'; break;
		case 'n': d[n++] = '\n'; break;
		case 'r': d[n++] = '\r'; break;
		case 't': d[n++] = '\t'; break;
		case 'u': {
			unsigned cp, lo;

			if (jp_hex4(p, &cp) != 0)
				goto bad;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				goto bad;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p->len - p->pos < 6 || p->s[p->pos] != '\\' ||
				    p->s[p->pos + 1] != 'u')
					goto bad;
				p->pos += 2;
				if (jp_hex4(p, &lo) != 0 || lo < 0xdc00 ||
				    lo > 0xdfff)
					goto bad;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			/* "\uXXXX" is 6 raw bytes, at most 4 decoded. */
			n += utf8_put(d + n, cp);
			break;
		}
		default:
			goto bad;
		}
	}
	p->pos++;
	d[n] = '\0';
	*outlen = n;
	return d;
bad:
	free(d);
	return jp_fail(p, "invalid escape in string");
}

static struct json_value *
jp_number(struct jparser *p, struct json_value *v)
{
	size_t start = p->pos;
	char buf[64], *end;
	int frac = 0;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
		return jp_fail(p, "invalid number");
	if (p->s[p->pos] == '0' && p->pos + 1 < p->len &&
	    p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
		return jp_fail(p, "leading zero in number");
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if ((c >= '0' && c <= '9') || c == '-' || c == '+')
			p->pos++;
		else if (c == '.' || c == 'e' || c == 'E') {
			frac = 1;
			p->pos++;
		} else
			break;
	}
	if (p->pos - start >= sizeof(buf))
		return jp_fail(p, "number too long");
	memcpy(buf, p->s + start, p->pos - start);
	buf[p->pos - start] = '\0';
	v->type = JSON_NUMBER;
	v->number = strtod(buf, &end);
	if (*end != '\0' || !isfinite(v->number))
		return jp_fail(p, "invalid number");
	if (!frac) {
		long long ll;
		ll = strtoll(buf, &end, 10);
		if (*end == '\0' && !(ll == LLONG_MAX || ll == LLONG_MIN)) {
			v->is_int = 1;
			v->integer = ll;
		}
	}
	return v;
}

static struct json_value *
jp_container(struct jparser *p, struct json_value *v, int depth)
{
	int obj = p->s[p->pos] == '{';
	size_t cap = 0;

	v->type = obj ? JSON_OBJECT : JSON_ARRAY;
	p->pos++;
	jp_ws(p);
	if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']')) {
		p->pos++;
		return v;
	}
	for (;;) {
		char *key = NULL;
		struct json_value *item;

		jp_ws(p);
		if (obj) {
			size_t kl;

			if (p->pos >= p->len || p->s[p->pos] != '"')
				return jp_fail(p, "expected a key");
			if ((key = jp_string(p, &kl)) == NULL)
				return NULL;
			jp_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':') {
				free(key);
				return jp_fail(p, "expected ':'");
			}
			p->pos++;
		}
		if ((item = jp_value(p, depth + 1)) == NULL) {
			free(key);
			return NULL;
		}
		if (v->n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct json_value **ni = realloc(v->items,
			    ncap * sizeof(*ni));
			char **nk;

			if (ni != NULL)
				v->items = ni;
			nk = obj ? realloc(v->keys, ncap * sizeof(*nk)) : NULL;
			if (obj && nk != NULL)
				v->keys = nk;
			if (ni == NULL || (obj && nk == NULL)) {
				free(key);
				json_value_free(item);
				return jp_fail(p, "out of memory");
			}
			cap = ncap;
		}
		v->items[v->n] = item;
		if (obj)
			v->keys[v->n] = key;
		v->n++;
		jp_ws(p);
		if (p->pos >= p->len)
			return jp_fail(p, "unterminated container");
		if (p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == (obj ? '}' : ']')) {
			p->pos++;
			return v;
		}
		return jp_fail(p, obj ? "expected ',' or '}'" :
		    "expected ',' or ']'");
	}
}

static struct json_value *
jp_value(struct jparser *p, int depth)
{
	struct json_value *v, *r;

	if (depth > JSON_DEPTH_MAX)
		return jp_fail(p, "nested too deeply");
	jp_ws(p);
	if (p->pos >= p->len)
		return jp_fail(p, "unexpected end of input");
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return jp_fail(p, "out of memory");
	switch (p->s[p->pos]) {
	case '{':
	case '[':
		r = jp_container(p, v, depth);
		break;
	case '"':
		v->type = JSON_STRING;
		v->string = jp_string(p, &v->string_len);
		r = v->string ? v : NULL;
		break;
	case 't':
	case 'f':
	case 'n': {
		static const char *const lit[] = { "true", "false", "null" };
		int which = p->s[p->pos] == 't' ? 0 :
		    p->s[p->pos] == 'f' ? 1 : 2;
		size_t l = strlen(lit[which]);

		if (p->len - p->pos < l ||
		    memcmp(p->s + p->pos, lit[which], l) != 0) {
			r = jp_fail(p, "invalid literal");
			break;
		}
		p->pos += l;
		v->type = which == 2 ? JSON_NULL : JSON_BOOL;
		v->boolean = which == 0;
		r = v;
		break;
	}
	default:
		r = jp_number(p, v);
		break;
	}
	if (r == NULL)
		json_value_free(v);
	return r;
}

struct json_value *
json_parse(const char *s, size_t len, char *err, size_t errlen)
{
	struct jparser p = { s, len, 0, err, errlen };
	struct json_value *v;

	err[0] = '\0';
	if ((v = jp_value(&p, 0)) == NULL)
		return NULL;
	jp_ws(&p);
	if (p.pos != p.len) {
		json_value_free(v);
		return jp_fail(&p, "trailing characters after the value");
	}
	return v;
}

const struct json_value *
json_get(const struct json_value *obj, const char *key)
{
	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return obj->items[i];
	return NULL;
}

void
json_write_value(struct json_buf *j, const struct json_value *v)
{
	char num[40];

	switch (v->type) {
	case JSON_NULL:
		json_null(j);
		break;
	case JSON_BOOL:
		json_bool(j, v->boolean);
		break;
	case JSON_NUMBER:
		if (v->is_int)
			json_int(j, v->integer);
		else {
			snprintf(num, sizeof(num), "%.17g", v->number);
			json_raw(j, num, strlen(num));
		}
		break;
	case JSON_STRING:
		json_string_len(j, v->string, v->string_len);
		break;
	case JSON_ARRAY:
		json_array_begin(j);
		for (size_t i = 0; i < v->n; i++)
			json_write_value(j, v->items[i]);
		json_array_end(j);
		break;
	case JSON_OBJECT:
		json_object_begin(j);
		for (size_t i = 0; i < v->n; i++) {
			json_key(j, v->keys[i]);
			json_write_value(j, v->items[i]);
		}
		json_object_end(j);
		break;
	}
}
