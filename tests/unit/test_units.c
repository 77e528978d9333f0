/* Unit tests for units: durations, sizes, addresses, modes, groups. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/testlib.h"
#include "acgw/units.h"

static char err[UNITS_ERR_MAX];

static uint64_t
dur_ok(const char *s)
{
	uint64_t ms = 12345;

	ck_assert_msg(units_parse_duration(s, &ms, err, sizeof(err)) == 0,
	    "%s: %s", s, err);
	return ms;
}

static void
dur_bad(const char *s, const char *msg)
{
	uint64_t ms = 777;

	ck_assert_int_eq(units_parse_duration(s, &ms, err, sizeof(err)), -1);
	ck_assert_str_eq(err, msg);
	ck_assert_uint_eq(ms, 777);	/* untouched on error */
}

START_TEST(duration_valid)
{
	ck_assert_uint_eq(dur_ok("0s"), 0);
	ck_assert_uint_eq(dur_ok("250ms"), 250);
	ck_assert_uint_eq(dur_ok("30s"), 30000);
	ck_assert_uint_eq(dur_ok("5m"), 300000);
	ck_assert_uint_eq(dur_ok("1h"), 3600000);
	ck_assert_uint_eq(dur_ok("1h30m"), 5400000);
	ck_assert_uint_eq(dur_ok("2d"), 172800000);
	ck_assert_uint_eq(dur_ok("1m500ms"), 60500);
}
END_TEST

START_TEST(duration_invalid)
{
	dur_bad("", "\"\" is not a duration (e.g. 500ms, 30s, 5m, 1h)");
	dur_bad("5", "\"5\" needs a unit after each number (ms, s, m, h, d)");
	dur_bad("5x", "\"5x\" needs a unit after each number (ms, s, m, h, d)");
	dur_bad("-1s", "\"-1s\" is not a duration (e.g. 500ms, 30s, 5m, 1h)");
	dur_bad("1.5s", "\"1.5s\" needs a unit after each number "
	    "(ms, s, m, h, d)");
	dur_bad("s", "\"s\" is not a duration (e.g. 500ms, 30s, 5m, 1h)");
	dur_bad(" 5s", "\" 5s\" is not a duration (e.g. 500ms, 30s, 5m, 1h)");
	dur_bad("99999999999999999999s", "\"99999999999999999999s\" is too "
	    "long a duration");
	dur_bad("18446744073709551d", "\"18446744073709551d\" is too long a "
	    "duration");
}
END_TEST

START_TEST(duration_format_round_trip)
{
	static const char *const forms[] = { "0s", "250ms", "30s", "5m",
	    "1h30m", "2d", "1d1h1m1s1ms" };
	char buf[64];

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		units_format_duration(dur_ok(forms[i]), buf, sizeof(buf));
		ck_assert_str_eq(buf, forms[i]);
	}
	units_format_duration(90000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1m30s");
}
END_TEST

static uint64_t
size_ok(const char *s)
{
	uint64_t v;

	ck_assert_msg(units_parse_size(s, &v, err, sizeof(err)) == 0, "%s: %s",
	    s, err);
	return v;
}

START_TEST(size_parse)
{
	char buf[32];
	uint64_t v;

	ck_assert_uint_eq(size_ok("0"), 0);
	ck_assert_uint_eq(size_ok("512"), 512);
	ck_assert_uint_eq(size_ok("512B"), 512);
	ck_assert_uint_eq(size_ok("64KiB"), 65536);
	ck_assert_uint_eq(size_ok("1MiB"), 1048576);
	ck_assert_uint_eq(size_ok("2GiB"), 2147483648ULL);

	ck_assert_int_eq(units_parse_size("64K", &v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"64K\" has an unknown size unit (use B, KiB, "
	    "MiB or GiB)");
	ck_assert_int_eq(units_parse_size("1.5MiB", &v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"1.5MiB\" has an unknown size unit (use B, "
	    "KiB, MiB or GiB)");
	ck_assert_int_eq(units_parse_size("KiB", &v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"KiB\" is not a size (e.g. 4096, 64KiB, "
	    "1MiB)");
	ck_assert_int_eq(units_parse_size("-1", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(units_parse_size("17179869184GiB", &v, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "\"17179869184GiB\" is too large a size");

	units_format_size(65536, buf, sizeof(buf));
	ck_assert_str_eq(buf, "64KiB");
	units_format_size(1000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1000B");
	units_format_size(3ULL << 30, buf, sizeof(buf));
	ck_assert_str_eq(buf, "3GiB");
}
END_TEST

START_TEST(uint_parse)
{
	uint64_t v;

	ck_assert_int_eq(units_parse_uint("42", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(units_parse_uint("18446744073709551615", &v, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(units_parse_uint("18446744073709551616", &v, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "\"18446744073709551616\" is too large");
	ck_assert_int_eq(units_parse_uint("+1", &v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"+1\" is not an unsigned integer");
	ck_assert_int_eq(units_parse_uint("1 ", &v, err, sizeof(err)), -1);
}
END_TEST

static void
addr_bad(const char *s, const char *msg)
{
	struct units_sockaddr sa;

	ck_assert_int_eq(units_parse_sockaddr(s, &sa, err, sizeof(err)), -1);
	ck_assert_str_eq(err, msg);
}

START_TEST(sockaddr_parse)
{
	struct units_sockaddr sa;
	char buf[64];

	ck_assert_int_eq(units_parse_sockaddr("127.0.0.1:8443", &sa, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(sa.ss.ss_family, AF_INET);
	ck_assert_int_eq(sa.wildcard, 0);
	ck_assert_uint_eq(sa.len, sizeof(struct sockaddr_in));
	units_format_sockaddr((struct sockaddr *)&sa.ss, buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.0.0.1:8443");

	ck_assert_int_eq(units_parse_sockaddr("[::1]:443", &sa, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(sa.ss.ss_family, AF_INET6);
	units_format_sockaddr((struct sockaddr *)&sa.ss, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::1]:443");

	ck_assert_int_eq(units_parse_sockaddr("0.0.0.0:1", &sa, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(sa.wildcard, 1);
	ck_assert_int_eq(units_parse_sockaddr("[::]:65535", &sa, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(sa.wildcard, 1);

	addr_bad("127.0.0.1", "\"127.0.0.1\" has no port (write address:port)");
	addr_bad("127.0.0.1:", "\"127.0.0.1:\" has no port (write "
	    "address:port)");
	addr_bad("127.0.0.1:0", "\"127.0.0.1:0\" has an invalid port (1-65535)");
	addr_bad("127.0.0.1:65536", "\"127.0.0.1:65536\" has an invalid port "
	    "(1-65535)");
	addr_bad("127.0.0.1:84a", "\"127.0.0.1:84a\" has an invalid port "
	    "(1-65535)");
	addr_bad("localhost:80", "\"localhost:80\" has an invalid IPv4 address "
	    "(numeric only, no host names)");
	addr_bad("::1:80", "\"::1:80\" is ambiguous: write IPv6 addresses as "
	    "[addr]:port");
	addr_bad("[::1]", "\"[::1]\" has no port (write [IPv6]:port)");
	addr_bad("[::1]x80", "\"[::1]x80\" has no port (write [IPv6]:port)");
	addr_bad("[::g]:80", "\"[::g]:80\" has an invalid IPv6 address");
	addr_bad("[::1:80", "\"[::1:80\" is not an address (write "
	    "[IPv6]:port)");
	addr_bad("256.0.0.1:80", "\"256.0.0.1:80\" has an invalid IPv4 address "
	    "(numeric only, no host names)");
}
END_TEST

START_TEST(mode_parse)
{
	mode_t m;

	ck_assert_int_eq(units_parse_mode("0660", &m, err, sizeof(err)), 0);
	ck_assert_uint_eq(m, 0660);
	ck_assert_int_eq(units_parse_mode("600", &m, err, sizeof(err)), 0);
	ck_assert_uint_eq(m, 0600);
	ck_assert_int_eq(units_parse_mode("0668", &m, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"0668\" is not a file mode (write octal, e.g. "
	    "\"0660\")");
	ck_assert_int_eq(units_parse_mode("1777", &m, err, sizeof(err)), -1);
	ck_assert_int_eq(units_parse_mode("66", &m, err, sizeof(err)), -1);
	ck_assert_int_eq(units_parse_mode("0o660", &m, err, sizeof(err)), -1);
}
END_TEST

START_TEST(group_parse)
{
	gid_t g = 99;

	ck_assert_int_eq(units_parse_group("root", &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g, 0);
	ck_assert_int_eq(units_parse_group("no-such-group-acgw", &g, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "group \"no-such-group-acgw\" does not exist");
	ck_assert_int_eq(units_parse_group("", &g, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "empty group name");
}
END_TEST

static int64_t
dt_ok(const char *s)
{
	int64_t v = 0;

	ck_assert_msg(units_parse_datetime(s, &v, err, sizeof(err)) == 0,
	    "%s: %s", s, err);
	return v;
}

static void
dt_bad(const char *s, const char *msg)
{
	int64_t v = 7;

	ck_assert_int_eq(units_parse_datetime(s, &v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, msg);
	ck_assert_int_eq(v, 7);
}

START_TEST(datetime)
{
	char buf[64];

	/* date -u -d 2026-11-22T01:30:00Z +%s -> 1795311000 */
	ck_assert_int_eq(dt_ok("2026-11-22T01:30:00Z"), 1795311000LL * 1000000);
	ck_assert_int_eq(dt_ok("2026-11-22T10:30:00+09:00"),
	    1795311000LL * 1000000);
	ck_assert_int_eq(dt_ok("2026-11-21T20:30:00.250-05:00"),
	    1795311000LL * 1000000 + 250000);
	ck_assert_int_eq(dt_ok("1970-01-01T00:00:00Z"), 0);
	ck_assert_int_eq(dt_ok("1969-12-31T23:59:59.999999Z"), -1);
	ck_assert_int_eq(dt_ok("2024-02-29T00:00:00Z"), 1709164800LL * 1000000);
	units_format_datetime(1795311000LL * 1000000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-11-22T01:30:00Z");
	units_format_datetime(1795311000LL * 1000000 + 250000, buf,
	    sizeof(buf));
	ck_assert_str_eq(buf, "2026-11-22T01:30:00.250000Z");
	units_format_datetime(-1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.999999Z");
	/* Every printed time reads back to itself, across many dates. */
	for (int64_t v = -3000000000000000LL; v < 4000000000000000LL;
	    v += 98765432109877LL) {
		units_format_datetime(v, buf, sizeof(buf));
		ck_assert_int_eq(dt_ok(buf), v);
	}

	dt_bad("2026-11-22T01:30:00", "\"2026-11-22T01:30:00\" has no time "
	    "zone (write Z for UTC)");
	dt_bad("2026-11-22", "\"2026-11-22\" is not a date and time "
	    "(YYYY-MM-DDThh:mm:ssZ)");
	dt_bad("2026-11-22 01:30:00Z", "\"2026-11-22 01:30:00Z\" is not a date "
	    "and time (YYYY-MM-DDThh:mm:ssZ)");
	dt_bad("2026-02-29T00:00:00Z", "\"2026-02-29T00:00:00Z\" is not a "
	    "valid date and time");
	dt_bad("2026-11-22T24:00:00Z", "\"2026-11-22T24:00:00Z\" is not a "
	    "valid date and time");
	dt_bad("2026-11-22T01:30:00+15:00", "\"2026-11-22T01:30:00+15:00\" has "
	    "an invalid zone offset (Z or +hh:mm)");
	dt_bad("2026-11-22T01:30:00.1234567Z", "\"2026-11-22T01:30:00.1234567Z\""
	    ": more than 6 digits of fractional seconds");
	dt_bad("2026-11-22T01:30:00.Z", "\"2026-11-22T01:30:00.Z\": no digits "
	    "after the decimal point");
	dt_bad("2026-11-22T01:30:00Zx", "\"2026-11-22T01:30:00Zx\" has "
	    "trailing characters");
}
END_TEST

static int64_t
dur_iso_ok(const char *s)
{
	int64_t v = 0;

	ck_assert_msg(units_parse_iso_duration(s, &v, err, sizeof(err)) == 0,
	    "%s: %s", s, err);
	return v;
}

static void
dur_iso_bad(const char *s, const char *msg)
{
	int64_t v = 7;

	ck_assert_int_eq(units_parse_iso_duration(s, &v, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, msg);
	ck_assert_int_eq(v, 7);
}

START_TEST(iso_duration)
{
	static const char *const canon[] = { "PT0S", "PT15M", "PT30M", "PT1H",
	    "P1DT2H", "P1D", "PT1H30M", "-PT30S", "PT0.5S", "P2DT3H4M5.000006S",
	    "PT59M59S" };
	char buf[64];

	ck_assert_int_eq(dur_iso_ok("PT15M"), 900LL * 1000000);
	ck_assert_int_eq(dur_iso_ok("P1DT2H"), 93600LL * 1000000);
	ck_assert_int_eq(dur_iso_ok("P2W"), 14LL * 86400 * 1000000);
	ck_assert_int_eq(dur_iso_ok("-PT30S"), -30LL * 1000000);
	ck_assert_int_eq(dur_iso_ok("PT0.5S"), 500000);
	ck_assert_int_eq(dur_iso_ok("PT90M"), 5400LL * 1000000);
	/* Canonical forms read back and print as they were written. */
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		units_format_iso_duration(dur_iso_ok(canon[i]), buf,
		    sizeof(buf));
		ck_assert_str_eq(buf, canon[i]);
	}
	units_format_iso_duration(5400LL * 1000000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "PT1H30M");
	for (int64_t v = -900000000000LL; v < 900000000000LL;
	    v += 12345678901LL) {
		units_format_iso_duration(v, buf, sizeof(buf));
		ck_assert_int_eq(dur_iso_ok(buf), v);
	}

	dur_iso_bad("15M", "\"15M\" is not an ISO 8601 duration (e.g. PT15M, "
	    "P1DT2H)");
	dur_iso_bad("P", "\"P\" has no value (e.g. PT0S)");
	dur_iso_bad("PT", "\"PT\" is not an ISO 8601 duration (misplaced T)");
	dur_iso_bad("P1Y", "\"P1Y\": years have no fixed length; write days");
	dur_iso_bad("P1M", "\"P1M\": months have no fixed length; write days");
	dur_iso_bad("PT1D", "\"PT1D\": weeks and days belong before T");
	dur_iso_bad("P1H", "\"P1H\": hours, minutes and seconds belong after "
	    "T");
	dur_iso_bad("PT1M1H", "\"PT1M1H\": units out of order or repeated");
	dur_iso_bad("PT1.5M", "\"PT1.5M\": only seconds may have a fraction");
	dur_iso_bad("PT-5M", "\"PT-5M\" is not an ISO 8601 duration (e.g. "
	    "PT15M, P1DT2H)");
	dur_iso_bad("P99999999999999999999D", "\"P99999999999999999999D\" is "
	    "too long a duration");
	dur_iso_bad("P999999999999D", "\"P999999999999D\" is too long a "
	    "duration");
}
END_TEST

/* Payload durations: a month counts 30 days, a year 365; order kept. */
START_TEST(iso_duration_nominal)
{
	int64_t v = 7;

	ck_assert_int_eq(units_parse_iso_duration_nominal("P5M", &v, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(v, 5LL * 30 * 86400 * 1000000);
	ck_assert_int_eq(units_parse_iso_duration_nominal("P1Y2M3DT4H5M", &v,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(v, ((365LL + 60 + 3) * 86400 + 4 * 3600 + 5 * 60) *
	    1000000);
	ck_assert_int_eq(units_parse_iso_duration_nominal("PT5M", &v, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(v, 300LL * 1000000);
	v = 7;
	ck_assert_int_eq(units_parse_iso_duration_nominal("P1M1Y", &v, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "\"P1M1Y\": units out of order or repeated");
	ck_assert_int_eq(units_parse_iso_duration_nominal("PT1Y", &v, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "\"PT1Y\": years, months, weeks and days "
	    "belong before T");
	ck_assert_int_eq(units_parse_iso_duration_nominal("PT1D", &v, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "\"PT1D\": years, months, weeks and days "
	    "belong before T");
	ck_assert_int_eq(v, 7);
}
END_TEST

START_TEST(power)
{
	int64_t w = 7;
	char buf[32];

	ck_assert_int_eq(units_parse_power("800W", &w, err, sizeof(err)), 0);
	ck_assert_int_eq(w, 800);
	ck_assert_int_eq(units_parse_power("1500kW", &w, err, sizeof(err)), 0);
	ck_assert_int_eq(w, 1500000);
	ck_assert_int_eq(units_parse_power("1.5MW", &w, err, sizeof(err)), 0);
	ck_assert_int_eq(w, 1500000);
	ck_assert_int_eq(units_parse_power("0.001kW", &w, err, sizeof(err)), 0);
	ck_assert_int_eq(w, 1);
	units_format_power(1500000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1500kW");
	units_format_power(2000000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2MW");
	units_format_power(1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1W");
	w = 7;
	ck_assert_int_eq(units_parse_power("1500", &w, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"1500\" needs a unit: W, kW, MW or GW");
	ck_assert_int_eq(units_parse_power("1.0005kW", &w, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "\"1.0005kW\" is not a whole number of watts");
	ck_assert_int_eq(units_parse_power("-5kW", &w, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"-5kW\" is not a power (e.g. 800W, 1500kW, "
	    "1.5MW)");
	ck_assert_int_eq(units_parse_power("1.kW", &w, err, sizeof(err)), -1);
	ck_assert_int_eq(w, 7);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("units");
	TCase *tc = tl_tcase(s, "core", 0);

	tcase_add_test(tc, duration_valid);
	tcase_add_test(tc, duration_invalid);
	tcase_add_test(tc, duration_format_round_trip);
	tcase_add_test(tc, size_parse);
	tcase_add_test(tc, uint_parse);
	tcase_add_test(tc, sockaddr_parse);
	tcase_add_test(tc, mode_parse);
	tcase_add_test(tc, group_parse);
	tcase_add_test(tc, datetime);
	tcase_add_test(tc, iso_duration);
	tcase_add_test(tc, iso_duration_nominal);
	tcase_add_test(tc, power);
	return tl_run_suite(s);
}
