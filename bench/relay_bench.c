/*
 * relay_bench — how long an upstream dispatch takes to become per-RA
 * events, for 10, 100, 1,000 and 10,000 RAs.
 *
 *   relay_bench [-t SECONDS] [-d DIR] [-h]
 *
 * For each fleet size N (RAs with contracted capacities of 500 kW to
 * 2 MW, all registered, proportional rule):
 *   queue      an oadrDistributeEvent with one new event (48 thirty-minute
 *              intervals) taken by the dispatch engine: checked, split
 *              among the N RAs in exact watts, each RA's part queued
 *              (CPU microseconds of this process, one core);
 *   persist    the state written durably after that (dispatch_save as
 *              JSON, store_write: temp file, fsync, rename, fsync of the
 *              directory in DIR) — reported apart, as the issue asks;
 *   hand_out   building one RA's oadrDistributeEvent for its poll
 *              (dispatch_ra_events and oadr_build), per RA.
 *
 * Output: one line per figure, "NAME [PARAM=V ...] value=V [goal<=G]",
 * then a table; bench/run collects the lines.
 */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acgw/dispatch.h"
#include "acgw/json.h"
#include "acgw/oadr.h"
#include "acgw/store.h"

#define GOAL_QUEUE_US_1000 1000	/* issue 7: <= 1 ms for 1,000 RAs */
#define INTERVALS 48

static double
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* An upstream distribution with one event (ID numbered by k). */
static void
make_distribution(struct oadr_distribute_event *de, int64_t start, int k,
    int64_t total_kw)
{
	struct oadr_event *ev;
	struct oadr_signal *sig;
	char id[32];

	memset(de, 0, sizeof(*de));
	de->request_id = oadr_strdup("bench");
	de->vtn_id = oadr_strdup("TSO");
	ev = oadr_append((void **)&de->events, &de->n_events, sizeof(*ev));
	snprintf(id, sizeof(id), "EV-%d", k);
	ev->descriptor.event_id = oadr_strdup(id);
	ev->descriptor.market_context = oadr_strdup("http://tso.example");
	ev->descriptor.created = start - 3600LL * 1000000;
	ev->descriptor.status = OADR_STATUS_FAR;
	ev->descriptor.test_event = oadr_strdup("false");
	ev->active.dtstart = start;
	ev->active.duration = INTERVALS * 1800LL * 1000000;
	sig = oadr_append((void **)&ev->signals, &ev->n_signals, sizeof(*sig));
	sig->name = oadr_strdup("LOAD_DISPATCH");
	sig->type = OADR_SIGNAL_SETPOINT;
	sig->id = oadr_strdup("S1");
	sig->has_item = 1;
	sig->item.kind = OADR_ITEM_POWER_REAL;
	sig->item.description = oadr_strdup("RealPower");
	sig->item.units = oadr_strdup("W");
	sig->item.si_scale = oadr_strdup("k");
	sig->item.hertz = 50;
	sig->item.voltage = 6600;
	sig->item.ac = 1;
	for (int i = 0; i < INTERVALS; i++) {
		struct oadr_interval *iv = oadr_append((void **)
		    &sig->intervals.v, &sig->intervals.n, sizeof(*iv));
		struct oadr_stream_payload *p = oadr_append((void **)
		    &iv->payloads, &iv->n_payloads, sizeof(*p));
		char uid[16];

		snprintf(uid, sizeof(uid), "%d", i);
		iv->uid = oadr_strdup(uid);
		iv->has_duration = 1;
		iv->duration = 1800LL * 1000000;
		p->kind = OADR_STREAM_SIGNAL;
		p->value.kind = OADR_PAYLOAD_FLOAT;
		p->value.value = (double)(total_kw * (70 + i % 30) / 100);
	}
}

static void
free_distribution(struct oadr_distribute_event *de)
{
	struct oadr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OADR_DISTRIBUTE_EVENT;
	m.u.distribute_event = *de;
	oadr_msg_free(&m);
}

struct result {
	size_t n;
	double queue_us, persist_ms, state_kb, hand_out_us;
	int reps;
};

static int
run(size_t n, double secs, const char *dir, struct result *res)
{
	static const char *const signals[] = { "LOAD_DISPATCH/setpoint", NULL };
	struct dispatch_config dc;
	struct dispatch_ra *ras = calloc(n, sizeof(*ras));
	int64_t total_kw = 0, start = now_us() / 1000000 * 1000000 +
	    3600LL * 1000000;
	double cpu = 0, persist = 0, hand = 0;
	int reps = 0, hands = 0;
	char err[512];

	if (ras == NULL)
		return -1;
	memset(&dc, 0, sizeof(dc));
	dc.rule = DISPATCH_PROPORTIONAL;
	dc.lim.signals = signals;
	dc.lim.past_tolerance_us = 300LL * 1000000;
	dc.lim.min_duration_us = 60LL * 1000000;
	dc.lim.max_duration_us = 86400LL * 1000000;
	dc.ack_deadline_us = 60LL * 1000000;
	dc.coverage_threshold = 1;
	for (size_t i = 0; i < n; i++) {
		snprintf(ras[i].name, sizeof(ras[i].name), "ra%zu", i);
		ras[i].contracted_w = 500000 + (int64_t)(i % 16) * 100000;
		ras[i].available_w = -1;
		ras[i].rank = (int64_t)i + 1;
		ras[i].active = 1;
		total_kw += ras[i].contracted_w / 1000;
	}
	dc.lim.capacity_w = total_kw * 1000;
	for (double t0 = wall_us(); reps < 3 || (wall_us() - t0 < secs * 1e6 &&
	    reps < 1000); reps++) {
		struct dispatch d;
		struct oadr_distribute_event de;
		struct json_buf j;
		double c0, w0;

		if (dispatch_init(&d, &dc, ras, n) != 0)
			return -1;
		make_distribution(&de, start, reps, total_kw);
		c0 = cpu_us();
		if (dispatch_distribution(&d, &de, now_us()) != 1) {
			fprintf(stderr, "relay_bench: the event was not taken\n");
			return -1;
		}
		cpu += cpu_us() - c0;
		/* The durable write, apart. */
		w0 = wall_us();
		json_init(&j, 0);
		if (dispatch_save(&d, &j, err, sizeof(err)) != 0 ||
		    store_write(dir, "relay.json", j.s, j.len, err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "relay_bench: %s\n", err);
			return -1;
		}
		persist += wall_us() - w0;
		res->state_kb = (double)j.len / 1024;
		json_free(&j);
		/* Hand-out: a few RAs' distributions, as their polls ask. */
		for (size_t k = 0; k < n && k < 50; k++) {
			struct oadr_msg m;
			size_t len;
			char *doc;

			memset(&m, 0, sizeof(m));
			m.type = OADR_DISTRIBUTE_EVENT;
			m.u.distribute_event.request_id = oadr_strdup("r");
			m.u.distribute_event.vtn_id = oadr_strdup("acgw");
			c0 = cpu_us();
			if (dispatch_ra_events(&d, k, now_us(),
			    &m.u.distribute_event) != 0 ||
			    (doc = oadr_build(&m, NULL, &len, err,
			    sizeof(err))) == NULL) {
				fprintf(stderr, "relay_bench: %s\n", err);
				return -1;
			}
			dispatch_delivered(&d, k, now_us());
			hand += cpu_us() - c0;
			hands++;
			free(doc);
			oadr_msg_free(&m);
		}
		free_distribution(&de);
		dispatch_free(&d);
	}
	free(ras);
	res->n = n;
	res->reps = reps;
	res->queue_us = cpu / reps;
	res->persist_ms = persist / reps / 1000;
	res->hand_out_us = hands ? hand / hands : 0;
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: relay_bench [-t SECONDS] [-d DIR] [-h]\n");
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 10, 100, 1000, 10000 };
	struct result res[4];
	double secs = 3;
	const char *base = "/tmp";
	char dir[4096];
	int ch;

	while ((ch = getopt(argc, argv, "t:d:h")) != -1)
		switch (ch) {
		case 't': secs = atof(optarg); break;
		case 'd': base = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	snprintf(dir, sizeof(dir), "%s/acgw-relay-bench.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		return 1;
	}
	for (size_t i = 0; i < 4; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		if (run(sizes[i], secs / 4, dir, &res[i]) != 0)
			return 1;
		printf("relay.queue_us ras=%zu value=%.1f%s\n", sizes[i],
		    res[i].queue_us, sizes[i] == 1000 ? " goal<=1000" : "");
		printf("relay.persist_ms ras=%zu value=%.2f\n", sizes[i],
		    res[i].persist_ms);
	}
	printf("\n%8s %12s %12s %10s %14s %6s\n", "RAs", "queue µs",
	    "persist ms", "state KiB", "hand-out µs", "runs");
	for (size_t i = 0; i < 4; i++)
		printf("%8zu %12.1f %12.2f %10.1f %14.1f %6d\n", res[i].n,
		    res[i].queue_us, res[i].persist_ms, res[i].state_kb,
		    res[i].hand_out_us, res[i].reps);
	printf("\nqueue: CPU time of dispatch_distribution (check, exact split "
	    "of %d intervals, every RA's part queued);\npersist: wall time of "
	    "the durable state write after it; hand-out: CPU time to build one "
	    "RA's\noadrDistributeEvent when it polls.\n", INTERVALS);
	{
		char path[4200];

		snprintf(path, sizeof(path), "%s/relay.json", dir);
		unlink(path);
		rmdir(dir);
	}
	return 0;
}
