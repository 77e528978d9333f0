/* Unit tests for log: line format, levels, errno, journald prefix. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/testlib.h"
#include "acgw/log.h"

/* Runs fn with stderr sent to a file and returns what it wrote. */
static char *
capture(void (*fn)(void))
{
	char path[] = "/tmp/acgw-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	static char buf[8192];
	ssize_t n;

	ck_assert(fd != -1 && saved != -1);
	fflush(stderr);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	ck_assert(n >= 0);
	buf[n] = '\0';
	close(fd);
	unlink(path);
	return buf;
}

static void
emit_levels(void)
{
	unsetenv("JOURNAL_STREAM");
	log_init("acgw-test", LOG_TARGET_STDERR, LOG_LEVEL_INFO);
	log_debug("hidden %d", 1);
	log_info("shown %s", "info");
	errno = ENOENT;
	log_warn("open %s", "/x");
	log_warnx("two\nlines");
}

START_TEST(format_and_levels)
{
	char *out = capture(emit_levels);
	regex_t re;
	char *pattern;

	ck_assert(asprintf(&pattern, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z acgw-test\\[%ld\\]: info: shown "
	    "info\n[^\n]* acgw-test\\[%ld\\]: warning: open /x: No such file "
	    "or directory\n[^\n]* warning: two lines\n$", (long)getpid(),
	    (long)getpid()) > 0);
	ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
	ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "got: %s", out);
	ck_assert_ptr_null(strstr(out, "hidden"));
	regfree(&re);
	free(pattern);
}
END_TEST

static void
emit_journal(void)
{
	struct stat st;
	char js[64];

	ck_assert_int_eq(fstat(2, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init("acgw-test", LOG_TARGET_STDERR, LOG_LEVEL_DEBUG);
	log_notice("hello");
	log_debug("dbg");
	unsetenv("JOURNAL_STREAM");
}

START_TEST(journal_prefix)
{
	ck_assert_str_eq(capture(emit_journal),
	    "<5>notice: hello\n<7>debug: dbg\n");
}
END_TEST

START_TEST(level_names)
{
	ck_assert_int_eq(log_level_from_name("error"), LOG_LEVEL_ERROR);
	ck_assert_int_eq(log_level_from_name("debug"), LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_level_from_name("DEBUG"), -1);
	ck_assert_str_eq(log_level_name(LOG_LEVEL_NOTICE), "notice");
	ck_assert_str_eq(log_level_name((enum log_level)42), "unknown");
	log_set_level(LOG_LEVEL_WARNING);
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_WARNING);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tl_tcase(s, "core", 0);

	tcase_add_test(tc, format_and_levels);
	tcase_add_test(tc, journal_prefix);
	tcase_add_test(tc, level_names);
	return tl_run_suite(s);
}
