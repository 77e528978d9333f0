/*
 * oadr_bench — parse and build throughput of the OpenADR 2.0b codec.
 *
 *   oadr_bench [-t SECONDS] [-s SCHEMADIR] [-h]
 *
 * Two typical messages, made by the builder itself:
 *   distribute_event  one event, one signal (LOAD_DISPATCH, setpoint, kW),
 *                     48 thirty-minute intervals, one venID target
 *   update_report     one TELEMETRY_USAGE report, 30 one-minute intervals
 *                     with one rID each (value, confidence, data quality)
 * For each: oadr_parse and oadr_build per second of this process's CPU
 * time (one core), MB/s of XML, heap allocations per message (every
 * malloc, calloc and realloc in the process, libxml2's included, counted
 * by this program's own allocator wrappers), and CPU microseconds per
 * message. For scale, the same bytes through libxml2 alone: a SAX2 parse
 * with empty callbacks (the floor any libxml2-based parser stands on) and
 * a DOM parse (xmlReadMemory + xmlFreeDoc). With -s, the cost of schema
 * validation on top of a parse.
 *
 * Output: one line per figure, "NAME [PARAM=V ...] value=V [goal>=G]",
 * then a table. bench/run collects the lines of every benchmark.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/parser.h>

#include "acgw/oadr.h"

#define GOAL_DE_PARSE_PER_S 50000	/* issue 4: one core */

/* ---- allocation counting ------------------------------------------------
 * glibc lets a program replace malloc (its manual, "Replacing malloc");
 * these forward to glibc's own and count calls from every library.
 */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static uint64_t nalloc;

void *malloc(size_t n);
void *calloc(size_t a, size_t b);
void *realloc(void *p, size_t n);
void free(void *p);

void *
malloc(size_t n)
{
	nalloc++;
	return __libc_malloc(n);
}

void *
calloc(size_t a, size_t b)
{
	nalloc++;
	return __libc_calloc(a, b);
}

void *
realloc(void *p, size_t n)
{
	nalloc++;
	return __libc_realloc(p, n);
}

void
free(void *p)
{
	__libc_free(p);
}

/* ---- the messages ---------------------------------------------------- */

static void
die(const char *what, const char *err)
{
	fprintf(stderr, "oadr_bench: %s: %s\n", what, err);
	exit(1);
}

#define T0 1795000000000000LL	/* 2026-11-18T...Z, microseconds */
#define MIN_US 60000000LL

static void
make_distribute_event(struct oadr_msg *m)
{
	struct oadr_distribute_event *d = &m->u.distribute_event;
	struct oadr_event *e;
	struct oadr_signal *s;
	char **v;
	int i;

	memset(m, 0, sizeof(*m));
	m->type = OADR_DISTRIBUTE_EVENT;
	d->request_id = oadr_strdup("req-20261122-0001");
	d->vtn_id = oadr_strdup("TSO-KANTO-VTN");
	e = oadr_append((void **)&d->events, &d->n_events, sizeof(*e));
	e->descriptor.event_id = oadr_strdup("EV-20261122-0001");
	e->descriptor.modification_number = 0;
	e->descriptor.market_context = oadr_strdup("http://tso.example/r3");
	e->descriptor.created = T0;
	e->descriptor.status = OADR_STATUS_FAR;
	e->descriptor.test_event = oadr_strdup("false");
	e->active.dtstart = T0 + 60 * MIN_US;
	e->active.duration = 48 * 30 * MIN_US;
	e->active.has_notification = 1;
	e->active.notification = 60 * MIN_US;
	s = oadr_append((void **)&e->signals, &e->n_signals, sizeof(*s));
	s->name = oadr_strdup("LOAD_DISPATCH");
	s->type = OADR_SIGNAL_SETPOINT;
	s->id = oadr_strdup("SIG-1");
	s->has_item = 1;
	s->item.kind = OADR_ITEM_POWER_REAL;
	s->item.description = oadr_strdup("RealPower");
	s->item.units = oadr_strdup("W");
	s->item.si_scale = oadr_strdup("k");
	s->item.hertz = 50;
	s->item.voltage = 6600;
	s->item.ac = 1;
	s->has_current_value = 1;
	for (i = 0; i < 48; i++) {
		struct oadr_interval *iv = oadr_append((void **)
		    &s->intervals.v, &s->intervals.n, sizeof(*iv));
		struct oadr_stream_payload *p;
		char uid[16];

		iv->has_duration = 1;
		iv->duration = 30 * MIN_US;
		snprintf(uid, sizeof(uid), "%d", i);
		iv->uid = oadr_strdup(uid);
		p = oadr_append((void **)&iv->payloads, &iv->n_payloads,
		    sizeof(*p));
		p->kind = OADR_STREAM_SIGNAL;
		p->value.kind = OADR_PAYLOAD_FLOAT;
		p->value.value = 1500 + 12.5 * i;
	}
	v = oadr_append((void **)&e->target.ven_ids.v, &e->target.ven_ids.n,
	    sizeof(char *));
	*v = oadr_strdup("AC-0001");
	e->response_required = OADR_RESPONSE_ALWAYS;
}

static void
make_update_report(struct oadr_msg *m)
{
	struct oadr_report_msg *u = &m->u.update_report;
	struct oadr_report *r;
	int i;

	memset(m, 0, sizeof(*m));
	m->type = OADR_UPDATE_REPORT;
	u->request_id = oadr_strdup("upd-20261122-0001");
	u->ven_id = oadr_strdup("AC-0001");
	r = oadr_append((void **)&u->reports, &u->n_reports, sizeof(*r));
	r->has_dtstart = 1;
	r->dtstart = T0;
	r->has_duration = 1;
	r->duration = 30 * MIN_US;
	r->has_intervals = 1;
	r->report_id = oadr_strdup("RPT-1");
	r->request_id = oadr_strdup("RR-1");
	r->specifier_id = oadr_strdup("RS-TELEMETRY-USAGE");
	r->name = oadr_strdup("TELEMETRY_USAGE");
	r->created = T0 + 30 * MIN_US;
	for (i = 0; i < 30; i++) {
		struct oadr_interval *iv = oadr_append((void **)
		    &r->intervals.v, &r->intervals.n, sizeof(*iv));
		struct oadr_stream_payload *p;

		iv->has_dtstart = 1;
		iv->dtstart = T0 + i * MIN_US;
		iv->has_duration = 1;
		iv->duration = MIN_US;
		p = oadr_append((void **)&iv->payloads, &iv->n_payloads,
		    sizeof(*p));
		p->kind = OADR_STREAM_REPORT;
		p->rid = oadr_strdup("portfolio-usage");
		p->has_confidence = 1;
		p->confidence = 100;
		p->value.kind = OADR_PAYLOAD_FLOAT;
		p->value.value = 48210.25 - 3.5 * i;
		p->data_quality = oadr_strdup("Quality Good - Non Specific");
	}
}

/* ---- timing ---------------------------------------------------------- */

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct result {
	double per_s, mb_s, allocs, us;
};

enum op { OP_PARSE, OP_PARSE_SCHEMA, OP_BUILD, OP_SAX, OP_DOM };

struct job {
	enum op op;
	const char *doc;
	size_t len;
	const struct oadr_msg *msg;
	const struct oadr_schema *schema;
};

static void
empty_start(void *ctx, const xmlChar *l, const xmlChar *p, const xmlChar *u,
    int nn, const xmlChar **ns, int na, int nd, const xmlChar **a)
{
	(void)ctx, (void)l, (void)p, (void)u, (void)nn, (void)ns, (void)na;
	(void)nd, (void)a;
}

static void
empty_chars(void *ctx, const xmlChar *c, int n)
{
	(void)ctx, (void)c, (void)n;
}

static void
once(const struct job *j)
{
	char err[OADR_ERR_MAX];
	struct oadr_msg m;
	size_t len;
	char *out;

	switch (j->op) {
	case OP_PARSE:
	case OP_PARSE_SCHEMA:
		if (oadr_parse(j->doc, j->len, NULL, j->op == OP_PARSE_SCHEMA ?
		    j->schema : NULL, &m, err, sizeof(err)) != 0)
			die("parse", err);
		oadr_msg_free(&m);
		break;
	case OP_BUILD:
		if (!(out = oadr_build(j->msg, NULL, &len, err, sizeof(err))))
			die("build", err);
		free(out);
		break;
	case OP_SAX: {
		/* As oadr_parse drives libxml2: one reused context. */
		static xmlParserCtxtPtr c;
		xmlSAXHandler sax;

		memset(&sax, 0, sizeof(sax));
		sax.initialized = XML_SAX2_MAGIC;
		sax.startElementNs = empty_start;
		sax.characters = empty_chars;
		if (!c && !(c = xmlNewParserCtxt()))
			die("sax", "out of memory");
		memcpy(c->sax, &sax, sizeof(sax));
		xmlCtxtReadMemory(c, j->doc, (int)j->len, NULL, "UTF-8",
		    XML_PARSE_NONET);
		if (!c->wellFormed)
			die("sax", "not well-formed");
		break;
	}
	case OP_DOM: {
		xmlDocPtr d = xmlReadMemory(j->doc, (int)j->len, NULL, "UTF-8",
		    XML_PARSE_NONET);

		if (!d)
			die("dom", "not well-formed");
		xmlFreeDoc(d);
		break;
	}
	}
}

static struct result
run(const struct job *j, double seconds)
{
	struct result r;
	uint64_t n = 0, a0;
	double t0, t;

	for (int i = 0; i < 200; i++)	/* warm caches and the allocator */
		once(j);
	a0 = nalloc;
	once(j);
	r.allocs = (double)(nalloc - a0);
	t0 = cpu_now();
	do {
		for (int i = 0; i < 100; i++)
			once(j);
		n += 100;
		t = cpu_now() - t0;
	} while (t < seconds);
	r.per_s = (double)n / t;
	r.mb_s = r.per_s * (double)j->len / 1e6;
	r.us = t * 1e6 / (double)n;
	return r;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: oadr_bench [-t SECONDS] [-s SCHEMADIR] [-h]\n"
	    "  -t SECONDS   CPU time of each case (default 3, 0.2 to 60)\n"
	    "  -s DIR       also time parsing with schema validation against\n"
	    "               DIR/oadr_20b.xsd\n"
	    "  -h           this help\n"
	    "Prints one line per figure, NAME [PARAM=V ...] value=V "
	    "[goal>=G], then a table.\n");
}

int
main(int argc, char **argv)
{
	static const char *const names[] = { "distribute_event",
	    "update_report" };
	static const char *const opnames[] = { "oadr_parse",
	    "oadr_parse+schema", "oadr_build", "libxml2 SAX, empty",
	    "libxml2 DOM" };
	struct oadr_schema *schema = NULL;
	struct oadr_msg msgs[2];
	struct result res[2][5];
	int have[2][5];
	char *docs[2], err[OADR_ERR_MAX], *end;
	size_t lens[2];
	double seconds = 3;
	int ch;

	while ((ch = getopt(argc, argv, "t:s:h")) != -1) {
		switch (ch) {
		case 't':
			errno = 0;
			seconds = strtod(optarg, &end);
			if (*end != '\0' || errno || seconds < 0.2 ||
			    seconds > 60) {
				usage(stderr);
				return 2;
			}
			break;
		case 's':
			if (!(schema = oadr_schema_load(optarg, err,
			    sizeof(err))))
				die("schema", err);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	make_distribute_event(&msgs[0]);
	make_update_report(&msgs[1]);
	memset(have, 0, sizeof(have));
	for (int k = 0; k < 2; k++) {
		struct job j = { 0 };

		if (!(docs[k] = oadr_build(&msgs[k], schema, &lens[k], err,
		    sizeof(err))))
			die("build", err);
		j.doc = docs[k];
		j.len = lens[k];
		j.msg = &msgs[k];
		j.schema = schema;
		for (int op = 0; op < 5; op++) {
			if (op == OP_PARSE_SCHEMA && !schema)
				continue;
			j.op = (enum op)op;
			res[k][op] = run(&j, seconds);
			have[k][op] = 1;
		}
	}
	for (int k = 0; k < 2; k++) {
		printf("oadr.parse msg=%s value=%.0f%s\n", names[k],
		    res[k][OP_PARSE].per_s, k == 0 ? " goal>=50000" : "");
		printf("oadr.parse_allocs msg=%s value=%.0f\n", names[k],
		    res[k][OP_PARSE].allocs);
		printf("oadr.build msg=%s value=%.0f\n", names[k],
		    res[k][OP_BUILD].per_s);
		printf("oadr.libxml2_sax_floor msg=%s value=%.0f\n", names[k],
		    res[k][OP_SAX].per_s);
		if (have[k][OP_PARSE_SCHEMA])
			printf("oadr.parse_schema msg=%s value=%.0f\n",
			    names[k], res[k][OP_PARSE_SCHEMA].per_s);
	}
	printf("\nOpenADR codec, one core, CPU time (goal: >= %d "
	    "oadrDistributeEvent parses/s)\n", GOAL_DE_PARSE_PER_S);
	for (int k = 0; k < 2; k++) {
		printf("\n%s: %zu bytes\n", names[k], lens[k]);
		printf("  %-22s %12s %9s %9s %12s\n", "operation", "msg/s",
		    "MB/s", "us/msg", "allocs/msg");
		for (int op = 0; op < 5; op++) {
			if (!have[k][op])
				continue;
			printf("  %-22s %12.0f %9.1f %9.2f %12.0f\n",
			    opnames[op], res[k][op].per_s, res[k][op].mb_s,
			    res[k][op].us, res[k][op].allocs);
		}
	}
	for (int k = 0; k < 2; k++) {
		oadr_msg_free(&msgs[k]);
		free(docs[k]);
	}
	oadr_schema_free(schema);
	return 0;
}
