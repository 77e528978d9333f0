/* Unit tests for json: writer escaping and structure, reader. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/testlib.h"
#include "acgw/json.h"

START_TEST(writer_structure)
{
	struct json_buf j;

	json_init(&j, 0);
	json_object_begin(&j);
	json_kv_bool(&j, "ok", 1);
	json_kv_int(&j, "n", -5);
	json_kv_uint(&j, "u", 18446744073709551615ULL);
	json_key(&j, "list");
	json_array_begin(&j);
	json_string(&j, "a");
	json_null(&j);
	json_object_begin(&j);
	json_object_end(&j);
	json_array_begin(&j);
	json_array_end(&j);
	json_array_end(&j);
	json_kv_str(&j, "s", NULL);
	json_object_end(&j);
	ck_assert_int_eq(j.failed, 0);
	ck_assert_str_eq(j.s, "{\"ok\":true,\"n\":-5,\"u\":18446744073709551615,"
	    "\"list\":[\"a\",null,{},[]],\"s\":null}");
	json_reset(&j);
	json_string(&j, "again");
	ck_assert_str_eq(j.s, "\"again\"");
	json_free(&j);
}
END_TEST

START_TEST(writer_escaping)
{
	struct json_buf j;

	json_init(&j, 0);
	json_string(&j, "q\" b\\ n\n r\r t\t \x01 \x1f \x7f 日本 é");
	ck_assert_str_eq(j.s, "\"q\\\" b\\\\ n\\n r\\r t\\t \\u0001 \\u001f "
	    "\\u007f 日本 é\"");
	json_reset(&j);
	/* Invalid UTF-8: lone continuation, truncated sequence, overlong,
	 * surrogate, beyond U+10FFFF. Each bad byte becomes U+FFFD. */
	json_string(&j, "a\x80" "b\xe6\x97" "c\xc0\xaf" "d\xed\xa0\x80"
	    "e\xf4\x90\x80\x80");
	ck_assert_str_eq(j.s, "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd"
	    "d\\ufffd\\ufffd\\ufffde\\ufffd\\ufffd\\ufffd\\ufffd\"");
	json_reset(&j);
	json_string_len(&j, "nul\0byte", 8);
	ck_assert_str_eq(j.s, "\"nul\\u0000byte\"");
	json_free(&j);
}
END_TEST

START_TEST(writer_limit)
{
	struct json_buf j;

	json_init(&j, 16);
	json_string(&j, "0123456789");
	ck_assert_int_eq(j.failed, 0);
	json_string(&j, "0123456789");
	ck_assert_int_eq(j.failed, 1);
	json_free(&j);
}
END_TEST

START_TEST(utf8_validation)
{
	ck_assert_int_eq(json_utf8_valid("plain", 5), 1);
	ck_assert_int_eq(json_utf8_valid("日本語", strlen("日本語")), 1);
	ck_assert_int_eq(json_utf8_valid("\xf0\x9f\x98\x80", 4), 1);
	ck_assert_int_eq(json_utf8_valid("\xff", 1), 0);
	ck_assert_int_eq(json_utf8_valid("\xc3", 1), 0);
	ck_assert_int_eq(json_utf8_valid("\xc1\xbf", 2), 0);
	ck_assert_int_eq(json_utf8_valid("\xed\xb0\x80", 3), 0);
	ck_assert_int_eq(json_utf8_valid("\xe0\x80\x80", 3), 0);
}
END_TEST

START_TEST(reader_values)
{
	static const char doc[] = " {\"ok\": true, \"n\": -12, \"f\": 1.5e2, "
	    "\"s\": \"a\\u00e9\\ud83d\\ude00\\n\", \"a\": [null, false, {}], "
	    "\"big\": 12345678901234567890}\n";
	char err[128];
	struct json_value *v = json_parse(doc, strlen(doc), err, sizeof(err));
	const struct json_value *x;

	ck_assert_msg(v != NULL, "%s", err);
	ck_assert_int_eq(v->type, JSON_OBJECT);
	ck_assert_uint_eq(v->n, 6);
	x = json_get(v, "ok");
	ck_assert(x && x->type == JSON_BOOL && x->boolean);
	x = json_get(v, "n");
	ck_assert(x && x->is_int && x->integer == -12);
	x = json_get(v, "f");
	ck_assert(x && !x->is_int && x->number == 150.0);
	x = json_get(v, "s");
	ck_assert(x && x->type == JSON_STRING);
	ck_assert_str_eq(x->string, "a\xc3\xa9\xf0\x9f\x98\x80\n");
	x = json_get(v, "a");
	ck_assert(x && x->type == JSON_ARRAY && x->n == 3);
	ck_assert_int_eq(x->items[0]->type, JSON_NULL);
	ck_assert_int_eq(x->items[2]->type, JSON_OBJECT);
	x = json_get(v, "big");
	ck_assert(x && x->type == JSON_NUMBER && !x->is_int);
	ck_assert_ptr_null(json_get(v, "missing"));
	json_value_free(v);
}
END_TEST

static void
bad(const char *doc, const char *msg)
{
	char err[128];
	struct json_value *v = json_parse(doc, strlen(doc), err, sizeof(err));

	ck_assert_msg(v == NULL, "accepted %s", doc);
	ck_assert_str_eq(err, msg);
}

START_TEST(reader_errors)
{
	char deep[80];

	bad("", "offset 0: unexpected end of input");
	bad("{\"a\":1} x", "offset 8: trailing characters after the value");
	bad("\"abc", "offset 0: unterminated string");
	bad("{\"a\" 1}", "offset 5: expected ':'");
	bad("{1:2}", "offset 1: expected a key");
	bad("[1,2", "offset 4: unterminated container");
	bad("[1 2]", "offset 3: expected ',' or ']'");
	bad("tru", "offset 0: invalid literal");
	bad("01", "offset 0: leading zero in number");
	bad("-", "offset 1: invalid number");
	bad("\"\\x\"", "offset 3: invalid escape in string");
	bad("\"\\ud800\"", "offset 7: invalid escape in string");
	bad("\"a\x01\"", "offset 2: control character in string");
	bad("\"\xff\"", "offset 1: invalid UTF-8 in string");
	memset(deep, '[', 40);
	deep[40] = '\0';
	bad(deep, "offset 33: nested too deeply");
}
END_TEST

START_TEST(round_trip)
{
	struct json_buf j;
	struct json_value *v;
	char err[128];
	const char *s = "ctl \"quoted\" \\ \t 日本";

	json_init(&j, 0);
	json_object_begin(&j);
	json_kv_str(&j, "k", s);
	json_object_end(&j);
	v = json_parse(j.s, j.len, err, sizeof(err));
	ck_assert_msg(v != NULL, "%s", err);
	ck_assert_str_eq(json_get(v, "k")->string, s);
	json_value_free(v);
	json_free(&j);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tl_tcase(s, "core", 0);

	tcase_add_test(tc, writer_structure);
	tcase_add_test(tc, writer_escaping);
	tcase_add_test(tc, writer_limit);
	tcase_add_test(tc, utf8_validation);
	tcase_add_test(tc, reader_values);
	tcase_add_test(tc, reader_errors);
	tcase_add_test(tc, round_trip);
	return tl_run_suite(s);
}
