/*
 * Unit tests for control without sockets: request line parsing, roles
 * from credentials, command dispatch and its errors.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/testlib.h"
#include "acgw/control.h"

static char err[CONTROL_ERR_MAX];

START_TEST(parse_words)
{
	struct control_request r;
	static const char line[] = "  sever  ra-1\t--reason \"key \\\"lost\\\" \\\\ x\" \"\"";

	ck_assert_int_eq(control_parse_line(line, strlen(line), &r, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(r.argc, 5);
	ck_assert_str_eq(r.argv[0], "sever");
	ck_assert_str_eq(r.argv[1], "ra-1");
	ck_assert_str_eq(r.argv[2], "--reason");
	ck_assert_str_eq(r.argv[3], "key \"lost\" \\ x");
	ck_assert_str_eq(r.argv[4], "");
	ck_assert_ptr_null(r.argv[5]);
	control_request_free(&r);

	ck_assert_int_eq(control_parse_line("status\r", 7, &r, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(r.argc, 1);
	ck_assert_str_eq(r.argv[0], "status");
	control_request_free(&r);

	ck_assert_int_eq(control_parse_line("a\"b c\"d", 7, &r, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(r.argc, 1);
	ck_assert_str_eq(r.argv[0], "ab cd");
	control_request_free(&r);
}
END_TEST

static void
parse_bad(const char *line, size_t len, const char *msg)
{
	struct control_request r;

	ck_assert_int_eq(control_parse_line(line, len, &r, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, msg);
	ck_assert_ptr_null(r.buf);
}

START_TEST(parse_errors)
{
	char many[200];
	size_t n = 0;

	parse_bad("", 0, "empty request; try \"help\"");
	parse_bad("   \t ", 5, "empty request; try \"help\"");
	parse_bad("status \xff", 8, "request is not valid UTF-8");
	parse_bad("status \xc0\xaf", 9, "request is not valid UTF-8");
	parse_bad("sta\x01tus", 7, "request contains control character 0x01 "
	    "at byte 4");
	parse_bad("a\0b", 3, "request contains control character 0x00 at "
	    "byte 2");
	parse_bad("sever \"ra 1", 11, "unterminated quote starting at byte 7");
	for (int i = 0; i < 33; i++) {
		many[n++] = 'w';
		many[n++] = ' ';
	}
	parse_bad(many, n, "more than 32 words in request");
}
END_TEST

static struct config *
test_config(void)
{
	static const char y[] = "control:\n  readers: [adm]\n"
	    "  operators: [staff]\n";
	struct config_errors errs;
	struct config *cfg = config_load_buffer("t.yaml", y, strlen(y), &errs);

	ck_assert_msg(cfg != NULL, "%s", errs.msg[0]);
	return cfg;
}

START_TEST(roles)
{
	struct config *cfg = test_config();
	gid_t adm = cfg->control.readers.v[0].gid;
	gid_t staff = cfg->control.operators.v[0].gid;
	struct control_caller who;

	memset(&who, 0, sizeof(who));
	who.uid = 0;
	who.gid = 12345;
	ck_assert_int_eq(control_role_for(cfg, 999, &who),
	    CONTROL_ROLE_OPERATOR);		/* root */
	who.uid = 999;
	ck_assert_int_eq(control_role_for(cfg, 999, &who),
	    CONTROL_ROLE_OPERATOR);		/* acgwd's own user */
	who.uid = 1000;
	ck_assert_int_eq(control_role_for(cfg, 999, &who), CONTROL_ROLE_NONE);
	who.gid = adm;
	ck_assert_int_eq(control_role_for(cfg, 999, &who),
	    CONTROL_ROLE_READER);		/* primary group */
	gid_t groups[3] = { 4242, adm, staff };

	who.gid = 12345;
	who.groups = groups;
	who.ngroups = 2;
	ck_assert_int_eq(control_role_for(cfg, 999, &who),
	    CONTROL_ROLE_READER);		/* supplementary group */
	who.ngroups = 3;
	ck_assert_int_eq(control_role_for(cfg, 999, &who),
	    CONTROL_ROLE_OPERATOR);		/* operator wins */
	who.ngroups = 0;
	who.gid = staff;
	ck_assert_int_eq(control_role_for(cfg, 999, &who),
	    CONTROL_ROLE_OPERATOR);
	ck_assert_str_eq(control_role_name(CONTROL_ROLE_NONE), "none");
	config_free(cfg);
}
END_TEST

static int calls;

static int
cmd_echo(void *arg, const struct control_caller *who, int argc, char **argv,
    struct json_buf *reply, char *e, size_t elen)
{
	calls++;
	json_key(reply, "args");
	json_array_begin(reply);
	for (int i = 1; i < argc; i++)
		json_string(reply, argv[i]);
	json_array_end(reply);
	return 0;
}

static int
cmd_fail(void *arg, const struct control_caller *who, int argc, char **argv,
    struct json_buf *reply, char *e, size_t elen)
{
	calls++;
	json_kv_str(reply, "partial", "must not appear");
	snprintf(e, elen, "it broke: %s", argc > 1 ? argv[1] : "?");
	return -1;
}

static int
cmd_big(void *arg, const struct control_caller *who, int argc, char **argv,
    struct json_buf *reply, char *e, size_t elen)
{
	json_key(reply, "big");
	json_array_begin(reply);
	for (int i = 0; i < 300000; i++)
		json_string(reply, "xxxxxxxxxxxxxxxx");
	json_array_end(reply);
	return 0;
}

static struct control *
test_control(struct config *cfg)
{
	static const struct control_command cmds[] = {
		{ "echo", CONTROL_ROLE_READER, "echo [WORD...]", "echo words",
		    cmd_echo, NULL },
		{ "fail", CONTROL_ROLE_READER, "fail", "always fails",
		    cmd_fail, NULL },
		{ "big", CONTROL_ROLE_READER, "big", "too large a reply",
		    cmd_big, NULL },
		{ "zap", CONTROL_ROLE_OPERATOR, "zap", "operators only",
		    cmd_echo, NULL },
	};
	struct control *ctl = control_new(NULL, cfg, err, sizeof(err));

	ck_assert_msg(ctl != NULL, "%s", err);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		ck_assert_int_eq(control_register(ctl, &cmds[i]), 0);
	return ctl;
}

static const char *
run(struct control *ctl, enum control_role role, const char *line,
    struct json_buf *j)
{
	struct control_caller who;

	memset(&who, 0, sizeof(who));
	who.uid = 1001;
	who.role = role;
	control_execute(ctl, &who, line, strlen(line), j);
	ck_assert_int_eq(j->failed, 0);
	return j->s;
}

START_TEST(execute)
{
	struct config *cfg = test_config();
	struct control *ctl = test_control(cfg);
	struct json_buf j;

	json_init(&j, cfg->control.max_response);
	calls = 0;
	ck_assert_str_eq(run(ctl, CONTROL_ROLE_READER, "echo a \"b c\"", &j),
	    "{\"ok\":true,\"args\":[\"a\",\"b c\"]}");
	ck_assert_str_eq(run(ctl, CONTROL_ROLE_READER, "nope", &j),
	    "{\"ok\":false,\"error\":\"unknown command \\\"nope\\\"; try "
	    "\\\"help\\\"\"}");
	ck_assert_str_eq(run(ctl, CONTROL_ROLE_READER, "zap", &j),
	    "{\"ok\":false,\"error\":\"permission denied: \\\"zap\\\" needs "
	    "the operator role; uid 1001 has the reader role\"}");
	ck_assert_str_eq(run(ctl, CONTROL_ROLE_OPERATOR, "zap x", &j),
	    "{\"ok\":true,\"args\":[\"x\"]}");
	ck_assert_str_eq(run(ctl, CONTROL_ROLE_READER, "fail now", &j),
	    "{\"ok\":false,\"error\":\"it broke: now\"}");
	ck_assert_str_eq(run(ctl, CONTROL_ROLE_READER, "echo \xfe", &j),
	    "{\"ok\":false,\"error\":\"request is not valid UTF-8\"}");
	ck_assert_str_eq(run(ctl, CONTROL_ROLE_READER, "big", &j),
	    "{\"ok\":false,\"error\":\"reply larger than control.max_response "
	    "(4194304 bytes)\"}");
	/* The reader ran echo once, the operator zap once, fail once. */
	ck_assert_int_eq(calls, 3);
	json_free(&j);
	control_free(ctl);
	config_free(cfg);
}
END_TEST

START_TEST(help_lists_role_commands)
{
	struct config *cfg = test_config();
	struct control *ctl = test_control(cfg);
	struct json_buf j;
	const char *s;

	json_init(&j, 0);
	s = run(ctl, CONTROL_ROLE_READER, "help", &j);
	ck_assert_ptr_nonnull(strstr(s, "\"role\":\"reader\""));
	ck_assert_ptr_nonnull(strstr(s, "{\"command\":\"echo [WORD...]\","
	    "\"role\":\"reader\",\"help\":\"echo words\"}"));
	ck_assert_ptr_null(strstr(s, "\"zap\""));
	s = run(ctl, CONTROL_ROLE_OPERATOR, "help", &j);
	ck_assert_ptr_nonnull(strstr(s, "{\"command\":\"zap\",\"role\":"
	    "\"operator\",\"help\":\"operators only\"}"));
	json_free(&j);
	control_free(ctl);
	config_free(cfg);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tl_tcase(s, "core", 0);

	tcase_add_test(tc, parse_words);
	tcase_add_test(tc, parse_errors);
	tcase_add_test(tc, roles);
	tcase_add_test(tc, execute);
	tcase_add_test(tc, help_lists_role_commands);
	return tl_run_suite(s);
}
