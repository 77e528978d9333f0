/*
 * json — the JSON acgw writes (control replies, later audit records) and
 * reads (acgwctl, tests). Output is always valid UTF-8 JSON on one line.
 */
#ifndef ACGW_JSON_H
#define ACGW_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_DEPTH_MAX 32

/* ---- writer --------------------------------------------------------- */

struct json_buf {
	char *s;		/* NUL-terminated */
	size_t len, cap;
	size_t limit;		/* 0: unlimited; past it the buffer fails */
	int failed;		/* out of memory or over limit */
	int depth;
	unsigned char first[JSON_DEPTH_MAX + 1];
};

void json_init(struct json_buf *j, size_t limit);
void json_free(struct json_buf *j);
/* Resets to empty, keeps the allocation. */
void json_reset(struct json_buf *j);

void json_object_begin(struct json_buf *j);
void json_object_end(struct json_buf *j);
void json_array_begin(struct json_buf *j);
void json_array_end(struct json_buf *j);
/* Inside an object: the next value's key. */
void json_key(struct json_buf *j, const char *key);
void json_string(struct json_buf *j, const char *s);
void json_string_len(struct json_buf *j, const char *s, size_t len);
void json_int(struct json_buf *j, int64_t v);
void json_uint(struct json_buf *j, uint64_t v);
void json_bool(struct json_buf *j, int v);
void json_null(struct json_buf *j);
/* A value already in JSON form, inserted as it is (the caller checks it). */
void json_raw(struct json_buf *j, const char *s, size_t len);

/* Shorthands for "key": value members. */
void json_kv_str(struct json_buf *j, const char *key, const char *s);
void json_kv_int(struct json_buf *j, const char *key, int64_t v);
void json_kv_uint(struct json_buf *j, const char *key, uint64_t v);
void json_kv_bool(struct json_buf *j, const char *key, int v);

/* ---- reader --------------------------------------------------------- */

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value {
	enum json_type type;
	int boolean;
	double number;
	int is_int;		/* number is an exact integer */
	int64_t integer;
	char *string;		/* STRING: decoded, NUL-terminated */
	size_t string_len;
	struct json_value **items;	/* ARRAY, OBJECT */
	char **keys;			/* OBJECT: keys[i] names items[i] */
	size_t n;
};

/* Parses exactly one value (surrounding white space allowed). */
struct json_value *json_parse(const char *s, size_t len, char *err,
    size_t errlen);
void json_value_free(struct json_value *v);
/* Object member by key, or NULL. */
const struct json_value *json_get(const struct json_value *obj,
    const char *key);

/* Writes a parsed value back out (compact, one line). */
void json_write_value(struct json_buf *j, const struct json_value *v);

/* 1 if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
int json_utf8_valid(const char *s, size_t len);

#endif
