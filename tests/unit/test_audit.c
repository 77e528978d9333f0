/*
 * Unit tests for audit: the record codec and key evolution against
 * vectors computed outside acgw (Python's hmac and hashlib, cross-checked
 * with "openssl dgst -sha256 -mac HMAC"), what the codec and the writer
 * refuse, the writer and the offline verifier together, every kind of
 * tampering the verifier must catch and name, recovery from a torn tail
 * and from a crash inside a key evolution, rotation and retention.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "acgw/audit.h"
#include "acgw/config.h"
#include "acgw/json.h"
#include "../lib/testlib.h"

/* ---- fixed vectors ---------------------------------------------------- */

/*
 * key = 00 01 .. 1f. Computed with:
 *   python3: hmac.new(key, line_without_mac, hashlib.sha256).hexdigest()
 *   printf %s "$body" | openssl dgst -sha256 -mac HMAC -macopt hexkey:0001..1f
 */
static const char vec_line1[] =
    "{\"seq\":1,\"time\":\"2026-01-01T00:00:00.000000Z\",\"type\":"
    "\"daemon.start\",\"actor\":\"system\",\"peer\":null,\"details\":"
    "{\"a\":1},\"epoch\":0,\"prev\":\"0000000000000000000000000000000000"
    "000000000000000000000000000000\",\"mac\":\"d1b6caf12878f2b47bcbedd50d"
    "3dd53a2b6f86d2a633906902122b66f0c12cb0\"}";

/* SHA-256 of vec_line1: the prev of the second vector. */
static const char vec_hash1[] =
    "31c8bdbd5826b88b48852df2b5802ad14215776a8b294b8e8e39d6f8b87d0411";

/*
 * Seq 2, chained to vec_line1, with a peer; the actor holds a quote, a
 * control character, a non-ASCII letter, a tab and a backslash; the
 * details hold escapes and raw UTF-8, which the codec keeps verbatim.
 */
static const char vec_actor2[] = "op\"\x01\xc3\xa9\t\\";
static const char vec_details2[] =
    "{\"s\":\"caf\\u00e9 \\\"q\\\" \xe2\x9c\x93 \\n\",\"n\":[1,2.5,null]}";
static const char vec_line2[] =
    "{\"seq\":2,\"time\":\"2026-01-01T00:00:00.000001Z\",\"type\":"
    "\"peer.admitted\",\"actor\":\"op\\\"\\u0001\xc3\xa9\\t\\\\\",\"peer\":"
    "\"ra1\",\"details\":{\"s\":\"caf\\u00e9 \\\"q\\\" \xe2\x9c\x93 \\n\","
    "\"n\":[1,2.5,null]},\"epoch\":0,\"prev\":\"31c8bdbd5826b88b48852df2b5"
    "802ad14215776a8b294b8e8e39d6f8b87d0411\",\"mac\":\"67262905c1ee646f70"
    "99ff659d6cca061a2aa7ee57ae2e4cb5cecc89f589ac1a\"}";

/* SHA-256("acgw audit key evolution v1" || key), and once more. */
static const char vec_k1[] =
    "7fe444fcce12a2dce8272d6fb71cf5c000baf5dfde43471f960b671c4a119496";
static const char vec_k2[] =
    "be1593fd4d0a3b4e84ea096d74125b25bbfb9dbd0cc11aa3c8487105a4bc6d77";

static void
vec_key(unsigned char key[AUDIT_KEY_LEN])
{
	for (int i = 0; i < AUDIT_KEY_LEN; i++)
		key[i] = (unsigned char)i;
}

static void
hexstr(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void
sha256hex(const char *data, size_t len, char out[65])
{
	unsigned char h[32];

	ck_assert_int_eq(EVP_Digest(data, len, h, NULL, EVP_sha256(), NULL), 1);
	hexstr(h, 32, out);
}

static void
unhex(const char *hex, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (unsigned char)v;
	}
}

/* ---- a scratch log ---------------------------------------------------- */

struct tlog {
	char *tmp, *dir, *keypath;
	struct config *cfg;
	unsigned char k0[AUDIT_KEY_LEN];
};

/* A new log in a scratch directory; extra is indented under "audit:". */
static void
tlog_init(struct tlog *l, const char *extra)
{
	struct config_errors errs;
	char err[AUDIT_ERR_MAX], *yaml;

	l->tmp = tl_tmpdir();
	l->dir = tl_path(l->tmp, "audit");
	l->keypath = tl_path(l->dir, "key");
	ck_assert_msg(audit_init(l->dir, l->k0, err, sizeof(err)) == 0, "%s",
	    err);
	/* No syslog mirror: the tests must not fill the host's logs. */
	ck_assert(asprintf(&yaml, "audit:\n  dir: %s\n  syslog: false\n%s",
	    l->dir, extra ? extra : "") > 0);
	l->cfg = config_load_buffer("test.yaml", yaml, strlen(yaml), &errs);
	ck_assert_msg(l->cfg != NULL, "%s", errs.msg[0]);
	free(yaml);
}

static void
tlog_free(struct tlog *l)
{
	config_free(l->cfg);
	tl_rmrf(l->tmp);
	free(l->tmp);
	free(l->dir);
	free(l->keypath);
}

static struct audit *
tlog_open(struct tlog *l)
{
	char err[AUDIT_ERR_MAX];
	struct audit *a = audit_open(NULL, l->cfg, err, sizeof(err));

	ck_assert_msg(a != NULL, "audit_open: %s", err);
	return a;
}

/* Records from..to, operator.command {"i":N} (padded to pad bytes). */
static void
tlog_append(struct audit *a, int from, int to, size_t pad)
{
	char err[AUDIT_ERR_MAX], *details, *p;

	details = malloc(pad + 64);
	ck_assert_ptr_nonnull(details);
	for (int i = from; i <= to; i++) {
		int n = snprintf(details, 64, "{\"i\":%d", i);

		p = details + n;
		if (pad > 0) {
			p += sprintf(p, ",\"pad\":\"");
			memset(p, 'x', pad);
			p += pad;
			*p++ = '"';
		}
		strcpy(p, "}");
		ck_assert_msg(audit_append_sync(a, "operator.command", "test",
		    NULL, details, err, sizeof(err)) == 0, "record %d: %s", i,
		    err);
	}
	free(details);
}


static int
verify(const unsigned char k0[AUDIT_KEY_LEN], char **files, size_t n,
    struct audit_verify *v)
{
	return audit_verify_files(k0, (const char *const *)files, n, v);
}

/* Verifies every file of the log with its K0; must pass. */
static void
tlog_verify_ok(struct tlog *l, struct audit_verify *v)
{
	char **files;
	size_t n = tl_audit_files(l->dir, &files);

	ck_assert_msg(verify(l->k0, files, n, v) == 0, "verify: %s",
	    v->error);
	tl_files_free(files);
}

/* Line k (1-based) of buf; its length without the newline in *len. */
static char *
line_at(char *buf, int k, size_t *len)
{
	char *p = buf;

	for (int i = 1; i < k; i++) {
		p = strchr(p, '\n');
		ck_assert_msg(p != NULL, "no line %d", k);
		p++;
	}
	ck_assert_msg(*p != '\0', "no line %d", k);
	*len = strcspn(p, "\n");
	return p;
}

static int
count_lines(const char *buf)
{
	int n = 0;

	for (const char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	return n;
}

static void
write_bytes(const char *path, const char *buf, size_t len)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static struct json_value *
parse_line(const char *line, size_t len)
{
	char err[128];
	struct json_value *v = json_parse(line, len, err, sizeof(err));

	ck_assert_msg(v != NULL, "not JSON (%s): %.*s", err, (int)len, line);
	return v;
}

/* A string member of record line k of buf (a malloc'd copy). */
static char *
line_field(char *buf, int k, const char *key)
{
	size_t len;
	char *line = line_at(buf, k, &len), *s;
	struct json_value *v = parse_line(line, len);
	const struct json_value *f = json_get(v, key);

	ck_assert_msg(f != NULL, "no %s in line %d", key, k);
	s = tl_json_text(f);
	json_value_free(v);
	return s;
}

static void
field_is(char *buf, int k, const char *key, const char *want)
{
	char *got = line_field(buf, k, key);

	ck_assert_msg(strcmp(got, want) == 0, "line %d %s: %s, want %s", k, key,
	    got, want);
	free(got);
}

/*
 * The log every tamper test starts from: key_records 3 and records
 * i=1..10 give, one line per seq,
 *   1-3 i=1..3 (epoch 0), 4 key_evolved (1), 5-6 i=4,5 (1),
 *   7 key_evolved (2), 8-9 i=6,7 (2), 10 key_evolved (3), 11-12 i=8,9 (3),
 *   13 key_evolved (4), 14 i=10 (4).
 * Returns the path of its one file.
 */
static char *
small_log(struct tlog *l)
{
	struct audit *a;

	tlog_init(l, "  key_records: 3\n");
	a = tlog_open(l);
	tlog_append(a, 1, 10, 0);
	audit_close(a);
	return tl_path(l->dir, "audit-00000001.log");
}

/* Verifying path alone must fail with exactly "path:" + rest. */
static void
verify_fails(const unsigned char k0[AUDIT_KEY_LEN], char *path,
    const char *rest)
{
	struct audit_verify v;
	char *files[] = { path, NULL }, *want;

	ck_assert(asprintf(&want, "%s:%s", path, rest) > 0);
	ck_assert_int_eq(verify(k0, files, 1, &v), -1);
	ck_assert_str_eq(v.error, want);
	free(want);
}

/* ---- codec ------------------------------------------------------------- */

START_TEST(record_format_vector)
{
	unsigned char key[AUDIT_KEY_LEN], prev[32] = { 0 };
	char hash[65];
	struct json_buf j;

	vec_key(key);
	json_init(&j, 0);
	ck_assert_int_eq(audit_record_format(&j, 1,
	    "2026-01-01T00:00:00.000000Z", "daemon.start", "system", NULL,
	    "{\"a\":1}", 0, prev, key), 0);
	ck_assert_str_eq(j.s, vec_line1);

	/* The chain: prev is SHA-256 of the whole previous line. */
	sha256hex(j.s, j.len, hash);
	ck_assert_str_eq(hash, vec_hash1);
	unhex(vec_hash1, prev, 32);
	ck_assert_int_eq(audit_record_format(&j, 2,
	    "2026-01-01T00:00:00.000001Z", "peer.admitted", vec_actor2, "ra1",
	    vec_details2, 0, prev, key), 0);
	ck_assert_str_eq(j.s, vec_line2);
	json_free(&j);
}
END_TEST

START_TEST(key_evolve_vector)
{
	unsigned char k0[AUDIT_KEY_LEN], k1[AUDIT_KEY_LEN], k2[AUDIT_KEY_LEN];
	char hex[65];

	vec_key(k0);
	audit_key_evolve(k0, k1);
	hexstr(k1, 32, hex);
	ck_assert_str_eq(hex, vec_k1);
	audit_key_evolve(k1, k2);
	hexstr(k2, 32, hex);
	ck_assert_str_eq(hex, vec_k2);
	/* In place is how a caller may well use it. */
	audit_key_evolve(k0, k0);
	ck_assert_mem_eq(k0, k1, 32);
}
END_TEST

START_TEST(record_types)
{
	/* The types the issue names, plus the ones acgwd writes. */
	static const char *const named[] = {
		"daemon.start", "daemon.stop", "daemon.reload",
		"config.changed", "tls.refused", "peer.admitted", "peer.severed",
		"peer.restored", "attestation.accepted", "attestation.rejected",
		"attestation.expired", "r1.registered", "dispatch.received",
		"dispatch.allocated", "dispatch.delivered", "dispatch.acked",
		"ra.registered", "ra.unregistered", "ra.mismatch",
		"report.sent", "operator.command", "audit.recovered",
		"audit.rotated", "audit.key_evolved",
	};
	size_t n;
	const char *const *all = audit_types(&n);

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		ck_assert_msg(audit_type_valid(named[i]), "%s", named[i]);
	for (size_t i = 0; i < n; i++)
		ck_assert(audit_type_valid(all[i]));
	ck_assert(!audit_type_valid("nope"));
	ck_assert(!audit_type_valid("daemon.start "));
	ck_assert(!audit_type_valid(""));
}
END_TEST

START_TEST(record_rejects)
{
	/* Not one JSON object on one line: a record would be split or bent. */
	static const char *const bad[] = {
		"{\"a\":\n1}", "{\"a\":1}\n", "{\"a\":\r1}", "[1]", "1", "{",
		"\"x\"", "null", "", "{\"a\":1} {\"b\":2}", "{\"a\":\"\x01\"}",
	};
	unsigned char key[AUDIT_KEY_LEN], prev[32] = { 0 };
	struct json_buf j;

	vec_key(key);
	json_init(&j, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(audit_record_format(&j, 1, "t", "daemon.start",
		    "system", NULL, bad[i], 0, prev, key) == -1, "accepted %s",
		    bad[i]);
	/* No details is an empty object. */
	ck_assert_int_eq(audit_record_format(&j, 1, "t", "daemon.start",
	    "system", NULL, NULL, 0, prev, key), 0);
	ck_assert_ptr_nonnull(strstr(j.s, ",\"details\":{},\"epoch\":0,"));
	json_free(&j);
}
END_TEST

START_TEST(record_escaping)
{
	/* Quotes, backslashes, every kind of control character, DEL, UTF-8. */
	static const char actor[] = "a\"b\\c\nd\re\tf\x01g\x1fh\x7fi \xc3\xa9 "
	    "\xe2\x9c\x93 \xf0\x9f\x94\x92";
	static const char peer[] = "ra1\n\"x\"";
	static const char want[] = "\"actor\":\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g"
	    "\\u001fh\\u007fi \xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x94\x92\","
	    "\"peer\":\"ra1\\n\\\"x\\\"\"";
	unsigned char key[AUDIT_KEY_LEN], prev[32] = { 0 };
	struct json_value *v;
	struct json_buf j;

	vec_key(key);
	json_init(&j, 0);
	ck_assert_int_eq(audit_record_format(&j, 7, "2026-01-01T00:00:00Z",
	    "peer.admitted", actor, peer, "{\"k\":\"\\u2028\"}", 3, prev, key),
	    0);
	ck_assert_ptr_null(memchr(j.s, '\n', j.len));
	ck_assert_ptr_null(memchr(j.s, '\r', j.len));
	ck_assert(json_utf8_valid(j.s, j.len));
	ck_assert_msg(strstr(j.s, want) != NULL, "%s", j.s);
	v = parse_line(j.s, j.len);
	ck_assert_str_eq(json_get(v, "actor")->string, actor);
	ck_assert_str_eq(json_get(v, "peer")->string, peer);
	ck_assert_str_eq(json_get(json_get(v, "details"), "k")->string,
	    "\xe2\x80\xa8");
	ck_assert_int_eq(json_get(v, "seq")->integer, 7);
	ck_assert_int_eq(json_get(v, "epoch")->integer, 3);
	json_value_free(v);

	/* Invalid UTF-8 cannot be written as it is: U+FFFD stands in. */
	ck_assert_int_eq(audit_record_format(&j, 1, "t", "daemon.start",
	    "bad\xff\xc3", NULL, NULL, 0, prev, key), 0);
	ck_assert(json_utf8_valid(j.s, j.len));
	ck_assert_ptr_nonnull(strstr(j.s, "\"actor\":\"bad\\ufffd\\ufffd\""));
	json_free(&j);
}
END_TEST

/* The writer's own limits: 1 MiB a record, known types only. */
START_TEST(append_rejects)
{
	struct tlog l;
	struct audit_verify v;
	struct audit *a;
	char err[AUDIT_ERR_MAX], *big;
	size_t n = (size_t)1 << 20;

	tlog_init(&l, NULL);
	a = tlog_open(&l);
	big = malloc(n + 64);
	ck_assert_ptr_nonnull(big);

	/* Just under the limit: accepted, one line. */
	memcpy(big, "{\"blob\":\"", 9);
	memset(big + 9, 'a', 1000000);
	strcpy(big + 9 + 1000000, "\"}");
	ck_assert_msg(audit_append_sync(a, "operator.command", "test", NULL,
	    big, err, sizeof(err)) == 0, "%s", err);

	/* Over it: refused, and the log stays writable (not failed closed). */
	memset(big + 9, 'a', n);
	strcpy(big + 9 + n, "\"}");
	ck_assert_int_eq(audit_append_sync(a, "operator.command", "test", NULL,
	    big, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "operator.command: details are not one JSON "
	    "object on one line (or over 1 MiB)");
	ck_assert(audit_ok(a));
	ck_assert_int_eq(audit_append_sync(a, "operator.command", "test", NULL,
	    "{\"a\":\n1}", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "operator.command: details are not one JSON "
	    "object on one line (or over 1 MiB)");
	ck_assert_int_eq(audit_append_sync(a, "operator.command", "test", NULL,
	    "[1]", err, sizeof(err)), -1);
	ck_assert_int_eq(audit_append_sync(a, "nope", "test", NULL, NULL, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "unknown audit record type \"nope\"");
	ck_assert(audit_ok(a));
	ck_assert_int_eq(audit_append(a, "nope", "test", NULL, NULL, NULL,
	    NULL), -1);

	/* The refusals took no sequence number. */
	tlog_append(a, 2, 2, 0);
	audit_close(a);
	tlog_verify_ok(&l, &v);
	ck_assert_uint_eq(v.records, 2);
	ck_assert_uint_eq(v.last_seq, 2);
	free(big);
	tlog_free(&l);
}
END_TEST

/* ---- writer and verifier ---------------------------------------------- */

START_TEST(round_trip)
{
	static const char *const types[] = {
		NULL, "operator.command", "operator.command", "operator.command",
		"audit.key_evolved", "operator.command", "operator.command",
		"audit.key_evolved", "operator.command", "operator.command",
		"audit.key_evolved", "operator.command", "operator.command",
		"audit.key_evolved", "operator.command",
	};
	struct tlog l;
	struct audit_verify v;
	struct audit *a;
	struct stat st;
	struct json_buf j;
	unsigned char key[AUDIT_KEY_LEN], k[AUDIT_KEY_LEN];
	unsigned epoch = 99;
	char err[AUDIT_ERR_MAX], hex[65], *path, *buf, *keytext, want[128];

	tlog_init(&l, "  key_records: 3\n");
	/* audit_init hands out the K0 it stored, at epoch 0, mode 0600. */
	ck_assert_int_eq(audit_read_key(l.keypath, key, &epoch, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(epoch, 0);
	ck_assert_mem_eq(key, l.k0, 32);
	ck_assert_int_eq(stat(l.keypath, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);

	a = tlog_open(&l);
	tlog_append(a, 1, 10, 0);
	json_init(&j, 0);
	json_object_begin(&j);
	audit_status_json(a, &j);
	json_object_end(&j);
	ck_assert_str_eq(j.s, "{\"audit_state\":\"ok\",\"audit_seq\":14,"
	    "\"audit_epoch\":4,\"audit_file\":\"audit-00000001.log\"}");

	/* tail and search read the files back. */
	json_reset(&j);
	ck_assert_int_eq(audit_tail_json(a, 2, 0, &j, err, sizeof(err)), 0);
	ck_assert_msg(strncmp(j.s, "[{\"seq\":13,", 11) == 0 &&
	    strstr(j.s, "},{\"seq\":14,") != NULL, "%s", j.s);
	json_reset(&j);
	{
		struct audit_filter f = { "audit.key_evolved", NULL, NULL,
		    NULL, 0 };
		struct json_value *arr;

		ck_assert_int_eq(audit_search_json(a, &f, &j, err,
		    sizeof(err)), 0);
		arr = parse_line(j.s, j.len);
		ck_assert_uint_eq(arr->n, 4);
		ck_assert_int_eq(json_get(arr->items[0], "seq")->integer, 4);
		ck_assert_int_eq(json_get(arr->items[3], "seq")->integer, 13);
		json_value_free(arr);
	}
	json_free(&j);
	audit_close(a);

	/* Every record where small_log()'s comment says it is. */
	path = tl_path(l.dir, "audit-00000001.log");
	buf = tl_read(path);
	ck_assert_int_eq(count_lines(buf), 14);
	for (int i = 1; i <= 14; i++) {
		snprintf(want, sizeof(want), "%d", i);
		field_is(buf, i, "seq", want);
		field_is(buf, i, "type", types[i]);
	}
	field_is(buf, 1, "prev", "0000000000000000000000000000000000000000"
	    "000000000000000000000000");
	field_is(buf, 1, "epoch", "0");
	field_is(buf, 3, "epoch", "0");
	field_is(buf, 4, "epoch", "1");
	field_is(buf, 4, "details", "{\"epoch\":1}");
	field_is(buf, 13, "details", "{\"epoch\":4}");
	field_is(buf, 14, "details", "{\"i\":10}");
	field_is(buf, 14, "actor", "test");
	field_is(buf, 14, "peer", "null");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);

	tlog_verify_ok(&l, &v);
	ck_assert_uint_eq(v.records, 14);
	ck_assert_uint_eq(v.first_seq, 1);
	ck_assert_uint_eq(v.last_seq, 14);
	ck_assert_uint_eq(v.first_epoch, 0);
	ck_assert_uint_eq(v.last_epoch, 4);
	{
		char *t1 = line_field(buf, 1, "time");
		char *t14 = line_field(buf, 14, "time");

		ck_assert_str_eq(v.first_time, t1);
		ck_assert_str_eq(v.last_time, t14);
		free(t1);
		free(t14);
	}
	ck_assert_str_eq(v.error, "");

	/* The key file moved on to K4 = H^4(K0); K0 is nowhere in it. */
	memcpy(k, l.k0, 32);
	for (int i = 0; i < 4; i++)
		audit_key_evolve(k, k);
	ck_assert_int_eq(audit_read_key(l.keypath, key, &epoch, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(epoch, 4);
	ck_assert_mem_eq(key, k, 32);
	keytext = tl_read(l.keypath);
	hexstr(k, 32, hex);
	snprintf(want, sizeof(want), "epoch 4\n%s\n", hex);
	ck_assert_str_eq(keytext, want);
	hexstr(l.k0, 32, hex);
	ck_assert_ptr_null(strstr(keytext, hex));
	ck_assert_int_eq(stat(l.keypath, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	free(keytext);

	/*
	 * A reopened log continues the chain, the epoch and its count: epoch
	 * 4 held two records, so the third one evolves the key.
	 */
	a = tlog_open(&l);
	tlog_append(a, 11, 11, 0);
	audit_close(a);
	tlog_verify_ok(&l, &v);
	ck_assert_uint_eq(v.records, 16);
	ck_assert_uint_eq(v.last_epoch, 5);
	free(buf);
	free(path);
	tlog_free(&l);
}
END_TEST

/* ---- tampering ----------------------------------------------------------- */

START_TEST(tamper_flip_byte)
{
	struct tlog l;
	char *path = small_log(&l), *buf = tl_read(path), *line, *p;
	size_t len;

	/* {"i":4} becomes {"i":5}: one bit of seq 5's details. */
	line = line_at(buf, 5, &len);
	p = strstr(line, "\"details\":{\"i\":4}");
	ck_assert_ptr_nonnull(p);
	p[15] ^= 1;
	write_bytes(path, buf, strlen(buf));
	verify_fails(l.k0, path, "5: seq 5: MAC does not verify under the "
	    "epoch 1 key (record altered or forged)");

	/* The same in a field the reader may not even look at: the MAC. */
	p[15] ^= 1;
	line[len - 3] = line[len - 3] == '0' ? '1' : '0';
	write_bytes(path, buf, strlen(buf));
	verify_fails(l.k0, path, "5: seq 5: MAC does not verify under the "
	    "epoch 1 key (record altered or forged)");
	free(buf);
	free(path);
	tlog_free(&l);
}
END_TEST

START_TEST(tamper_delete)
{
	struct tlog l;
	char *path = small_log(&l), *buf = tl_read(path), *l6, *l7;
	size_t len;

	l6 = line_at(buf, 6, &len);
	l7 = line_at(buf, 7, &len);
	memmove(l6, l7, strlen(l7) + 1);
	write_bytes(path, buf, strlen(buf));
	verify_fails(l.k0, path, "6: seq 7: expected seq 6: records missing");
	free(buf);
	free(path);
	tlog_free(&l);
}
END_TEST

START_TEST(tamper_swap_and_repeat)
{
	struct tlog l;
	char *path = small_log(&l), *buf = tl_read(path), *out, *a8, *a9;
	size_t len8, len9, off;

	/*
	 * Seq 8 and 9 swapped. The verifier stops at the first record out of
	 * place, where seq 9 stands for 8: it reports 8 as missing.
	 */
	a8 = line_at(buf, 8, &len8);
	a9 = line_at(buf, 9, &len9);
	out = malloc(strlen(buf) + len9 + 2);
	off = (size_t)(a8 - buf);
	memcpy(out, buf, off);
	memcpy(out + off, a9, len9 + 1);
	memcpy(out + off + len9 + 1, a8, len8 + 1);
	strcpy(out + off + len8 + len9 + 2, a9 + len9 + 1);
	ck_assert_uint_eq(strlen(out), strlen(buf));
	write_bytes(path, out, strlen(out));
	verify_fails(l.k0, path, "8: seq 9: expected seq 8: records missing");

	/* Seq 9 twice in a row: a replay. */
	off = (size_t)(a9 - buf) + len9 + 1;
	memcpy(out, buf, off);
	memcpy(out + off, a9, len9 + 1);
	strcpy(out + off + len9 + 1, buf + off);
	write_bytes(path, out, strlen(out));
	verify_fails(l.k0, path, "10: seq 9: expected seq 10: records out of "
	    "order or repeated");
	free(out);
	free(buf);
	free(path);
	tlog_free(&l);
}
END_TEST

/*
 * A thief holds today's key (epoch 4) and slips a record in among those
 * of epoch 0, with the right seq, prev and time. Whatever epoch it
 * claims, the verifier catches it; only at the end of the current epoch
 * can such a record pass, which is the documented limit.
 */
START_TEST(tamper_forge_earlier_epoch)
{
	static const struct {
		const char *type;
		unsigned epoch;
		const char *why;
	} claims[] = {
		{ "operator.command", 0, "3: seq 3: MAC does not verify under the "
		    "epoch 0 key (record altered or forged)" },
		{ "operator.command", 4, "3: seq 3: epoch 4 starts without an "
		    "audit.key_evolved record from epoch 0" },
		{ "audit.key_evolved", 1, "3: seq 3: MAC does not verify under the "
		    "epoch 1 key (record altered or forged)" },
	};
	struct tlog l;
	struct audit_verify v;
	struct json_buf j;
	unsigned char cur[AUDIT_KEY_LEN], prev[32];
	unsigned epoch;
	char err[AUDIT_ERR_MAX], hash[65], *path = small_log(&l), *buf, *out;
	char *t, *files[] = { path, NULL };
	size_t len, off;
	const char *l2;

	buf = tl_read(path);
	ck_assert_int_eq(audit_read_key(l.keypath, cur, &epoch, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(epoch, 4);
	l2 = line_at(buf, 2, &len);
	sha256hex(l2, len, hash);
	unhex(hash, prev, 32);
	t = line_field(buf, 2, "time");
	off = (size_t)(l2 - buf) + len + 1;
	out = malloc(strlen(buf) + 4096);
	json_init(&j, 0);
	for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		ck_assert_int_eq(audit_record_format(&j, 3, t, claims[i].type,
		    "test", NULL, "{\"i\":99}", claims[i].epoch, prev, cur), 0);
		memcpy(out, buf, off);
		memcpy(out + off, j.s, j.len);
		out[off + j.len] = '\n';
		strcpy(out + off + j.len + 1, buf + off);
		write_bytes(path, out, strlen(out));
		verify_fails(l.k0, path, claims[i].why);
	}
	free(t);

	/* Appended after seq 14 in epoch 4 it verifies: MACs cannot tell. */
	l2 = line_at(buf, 14, &len);
	sha256hex(l2, len, hash);
	unhex(hash, prev, 32);
	t = line_field(buf, 14, "time");
	ck_assert_int_eq(audit_record_format(&j, 15, t, "operator.command",
	    "test", NULL, "{\"i\":99}", 4, prev, cur), 0);
	strcpy(out, buf);
	strcat(out, j.s);
	strcat(out, "\n");
	write_bytes(path, out, strlen(out));
	ck_assert_int_eq(verify(l.k0, files, 1, &v), 0);
	ck_assert_uint_eq(v.records, 15);
	free(t);
	json_free(&j);
	free(out);
	free(buf);
	free(path);
	tlog_free(&l);
}
END_TEST

START_TEST(tamper_truncate_tail)
{
	struct tlog l;
	struct audit_verify v;
	char *path = small_log(&l), *buf = tl_read(path), *l14;
	char *files[] = { path, NULL };
	size_t len;

	l14 = line_at(buf, 14, &len);
	write_bytes(path, buf, (size_t)(l14 - buf) + len / 2);
	verify_fails(l.k0, path, "14: after seq 13: record is cut short (no "
	    "newline at the end of the file)");

	/*
	 * Whole records cut off the end verify: only the sequence numbers
	 * against the last checkpoint someone kept can show that.
	 */
	write_bytes(path, buf, (size_t)(l14 - buf));
	ck_assert_int_eq(verify(l.k0, files, 1, &v), 0);
	ck_assert_uint_eq(v.last_seq, 13);

	/* An empty newest file (a crash right after a rotation) is no gap. */
	write_bytes(path, "", 0);
	ck_assert_int_eq(verify(l.k0, files, 1, &v), -1);
	ck_assert_str_eq(v.error, "no records");
	free(buf);
	free(path);
	tlog_free(&l);
}
END_TEST

/* Two logs written alike, each rotated once: the files must not mix. */
START_TEST(tamper_splice)
{
	struct tlog x, y;
	struct audit_verify v;
	struct audit *a;
	char **fx, **fy, *files[3], *bx, *by, *sx, *sy, *want;

	tlog_init(&x, "  max_file_size: 64KiB\n");
	tlog_init(&y, "  max_file_size: 64KiB\n");
	a = tlog_open(&x);
	tlog_append(a, 1, 100, 900);
	audit_close(a);
	a = tlog_open(&y);
	tlog_append(a, 1, 100, 900);
	audit_close(a);
	ck_assert_uint_eq(tl_audit_files(x.dir, &fx), 2);
	ck_assert_uint_eq(tl_audit_files(y.dir, &fy), 2);
	ck_assert(verify(x.k0, fx, 2, &v) == 0);
	ck_assert(verify(y.k0, fy, 2, &v) == 0);

	/* Same sizes, same seq at the seam: only the chain tells them apart. */
	bx = tl_read(fx[1]);
	by = tl_read(fy[1]);
	sx = line_field(bx, 1, "seq");
	sy = line_field(by, 1, "seq");
	ck_assert_str_eq(sx, sy);
	files[0] = fx[0];
	files[1] = fy[1];
	files[2] = NULL;
	ck_assert_int_eq(verify(x.k0, files, 2, &v), -1);
	ck_assert(asprintf(&want, "%s:1: seq %s: chain broken: prev is not the "
	    "hash of the record before (in the previous file)", fy[1], sx) > 0);
	ck_assert_str_eq(v.error, want);
	ck_assert_uint_eq(v.records, strtoull(sx, NULL, 10) - 1);
	free(want);

	/* With the other log's K0 the first file already fails. */
	files[0] = fy[0];
	files[1] = fx[1];
	ck_assert_int_eq(verify(x.k0, files, 2, &v), -1);
	ck_assert(asprintf(&want, "%s:1: seq 1: MAC does not verify under the "
	    "epoch 0 key (record altered or forged)", fy[0]) > 0);
	ck_assert_str_eq(v.error, want);
	free(want);
	free(sx);
	free(sy);
	free(bx);
	free(by);
	tl_files_free(fx);
	tl_files_free(fy);
	tlog_free(&x);
	tlog_free(&y);
}
END_TEST

START_TEST(wrong_k0)
{
	struct tlog l;
	unsigned char k[AUDIT_KEY_LEN];
	char *path = small_log(&l);

	memcpy(k, l.k0, sizeof(k));
	k[31] ^= 0x80;
	verify_fails(k, path, "1: seq 1: MAC does not verify under the epoch 0 "
	    "key (record altered or forged)");
	/* The current key is no K0 either: epoch 0 is beyond it. */
	{
		unsigned epoch;
		char err[AUDIT_ERR_MAX];

		ck_assert_int_eq(audit_read_key(l.keypath, k, &epoch, err,
		    sizeof(err)), 0);
		verify_fails(k, path, "1: seq 1: MAC does not verify under the "
		    "epoch 0 key (record altered or forged)");
	}
	free(path);
	tlog_free(&l);
}
END_TEST

/* ---- recovery ------------------------------------------------------------ */

START_TEST(recover_torn_tail)
{
	struct tlog l;
	struct audit_verify v;
	struct audit *a;
	char *path = small_log(&l), *buf = tl_read(path), *torn, *l14;
	size_t len, before = strlen(buf);
	FILE *f;

	/* Half of a record, as a crash between write and sync leaves it. */
	l14 = line_at(buf, 14, &len);
	f = fopen(path, "a");
	ck_assert_uint_eq(fwrite(l14, 1, 100, f), 100);
	ck_assert_int_eq(fclose(f), 0);
	verify_fails(l.k0, path, "15: after seq 14: record is cut short (no "
	    "newline at the end of the file)");

	a = tlog_open(&l);
	audit_close(a);
	torn = tl_read(path);
	ck_assert_int_eq(count_lines(torn), 15);
	ck_assert_mem_eq(torn, buf, before);	/* the good part untouched */
	field_is(torn, 15, "seq", "15");
	field_is(torn, 15, "type", "audit.recovered");
	field_is(torn, 15, "epoch", "4");
	field_is(torn, 15, "details", "{\"file\":\"audit-00000001.log\","
	    "\"dropped_bytes\":100}");
	tlog_verify_ok(&l, &v);
	ck_assert_uint_eq(v.records, 15);
	free(torn);

	/*
	 * A whole line that is no record is damage, not a torn write:
	 * acgwd refuses to write after it and leaves the file as it is.
	 */
	f = fopen(path, "a");
	ck_assert(fputs("this is not a record\n", f) >= 0);
	ck_assert_int_eq(fclose(f), 0);
	free(buf);
	buf = tl_read(path);
	{
		char err[AUDIT_ERR_MAX], *want;

		ck_assert_ptr_null(audit_open(NULL, l.cfg, err, sizeof(err)));
		ck_assert(asprintf(&want, "%s:16: not a record (no MAC at the "
		    "end of the line); acgwd will not write after a damaged "
		    "record: keep the file as evidence, verify it with acgwctl "
		    "audit verify, and start a new log", path) > 0);
		ck_assert_str_eq(err, want);
		free(want);
	}
	torn = tl_read(path);
	ck_assert_str_eq(torn, buf);		/* untouched */
	free(torn);
	free(buf);
	free(path);
	tlog_free(&l);
}
END_TEST

/*
 * A crash between the audit.key_evolved record and the new key file: the
 * log is one epoch ahead of the key. Opening it evolves the key file.
 */
START_TEST(recover_key_evolution)
{
	struct tlog l;
	struct audit_verify v;
	struct audit *a;
	unsigned char k[AUDIT_KEY_LEN], want[AUDIT_KEY_LEN];
	unsigned epoch;
	char err[AUDIT_ERR_MAX], *path, *buf, *old = NULL, *now;
	size_t size;
	int i, evolutions = 0;

	tlog_init(&l, "  key_records: 3\n");
	a = tlog_open(&l);
	/* Append until the second evolution, then put the old key back. */
	for (i = 1; i < 100 && evolutions < 2; i++) {
		free(old);
		old = tl_read(l.keypath);
		tlog_append(a, i, i, 0);
		now = tl_read(l.keypath);
		if (strcmp(old, now) != 0)
			evolutions++;
		free(now);
	}
	ck_assert_int_eq(evolutions, 2);
	audit_close(a);
	ck_assert_msg(strncmp(old, "epoch 1\n", 8) == 0, "%s", old);
	write_bytes(l.keypath, old, strlen(old));
	path = tl_path(l.dir, "audit-00000001.log");
	buf = tl_read(path);
	size = strlen(buf);
	ck_assert_int_eq(count_lines(buf), 7);
	field_is(buf, 7, "type", "audit.key_evolved");
	field_is(buf, 7, "epoch", "2");
	free(buf);

	a = tlog_open(&l);
	ck_assert_int_eq(audit_read_key(l.keypath, k, &epoch, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(epoch, 2);
	memcpy(want, l.k0, 32);
	audit_key_evolve(want, want);
	audit_key_evolve(want, want);
	ck_assert_mem_eq(k, want, 32);
	/* Nothing was damaged, so nothing was cut or recorded as recovered. */
	buf = tl_read(path);
	ck_assert_uint_eq(strlen(buf), size);
	free(buf);
	/* The next record is of epoch 2, under the repaired key. */
	tlog_append(a, i, i, 0);
	audit_close(a);
	buf = tl_read(path);
	field_is(buf, 8, "epoch", "2");
	field_is(buf, 8, "type", "operator.command");
	tlog_verify_ok(&l, &v);
	ck_assert_uint_eq(v.records, 8);
	ck_assert_uint_eq(v.last_epoch, 2);
	free(buf);
	free(old);
	free(path);
	tlog_free(&l);
}
END_TEST

/* ---- rotation and retention ---------------------------------------------- */

START_TEST(rotation)
{
	struct tlog l;
	struct audit_verify v;
	struct audit *a;
	char **files, *prevbuf = NULL, want[128];
	size_t n, lines = 0, first_lines = 0, second_lines = 0;
	uint64_t seq = 0;

	tlog_init(&l, "  max_file_size: 64KiB\n  key_records: 50\n");
	a = tlog_open(&l);
	tlog_append(a, 1, 300, 900);
	audit_close(a);
	n = tl_audit_files(l.dir, &files);
	ck_assert_uint_ge(n, 4);
	for (size_t i = 0; i < n; i++) {
		char *buf = tl_read(files[i]), *name;
		size_t len;
		struct stat st;

		ck_assert_int_eq(stat(files[i], &st), 0);
		ck_assert_uint_eq(st.st_mode & 0777, 0640);
		snprintf(want, sizeof(want), "audit-%08zu.log", i + 1);
		name = strrchr(files[i], '/') + 1;
		ck_assert_str_eq(name, want);
		snprintf(want, sizeof(want), "%llu", (unsigned long long)seq + 1);
		field_is(buf, 1, "seq", want);
		if (i > 0) {
			/* The first record carries the old file's last hash. */
			char hash[65], *last;

			field_is(buf, 1, "type", "audit.rotated");
			snprintf(want, sizeof(want), "{\"previous_file\":"
			    "\"audit-%08zu.log\"}", i);
			field_is(buf, 1, "details", want);
			last = line_at(prevbuf, count_lines(prevbuf), &len);
			sha256hex(last, len, hash);
			field_is(buf, 1, "prev", hash);
			/* Rotation is by size: the old file had reached it. */
			ck_assert_uint_ge(strlen(prevbuf), 65536);
		}
		seq += (uint64_t)count_lines(buf);
		lines += (size_t)count_lines(buf);
		if (i == 0)
			first_lines = (size_t)count_lines(buf);
		else if (i == 1)
			second_lines = (size_t)count_lines(buf);
		free(prevbuf);
		prevbuf = buf;
	}
	free(prevbuf);
	ck_assert_int_eq(verify(l.k0, files, n, &v), 0);
	ck_assert_uint_eq(v.records, lines);
	ck_assert_uint_eq(v.last_seq, lines);
	ck_assert_uint_ge(v.last_epoch, 5);
	/* 300 records, a rotation record per later file, one evolution per 50. */
	ck_assert_uint_eq(lines, 300 + (n - 1) + v.last_epoch);

	/*
	 * Given in the wrong order, the later file verifies alone (its first
	 * record has seq > 1, so nothing precedes it) and the break shows
	 * where the older file begins.
	 */
	{
		char *t = files[0], *w;

		files[0] = files[1];
		files[1] = t;
		ck_assert_int_eq(verify(l.k0, files, 2, &v), -1);
		ck_assert(asprintf(&w, "%s:1: seq 1: expected seq %zu: records "
		    "out of order or repeated", t, first_lines + second_lines + 1)
		    > 0);
		ck_assert_str_eq(v.error, w);
		free(w);
		files[1] = files[0];
		files[0] = t;
	}
	tl_files_free(files);
	tlog_free(&l);
}
END_TEST

START_TEST(retention)
{
	struct tlog l;
	struct audit_verify v;
	struct audit *a;
	char **files, *b0, *b1, *first, want[64];
	size_t n;

	tlog_init(&l, "  max_file_size: 64KiB\n  keep_files: 2\n");
	a = tlog_open(&l);
	tlog_append(a, 1, 300, 900);
	audit_close(a);
	n = tl_audit_files(l.dir, &files);
	ck_assert_uint_eq(n, 2);
	/* The two newest remain, numbered on from the removed ones. */
	{
		unsigned long f0 = strtoul(strrchr(files[0], '-') + 1, NULL, 10);
		unsigned long f1 = strtoul(strrchr(files[1], '-') + 1, NULL, 10);

		ck_assert_uint_ge(f0, 3);
		ck_assert_uint_eq(f1, f0 + 1);
		snprintf(want, sizeof(want), "audit-%08lu.log", f0 - 1);
		b0 = tl_path(l.dir, want);
		ck_assert_int_eq(access(b0, F_OK), -1);
		free(b0);
	}
	b0 = tl_read(files[0]);
	b1 = tl_read(files[1]);
	/*
	 * What is left verifies on its own: the first record given has
	 * seq > 1, so its prev (the hash of a removed record) is taken as
	 * the start of the chain and the report says where it starts.
	 */
	first = line_field(b0, 1, "seq");
	ck_assert_int_eq(verify(l.k0, files, 2, &v), 0);
	ck_assert_uint_eq(v.first_seq, strtoull(first, NULL, 10));
	ck_assert_uint_gt(v.first_seq, 1);
	ck_assert_uint_eq(v.records, (uint64_t)(count_lines(b0) +
	    count_lines(b1)));
	ck_assert_uint_eq(v.last_seq, v.first_seq + v.records - 1);
	field_is(b0, 1, "type", "audit.rotated");
	{
		char *prev = line_field(b0, 1, "prev");

		ck_assert_str_ne(prev, "000000000000000000000000000000000000000"
		    "0000000000000000000000000");
		free(prev);
	}
	free(first);
	free(b0);
	free(b1);
	tl_files_free(files);
	tlog_free(&l);
}
END_TEST

/* ---- init and open --------------------------------------------------------- */

START_TEST(init_refuses)
{
	struct tlog l;
	struct config_errors errs;
	struct config *cfg;
	unsigned char k[AUDIT_KEY_LEN];
	char err[AUDIT_ERR_MAX], *want, *dir2, *yaml, *f;

	tlog_init(&l, NULL);
	ck_assert_int_eq(audit_init(l.dir, k, err, sizeof(err)), -1);
	ck_assert(asprintf(&want, "%s/key already exists: this log is "
	    "initialised (a new K0 would orphan its records)", l.dir) > 0);
	ck_assert_str_eq(err, want);
	free(want);

	/* Log files without their key: a new K0 would orphan them too. */
	dir2 = tl_path(l.tmp, "orphan");
	ck_assert_int_eq(mkdir(dir2, 0750), 0);
	f = tl_path(dir2, "audit-00000001.log");
	tl_write(f, "x\n");
	ck_assert_int_eq(audit_init(dir2, k, err, sizeof(err)), -1);
	ck_assert(asprintf(&want, "%s holds audit files but no key; move them "
	    "away before starting a new log", dir2) > 0);
	ck_assert_str_eq(err, want);
	free(want);

	/* And a log cannot be opened without its key. */
	ck_assert(asprintf(&yaml, "audit:\n  dir: %s\n", dir2) > 0);
	cfg = config_load_buffer("test.yaml", yaml, strlen(yaml), &errs);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_ptr_null(audit_open(NULL, cfg, err, sizeof(err)));
	ck_assert(asprintf(&want, "audit.dir %s has no key: create the log "
	    "with \"acgwctl audit init --dir %s\" and keep the K0 it prints "
	    "offline", dir2, dir2) > 0);
	ck_assert_str_eq(err, want);
	free(want);
	config_free(cfg);
	free(yaml);
	free(f);
	free(dir2);
	tlog_free(&l);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("audit");
	TCase *tc;

	tc = tl_tcase(s, "codec", 30);
	tcase_add_test(tc, record_format_vector);
	tcase_add_test(tc, key_evolve_vector);
	tcase_add_test(tc, record_types);
	tcase_add_test(tc, record_rejects);
	tcase_add_test(tc, record_escaping);
	tcase_add_test(tc, append_rejects);
	tc = tl_tcase(s, "verify", 60);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, tamper_flip_byte);
	tcase_add_test(tc, tamper_delete);
	tcase_add_test(tc, tamper_swap_and_repeat);
	tcase_add_test(tc, tamper_forge_earlier_epoch);
	tcase_add_test(tc, tamper_truncate_tail);
	tcase_add_test(tc, tamper_splice);
	tcase_add_test(tc, wrong_k0);
	tc = tl_tcase(s, "recovery", 60);
	tcase_add_test(tc, recover_torn_tail);
	tcase_add_test(tc, recover_key_evolution);
	tc = tl_tcase(s, "rotation", 120);
	tcase_add_test(tc, rotation);
	tcase_add_test(tc, retention);
	tcase_add_test(tc, init_refuses);
	return tl_run_suite(s);
}
