/*
 * The relay end to end: acgw-mockdispatch (the TSO's VTN) <- acgwd ->
 * acgw-mockra (the RAs' VENs), over real mTLS on loopback with the
 * throwaway PKI, every payload acgwd builds or takes checked against the
 * OpenADR 2.0b schema (oadr.schema).
 *
 * Registration and the three allocation rules (exact watts, largest
 * remainder), modifications, explicit and implied cancellations, optOut
 * and late RAs with their parts moved and the coverage told upstream,
 * telemetry summed per interval with its quality flags when an RA falls
 * silent, invalid upstream events refused with nothing relayed, a venID
 * that is not the certificate's (463), the R1 link lost and restored,
 * and acgwd killed -9 twenty times while it relays.
 *
 * Every process a test starts is stopped by the test, and killed at exit
 * (and by PR_SET_PDEATHSIG) if an assertion ends the test first. The
 * tools' and acgwd's output is checked for sanitizer reports.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "acgw/json.h"
#include "../lib/testlib.h"

#define PATHLEN 512
#define NRAS 3

static char pki[64];

/* The configured RAs: name, contracted W, rank, static share (%). */
static const char *const ra_name[NRAS] = { "ra1", "ra2", "ra3" };
static const int64_t ra_contracted[NRAS] = { 1500000, 1500000, 800000 };
static const int64_t ra_rank[NRAS] = { 2, 1, 3 };
static const int64_t ra_share[NRAS] = { 50, 30, 20 };

/* ---- processes ------------------------------------------------------ */

static pid_t kids[16];

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

static void
kill9(pid_t pid)
{
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(reap(pid, 10000), 128 + SIGKILL);
}

/* ---- files and text --------------------------------------------------- */

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

	if (n > 3000)
		memmove(s, s + n - 3000, 3001);
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

		ck_assert_msg(p == NULL, "%s: sanitizer report:\n%.3000s", what,
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

static size_t
count(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static size_t
count_file(const char *path, const char *needle)
{
	char *s = tl_read(path);
	size_t n = count(s, needle);

	free(s);
	return n;
}

/* A copy of the text between from and to after p (NULL if absent). */
static char *
between(const char *p, const char *end, const char *from, const char *to)
{
	const char *a = strstr(p, from), *b;

	if (a == NULL || (end != NULL && a >= end))
		return NULL;
	a += strlen(from);
	if ((b = strstr(a, to)) == NULL || (end != NULL && b > end))
		return NULL;
	return strndup(a, (size_t)(b - a));
}

/* kW as a payload writes it, in watts (the values are whole watts). */
static int64_t
kw_to_w(const char *s)
{
	char *e;
	double v = strtod(s, &e);

	ck_assert_msg(e != s && *e == '\0', "\"%s\" is not a number", s);
	return llround(v * 1000);
}

/* Seconds since the epoch of an xcal date-time, 2026-11-22T05:29:39Z. */
static int64_t
utc_seconds(const char *s)
{
	struct tm tm;
	const char *e;

	memset(&tm, 0, sizeof(tm));
	e = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	ck_assert_msg(e != NULL && *e == '\0', "\"%s\" is not a UTC time", s);
	return (int64_t)timegm(&tm);
}

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- JSON ----------------------------------------------------------- */

static struct json_value *
parse_json(const char *what, const char *s)
{
	char err[128];
	struct json_value *v = json_parse(s, strlen(s), err, sizeof(err));

	ck_assert_msg(v != NULL, "%s is not JSON (%s): %s", what, err, s);
	return v;
}

static struct json_value *
load_json(const char *path)
{
	char *s = tl_read(path);
	struct json_value *v = parse_json(path, s);

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

/* The element of array whose member key is value, or NULL. */
static const struct json_value *
find_by(const struct json_value *o, const char *array, const char *key,
    const char *value)
{
	const struct json_value *a = jget(o, array, JSON_ARRAY);

	for (size_t i = 0; i < a->n; i++) {
		const struct json_value *k = json_get(a->items[i], key);

		if (k != NULL && k->type == JSON_STRING &&
		    strcmp(k->string, value) == 0)
			return a->items[i];
	}
	return NULL;
}

static const struct json_value *
by(const struct json_value *o, const char *array, const char *key,
    const char *value)
{
	const struct json_value *v = find_by(o, array, key, value);

	ck_assert_msg(v != NULL, "no %s entry with %s %s", array, key, value);
	return v;
}

/* acgwctl events: the row of one event ... */
static const struct json_value *
event_row(const struct json_value *ev, const char *event)
{
	return by(ev, "events", "event", event);
}

/* ... and the allocation of one event to one RA (NULL: none). */
static const struct json_value *
find_alloc(const struct json_value *ev, const char *event, const char *ra)
{
	const struct json_value *a = jget(ev, "allocations", JSON_ARRAY);

	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(jstr(a->items[i], "event"), event) &&
		    !strcmp(jstr(a->items[i], "ra"), ra))
			return a->items[i];
	return NULL;
}

static const struct json_value *
alloc_of(const struct json_value *ev, const char *event, const char *ra)
{
	const struct json_value *a = find_alloc(ev, event, ra);

	ck_assert_msg(a != NULL, "no allocation of %s to %s", event, ra);
	return a;
}

/* A JSON array of integers equals want[0..n). */
static void
assert_ints(const struct json_value *arr, const int64_t *want, size_t n,
    const char *what)
{
	char *txt = tl_json_text(arr);

	ck_assert_msg(arr->type == JSON_ARRAY && arr->n == n, "%s: %s, want "
	    "%zu values", what, txt, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(arr->items[i]->type == JSON_NUMBER &&
		    arr->items[i]->is_int && arr->items[i]->integer == want[i],
		    "%s: %s, value %zu should be %lld", what, txt, i,
		    (long long)want[i]);
	free(txt);
}

/* ---- the allocation rules, worked out independently ---------------- */

enum { RULE_PROPORTIONAL, RULE_PRIORITY, RULE_STATIC };

/*
 * What acgwd must give each RA of target watts: proportional to the
 * contracted power or to the static share, capped at each one's
 * capacity (the excess shared again among the others), whole watts by
 * largest remainder (ties to the lower index); priority fills in rank
 * order. eligible[i] == 0: gets nothing.
 */
static void
ref_allocate(int rule, int64_t target, const int *eligible, int64_t *out)
{
	int open[NRAS];
	int64_t cap = 0, total, weight[NRAS];

	for (size_t i = 0; i < NRAS; i++) {
		out[i] = 0;
		open[i] = eligible[i];
		weight[i] = rule == RULE_STATIC ? ra_share[i] : ra_contracted[i];
		if (eligible[i])
			cap += ra_contracted[i];
	}
	total = target < cap ? target : cap;
	if (rule == RULE_PRIORITY) {
		int64_t left = total;

		for (int64_t rank = 1; rank <= NRAS; rank++)
			for (size_t i = 0; i < NRAS; i++)
				if (ra_rank[i] == rank && eligible[i]) {
					out[i] = left < ra_contracted[i] ? left :
					    ra_contracted[i];
					left -= out[i];
				}
		return;
	}
	for (;;) {
		__int128 wsum = 0;
		int capped = 0;
		__int128 rem[NRAS];
		int64_t given = 0;

		for (size_t i = 0; i < NRAS; i++)
			if (open[i])
				wsum += weight[i];
		if (wsum == 0)
			return;
		for (size_t i = 0; i < NRAS; i++)
			if (open[i] && (__int128)total * weight[i] >
			    (__int128)ra_contracted[i] * wsum) {
				out[i] = ra_contracted[i];
				total -= ra_contracted[i];
				open[i] = 0;
				capped = 1;
			}
		if (capped)
			continue;
		for (size_t i = 0; i < NRAS; i++) {
			rem[i] = -1;
			if (!open[i])
				continue;
			out[i] = (int64_t)((__int128)total * weight[i] / wsum);
			rem[i] = (__int128)total * weight[i] % wsum;
			given += out[i];
		}
		for (; given < total; given++) {
			size_t best = NRAS;

			for (size_t i = 0; i < NRAS; i++)
				if (rem[i] >= 0 && (best == NRAS ||
				    rem[i] > rem[best]))
					best = i;
			ck_assert(best < NRAS);
			out[best]++;
			rem[best] = -1;
		}
		return;
	}
}

/* The parts of each interval: parts[ra][interval]. */
static void
ref_parts(int rule, const int64_t *target, size_t n, const int *eligible,
    int64_t parts[NRAS][8])
{
	for (size_t k = 0; k < n; k++) {
		int64_t out[NRAS];

		ref_allocate(rule, target[k], eligible, out);
		for (size_t i = 0; i < NRAS; i++)
			parts[i][k] = out[i];
	}
}

/* The allocations of event in acgwctl's events are exactly parts. */
static void
assert_parts(const struct json_value *ev, const char *event,
    int64_t parts[NRAS][8], size_t n)
{
	ck_assert_uint_eq(jget(event_row(ev, event), "target_w",
	    JSON_ARRAY)->n, n);
	for (size_t i = 0; i < NRAS; i++) {
		char what[128];

		snprintf(what, sizeof(what), "%s to %s", event, ra_name[i]);
		assert_ints(jget(alloc_of(ev, event, ra_name[i]), "watts",
		    JSON_ARRAY), parts[i], n, what);
	}
}

/* ---- a run: mockdispatch, acgwd and fleets of mockra ---------------- */

struct fleet {
	char certs[PATHLEN], beh[PATHLEN], log[PATHLEN], json[PATHLEN];
	char out[PATHLEN];
	char push[64];			/* --push HOST:PORT, or "" */
	pid_t pid;
};

struct env {
	char dir[64];
	char cfg[PATHLEN], state[PATHLEN], alog[PATHLEN];
	char sock[100];
	char audit[PATHLEN];
	char scen[PATHLEN], md_out[PATHLEN], md_log[PATHLEN], md_json[PATHLEN];
	int r3_port, md_port;
	int with_audit, with_r1;
	const char *r1_extra;		/* more r1 lines */
	const char *ra2_ven_id;		/* peers[1].ven_id */
	int push_port;			/* peers[2].push_url's, or 0 */
	pid_t md, ad;
	struct fleet fleet[3];
	size_t nfleet;
};

static void
env_path(struct env *e, char *buf, const char *name)
{
	char tmp[PATHLEN];

	snprintf(tmp, sizeof(tmp), "%s/%s", e->dir, name);
	memcpy(buf, tmp, sizeof(tmp));
}

static void
pki_file(char *buf, const char *name)
{
	snprintf(buf, PATHLEN, "%s/%s", pki, name);
}

static char *
pin_of(const char *cert)
{
	char p[PATHLEN], *s;

	snprintf(p, sizeof(p), "%s/%s.pin", pki, cert);
	s = tl_read(p);
	s[strcspn(s, "\n")] = '\0';
	ck_assert_msg(strlen(s) == 64, "%s: %s", p, s);
	return s;
}

static struct tl_run
ctl_run(struct env *e, const char *a1, const char *a2, const char *a3,
    const char *a4)
{
	char *argv[] = { (char *)tl_env("ACGWCTL"), "-s", e->sock,
	    (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL };

	return tl_run(e->dir, argv, 15000);
}

/* acgwctl --json CMD: its reply, which must be a success. */
static struct json_value *
ctl_json(struct env *e, const char *cmd)
{
	struct tl_run r = ctl_run(e, "--json", cmd, NULL, NULL);
	struct json_value *v;

	ck_assert_msg(r.status == 0, "acgwctl %s: exit %d: %s%s", cmd,
	    r.status, r.out, r.err);
	assert_clean("acgwctl", r.err);
	v = parse_json(cmd, r.out);
	ck_assert(jbool(v, "ok"));
	tl_run_free(&r);
	return v;
}

/* The same reply straight from the control socket (for polling). */
static struct json_value *
ctl_poll(struct env *e, const char *cmd)
{
	char *s = tl_request(e->sock, cmd);
	struct json_value *v = parse_json(cmd, s);

	free(s);
	ck_assert_msg(jbool(v, "ok"), "%s failed", cmd);
	return v;
}

static void
env_init(struct env *e, int with_audit)
{
	char *d = tl_tmpdir();

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s", d);
	free(d);
	env_path(e, e->cfg, "acgwd.yaml");
	snprintf(e->sock, sizeof(e->sock), "%s/control.sock", e->dir);
	env_path(e, e->state, "state");
	env_path(e, e->alog, "acgwd.log");
	env_path(e, e->audit, "audit");
	env_path(e, e->scen, "scenario.yaml");
	env_path(e, e->md_out, "md.out");
	env_path(e, e->md_log, "md.log");
	env_path(e, e->md_json, "md.json");
	e->r3_port = tl_free_port();
	do
		e->md_port = tl_free_port();
	while (e->md_port == e->r3_port);
	e->with_audit = with_audit;
	e->with_r1 = 1;
	if (with_audit) {
		struct tl_run r = ctl_run(e, "audit", "init", "--dir", e->audit);

		ck_assert_msg(r.status == 0, "audit init: %s%s", r.out, r.err);
		tl_run_free(&r);
	}
}

static void
env_free(struct env *e)
{
	tl_rmrf(e->dir);
}

/*
 * acgwd.yaml: the three RAs (ra1, ra2 1500 kW; ra3 800 kW; ranks 2, 1,
 * 3; static shares 50, 30, 20 %), the schema, and dispatch lines extra
 * (rule, deadlines).
 */
static void
write_config(struct env *e, const char *dispatch)
{
	char ca[PATHLEN], r3cert[PATHLEN], r3key[PATHLEN], tca[PATHLEN];
	char r1cert[PATHLEN], r1key[PATHLEN], audit[PATHLEN + 64];
	char r1[4 * PATHLEN + 256], peers[4096], push[64];
	size_t used = 0;

	pki_file(ca, "ca.pem");
	pki_file(r3cert, "r3-server.pem");
	pki_file(r3key, "r3-server.key");
	pki_file(tca, "tso-ca.pem");
	pki_file(r1cert, "r1-client.pem");
	pki_file(r1key, "r1-client.key");
	push[0] = '\0';
	if (e->push_port)
		snprintf(push, sizeof(push), ", push_url: "
		    "\"https://127.0.0.1:%d\"", e->push_port);
	for (size_t i = 0; i < NRAS; i++) {
		char *pin = pin_of(ra_name[i]);

		used += (size_t)snprintf(peers + used, sizeof(peers) - used,
		    "  - {name: %s, ca: %s, pins: [\"%s\"], sources: "
		    "[127.0.0.1/32], contracted: %lldkW, rank: %lld, share: "
		    "%lld%s%s%s}\n", ra_name[i], ca, pin,
		    (long long)(ra_contracted[i] / 1000),
		    (long long)ra_rank[i], (long long)ra_share[i],
		    i == 1 && e->ra2_ven_id ? ", ven_id: " : "",
		    i == 1 && e->ra2_ven_id ? e->ra2_ven_id : "",
		    i == 2 ? push : "");
		free(pin);
		ck_assert_uint_lt(used, sizeof(peers));
	}
	if (e->with_audit)
		snprintf(audit, sizeof(audit), "audit:\n  dir: %s\n  syslog: "
		    "false\n", e->audit);
	else
		snprintf(audit, sizeof(audit), "audit:\n  enabled: false\n");
	if (e->with_r1)
		snprintf(r1, sizeof(r1), "r1:\n  url: https://127.0.0.1:%d\n"
		    "  server_name: tso.test\n  ca: %s\n  cert: %s\n  key: %s\n"
		    "  poll_interval: 1s\n  backoff_initial: 100ms\n"
		    "  backoff_max: 1s\n%s", e->md_port, tca, r1cert, r1key,
		    e->r1_extra ? e->r1_extra : "");
	else
		r1[0] = '\0';
	tl_write(e->cfg,
	    "log:\n  level: debug\n"
	    "%s"
	    "control:\n  socket: %s\n"
	    "oadr:\n  schema: %s/schema\n"
	    "dispatch:\n  state_dir: %s\n  ra_poll_interval: 1s\n%s"
	    "r3:\n  listen: \"127.0.0.1:%d\"\n  cert: %s\n  key: %s\n"
	    "  requests_per_second: 200\n  request_burst: 400\n"
	    "peers:\n%s%s",
	    audit, e->sock, tl_env("ACGW_OPENADR_DIR"), e->state, dispatch,
	    e->r3_port, r3cert, r3key, peers, r1);
}

/* acgwd on e->cfg; returns once its control socket answers. */
static void
acgwd_start(struct env *e)
{
	char *argv[] = { (char *)tl_env("ACGWD"), "-f", "-c", e->cfg, NULL };

	e->ad = spawn(argv, e->alog);
	/*
	 * The control socket answers before R3 listens (the audit log and
	 * the state are opened in between, slow on a slow disk): ready is
	 * the "started" line.
	 */
	if (!tl_wait_socket(e->sock, 20000) || !tl_wait_file_contains(e->alog,
	    " started: pid ", 20000)) {
		int st = reap(e->ad, 0);

		ck_abort_msg("acgwd did not start (exit %d):\n%s", st,
		    tail(e->alog));
	}
}

/*
 * What every run's acgwd log must not have: a payload it could not
 * build (the schema refused it), an answer of the TSO it refused, a
 * state it could not write, a sanitizer report.
 */
static void
assert_acgwd_log(struct env *e)
{
	char *s = tl_read(e->alog);
	const char *p;

	assert_clean("acgwd", s);
	p = strstr(s, "cannot build");
	ck_assert_msg(p == NULL, "acgwd: %.600s", p);
	p = strstr(s, "warning: relay: the TSO's answer");
	ck_assert_msg(p == NULL, "acgwd: %.600s", p);
	p = strstr(s, "cannot write the state");
	ck_assert_msg(p == NULL, "acgwd: %.600s", p);
	free(s);
}

static void
acgwd_stop(struct env *e)
{
	int st;

	kill(e->ad, SIGTERM);
	st = reap(e->ad, 15000);
	ck_assert_msg(st == 0, "acgwd exited %d (-1: still running 15 s after "
	    "SIGTERM):\n%s", st, tail(e->alog));
	e->ad = 0;
	assert_acgwd_log(e);
}

/* A fleet of mockra: the given RA certificates, this behaviour. */
static struct fleet *
fleet_add(struct env *e, const char *const *certs, const char *behaviour)
{
	struct fleet *f = &e->fleet[e->nfleet];
	char name[32], from[PATHLEN], to[PATHLEN + 64];

	ck_assert_uint_lt(e->nfleet, 3);
	snprintf(name, sizeof(name), "fleet%zu", e->nfleet);
	env_path(e, f->certs, name);
	ck_assert_int_eq(mkdir(f->certs, 0755), 0);
	for (size_t i = 0; certs[i] != NULL; i++) {
		snprintf(from, sizeof(from), "%s/%s.pem", pki, certs[i]);
		snprintf(to, sizeof(to), "%s/%s.pem", f->certs, certs[i]);
		copy_file(from, to, 0644);
		snprintf(from, sizeof(from), "%s/%s.key", pki, certs[i]);
		snprintf(to, sizeof(to), "%s/%s.key", f->certs, certs[i]);
		copy_file(from, to, 0600);
	}
	snprintf(name, sizeof(name), "fleet%zu.yaml", e->nfleet);
	env_path(e, f->beh, name);
	snprintf(name, sizeof(name), "fleet%zu.log", e->nfleet);
	env_path(e, f->log, name);
	snprintf(name, sizeof(name), "fleet%zu.json", e->nfleet);
	env_path(e, f->json, name);
	snprintf(name, sizeof(name), "fleet%zu.out", e->nfleet);
	env_path(e, f->out, name);
	tl_write(f->beh, "%s", behaviour);
	e->nfleet++;
	return f;
}

/* Its RAs poll at the interval acgwd asks for (1 s), logging payloads. */
static void
fleet_start(struct env *e, struct fleet *f)
{
	char ca[PATHLEN], url[64];
	char *argv[] = { (char *)tl_env("MOCKRA"), "-v", "-u", url, "--ca", ca,
	    "--certs", f->certs, "--behaviour", f->beh, "--duration", "150s",
	    "--json", f->json, "--log", f->log, NULL, NULL, NULL };

	pki_file(ca, "ca.pem");
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", e->r3_port);
	if (f->push[0]) {
		argv[16] = "--push";
		argv[17] = f->push;
	}
	f->pid = spawn(argv, f->out);
}

/* SIGTERM: mockra writes its results and exits 0. */
static struct json_value *
fleet_stop(struct fleet *f)
{
	int st;

	kill(f->pid, SIGTERM);
	st = reap(f->pid, 10000);
	ck_assert_msg(st == 0, "acgw-mockra exited %d (-1: still running 10 s "
	    "after SIGTERM):\n%s\nlog:\n%s", st, tl_read(f->out),
	    tail(f->log));
	assert_clean_file("acgw-mockra", f->out);
	f->pid = 0;
	return load_json(f->json);
}

/* Until every RA is registered and offers its telemetry (10 s). */
static void
wait_registered(struct env *e, size_t n)
{
	long end = tl_now_ms() + 15000;

	for (;;) {
		struct json_value *v = ctl_poll(e, "ras");
		const struct json_value *a = jget(v, "ras", JSON_ARRAY);
		size_t reg = 0;

		for (size_t i = 0; i < a->n; i++)
			if (!strcmp(jstr(a->items[i], "registration"),
			    "registered") && jint(a->items[i], "requests") >= 4)
				reg++;
		json_value_free(v);
		if (reg >= n)
			return;
		ck_assert_msg(tl_now_ms() < end, "only %zu of %zu RAs registered "
		    "after 15 s:\n%s", reg, n, tail(e->alog));
		usleep(100000);
	}
}

/* mockdispatch plays text; returns once it listens. */
static void
md_start(struct env *e, const char *text, const char *timeout)
{
	char cert[PATHLEN], key[PATHLEN], ca[PATHLEN], listen[64];
	char *argv[] = { (char *)tl_env("MOCKDISPATCH"), "-v", "-l", listen,
	    "--cert", cert, "--key", key, "--ca", ca, "-s", e->scen,
	    "--json", e->md_json, "--log", e->md_log, "--timeout",
	    (char *)timeout, NULL };

	tl_write(e->scen, "%s", text);
	pki_file(cert, "tso-server.pem");
	pki_file(key, "tso-server.key");
	pki_file(ca, "tso-ca.pem");
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", e->md_port);
	e->md = spawn(argv, e->md_out);
	ck_assert_msg(tl_wait_file_contains(e->md_log, "== listening on ",
	    10000), "acgw-mockdispatch did not start:\n%s", tl_read(e->md_out));
}

/* mockdispatch's exit status must be want; its summary is returned. */
static char *
md_wait(struct env *e, int want, int ms)
{
	int st = reap(e->md, ms);
	char *out = tl_read(e->md_out);

	ck_assert_msg(st == want, "acgw-mockdispatch exited %d, not %d:\n%s\n"
	    "log:\n%s\nacgwd:\n%s", st, want, out, tail(e->md_log),
	    tail(e->alog));
	assert_clean("acgw-mockdispatch", out);
	e->md = 0;
	return out;
}

/* The result of mockdispatch's step n (1-based). */
static const struct json_value *
md_step(const struct json_value *md, size_t n)
{
	const struct json_value *a = jget(md, "steps", JSON_ARRAY);

	ck_assert_uint_ge(a->n, n);
	ck_assert_int_eq(jint(a->items[n - 1], "step"), (int64_t)n);
	return a->items[n - 1];
}

static void
assert_md_pass(const struct json_value *md, size_t n, const char *prefix)
{
	const struct json_value *s = md_step(md, n);
	const struct json_value *m = json_get(s, "message");

	ck_assert_msg(!strcmp(jstr(s, "result"), "pass"), "step %zu: %s: %s",
	    n, jstr(s, "result"), m ? m->string : "(no message)");
	ck_assert_msg(m != NULL && !strncmp(m->string, prefix,
	    strlen(prefix)), "step %zu: \"%s\" does not start with \"%s\"",
	    n, m ? m->string : "", prefix);
}

/* acgwd's latest answer to event, as mockdispatch recorded it. */
static void
assert_md_response(const struct json_value *md, const char *event,
    int64_t mod, const char *opt)
{
	const struct json_value *v = jget(md, "vens", JSON_ARRAY);
	const struct json_value *r;

	ck_assert_uint_eq(v->n, 1);
	r = by(v->items[0], "responses", "event", event);
	ck_assert_int_eq(jint(r, "modification"), mod);
	ck_assert_str_eq(jstr(r, "opt"), opt);
}

/* Polls acgwctl events until cond holds (or fails after ms). */
typedef int (*events_cond)(const struct json_value *ev, const void *arg);

static struct json_value *
wait_events(struct env *e, events_cond cond, const void *arg, int ms,
    const char *what)
{
	long end = tl_now_ms() + ms;

	for (;;) {
		struct json_value *v = ctl_poll(e, "events");
		char *txt;

		if (cond(v, arg))
			return v;
		if (tl_now_ms() >= end) {
			txt = tl_json_text(v);
			ck_abort_msg("%s: not after %d ms:\n%s\nacgwd:\n%s", what,
			    ms, txt, tail(e->alog));
		}
		json_value_free(v);
		usleep(100000);
	}
}

/* Every allocation of the event has this answer and was delivered. */
struct answered {
	const char *event;
	const char *answer[NRAS];	/* NULL: any */
	int cancelled;			/* -1: any */
};

static int
all_answered(const struct json_value *ev, const void *arg)
{
	const struct answered *w = arg;

	for (size_t i = 0; i < NRAS; i++) {
		const struct json_value *a = find_alloc(ev, w->event,
		    ra_name[i]);

		if (w->answer[i] == NULL)
			continue;
		if (a == NULL || strcmp(jstr(a, "delivery"), "delivered") ||
		    strcmp(jstr(a, "answer"), w->answer[i]) ||
		    (w->cancelled >= 0 && jbool(a, "cancelled") != w->cancelled))
			return 0;
	}
	return 1;
}

/* ---- OpenADR by hand: curl as an RA --------------------------------- */

/* POSTs body to service as RA cert; the HTTP status, *reply its body. */
static int
post_as(struct env *e, const char *cert, const char *service,
    const char *body, char **reply)
{
	static int seq;
	char ca[PATHLEN], pem[PATHLEN], key[PATHLEN], in[PATHLEN];
	char out[PATHLEN], url[256], name[32], data[PATHLEN + 8];
	char *argv[] = { "/usr/bin/curl", "-sS", "--max-time", "10",
	    "--cacert", ca, "--cert", pem, "--key", key, "-H",
	    "Content-Type: application/xml", "--data-binary", data, "-o", out,
	    "-w", "%{http_code}", url, NULL };
	struct tl_run r;
	int code;

	pki_file(ca, "ca.pem");
	snprintf(pem, sizeof(pem), "%s/%s.pem", pki, cert);
	snprintf(key, sizeof(key), "%s/%s.key", pki, cert);
	snprintf(name, sizeof(name), "post%d.xml", seq);
	env_path(e, in, name);
	snprintf(name, sizeof(name), "reply%d", seq++);
	env_path(e, out, name);
	snprintf(data, sizeof(data), "@%s", in);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/OpenADR2/Simple/"
	    "2.0b/%s", e->r3_port, service);
	tl_write(in, "%s", body);
	r = tl_run(e->dir, argv, 20000);
	ck_assert_msg(r.status == 0, "curl: exit %d: %s", r.status, r.err);
	code = atoi(r.out);
	tl_run_free(&r);
	*reply = tl_read(out);
	return code;
}

static const char poll_fmt[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<oadr:oadrPoll ei:schemaVersion=\"2.0b\" "
    "xmlns:ei=\"http://docs.oasis-open.org/ns/energyinterop/201110\" "
    "xmlns:oadr=\"http://openadr.org/oadr-2.0b/2012/07\">"
    "<ei:venID>%s</ei:venID></oadr:oadrPoll>\n";

static const char request_event_fmt[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<oadr:oadrRequestEvent ei:schemaVersion=\"2.0b\" "
    "xmlns:ei=\"http://docs.oasis-open.org/ns/energyinterop/201110\" "
    "xmlns:pyld=\"http://docs.oasis-open.org/ns/energyinterop/201110/"
    "payloads\" xmlns:oadr=\"http://openadr.org/oadr-2.0b/2012/07\">"
    "<pyld:eiRequestEvent><pyld:requestID>test-%s</pyld:requestID>"
    "<ei:venID>%s</ei:venID></pyld:eiRequestEvent>"
    "</oadr:oadrRequestEvent>\n";

/*
 * The RA-side event as acgwd hands it to RA ra (asked with
 * oadrRequestEvent under its certificate, after it answered, so that
 * nothing is left to deliver): its modification number, and its values
 * in kW with the scale code k, as watts.
 */
static void
ra_side_event(struct env *e, const char *ra, const char *event,
    int64_t *mod, int64_t *watts, size_t n)
{
	char body[2048], want[128], *reply, *p, *end, *s;
	size_t k = 0;

	snprintf(body, sizeof(body), request_event_fmt, ra, ra);
	ck_assert_int_eq(post_as(e, ra, "EiEvent", body, &reply), 200);
	snprintf(want, sizeof(want), "<ei:eventID>%s</ei:eventID>", event);
	p = strstr(reply, want);
	ck_assert_msg(p != NULL, "%s: %s", ra, reply);
	end = strstr(p, "</ei:eiEvent>");
	ck_assert_ptr_nonnull(end);
	s = between(p, end, "<ei:modificationNumber>",
	    "</ei:modificationNumber>");
	ck_assert_ptr_nonnull(s);
	*mod = atoll(s);
	free(s);
	/* Real power in W, scale k: the values are kW. */
	s = between(p, end, "<power:powerReal>", "</power:powerReal>");
	ck_assert_msg(s != NULL, "%s: no powerReal: %.2000s", ra, p);
	ck_assert_msg(strstr(s, "<power:itemUnits>W</power:itemUnits>"
	    "<scale:siScaleCode>k</scale:siScaleCode>") != NULL,
	    "%s: powerReal %s", ra, s);
	free(s);
	/* Target: this RA's venID. */
	snprintf(want, sizeof(want), "<ei:venID>%s</ei:venID>", ra);
	ck_assert_msg(strstr(p, want) != NULL, "%s: %.2000s", ra, p);
	for (char *iv = p; (iv = strstr(iv, "<ei:interval>")) != NULL &&
	    iv < end; iv++) {
		char *ivend = strstr(iv, "</ei:interval>");

		s = between(iv, ivend, "<ei:value>", "</ei:value>");
		ck_assert_msg(s != NULL, "%s: %.1000s", ra, iv);
		ck_assert_uint_lt(k, n);
		watts[k++] = kw_to_w(s);
		free(s);
	}
	ck_assert_msg(k == n, "%s: %zu intervals, not %zu", ra, k, n);
	free(reply);
}

/* ---- mockra's log ---------------------------------------------------- */

/* How often RA ra (its CN) took event at modification mod with status. */
static size_t
ra_took(const struct fleet *f, const char *ra, const char *event,
    int64_t mod, const char *status)
{
	char want[160];

	snprintf(want, sizeof(want), "(%s)    event %s modification %lld %s\n",
	    ra, event, (long long)mod, status);
	return count_file(f->log, want);
}

/* The RA's last word on event in mockra's results. */
static void
assert_ra_event(const struct json_value *ra_json, const char *ra,
    const char *event, int64_t mod, const char *status, const char *response)
{
	const struct json_value *v = by(ra_json, "ras", "cn", ra);
	const struct json_value *ev = by(v, "events", "event", event);

	ck_assert_str_eq(jstr(v, "ven_id"), ra);
	ck_assert(jbool(v, "registered"));
	ck_assert_msg(jint(ev, "modification") == mod, "%s %s: modification "
	    "%lld, not %lld", ra, event, (long long)jint(ev, "modification"),
	    (long long)mod);
	ck_assert_str_eq(jstr(ev, "status"), status);
	ck_assert_str_eq(jstr(ev, "response"), response);
}

/* ---- scenarios ------------------------------------------------------ */

static const char *const all_ras[] = { "ra1", "ra2", "ra3", NULL };

static const char optin_fleet[] =
    "default: {response: optIn, contracted_kw: 1500, noise: 0}\n"
    "ras:\n"
    "  - {cn: ra3, contracted_kw: 800}\n";

/* acgwd and the three RAs up and registered, then mockdispatch. */
static void
start_all(struct env *e, const char *dispatch, const char *fleet,
    const char *scenario, const char *timeout)
{
	write_config(e, dispatch);
	acgwd_start(e);
	fleet_start(e, fleet_add(e, all_ras, fleet));
	wait_registered(e, NRAS);
	md_start(e, scenario, timeout);
}

/*
 * Registration, and one event split in proportion to the contracted
 * power: exact watts, largest remainder, summing to the target; the
 * RAs see their parts in kW and opt in; acgwd opts in upstream.
 */
START_TEST(registration_and_proportional)
{
	static const int64_t target[] = { 3000000, 1234567 };
	static const int64_t want[NRAS][2] = {
		{ 1184211, 487329 }, { 1184210, 487329 }, { 631579, 259909 } };
	static const int elig[NRAS] = { 1, 1, 1 };
	struct answered ans = { "EV-P", { "optIn", "optIn", "optIn" }, 0 };
	struct env e;
	struct json_value *md, *ev, *ras, *r1, *ra;
	const struct json_value *row, *v;
	int64_t parts[NRAS][8], mod, got[2];
	char *out;

	env_init(&e, 0);
	start_all(&e, "  rule: proportional\n  ack_deadline: 3s\n",
	    optin_fleet,
	    "name: proportional\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-P, interval: 5m, values: [3000, 1234.567]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-P, opt: optIn, vens: 1, "
	    "within: 10s}\n", "30s");
	out = md_wait(&e, 0, 40000);
	ck_assert_msg(strstr(out, "2 expectation(s) held, 0 failed, 1 VEN(s) "
	    "seen") != NULL, "%s", out);
	free(out);
	md = load_json(e.md_json);
	ck_assert(jbool(md, "passed"));
	assert_md_pass(md, 3, "expected optIn to EV-P (its latest "
	    "modification) from 1 VEN(s) within 10s: held at +");
	assert_md_response(md, "EV-P", 0, "optIn");
	ck_assert_int_eq(jint(jget(md, "messages", JSON_OBJECT), "refused"), 0);
	json_value_free(md);

	/* The split: computed here, and as literal figures. */
	ref_parts(RULE_PROPORTIONAL, target, 2, elig, parts);
	for (size_t i = 0; i < NRAS; i++)
		for (size_t k = 0; k < 2; k++)
			ck_assert_int_eq(parts[i][k], want[i][k]);
	ev = wait_events(&e, all_answered, &ans, 10000, "EV-P answered");
	json_value_free(ev);
	ev = ctl_json(&e, "events");
	ck_assert_uint_eq(jget(ev, "events", JSON_ARRAY)->n, 1);
	row = event_row(ev, "EV-P");
	ck_assert_int_eq(jint(row, "modification"), 0);
	ck_assert_str_eq(jstr(row, "state"), "active");
	assert_ints(jget(row, "target_w", JSON_ARRAY), target, 2, "target");
	ck_assert_int_eq(jint(row, "coverage_pct"), 100);
	ck_assert_str_eq(jstr(row, "answered_tso"), "optIn");
	ck_assert_ptr_null(json_get(row, "reason"));
	ck_assert_uint_eq(jget(ev, "allocations", JSON_ARRAY)->n, NRAS);
	assert_parts(ev, "EV-P", parts, 2);
	for (size_t k = 0; k < 2; k++)
		ck_assert_int_eq(parts[0][k] + parts[1][k] + parts[2][k],
		    target[k]);
	for (size_t i = 0; i < NRAS; i++) {
		v = alloc_of(ev, "EV-P", ra_name[i]);
		ck_assert_int_eq(jint(v, "modification"), 0);
		ck_assert_str_eq(jstr(v, "delivery"), "delivered");
		ck_assert_str_eq(jstr(v, "answer"), "optIn");
		ck_assert(!jbool(v, "cancelled"));
		jstr(v, "answered_at");
	}
	json_value_free(ev);

	/* Every RA registered under its own venID. */
	ras = ctl_json(&e, "ras");
	for (size_t i = 0; i < NRAS; i++) {
		v = by(ras, "ras", "ra", ra_name[i]);
		ck_assert_str_eq(jstr(v, "ven_id"), ra_name[i]);
		ck_assert_str_eq(jstr(v, "registration"), "registered");
		ck_assert(!strncmp(jstr(v, "registration_id"), "reg-", 4));
		jstr(v, "last_poll");
		ck_assert_str_eq(jstr(v, "contracted"), i < 2 ? "1500kW" :
		    "800kW");
		ck_assert_str_eq(jstr(v, "availability"), "available");
		ck_assert(!jbool(v, "events_queued"));
		ck_assert_int_eq(jint(v, "invalid"), 0);
		ck_assert_int_eq(jint(v, "venid_mismatches"), 0);
	}
	json_value_free(ras);
	r1 = ctl_json(&e, "r1");
	ck_assert_str_eq(jstr(r1, "registration"), "registered");
	ck_assert_str_eq(jstr(r1, "registration_id"), "REG-1");
	ck_assert_str_eq(jstr(r1, "vtn_id"), "MOCK-VTN");
	ck_assert(!jbool(r1, "resync_pending"));
	ck_assert_int_eq(jint(r1, "answers_owed"), 0);
	ck_assert_int_gt(jint(r1, "polls_answered"), 0);
	json_value_free(r1);

	/* What each RA is handed: its part in kW (k), modification 0. */
	for (size_t i = 0; i < NRAS; i++) {
		ra_side_event(&e, ra_name[i], "EV-P", &mod, got, 2);
		ck_assert_int_eq(mod, 0);
		ck_assert_int_eq(got[0], want[i][0]);
		ck_assert_int_eq(got[1], want[i][1]);
	}

	/* ... and what each made of it: took it once and opted in. */
	ra = fleet_stop(&e.fleet[0]);
	for (size_t i = 0; i < NRAS; i++) {
		assert_ra_event(ra, ra_name[i], "EV-P", 0, "active", "optIn");
		ck_assert_uint_eq(ra_took(&e.fleet[0], ra_name[i], "EV-P", 0,
		    "active"), 1);
	}
	ck_assert_int_eq(jint(jget(ra, "total", JSON_OBJECT), "opt_in"), NRAS);
	json_value_free(ra);
	acgwd_stop(&e);
	env_free(&e);
}
END_TEST

/*
 * Every RA has a new modification for event (its part changed), has
 * opted in, and acgwd has answered the TSO since: its answer goes up
 * after the RAs' answers are in, not with them.
 */
struct remodified {
	const char *event;
	int64_t mod;
};

static int
all_at_mod_in(const struct json_value *ev, const void *arg)
{
	const struct remodified *w = arg;
	const struct json_value *row = find_by(ev, "events", "event",
	    w->event);

	if (row == NULL || strcmp(jstr(row, "answered_tso"), "optIn"))
		return 0;
	for (size_t i = 0; i < NRAS; i++) {
		const struct json_value *a = find_alloc(ev, w->event,
		    ra_name[i]);

		if (a == NULL || jint(a, "modification") != w->mod ||
		    strcmp(jstr(a, "answer"), "optIn") ||
		    strcmp(jstr(a, "delivery"), "delivered"))
			return 0;
	}
	return 1;
}

/* acgwctl reload; it must succeed. */
static void
reload(struct env *e)
{
	struct tl_run r = ctl_run(e, "reload", NULL, NULL, NULL);

	ck_assert_msg(r.status == 0, "reload: exit %d: %s%s\n%s", r.status,
	    r.out, r.err, tail(e->alog));
	tl_run_free(&r);
}

/*
 * Priority fills in rank order (ra2, then ra1, then ra3) up to each
 * contracted power; a reload to the static rule re-splits the running
 * event by the shares (ra1's 50 % capped at its 1500 kW, the rest
 * shared again 30:20), and each RA gets a new modification; a reload
 * back to proportional re-splits it again.
 */
START_TEST(priority_and_static_rules)
{
	static const int64_t target[] = { 2000000, 3333333 };
	static const int64_t want_pri[NRAS][2] = {
		{ 500000, 1500000 }, { 1500000, 1500000 }, { 0, 333333 } };
	static const int64_t want_sta[NRAS][2] = {
		{ 1000000, 1500000 }, { 600000, 1100000 }, { 400000, 733333 } };
	static const int64_t want_pro[NRAS][2] = {
		{ 789474, 1315790 }, { 789474, 1315789 }, { 421052, 701754 } };
	static const int elig[NRAS] = { 1, 1, 1 };
	static const char *const rules[] = { "priority", "static",
	    "proportional" };
	static const int rule_of[] = { RULE_PRIORITY, RULE_STATIC,
	    RULE_PROPORTIONAL };
	const int64_t (*const want[])[2] = { want_pri, want_sta, want_pro };
	struct env e;
	struct json_value *md, *ev, *ra;
	int64_t parts[NRAS][8];
	char *out, dispatch[128];

	env_init(&e, 0);
	start_all(&e, "  rule: priority\n  ack_deadline: 3s\n", optin_fleet,
	    "name: rules\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-S, interval: 5m, values: [2000, 3333.333]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-S, opt: optIn, vens: 1, "
	    "within: 10s}\n"
	    "  - at: 9s\n"
	    "    expect_response: {event: EV-S, opt: optIn, vens: 1, "
	    "within: 10s}\n", "40s");
	for (size_t r = 0; r < 3; r++) {
		struct remodified w = { "EV-S", (int64_t)r };
		const struct json_value *row;

		if (r > 0) {
			snprintf(dispatch, sizeof(dispatch), "  rule: %s\n"
			    "  ack_deadline: 3s\n", rules[r]);
			write_config(&e, dispatch);
			reload(&e);
		}
		ref_parts(rule_of[r], target, 2, elig, parts);
		for (size_t i = 0; i < NRAS; i++)
			for (size_t k = 0; k < 2; k++)
				ck_assert_msg(parts[i][k] == want[r][i][k],
				    "%s: %s interval %zu: %lld, not %lld",
				    rules[r], ra_name[i], k,
				    (long long)parts[i][k],
				    (long long)want[r][i][k]);
		ev = wait_events(&e, all_at_mod_in, &w, 10000, rules[r]);
		assert_parts(ev, "EV-S", parts, 2);
		for (size_t k = 0; k < 2; k++)
			ck_assert_int_eq(parts[0][k] + parts[1][k] +
			    parts[2][k], target[k]);
		row = event_row(ev, "EV-S");
		/* The upstream event is unchanged: modification 0. */
		ck_assert_int_eq(jint(row, "modification"), 0);
		ck_assert_int_eq(jint(row, "coverage_pct"), 100);
		ck_assert_str_eq(jstr(row, "answered_tso"), "optIn");
		json_value_free(ev);
	}
	out = md_wait(&e, 0, 40000);
	ck_assert_msg(strstr(out, "3 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	md = load_json(e.md_json);
	assert_md_response(md, "EV-S", 0, "optIn");
	json_value_free(md);

	/* Each RA took modifications 0, 1, 2, once each, and opted in. */
	ra = fleet_stop(&e.fleet[0]);
	for (size_t i = 0; i < NRAS; i++) {
		assert_ra_event(ra, ra_name[i], "EV-S", 2, "active", "optIn");
		for (int64_t m = 0; m < 3; m++)
			ck_assert_uint_eq(ra_took(&e.fleet[0], ra_name[i],
			    "EV-S", m, "active"), 1);
	}
	json_value_free(ra);
	acgwd_stop(&e);
	env_free(&e);
}
END_TEST

/* Every RA's part of event is cancelled at this modification. */
static int
all_cancelled(const struct json_value *ev, const void *arg)
{
	const struct remodified *w = arg;
	const struct json_value *row = find_by(ev, "events", "event",
	    w->event);

	if (row == NULL || strcmp(jstr(row, "answered_tso"), "optIn"))
		return 0;
	for (size_t i = 0; i < NRAS; i++) {
		const struct json_value *a = find_alloc(ev, w->event,
		    ra_name[i]);

		if (a == NULL || jint(a, "modification") != w->mod ||
		    !jbool(a, "cancelled") ||
		    strcmp(jstr(a, "delivery"), "delivered") ||
		    json_get(a, "answered_at") == NULL)
			return 0;
	}
	return 1;
}

/*
 * A modification reaches the RAs as a new RA-side modification with the
 * new parts; a cancellation as a cancelled event; an event the TSO
 * leaves out (implied cancellation) as a cancelled event too.
 */
START_TEST(modify_cancel_implied)
{
	static const int elig[NRAS] = { 1, 1, 1 };
	static const int64_t t_m0[] = { 900000, 600000 };
	static const int64_t t_m1[] = { 1200000, 300000 };
	static const int64_t t_r[] = { 380000 };
	struct remodified m1 = { "EV-M", 1 }, m2 = { "EV-M", 2 };
	struct remodified r1 = { "EV-R", 1 };
	struct env e;
	struct json_value *md, *ev, *ra;
	const struct json_value *row;
	int64_t parts[NRAS][8];
	char *out, *audit;

	env_init(&e, 1);
	start_all(&e, "  rule: proportional\n  ack_deadline: 3s\n",
	    optin_fleet,
	    "name: modify-cancel\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-M, interval: 5m, values: [900, 600]}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-R, interval: 5m, values: [380]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-M, opt: optIn, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-R, opt: optIn, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 4s\n"
	    "    modify: {event: EV-M, values: [1200, 300]}\n"
	    "  - at: 4s\n"
	    "    expect_response: {event: EV-M, opt: optIn, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 7s\n"
	    "    cancel: {event: EV-M}\n"
	    "  - at: 7s\n"
	    "    remove: {event: EV-R}\n"
	    "  - at: 7s\n"
	    "    expect_response: {event: EV-M, opt: optIn, vens: 1, "
	    "within: 8s}\n", "40s");

	/* Modification 1 upstream: new parts, RA-side modification 1. */
	ev = wait_events(&e, all_at_mod_in, &m1, 15000, "EV-M modified");
	row = event_row(ev, "EV-M");
	ck_assert_int_eq(jint(row, "modification"), 1);
	assert_ints(jget(row, "target_w", JSON_ARRAY), t_m1, 2, "target");
	ref_parts(RULE_PROPORTIONAL, t_m1, 2, elig, parts);
	assert_parts(ev, "EV-M", parts, 2);
	ck_assert_int_eq(parts[2][0], 252632);	/* by largest remainder */
	json_value_free(ev);

	out = md_wait(&e, 0, 40000);
	ck_assert_msg(strstr(out, "5 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	md = load_json(e.md_json);
	assert_md_response(md, "EV-M", 2, "optIn");
	assert_md_response(md, "EV-R", 0, "optIn");
	json_value_free(md);

	/* The cancellation and the implied one reached every RA. */
	ev = wait_events(&e, all_cancelled, &m2, 10000, "EV-M cancelled");
	json_value_free(ev);
	ev = wait_events(&e, all_cancelled, &r1, 10000, "EV-R cancelled");
	json_value_free(ev);
	ev = ctl_json(&e, "events");
	row = event_row(ev, "EV-M");
	ck_assert_int_eq(jint(row, "modification"), 2);
	ck_assert_str_eq(jstr(row, "state"), "cancelled");
	ck_assert_str_eq(jstr(row, "answered_tso"), "optIn");
	row = event_row(ev, "EV-R");
	/* Implied: the upstream modification number does not move. */
	ck_assert_int_eq(jint(row, "modification"), 0);
	ck_assert_str_eq(jstr(row, "state"), "cancelled");
	ck_assert_str_eq(jstr(row, "answered_tso"), "optIn");
	json_value_free(ev);

	ra = fleet_stop(&e.fleet[0]);
	for (size_t i = 0; i < NRAS; i++) {
		const char *n = ra_name[i];

		ck_assert_uint_eq(ra_took(&e.fleet[0], n, "EV-M", 0, "active"),
		    1);
		ck_assert_uint_eq(ra_took(&e.fleet[0], n, "EV-M", 1, "active"),
		    1);
		ck_assert_uint_eq(ra_took(&e.fleet[0], n, "EV-M", 2,
		    "cancelled"), 1);
		ck_assert_uint_eq(ra_took(&e.fleet[0], n, "EV-R", 0, "active"),
		    1);
		ck_assert_uint_eq(ra_took(&e.fleet[0], n, "EV-R", 1,
		    "cancelled"), 1);
		assert_ra_event(ra, n, "EV-M", 2, "cancelled", "optIn");
		assert_ra_event(ra, n, "EV-R", 1, "cancelled", "optIn");
	}
	json_value_free(ra);

	/* Each upstream version was split as it came, on the record. */
	{
		struct tl_run r = ctl_run(&e, "audit", "search", "--type",
		    "dispatch.allocated");
		const int64_t *tg[] = { t_m0, t_m1, t_r };
		const char *id[] = { "EV-M", "EV-M", "EV-R" };
		const int mod[] = { 0, 1, 0 };
		const size_t nv[] = { 2, 2, 1 };

		ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
		audit = r.out;
		for (size_t x = 0; x < 3; x++) {
			char want[512];
			size_t used;

			ref_parts(RULE_PROPORTIONAL, tg[x], nv[x], elig, parts);
			used = (size_t)snprintf(want, sizeof(want),
			    "{\"event\":\"%s\",\"modification\":%d,"
			    "\"shares_w\":{", id[x], mod[x]);
			for (size_t i = 0; i < NRAS; i++) {
				used += (size_t)snprintf(want + used,
				    sizeof(want) - used, "%s\"%s\":[", i ? "," :
				    "", ra_name[i]);
				for (size_t k = 0; k < nv[x]; k++)
					used += (size_t)snprintf(want + used,
					    sizeof(want) - used, "%s%lld", k ?
					    "," : "", (long long)parts[i][k]);
				used += (size_t)snprintf(want + used,
				    sizeof(want) - used, "]");
			}
			snprintf(want + used, sizeof(want) - used, "}}");
			ck_assert_msg(strstr(audit, want) != NULL, "no %s in:\n"
			    "%s", want, audit);
		}
		tl_run_free(&r);
	}
	acgwd_stop(&e);
	env_free(&e);
}
END_TEST

/*
 * ra3 opts out of three events (2000, 3000 and 3500 kW): its part moves
 * to ra1 and ra2 within their 1500 kW each; 2000 and 3000 kW are covered
 * (optIn upstream), 3500 kW only to 85 % (optOut, coverage_threshold
 * 100). Then the same with ra3 never answering: after ack_deadline its
 * part is late, its events cancelled, and the same verdicts go up.
 */
static void
optout_or_late(const char *behaviour, int late)
{
	static const char *const ids[] = { "EV-A", "EV-B", "EV-C" };
	static const int64_t targets[] = { 2000000, 3000000, 3500000 };
	static const int64_t moved[] = { 1000000, 1500000, 1500000 };
	static const int64_t coverage[] = { 100, 100, 85 };
	static const char *const verdict[] = { "optIn", "optIn", "optOut" };
	static const int all3[NRAS] = { 1, 1, 1 };
	struct answered ans = { NULL, { "optIn", "optIn", NULL }, 0 };
	struct env e;
	struct json_value *md, *ev, *ra;
	char fleet[256], *out;

	snprintf(fleet, sizeof(fleet), "default: {response: optIn, "
	    "contracted_kw: 1500, noise: 0}\nras:\n  - {cn: ra3, "
	    "contracted_kw: 800, %s}\n", behaviour);
	env_init(&e, 0);
	start_all(&e, "  rule: proportional\n  ack_deadline: 2s\n"
	    "  coverage_threshold: 100\n", fleet,
	    "name: optout-late\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-A, interval: 5m, values: [2000]}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-B, interval: 5m, values: [3000]}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-C, interval: 5m, values: [3500]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-A, opt: optIn, vens: 1, "
	    "within: 10s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-B, opt: optIn, vens: 1, "
	    "within: 10s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-C, opt: optOut, vens: 1, "
	    "within: 10s}\n", "30s");
	out = md_wait(&e, 0, 40000);
	ck_assert_msg(strstr(out, "4 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	md = load_json(e.md_json);
	for (size_t x = 0; x < 3; x++) {
		assert_md_response(md, ids[x], 0, verdict[x]);
		/* Not before every part was settled: ra1, ra2 answered. */
		if (late)
			ck_assert_int_ge(jint(by(jget(md, "vens",
			    JSON_ARRAY)->items[0], "responses", "event", ids[x]),
			    "at_ms"), 4000);
	}
	json_value_free(md);

	for (size_t x = 0; x < 3; x++) {
		const struct json_value *row, *a3;
		int64_t first[NRAS];

		ans.event = ids[x];
		ev = wait_events(&e, all_answered, &ans, 10000, ids[x]);
		row = event_row(ev, ids[x]);
		ck_assert_int_eq(jint(row, "modification"), 0);
		ck_assert_int_eq(jint(row, "coverage_pct"), coverage[x]);
		ck_assert_str_eq(jstr(row, "answered_tso"), verdict[x]);
		/* ra1 and ra2: the moved parts, a new modification each. */
		for (size_t i = 0; i < 2; i++) {
			const struct json_value *a = alloc_of(ev, ids[x],
			    ra_name[i]);

			ck_assert_int_eq(jint(a, "modification"), 1);
			assert_ints(jget(a, "watts", JSON_ARRAY), &moved[x], 1,
			    ra_name[i]);
		}
		/* ra3 keeps the part it was offered first ... */
		ref_allocate(RULE_PROPORTIONAL, targets[x], all3, first);
		a3 = alloc_of(ev, ids[x], "ra3");
		assert_ints(jget(a3, "watts", JSON_ARRAY), &first[2], 1, "ra3");
		ck_assert_str_eq(jstr(a3, "delivery"), "delivered");
		if (late) {
			/* ... and, late, has its event cancelled. */
			ck_assert_str_eq(jstr(a3, "answer"), "late");
			ck_assert(jbool(a3, "cancelled"));
			ck_assert_int_eq(jint(a3, "modification"), 1);
			ck_assert_ptr_null(json_get(a3, "answered_at"));
		} else {
			/* ... as it answered it. */
			ck_assert_str_eq(jstr(a3, "answer"), "optOut");
			ck_assert(!jbool(a3, "cancelled"));
			ck_assert_int_eq(jint(a3, "modification"), 0);
		}
		json_value_free(ev);
	}

	ra = fleet_stop(&e.fleet[0]);
	for (size_t x = 0; x < 3; x++) {
		for (size_t i = 0; i < 2; i++) {
			assert_ra_event(ra, ra_name[i], ids[x], 1, "active",
			    "optIn");
			/*
			 * Modification 0, unless ra3's answer superseded it
			 * before this RA polled; modification 1 once.
			 */
			ck_assert_uint_le(ra_took(&e.fleet[0], ra_name[i],
			    ids[x], 0, "active"), 1);
			ck_assert_uint_eq(ra_took(&e.fleet[0], ra_name[i],
			    ids[x], 1, "active"), 1);
		}
		ck_assert_uint_eq(ra_took(&e.fleet[0], "ra3", ids[x], 0,
		    "active"), 1);
		if (late) {
			assert_ra_event(ra, "ra3", ids[x], 1, "cancelled",
			    "none");
			ck_assert_uint_eq(ra_took(&e.fleet[0], "ra3", ids[x], 1,
			    "cancelled"), 1);
		} else
			assert_ra_event(ra, "ra3", ids[x], 0, "active",
			    "optOut");
	}
	json_value_free(ra);
	acgwd_stop(&e);
	env_free(&e);
}

START_TEST(optout_and_late_reallocate)
{
	optout_or_late("response: optOut", 0);
	optout_or_late("response: never", 1);
}
END_TEST

/* ---- telemetry -------------------------------------------------------- */

struct interval {
	int64_t t;			/* its start, seconds UTC */
	int64_t w;
	int conf;
	char quality[64];
};

/* Every interval of every oadrUpdateReport in a payload log. */
static size_t
report_intervals(const char *path, struct interval **out)
{
	char *text = tl_read(path), *p = text;
	size_t n = 0;

	*out = NULL;
	while ((p = strstr(p, "<oadr:oadrUpdateReport")) != NULL) {
		char *end = strstr(p, "</oadr:oadrUpdateReport>"), *iv = p;

		ck_assert_ptr_nonnull(end);
		while ((iv = strstr(iv, "<ei:interval>")) != NULL && iv < end) {
			char *ivend = strstr(iv, "</ei:interval>");
			char *t = between(iv, ivend, "<xcal:date-time>",
			    "</xcal:date-time>");
			char *v = between(iv, ivend, "<ei:value>",
			    "</ei:value>");
			char *c = between(iv, ivend, "<ei:confidence>",
			    "</ei:confidence>");
			char *q = between(iv, ivend, "<oadr:oadrDataQuality>",
			    "</oadr:oadrDataQuality>");
			struct interval *x;

			ck_assert_msg(t && v && c && q, "%s: %.1000s", path, iv);
			*out = realloc(*out, (n + 1) * sizeof(**out));
			ck_assert_ptr_nonnull(*out);
			x = &(*out)[n++];
			x->t = utc_seconds(t);
			x->w = kw_to_w(v);
			x->conf = atoi(c);
			snprintf(x->quality, sizeof(x->quality), "%s", q);
			free(t);
			free(v);
			free(c);
			free(q);
			iv = ivend;
		}
		p = end;
	}
	free(text);
	return n;
}

/* The value an RA reported for the interval at t (-1: none). */
static int64_t
value_at(const struct interval *v, size_t n, int64_t t)
{
	int64_t w = -1;

	for (size_t i = 0; i < n; i++)
		if (v[i].t == t) {
			ck_assert_msg(w == -1 || w == v[i].w, "two values for "
			    "%lld", (long long)t);
			w = v[i].w;
		}
	return w;
}

/*
 * The TSO asks for TELEMETRY_USAGE every 2 s in 1 s intervals: acgwd
 * asks each RA, sums their values per interval and reports each window
 * up — exactly the sum of what the RAs reported (their parts, noise 0).
 * ra3 (a process of its own) is killed: from then on every interval is
 * "Quality Bad - Comm Failure" with the sum of ra1 and ra2, confidence
 * 66 (2 of 3 RAs).
 */
START_TEST(reports_sum_and_silent_ra)
{
	static const char *const ra12[] = { "ra1", "ra2", NULL };
	static const char *const ra3[] = { "ra3", NULL };
	static const int64_t share[NRAS] = { 1184211, 1184210, 631579 };
	static const char good[] = "Quality Good - Non Specific";
	static const char bad[] = "Quality Bad - Comm Failure";
	static const char none[] = "No Quality - No Value";
	struct env e;
	struct fleet *f12, *f3;
	struct json_value *md, *j;
	struct interval *up, *rv[NRAS];
	size_t nup, nrv[NRAS], ngood = 0, nbad = 0;
	double killed_at;
	long t0;
	char *out;
	struct tl_run r;

	env_init(&e, 1);
	write_config(&e, "  rule: proportional\n  ack_deadline: 3s\n"
	    "  report_grace: 1s\n");
	acgwd_start(&e);
	f12 = fleet_add(&e, ra12, "default: {response: optIn, contracted_kw: "
	    "1500, noise: 0}\n");
	f3 = fleet_add(&e, ra3, "default: {response: optIn, contracted_kw: "
	    "800, noise: 0}\n");
	fleet_start(&e, f12);
	fleet_start(&e, f3);
	wait_registered(&e, NRAS);
	t0 = tl_now_ms();
	md_start(&e,
	    "name: reports\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1, within: 10s}\n"
	    "  - at: 1s\n"
	    "    event: {id: EV-T, interval: 5m, values: [3000]}\n"
	    "  - at: 1s\n"
	    "    expect_response: {event: EV-T, opt: optIn, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 2s\n"
	    "    request_report: {id: RR-T, report: TELEMETRY_USAGE, "
	    "granularity: 1s, back: 2s}\n"
	    "  - at: 5s\n"
	    "    expect_report: {request: RR-T, vens: 1, reports: 2, "
	    "value: 3000, tolerance: 0, within: 4s}\n"
	    "  - at: 18s\n"
	    "    expect_report: {request: RR-T, vens: 1, reports: 10, "
	    "value: 2368.421, tolerance: 0, within: 4s}\n", "40s");

	/* ra3 goes silent at 8 s. */
	while (tl_now_ms() - t0 < 8000)
		usleep(50000);
	kill9(f3->pid);
	f3->pid = 0;
	killed_at = wall_now();

	out = md_wait(&e, 0, 40000);
	ck_assert_msg(strstr(out, "4 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	md = load_json(e.md_json);
	assert_md_pass(md, 5, "expected at least 2 value(s) for report "
	    "request RR-T from 1 VEN(s), each latest value 3000.000 within "
	    "0.0%, within 4s: held at +");
	assert_md_pass(md, 6, "expected at least 10 value(s) for report "
	    "request RR-T from 1 VEN(s), each latest value 2368.421 within "
	    "0.0%, within 4s: held at +");
	json_value_free(md);
	j = fleet_stop(f12);
	json_value_free(j);

	/* What the RAs reported: each exactly its part, every interval. */
	nrv[2] = report_intervals(f3->log, &rv[2]);
	{
		/* One log for ra1 and ra2: split them by their payloads. */
		char *text = tl_read(f12->log), *p = text;
		struct interval *a = NULL, *b = NULL;
		size_t na = 0, nb = 0;

		while ((p = strstr(p, "<oadr:oadrUpdateReport")) != NULL) {
			char *end = strstr(p, "</oadr:oadrUpdateReport>");
			char *ven = between(p, end, "<ei:venID>", "</ei:venID>");
			char *t = between(p, end, "<ei:interval><xcal:dtstart>"
			    "<xcal:date-time>", "</xcal:date-time>");
			char *v = between(p, end, "<ei:value>", "</ei:value>");
			struct interval **dst;
			size_t *dn;

			ck_assert_msg(ven && t && v, "%.1000s", p);
			ck_assert_msg(!strcmp(ven, "ra1") || !strcmp(ven, "ra2"),
			    "venID %s", ven);
			/* One interval each: acgwd asks for one at a time. */
			*end = '\0';
			ck_assert_uint_eq(count(p, "<ei:interval>"), 1);
			*end = '<';
			dst = !strcmp(ven, "ra1") ? &a : &b;
			dn = !strcmp(ven, "ra1") ? &na : &nb;
			*dst = realloc(*dst, (*dn + 1) * sizeof(**dst));
			ck_assert_ptr_nonnull(*dst);
			(*dst)[*dn].t = utc_seconds(t);
			(*dst)[*dn].w = kw_to_w(v);
			(*dn)++;
			free(ven);
			free(t);
			free(v);
			p = end;
		}
		free(text);
		rv[0] = a;
		nrv[0] = na;
		rv[1] = b;
		nrv[1] = nb;
	}
	for (size_t i = 0; i < NRAS; i++) {
		ck_assert_uint_gt(nrv[i], 2);
		for (size_t k = 0; k < nrv[i]; k++)
			ck_assert_msg(rv[i][k].w == share[i], "%s reported %lld "
			    "W, not its part %lld W", ra_name[i],
			    (long long)rv[i][k].w, (long long)share[i]);
	}

	/* What acgwd reported up: interval by interval. */
	nup = report_intervals(e.md_log, &up);
	ck_assert_uint_ge(nup, 10);
	/* The first window starts once every RA can have been asked. */
	ck_assert_msg(!strcmp(up[0].quality, good), "first interval: %s",
	    up[0].quality);
	for (size_t k = 0; k < nup; k++) {
		const struct interval *x = &up[k];
		int64_t w1 = value_at(rv[0], nrv[0], x->t);
		int64_t w2 = value_at(rv[1], nrv[1], x->t);
		int64_t w3 = value_at(rv[2], nrv[2], x->t);

		if (!strcmp(x->quality, good)) {
			ck_assert_msg(w1 >= 0 && w2 >= 0 && w3 >= 0, "interval "
			    "%lld: good, but not every RA reported it",
			    (long long)x->t);
			ck_assert_int_eq(x->w, w1 + w2 + w3);
			ck_assert_int_eq(x->w, 3000000);
			ck_assert_int_eq(x->conf, 100);
			ngood++;
		} else if (!strcmp(x->quality, bad)) {
			ck_assert_int_lt(x->conf, 100);
			ck_assert_int_gt(x->conf, 0);
		} else {
			ck_assert_msg(!strcmp(x->quality, none), "interval "
			    "%lld: quality \"%s\"", (long long)x->t,
			    x->quality);
			ck_assert_int_eq(x->w, 0);
			ck_assert_int_eq(x->conf, 0);
		}
		/* A second after ra3 died, it has no value any more. */
		if ((double)x->t >= killed_at + 1) {
			ck_assert_msg(!strcmp(x->quality, bad), "interval %lld "
			    "after ra3 stopped: \"%s\"", (long long)x->t,
			    x->quality);
			ck_assert_msg(w1 >= 0 && w2 >= 0, "interval %lld: ra1 "
			    "or ra2 did not report it", (long long)x->t);
			ck_assert_int_eq(x->w, w1 + w2);
			ck_assert_int_eq(x->w, 2368421);
			ck_assert_int_eq(x->conf, 66);
			nbad++;
		}
	}
	ck_assert_uint_ge(ngood, 3);
	ck_assert_uint_ge(nbad, 4);
	free(up);
	for (size_t i = 0; i < NRAS; i++)
		free(rv[i]);

	/* On the record: the windows without ra3. */
	r = ctl_run(&e, "audit", "search", "--type", "report.sent");
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	ck_assert_msg(strstr(r.out, " report.sent relay - {\"request\":"
	    "\"RR-T\",\"intervals\":2,\"incomplete_intervals\":2,"
	    "\"missing\":\"ra3\"}\n") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, " report.sent relay - {\"request\":"
	    "\"RR-T\",\"intervals\":2,\"incomplete_intervals\":0}\n") != NULL,
	    "%s", r.out);
	tl_run_free(&r);
	ck_assert_msg(tl_wait_file_contains(e.alog, "warning: relay: report "
	    "RR-T: 2 of 2 intervals incomplete (missing: ra3); flagged "
	    "\"Quality Bad - Comm Failure\"\n", 1), "%s", tail(e.alog));
	acgwd_stop(&e);
	env_free(&e);
}
END_TEST

/* ---- refusals -------------------------------------------------------- */

/*
 * Events acgwd must not relay: over the portfolio's capacity, a signal
 * it does not take, a signal type it does not take, too long, too
 * short, started in the past. Each is answered optOut upstream with the
 * reason as its description, shown refused with it, and no RA hears of
 * any.
 */
START_TEST(invalid_upstream_events)
{
	static const char *const ids[] = { "EV-CAP", "EV-SIG", "EV-TYPE",
	    "EV-LONG", "EV-SHORT", "EV-PAST" };
	const char *reasons[6] = {
		"interval 2: 3801000 W is more than the portfolio's capacity "
		"3800000 W",
		"no signal is one the configuration names (dispatch.signals): "
		"got LOAD_CONTROL/setpoint",
		"no signal is one the configuration names (dispatch.signals): "
		"got LOAD_DISPATCH/level",
		"duration P1DT2H is outside the configured bounds "
		"(dispatch.min_duration, dispatch.max_duration)",
		"duration PT30S is outside the configured bounds "
		"(dispatch.min_duration, dispatch.max_duration)",
		NULL,
	};
	struct env e;
	struct json_value *md, *ev, *ras;
	char *out, *mdlog, past[160];

	env_init(&e, 0);
	start_all(&e, "  rule: proportional\n  ack_deadline: 3s\n"
	    "  past_tolerance: 0s\n", optin_fleet,
	    "name: invalid\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-CAP, start: 1m, interval: 1m, "
	    "values: [3000, 3801]}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-SIG, start: 1m, signal: LOAD_CONTROL, "
	    "interval: 1m, values: [100]}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-TYPE, start: 1m, type: level, interval: 1m, "
	    "values: [100]}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-LONG, start: 1m, interval: 13h, "
	    "values: [100, 100]}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-SHORT, start: 1m, interval: 30s, "
	    "values: [100]}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-PAST, interval: 1m, values: [100]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-CAP, opt: optOut, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-SIG, opt: optOut, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-TYPE, opt: optOut, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-LONG, opt: optOut, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-SHORT, opt: optOut, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-PAST, opt: optOut, vens: 1, "
	    "within: 8s}\n", "30s");
	out = md_wait(&e, 0, 40000);
	ck_assert_msg(strstr(out, "7 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);

	ev = ctl_json(&e, "events");
	ck_assert_uint_eq(jget(ev, "events", JSON_ARRAY)->n, 6);
	ck_assert_uint_eq(jget(ev, "allocations", JSON_ARRAY)->n, 0);
	/* EV-PAST started at its step's second: now in the past. */
	snprintf(past, sizeof(past), "start %s is further in the past than "
	    "dispatch.past_tolerance (PT0S)", jstr(event_row(ev, "EV-PAST"),
	    "start"));
	reasons[5] = past;
	md = load_json(e.md_json);
	mdlog = tl_read(e.md_log);
	for (size_t x = 0; x < 6; x++) {
		const struct json_value *row = event_row(ev, ids[x]);
		char want[640];

		ck_assert_int_eq(jint(row, "modification"), 0);
		ck_assert_str_eq(jstr(row, "state"), "refused");
		ck_assert_str_eq(jstr(row, "reason"), reasons[x]);
		ck_assert_str_eq(jstr(row, "answered_tso"), "optOut");
		ck_assert_int_eq(jint(row, "coverage_pct"), 0);
		ck_assert_uint_eq(jget(row, "target_w", JSON_ARRAY)->n, 0);
		assert_md_response(md, ids[x], 0, "optOut");
		/* The reason went up as the eventResponse's description. */
		snprintf(want, sizeof(want), "<ei:responseDescription>%s</ei:"
		    "responseDescription><pyld:requestID></pyld:requestID>"
		    "<ei:qualifiedEventID><ei:eventID>%s</ei:eventID>",
		    reasons[x], ids[x]);
		ck_assert_msg(strstr(mdlog, want) != NULL, "no %s", want);
		snprintf(want, sizeof(want), "warning: relay: event %s "
		    "(modification 0) refused, nothing relayed: %s\n", ids[x],
		    reasons[x]);
		ck_assert_msg(tl_wait_file_contains(e.alog, want, 1), "no %s",
		    want);
	}
	free(mdlog);
	json_value_free(md);
	json_value_free(ev);

	/* No RA heard of any of them. */
	ras = ctl_json(&e, "ras");
	for (size_t i = 0; i < NRAS; i++)
		ck_assert(!jbool(by(ras, "ras", "ra", ra_name[i]),
		    "events_queued"));
	json_value_free(ras);
	ck_assert_uint_eq(count_file(e.fleet[0].log, ")    event "), 0);
	ck_assert_uint_eq(count_file(e.fleet[0].log, " events=1"), 0);
	ck_assert_uint_ge(count_file(e.fleet[0].log, " events=0\n"), NRAS);
	ev = fleet_stop(&e.fleet[0]);
	ck_assert_int_eq(jint(jget(ev, "total", JSON_OBJECT), "events"), 0);
	json_value_free(ev);
	acgwd_stop(&e);
	env_free(&e);
}
END_TEST

/*
 * A payload whose venID is not the one bound to the certificate is
 * answered 463 inside HTTP 200, counted and put on record; one that
 * does not parse is refused with HTTP 400 and the parser's reason. A
 * peer with its own ven_id gets that venID at registration.
 */
START_TEST(venid_mismatch_463)
{
	static const char *const ra12[] = { "ra1", "ra2", NULL };
	struct env e;
	struct json_value *ras, *j;
	const struct json_value *v;
	char body[2048], *reply;
	struct tl_run r;

	env_init(&e, 1);
	e.with_r1 = 0;
	e.ra2_ven_id = "VEN-B";
	write_config(&e, "  rule: proportional\n  ack_deadline: 3s\n");
	acgwd_start(&e);
	fleet_start(&e, fleet_add(&e, ra12, "default: {response: optIn}\n"));
	wait_registered(&e, 2);

	/* ra1's certificate, another venID. */
	snprintf(body, sizeof(body), poll_fmt, "not-ra1");
	ck_assert_int_eq(post_as(&e, "ra1", "OadrPoll", body, &reply), 200);
	ck_assert_msg(strstr(reply, "<ei:responseCode>463</ei:responseCode>"
	    "<ei:responseDescription>venID does not match the certificate"
	    "</ei:responseDescription>") != NULL, "%s", reply);
	ck_assert_msg(strstr(reply, "<ei:venID>ra1</ei:venID>") != NULL, "%s",
	    reply);
	ck_assert_ptr_null(strstr(reply, "oadrDistributeEvent"));
	free(reply);
	ck_assert_msg(tl_wait_file_contains(e.alog, "warning: relay: ra1: "
	    "oadrPoll claims venID \"not-ra1\", but its certificate is bound "
	    "to \"ra1\"; answered 463\n", 2000), "%s", tail(e.alog));
	ras = ctl_json(&e, "ras");
	v = by(ras, "ras", "ra", "ra1");
	ck_assert_int_eq(jint(v, "venid_mismatches"), 1);
	ck_assert_int_eq(jint(v, "invalid"), 0);
	ck_assert_str_eq(jstr(v, "registration"), "registered");
	ck_assert_int_eq(jint(by(ras, "ras", "ra", "ra2"), "venid_mismatches"),
	    0);
	json_value_free(ras);
	r = ctl_run(&e, "audit", "search", "--type", "ra.mismatch");
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	ck_assert_msg(strstr(r.out, " ra.mismatch relay ra1 {\"ven_id\":"
	    "\"ra1\",\"claimed\":\"not-ra1\"}\n") != NULL, "%s", r.out);
	ck_assert_uint_eq(count(r.out, " ra.mismatch "), 1);
	tl_run_free(&r);

	/* Its own venID: an empty answer. */
	snprintf(body, sizeof(body), poll_fmt, "ra1");
	ck_assert_int_eq(post_as(&e, "ra1", "OadrPoll", body, &reply), 200);
	ck_assert_msg(strstr(reply, "<ei:responseCode>200</ei:responseCode>")
	    != NULL, "%s", reply);
	free(reply);

	/* Not XML, and XML the schema refuses: HTTP 400, the reason. */
	ck_assert_int_eq(post_as(&e, "ra1", "OadrPoll", "this is not a "
	    "payload", &reply), 400);
	ck_assert_str_eq(reply, "payload refused: XML is not well-formed: "
	    "line 1, column 1: Start tag expected, '<' not found\n");
	free(reply);
	ck_assert_int_eq(post_as(&e, "ra1", "OadrPoll", "<?xml version=\"1.0\" "
	    "encoding=\"UTF-8\"?>\n<oadr:oadrPoll ei:schemaVersion=\"2.0b\" "
	    "xmlns:ei=\"http://docs.oasis-open.org/ns/energyinterop/201110\" "
	    "xmlns:oadr=\"http://openadr.org/oadr-2.0b/2012/07\">"
	    "</oadr:oadrPoll>\n", &reply), 400);
	ck_assert_str_eq(reply, "payload refused: oadrPoll: missing "
	    "\"venID\"\n");
	free(reply);
	ck_assert_msg(tl_wait_file_contains(e.alog, "warning: relay: ra1: "
	    "payload refused: oadrPoll: missing \"venID\"\n", 2000), "%s",
	    tail(e.alog));
	ras = ctl_json(&e, "ras");
	v = by(ras, "ras", "ra", "ra1");
	ck_assert_int_eq(jint(v, "invalid"), 2);
	ck_assert_int_eq(jint(v, "venid_mismatches"), 1);
	json_value_free(ras);

	/*
	 * ra2 has its own venID (peers[].ven_id): it was given that one,
	 * and its peer name, as a venID, is answered 463 like any other.
	 */
	ras = ctl_json(&e, "ras");
	v = by(ras, "ras", "ra", "ra2");
	ck_assert_str_eq(jstr(v, "ven_id"), "VEN-B");
	ck_assert_str_eq(jstr(v, "registration"), "registered");
	ck_assert_int_eq(jint(v, "venid_mismatches"), 0);
	json_value_free(ras);
	snprintf(body, sizeof(body), poll_fmt, "ra2");
	ck_assert_int_eq(post_as(&e, "ra2", "OadrPoll", body, &reply), 200);
	ck_assert_msg(strstr(reply, "<ei:responseCode>463</ei:responseCode>")
	    != NULL && strstr(reply, "<ei:venID>VEN-B</ei:venID>") != NULL,
	    "%s", reply);
	free(reply);
	snprintf(body, sizeof(body), poll_fmt, "VEN-B");
	ck_assert_int_eq(post_as(&e, "ra2", "OadrPoll", body, &reply), 200);
	ck_assert_msg(strstr(reply, "<ei:responseCode>200</ei:responseCode>")
	    != NULL, "%s", reply);
	free(reply);
	ras = ctl_json(&e, "ras");
	ck_assert_int_eq(jint(by(ras, "ras", "ra", "ra2"), "venid_mismatches"),
	    1);
	ck_assert_int_eq(jint(by(ras, "ras", "ra", "ra1"), "venid_mismatches"),
	    1);
	json_value_free(ras);
	r = ctl_run(&e, "audit", "search", "--type", "ra.mismatch");
	ck_assert_msg(strstr(r.out, " ra.mismatch relay ra2 {\"ven_id\":"
	    "\"VEN-B\",\"claimed\":\"ra2\"}\n") != NULL, "%s", r.out);
	ck_assert_uint_eq(count(r.out, " ra.mismatch "), 2);
	tl_run_free(&r);

	/* The RAs themselves carried on, registered under their venIDs. */
	j = fleet_stop(&e.fleet[0]);
	v = by(j, "ras", "cn", "ra1");
	ck_assert(jbool(v, "registered"));
	ck_assert_str_eq(jstr(v, "ven_id"), "ra1");
	ck_assert_int_eq(jint(v, "failures"), 0);
	v = by(j, "ras", "cn", "ra2");
	ck_assert(jbool(v, "registered"));
	ck_assert_str_eq(jstr(v, "ven_id"), "VEN-B");
	ck_assert_int_eq(jint(v, "failures"), 0);
	json_value_free(j);
	acgwd_stop(&e);
	env_free(&e);
}
END_TEST

/* ---- the R1 link ---------------------------------------------------- */

/*
 * The TSO's VTN goes silent (a modification made meanwhile must still
 * arrive), drops every connection, then restarts without registrations:
 * acgwd registers again, asks for the events again (oadrRequestEvent)
 * and relays what is new, and nothing else: each RA takes each
 * modification exactly once. After the restart the VTN has no record of
 * acgwd's answers: it must answer the unchanged event EV-K again.
 */
START_TEST(r1_link_loss)
{
	static const int elig[NRAS] = { 1, 1, 1 };
	static const int64_t last[] = { 900000 };
	static const int64_t k_target[] = { 500000 };
	struct remodified w = { "EV-L", 3 };
	struct env e;
	struct json_value *md, *ev, *ra, *r1;
	const struct json_value *row;
	int64_t parts[NRAS][8];
	char *out, *mdlog, *after;
	int st;

	env_init(&e, 0);
	/* A handshake the silent VTN leaves hanging fails after 1 s. */
	e.r1_extra = "  connect_timeout: 1s\n";
	start_all(&e, "  rule: proportional\n  ack_deadline: 3s\n",
	    optin_fleet,
	    "name: link-loss\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-L, interval: 5m, values: [1000]}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-K, interval: 5m, values: [500]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-L, opt: optIn, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 4s\n"
	    "    silent: 3s\n"
	    "  - at: 5s\n"
	    "    modify: {event: EV-L, values: [1500]}\n"
	    "  - at: 5s\n"
	    "    expect_response: {event: EV-L, opt: optIn, vens: 1, "
	    "within: 10s}\n"
	    "  - at: 9s\n"
	    "    drop: {}\n"
	    "  - at: 10s\n"
	    "    modify: {event: EV-L, values: [1200]}\n"
	    "  - at: 10s\n"
	    "    expect_response: {event: EV-L, opt: optIn, vens: 1, "
	    "within: 8s}\n"
	    "  - at: 12s\n"
	    "    restart: {}\n"
	    "  - at: 12s\n"
	    "    expect_registration: {vens: 1, again: true, within: 8s}\n"
	    "  - at: 14s\n"
	    "    modify: {event: EV-L, values: [900]}\n"
	    "  - at: 14s\n"
	    "    expect_response: {event: EV-L, opt: optIn, vens: 1, "
	    "within: 6s}\n"
	    "  - at: 14s\n"
	    "    expect_response: {event: EV-K, opt: optIn, vens: 1, "
	    "within: 6s}\n", "40s");
	st = reap(e.md, 50000);
	out = tl_read(e.md_out);
	ck_assert_msg(st == 0 || st == 1, "acgw-mockdispatch exited %d:\n%s",
	    st, out);
	assert_clean("acgw-mockdispatch", out);
	e.md = 0;
	md = load_json(e.md_json);
	/* The silence, the drop and the restart, each survived. */
	assert_md_pass(md, 4, "expected optIn to EV-L (its latest "
	    "modification) from 1 VEN(s) within 8s: held at +");
	assert_md_pass(md, 7, "expected optIn to EV-L (its latest "
	    "modification) from 1 VEN(s) within 10s: held at +");
	assert_md_pass(md, 10, "expected optIn to EV-L (its latest "
	    "modification) from 1 VEN(s) within 8s: held at +");
	assert_md_pass(md, 12, "expected 1 VEN(s) registered again within "
	    "8s: held at +");
	assert_md_pass(md, 14, "expected optIn to EV-L (its latest "
	    "modification) from 1 VEN(s) within 6s: held at +");
	assert_md_response(md, "EV-L", 3, "optIn");

	/* After the silence and after the restart: the events asked again. */
	mdlog = tl_read(e.md_log);
	after = strstr(mdlog, "== listening again");
	ck_assert_msg(after != NULL, "%s", tail(e.md_log));
	after = strstr(after, "<- acgw r1 ");
	ck_assert_msg(after != NULL && !strncmp(after, "<- acgw r1 EiEvent "
	    "oadrRequestEvent ", 36), "after the silence, not oadrRequestEvent "
	    "first: %.200s", after ? after : "nothing");
	after = strstr(mdlog, "== step 11 (restart at 12s, line 24)");
	ck_assert_msg(after != NULL, "%s", tail(e.md_log));
	ck_assert_msg(strstr(after, " oadrResponse response=452 ") !=
	    NULL, "no 452 after the restart");
	after = strstr(after, "<- acgw r1 EiRegisterParty "
	    "oadrCreatePartyRegistration venName=acgw ");
	ck_assert_msg(after != NULL, "no registration after the restart");
	ck_assert_msg(strstr(after, "<- acgw r1 EiEvent oadrRequestEvent ") !=
	    NULL, "no oadrRequestEvent after the new registration");
	free(mdlog);
	r1 = ctl_json(&e, "r1");
	ck_assert_str_eq(jstr(r1, "registration"), "registered");
	ck_assert_str_eq(jstr(r1, "registration_id"), "REG-2");
	ck_assert(!jbool(r1, "resync_pending"));
	json_value_free(r1);

	/* The RAs: the last version of EV-L, EV-K as it was. */
	ev = wait_events(&e, all_at_mod_in, &w, 10000, "EV-L modification 3");
	row = event_row(ev, "EV-L");
	ck_assert_int_eq(jint(row, "modification"), 3);
	ck_assert_str_eq(jstr(row, "answered_tso"), "optIn");
	ref_parts(RULE_PROPORTIONAL, last, 1, elig, parts);
	assert_parts(ev, "EV-L", parts, 1);
	row = event_row(ev, "EV-K");
	ck_assert_int_eq(jint(row, "modification"), 0);
	ref_parts(RULE_PROPORTIONAL, k_target, 1, elig, parts);
	assert_parts(ev, "EV-K", parts, 1);
	for (size_t i = 0; i < NRAS; i++)
		ck_assert_int_eq(jint(alloc_of(ev, "EV-K", ra_name[i]),
		    "modification"), 0);
	json_value_free(ev);
	ra = fleet_stop(&e.fleet[0]);
	for (size_t i = 0; i < NRAS; i++) {
		for (int64_t m = 0; m <= 3; m++)
			ck_assert_msg(ra_took(&e.fleet[0], ra_name[i], "EV-L",
			    m, "active") == 1, "%s took EV-L modification %lld "
			    "%zu times", ra_name[i], (long long)m,
			    ra_took(&e.fleet[0], ra_name[i], "EV-L", m,
			    "active"));
		ck_assert_uint_eq(ra_took(&e.fleet[0], ra_name[i], "EV-K", 0,
		    "active"), 1);
		assert_ra_event(ra, ra_name[i], "EV-L", 3, "active", "optIn");
		assert_ra_event(ra, ra_name[i], "EV-K", 0, "active", "optIn");
	}
	ck_assert_uint_eq(count_file(e.fleet[0].log, "modification 4"), 0);
	ck_assert_uint_eq(count_file(e.fleet[0].log, "no longer listed"), 0);
	ck_assert_uint_eq(count_file(e.fleet[0].log, "registering again"), 0);
	json_value_free(ra);
	acgwd_stop(&e);

	/*
	 * Last: the restarted VTN forgot acgwd's answer to EV-K (as
	 * etc/scenarios/reregister.yaml has it); acgwd must give it again.
	 */
	assert_md_pass(md, 15, "expected optIn to EV-K (its latest "
	    "modification) from 1 VEN(s) within 6s: held at +");
	ck_assert_msg(st == 0, "acgw-mockdispatch exited %d:\n%s", st, out);
	free(out);
	json_value_free(md);
	env_free(&e);
}
END_TEST

/* Every RA answered its part, and acgwd answered upstream. */
static int
settled_optin(const struct json_value *ev, const void *arg)
{
	const struct json_value *row = find_by(ev, "events", "event", arg);

	if (row == NULL || strcmp(jstr(row, "answered_tso"), "optIn"))
		return 0;
	for (size_t i = 0; i < NRAS; i++) {
		const struct json_value *a = find_alloc(ev, arg, ra_name[i]);

		if (a == NULL || strcmp(jstr(a, "answer"), "optIn") ||
		    strcmp(jstr(a, "delivery"), "delivered"))
			return 0;
	}
	return 1;
}

/* relay.json exists and is an acgw state document. */
static void
assert_state_file(struct env *e, int round)
{
	char path[PATHLEN + 16], *s;
	struct json_value *v;

	snprintf(path, sizeof(path), "%s/relay.json", e->state);
	s = tl_read(path);
	ck_assert_msg(*s != '\0', "round %d: %s is missing or empty", round,
	    path);
	v = parse_json(path, s);
	ck_assert_str_eq(jstr(v, "format"), "acgw-state 1");
	jget(v, "dispatch", JSON_OBJECT);
	json_value_free(v);
	free(s);
}


/* ---- push model ------------------------------------------------------ */

/* ra3's push endpoint in acgwctl ras. */
static const struct json_value *
push_row(const struct json_value *ras)
{
	const struct json_value *a = jget(ras, "push", JSON_ARRAY);

	ck_assert_uint_eq(a->n, 1);
	ck_assert_str_eq(jstr(a->items[0], "ra"), "ra3");
	return a->items[0];
}

static int
ra3_moved(const struct json_value *ev, const void *arg)
{
	const struct json_value *row = find_by(ev, "events", "event", arg);
	const struct json_value *a3 = find_alloc(ev, arg, "ra3");

	return row != NULL && a3 != NULL && !strcmp(jstr(a3, "answer"),
	    "late") && jint(row, "coverage_pct") == 100 &&
	    !strcmp(jstr(row, "answered_tso"), "optIn");
}

/*
 * ra3 may use the push model (peers[2].push_url). Registering with
 * another endpoint is refused, with the reason. Registered at its own,
 * it is handed its event by a POST from acgwd (which checks that the
 * endpoint's key is one of ra3's pins) and never polls; it answers on a
 * request of its own. With its endpoint gone, the TSO's modification
 * cannot be pushed: the push backs off, the failure shows in acgwctl
 * ras, and after the acknowledgement deadline ra3's part goes to ra1
 * and ra2, so acgwd still opts in upstream.
 */
START_TEST(push_model)
{
	static const char *const ra12[] = { "ra1", "ra2", NULL };
	static const char *const ra3[] = { "ra3", NULL };
	struct answered ans = { "EV-H", { "optIn", "optIn", "optIn" }, 0 };
	struct env e;
	struct fleet *wrong, *pusher;
	struct json_value *ev, *ras, *ra;
	const struct json_value *v, *p;
	char want[300];
	int other, old_port;
	char *out;

	env_init(&e, 0);
	do
		e.push_port = tl_free_port();
	while (e.push_port == e.r3_port ||
	    e.push_port == e.md_port);
	do
		other = tl_free_port();
	while (other == e.push_port || other == e.r3_port ||
	    other == e.md_port);
	write_config(&e, "  rule: proportional\n  ack_deadline: 3s\n");
	acgwd_start(&e);

	/* Another endpoint than the configured one: refused. */
	wrong = fleet_add(&e, ra3, optin_fleet);
	snprintf(wrong->push, sizeof(wrong->push), "127.0.0.1:%d", other);
	fleet_start(&e, wrong);
	snprintf(want, sizeof(want), "relay: ra3: registration refused: "
	    "oadrTransportAddress \"https://127.0.0.1:%d\" is not the push "
	    "endpoint configured for ra3 (https://127.0.0.1:%d)", other,
	    e.push_port);
	ck_assert_msg(tl_wait_file_contains(e.alog, want, 15000),
	    "no \"%s\" in:\n%s", want, tail(e.alog));
	ra = fleet_stop(wrong);
	ck_assert(!jbool(by(ra, "ras", "cn", "ra3"), "registered"));
	json_value_free(ra);

	pusher = fleet_add(&e, ra3, optin_fleet);
	snprintf(pusher->push, sizeof(pusher->push), "127.0.0.1:%d",
	    e.push_port);
	fleet_start(&e, pusher);
	fleet_start(&e, fleet_add(&e, ra12, "default: {response: optIn, "
	    "contracted_kw: 1500, noise: 0}\n"));
	wait_registered(&e, NRAS);
	md_start(&e,
	    "name: push\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-H, interval: 5m, values: [3000]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-H, opt: optIn, vens: 1, "
	    "within: 10s}\n"
	    "  - at: 9s\n"
	    "    modify: {event: EV-H, values: [2500]}\n"
	    "  - at: 9s\n"
	    "    expect_response: {event: EV-H, opt: optIn, vens: 1, "
	    "within: 12s}\n", "40s");

	/* Pushed and answered; ra3 never polled. */
	ev = wait_events(&e, all_answered, &ans, 15000, "EV-H answered");
	json_value_free(ev);
	ras = ctl_json(&e, "ras");
	v = by(ras, "ras", "ra", "ra3");
	ck_assert_str_eq(jstr(v, "model"), "push");
	ck_assert_int_ge(jint(v, "pushed"), 1);
	ck_assert_int_eq(jint(v, "push_failures"), 0);
	ck_assert_str_eq(jstr(by(ras, "ras", "ra", "ra1"), "model"), "pull");
	p = push_row(ras);
	ck_assert_int_ge(jint(p, "pushed"), 1);
	ck_assert_int_eq(jint(p, "failures"), 0);
	ck_assert_ptr_null(json_get(p, "last_error"));
	json_value_free(ras);
	ra = fleet_stop(pusher);
	v = by(ra, "ras", "cn", "ra3");
	ck_assert_int_eq(jint(v, "polls"), 0);
	ck_assert_int_ge(jint(v, "pushed"), 1);
	assert_ra_event(ra, "ra3", "EV-H", 0, "active", "optIn");
	json_value_free(ra);
	ck_assert_uint_eq(count_file(pusher->log, "(ra3) <= pushed EiEvent "
	    "oadrDistributeEvent"), 1);
	ck_assert_uint_eq(ra_took(pusher, "ra3", "EV-H", 0, "active"), 1);

	/* Its endpoint gone: the modification's push fails and backs off,
	 * and its part moves to the others after the deadline. */
	ev = wait_events(&e, ra3_moved, "EV-H", 20000, "ra3's part moved");
	json_value_free(ev);
	ras = ctl_json(&e, "ras");
	p = push_row(ras);
	ck_assert_int_ge(jint(p, "failures"), 1);
	ck_assert_str_eq(jstr(p, "state"), "backing off");
	ck_assert_str_eq(jstr(p, "last_error"), "no answer (connection "
	    "refused, closed or timed out)");
	json_value_free(ras);
	ck_assert(tl_wait_file_contains(e.alog, "push: ra3 at "
	    "https://127.0.0.1:", 1000));
	out = md_wait(&e, 0, 40000);
	ck_assert_msg(strstr(out, "3 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);

	/* Its endpoint moved in the configuration: registered no more. */
	old_port = e.push_port;
	do
		e.push_port = tl_free_port();
	while (e.push_port == old_port || e.push_port == e.r3_port ||
	    e.push_port == e.md_port);
	write_config(&e, "  rule: proportional\n  ack_deadline: 3s\n");
	reload(&e);
	snprintf(want, sizeof(want), "notice: relay: ra3 registered for push "
	    "at https://127.0.0.1:%d, which peers[].push_url no longer names: "
	    "it must register again\n", old_port);
	ck_assert_msg(tl_wait_file_contains(e.alog, want, 5000), "no \"%s\" "
	    "in:\n%s", want, tail(e.alog));
	ras = ctl_json(&e, "ras");
	ck_assert_str_eq(jstr(by(ras, "ras", "ra", "ra3"), "registration"),
	    "not registered");
	ck_assert_str_eq(jstr(by(ras, "ras", "ra", "ra3"), "model"), "pull");
	ck_assert_int_eq(jint(push_row(ras), "pushed"), 0);
	json_value_free(ras);
	json_value_free(fleet_stop(&e.fleet[2]));
	acgwd_stop(&e);
	env_free(&e);
}
END_TEST

static const char push_reg_fmt[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<oadr:oadrCreatePartyRegistration ei:schemaVersion=\"2.0b\" "
    "xmlns:ei=\"http://docs.oasis-open.org/ns/energyinterop/201110\" "
    "xmlns:pyld=\"http://docs.oasis-open.org/ns/energyinterop/201110/"
    "payloads\" xmlns:oadr=\"http://openadr.org/oadr-2.0b/2012/07\">"
    "<pyld:requestID>REG-BY-HAND</pyld:requestID>"
    "<oadr:oadrProfileName>2.0b</oadr:oadrProfileName>"
    "<oadr:oadrTransportName>simpleHttp</oadr:oadrTransportName>"
    "<oadr:oadrTransportAddress>https://127.0.0.1:%d/"
    "</oadr:oadrTransportAddress>"
    "<oadr:oadrReportOnly>false</oadr:oadrReportOnly>"
    "<oadr:oadrXmlSignature>false</oadr:oadrXmlSignature>"
    "<oadr:oadrVenName>ra3 by hand</oadr:oadrVenName>"
    "<oadr:oadrHttpPullModel>false</oadr:oadrHttpPullModel>"
    "</oadr:oadrCreatePartyRegistration>\n";

/*
 * ra3 registers for the push model (by hand, at its configured address
 * with a trailing slash), but what answers there shows ra1's key:
 * acgwd refuses the endpoint in the handshake, says why in acgwctl ras
 * and the log, backs off, and ra3's part goes to the others after the
 * deadline.
 */
START_TEST(push_endpoint_checked)
{
	static const char *const ra12[] = { "ra1", "ra2", NULL };
	struct env e;
	struct json_value *ev, *ras;
	const struct json_value *p;
	char body[2048], *reply, cert[PATHLEN], key[PATHLEN], acc[64];
	char want[400], slog[PATHLEN];
	char *argv[] = { "/usr/bin/openssl", "s_server", "-quiet", "-www",
	    "-accept", acc, "-cert", cert, "-key", key, NULL };
	pid_t srv;
	char *out;

	env_init(&e, 0);
	do
		e.push_port = tl_free_port();
	while (e.push_port == e.r3_port || e.push_port == e.md_port);
	write_config(&e, "  rule: proportional\n  ack_deadline: 3s\n");
	acgwd_start(&e);
	pki_file(cert, "ra1.pem");
	pki_file(key, "ra1.key");
	snprintf(acc, sizeof(acc), "127.0.0.1:%d", e.push_port);
	env_path(&e, slog, "s_server.log");
	srv = spawn(argv, slog);
	fleet_start(&e, fleet_add(&e, ra12, "default: {response: optIn, "
	    "contracted_kw: 1500, noise: 0}\n"));
	wait_registered(&e, 2);
	/* ra1 has no push_url: refused, and still registered to poll. */
	snprintf(body, sizeof(body), push_reg_fmt, e.push_port);
	ck_assert_int_eq(post_as(&e, "ra1", "EiRegisterParty", body, &reply),
	    200);
	ck_assert_msg(strstr(reply, "<ei:responseCode>400</ei:responseCode>"
	    "<ei:responseDescription>push model not enabled for ra1 "
	    "(peers[].push_url): register with oadrHttpPullModel true and "
	    "poll</ei:responseDescription>") != NULL, "%s", reply);
	free(reply);
	ras = ctl_json(&e, "ras");
	ck_assert_str_eq(jstr(by(ras, "ras", "ra", "ra1"), "registration"),
	    "registered");
	ck_assert_str_eq(jstr(by(ras, "ras", "ra", "ra1"), "model"), "pull");
	json_value_free(ras);
	ck_assert_int_eq(post_as(&e, "ra3", "EiRegisterParty", body, &reply),
	    200);
	ck_assert_msg(strstr(reply, "<ei:responseCode>200</ei:responseCode>")
	    != NULL, "%s", reply);
	free(reply);
	md_start(&e,
	    "name: push-checked\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-K, interval: 5m, values: [3000]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-K, opt: optIn, vens: 1, "
	    "within: 15s}\n", "30s");
	ev = wait_events(&e, ra3_moved, "EV-K", 20000, "ra3's part moved");
	json_value_free(ev);
	ras = ctl_json(&e, "ras");
	p = push_row(ras);
	ck_assert_int_eq(jint(p, "pushed"), 0);
	ck_assert_int_ge(jint(p, "failures"), 1);
	ck_assert_str_eq(jstr(p, "state"), "backing off");
	ck_assert_str_eq(jstr(p, "last_error"), "TLS: server certificate "
	    "refused: the key is ra1's, not ra3's");
	ck_assert_str_eq(jstr(by(ras, "ras", "ra", "ra3"), "model"), "push");
	json_value_free(ras);
	snprintf(want, sizeof(want), "warning: push: ra3 at "
	    "https://127.0.0.1:%d: TLS: server certificate refused: the key "
	    "is ra1's, not ra3's; trying again in 1000 ms and backing off up "
	    "to 60000 ms\n", e.push_port);
	ck_assert_msg(tl_wait_file_contains(e.alog, want, 2000), "no \"%s\" "
	    "in:\n%s", want, tail(e.alog));
	out = md_wait(&e, 0, 40000);
	ck_assert_msg(strstr(out, "2 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	kill(srv, SIGTERM);
	reap(srv, 5000);
	json_value_free(fleet_stop(&e.fleet[0]));
	acgwd_stop(&e);
	env_free(&e);
}
END_TEST

/*
 * acgwd killed -9 at random points, twenty times, while an event is
 * being relayed and the RAs poll, and started again on the same state:
 * the event stays as it was, no RA-side modification is made by a
 * restart, every RA ends opted in, each took the event once, and the TSO
 * got optIn.
 */
START_TEST(kill9_restart_20x)
{
	static const int elig[NRAS] = { 1, 1, 1 };
	static const int64_t target[] = { 2000000 };
	struct env e;
	struct json_value *md, *ev, *ra;
	const struct json_value *row;
	int64_t parts[NRAS][8];
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	char *out;

	env_init(&e, 0);
	start_all(&e, "  rule: proportional\n  ack_deadline: 30s\n",
	    optin_fleet,
	    "name: kill9\n"
	    "poll_freq: 1s\n"
	    "steps:\n"
	    "  - at: 0s\n"
	    "    expect_registration: {vens: 1, within: 10s}\n"
	    "  - at: 2s\n"
	    "    event: {id: EV-9, interval: 10m, values: [2000]}\n"
	    "  - at: 2s\n"
	    "    expect_response: {event: EV-9, opt: optIn, vens: 1, "
	    "within: 45s}\n"
	    "  - at: 34s\n"
	    "    expect_response: {event: EV-9, opt: optIn, vens: 1, "
	    "within: 15s}\n", "70s");
	ck_assert_msg(tl_wait_file_contains(e.alog, "notice: relay: event EV-9 "
	    "modification 0 taken", 10000), "%s", tail(e.alog));
	for (int round = 1; round <= 20; round++) {
		usleep((useconds_t)(200000 + rand_r(&seed) % 1300001));
		kill9(e.ad);
		e.ad = 0;
		assert_state_file(&e, round);
		acgwd_start(&e);
	}
	/* The last start may still be on its way to its "started" line. */
	for (int i = 0; i < 100 && count_file(e.alog, ": notice: acgwd "
	    PACKAGE_VERSION " started: ") < 21; i++)
		usleep(50000);
	ck_assert_uint_eq(count_file(e.alog, ": notice: acgwd " PACKAGE_VERSION
	    " started: "), 21);
	ev = wait_events(&e, settled_optin, "EV-9", 30000, "EV-9 settled");
	json_value_free(ev);
	out = md_wait(&e, 0, 60000);
	ck_assert_msg(strstr(out, "3 expectation(s) held, 0 failed") != NULL,
	    "%s", out);
	free(out);
	md = load_json(e.md_json);
	assert_md_response(md, "EV-9", 0, "optIn");
	json_value_free(md);

	ev = ctl_json(&e, "events");
	ck_assert_uint_eq(jget(ev, "events", JSON_ARRAY)->n, 1);
	row = event_row(ev, "EV-9");
	ck_assert_int_eq(jint(row, "modification"), 0);
	ck_assert_str_eq(jstr(row, "state"), "active");
	assert_ints(jget(row, "target_w", JSON_ARRAY), target, 1, "target");
	ck_assert_int_eq(jint(row, "coverage_pct"), 100);
	ck_assert_str_eq(jstr(row, "answered_tso"), "optIn");
	ref_parts(RULE_PROPORTIONAL, target, 1, elig, parts);
	assert_parts(ev, "EV-9", parts, 1);
	for (size_t i = 0; i < NRAS; i++) {
		const struct json_value *a = alloc_of(ev, "EV-9", ra_name[i]);

		ck_assert_msg(jint(a, "modification") == 0, "%s: RA-side "
		    "modification %lld after the restarts (seed %u)",
		    ra_name[i], (long long)jint(a, "modification"), seed);
		ck_assert_str_eq(jstr(a, "answer"), "optIn");
		ck_assert(!jbool(a, "cancelled"));
	}
	json_value_free(ev);

	ra = fleet_stop(&e.fleet[0]);
	for (size_t i = 0; i < NRAS; i++) {
		assert_ra_event(ra, ra_name[i], "EV-9", 0, "active", "optIn");
		ck_assert_msg(ra_took(&e.fleet[0], ra_name[i], "EV-9", 0,
		    "active") == 1, "%s took EV-9 %zu times (seed %u)",
		    ra_name[i], ra_took(&e.fleet[0], ra_name[i], "EV-9", 0,
		    "active"), seed);
	}
	ck_assert_uint_eq(count_file(e.fleet[0].log, "event EV-9 modification "
	    "1"), 0);
	ck_assert_uint_eq(count_file(e.fleet[0].log, "the VTN does not know "
	    "us"), 0);
	json_value_free(ra);
	acgwd_stop(&e);
	assert_state_file(&e, 21);
	env_free(&e);
}
END_TEST

/* One test case per test: each with its own time limit, and each can be
 * run alone (CK_RUN_CASE=name). */
static void
add(Suite *s, const char *name, const TTest *t, int timeout_s)
{
	TCase *tc = tl_tcase(s, name, timeout_s);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t);
}

int
main(void)
{
	Suite *s = suite_create("relay");
	char tmpl[] = "/tmp/acgw-relay.XXXXXX", cmd[512];
	int rc;

	if (mkdtemp(tmpl) == NULL || chmod(tmpl, 0755) != 0) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	snprintf(pki, sizeof(pki), "%s/pki", tmpl);
	if (tl_make_pki(pki) != 0)
		return EXIT_FAILURE;
	/* Room for a daemon's log in a failure message. */
	check_set_max_msg_size(1 << 16);
	add(s, "registration_and_proportional", registration_and_proportional,
	    60);
	add(s, "priority_and_static_rules", priority_and_static_rules, 60);
	add(s, "modify_cancel_implied", modify_cancel_implied, 60);
	add(s, "optout_and_late_reallocate", optout_and_late_reallocate, 90);
	add(s, "reports_sum_and_silent_ra", reports_sum_and_silent_ra, 60);
	add(s, "invalid_upstream_events", invalid_upstream_events, 60);
	add(s, "venid_mismatch_463", venid_mismatch_463, 60);
	add(s, "r1_link_loss", r1_link_loss, 90);
	add(s, "push_model", push_model, 90);
	add(s, "push_endpoint_checked", push_endpoint_checked, 90);
	add(s, "kill9_restart_20x", kill9_restart_20x, 120);
	rc = tl_run_suite(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", tmpl);
	return rc;
}
