/*
 * acgw-mockdispatch against acgw-mockra over real mTLS on loopback, with
 * the throwaway PKI: registration, events, modifications, explicit and
 * implied cancellations, reports and their values, VEN behaviours (optOut,
 * late, never), an outage with a restart, the result files (text, JSON,
 * JUnit), the scenario and behaviour checks with their file:line:column
 * messages, the TLS conformance probes, and the usage errors.
 *
 * Every process a test starts is stopped by the test, and killed at exit
 * (and by PR_SET_PDEATHSIG) if an assertion ends the test first. The
 * tools' stdout and stderr are checked for sanitizer reports.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acgw/json.h"
#include "../lib/testlib.h"

#define PATHLEN 512

static char pki[64];

/* ---- processes ------------------------------------------------------ */

static pid_t kids[8];

static void
kill_kids(void)
{
	for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
}

/* Check runs each test in its own process: a failed assertion exits it. */
static void
setup(void)
{
	memset(kids, 0, sizeof(kids));
	atexit(kill_kids);
}

static void
teardown(void)
{
	kill_kids();
}

static pid_t
spawn(char *const argv[], const char *log)
{
	pid_t pid = tl_spawn(argv, log, NULL);

	for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		if (kids[i] == 0) {
			kids[i] = pid;
			return pid;
		}
	kill(pid, SIGKILL);
	ck_abort_msg("too many processes");
	return -1;
}

/* Its exit status (as tl_wait_exit), -1 if it still runs after ms. */
static int
reap(pid_t pid, int ms)
{
	int st = tl_wait_exit(pid, ms);

	if (st != -1)
		for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
			if (kids[i] == pid)
				kids[i] = 0;
	return st;
}

/* ---- files ---------------------------------------------------------- */

static void
pki_file(char *buf, const char *name)
{
	snprintf(buf, PATHLEN, "%s/%s", pki, name);
}

/* X.fp: the certificate's OpenADR fingerprint. */
static void
fingerprint(const char *cert, char *buf, size_t len)
{
	char p[PATHLEN], *s;

	snprintf(p, sizeof(p), "%s/%s.fp", pki, cert);
	s = tl_read(p);
	s[strcspn(s, "\n")] = '\0';
	ck_assert_msg(strlen(s) == 29, "%s: %s", p, s);
	snprintf(buf, len, "%s", s);
	free(s);
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	char *s = tl_read(from);

	ck_assert_msg(*s != '\0', "%s is missing or empty", from);
	tl_write(to, "%s", s);
	ck_assert_int_eq(chmod(to, mode), 0);
	free(s);
}

/* The last bytes of a file, for failure messages. */
static char *
tail(const char *path)
{
	char *s = tl_read(path);
	size_t n = strlen(s);

	if (n > 2000)
		memmove(s, s + n - 2000, 2001);
	return s;
}

/* No sanitizer report in a tool's output (the start of one, if any). */
static void
assert_clean(const char *what, const char *text)
{
	static const char *const marks[] = { "ERROR: AddressSanitizer",
	    "ERROR: LeakSanitizer", "runtime error", NULL };

	for (size_t i = 0; marks[i] != NULL; i++) {
		const char *p = strstr(text, marks[i]);

		ck_assert_msg(p == NULL, "%s: sanitizer report:\n%.2000s", what,
		    p);
	}
}

static void
assert_clean_file(const char *what, const char *path)
{
	char *s = tl_read(path);

	assert_clean(what, s);
	free(s);
}

static int
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- JSON ----------------------------------------------------------- */

static struct json_value *
load_json(const char *path)
{
	char err[128], *s = tl_read(path);
	struct json_value *v = json_parse(s, strlen(s), err, sizeof(err));

	ck_assert_msg(v != NULL, "%s is not JSON (%s): %s", path, err, s);
	free(s);
	return v;
}

static const struct json_value *
jget(const struct json_value *o, const char *key, enum json_type type)
{
	const struct json_value *f = json_get(o, key);

	ck_assert_msg(f != NULL, "no member \"%s\"", key);
	ck_assert_msg(f->type == type, "member \"%s\" has type %d, not %d",
	    key, (int)f->type, (int)type);
	return f;
}

static const char *
jstr(const struct json_value *o, const char *key)
{
	return jget(o, key, JSON_STRING)->string;
}

static int64_t
jint(const struct json_value *o, const char *key)
{
	const struct json_value *f = jget(o, key, JSON_NUMBER);

	ck_assert_msg(f->is_int, "member \"%s\" is not an integer", key);
	return f->integer;
}

static int
jbool(const struct json_value *o, const char *key)
{
	return jget(o, key, JSON_BOOL)->boolean;
}

/* The array element whose member "cn" is cn. */
static const struct json_value *
by_cn(const struct json_value *o, const char *array, const char *cn)
{
	const struct json_value *a = jget(o, array, JSON_ARRAY);

	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(jstr(a->items[i], "cn"), cn))
			return a->items[i];
	ck_abort_msg("no %s entry with cn %s", array, cn);
	return NULL;
}

/* Step n (1-based) of acgw-mockdispatch's result. */
static const struct json_value *
step(const struct json_value *md, size_t n)
{
	const struct json_value *a = jget(md, "steps", JSON_ARRAY);

	ck_assert_uint_ge(a->n, n);
	ck_assert_int_eq(jint(a->items[n - 1], "step"), (int64_t)n);
	return a->items[n - 1];
}

/* A step's kind and result, and its message's start (NULL: no message). */
static void
assert_step(const struct json_value *md, size_t n, const char *kind,
    const char *result, const char *msg_prefix)
{
	const struct json_value *s = step(md, n);

	ck_assert_str_eq(jstr(s, "kind"), kind);
	ck_assert_msg(!strcmp(jstr(s, "result"), result), "step %zu: %s, "
	    "not %s: %s", n, jstr(s, "result"), result, json_get(s, "message")
	    ? jstr(s, "message") : "(no message)");
	if (msg_prefix == NULL)
		ck_assert_ptr_null(json_get(s, "message"));
	else
		ck_assert_msg(starts(jstr(s, "message"), msg_prefix), "step "
		    "%zu: \"%s\" does not start with \"%s\"", n,
		    jstr(s, "message"), msg_prefix);
}

/* The time in "... held at +4.219s (...)". */
static double
held_at(const char *msg)
{
	const char *p = strstr(msg, ": held at +");

	ck_assert_msg(p != NULL, "no \"held at\" in %s", msg);
	return strtod(p + 11, NULL);
}

/* ---- a run: acgw-mockdispatch and acgw-mockra ----------------------- */

struct mock {
	char dir[64];
	char ras[128];
	char scen[PATHLEN], beh[PATHLEN];
	char md_out[PATHLEN], md_log[PATHLEN], md_json[PATHLEN];
	char md_junit[PATHLEN];
	char ra_out[PATHLEN], ra_log[PATHLEN], ra_json[PATHLEN];
	char listen[64], url[64];
	pid_t md, ra;
};

#define F(field, name) snprintf(m->field, PATHLEN, "%s/%s%d", m->dir, name, n)

/* acgw-mockdispatch's scenario and result files for run number n. */
static void
mock_md_files(struct mock *m, int n)
{
	F(scen, "scenario.yaml.");
	F(md_out, "md.out.");
	F(md_log, "md.log.");
	F(md_json, "md.json.");
	F(md_junit, "md.xml.");
	m->md = 0;
}

/* Fresh files and a fresh port for run number n. */
static void
mock_run(struct mock *m, int n)
{
	mock_md_files(m, n);
	F(beh, "behaviour.yaml.");
	F(ra_out, "ra.out.");
	F(ra_log, "ra.log.");
	F(ra_json, "ra.json.");
	n = tl_free_port();
	snprintf(m->listen, sizeof(m->listen), "127.0.0.1:%d", n);
	snprintf(m->url, sizeof(m->url), "https://127.0.0.1:%d", n);
	m->md = m->ra = 0;
}
#undef F

/* DIR/ras with copies of these VEN certificates (NULL-terminated). */
static void
mock_init(struct mock *m, const char *const *vens)
{
	char *d = tl_tmpdir(), from[PATHLEN], to[PATHLEN];

	memset(m, 0, sizeof(*m));
	snprintf(m->dir, sizeof(m->dir), "%s", d);
	free(d);
	snprintf(m->ras, sizeof(m->ras), "%s/ras", m->dir);
	ck_assert_int_eq(mkdir(m->ras, 0755), 0);
	for (size_t i = 0; vens[i] != NULL; i++) {
		snprintf(from, sizeof(from), "%s/%s.pem", pki, vens[i]);
		snprintf(to, sizeof(to), "%s/%s.pem", m->ras, vens[i]);
		copy_file(from, to, 0644);
		snprintf(from, sizeof(from), "%s/%s.key", pki, vens[i]);
		snprintf(to, sizeof(to), "%s/%s.key", m->ras, vens[i]);
		copy_file(from, to, 0600);
	}
	mock_run(m, 1);
}

static void
mock_free(struct mock *m)
{
	tl_rmrf(m->dir);
}

static const char *const three_ras[] = { "ra1", "ra2", "ra3", NULL };

/* Plays m->scen; returns once it listens. */
static void
md_start(struct mock *m, const char *timeout)
{
	char cert[PATHLEN], key[PATHLEN], ca[PATHLEN];
	char *argv[] = { (char *)tl_env("MOCKDISPATCH"), "-l", m->listen,
	    "--cert", cert, "--key", key, "--ca", ca, "-s", m->scen,
	    "--json", m->md_json, "--junit", m->md_junit, "--log", m->md_log,
	    "--timeout", (char *)timeout, NULL };

	pki_file(cert, "tso-server.pem");
	pki_file(key, "tso-server.key");
	pki_file(ca, "ca.pem");
	m->md = spawn(argv, m->md_out);
	ck_assert_msg(tl_wait_file_contains(m->md_log, "== listening on ",
	    10000), "acgw-mockdispatch did not start:\n%s", tl_read(m->md_out));
}

/* Every VEN in m->ras, polling every 200 ms; behaviour may be NULL. */
static void
ra_start(struct mock *m, const char *behaviour)
{
	char ca[PATHLEN];
	char *argv[24];
	size_t n = 0;

	pki_file(ca, "tso-ca.pem");
	argv[n++] = (char *)tl_env("MOCKRA");
	argv[n++] = "-u";
	argv[n++] = m->url;
	argv[n++] = "--ca";
	argv[n++] = ca;
	argv[n++] = "--certs";
	argv[n++] = m->ras;
	argv[n++] = "--poll-interval";
	argv[n++] = "200ms";
	argv[n++] = "--duration";
	argv[n++] = "25s";
	argv[n++] = "--json";
	argv[n++] = m->ra_json;
	argv[n++] = "--log";
	argv[n++] = m->ra_log;
	if (behaviour != NULL) {
		tl_write(m->beh, "%s", behaviour);
		argv[n++] = "--behaviour";
		argv[n++] = m->beh;
	}
	argv[n] = NULL;
	m->ra = spawn(argv, m->ra_out);
}

/* acgw-mockdispatch's exit status must be want; its stdout is returned. */
static char *
md_wait(struct mock *m, int want)
{
	int st = reap(m->md, 30000);
	char *out = tl_read(m->md_out);

	ck_assert_msg(st == want, "acgw-mockdispatch exited %d, not %d:\n%s\n"
	    "log:\n%s", st, want, out, tail(m->md_log));
	assert_clean("acgw-mockdispatch", out);
	m->md = 0;
	return out;
}

/* SIGTERM: acgw-mockra writes its results and exits 0. */
static void
ra_stop(struct mock *m)
{
	int st;

	kill(m->ra, SIGTERM);
	st = reap(m->ra, 5000);
	ck_assert_msg(st == 0, "acgw-mockra exited %d (-1: still running 5 s "
	    "after SIGTERM):\n%s\nlog:\n%s", st, tl_read(m->ra_out),
	    tail(m->ra_log));
	assert_clean_file("acgw-mockra", m->ra_out);
	m->ra = 0;
}

/* One full run: the scenario, then the fleet, until the scenario ends. */
static char *
mock_play(struct mock *m, const char *behaviour, int want)
{
	char *out;

	md_start(m, "20s");
	ra_start(m, behaviour);
	out = md_wait(m, want);
	ra_stop(m);
	return out;
}

/* ---- scenarios against the fleet ------------------------------------ */

/*
 * Registration, an event, its modification and cancellation, and a
 * report request, with three VENs each on its own certificate.
 */
START_TEST(register_event_modify_cancel_report)
{
	struct mock m;
	struct json_value *md, *ra;
	const struct json_value *v, *a, *e;
	char *out, *x, fp[64], want[128];

	mock_init(&m, three_ras);
	tl_write(m.scen,
	    "name: full\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 3, within: 10s}\n"
	    "  - at: 2s\n"
	    "    request_report: {id: RR-1, granularity: 1s, back: 1s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-1, interval: 1m, values: [300]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-1, opt: optIn, vens: 3, "
	    "within: 8s}\n"
	    "  - at: 4s\n"
	    "    modify: {event: EV-1, values: [200]}\n"
	    "  - at: 4s\n"
	    "    expect_response: {event: EV-1, opt: optIn, vens: 3, "
	    "within: 8s}\n"
	    "  - at: 4s\n"
	    "    expect_report: {request: RR-1, vens: 3, reports: 2, "
	    "within: 8s}\n"
	    "  - at: 6s\n"
	    "    cancel: {event: EV-1}\n"
	    "  - at: 6s\n"
	    "    expect_response: {event: EV-1, opt: optIn, vens: 3, "
	    "within: 8s}\n");
	out = mock_play(&m, NULL, 0);
	ck_assert_msg(starts(out, "acgw-mockdispatch: scenario full: 5 "
	    "expectation(s) held, 0 failed, 3 VEN(s) seen, "), "%s", out);
	ck_assert_ptr_null(strstr(out, "FAILED"));
	free(out);

	/* acgw-mockdispatch: every expectation held, in time order. */
	md = load_json(m.md_json);
	ck_assert_str_eq(jstr(md, "scenario"), "full");
	ck_assert(jbool(md, "passed"));
	ck_assert_uint_eq(jget(md, "steps", JSON_ARRAY)->n, 9);
	assert_step(md, 1, "expect_registration", "pass", "expected 3 "
	    "registered VEN(s) within 10s: held at +");
	assert_step(md, 2, "request_report", "done", NULL);
	assert_step(md, 3, "event", "done", NULL);
	assert_step(md, 4, "expect_response", "pass", "expected optIn to EV-1 "
	    "(its latest modification) from 3 VEN(s) within 8s: held at +");
	assert_step(md, 5, "modify", "done", NULL);
	assert_step(md, 6, "expect_response", "pass", "expected optIn to EV-1 "
	    "(its latest modification) from 3 VEN(s) within 8s: held at +");
	assert_step(md, 7, "expect_report", "pass", "expected at least 2 "
	    "value(s) for report request RR-1 from 3 VEN(s), within 8s: held "
	    "at +");
	assert_step(md, 8, "cancel", "done", NULL);
	assert_step(md, 9, "expect_response", "pass", "expected optIn to EV-1 "
	    "(its latest modification) from 3 VEN(s) within 8s: held at +");
	ck_assert_ptr_nonnull(strstr(jstr(step(md, 9), "message"),
	    "ra1 optIn to modification 2 at +"));
	ck_assert_uint_eq(jget(md, "vens", JSON_ARRAY)->n, 3);
	ck_assert_int_eq(jint(jget(md, "messages", JSON_OBJECT), "refused"), 0);

	/* Each VEN is known by its certificate's fingerprint... */
	ra = load_json(m.ra_json);
	for (int i = 1; i <= 3; i++) {
		char cn[8], name[16];

		snprintf(cn, sizeof(cn), "ra%d", i);
		snprintf(name, sizeof(name), "mockra-%d", i);
		fingerprint(cn, fp, sizeof(fp));
		v = by_cn(md, "vens", cn);
		ck_assert_str_eq(jstr(v, "fingerprint"), fp);
		ck_assert_str_eq(jstr(v, "ven_id"), fp);
		ck_assert_str_eq(jstr(v, "ven_name"), name);
		ck_assert(jbool(v, "registered"));
		ck_assert_int_ge(jint(v, "report_values"), 2);
		a = jget(v, "responses", JSON_ARRAY);
		ck_assert_uint_eq(a->n, 1);
		ck_assert_str_eq(jstr(a->items[0], "event"), "EV-1");
		ck_assert_int_eq(jint(a->items[0], "modification"), 2);
		ck_assert_str_eq(jstr(a->items[0], "opt"), "optIn");

		/* ... and so is it on its side: it registered with that venID,
		 * and ends with the event at its last modification,
		 * cancelled. */
		v = by_cn(ra, "ras", cn);
		ck_assert_int_eq(jint(v, "ra"), i);
		ck_assert_str_eq(jstr(v, "fingerprint"), fp);
		ck_assert_str_eq(jstr(v, "ven_id"), fp);
		ck_assert(jbool(v, "registered"));
		ck_assert_str_eq(jstr(v, "behaviour"), "optIn");
		ck_assert_int_gt(jint(v, "polls"), 0);
		ck_assert_int_ge(jint(v, "report_updates"), 2);
		a = jget(v, "events", JSON_ARRAY);
		ck_assert_uint_eq(a->n, 1);
		e = a->items[0];
		ck_assert_str_eq(jstr(e, "event"), "EV-1");
		ck_assert_int_eq(jint(e, "modification"), 2);
		ck_assert_str_eq(jstr(e, "status"), "cancelled");
		ck_assert_str_eq(jstr(e, "response"), "optIn");
	}
	v = jget(ra, "total", JSON_OBJECT);
	ck_assert_int_eq(jint(v, "ras"), 3);
	ck_assert_int_eq(jint(v, "registered"), 3);
	ck_assert_int_eq(jint(v, "events"), 3);
	ck_assert_int_eq(jint(v, "opt_in"), 3);
	ck_assert_int_eq(jint(v, "opt_out"), 0);
	json_value_free(md);
	json_value_free(ra);

	/* JUnit: one test case per expectation, none failed. */
	x = tl_read(m.md_junit);
	ck_assert_msg(strstr(x, "<testsuite name=\"full\" tests=\"5\" "
	    "failures=\"0\" time=\"") != NULL, "%s", x);
	snprintf(want, sizeof(want), "  <testcase classname=\""
	    "acgw-mockdispatch\" name=\"step 9 (expect_response at 6s, "
	    "line 20)\" time=\"");
	ck_assert_msg(strstr(x, want) != NULL, "%s", x);
	ck_assert_ptr_null(strstr(x, "<failure"));
	free(x);
	mock_free(&m);
}
END_TEST

/*
 * Report values follow the dispatch within the contracted kW: 300 kW to
 * each of three VENs reads 900 kW in sum, and an expectation of another
 * sum fails with the sum it saw.
 */
START_TEST(report_values)
{
	static const char scen[] =
	    "name: values\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 3, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-R, interval: 1m, values: [300]}\n"
	    "  - at: 2s\n"
	    "    request_report: {id: RR-V, granularity: 1s, back: 1s}\n"
	    "  - at: 2s\n"
	    "    expect_report: {request: RR-V, vens: 3, reports: 2, "
	    "value: %s, tolerance: 1%%, aggregate: sum, within: %s}\n"
	    "  - at: 2s\n"
	    "    expect_report: {request: RR-V, vens: 3, reports: 2, "
	    "value: 300, tolerance: 0, within: 10s}\n";
	static const char beh[] = "default:\n  contracted_kw: 1000\n"
	    "  noise: 0\n";
	struct mock m;
	struct json_value *md;
	const char *msg;
	char *out, *x;

	mock_init(&m, three_ras);
	tl_write(m.scen, scen, "900", "10s");
	out = mock_play(&m, beh, 0);
	ck_assert_msg(strstr(out, "3 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	md = load_json(m.md_json);
	ck_assert(jbool(md, "passed"));
	assert_step(md, 4, "expect_report", "pass", "expected at least 2 "
	    "value(s) for report request RR-V from 3 VEN(s), their latest "
	    "values summing to 900.000 within 1.0%, within 10s: held at +");
	msg = jstr(step(md, 4), "message");
	ck_assert_msg(strstr(msg, "; sum of latest 900.000)") != NULL, "%s",
	    msg);
	for (int i = 1; i <= 3; i++) {
		char want[64];

		snprintf(want, sizeof(want), "ra%d ", i);
		ck_assert_msg(strstr(msg, want) != NULL, "%s", msg);
		ck_assert_ptr_nonnull(strstr(strstr(msg, want),
		    " values (latest 300.000)"));
	}
	assert_step(md, 5, "expect_report", "pass", "expected at least 2 "
	    "value(s) for report request RR-V from 3 VEN(s), each latest "
	    "value 300.000 within 0.0%, within 10s: held at +");
	json_value_free(md);

	/* The same run expecting 1,000 kW: it fails, showing 900. */
	mock_run(&m, 2);
	tl_write(m.scen, scen, "1000", "5s");
	out = mock_play(&m, beh, 1);
	ck_assert_msg(strstr(out, "2 expectation(s) held, 1 failed") != NULL,
	    "%s", out);
	x = strstr(out, "\n  FAILED step 4 (expect_report at 2s, line 10): "
	    "expected at least 2 value(s) for report request RR-V from 3 "
	    "VEN(s), their latest values summing to 1000.000 within 1.0%, "
	    "within 5s; came: ");
	ck_assert_msg(x != NULL, "%s", out);
	x = strchr(x + 1, '\n');
	ck_assert_ptr_nonnull(x);
	ck_assert_msg(starts(x - 23, "; sum of latest 900.000"), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "\n  ok     step 5 (expect_report at "
	    "2s, line 12): "));
	free(out);
	md = load_json(m.md_json);
	ck_assert(!jbool(md, "passed"));
	assert_step(md, 4, "expect_report", "fail", "expected at least 2 "
	    "value(s) for report request RR-V from 3 VEN(s), their latest "
	    "values summing to 1000.000 within 1.0%, within 5s; came: ");
	assert_step(md, 5, "expect_report", "pass", "expected ");
	json_value_free(md);
	mock_free(&m);
}
END_TEST

/*
 * Behaviours: ra1 opts in, ra2 opts out, ra-extra opts in 2 s late, ra3
 * never answers. "optIn from every VEN within 1s" fails, and says what
 * it expected and what came, on stdout, in JSON and in JUnit.
 */
START_TEST(behaviours)
{
	static const char *const vens[] = { "ra1", "ra2", "ra3", "ra-extra",
	    NULL };
	static const char want_msg[] = "expected optIn to EV-B (its latest "
	    "modification) from all 4 VEN(s) within 1s; came: ";
	struct mock m;
	struct json_value *md, *ra;
	const struct json_value *v, *a;
	const char *msg;
	char *out, *x, *line, want[1200];

	mock_init(&m, vens);
	tl_write(m.scen,
	    "name: behaviours\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 4, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-B, interval: 1m, values: [100]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-B, opt: optIn, vens: 1, "
	    "within: 2s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-B, opt: optOut, vens: 1, "
	    "within: 2s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-B, opt: optIn, vens: 2, "
	    "within: 8s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-B, opt: optIn, within: 1s}\n");
	out = mock_play(&m,
	    "default:\n"
	    "  response: optIn\n"
	    "ras:\n"
	    "  - cn: ra2\n"
	    "    response: optOut\n"
	    "  - cn: ra-extra\n"
	    "    response: late\n"
	    "    late_by: 2s\n"
	    "  - ven: 4\n"		/* by name order: ra3 */
	    "    response: never\n", 1);
	ck_assert_msg(starts(out, "acgw-mockdispatch: scenario behaviours: 4 "
	    "expectation(s) held, 1 failed, 4 VEN(s) seen, "), "%s", out);
	line = strstr(out, "\n  FAILED ");
	ck_assert_msg(line != NULL, "%s", out);
	line++;
	line[strcspn(line, "\n")] = '\0';
	snprintf(want, sizeof(want), "  FAILED step 6 (expect_response at 2s, "
	    "line 14): %s", want_msg);
	ck_assert_msg(starts(line, want), "%s", line);
	ck_assert_msg(strstr(line, "ra3 no response") != NULL, "%s", line);
	ck_assert_msg(strstr(line, "ra-extra no response") != NULL, "%s", line);
	ck_assert_msg(strstr(line, "ra1 optIn to modification 0 at +") != NULL,
	    "%s", line);
	ck_assert_msg(strstr(line, "ra2 optOut to modification 0 at +") !=
	    NULL, "%s", line);

	md = load_json(m.md_json);
	ck_assert(!jbool(md, "passed"));
	assert_step(md, 1, "expect_registration", "pass", "expected 4 ");
	/* optIn from one and optOut from one: before any late answer. */
	assert_step(md, 3, "expect_response", "pass", "expected optIn to EV-B "
	    "(its latest modification) from 1 VEN(s) within 2s: held at +");
	ck_assert_double_lt(held_at(jstr(step(md, 3), "message")), 4.0);
	assert_step(md, 4, "expect_response", "pass", "expected optOut to EV-B "
	    "(its latest modification) from 1 VEN(s) within 2s: held at +");
	ck_assert_double_lt(held_at(jstr(step(md, 4), "message")), 4.0);
	/* The second optIn is the late one's: 2 s after it had the event. */
	assert_step(md, 5, "expect_response", "pass", "expected optIn to EV-B "
	    "(its latest modification) from 2 VEN(s) within 8s: held at +");
	ck_assert_double_ge(held_at(jstr(step(md, 5), "message")), 4.0);
	assert_step(md, 6, "expect_response", "fail", want_msg);
	msg = jstr(step(md, 6), "message");
	ck_assert_str_eq(msg, line + strlen("  FAILED step 6 (expect_response "
	    "at 2s, line 14): "));
	v = by_cn(md, "vens", "ra-extra");
	a = jget(v, "responses", JSON_ARRAY);
	ck_assert_uint_eq(a->n, 1);
	ck_assert_str_eq(jstr(a->items[0], "opt"), "optIn");
	ck_assert_int_ge(jint(a->items[0], "at_ms"), 4000);
	ck_assert_int_lt(jint(a->items[0], "at_ms"), 8000);
	a = jget(by_cn(md, "vens", "ra1"), "responses", JSON_ARRAY);
	ck_assert_uint_eq(a->n, 1);
	ck_assert_str_eq(jstr(a->items[0], "opt"), "optIn");
	ck_assert_int_lt(jint(a->items[0], "at_ms"), 4000);
	a = jget(by_cn(md, "vens", "ra2"), "responses", JSON_ARRAY);
	ck_assert_uint_eq(a->n, 1);
	ck_assert_str_eq(jstr(a->items[0], "opt"), "optOut");
	ck_assert_uint_eq(jget(by_cn(md, "vens", "ra3"), "responses",
	    JSON_ARRAY)->n, 0);

	/* JUnit: the one failure, with the same message. */
	x = tl_read(m.md_junit);
	ck_assert_msg(strstr(x, "<testsuite name=\"behaviours\" tests=\"5\" "
	    "failures=\"1\" ") != NULL, "%s", x);
	ck_assert_ptr_null(strpbrk(msg, "&<>\""));
	snprintf(want, sizeof(want), "  <testcase classname=\""
	    "acgw-mockdispatch\" name=\"step 6 (expect_response at 2s, line "
	    "14)\" time=\"");
	ck_assert_msg(strstr(x, want) != NULL, "%s", x);
	snprintf(want, sizeof(want), "\">\n    <failure message=\"%s\"/>\n"
	    "  </testcase>\n</testsuite>\n", msg);
	ck_assert_msg(strstr(x, want) != NULL, "%s", x);
	/* The passing ones have none. */
	ck_assert_ptr_null(strstr(strstr(x, "<failure") + 1, "<failure"));
	free(x);
	json_value_free(md);

	/* The fleet's side. */
	ra = load_json(m.ra_json);
	{
		static const char *const cn[] = { "ra1", "ra2", "ra3",
		    "ra-extra" };
		static const char *const behaviour[] = { "optIn", "optOut",
		    "never", "late" };
		static const char *const response[] = { "optIn", "optOut",
		    "none", "optIn" };

		for (size_t i = 0; i < 4; i++) {
			v = by_cn(ra, "ras", cn[i]);
			ck_assert(jbool(v, "registered"));
			ck_assert_str_eq(jstr(v, "behaviour"), behaviour[i]);
			a = jget(v, "events", JSON_ARRAY);
			ck_assert_uint_eq(a->n, 1);
			ck_assert_str_eq(jstr(a->items[0], "event"), "EV-B");
			ck_assert_str_eq(jstr(a->items[0], "response"),
			    response[i]);
		}
	}
	v = jget(ra, "total", JSON_OBJECT);
	ck_assert_int_eq(jint(v, "opt_in"), 2);
	ck_assert_int_eq(jint(v, "opt_out"), 1);
	json_value_free(ra);
	free(out);
	mock_free(&m);
}
END_TEST

/* An event left out of the next distribution: an implied cancellation. */
START_TEST(implied_cancellation)
{
	struct mock m;
	struct json_value *ra;
	const struct json_value *v, *a;
	char *out, want[128];

	mock_init(&m, three_ras);
	tl_write(m.scen,
	    "name: implied\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 3, within: 10s}\n"
	    "  - at: 1s\n"
	    "    event: {id: EV-GONE, interval: 1m, values: [100]}\n"
	    "  - at: 1s\n"
	    "    expect_response: {event: EV-GONE, opt: optIn, vens: 3, "
	    "within: 8s}\n"
	    "  - at: 4s\n"
	    "    remove: {event: EV-GONE}\n"
	    /* Answered only from the distribution that lacks EV-GONE. */
	    "  - at: 4s\n"
	    "    event: {id: EV-NEXT, interval: 1m, values: [50]}\n"
	    "  - at: 4s\n"
	    "    expect_response: {event: EV-NEXT, opt: optIn, vens: 3, "
	    "within: 8s}\n");
	out = mock_play(&m, NULL, 0);
	ck_assert_msg(strstr(out, "3 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	ra = load_json(m.ra_json);
	for (int i = 1; i <= 3; i++) {
		char cn[8];

		snprintf(cn, sizeof(cn), "ra%d", i);
		v = by_cn(ra, "ras", cn);
		a = jget(v, "events", JSON_ARRAY);
		ck_assert_uint_eq(a->n, 2);
		/* Never cancelled explicitly: still modification 0. */
		ck_assert_str_eq(jstr(a->items[0], "event"), "EV-GONE");
		ck_assert_int_eq(jint(a->items[0], "modification"), 0);
		ck_assert_str_eq(jstr(a->items[0], "status"), "cancelled");
		ck_assert_str_eq(jstr(a->items[0], "response"), "optIn");
		ck_assert_str_eq(jstr(a->items[1], "event"), "EV-NEXT");
		ck_assert_str_eq(jstr(a->items[1], "status"), "active");
		ck_assert_str_eq(jstr(a->items[1], "response"), "optIn");
		snprintf(want, sizeof(want), " %s(%s)    event EV-GONE no longer "
		    "listed: cancelled\n", cn, cn);
		ck_assert_msg(tl_wait_file_contains(m.ra_log, want, 1), "%s",
		    tail(m.ra_log));
	}
	json_value_free(ra);
	mock_free(&m);
}
END_TEST

/*
 * An outage: the VTN is silent for 2 s (an event issued meanwhile still
 * arrives), drops every connection, then restarts without its
 * registrations; the VENs register again by themselves. Then it is gone
 * altogether (the VENs' requests fail) and comes back on the same
 * address, knowing nobody: they register again and take its event.
 */
START_TEST(outage_recovery)
{
	struct mock m, m2;
	struct json_value *md, *ra;
	const struct json_value *v, *a;
	char *out, *log, *after, want[128], fp[64];

	mock_init(&m, three_ras);
	tl_write(m.scen,
	    "name: outage\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 3, within: 10s}\n"
	    "  - at: 1s\n"
	    "    silent: 2s\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-O, interval: 1m, values: [100]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-O, opt: optIn, vens: 3, "
	    "within: 8s}\n"
	    "  - at: 5s\n"
	    "    drop: {}\n"
	    "  - at: 6s\n"
	    "    restart: {}\n"
	    "  - at: 6s\n"
	    "    expect_registration: {vens: 3, within: 10s}\n");
	md_start(&m, "20s");
	ra_start(&m, NULL);
	out = md_wait(&m, 0);
	ck_assert_msg(strstr(out, "3 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	md = load_json(m.md_json);
	ck_assert(jbool(md, "passed"));
	assert_step(md, 2, "silent", "done", NULL);
	assert_step(md, 4, "expect_response", "pass", "expected optIn to EV-O ");
	/* Answered once the VTN listened again. */
	ck_assert_double_ge(held_at(jstr(step(md, 4), "message")), 3.0);
	assert_step(md, 5, "drop", "done", NULL);
	assert_step(md, 6, "restart", "done", NULL);
	assert_step(md, 7, "expect_registration", "pass", "expected 3 "
	    "registered VEN(s) within 10s: held at +");
	ck_assert_double_ge(held_at(jstr(step(md, 7), "message")), 6.0);
	json_value_free(md);
	/* Each registered again after the restart... */
	log = tl_read(m.md_log);
	after = strstr(log, "== step 6 (restart at 6s, line 14)");
	ck_assert_msg(after != NULL, "%s", log);
	for (int i = 1; i <= 3; i++) {
		snprintf(want, sizeof(want), "<- ra%d EiRegisterParty "
		    "oadrCreatePartyRegistration venName=mockra-%d ", i, i);
		ck_assert_msg(strstr(after, want) != NULL, "no \"%s\" after the "
		    "restart:\n%s", want, after);
		/* ... because the VTN did not know them any more. */
		snprintf(want, sizeof(want), " ra%d(ra%d)    the VTN does not "
		    "know us (452): registering again\n", i, i);
		ck_assert_msg(tl_wait_file_contains(m.ra_log, want, 1), "%s",
		    tail(m.ra_log));
	}
	free(log);

	/* The VTN is gone: every VEN's requests fail... */
	for (int i = 1; i <= 3; i++) {
		snprintf(want, sizeof(want), " ra%d(ra%d) !! no answer "
		    "(connection refused, closed or timed out); sending again "
		    "in ", i, i);
		ck_assert_msg(tl_wait_file_contains(m.ra_log, want, 10000),
		    "%s", tail(m.ra_log));
	}
	/* ... until it is back, on the same address, knowing nobody. */
	m2 = m;
	mock_md_files(&m2, 2);
	tl_write(m2.scen,
	    "name: back\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 3, within: 10s}\n"
	    "  - at: 0s\n"
	    "    event: {id: EV-BACK, interval: 1m, values: [100]}\n"
	    "  - at: 0s\n"
	    "    expect_response: {event: EV-BACK, opt: optIn, vens: 3, "
	    "within: 10s}\n");
	md_start(&m2, "20s");
	out = md_wait(&m2, 0);
	ck_assert_msg(strstr(out, "2 expectation(s) held, 0 failed, 3 VEN(s) "
	    "seen") != NULL, "%s", out);
	free(out);
	ra_stop(&m);
	ra = load_json(m.ra_json);
	for (int i = 1; i <= 3; i++) {
		char cn[8];

		snprintf(cn, sizeof(cn), "ra%d", i);
		v = by_cn(ra, "ras", cn);
		fingerprint(cn, fp, sizeof(fp));
		ck_assert(jbool(v, "registered"));
		ck_assert_str_eq(jstr(v, "ven_id"), fp);
		ck_assert_int_gt(jint(v, "failures"), 0);
		ck_assert_str_eq(jstr(v, "last_error"), "no answer (connection "
		    "refused, closed or timed out)");
		a = jget(v, "events", JSON_ARRAY);
		/* Told 452 by a VTN that forgot it, the RA forgot the old
		 * VTN's events too: only the new one's is left. */
		ck_assert_uint_eq(a->n, 1);
		ck_assert_str_eq(jstr(a->items[0], "event"), "EV-BACK");
		ck_assert_str_eq(jstr(a->items[0], "response"), "optIn");
	}
	json_value_free(ra);
	mock_free(&m);
}
END_TEST

/*
 * Two report requests (two IDs) to the same VENs: both are served. (A
 * second request makes acgw-mockra grow its table of requests while the
 * first one's timer is pending.)
 */
START_TEST(two_report_requests)
{
	struct mock m;
	struct json_value *ra;
	char *out;

	mock_init(&m, three_ras);
	tl_write(m.scen,
	    "name: two-reports\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 3, within: 10s}\n"
	    "  - at: 1s\n"
	    "    request_report: {id: RR-A, granularity: 1s, back: 1s}\n"
	    "  - at: 2s\n"
	    "    request_report: {id: RR-B, granularity: 1s, back: 1s}\n"
	    "  - at: 2s\n"
	    "    expect_report: {request: RR-A, vens: 3, reports: 3, "
	    "within: 8s}\n"
	    "  - at: 2s\n"
	    "    expect_report: {request: RR-B, vens: 3, reports: 3, "
	    "within: 8s}\n");
	md_start(&m, "15s");
	ra_start(&m, NULL);
	out = md_wait(&m, 0);
	ck_assert_msg(strstr(out, "3 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	ra_stop(&m);
	ra = load_json(m.ra_json);
	ck_assert_int_ge(jint(jget(ra, "total", JSON_OBJECT),
	    "report_updates"), 18);
	json_value_free(ra);
	mock_free(&m);
}
END_TEST

/*
 * Late VENs and a second event while the first one's answer is pending:
 * both answers come, each about 2 s late.
 */
START_TEST(late_answers_to_two_events)
{
	struct mock m;
	struct json_value *md;
	char *out;

	mock_init(&m, three_ras);
	tl_write(m.scen,
	    "name: two-late\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 3, within: 10s}\n"
	    "  - at: 1s\n"
	    "    event: {id: EV-1, interval: 1m, values: [100]}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-2, interval: 1m, values: [100]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-1, opt: optIn, vens: 3, "
	    "within: 8s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-2, opt: optIn, vens: 3, "
	    "within: 8s}\n");
	md_start(&m, "15s");
	ra_start(&m, "default:\n  response: late\n  late_by: 2s\n");
	out = md_wait(&m, 0);
	ck_assert_msg(strstr(out, "3 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	ra_stop(&m);
	md = load_json(m.md_json);
	ck_assert_double_ge(held_at(jstr(step(md, 4), "message")), 3.0);
	ck_assert_double_ge(held_at(jstr(step(md, 5), "message")), 4.0);
	json_value_free(md);
	mock_free(&m);
}
END_TEST

/* ---- checks without a run ------------------------------------------- */

/* acgw-mockdispatch -t -s FILE on text: its exit status and output. */
static struct tl_run
check_scenario(const char *dir, const char *file, const char *text)
{
	char *argv[] = { (char *)tl_env("MOCKDISPATCH"), "-t", "-s",
	    (char *)file, NULL };
	struct tl_run r;

	tl_write(file, "%s", text);
	r = tl_run(dir, argv, 10000);
	assert_clean("acgw-mockdispatch -t", r.err);
	return r;
}

static void
scenario_error(const char *dir, const char *text, const char *where,
    const char *msg)
{
	char file[PATHLEN], want[1024];
	struct tl_run r;

	snprintf(file, sizeof(file), "%s/bad.yaml", dir);
	r = check_scenario(dir, file, text);
	snprintf(want, sizeof(want), "acgw-mockdispatch: %s:%s: %s\n", file,
	    where, msg);
	ck_assert_msg(r.status == 2, "exit %d for:\n%s\nstdout: %s\n"
	    "stderr: %s", r.status, text, r.out, r.err);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, want);
	tl_run_free(&r);
}

START_TEST(scenario_errors)
{
	char *dir = tl_tmpdir();

	scenario_error(dir,
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1}\n"
	    "  - at: 1s\n"
	    "    event:\n"
	    "      id: E1\n"
	    "      interval: 1m\n"
	    "      valuez: [1]\n",
	    "9:7", "steps[1].event.valuez: unknown key");
	scenario_error(dir,
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {}\n"
	    "  - drop: {}\n",
	    "4:5", "steps[1]: needs \"at\" (a time from the start, e.g. 5s)");
	scenario_error(dir,
	    "steps:\n"
	    "  - at: 1s\n"
	    "    event: {id: E1, interval: 1m, values: [1]}\n"
	    "    cancel: {event: E1}\n",
	    "4:5", "steps[0]: one action per step (\"event\" and \"cancel\")");
	scenario_error(dir,
	    "steps:\n"
	    "  - at: 1s\n"
	    "    event: {id: E1, interval: 1m, values: [1]}\n"
	    "  - at: 2s\n"
	    "    cancel: {event: E2}\n",
	    "4:5", "steps[1]: event \"E2\" is not issued by an earlier step");
	/* Earlier in time, not in the file. */
	scenario_error(dir,
	    "steps:\n"
	    "  - at: 2s\n"
	    "    cancel: {event: E1}\n"
	    "  - at: 3s\n"
	    "    event: {id: E1, interval: 1m, values: [1]}\n",
	    "2:5", "steps[0]: event \"E1\" is not issued by an earlier step");
	scenario_error(dir,
	    "steps:\n"
	    "  - at: 5 parsecs\n"
	    "    drop: {}\n",
	    "2:9", "steps[0].at: \"5 parsecs\" needs a unit after each number "
	    "(ms, s, m, h, d)");
	scenario_error(dir,
	    "poll_freq: 500ms\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    drop: {}\n",
	    "1:12", "poll_freq: must be whole seconds, at least 1s (the 2.0b "
	    "schema has no fractions)");
	scenario_error(dir,
	    "steps:\n"
	    "  - at: 1s\n"
	    "    event: {id: E1, interval: 1500ms, values: [1]}\n",
	    "3:31", "steps[0].event.interval: must be whole seconds");
	tl_rmrf(dir);
	free(dir);
}
END_TEST

/*
 * Steps at the same time run in file order: a cancellation listed before
 * the event it names, at the same time, names an event that no earlier
 * step issued (played, it would run first, on no event).
 */
START_TEST(scenario_same_time_reference)
{
	char *dir = tl_tmpdir();

	scenario_error(dir,
	    "steps:\n"
	    "  - at: 1s\n"
	    "    cancel: {event: E1}\n"
	    "  - at: 1s\n"
	    "    event: {id: E1, interval: 1m, values: [1]}\n",
	    "2:5", "steps[0]: event \"E1\" is not issued by an earlier step");
	tl_rmrf(dir);
	free(dir);
}
END_TEST

/* Every example scenario passes the check, with all its steps. */
START_TEST(example_scenarios)
{
	char *dir = tl_tmpdir(), sdir[PATHLEN], file[2 * PATHLEN], want[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(sdir, sizeof(sdir), "%s/etc/scenarios", tl_env("ACGW_SRCDIR"));
	d = opendir(sdir);
	ck_assert_msg(d != NULL, "%s", sdir);
	while ((de = readdir(d)) != NULL) {
		char *argv[] = { (char *)tl_env("MOCKDISPATCH"), "-t", "-s",
		    file, NULL };
		size_t l = strlen(de->d_name), steps = 0;
		struct tl_run r;
		char *text, *p;

		if (l < 6 || strcmp(de->d_name + l - 5, ".yaml"))
			continue;
		snprintf(file, sizeof(file), "%s/%s", sdir, de->d_name);
		text = tl_read(file);
		for (p = text; (p = strstr(p, "\n  - at: ")) != NULL; p++)
			steps++;
		free(text);
		r = tl_run(dir, argv, 10000);
		ck_assert_msg(r.status == 0, "%s: exit %d: %s%s", file,
		    r.status, r.out, r.err);
		snprintf(want, sizeof(want), "scenario ok: %zu steps, ", steps);
		ck_assert_msg(starts(r.out, want), "%s: %s",
		    file, r.out);
		ck_assert_str_eq(r.err, "");
		tl_run_free(&r);
		n++;
	}
	closedir(d);
	ck_assert_int_ge(n, 6);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

static void
behaviour_error(const char *dir, const char *ras, const char *text,
    const char *where, const char *msg)
{
	char file[PATHLEN], json[PATHLEN], ca[PATHLEN], url[64], want[1024];
	char *argv[] = { (char *)tl_env("MOCKRA"), "-u", url, "--ca", ca,
	    "--certs", (char *)ras, "--behaviour", file, "--duration", "2s",
	    "--json", json, NULL };
	struct tl_run r;
	struct stat sb;

	snprintf(file, sizeof(file), "%s/behaviour.yaml", dir);
	snprintf(json, sizeof(json), "%s/ra.json", dir);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", tl_free_port());
	pki_file(ca, "tso-ca.pem");
	tl_write(file, "%s", text);
	r = tl_run(dir, argv, 10000);
	assert_clean("acgw-mockra", r.err);
	snprintf(want, sizeof(want), "acgw-mockra: %s:%s: %s\n", file, where,
	    msg);
	ck_assert_msg(r.status == 2, "exit %d for:\n%s\nstdout: %s\n"
	    "stderr: %s", r.status, text, r.out, r.err);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, want);
	ck_assert_int_eq(stat(json, &sb), -1);
	tl_run_free(&r);
}

START_TEST(behaviour_errors)
{
	struct mock m;

	mock_init(&m, three_ras);
	behaviour_error(m.dir, m.ras,
	    "default:\n"
	    "  response: optIn\n"
	    "  lateby: 2s\n",
	    "3:3", "default.lateby: unknown key");
	behaviour_error(m.dir, m.ras,
	    "ras:\n"
	    "  - cn: ra1\n"
	    "    response: optOut\n"
	    "  - cn: nobody\n"
	    "    response: optOut\n",
	    "4:5", "ras[1]: matches no RA of this run");
	behaviour_error(m.dir, m.ras,
	    "ras:\n"
	    "  - ven: 4\n"
	    "    response: never\n",
	    "2:10", "ras[0].ven: \"4\" is not a whole number from 1 to 3");
	behaviour_error(m.dir, m.ras,
	    "ras:\n"
	    "  - response: never\n",
	    "2:5", "ras[0]: needs \"ven\" (its number) or \"cn\" (its "
	    "certificate CN)");
	mock_free(&m);
}
END_TEST

/* ---- TLS conformance ------------------------------------------------ */

/* The probes against one VEN that checks the name server_name. */
static struct json_value *
conformance(struct mock *m, const char *server_name, int want, char **out)
{
	char cert[PATHLEN], key[PATHLEN], ca[PATHLEN], wcert[PATHLEN];
	char wkey[PATHLEN], tca[PATHLEN], rcert[PATHLEN], rkey[PATHLEN];
	char *md[] = { (char *)tl_env("MOCKDISPATCH"), "--conformance",
	    "-l", m->listen, "--cert", cert, "--key", key, "--ca", ca,
	    "--wrong-name-cert", wcert, "--wrong-name-key", wkey,
	    "--probe-timeout", "20s", "--json", m->md_json, "--junit",
	    m->md_junit, "--log", m->md_log, NULL };
	char *ra[] = { (char *)tl_env("MOCKRA"), "-u", m->url, "--ca", tca,
	    "--cert", rcert, "--key", rkey, "--server-name",
	    (char *)server_name, "--duration", "25s", "--json", m->ra_json,
	    "--log", m->ra_log, NULL };

	pki_file(cert, "tso-server.pem");
	pki_file(key, "tso-server.key");
	pki_file(ca, "ca.pem");
	pki_file(wcert, "tso-wrongname.pem");
	pki_file(wkey, "tso-wrongname.key");
	pki_file(tca, "tso-ca.pem");
	pki_file(rcert, "ra1.pem");
	pki_file(rkey, "ra1.key");
	m->md = spawn(md, m->md_out);
	ck_assert_msg(tl_wait_file_contains(m->md_log, "[legacy] probe: ",
	    10000), "no first probe:\n%s", tl_read(m->md_out));
	m->ra = spawn(ra, m->ra_out);
	*out = md_wait(m, want);
	ra_stop(m);
	return load_json(m->md_json);
}

static const struct json_value *
probe(const struct json_value *c, size_t i, const char *name, int passed)
{
	const struct json_value *a = jget(c, "probes", JSON_ARRAY), *p;

	ck_assert_uint_eq(a->n, 3);
	p = a->items[i];
	ck_assert_str_eq(jstr(p, "probe"), name);
	ck_assert_msg(jbool(p, "passed") == passed, "probe %s: %s", name,
	    jstr(p, "detail"));
	return p;
}

START_TEST(tls_conformance)
{
	struct mock m;
	struct json_value *c;
	char *out, *x, fp[64], want[256];

	mock_init(&m, three_ras);
	fingerprint("ra1", fp, sizeof(fp));
	c = conformance(&m, "tso.test", 0, &out);
	ck_assert_msg(starts(out, "acgw-mockdispatch: TLS conformance: "
	    "passed\n  ok     legacy: "), "%s", out);
	ck_assert(jbool(c, "passed"));
	ck_assert_msg(starts(jstr(probe(c, 0, "legacy", 1), "detail"),
	    "the VEN refused TLS 1.0/1.1 and offered nothing below TLS 1.2; "
	    "ClientHello offered "), "%s", out);
	ck_assert_msg(starts(jstr(probe(c, 1, "wrong_name", 1), "detail"),
	    "the VEN refused the certificate for another name"), "%s", out);
	snprintf(want, sizeof(want), "handshake done: TLSv1.2 "
	    "ECDHE-ECDSA-AES128-SHA256, CN=ra1, fingerprint %s", fp);
	ck_assert_msg(starts(jstr(probe(c, 2, "openadr", 1), "detail"), want),
	    "%s", out);
	json_value_free(c);
	free(out);
	x = tl_read(m.md_junit);
	ck_assert_msg(strstr(x, "<testsuite name=\"tls-conformance\" "
	    "tests=\"3\" failures=\"0\">") != NULL, "%s", x);
	free(x);

	/* A VEN that takes other.test for the VTN's name. */
	mock_run(&m, 2);
	c = conformance(&m, "other.test", 1, &out);
	ck_assert_msg(starts(out, "acgw-mockdispatch: TLS conformance: "
	    "FAILED\n  ok     legacy: "), "%s", out);
	ck_assert_msg(strstr(out, "\n  FAILED wrong_name: VEN refuses a server "
	    "certificate for another name: the VEN accepted a server "
	    "certificate for another name") != NULL, "%s", out);
	ck_assert(!jbool(c, "passed"));
	probe(c, 0, "legacy", 1);
	ck_assert(starts(jstr(probe(c, 1, "wrong_name", 0), "detail"),
	    "the VEN accepted a server certificate for another name"));
	/* ... and so refuses the right one, which names tso.test. */
	ck_assert(starts(jstr(probe(c, 2, "openadr", 0), "detail"),
	    "the VEN did not complete a handshake with only the OpenADR TLS "
	    "1.2 suites"));
	json_value_free(c);
	free(out);
	x = tl_read(m.md_junit);
	ck_assert_msg(strstr(x, "<testsuite name=\"tls-conformance\" "
	    "tests=\"3\" failures=\"2\">") != NULL, "%s", x);
	ck_assert_msg(strstr(x, "  <testcase classname=\"acgw-mockdispatch\" "
	    "name=\"wrong_name\">\n    <failure message=\"the VEN accepted a "
	    "server certificate for another name") != NULL, "%s", x);
	free(x);
	mock_free(&m);
}
END_TEST

/* ---- usage ---------------------------------------------------------- */

static void
usage_error(const char *dir, char *const argv[], const char *usage)
{
	struct tl_run r = tl_run(dir, argv, 10000);

	ck_assert_msg(r.status == 2, "%s: exit %d: %s", argv[0], r.status,
	    r.err);
	ck_assert_str_eq(r.out, "");
	ck_assert_msg(starts(r.err, usage), "%s", r.err);
	assert_clean(argv[0], r.err);
	tl_run_free(&r);
}

START_TEST(usage_and_version)
{
	char *dir = tl_tmpdir(), cert[PATHLEN], key[PATHLEN], scen[PATHLEN];
	char ras[PATHLEN], want[64];
	char *md = (char *)tl_env("MOCKDISPATCH"), *ra = (char *)tl_env("MOCKRA");
	char *md_noca[] = { md, "-l", "127.0.0.1:1", "--cert", cert, "--key",
	    key, "-s", scen, NULL };
	char *conf_noca[] = { md, "--conformance", "-l", "127.0.0.1:1",
	    "--cert", cert, "--key", key, "--wrong-name-cert", cert,
	    "--wrong-name-key", key, NULL };
	char *ra_noca[] = { ra, "-u", "https://127.0.0.1:1", "--certs", ras,
	    NULL };
	char *md_v[] = { md, "-V", NULL }, *ra_v[] = { ra, "-V", NULL };
	struct tl_run r;

	pki_file(cert, "tso-server.pem");
	pki_file(key, "tso-server.key");
	snprintf(scen, sizeof(scen), "%s/s.yaml", dir);
	snprintf(ras, sizeof(ras), "%s", pki);
	tl_write(scen, "steps:\n  - at: 0s\n    drop: {}\n");
	usage_error(dir, md_noca, "usage: acgw-mockdispatch -l ADDR:PORT "
	    "--cert FILE --key FILE --ca FILE\n");
	usage_error(dir, conf_noca, "usage: acgw-mockdispatch -l ADDR:PORT "
	    "--cert FILE --key FILE --ca FILE\n");
	usage_error(dir, ra_noca, "usage: acgw-mockra -u URL --ca FILE "
	    "(--cert FILE --key FILE | --certs DIR)\n");

	r = tl_run(dir, md_v, 10000);
	ck_assert_int_eq(r.status, 0);
	snprintf(want, sizeof(want), "acgw-mockdispatch %s\n", PACKAGE_VERSION);
	ck_assert_str_eq(r.out, want);
	ck_assert_str_eq(r.err, "");
	tl_run_free(&r);
	r = tl_run(dir, ra_v, 10000);
	ck_assert_int_eq(r.status, 0);
	snprintf(want, sizeof(want), "acgw-mockra %s\n", PACKAGE_VERSION);
	ck_assert_str_eq(r.out, want);
	ck_assert_str_eq(r.err, "");
	tl_run_free(&r);
	tl_rmrf(dir);
	free(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mock");
	TCase *play = tl_tcase(s, "play", 60);
	TCase *check = tl_tcase(s, "check", 60);
	TCase *tls = tl_tcase(s, "tls", 60);
	char tmpl[] = "/tmp/acgw-mock.XXXXXX", cmd[512];
	int rc;

	if (mkdtemp(tmpl) == NULL || chmod(tmpl, 0755) != 0) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	snprintf(pki, sizeof(pki), "%s/pki", tmpl);
	if (tl_make_pki(pki) != 0)
		return EXIT_FAILURE;
	/* Room for a tool's output in a failure message. */
	check_set_max_msg_size(1 << 16);
	tcase_add_checked_fixture(play, setup, teardown);
	tcase_add_checked_fixture(check, setup, teardown);
	tcase_add_checked_fixture(tls, setup, teardown);
	tcase_add_test(play, register_event_modify_cancel_report);
	tcase_add_test(play, report_values);
	tcase_add_test(play, behaviours);
	tcase_add_test(play, implied_cancellation);
	tcase_add_test(play, outage_recovery);
	tcase_add_test(play, two_report_requests);
	tcase_add_test(play, late_answers_to_two_events);
	tcase_add_test(check, scenario_errors);
	tcase_add_test(check, scenario_same_time_reference);
	tcase_add_test(check, example_scenarios);
	tcase_add_test(check, behaviour_errors);
	tcase_add_test(check, usage_and_version);
	tcase_add_test(tls, tls_conformance);
	rc = tl_run_suite(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", tmpl);
	return rc;
}
