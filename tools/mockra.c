/*
 * acgw-mockra — a fleet of resource aggregators: N OpenADR 2.0b VENs in
 * one libevent loop, each over its own mTLS session with its own client
 * certificate (or one for all). Each registers, offers a TELEMETRY_USAGE
 * report, polls at the VTN's requested frequency, answers events as its
 * behaviour says (optIn, optOut, late, never) and, when asked for
 * telemetry, reports a usage that follows the dispatched target within
 * its contracted kW. Results per RA and in aggregate as JSON. Built from
 * acgw's tls, http and oadr modules; see acgw-mockra(1).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "acgw/http.h"
#include "acgw/json.h"
#include "acgw/oadr.h"
#include "acgw/tls.h"
#include "acgw/units.h"
#include "scenario.h"

enum { R_OPTIN, R_OPTOUT, R_LATE, R_NEVER };
static const char *const response_names[] = { "optIn", "optOut", "late",
	"never", NULL };

enum ven_state {
	V_QUERY, V_REGISTER, V_REGISTER_REPORT, V_REQUEST_EVENT, V_POLL,
	V_CANCELLED
};

struct behaviour {
	int response;
	uint64_t late_ms;
	double contracted_kw;
	double noise;
};

struct rra;

struct ev {
	char *id;
	uint32_t mod;
	int status;
	int64_t dtstart;
	int64_t interval_us;		/* of the first signal's intervals */
	double *values;			/* kW */
	size_t n;
	int answered;			/* for this mod */
	int opt;
	int64_t answered_ms;
	int response_required;
	struct event *late;
	struct rra *owner;
};

struct report_req {
	char *id;
	char *specifier;
	int64_t granularity_us;
	int64_t back_us;
	struct event *timer;
	int64_t next_from;		/* start of the next window */
	struct rra *owner;
};

struct outmsg {
	char service[32];
	struct oadr_msg m;
};

struct fleet;

struct rra {
	struct fleet *f;
	size_t index;			/* 1-based */
	char cn[128];
	char fp[32];
	struct behaviour b;
	SSL_CTX *ctx;
	struct http_client *http;
	enum ven_state state;
	char ven_id[96];
	char reg_id[96];
	uint64_t poll_ms;
	struct event *timer;		/* next poll or registration step */
	struct event *retry;		/* resend of the request in flight */
	int busy;			/* a request in flight */
	char *doc;			/* its payload, kept until answered */
	size_t doclen;
	char service[32];
	struct outmsg *out;		/* queued for sending, FIFO */
	size_t nout;
	struct ev **events;		/* each its own allocation: timers */
	size_t nevents;			/* point at them */
	struct report_req **reqs;
	size_t nreqs;
	uint64_t polls, updates, values_sent, failures, registrations;
	/* Push model: the VTN POSTs to our own endpoint instead. */
	SSL_CTX *srv_ctx;
	struct http_server *srv;
	char push_url[112];
	uint64_t pushed;
	uint64_t backoff_ms;
	unsigned seed;
	char last_error[600];
};

struct fleet {
	struct event_base *base;
	struct rra *ras;
	size_t n;
	struct oadr_limits lim;
	struct oadr_schema *schema;
	uint64_t poll_override_ms;
	uint64_t duration_ms;
	const char *json_path;
	const char *name_prefix;
	FILE *log;
	int verbose;
	struct timespec t0;
	struct event *end;
	unsigned long reqseq;
};

static volatile sig_atomic_t stop_signal;

static int64_t
wall_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int64_t
mono_ms(const struct fleet *f)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)(t.tv_sec - f->t0.tv_sec) * 1000 +
	    (t.tv_nsec - f->t0.tv_nsec) / 1000000;
}

static void rlog(struct rra *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
rlog(struct rra *r, const char *fmt, ...)
{
	char ts[64];
	va_list ap;

	if (!r->f->log)
		return;
	units_format_datetime(wall_us() / 1000 * 1000, ts, sizeof(ts));
	fprintf(r->f->log, "%s ra%zu(%s) ", ts, r->index, r->cn);
	va_start(ap, fmt);
	vfprintf(r->f->log, fmt, ap);
	va_end(ap);
	fputc('\n', r->f->log);
	fflush(r->f->log);
}

static char *
dupstr(const char *s)
{
	char *d = oadr_strdup(s);

	if (s && !d) {
		fprintf(stderr, "acgw-mockra: out of memory\n");
		exit(1);
	}
	return d;
}

static void
arm(struct rra *r, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(r->timer, &tv);
}

static uint64_t
poll_ms(const struct rra *r)
{
	if (r->f->poll_override_ms)
		return r->f->poll_override_ms;
	return r->poll_ms ? r->poll_ms : 10000;
}

static void
next_request_id(struct rra *r, char *buf, size_t len)
{
	snprintf(buf, len, "ra%zu-%lu", r->index, ++r->f->reqseq);
}

/* ---- sending -------------------------------------------------------------- */

static void pump(struct rra *r);
static void on_reply(void *arg, int status, const char *body, size_t len,
    const char *err);

static void
send_later(struct rra *r, const char *service, struct oadr_msg *m)
{
	struct outmsg *o = oadr_append((void **)&r->out, &r->nout,
	    sizeof(*o));

	if (!o) {
		oadr_msg_free(m);
		return;
	}
	snprintf(o->service, sizeof(o->service), "%s", service);
	o->m = *m;
	memset(m, 0, sizeof(*m));
	pump(r);
}

/* Send (again) the request in flight. */
static void
transmit(struct rra *r)
{
	char err[HTTP_ERR_MAX];

	if (http_post(r->http, r->service, r->doc, r->doclen, on_reply, r, err,
	    sizeof(err)) != 0) {
		rlog(r, "!! %s", err);
		r->busy = 0;
		free(r->doc);
		r->doc = NULL;
		return;
	}
	r->busy = 1;
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	transmit(arg);
}

static void
pump(struct rra *r)
{
	char err[OADR_ERR_MAX], *desc;
	struct outmsg o;

	if (r->busy || r->nout == 0)
		return;
	o = r->out[0];
	memmove(r->out, r->out + 1, (r->nout - 1) * sizeof(*r->out));
	r->nout--;
	if (!(r->doc = oadr_build(&o.m, r->f->schema, &r->doclen, err,
	    sizeof(err)))) {
		rlog(r, "!! cannot build %s: %s", oadr_msg_name(o.m.type), err);
		oadr_msg_free(&o.m);
		pump(r);
		return;
	}
	snprintf(r->service, sizeof(r->service), "%s", o.service);
	desc = oadr_msg_describe(&o.m);
	rlog(r, "-> %s %s", o.service, desc ? desc : "?");
	if (r->f->verbose)
		rlog(r, "   %s", r->doc);
	free(desc);
	oadr_msg_free(&o.m);
	transmit(r);
}

/* Drop what is queued and start over from the registration query. */
static void
restart(struct rra *r, uint64_t after_ms)
{
	for (size_t i = 0; i < r->nout; i++)
		oadr_msg_free(&r->out[i].m);
	r->nout = 0;
	r->state = V_QUERY;
	arm(r, after_ms);
}

/* ---- messages a VEN sends ------------------------------------------------------ */

static void
send_query(struct rra *r)
{
	struct oadr_msg m;
	char id[48];

	memset(&m, 0, sizeof(m));
	m.type = OADR_QUERY_REGISTRATION;
	next_request_id(r, id, sizeof(id));
	m.u.query_registration.request_id = dupstr(id);
	send_later(r, "EiRegisterParty", &m);
}

static void
send_create_party(struct rra *r)
{
	struct oadr_create_party_registration *c;
	struct oadr_msg m;
	char id[48], name[160];

	memset(&m, 0, sizeof(m));
	m.type = OADR_CREATE_PARTY_REGISTRATION;
	c = &m.u.create_party_registration;
	next_request_id(r, id, sizeof(id));
	c->request_id = dupstr(id);
	/* Only what the VTN assigned before: some VTNs answer 463 else. */
	if (r->reg_id[0]) {
		c->registration_id = dupstr(r->reg_id);
		c->ven_id = dupstr(r->ven_id);
	}
	c->profile_name = dupstr("2.0b");
	c->transport_name = dupstr("simpleHttp");
	snprintf(name, sizeof(name), "%s%zu", r->f->name_prefix, r->index);
	c->ven_name = dupstr(name);
	c->has_http_pull_model = 1;
	c->http_pull_model = r->srv == NULL;
	if (r->srv != NULL)
		c->transport_address = dupstr(r->push_url);
	send_later(r, "EiRegisterParty", &m);
}

static void
send_register_report(struct rra *r)
{
	struct oadr_report_msg *rm;
	struct oadr_report *rep;
	struct oadr_report_description *d;
	struct oadr_msg m;
	char id[48];

	memset(&m, 0, sizeof(m));
	m.type = OADR_REGISTER_REPORT;
	rm = &m.u.register_report;
	next_request_id(r, id, sizeof(id));
	rm->request_id = dupstr(id);
	rm->ven_id = dupstr(r->ven_id);
	rep = oadr_append((void **)&rm->reports, &rm->n_reports, sizeof(*rep));
	rep->has_duration = 1;
	rep->duration = 3600LL * 1000000;
	rep->request_id = dupstr("0");
	rep->specifier_id = dupstr("MOCKRA-USAGE");
	rep->name = dupstr("METADATA_TELEMETRY_USAGE");
	rep->created = wall_us() / 1000000 * 1000000;
	d = oadr_append((void **)&rep->descriptions, &rep->n_descriptions,
	    sizeof(*d));
	d->rid = dupstr("usage");
	d->report_type = dupstr("usage");
	d->has_item = 1;
	d->item.kind = OADR_ITEM_POWER_REAL;
	d->item.description = dupstr("RealPower");
	d->item.units = dupstr("W");
	d->item.si_scale = dupstr("k");
	d->item.hertz = 50;
	d->item.voltage = 6600;
	d->item.ac = 1;
	d->reading_type = dupstr("Direct Read");
	d->has_sampling = 1;
	d->min_period = 60LL * 1000000;
	d->max_period = 3600LL * 1000000;
	d->on_change = 0;
	send_later(r, "EiReport", &m);
}

static void
send_request_event(struct rra *r)
{
	struct oadr_msg m;
	char id[48];

	memset(&m, 0, sizeof(m));
	m.type = OADR_REQUEST_EVENT;
	next_request_id(r, id, sizeof(id));
	m.u.request_event.request_id = dupstr(id);
	m.u.request_event.ven_id = dupstr(r->ven_id);
	send_later(r, "EiEvent", &m);
}

static int
poll_queued(const struct rra *r)
{
	for (size_t i = 0; i < r->nout; i++)
		if (r->out[i].m.type == OADR_POLL)
			return 1;
	return 0;
}

static void
send_poll(struct rra *r)
{
	struct oadr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OADR_POLL;
	m.u.poll.ven_id = dupstr(r->ven_id);
	r->polls++;
	send_later(r, "OadrPoll", &m);
}

static void
send_created_event(struct rra *r, struct ev *e, int opt)
{
	struct oadr_created_event *c;
	struct oadr_event_response *er;
	struct oadr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OADR_CREATED_EVENT;
	c = &m.u.created_event;
	c->response.code = 200;
	c->response.description = dupstr("OK");
	c->response.request_id = dupstr("");
	c->has_event_responses = 1;
	er = oadr_append((void **)&c->event_responses, &c->n_event_responses,
	    sizeof(*er));
	er->code = 200;
	er->description = dupstr("OK");
	er->request_id = dupstr("");
	er->event.event_id = dupstr(e->id);
	er->event.modification_number = e->mod;
	er->opt_type = opt;
	c->ven_id = dupstr(r->ven_id);
	e->answered = 1;
	e->opt = opt;
	e->answered_ms = mono_ms(r->f);
	send_later(r, "EiEvent", &m);
}

/* ---- events ---------------------------------------------------------------- */

static void
ev_clear(struct ev *e)
{
	free(e->id);
	free(e->values);
	if (e->late)
		event_free(e->late);
	memset(e, 0, sizeof(*e));
}

static void
late_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ev *e = arg;
	struct rra *r = e->owner;

	(void)fd, (void)what;
	if (!e->answered)
		send_created_event(r, e, OADR_OPT_IN);
}

static double
scale_to_kw(const struct oadr_signal *s)
{
	const char *sc = s->has_item ? s->item.si_scale : "k";

	if (!sc || !strcmp(sc, "k"))
		return 1;
	if (!strcmp(sc, "M"))
		return 1000;
	if (!strcmp(sc, "none"))
		return 0.001;
	return 1;
}

static void
take_event(struct rra *r, const struct oadr_event *oe)
{
	struct ev *e = NULL;
	const struct oadr_signal *s = oe->n_signals ? &oe->signals[0] : NULL;

	for (size_t i = 0; i < r->nevents; i++)
		if (!strcmp(r->events[i]->id, oe->descriptor.event_id))
			e = r->events[i];
	if (e && e->mod == oe->descriptor.modification_number) {
		e->status = oe->descriptor.status;
		return;			/* a repeat: answered before */
	}
	if (!e) {
		struct ev **slot = oadr_append((void **)&r->events,
		    &r->nevents, sizeof(*slot));

		if (!slot || !(e = calloc(1, sizeof(*e)))) {
			if (slot)
				r->nevents--;
			return;
		}
		*slot = e;
		e->id = dupstr(oe->descriptor.event_id);
		e->owner = r;
	}
	e->mod = oe->descriptor.modification_number;
	e->status = oe->descriptor.status;
	e->dtstart = oe->active.dtstart;
	e->response_required = oe->response_required;
	e->answered = 0;
	free(e->values);
	e->values = NULL;
	e->n = 0;
	e->interval_us = 0;
	if (s && s->intervals.n) {
		double k = scale_to_kw(s);

		e->values = calloc(s->intervals.n, sizeof(double));
		e->n = s->intervals.n;
		e->interval_us = s->intervals.v[0].has_duration ?
		    s->intervals.v[0].duration : 0;
		for (size_t i = 0; e->values && i < e->n; i++) {
			const struct oadr_interval *iv = &s->intervals.v[i];

			e->values[i] = iv->n_payloads &&
			    iv->payloads[0].value.kind == OADR_PAYLOAD_FLOAT ?
			    iv->payloads[0].value.value * k : 0;
		}
	}
	rlog(r, "   event %s modification %u %s", e->id, e->mod,
	    oadr_status_name(e->status));
	if (e->response_required == OADR_RESPONSE_NEVER)
		return;
	switch (r->b.response) {
	case R_OPTIN:
		send_created_event(r, e, OADR_OPT_IN);
		break;
	case R_OPTOUT:
		send_created_event(r, e, OADR_OPT_OUT);
		break;
	case R_LATE: {
		struct timeval tv = { (time_t)(r->b.late_ms / 1000),
		    (suseconds_t)(r->b.late_ms % 1000) * 1000 };

		if (!e->late)
			e->late = evtimer_new(r->f->base, late_cb, e);
		evtimer_add(e->late, &tv);
		break;
	}
	default:
		break;
	}
}

static void
take_distribution(struct rra *r, const struct oadr_distribute_event *d)
{
	/* An event we know that is not listed any more: implied cancel. */
	for (size_t i = 0; i < r->nevents; i++) {
		struct ev *e = r->events[i];
		int listed = 0;

		for (size_t k = 0; k < d->n_events; k++)
			listed |= !strcmp(d->events[k].descriptor.event_id,
			    e->id);
		if (!listed && e->status != OADR_STATUS_CANCELLED) {
			rlog(r, "   event %s no longer listed: cancelled",
			    e->id);
			e->status = OADR_STATUS_CANCELLED;
		}
	}
	for (size_t k = 0; k < d->n_events; k++)
		take_event(r, &d->events[k]);
}

/* The target at time t (kW): what the active, accepted events ask. */
static double
target_at(const struct rra *r, int64_t t)
{
	double sum = 0;

	for (size_t i = 0; i < r->nevents; i++) {
		const struct ev *e = r->events[i];
		int64_t k;

		if (e->status == OADR_STATUS_CANCELLED || !e->interval_us ||
		    (e->answered && e->opt == OADR_OPT_OUT) ||
		    r->b.response == R_OPTOUT || t < e->dtstart)
			continue;
		k = (t - e->dtstart) / e->interval_us;
		if (k < (int64_t)e->n)
			sum += e->values[k];
	}
	return sum < r->b.contracted_kw ? sum : r->b.contracted_kw;
}

/* ---- reports ------------------------------------------------------------ */

static void
report_cb(evutil_socket_t fd, short what, void *arg)
{
	struct report_req *q = arg;
	struct rra *r = q->owner;
	struct oadr_report_msg *um;
	struct oadr_report *rep;
	struct oadr_msg m;
	struct timeval tv;
	int64_t now = wall_us(), from = q->next_from, t;
	char id[48];

	(void)fd, (void)what;
	memset(&m, 0, sizeof(m));
	m.type = OADR_UPDATE_REPORT;
	um = &m.u.update_report;
	next_request_id(r, id, sizeof(id));
	um->request_id = dupstr(id);
	um->ven_id = dupstr(r->ven_id);
	rep = oadr_append((void **)&um->reports, &um->n_reports, sizeof(*rep));
	rep->has_dtstart = 1;
	rep->dtstart = from;
	rep->has_duration = 1;
	rep->duration = q->back_us;
	rep->has_intervals = 1;
	rep->report_id = dupstr(id);
	rep->request_id = dupstr(q->id);
	rep->specifier_id = dupstr(q->specifier);
	rep->name = dupstr("TELEMETRY_USAGE");
	rep->created = now / 1000000 * 1000000;
	for (t = from; t < from + q->back_us; t += q->granularity_us) {
		struct oadr_interval *iv = oadr_append((void **)
		    &rep->intervals.v, &rep->intervals.n, sizeof(*iv));
		struct oadr_stream_payload *p;
		double noise = r->b.noise * (2.0 * rand_r(&r->seed) /
		    RAND_MAX - 1);

		iv->has_dtstart = 1;
		iv->dtstart = t;
		iv->has_duration = 1;
		iv->duration = q->granularity_us;
		p = oadr_append((void **)&iv->payloads, &iv->n_payloads,
		    sizeof(*p));
		p->kind = OADR_STREAM_REPORT;
		p->rid = dupstr("usage");
		p->has_confidence = 1;
		p->confidence = 100;
		p->value.kind = OADR_PAYLOAD_FLOAT;
		/* Rounded to watts: a meter's resolution, and exact text. */
		p->value.value = round(target_at(r, t) * (1 + noise) * 1000) /
		    1000;
		p->data_quality = dupstr("Quality Good - Non Specific");
		r->values_sent++;
	}
	r->updates++;
	q->next_from = from + q->back_us;
	send_later(r, "EiReport", &m);
	t = q->next_from + q->back_us - now;
	tv.tv_sec = t > 0 ? (time_t)(t / 1000000) : 0;
	tv.tv_usec = t > 0 ? (suseconds_t)(t % 1000000) : 0;
	evtimer_add(q->timer, &tv);
}

static void
report_stop(struct report_req *q)
{
	if (q->timer)
		event_free(q->timer);
	free(q->id);
	free(q->specifier);
	memset(q, 0, sizeof(*q));
}

static void
take_report_requests(struct rra *r, const struct oadr_report_request *v,
    size_t n, struct oadr_strlist *pending)
{
	for (size_t i = 0; i < n; i++) {
		struct report_req *q = NULL;
		struct timeval tv;
		char **s;

		for (size_t k = 0; k < r->nreqs; k++)
			if (r->reqs[k]->id && !strcmp(r->reqs[k]->id,
			    v[i].request_id))
				q = r->reqs[k];
		if (!q) {
			struct report_req **slot = oadr_append((void **)
			    &r->reqs, &r->nreqs, sizeof(*slot));

			if (!slot || !(q = calloc(1, sizeof(*q)))) {
				if (slot)
					r->nreqs--;
				return;
			}
			*slot = q;
		} else
			report_stop(q);
		q->owner = r;
		q->id = dupstr(v[i].request_id);
		q->specifier = dupstr(v[i].specifier_id);
		q->granularity_us = v[i].granularity > 0 ? v[i].granularity :
		    60LL * 1000000;
		q->back_us = v[i].back_duration >= q->granularity_us ?
		    v[i].back_duration : q->granularity_us;
		q->next_from = wall_us() / 1000000 * 1000000;
		q->timer = evtimer_new(r->f->base, report_cb, q);
		tv.tv_sec = (time_t)(q->back_us / 1000000);
		tv.tv_usec = (suseconds_t)(q->back_us % 1000000);
		evtimer_add(q->timer, &tv);
		s = oadr_append((void **)&pending->v, &pending->n,
		    sizeof(char *));
		*s = dupstr(q->id);
		rlog(r, "   report request %s: every %llds", q->id,
		    (long long)(q->back_us / 1000000));
	}
}

/* ---- what comes back ---------------------------------------------------- */

static void
answer(struct rra *r, const struct oadr_msg *in)
{
	struct oadr_msg m;

	memset(&m, 0, sizeof(m));
	switch (in->type) {
	case OADR_RESPONSE:
		if (in->u.response.response.code == 452 ||
		    in->u.response.response.code == 463) {
			rlog(r, "   the VTN does not know us (%03u): "
			    "registering again", in->u.response.response.code);
			r->reg_id[0] = r->ven_id[0] = '\0';
			/* A VTN that forgot us forgot our answers too: its
			 * events are new to us again. */
			for (size_t k = 0; k < r->nevents; k++) {
				ev_clear(r->events[k]);
				free(r->events[k]);
			}
			free(r->events);
			r->events = NULL;
			r->nevents = 0;
			restart(r, poll_ms(r));
		}
		return;
	case OADR_DISTRIBUTE_EVENT:
		take_distribution(r, &in->u.distribute_event);
		return;
	case OADR_CREATE_REPORT:
		m.type = OADR_CREATED_REPORT;
		m.u.created_report.response.code = 200;
		m.u.created_report.response.description = dupstr("OK");
		m.u.created_report.response.request_id =
		    dupstr(in->u.create_report.request_id);
		take_report_requests(r, in->u.create_report.requests,
		    in->u.create_report.n_requests,
		    &m.u.created_report.pending);
		m.u.created_report.ven_id = dupstr(r->ven_id);
		send_later(r, "EiReport", &m);
		return;
	case OADR_REGISTER_REPORT:
		m.type = OADR_REGISTERED_REPORT;
		m.u.registered_report.response.code = 200;
		m.u.registered_report.response.description = dupstr("OK");
		m.u.registered_report.response.request_id =
		    dupstr(in->u.register_report.request_id);
		m.u.registered_report.ven_id = dupstr(r->ven_id);
		send_later(r, "EiReport", &m);
		return;
	case OADR_CANCEL_REPORT:
		for (size_t i = 0; i < in->u.cancel_report.report_request_ids.n;
		    i++)
			for (size_t k = 0; k < r->nreqs; k++)
				if (r->reqs[k]->id && !strcmp(r->reqs[k]->id,
				    in->u.cancel_report.report_request_ids.v[i]))
					report_stop(r->reqs[k]);
		m.type = OADR_CANCELED_REPORT;
		m.u.canceled_report.response.code = 200;
		m.u.canceled_report.response.description = dupstr("OK");
		m.u.canceled_report.response.request_id =
		    dupstr(in->u.cancel_report.request_id);
		m.u.canceled_report.ven_id = dupstr(r->ven_id);
		send_later(r, "EiReport", &m);
		return;
	case OADR_UPDATE_REPORT:
		m.type = OADR_UPDATED_REPORT;
		m.u.updated_report.response.code = 200;
		m.u.updated_report.response.request_id =
		    dupstr(in->u.update_report.request_id);
		m.u.updated_report.ven_id = dupstr(r->ven_id);
		send_later(r, "EiReport", &m);
		return;
	case OADR_UPDATED_REPORT:
	case OADR_CREATED_OPT:
	case OADR_CANCELED_OPT:
	case OADR_REGISTERED_REPORT:
	case OADR_CANCELED_PARTY_REGISTRATION:
		return;			/* the VTN's answer to what we sent */
	case OADR_REQUEST_REREGISTRATION:
		rlog(r, "   asked to register again");
		restart(r, 0);
		return;
	case OADR_CANCEL_PARTY_REGISTRATION:
		m.type = OADR_CANCELED_PARTY_REGISTRATION;
		m.u.canceled_party_registration.response.code = 200;
		m.u.canceled_party_registration.response.description =
		    dupstr("OK");
		m.u.canceled_party_registration.response.request_id =
		    dupstr(in->u.cancel_party_registration.request_id);
		m.u.canceled_party_registration.registration_id =
		    dupstr(r->reg_id);
		m.u.canceled_party_registration.ven_id = dupstr(r->ven_id);
		send_later(r, "EiRegisterParty", &m);
		/* No registration, no reports. */
		for (size_t k = 0; k < r->nreqs; k++)
			report_stop(r->reqs[k]);
		r->state = V_CANCELLED;
		r->reg_id[0] = r->ven_id[0] = '\0';
		/* A real RA would call its operator; we try again later. */
		evtimer_del(r->timer);
		arm(r, poll_ms(r) * 10);
		return;
	default:
		rlog(r, "!! unexpected %s", oadr_msg_name(in->type));
		return;
	}
}

static void
on_registration(struct rra *r, const struct oadr_created_party_registration *c)
{
	if (c->has_poll_freq && c->poll_freq >= 1000000)
		r->poll_ms = (uint64_t)(c->poll_freq / 1000);
	if (r->state == V_QUERY) {
		r->state = V_REGISTER;
		send_create_party(r);
		return;
	}
	if (c->response.code != 200 || !c->ven_id) {
		snprintf(r->last_error, sizeof(r->last_error), "registration "
		    "refused: %03u %s", c->response.code,
		    c->response.description ? c->response.description : "");
		rlog(r, "!! %s", r->last_error);
		restart(r, poll_ms(r));
		return;
	}
	snprintf(r->ven_id, sizeof(r->ven_id), "%s", c->ven_id);
	snprintf(r->reg_id, sizeof(r->reg_id), "%s", c->registration_id ?
	    c->registration_id : "");
	r->registrations++;
	r->state = V_REGISTER_REPORT;
	rlog(r, "   registered: venID %s, registrationID %s, poll every "
	    "%llums", r->ven_id, r->reg_id, (unsigned long long)poll_ms(r));
	send_register_report(r);
}

static void
on_reply(void *arg, int status, const char *body, size_t len, const char *err)
{
	struct rra *r = arg;
	struct oadr_msg in;
	char why[OADR_ERR_MAX], *desc;

	if (status == 0) {
		struct timeval tv;

		/* Not answered: the same request again, later. */
		r->failures++;
		snprintf(r->last_error, sizeof(r->last_error), "%s", err);
		r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : 500;
		if (r->backoff_ms > 30000)
			r->backoff_ms = 30000;
		rlog(r, "!! %s; sending again in %llums", err,
		    (unsigned long long)r->backoff_ms);
		tv.tv_sec = (time_t)(r->backoff_ms / 1000);
		tv.tv_usec = (suseconds_t)(r->backoff_ms % 1000) * 1000;
		evtimer_add(r->retry, &tv);
		return;
	}
	r->busy = 0;
	free(r->doc);
	r->doc = NULL;
	r->backoff_ms = 0;
	if (status != 200) {
		snprintf(r->last_error, sizeof(r->last_error), "HTTP %d: %.*s",
		    status, (int)(len > 200 ? 200 : len), body);
		rlog(r, "!! %s", r->last_error);
		restart(r, poll_ms(r));
		return;
	}
	if (oadr_parse(body, len, &r->f->lim, r->f->schema, &in, why,
	    sizeof(why)) != 0) {
		snprintf(r->last_error, sizeof(r->last_error), "answer "
		    "refused: %s", why);
		rlog(r, "!! %s", r->last_error);
		pump(r);
		return;
	}
	desc = oadr_msg_describe(&in);
	rlog(r, "<- %s", desc ? desc : "?");
	free(desc);
	if (in.type == OADR_CREATED_PARTY_REGISTRATION)
		on_registration(r, &in.u.created_party_registration);
	else if (in.type == OADR_REGISTERED_REPORT &&
	    r->state == V_REGISTER_REPORT) {
		struct oadr_msg m;

		/* A RegisteredReport may already ask for reports. */
		if (in.u.registered_report.n_requests) {
			memset(&m, 0, sizeof(m));
			m.type = OADR_CREATED_REPORT;
			m.u.created_report.response.code = 200;
			m.u.created_report.response.request_id = dupstr("");
			take_report_requests(r, in.u.registered_report.requests,
			    in.u.registered_report.n_requests,
			    &m.u.created_report.pending);
			m.u.created_report.ven_id = dupstr(r->ven_id);
			send_later(r, "EiReport", &m);
		}
		r->state = V_REQUEST_EVENT;
		send_request_event(r);
	} else if (in.type == OADR_DISTRIBUTE_EVENT &&
	    r->state == V_REQUEST_EVENT) {
		take_distribution(r, &in.u.distribute_event);
		r->state = V_POLL;
		arm(r, poll_ms(r));
	} else
		answer(r, &in);
	oadr_msg_free(&in);
	pump(r);
}

/*
 * What the VTN pushes to us: taken as the answer to a poll would be, and
 * acknowledged at once with an oadrResponse; our answers (oadrCreatedEvent
 * ...) go on their own requests, as in the pull model.
 */
static void
on_push(void *arg, struct http_exchange *x)
{
	struct rra *r = arg;
	struct oadr_msg in, out;
	const char *body;
	char why[OADR_ERR_MAX], *desc, *doc;
	size_t len, dlen;

	if (!http_is_post(x) || http_service(x) == NULL) {
		http_reply_error(x, 404, "not an OpenADR 2.0b endpoint");
		return;
	}
	body = http_body(x, &len);
	if (oadr_parse(body, len, &r->f->lim, r->f->schema, &in, why,
	    sizeof(why)) != 0) {
		rlog(r, "!! pushed to %s, refused: %s", http_service(x), why);
		http_reply_error(x, 400, why);
		return;
	}
	r->pushed++;
	desc = oadr_msg_describe(&in);
	rlog(r, "<= pushed %s %s", http_service(x), desc ? desc : "?");
	free(desc);
	answer(r, &in);
	oadr_msg_free(&in);
	memset(&out, 0, sizeof(out));
	out.type = OADR_RESPONSE;
	out.u.response.response.code = 200;
	out.u.response.response.description = dupstr("OK");
	out.u.response.response.request_id = dupstr("");
	out.u.response.ven_id = dupstr(r->ven_id);
	doc = oadr_build(&out, r->f->schema, &dlen, why, sizeof(why));
	oadr_msg_free(&out);
	if (doc == NULL) {
		http_reply_error(x, 500, why);
		return;
	}
	http_reply(x, doc, dlen);
	free(doc);
	pump(r);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rra *r = arg;

	(void)fd, (void)what;
	switch (r->state) {
	case V_POLL:
		/*
		 * A real VEN keeps polling while it has telemetry to send:
		 * the poll waits behind what is queued, never more than
		 * one of them, so that reports slower than the poll period
		 * (a VTN with slow disks) cannot starve it.
		 */
		if (r->srv == NULL && !poll_queued(r))
			send_poll(r);
		arm(r, poll_ms(r));
		break;
	case V_CANCELLED:
		r->state = V_QUERY;
		/* FALLTHROUGH */
	default:
		r->state = V_QUERY;
		if (!r->busy)
			send_query(r);
		else
			arm(r, 1000);
		break;
	}
}

/* ---- behaviour file -------------------------------------------------------- */

static int
parse_behaviour_map(struct ydoc *y, yaml_node_t *n, const char *base,
    struct behaviour *b, int ra)
{
	static const char *const keys[] = { "response", "late_by",
	    "contracted_kw", "noise", NULL };
	static const char *const ra_keys[] = { "ven", "cn", "response",
	    "late_by", "contracted_kw", "noise", NULL };
	yaml_node_t *v;
	char path[128];

	if (ydoc_keys(y, n, base, ra ? ra_keys : keys) != 0)
		return -1;
#define K(x) (snprintf(path, sizeof(path), "%s.%s", base, x), path)
	if ((v = ydoc_get(y, n, "response")) &&
	    ydoc_choice(y, v, K("response"), response_names, &b->response))
		return -1;
	if ((v = ydoc_get(y, n, "late_by")) &&
	    ydoc_duration(y, v, K("late_by"), &b->late_ms))
		return -1;
	if ((v = ydoc_get(y, n, "contracted_kw"))) {
		if (ydoc_double(y, v, K("contracted_kw"), &b->contracted_kw))
			return -1;
		if (b->contracted_kw < 0) {
			ydoc_fail(y, v, path, "must not be negative");
			return -1;
		}
	}
	if ((v = ydoc_get(y, n, "noise"))) {
		if (ydoc_double(y, v, K("noise"), &b->noise))
			return -1;
		if (b->noise < 0 || b->noise > 1) {
			ydoc_fail(y, v, path, "must be from 0 to 1");
			return -1;
		}
	}
#undef K
	return 0;
}

static int
load_behaviour(struct fleet *f, const char *path, char *err, size_t errlen)
{
	static const char *const keys[] = { "default", "ras", NULL };
	struct behaviour dflt = { R_OPTIN, 5000, 1000, 0.0 };
	struct ydoc y;
	yaml_node_t *root, *v;
	yaml_node_item_t *it;
	size_t i = 0;

	for (size_t k = 0; k < f->n; k++)
		f->ras[k].b = dflt;
	if (!path)
		return 0;
	if (ydoc_load(&y, path, err, errlen) != 0)
		return -1;
	root = ydoc_root(&y);
	if (ydoc_keys(&y, root, NULL, keys) != 0)
		goto fail;
	if ((v = ydoc_get(&y, root, "default"))) {
		if (parse_behaviour_map(&y, v, "default", &dflt, 0) != 0)
			goto fail;
		for (size_t k = 0; k < f->n; k++)
			f->ras[k].b = dflt;
	}
	if ((v = ydoc_get(&y, root, "ras"))) {
		if (v->type != YAML_SEQUENCE_NODE) {
			ydoc_fail(&y, v, "ras", "expected a list");
			goto fail;
		}
		for (it = v->data.sequence.items.start;
		    it < v->data.sequence.items.top; it++, i++) {
			yaml_node_t *e = yaml_document_get_node(&y.doc, *it);
			yaml_node_t *w;
			char base[48], path2[64];
			struct behaviour b = dflt;
			long idx = 0;
			const char *cn = NULL;
			int matched = 0;

			snprintf(base, sizeof(base), "ras[%zu]", i);
			if (parse_behaviour_map(&y, e, base, &b, 1) != 0)
				goto fail;
			snprintf(path2, sizeof(path2), "%s.ven", base);
			if ((w = ydoc_get(&y, e, "ven")) &&
			    ydoc_long(&y, w, path2, 1, (long)f->n, &idx) != 0)
				goto fail;
			snprintf(path2, sizeof(path2), "%s.cn", base);
			if ((w = ydoc_get(&y, e, "cn")) &&
			    !(cn = ydoc_scalar(&y, w, path2)))
				goto fail;
			if (!idx && !cn) {
				ydoc_fail(&y, e, base, "needs \"ven\" (its "
				    "number) or \"cn\" (its certificate CN)");
				goto fail;
			}
			for (size_t k = 0; k < f->n; k++)
				if ((idx && (size_t)idx == k + 1) ||
				    (cn && !strcmp(cn, f->ras[k].cn))) {
					/* Only what the entry sets. */
					struct behaviour *t = &f->ras[k].b;

					if (ydoc_get(&y, e, "response"))
						t->response = b.response;
					if (ydoc_get(&y, e, "late_by"))
						t->late_ms = b.late_ms;
					if (ydoc_get(&y, e, "contracted_kw"))
						t->contracted_kw =
						    b.contracted_kw;
					if (ydoc_get(&y, e, "noise"))
						t->noise = b.noise;
					matched = 1;
				}
			if (!matched) {
				ydoc_fail(&y, e, base, "matches no RA of this "
				    "run");
				goto fail;
			}
		}
	}
	ydoc_free(&y);
	return 0;
fail:
	ydoc_free(&y);
	return -1;
}

/* ---- results ------------------------------------------------------------- */

static void
write_results(struct fleet *f)
{
	uint64_t reg = 0, polls = 0, updates = 0, values = 0, optin = 0,
	    optout = 0, events = 0;
	struct json_buf j;
	FILE *out;

	json_init(&j, 0);
	json_object_begin(&j);
	json_key(&j, "ras");
	json_array_begin(&j);
	for (size_t i = 0; i < f->n; i++) {
		struct rra *r = &f->ras[i];

		json_object_begin(&j);
		json_kv_int(&j, "ra", (int64_t)r->index);
		json_kv_str(&j, "cn", r->cn);
		json_kv_str(&j, "fingerprint", r->fp);
		json_kv_str(&j, "ven_id", r->ven_id);
		json_kv_bool(&j, "registered", r->ven_id[0] != '\0');
		json_kv_str(&j, "behaviour", response_names[r->b.response]);
		json_kv_int(&j, "polls", (int64_t)r->polls);
		json_kv_int(&j, "pushed", (int64_t)r->pushed);
		json_kv_int(&j, "report_updates", (int64_t)r->updates);
		json_kv_int(&j, "report_values", (int64_t)r->values_sent);
		json_kv_int(&j, "failures", (int64_t)r->failures);
		if (r->last_error[0])
			json_kv_str(&j, "last_error", r->last_error);
		json_key(&j, "events");
		json_array_begin(&j);
		for (size_t k = 0; k < r->nevents; k++) {
			const struct ev *e = r->events[k];

			json_object_begin(&j);
			json_kv_str(&j, "event", e->id);
			json_kv_int(&j, "modification", e->mod);
			json_kv_str(&j, "status", oadr_status_name(e->status));
			json_kv_str(&j, "response", !e->answered ? "none" :
			    e->opt == OADR_OPT_OUT ? "optOut" : "optIn");
			json_object_end(&j);
			events++;
			optin += e->answered && e->opt == OADR_OPT_IN;
			optout += e->answered && e->opt == OADR_OPT_OUT;
		}
		json_array_end(&j);
		json_object_end(&j);
		reg += r->ven_id[0] != '\0';
		polls += r->polls;
		updates += r->updates;
		values += r->values_sent;
	}
	json_array_end(&j);
	json_key(&j, "total");
	json_object_begin(&j);
	json_kv_int(&j, "ras", (int64_t)f->n);
	json_kv_int(&j, "registered", (int64_t)reg);
	json_kv_int(&j, "polls", (int64_t)polls);
	json_kv_int(&j, "events", (int64_t)events);
	json_kv_int(&j, "opt_in", (int64_t)optin);
	json_kv_int(&j, "opt_out", (int64_t)optout);
	json_kv_int(&j, "report_updates", (int64_t)updates);
	json_kv_int(&j, "report_values", (int64_t)values);
	json_object_end(&j);
	json_object_end(&j);
	if (!f->json_path || !strcmp(f->json_path, "-"))
		printf("%s\n", j.s);
	else if (!(out = fopen(f->json_path, "w")) ||
	    fprintf(out, "%s\n", j.s) < 0 || fclose(out) != 0)
		fprintf(stderr, "acgw-mockra: %s: %s\n", f->json_path,
		    strerror(errno));
	json_free(&j);
}

static void
end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fleet *f = arg;

	(void)fd, (void)what;
	if (stop_signal || (f->duration_ms &&
	    (uint64_t)mono_ms(f) >= f->duration_ms))
		event_base_loopbreak(f->base);
}

static void
on_signal(int sig)
{
	stop_signal = sig;
}

/* ---- setup --------------------------------------------------------------- */

struct certpair {
	char *cert, *key;
};

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct certpair *)a)->cert,
	    ((const struct certpair *)b)->cert);
}

/* DIR/X.pem with DIR/X.key beside it, in name order. */
static size_t
list_certs(const char *dir, struct certpair **out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	*out = NULL;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		struct certpair *p;
		char *key;
		FILE *t;

		if (l < 5 || strcmp(de->d_name + l - 4, ".pem"))
			continue;
		if (asprintf(&key, "%s/%.*s.key", dir, (int)(l - 4),
		    de->d_name) < 0)
			break;
		if (!(t = fopen(key, "r"))) {
			free(key);
			continue;
		}
		fclose(t);
		p = oadr_append((void **)out, &n, sizeof(*p));
		if (!p || asprintf(&p->cert, "%s/%s", dir, de->d_name) < 0) {
			free(key);
			break;
		}
		p->key = key;
	}
	closedir(d);
	if (n)
		qsort(*out, n, sizeof(**out), by_name);
	return n;
}

static int
cert_identity(const char *path, struct rra *r)
{
	FILE *fp = fopen(path, "r");
	X509 *x = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
	struct tls_identity id;

	if (fp)
		fclose(fp);
	if (!x || tls_identity_from_cert(x, &id) != 0) {
		X509_free(x);
		return -1;
	}
	snprintf(r->cn, sizeof(r->cn), "%s", id.subject_cn);
	snprintf(r->fp, sizeof(r->fp), "%s", id.openadr_fp);
	X509_free(x);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: acgw-mockra -u URL --ca FILE (--cert FILE --key FILE | "
	    "--certs DIR)\n"
	    "           [-n N] [--behaviour FILE] [--duration DURATION] "
	    "[--json FILE]\n"
	    "           [--server-name NAME] [--poll-interval DURATION] "
	    "[--stagger DURATION]\n"
	    "           [--name PREFIX] [--schema DIR] [--log FILE] [-v]\n"
	    "       acgw-mockra -V | -h\n"
	    "  -u, --vtn URL             the VTN: https://host:port[/prefix]\n"
	    "      --ca FILE             CA(s) the VTN's certificate chains to\n"
	    "      --cert, --key         one client certificate for every RA\n"
	    "      --certs DIR           one RA per X.pem with its X.key in "
	    "DIR\n"
	    "  -n N                      RAs (default: the certificates in "
	    "--certs, or 1)\n"
	    "      --behaviour FILE      responses, lateness, contracted kW, "
	    "noise (YAML)\n"
	    "      --duration DURATION   stop after this long (default: "
	    "until a signal)\n"
	    "      --json FILE           results (default: standard output)\n"
	    "      --server-name NAME    name the VTN's certificate must "
	    "carry\n"
	    "      --poll-interval D     poll this often instead of what the "
	    "VTN asks\n"
	    "      --stagger DURATION    spread the RAs' first requests over "
	    "this time\n"
	    "      --name PREFIX         venName prefix (default mockra-)\n"
	    "      --schema DIR          validate payloads against "
	    "DIR/oadr_20b.xsd\n"
	    "      --log FILE            message log (default: standard "
	    "error)\n"
	    "      --push HOST:PORT      push model: RA i listens on PORT+i-1 "
	    "and does not poll\n"
	    "  -v                        log every payload in full\n"
	    "  -V, --version             print the version and exit\n"
	    "  -h, --help                print this help and exit\n"
	    "Exit status: 0 after a run, 2 on a usage or setup error.\n");
}

static int
parse_push(const char *s, char *host, size_t hlen, unsigned long *port)
{
	const char *c = strrchr(s, ':');
	char *end;

	if (c == NULL || c == s || (size_t)(c - s) >= hlen)
		return -1;
	errno = 0;
	*port = strtoul(c + 1, &end, 10);
	if (*end || errno || *port < 1 || *port > 65535)
		return -1;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = '\0';
	return 0;
}

/* RA i listens on the --push port + i - 1, with its own certificate. */
static int
push_listen(struct rra *r, const struct tls_simple *client,
    const char *host, unsigned long port, char *err, size_t errlen)
{
	struct tls_simple ts = *client;
	struct http_server_opts so;
	char listen[96];

	if (port > 65535) {
		snprintf(err, errlen, "RA %zu would listen on port %lu",
		    r->index, port);
		return -1;
	}
	ts.server = 1;
	if (!(r->srv_ctx = tls_ctx_simple(&ts, err, errlen)))
		return -1;
	snprintf(listen, sizeof(listen), "%s:%lu", host, port);
	memset(&so, 0, sizeof(so));
	so.ctx = r->srv_ctx;
	so.listen = listen;
	so.max_body = r->f->lim.max_payload;
	so.handler = on_push;
	so.arg = r;
	if (!(r->srv = http_server_new(r->f->base, &so, err, errlen)))
		return -1;
	snprintf(r->push_url, sizeof(r->push_url), "https://%s", listen);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "vtn", required_argument, NULL, 'u' },
		{ "ca", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "certs", required_argument, NULL, 'D' },
		{ "behaviour", required_argument, NULL, 'B' },
		{ "duration", required_argument, NULL, 'T' },
		{ "json", required_argument, NULL, 'J' },
		{ "server-name", required_argument, NULL, 'N' },
		{ "poll-interval", required_argument, NULL, 'P' },
		{ "stagger", required_argument, NULL, 'G' },
		{ "name", required_argument, NULL, 'p' },
		{ "schema", required_argument, NULL, 'S' },
		{ "log", required_argument, NULL, 'L' },
		{ "push", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *ca = NULL, *cert = NULL, *key = NULL;
	const char *certdir = NULL, *bpath = NULL, *server_name = NULL;
	const char *schema = NULL, *logpath = NULL;
	struct certpair *pairs = NULL;
	size_t npairs = 0;
	long n = 0;
	const char *push = NULL;
	char push_host[64];
	unsigned long push_port = 0;
	uint64_t stagger = 0;
	struct fleet f;
	struct timeval tv = { 0, 100000 };
	char err[TLS_ERR_MAX], *end;
	int ch, rc = 0;

	memset(&f, 0, sizeof(f));
	oadr_limits_default(&f.lim);
	f.name_prefix = "mockra-";
	while ((ch = getopt_long(argc, argv, "u:n:vhV", longopts, NULL)) != -1) {
		uint64_t *dst = NULL;

		switch (ch) {
		case 'u': url = optarg; break;
		case 'A': ca = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'D': certdir = optarg; break;
		case 'B': bpath = optarg; break;
		case 'J': f.json_path = optarg; break;
		case 'N': server_name = optarg; break;
		case 'p': f.name_prefix = optarg; break;
		case 'S': schema = optarg; break;
		case 'L': logpath = optarg; break;
		case 'H': push = optarg; break;
		case 'v': f.verbose = 1; break;
		case 'n':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (*end || errno || n < 1 || n > 100000) {
				fprintf(stderr, "acgw-mockra: -n takes 1 to "
				    "100000\n");
				return 2;
			}
			break;
		case 'T': dst = &f.duration_ms; break;
		case 'P': dst = &f.poll_override_ms; break;
		case 'G': dst = &stagger; break;
		case 'V': printf("acgw-mockra %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (dst && units_parse_duration(optarg, dst, err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "acgw-mockra: --%s: %s\n", ch == 'T' ?
			    "duration" : ch == 'P' ? "poll-interval" :
			    "stagger", err);
			return 2;
		}
	}
	if (push != NULL && parse_push(push, push_host, sizeof(push_host),
	    &push_port) != 0) {
		fprintf(stderr, "acgw-mockra: --push: \"%s\" is not "
		    "HOST:PORT with a port from 1 to 65535\n", push);
		return 2;
	}
	if (optind != argc || !url || !ca || (!certdir && (!cert || !key)) ||
	    (certdir && (cert || key))) {
		usage(stderr);
		return 2;
	}
	if (certdir) {
		npairs = list_certs(certdir, &pairs);
		if (npairs == 0) {
			fprintf(stderr, "acgw-mockra: %s: no X.pem with its "
			    "X.key\n", certdir);
			rc = 2;
			goto out;
		}
		if (!n)
			n = (long)npairs;
		if ((size_t)n > npairs) {
			fprintf(stderr, "acgw-mockra: -n %ld but only %zu "
			    "certificates in %s\n", n, npairs, certdir);
			rc = 2;
			goto out;
		}
	}
	if (!n)
		n = 1;
	f.n = (size_t)n;
	{
		/* One connection per RA: as many descriptors as allowed. */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			if (rl.rlim_cur != RLIM_INFINITY &&
			    (rlim_t)f.n + 64 > rl.rlim_cur) {
				fprintf(stderr, "acgw-mockra: %zu RAs need %zu "
				    "file descriptors; the limit is %llu "
				    "(raise ulimit -n)\n", f.n, f.n + 64,
				    (unsigned long long)rl.rlim_cur);
				rc = 2;
				goto out;
			}
		}
	}
	f.log = stderr;
	if (logpath && !(f.log = fopen(logpath, "a"))) {
		fprintf(stderr, "acgw-mockra: %s: %s\n", logpath,
		    strerror(errno));
		rc = 2;
		goto out;
	}
	if (schema && !(f.schema = oadr_schema_load(schema, err,
	    sizeof(err)))) {
		fprintf(stderr, "acgw-mockra: --schema: %s\n", err);
		rc = 2;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (!(f.base = event_base_new()) ||
	    !(f.ras = calloc(f.n, sizeof(*f.ras)))) {
		fprintf(stderr, "acgw-mockra: out of memory\n");
		rc = 2;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &f.t0);
	{
		SSL_CTX *shared = NULL;

		for (size_t i = 0; i < f.n; i++) {
			struct rra *r = &f.ras[i];
			struct tls_simple ts;
			struct http_client_opts co;

			r->f = &f;
			r->index = i + 1;
			r->seed = (unsigned)(i + 1);
			memset(&ts, 0, sizeof(ts));
			ts.cert = certdir ? pairs[i].cert : cert;
			ts.key = certdir ? pairs[i].key : key;
			ts.ca = ca;
			if (cert_identity(ts.cert, r) != 0) {
				fprintf(stderr, "acgw-mockra: %s: no PEM "
				    "certificate\n", ts.cert);
				rc = 2;
				goto out;
			}
			if (certdir || !shared) {
				if (!(r->ctx = tls_ctx_simple(&ts, err,
				    sizeof(err)))) {
					fprintf(stderr, "acgw-mockra: %s\n",
					    err);
					rc = 2;
					goto out;
				}
				if (!certdir)
					shared = r->ctx;
			} else {
				SSL_CTX_up_ref(shared);
				r->ctx = shared;
			}
			memset(&co, 0, sizeof(co));
			co.ctx = r->ctx;
			co.url = url;
			co.server_name = server_name;
			co.timeout_ms = 15000;
			if (!(r->http = http_client_new(f.base, &co, err,
			    sizeof(err)))) {
				fprintf(stderr, "acgw-mockra: --vtn: %s\n", err);
				rc = 2;
				goto out;
			}
			if (push != NULL && push_listen(r, &ts, push_host,
			    push_port + (unsigned long)i, err,
			    sizeof(err)) != 0) {
				fprintf(stderr, "acgw-mockra: --push: %s\n",
				    err);
				rc = 2;
				goto out;
			}
			r->timer = evtimer_new(f.base, timer_cb, r);
			r->retry = evtimer_new(f.base, retry_cb, r);
			r->state = V_QUERY;
			arm(r, f.n > 1 ? stagger * i / (f.n - 1) : 0);
		}
	}
	if (load_behaviour(&f, bpath, err, sizeof(err)) != 0) {
		fprintf(stderr, "acgw-mockra: %s\n", err);
		rc = 2;
		goto out;
	}
	f.end = event_new(f.base, -1, EV_PERSIST, end_cb, &f);
	event_add(f.end, &tv);
	event_base_dispatch(f.base);

	write_results(&f);
out:
	for (size_t i = 0; f.ras && i < f.n; i++) {
		struct rra *r = &f.ras[i];

		for (size_t k = 0; k < r->nevents; k++) {
			ev_clear(r->events[k]);
			free(r->events[k]);
		}
		free(r->events);
		for (size_t k = 0; k < r->nreqs; k++) {
			report_stop(r->reqs[k]);
			free(r->reqs[k]);
		}
		free(r->reqs);
		for (size_t k = 0; k < r->nout; k++)
			oadr_msg_free(&r->out[k].m);
		free(r->out);
		http_client_free(r->http);
		http_server_free(r->srv);
		SSL_CTX_free(r->srv_ctx);
		if (r->timer)
			event_free(r->timer);
		if (r->retry)
			event_free(r->retry);
		free(r->doc);
		SSL_CTX_free(r->ctx);
	}
	for (size_t i = 0; i < npairs; i++) {
		free(pairs[i].cert);
		free(pairs[i].key);
	}
	free(pairs);
	free(f.ras);
	if (f.end)
		event_free(f.end);
	/*
	 * A TLS bufferevent freed while its deferred callbacks were queued
	 * is finished by the loop: let it run once more before it goes.
	 */
	if (f.base)
		event_base_loop(f.base, EVLOOP_NONBLOCK);
	oadr_schema_free(f.schema);
	if (f.base)
		event_base_free(f.base);
	if (f.log && f.log != stderr)
		fclose(f.log);
	return rc;
}
