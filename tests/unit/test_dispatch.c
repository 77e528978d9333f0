/*
 * dispatch: the split of a target among RAs (exact sums, caps, the
 * rounding rule, each allocation rule) and the checks an upstream event
 * must pass before anything is relayed.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "acgw/dispatch.h"
#include "acgw/json.h"
#include "acgw/store.h"
#include "../lib/testlib.h"

#define MEMBERS(...) ((const struct dispatch_member[]){ __VA_ARGS__ })
#define NM(a) (sizeof(a) / sizeof(a[0]))

static int64_t out[64];

static int64_t
sum(size_t n)
{
	int64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += out[i];
	return s;
}

START_TEST(proportional_exact)
{
	const struct dispatch_member m[] = {
		{ 1000000, 1000000, 1 }, { 2000000, 2000000, 1 },
		{ 3000000, 3000000, 1 },
	};

	ck_assert_int_eq(dispatch_allocate(DISPATCH_PROPORTIONAL, 3000000, m,
	    3, out), 3000000);
	ck_assert_int_eq(out[0], 500000);
	ck_assert_int_eq(out[1], 1000000);
	ck_assert_int_eq(out[2], 1500000);
	/* 1000 W among three equal RAs: 333 each, the left-over watt to
	 * the lowest index (all remainders equal). */
	{
		const struct dispatch_member e[] = {
			{ 5000, 1, 1 }, { 5000, 1, 1 }, { 5000, 1, 1 },
		};

		ck_assert_int_eq(dispatch_allocate(DISPATCH_PROPORTIONAL, 1000,
		    e, 3, out), 1000);
		ck_assert_int_eq(out[0], 334);
		ck_assert_int_eq(out[1], 333);
		ck_assert_int_eq(out[2], 333);
	}
}
END_TEST

/* Largest remainder: 10 W by weights 1, 2, 4 (exact 1.43, 2.86, 5.71). */
START_TEST(largest_remainder)
{
	const struct dispatch_member m[] = {
		{ 100, 1, 1 }, { 100, 2, 1 }, { 100, 4, 1 },
	};

	ck_assert_int_eq(dispatch_allocate(DISPATCH_PROPORTIONAL, 10, m, 3,
	    out), 10);
	ck_assert_int_eq(out[0], 1);
	ck_assert_int_eq(out[1], 3);
	ck_assert_int_eq(out[2], 6);
}
END_TEST

/* A capped member's excess goes to the others, by their weights. */
START_TEST(caps_redistribute)
{
	const struct dispatch_member m[] = {
		{ 100, 1000, 1 }, { 10000, 1000, 1 }, { 10000, 2000, 1 },
	};

	ck_assert_int_eq(dispatch_allocate(DISPATCH_PROPORTIONAL, 4000, m, 3,
	    out), 4000);
	ck_assert_int_eq(out[0], 100);
	ck_assert_int_eq(out[1], 1300);
	ck_assert_int_eq(out[2], 2600);
	/* More than everyone can take: each at its capacity. */
	ck_assert_int_eq(dispatch_allocate(DISPATCH_PROPORTIONAL, 50000, m, 3,
	    out), 20100);
	ck_assert_int_eq(out[0], 100);
	ck_assert_int_eq(out[1], 10000);
	ck_assert_int_eq(out[2], 10000);
}
END_TEST

START_TEST(ineligible_get_nothing)
{
	const struct dispatch_member m[] = {
		{ 5000, 1000, 0 }, { 5000, 1000, 1 }, { 5000, 0, 1 },
		{ 0, 1000, 1 },
	};

	ck_assert_int_eq(dispatch_allocate(DISPATCH_PROPORTIONAL, 3000, m, 4,
	    out), 3000);
	ck_assert_int_eq(out[0], 0);
	ck_assert_int_eq(out[1], 3000);
	ck_assert_int_eq(out[2], 0);
	ck_assert_int_eq(out[3], 0);
	/* Nobody eligible: nothing allocated. */
	ck_assert_int_eq(dispatch_allocate(DISPATCH_PROPORTIONAL, 3000, m, 1,
	    out), 0);
	ck_assert_int_eq(out[0], 0);
}
END_TEST

START_TEST(priority_fills_in_order)
{
	const struct dispatch_member m[] = {
		{ 1000, 3, 1 }, { 2000, 1, 1 }, { 1500, 2, 1 }, { 9000, 1, 0 },
	};

	ck_assert_int_eq(dispatch_allocate(DISPATCH_PRIORITY, 3000, m, 4,
	    out), 3000);
	ck_assert_int_eq(out[1], 2000);
	ck_assert_int_eq(out[2], 1000);
	ck_assert_int_eq(out[0], 0);
	ck_assert_int_eq(out[3], 0);
	ck_assert_int_eq(dispatch_allocate(DISPATCH_PRIORITY, 10000, m, 4,
	    out), 4500);
}
END_TEST

START_TEST(static_shares)
{
	/* 50 %, 30 %, 20 % in ppm. */
	const struct dispatch_member m[] = {
		{ 100000, 500000, 1 }, { 100000, 300000, 1 },
		{ 100000, 200000, 1 },
	};

	ck_assert_int_eq(dispatch_allocate(DISPATCH_STATIC, 10001, m, 3, out),
	    10001);
	ck_assert_int_eq(out[0], 5001);	/* 5000.5, the largest remainder */
	ck_assert_int_eq(out[1], 3000);	/* 3000.3 */
	ck_assert_int_eq(out[2], 2000);	/* 2000.2 */
}
END_TEST

START_TEST(bad_arguments)
{
	const struct dispatch_member m[] = { { 100, 1, 1 } };

	out[0] = 77;
	ck_assert_int_eq(dispatch_allocate(DISPATCH_PROPORTIONAL, -1, m, 1,
	    out), -1);
	ck_assert_int_eq(dispatch_allocate(9, 10, m, 1, out), -1);
	ck_assert_int_eq(out[0], 77);
	ck_assert_int_eq(dispatch_allocate(DISPATCH_PROPORTIONAL, 0, m, 1,
	    out), 0);
	ck_assert_int_eq(out[0], 0);
}
END_TEST

/*
 * Properties over many pseudo-random fleets: the total is exact, no one
 * exceeds capacity, and proportional shares differ from the exact ones
 * by less than one watt wherever nobody is capped.
 */
START_TEST(properties)
{
	struct dispatch_member m[40];
	unsigned seed = 12345;

	for (int round = 0; round < 3000; round++) {
		size_t n = 1 + (size_t)(rand_r(&seed) % 40);
		int64_t cap = 0, target, got;
		int rule = rand_r(&seed) % 3, capped = 0;

		for (size_t i = 0; i < n; i++) {
			m[i].capacity_w = rand_r(&seed) % 5000000;
			m[i].weight = rule == DISPATCH_PRIORITY ?
			    rand_r(&seed) % 5 : 1 + rand_r(&seed) % 3000000;
			m[i].eligible = rand_r(&seed) % 8 != 0;
			if (m[i].eligible && m[i].capacity_w > 0)
				cap += m[i].capacity_w;
		}
		target = (int64_t)rand_r(&seed) % 60000000;
		got = dispatch_allocate(rule, target, m, n, out);
		ck_assert_int_eq(got, sum(n));
		if (rule != DISPATCH_PRIORITY) {
			/* Members with weight 0 cannot take a share. */
			int64_t reach = 0;

			for (size_t i = 0; i < n; i++)
				if (m[i].eligible && m[i].weight > 0 &&
				    m[i].capacity_w > 0)
					reach += m[i].capacity_w;
			ck_assert_int_eq(got, target < reach ? target : reach);
		} else
			ck_assert_int_eq(got, target < cap ? target : cap);
		for (size_t i = 0; i < n; i++) {
			ck_assert(out[i] >= 0);
			ck_assert(out[i] <= (m[i].eligible ? m[i].capacity_w :
			    0));
			capped |= out[i] == m[i].capacity_w && out[i] > 0;
		}
		if (rule == DISPATCH_PROPORTIONAL && !capped && got > 0) {
			__int128 wsum = 0;

			for (size_t i = 0; i < n; i++)
				if (m[i].eligible && m[i].capacity_w > 0)
					wsum += m[i].weight;
			for (size_t i = 0; i < n; i++) {
				__int128 exact;

				if (!m[i].eligible || m[i].capacity_w <= 0)
					continue;
				exact = (__int128)got * m[i].weight;
				/* |out − exact| < 1 W */
				ck_assert((__int128)out[i] * wsum - exact <
				    wsum);
				ck_assert(exact - (__int128)out[i] * wsum <
				    wsum);
			}
		}
	}
}
END_TEST

/* ---- event checks --------------------------------------------------------- */

static const char *const signals[] = { "LOAD_DISPATCH/setpoint", NULL };
static const struct dispatch_limits lim = {
	.signals = signals,
	.capacity_w = 5000000,
	.past_tolerance_us = 60LL * 1000000,
	.min_duration_us = 60LL * 1000000,
	.max_duration_us = 24LL * 3600 * 1000000,
};
#define NOW 1795000000000000LL

static struct oadr_event *
event(const char *name, int type, const double *v, size_t n, int64_t start)
{
	struct oadr_event *e = calloc(1, sizeof(*e));
	struct oadr_signal *s;

	e->descriptor.event_id = oadr_strdup("E1");
	e->descriptor.market_context = oadr_strdup("http://tso.test/r3");
	e->descriptor.created = NOW - 60 * 1000000LL;
	e->active.dtstart = start;
	s = oadr_append((void **)&e->signals, &e->n_signals, sizeof(*s));
	s->name = oadr_strdup(name);
	s->type = type;
	s->id = oadr_strdup("S1");
	s->has_item = 1;
	s->item.kind = OADR_ITEM_POWER_REAL;
	s->item.description = oadr_strdup("RealPower");
	s->item.units = oadr_strdup("W");
	s->item.si_scale = oadr_strdup("k");
	s->item.hertz = 50;
	s->item.voltage = 6600;
	s->item.ac = 1;
	for (size_t i = 0; i < n; i++) {
		struct oadr_interval *iv = oadr_append((void **)
		    &s->intervals.v, &s->intervals.n, sizeof(*iv));
		struct oadr_stream_payload *p = oadr_append((void **)
		    &iv->payloads, &iv->n_payloads, sizeof(*p));

		iv->has_duration = 1;
		iv->duration = 1800LL * 1000000;
		p->kind = OADR_STREAM_SIGNAL;
		p->value.kind = OADR_PAYLOAD_FLOAT;
		p->value.value = v[i];
		e->active.duration += iv->duration;
	}
	return e;
}

static void
event_free(struct oadr_event *e)
{
	struct oadr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OADR_DISTRIBUTE_EVENT;
	m.u.distribute_event.events = e;
	m.u.distribute_event.n_events = 1;
	oadr_msg_free(&m);
}

static void
refused(struct oadr_event *e, const char *want)
{
	struct dispatch_target t;
	char why[DISPATCH_ERR_MAX];

	ck_assert_int_eq(dispatch_check_event(&lim, e, NOW, &t, why,
	    sizeof(why)), -1);
	ck_assert_str_eq(why, want);
	ck_assert_ptr_null(t.watts);
	event_free(e);
}

START_TEST(check_event)
{
	static const double ok[] = { 3000, 2500.5 }, over[] = { 3000, 5001 };
	struct dispatch_target t;
	struct oadr_event *e;
	char why[DISPATCH_ERR_MAX];

	e = event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, ok, 2, NOW + 300000000);
	ck_assert_int_eq(dispatch_check_event(&lim, e, NOW, &t, why,
	    sizeof(why)), 0);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_int_eq(t.watts[0], 3000000);
	ck_assert_int_eq(t.watts[1], 2500500);
	ck_assert_int_eq(t.duration_us[1], 1800LL * 1000000);
	ck_assert_str_eq(t.signal_name, "LOAD_DISPATCH");
	dispatch_target_free(&t);
	event_free(e);

	refused(event("SIMPLE", OADR_SIGNAL_LEVEL, ok, 2, NOW),
	    "no signal is one the configuration names (dispatch.signals): "
	    "got SIMPLE/level");
	refused(event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, over, 2, NOW),
	    "interval 2: 5001000 W is more than the portfolio's capacity "
	    "5000000 W");
	refused(event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, ok, 2,
	    NOW - 2 * 3600LL * 1000000), "the event ended at "
	    "2026-11-18T10:06:40Z, in the past");
	refused(event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, ok, 2,
	    NOW - 600LL * 1000000), "start 2026-11-18T10:56:40Z is further "
	    "in the past than dispatch.past_tolerance (PT1M)");
	e = event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, ok, 2, NOW);
	e->active.duration = 30LL * 1000000;
	refused(e, "duration PT30S is outside the configured bounds "
	    "(dispatch.min_duration, dispatch.max_duration)");
	e = event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, ok, 2, NOW);
	e->active.duration = 7200LL * 1000000;
	refused(e, "the intervals last PT1H, the active period PT2H");
	e = event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, ok, 2, NOW);
	free(e->signals[0].item.units);
	e->signals[0].item.units = oadr_strdup("A");
	refused(e, "signal S1: units must be powerReal in W (with an SI "
	    "scale), not A");
	e = event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, ok, 2, NOW);
	e->signals[0].intervals.v[0].payloads[0].value.value = -5;
	refused(e, "interval 1: -5000 is not a target in watts");
}
END_TEST

/* ---- the engine ---------------------------------------------------------- */

#define SEC 1000000LL

static const struct dispatch_ra fleet[] = {
	{ "ra1", 1000000, -1, 1, 0, 1 },
	{ "ra2", 2000000, -1, 2, 0, 1 },
	{ "ra3", 3000000, -1, 3, 0, 1 },
};

static void
engine(struct dispatch *d, double threshold)
{
	struct dispatch_config c;

	memset(&c, 0, sizeof(c));
	c.rule = DISPATCH_PROPORTIONAL;
	c.lim = lim;
	c.lim.capacity_w = 6000000;
	c.ack_deadline_us = 10 * SEC;
	c.coverage_threshold = threshold;
	ck_assert_int_eq(dispatch_init(d, &c, fleet, 3), 0);
}

/* A distribution of one event (taken over by the message). */
static void
distribute(struct dispatch *d, struct oadr_event *e, uint32_t mod,
    int status, int64_t now)
{
	struct oadr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OADR_DISTRIBUTE_EVENT;
	if (e) {
		e->descriptor.modification_number = mod;
		e->descriptor.status = status;
		m.u.distribute_event.events = e;
		m.u.distribute_event.n_events = 1;
	}
	dispatch_distribution(d, &m.u.distribute_event, now);
	oadr_msg_free(&m);
	if (!e)
		free(e);
}

static void
shares_are(const struct dispatch *d, size_t iv, int64_t a, int64_t b,
    int64_t c)
{
	const struct dispatch_event *e = &d->events[0];
	int64_t want[3] = { a, b, c };

	for (size_t r = 0; r < 3; r++)
		ck_assert_msg((e->shares[r].watts ? e->shares[r].watts[iv] : 0)
		    == want[r], "ra%zu interval %zu: %lld W, want %lld W",
		    r + 1, iv, (long long)(e->shares[r].watts ?
		    e->shares[r].watts[iv] : 0), (long long)want[r]);
}

START_TEST(engine_split_answer_resplit)
{
	static const double v[] = { 3000, 1500 };
	struct dispatch d;
	struct oadr_distribute_event seen;
	int opt;

	engine(&d, 1.0);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, v, 2,
	    NOW + 600 * SEC), 0, OADR_STATUS_FAR, NOW);
	ck_assert_uint_eq(d.nevents, 1);
	shares_are(&d, 0, 500000, 1000000, 1500000);
	shares_are(&d, 1, 250000, 500000, 750000);
	ck_assert_int_eq(dispatch_upstream_due(&d, 0, &opt), 0);

	/* What ra2 sees: its own values in kW, modification 0. */
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(dispatch_ra_events(&d, 1, NOW, &seen), 0);
	ck_assert_uint_eq(seen.n_events, 1);
	ck_assert_str_eq(seen.events[0].descriptor.event_id, "E1");
	ck_assert_uint_eq(seen.events[0].descriptor.modification_number, 0);
	ck_assert_int_eq(seen.events[0].descriptor.status, OADR_STATUS_FAR);
	ck_assert(seen.events[0].signals[0].intervals.v[0].payloads[0].value.
	    value == 1000);
	ck_assert(seen.events[0].signals[0].intervals.v[1].payloads[0].value.
	    value == 500);
	{
		struct oadr_msg m;

		memset(&m, 0, sizeof(m));
		m.type = OADR_DISTRIBUTE_EVENT;
		m.u.distribute_event = seen;
		oadr_msg_free(&m);
	}

	/* ra3 opts out: its 3000 kW of the first interval move to the
	 * others, who must answer the new modification. */
	dispatch_delivered(&d, 0, NOW);
	dispatch_delivered(&d, 1, NOW);
	dispatch_delivered(&d, 2, NOW);
	ck_assert_int_eq(dispatch_answer(&d, 0, "E1", 0, OADR_OPT_IN,
	    NOW + SEC), 0);
	ck_assert_int_eq(dispatch_answer(&d, 2, "E1", 0, OADR_OPT_OUT,
	    NOW + SEC), 0);
	shares_are(&d, 0, 1000000, 2000000, 1500000);
	shares_are(&d, 1, 500000, 1000000, 750000);
	ck_assert_uint_eq(d.events[0].shares[0].mod, 1);
	ck_assert_uint_eq(d.events[0].shares[1].mod, 1);
	ck_assert_uint_eq(d.events[0].shares[2].mod, 0);
	/* ra2's answer to modification 0 is stale now. */
	ck_assert_int_eq(dispatch_answer(&d, 1, "E1", 0, OADR_OPT_IN,
	    NOW + SEC), -1);
	ck_assert_int_eq(dispatch_upstream_due(&d, 0, &opt), 0);
	ck_assert_int_eq(dispatch_answer(&d, 0, "E1", 1, OADR_OPT_IN,
	    NOW + 2 * SEC), 0);
	ck_assert_int_eq(dispatch_answer(&d, 1, "E1", 1, OADR_OPT_IN,
	    NOW + 2 * SEC), 0);
	ck_assert(dispatch_coverage(&d, &d.events[0]) == 1.0);
	ck_assert_int_eq(dispatch_upstream_due(&d, 0, &opt), 1);
	ck_assert_int_eq(opt, OADR_OPT_IN);
	dispatch_answered(&d, 0, opt);
	ck_assert_int_eq(dispatch_upstream_due(&d, 0, &opt), 0);

	/*
	 * The same modification again is a repeat: nothing moves for the
	 * RAs, and the VTN gets the same answer again.
	 */
	{
		uint32_t mods[2] = { d.events[0].shares[0].mod,
		    d.events[0].shares[1].mod };

		distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, v,
		    2, NOW + 600 * SEC), 0, OADR_STATUS_FAR, NOW + 3 * SEC);
		ck_assert_uint_eq(d.events[0].shares[0].mod, mods[0]);
		ck_assert_uint_eq(d.events[0].shares[1].mod, mods[1]);
		ck_assert_int_eq(dispatch_upstream_due(&d, 0, &opt), 1);
		ck_assert_int_eq(opt, OADR_OPT_IN);
	}
	dispatch_free(&d);
}
END_TEST

START_TEST(engine_late_modify_cancel)
{
	static const double v[] = { 3000 }, v2[] = { 1200 };
	struct dispatch d;
	int opt;

	engine(&d, 1.0);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, v, 1,
	    NOW + 600 * SEC), 0, OADR_STATUS_FAR, NOW);
	for (size_t r = 0; r < 3; r++)
		dispatch_delivered(&d, r, NOW);
	dispatch_answer(&d, 0, "E1", 0, OADR_OPT_IN, NOW + SEC);
	dispatch_answer(&d, 1, "E1", 0, OADR_OPT_IN, NOW + SEC);
	/* ra3 misses its deadline: late, its share moves, its event is
	 * cancelled so that it does not act on it after all. */
	ck_assert_uint_eq(dispatch_tick(&d, NOW + 9 * SEC), 0);
	ck_assert_uint_eq(dispatch_tick(&d, NOW + 10 * SEC), 1);
	ck_assert_int_eq(d.events[0].shares[2].state, SHARE_LATE);
	ck_assert_int_eq(d.events[0].shares[2].cancelled, 1);
	ck_assert_uint_eq(d.events[0].shares[2].mod, 1);
	shares_are(&d, 0, 1000000, 2000000, 1500000);
	ck_assert_int_eq(dispatch_upstream_due(&d, 0, &opt), 0);

	/* The TSO lowers the target: everyone is asked again. */
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, v2, 1,
	    NOW + 600 * SEC), 1, OADR_STATUS_FAR, NOW + 11 * SEC);
	shares_are(&d, 0, 200000, 400000, 600000);
	ck_assert_uint_eq(d.events[0].shares[2].mod, 2);
	ck_assert_int_eq(d.events[0].shares[2].cancelled, 0);
	ck_assert_int_eq(d.events[0].shares[0].state, SHARE_PENDING);

	/* Cancelled upstream: every RA's event cancelled, one more
	 * modification each; the upstream answer acknowledges it. */
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, v2, 1,
	    NOW + 600 * SEC), 2, OADR_STATUS_CANCELLED, NOW + 12 * SEC);
	for (size_t r = 0; r < 3; r++)
		ck_assert_int_eq(d.events[0].shares[r].cancelled, 1);
	ck_assert_uint_eq(d.events[0].shares[0].mod, 3);
	ck_assert_int_eq(dispatch_upstream_due(&d, 0, &opt), 1);
	ck_assert_int_eq(opt, OADR_OPT_IN);
	dispatch_free(&d);
}
END_TEST

START_TEST(engine_implied_cancel_and_refusal)
{
	static const double v[] = { 3000 }, big[] = { 7000 };
	struct dispatch d;
	int opt;

	engine(&d, 1.0);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, v, 1,
	    NOW + 600 * SEC), 0, OADR_STATUS_FAR, NOW);
	/* A distribution without E1: implied cancellation. */
	distribute(&d, NULL, 0, 0, NOW + SEC);
	ck_assert_int_eq(d.events[0].cancelled, 1);
	ck_assert_int_eq(d.events[0].shares[0].cancelled, 1);
	ck_assert_uint_eq(d.events[0].shares[0].mod, 1);
	dispatch_free(&d);

	/* Over the portfolio's capacity: refused, nothing relayed, optOut. */
	engine(&d, 1.0);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, big, 1,
	    NOW + 600 * SEC), 0, OADR_STATUS_FAR, NOW);
	ck_assert_int_eq(d.events[0].refused, 1);
	ck_assert_str_eq(d.events[0].why, "interval 1: 7000000 W is more than "
	    "the portfolio's capacity 6000000 W");
	for (size_t r = 0; r < 3; r++)
		ck_assert_int_eq(d.events[0].shares[r].exists, 0);
	ck_assert_int_eq(dispatch_upstream_due(&d, 0, &opt), 1);
	ck_assert_int_eq(opt, OADR_OPT_OUT);
	dispatch_free(&d);
}
END_TEST

/* Less available than asked: coverage below the threshold is optOut. */
START_TEST(engine_coverage)
{
	static const double v[] = { 6000 };
	struct dispatch_ra ras[3];
	struct dispatch d;
	int opt;

	for (double th = 0.5; th <= 1.0; th += 0.5) {
		engine(&d, th);
		memcpy(ras, fleet, sizeof(ras));
		ras[2].available_w = 1500000;
		dispatch_ras_changed(&d, ras, 3);
		distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, v,
		    1, NOW + 600 * SEC), 0, OADR_STATUS_FAR, NOW);
		shares_are(&d, 0, 1000000, 2000000, 1500000);
		for (size_t r = 0; r < 3; r++) {
			dispatch_delivered(&d, r, NOW);
			dispatch_answer(&d, r, "E1", 0, OADR_OPT_IN, NOW);
		}
		ck_assert(dispatch_coverage(&d, &d.events[0]) == 0.75);
		ck_assert_int_eq(dispatch_upstream_due(&d, 0, &opt), 1);
		ck_assert_int_eq(opt, th <= 0.75 ? OADR_OPT_IN : OADR_OPT_OUT);
		dispatch_free(&d);
	}
}
END_TEST

/* Regressions: what a review found in the engine. */
START_TEST(engine_review_cases)
{
	static const double one[] = { 3000 }, two[] = { 3000, 1200 };
	struct dispatch_ra ras[3];
	struct oadr_distribute_event seen;
	struct oadr_event *e;
	struct dispatch d;
	struct oadr_msg m;
	int opt;

	/* An added interval: every RA's part grows with it (no overflow);
	 * the RAs' events after a cancellation still build. */
	engine(&d, 1.0);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, one, 1,
	    NOW + 600 * SEC), 0, OADR_STATUS_FAR, NOW);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, two, 2,
	    NOW + 600 * SEC), 1, OADR_STATUS_FAR, NOW + SEC);
	ck_assert_uint_eq(d.events[0].shares[2].n, 2);
	shares_are(&d, 1, 200000, 400000, 600000);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, two, 2,
	    NOW + 600 * SEC), 2, OADR_STATUS_CANCELLED, NOW + 2 * SEC);
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(dispatch_ra_events(&d, 0, NOW + 3 * SEC, &seen), 0);
	ck_assert_uint_eq(seen.n_events, 1);
	ck_assert_int_eq(seen.events[0].descriptor.status,
	    OADR_STATUS_CANCELLED);
	ck_assert_str_eq(seen.events[0].signals[0].name, "LOAD_DISPATCH");
	memset(&m, 0, sizeof(m));
	m.type = OADR_DISTRIBUTE_EVENT;
	m.u.distribute_event = seen;
	oadr_msg_free(&m);
	/* Listed again with a higher modification: live again, re-split. */
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, one, 1,
	    NOW + 600 * SEC), 3, OADR_STATUS_FAR, NOW + 4 * SEC);
	ck_assert_int_eq(d.events[0].cancelled, 0);
	ck_assert_int_eq(d.events[0].shares[0].cancelled, 0);
	shares_are(&d, 0, 500000, 1000000, 1500000);
	dispatch_free(&d);

	/* A new start with the same values: every RA gets a new
	 * modification all the same (its times moved). */
	engine(&d, 1.0);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, one, 1,
	    NOW + 600 * SEC), 0, OADR_STATUS_FAR, NOW);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, one, 1,
	    NOW + 900 * SEC), 1, OADR_STATUS_FAR, NOW + SEC);
	for (size_t r = 0; r < 3; r++)
		ck_assert_uint_eq(d.events[0].shares[r].mod, 1);
	dispatch_free(&d);

	/* A running event may be modified; a new one starting long ago is
	 * refused. */
	engine(&d, 1.0);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, two, 2,
	    NOW), 0, OADR_STATUS_ACTIVE, NOW);
	e = event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, two, 2, NOW);
	e->signals[0].intervals.v[1].payloads[0].value.value = 900;
	distribute(&d, e, 1, OADR_STATUS_ACTIVE, NOW + 1200 * SEC);
	ck_assert_int_eq(d.events[0].refused, 0);
	shares_are(&d, 1, 150000, 300000, 450000);
	dispatch_free(&d);

	/* An RA that stops being active before it got its part: the part
	 * is cancelled and moves, and the upstream answer is not held up. */
	engine(&d, 0.5);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, one, 1,
	    NOW + 600 * SEC), 0, OADR_STATUS_FAR, NOW);
	memcpy(ras, fleet, sizeof(ras));
	ras[2].active = 0;
	dispatch_ras_changed(&d, ras, 3);
	ck_assert_int_eq(d.events[0].shares[2].cancelled, 1);
	shares_are(&d, 0, 1000000, 2000000, 1500000);
	for (size_t r = 0; r < 2; r++) {
		dispatch_delivered(&d, r, NOW);
		ck_assert_int_eq(dispatch_answer(&d, r, "E1",
		    d.events[0].shares[r].mod, OADR_OPT_IN, NOW), 0);
	}
	ck_assert_int_eq(dispatch_upstream_due(&d, 0, &opt), 1);
	ck_assert_int_eq(opt, OADR_OPT_IN);
	dispatch_free(&d);
}
END_TEST

/* ---- persistence ------------------------------------------------------------ */

START_TEST(store_files)
{
	char *dir = tl_tmpdir(), *data, err[STORE_ERR_MAX], *tmp;
	size_t len;
	struct stat st;

	ck_assert_int_eq(store_read(dir, "state.json", 1024, &data, &len, err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(data);
	ck_assert_int_eq(store_write(dir, "state.json", "one", 3, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(store_write(dir, "state.json", "second", 6, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(store_read(dir, "state.json", 1024, &data, &len, err,
	    sizeof(err)), 1);
	ck_assert_uint_eq(len, 6);
	ck_assert_str_eq(data, "second");
	free(data);
	/* Private, and no temporary file left behind. */
	tmp = tl_path(dir, "state.json");
	ck_assert_int_eq(stat(tmp, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	free(tmp);
	tmp = tl_path(dir, ".state.json.tmp");
	ck_assert_int_eq(stat(tmp, &st), -1);
	free(tmp);
	ck_assert_int_eq(store_read(dir, "state.json", 5, &data, &len, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "/state.json: 6 bytes, more than "
	    "the 5 this file may have"));
	ck_assert_int_eq(store_write("/nonexistent/acgw", "s", "x", 1, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "/nonexistent/acgw/.s.tmp: No such file or "
	    "directory");
	tl_rmrf(dir);
	free(dir);
}
END_TEST

/* The state written and read back behaves as the original. */
START_TEST(engine_save_load)
{
	static const double v[] = { 3000, 1500 };
	struct dispatch d, back;
	struct json_buf j, j2;
	char err[DISPATCH_ERR_MAX];
	int opt;

	engine(&d, 1.0);
	distribute(&d, event("LOAD_DISPATCH", OADR_SIGNAL_SETPOINT, v, 2,
	    NOW + 600 * SEC), 0, OADR_STATUS_FAR, NOW);
	for (size_t r = 0; r < 3; r++)
		dispatch_delivered(&d, r, NOW);
	dispatch_answer(&d, 2, "E1", 0, OADR_OPT_OUT, NOW + SEC);
	json_init(&j, 0);
	ck_assert_msg(dispatch_save(&d, &j, err, sizeof(err)) == 0, "%s", err);

	engine(&back, 1.0);
	ck_assert_int_eq(dispatch_load(&back, j.s, j.len, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(back.nevents, 1);
	ck_assert_str_eq(back.events[0].id, "E1");
	ck_assert_str_eq(back.events[0].target.signal_name, "LOAD_DISPATCH");
	for (size_t r = 0; r < 3; r++) {
		const struct dispatch_share *a = &d.events[0].shares[r];
		const struct dispatch_share *b = &back.events[0].shares[r];

		ck_assert_uint_eq(a->mod, b->mod);
		ck_assert_int_eq(a->state, b->state);
		ck_assert_uint_eq(a->n, b->n);
		ck_assert_int_eq(a->sent_at, b->sent_at);
		for (size_t i = 0; i < a->n; i++)
			ck_assert_int_eq(a->watts[i], b->watts[i]);
	}
	ck_assert_int_eq(back.events[0].up.active.dtstart,
	    d.events[0].up.active.dtstart);
	ck_assert_uint_eq(back.events[0].up.signals[0].intervals.n, 2);
	/* The same again, byte for byte. */
	json_init(&j2, 0);
	ck_assert_int_eq(dispatch_save(&back, &j2, err, sizeof(err)), 0);
	ck_assert_str_eq(j.s, j2.s);
	/* And it carries on: the others answer the new modification. */
	ck_assert_int_eq(dispatch_answer(&back, 0, "E1", 1, OADR_OPT_IN,
	    NOW + 2 * SEC), 0);
	ck_assert_int_eq(dispatch_answer(&back, 1, "E1", 1, OADR_OPT_IN,
	    NOW + 2 * SEC), 0);
	ck_assert_int_eq(dispatch_upstream_due(&back, 0, &opt), 1);
	ck_assert_int_eq(opt, OADR_OPT_IN);

	/* Damaged state is refused whole; the engine keeps what it had. */
	{
		static const char v2[] = "{\"version\":2}";
		static const char part[] = "{\"version\":1,\"events\":"
		    "[{\"id\":\"X\"}]}";

		ck_assert_int_eq(dispatch_load(&back, v2, strlen(v2), err,
		    sizeof(err)), -1);
		ck_assert_str_eq(err, "not a dispatch state of version 1");
		ck_assert_int_eq(dispatch_load(&back, part, strlen(part), err,
		    sizeof(err)), -1);
	}
	ck_assert_str_eq(err, "event 1: an event lacks its id, up, why, "
	    "target or shares");
	ck_assert_uint_eq(back.nevents, 1);
	json_free(&j);
	json_free(&j2);
	dispatch_free(&d);
	dispatch_free(&back);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc = tl_tcase(s, "allocate", 0);

	tcase_add_test(tc, proportional_exact);
	tcase_add_test(tc, largest_remainder);
	tcase_add_test(tc, caps_redistribute);
	tcase_add_test(tc, ineligible_get_nothing);
	tcase_add_test(tc, priority_fills_in_order);
	tcase_add_test(tc, static_shares);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, properties);
	tc = tl_tcase(s, "check", 0);
	tcase_add_test(tc, check_event);
	tc = tl_tcase(s, "engine", 0);
	tcase_add_test(tc, engine_split_answer_resplit);
	tcase_add_test(tc, engine_late_modify_cancel);
	tcase_add_test(tc, engine_implied_cancel_and_refusal);
	tcase_add_test(tc, engine_coverage);
	tcase_add_test(tc, engine_review_cases);
	tc = tl_tcase(s, "persist", 0);
	tcase_add_test(tc, store_files);
	tcase_add_test(tc, engine_save_load);
	return tl_run_suite(s);
}
