/*
 * acgw-mockdispatch — a stand-in 簡易指令システム: an OpenADR 2.0b VTN over
 * mTLS that plays a scenario (events, modifications, cancellations, report
 * requests, re-registration, silence, dropped connections, restarts) and
 * checks what the VENs do against the scenario's expectations. Exit 0 only
 * when every expectation held. Built from acgw's tls, http and oadr
 * modules; see acgw-mockdispatch(1).
 */
#include "config.h"

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
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "acgw/http.h"
#include "acgw/json.h"
#include "acgw/oadr.h"
#include "acgw/tls.h"
#include "acgw/units.h"
#include "scenario.h"

#define TICK_MS 20

enum { RES_PENDING = 0, RES_DONE, RES_PASS, RES_FAIL };

struct offered {
	char *name;			/* TELEMETRY_USAGE (METADATA_ stripped) */
	char *specifier;
	struct oadr_strlist rids;
};

struct response {
	char *event_id;
	uint32_t mod;
	int opt;
	unsigned code;
	int64_t at_ms;
};

struct value {
	char *request_id;
	char *rid;
	int64_t dtstart;
	double v;
	int64_t at_ms;
};

struct ven {
	char fp[32];			/* OpenADR fingerprint: who it is */
	char cn[128];
	char ven_id[64];
	char reg_id[64];
	char name[128];
	size_t serial;			/* 0, or n-th VEN on a shared certificate */
	int registered;
	int64_t registered_ms;
	char tls_version[32];
	char tls_cipher[64];
	uint64_t polls;
	int distribute_pending;
	struct oadr_msg *queue;		/* messages waiting for a poll */
	size_t nqueue;
	struct offered *offered;
	size_t noffered;
	struct response *resps;
	size_t nresps;
	struct value *values;
	size_t nvalues;
	uint64_t updates;
};

struct mevent {
	char *id;
	uint32_t mod;
	int cancelled, removed;
	int64_t created_us, dtstart_us;
	uint64_t interval_ms;
	double *values;
	size_t n;
	char *signal_name;
	int signal_type;
	char *units;
	int response_required;
	int test;
	char *market_context;
};

struct result {
	int state;
	int64_t at_ms;
	char msg[2048];
};

struct md {
	struct event_base *base;
	struct http_server *srv;
	SSL_CTX *ctx;
	struct scenario *sc;
	struct result *res;
	size_t next;
	struct timespec t0;
	struct ven **vens;
	size_t nvens;
	struct mevent *events;
	size_t nevents;
	struct event *tick;
	uint64_t resume_at;		/* silent until (ms), 0: not silent */
	FILE *log;
	int verbose;
	struct oadr_limits lim;
	struct oadr_schema *schema;
	uint64_t timeout_ms;
	uint64_t received, sent, refused;
	unsigned regs;			/* registrations made (REG-n) */
	int exit_code;
	int stopped;			/* by a signal: not a pass */
	uint64_t drain_until;		/* the last action's answers, ms */
	const char *json_path, *junit_path;
};

static volatile sig_atomic_t stop_signal;

static int64_t
now_ms(const struct md *md)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)(t.tv_sec - md->t0.tv_sec) * 1000 +
	    (t.tv_nsec - md->t0.tv_nsec) / 1000000;
}

static int64_t
wall_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void mlog(struct md *md, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Every line with wall time and the time since the start. */
static void
mlog(struct md *md, const char *fmt, ...)
{
	char ts[64];
	va_list ap;
	int64_t t = now_ms(md);

	if (!md->log)
		return;
	units_format_datetime(wall_us() / 1000 * 1000, ts, sizeof(ts));
	fprintf(md->log, "%s +%lld.%03llds ", ts, (long long)(t / 1000),
	    (long long)(t % 1000));
	va_start(ap, fmt);
	vfprintf(md->log, fmt, ap);
	va_end(ap);
	fputc('\n', md->log);
	fflush(md->log);
}

/* ---- VENs ----------------------------------------------------------------- */

/*
 * VENs are known by their certificate's fingerprint. Several VENs may
 * share one certificate (a load test): then the venID in the payload, or
 * at registration the venName, tells them apart.
 */
static struct ven *
ven_find(struct md *md, const char *fp, const char *ven_id,
    const char *ven_name)
{
	struct ven *first = NULL;

	for (size_t i = 0; i < md->nvens; i++) {
		struct ven *v = md->vens[i];

		if (strcmp(v->fp, fp) != 0)
			continue;
		if (ven_id && !strcmp(v->ven_id, ven_id))
			return v;
		if (ven_name && !strcmp(v->name, ven_name))
			return v;
		if (!first)
			first = v;
	}
	/* A venID this certificate was not given: no VEN of its. */
	if (ven_id && !ven_name)
		return NULL;
	/* A venName not seen yet under this certificate: a new VEN. */
	if (ven_name && first && first->name[0])
		return NULL;
	return first;
}

static struct ven *
ven_get(struct md *md, const struct tls_identity *id, const char *ven_id,
    const char *ven_name)
{
	struct ven *v = ven_find(md, id->openadr_fp, ven_id, ven_name), **nv;
	size_t same = 0;

	if (v)
		return v;
	for (size_t i = 0; i < md->nvens; i++)
		same += !strcmp(md->vens[i]->fp, id->openadr_fp);
	if (!(v = calloc(1, sizeof(*v))) ||
	    !(nv = realloc(md->vens, (md->nvens + 1) * sizeof(*nv)))) {
		free(v);
		return NULL;
	}
	md->vens = nv;
	md->vens[md->nvens++] = v;
	snprintf(v->fp, sizeof(v->fp), "%s", id->openadr_fp);
	if (same)
		snprintf(v->cn, sizeof(v->cn), "%.100s#%zu", id->subject_cn,
		    same + 1);
	else
		snprintf(v->cn, sizeof(v->cn), "%s", id->subject_cn);
	v->serial = same;
	return v;
}

/* The venID a payload names, if any. */
static const char *
msg_ven_id(const struct oadr_msg *m)
{
	switch (m->type) {
	case OADR_CREATE_PARTY_REGISTRATION:
		return m->u.create_party_registration.ven_id;
	case OADR_CANCEL_PARTY_REGISTRATION:
		return m->u.cancel_party_registration.ven_id;
	case OADR_CANCELED_PARTY_REGISTRATION:
		return m->u.canceled_party_registration.ven_id;
	case OADR_POLL:
		return m->u.poll.ven_id;
	case OADR_REQUEST_EVENT:
		return m->u.request_event.ven_id;
	case OADR_CREATED_EVENT:
		return m->u.created_event.ven_id;
	case OADR_REGISTER_REPORT:
		return m->u.register_report.ven_id;
	case OADR_UPDATE_REPORT:
		return m->u.update_report.ven_id;
	case OADR_CREATED_REPORT:
		return m->u.created_report.ven_id;
	case OADR_CANCELED_REPORT:
		return m->u.canceled_report.ven_id;
	case OADR_REGISTERED_REPORT:
		return m->u.registered_report.ven_id;
	case OADR_CREATE_OPT:
		return m->u.create_opt.ven_id;
	case OADR_CANCEL_OPT:
		return m->u.cancel_opt.ven_id;
	case OADR_RESPONSE:
		return m->u.response.ven_id;
	default:
		return NULL;
	}
}

static void
ven_forget(struct ven *v)
{
	for (size_t i = 0; i < v->nqueue; i++)
		oadr_msg_free(&v->queue[i]);
	free(v->queue);
	v->queue = NULL;
	v->nqueue = 0;
	v->registered = 0;
	v->distribute_pending = 0;
	v->ven_id[0] = v->reg_id[0] = '\0';
}

/* Everything the VTN recorded about the VEN, its identity aside. */
static void
ven_records_free(struct ven *v)
{
	for (size_t i = 0; i < v->noffered; i++) {
		free(v->offered[i].name);
		free(v->offered[i].specifier);
		for (size_t k = 0; k < v->offered[i].rids.n; k++)
			free(v->offered[i].rids.v[k]);
		free(v->offered[i].rids.v);
	}
	free(v->offered);
	v->offered = NULL;
	v->noffered = 0;
	for (size_t i = 0; i < v->nresps; i++)
		free(v->resps[i].event_id);
	free(v->resps);
	v->resps = NULL;
	v->nresps = 0;
	for (size_t i = 0; i < v->nvalues; i++) {
		free(v->values[i].request_id);
		free(v->values[i].rid);
	}
	free(v->values);
	v->values = NULL;
	v->nvalues = 0;
	v->tls_version[0] = v->tls_cipher[0] = '\0';
}

static void
ven_amnesia(struct ven *v)
{
	ven_forget(v);
	ven_records_free(v);
}

static void
ven_free(struct ven *v)
{
	ven_forget(v);
	ven_records_free(v);
	free(v);
}

static const char *
ven_label(const struct ven *v)
{
	return v->cn[0] ? v->cn : v->fp;
}

/* Queue a message for the VEN's next poll; m is moved. */
static void
ven_queue(struct ven *v, struct oadr_msg *m)
{
	struct oadr_msg *slot = oadr_append((void **)&v->queue, &v->nqueue,
	    sizeof(*slot));

	if (slot)
		*slot = *m;
	else
		oadr_msg_free(m);
	memset(m, 0, sizeof(*m));
}

static size_t
registered(const struct md *md)
{
	size_t n = 0;

	for (size_t i = 0; i < md->nvens; i++)
		n += md->vens[i]->registered != 0;
	return n;
}

/* ---- events ------------------------------------------------------------- */

static struct mevent *
event_find(struct md *md, const char *id)
{
	for (size_t i = 0; i < md->nevents; i++)
		if (!strcmp(md->events[i].id, id))
			return &md->events[i];
	return NULL;
}

static void
distribute_all(struct md *md)
{
	for (size_t i = 0; i < md->nvens; i++)
		if (md->vens[i]->registered)
			md->vens[i]->distribute_pending = 1;
}

static int
event_status(const struct mevent *e, int64_t now_us)
{
	int64_t end = e->dtstart_us + (int64_t)(e->n * e->interval_ms) * 1000;

	if (e->cancelled)
		return OADR_STATUS_CANCELLED;
	if (now_us < e->dtstart_us)
		return e->dtstart_us - now_us <= 300LL * 1000000 ?
		    OADR_STATUS_NEAR : OADR_STATUS_FAR;
	return now_us < end ? OADR_STATUS_ACTIVE : OADR_STATUS_COMPLETED;
}

static char *
dupstr(const char *s)
{
	char *d = oadr_strdup(s);

	if (s && !d) {
		fprintf(stderr, "acgw-mockdispatch: out of memory\n");
		exit(1);
	}
	return d;
}

static void
fill_event(struct oadr_event *ev, const struct mevent *e, const struct ven *v,
    int64_t now_us)
{
	struct oadr_signal *s;
	char **t;

	ev->descriptor.event_id = dupstr(e->id);
	ev->descriptor.modification_number = e->mod;
	ev->descriptor.market_context = dupstr(e->market_context);
	ev->descriptor.created = e->created_us;
	ev->descriptor.status = event_status(e, now_us);
	ev->descriptor.test_event = dupstr(e->test ? "true" : "false");
	ev->active.dtstart = e->dtstart_us;
	ev->active.duration = (int64_t)(e->n * e->interval_ms) * 1000;
	s = oadr_append((void **)&ev->signals, &ev->n_signals, sizeof(*s));
	s->name = dupstr(e->signal_name);
	s->type = e->signal_type;
	s->id = dupstr("SIG-1");
	s->has_item = 1;
	s->item.kind = OADR_ITEM_POWER_REAL;
	s->item.description = dupstr("RealPower");
	s->item.units = dupstr("W");
	s->item.si_scale = dupstr(!strcmp(e->units, "kW") ? "k" :
	    !strcmp(e->units, "MW") ? "M" : "none");
	s->item.hertz = 50;
	s->item.voltage = 6600;
	s->item.ac = 1;
	s->has_current_value = 1;
	for (size_t i = 0; i < e->n; i++) {
		struct oadr_interval *iv = oadr_append((void **)
		    &s->intervals.v, &s->intervals.n, sizeof(*iv));
		struct oadr_stream_payload *p;
		char uid[24];
		int64_t from = e->dtstart_us + (int64_t)(i * e->interval_ms) *
		    1000;

		iv->has_duration = 1;
		iv->duration = (int64_t)e->interval_ms * 1000;
		snprintf(uid, sizeof(uid), "%zu", i);
		iv->uid = dupstr(uid);
		p = oadr_append((void **)&iv->payloads, &iv->n_payloads,
		    sizeof(*p));
		p->kind = OADR_STREAM_SIGNAL;
		p->value.kind = OADR_PAYLOAD_FLOAT;
		p->value.value = e->values[i];
		if (!e->cancelled && now_us >= from &&
		    now_us < from + (int64_t)e->interval_ms * 1000)
			s->current_value = e->values[i];
	}
	t = oadr_append((void **)&ev->target.ven_ids.v, &ev->target.ven_ids.n,
	    sizeof(char *));
	*t = dupstr(v->ven_id);
	ev->response_required = e->response_required;
}

static void
make_distribute(struct md *md, const struct ven *v, struct oadr_msg *m)
{
	struct oadr_distribute_event *d = &m->u.distribute_event;
	int64_t now = wall_us();
	char rid[48];

	memset(m, 0, sizeof(*m));
	m->type = OADR_DISTRIBUTE_EVENT;
	snprintf(rid, sizeof(rid), "DE-%lld", (long long)now);
	d->request_id = dupstr(rid);
	d->vtn_id = dupstr(md->sc->vtn_id);
	for (size_t i = 0; i < md->nevents; i++) {
		struct oadr_event *ev;

		if (md->events[i].removed)
			continue;
		ev = oadr_append((void **)&d->events, &d->n_events,
		    sizeof(*ev));
		fill_event(ev, &md->events[i], v, now);
	}
}

/* ---- answers ---------------------------------------------------------------- */

static void
response_ok(struct oadr_response *r, unsigned code, const char *desc,
    const char *request_id)
{
	r->code = code;
	r->description = dupstr(desc);
	r->request_id = dupstr(request_id ? request_id : "");
}

static void
send_msg(struct md *md, struct http_exchange *x, struct ven *v,
    struct oadr_msg *m)
{
	char err[OADR_ERR_MAX], *doc, *desc;
	size_t len;

	if (!(doc = oadr_build(m, md->schema, &len, err, sizeof(err)))) {
		mlog(md, "!! cannot build %s: %s", oadr_msg_name(m->type), err);
		http_reply_error(x, 500, "cannot build the answer");
		oadr_msg_free(m);
		return;
	}
	desc = oadr_msg_describe(m);
	mlog(md, "-> %s %s", v ? ven_label(v) : http_peer_addr(x),
	    desc ? desc : "?");
	if (md->verbose)
		mlog(md, "   %s", doc);
	free(desc);
	http_reply(x, doc, len);
	md->sent++;
	free(doc);
	oadr_msg_free(m);
}

static void
send_response(struct md *md, struct http_exchange *x, struct ven *v,
    unsigned code, const char *desc, const char *request_id)
{
	struct oadr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OADR_RESPONSE;
	response_ok(&m.u.response.response, code, desc, request_id);
	if (v && v->ven_id[0])
		m.u.response.ven_id = dupstr(v->ven_id);
	send_msg(md, x, v, &m);
}

static void
created_party(struct md *md, const struct ven *v, const char *request_id,
    struct oadr_msg *m)
{
	struct oadr_created_party_registration *c =
	    &m->u.created_party_registration;
	struct oadr_profile *p;
	struct oadr_transport *t;

	memset(m, 0, sizeof(*m));
	m->type = OADR_CREATED_PARTY_REGISTRATION;
	response_ok(&c->response, 200, "OK", request_id);
	if (v && v->registered) {
		c->registration_id = dupstr(v->reg_id);
		c->ven_id = dupstr(v->ven_id);
	}
	c->vtn_id = dupstr(md->sc->vtn_id);
	p = oadr_append((void **)&c->profiles, &c->n_profiles, sizeof(*p));
	p->name = dupstr("2.0b");
	t = oadr_append((void **)&p->transports, &p->n_transports,
	    sizeof(*t));
	t->name = dupstr("simpleHttp");
	c->has_poll_freq = 1;
	c->poll_freq = (int64_t)md->sc->poll_freq_ms * 1000;
}

/* ---- handlers --------------------------------------------------------------- */

static void
on_register_report(struct md *md, struct ven *v, const struct oadr_msg *in,
    struct oadr_msg *out)
{
	const struct oadr_report_msg *r = &in->u.register_report;

	for (size_t i = 0; i < r->n_reports; i++) {
		const struct oadr_report *rep = &r->reports[i];
		const char *name = rep->name ? rep->name : "";
		struct offered *o = NULL;

		if (!strncmp(name, "METADATA_", 9))
			name += 9;
		for (size_t k = 0; k < v->noffered; k++)
			if (!strcmp(v->offered[k].name, name))
				o = &v->offered[k];
		if (!o) {
			o = oadr_append((void **)&v->offered, &v->noffered,
			    sizeof(*o));
			o->name = dupstr(name);
		}
		free(o->specifier);
		o->specifier = dupstr(rep->specifier_id);
		for (size_t k = 0; k < o->rids.n; k++)
			free(o->rids.v[k]);
		free(o->rids.v);
		memset(&o->rids, 0, sizeof(o->rids));
		for (size_t k = 0; k < rep->n_descriptions; k++) {
			char **s = oadr_append((void **)&o->rids.v, &o->rids.n,
			    sizeof(char *));

			*s = dupstr(rep->descriptions[k].rid);
		}
	}
	memset(out, 0, sizeof(*out));
	out->type = OADR_REGISTERED_REPORT;
	response_ok(&out->u.registered_report.response, 200, "OK",
	    r->request_id);
	out->u.registered_report.ven_id = dupstr(v->ven_id);
	(void)md;
}

static void
on_update_report(struct md *md, struct ven *v, const struct oadr_msg *in,
    struct oadr_msg *out)
{
	const struct oadr_report_msg *r = &in->u.update_report;

	v->updates++;
	for (size_t i = 0; i < r->n_reports; i++) {
		const struct oadr_report *rep = &r->reports[i];

		for (size_t k = 0; k < rep->intervals.n; k++) {
			const struct oadr_interval *iv = &rep->intervals.v[k];

			for (size_t j = 0; j < iv->n_payloads; j++) {
				const struct oadr_stream_payload *p =
				    &iv->payloads[j];
				struct value *val;

				if (p->kind != OADR_STREAM_REPORT ||
				    p->value.kind != OADR_PAYLOAD_FLOAT)
					continue;
				val = oadr_append((void **)&v->values,
				    &v->nvalues, sizeof(*val));
				val->request_id = dupstr(rep->request_id);
				val->rid = dupstr(p->rid);
				val->dtstart = iv->has_dtstart ? iv->dtstart :
				    rep->dtstart;
				val->v = p->value.value;
				val->at_ms = now_ms(md);
			}
		}
	}
	memset(out, 0, sizeof(*out));
	out->type = OADR_UPDATED_REPORT;
	response_ok(&out->u.updated_report.response, 200, "OK", r->request_id);
	out->u.updated_report.ven_id = dupstr(v->ven_id);
}

static void
on_created_event(struct md *md, struct ven *v, const struct oadr_msg *in)
{
	const struct oadr_created_event *c = &in->u.created_event;

	for (size_t i = 0; i < c->n_event_responses; i++) {
		const struct oadr_event_response *er = &c->event_responses[i];
		struct response *r = NULL;

		for (size_t k = 0; k < v->nresps; k++)
			if (!strcmp(v->resps[k].event_id, er->event.event_id))
				r = &v->resps[k];
		if (!r) {
			r = oadr_append((void **)&v->resps, &v->nresps,
			    sizeof(*r));
			r->event_id = dupstr(er->event.event_id);
		}
		r->mod = er->event.modification_number;
		r->opt = er->opt_type;
		r->code = er->code;
		r->at_ms = now_ms(md);
	}
}

/* Does the payload's venID belong to this session's VEN? */
static int
ven_matches(const struct ven *v, const char *ven_id)
{
	return ven_id == NULL || (v->registered && !strcmp(ven_id, v->ven_id));
}

static void
handle(struct md *md, struct http_exchange *x, struct ven *v,
    const char *service, struct oadr_msg *in)
{
	struct oadr_msg out;
	const char *want = oadr_msg_service(in->type);
	char rid[64];

	memset(&out, 0, sizeof(out));
	if (want && strcmp(want, service) != 0) {
		send_response(md, x, v, 400, "sent to the wrong service", NULL);
		return;
	}
	/* Only registration is open to a VEN that is not registered. */
	if (!v->registered && in->type != OADR_QUERY_REGISTRATION &&
	    in->type != OADR_CREATE_PARTY_REGISTRATION &&
	    in->type != OADR_CANCELED_PARTY_REGISTRATION) {
		send_response(md, x, v, 452, "unknown venID: register first",
		    NULL);
		return;
	}
	switch (in->type) {
	case OADR_QUERY_REGISTRATION:
		created_party(md, v, in->u.query_registration.request_id, &out);
		break;
	case OADR_CREATE_PARTY_REGISTRATION: {
		const struct oadr_create_party_registration *c =
		    &in->u.create_party_registration;

		if (c->ven_id && strcmp(c->ven_id, v->ven_id[0] ? v->ven_id :
		    v->fp) != 0) {
			created_party(md, NULL, c->request_id, &out);
			out.u.created_party_registration.response.code = 452;
			free(out.u.created_party_registration.response.description);
			out.u.created_party_registration.response.description =
			    dupstr("venID not assigned by this VTN");
			break;
		}
		if (!v->registered) {
			if (v->serial)
				snprintf(v->ven_id, sizeof(v->ven_id), "%s-%zu",
				    v->fp, v->serial + 1);
			else
				snprintf(v->ven_id, sizeof(v->ven_id), "%s",
				    v->fp);
			snprintf(v->reg_id, sizeof(v->reg_id), "REG-%u",
			    ++md->regs);
			v->registered = 1;
			v->registered_ms = now_ms(md);
		}
		v->registered_ms = now_ms(md);
		snprintf(v->name, sizeof(v->name), "%s",
		    c->ven_name ? c->ven_name : "");
		if (md->nevents)
			v->distribute_pending = 1;
		created_party(md, v, c->request_id, &out);
		break;
	}
	case OADR_CANCEL_PARTY_REGISTRATION:
		out.type = OADR_CANCELED_PARTY_REGISTRATION;
		response_ok(&out.u.canceled_party_registration.response, 200,
		    "OK", in->u.cancel_party_registration.request_id);
		out.u.canceled_party_registration.registration_id =
		    dupstr(in->u.cancel_party_registration.registration_id);
		out.u.canceled_party_registration.ven_id = dupstr(v->ven_id);
		ven_forget(v);
		break;
	case OADR_CANCELED_PARTY_REGISTRATION:
		ven_forget(v);
		send_response(md, x, v, 200, "OK", NULL);
		return;
	case OADR_POLL:
		if (!v->registered || !ven_matches(v, in->u.poll.ven_id)) {
			send_response(md, x, v, 452, "unknown venID: register "
			    "first", NULL);
			return;
		}
		v->polls++;
		if (v->distribute_pending) {
			v->distribute_pending = 0;
			make_distribute(md, v, &out);
		} else if (v->nqueue) {
			out = v->queue[0];
			memmove(v->queue, v->queue + 1, (v->nqueue - 1) *
			    sizeof(*v->queue));
			v->nqueue--;
			if (out.type == OADR_CANCEL_PARTY_REGISTRATION)
				v->registered = 0;
		} else {
			send_response(md, x, v, 200, "OK", NULL);
			return;
		}
		break;
	case OADR_REQUEST_EVENT:
		v->distribute_pending = 0;
		make_distribute(md, v, &out);
		snprintf(rid, sizeof(rid), "%s",
		    in->u.request_event.request_id);
		free(out.u.distribute_event.request_id);
		out.u.distribute_event.request_id = dupstr(rid);
		break;
	case OADR_CREATED_EVENT:
		on_created_event(md, v, in);
		send_response(md, x, v, 200, "OK", NULL);
		return;
	case OADR_REGISTER_REPORT:
		on_register_report(md, v, in, &out);
		break;
	case OADR_UPDATE_REPORT:
		on_update_report(md, v, in, &out);
		break;
	case OADR_CREATED_REPORT:
	case OADR_CANCELED_REPORT:
	case OADR_REGISTERED_REPORT:
		send_response(md, x, v, 200, "OK", NULL);
		return;
	case OADR_CREATE_OPT:
		out.type = OADR_CREATED_OPT;
		response_ok(&out.u.created_opt.response, 200, "OK",
		    in->u.create_opt.request_id);
		out.u.created_opt.opt_id = dupstr(in->u.create_opt.opt_id);
		break;
	case OADR_CANCEL_OPT:
		out.type = OADR_CANCELED_OPT;
		response_ok(&out.u.canceled_opt.response, 200, "OK",
		    in->u.cancel_opt.request_id);
		out.u.canceled_opt.opt_id = dupstr(in->u.cancel_opt.opt_id);
		break;
	default:
		send_response(md, x, v, 400, "a VTN does not take this message",
		    NULL);
		return;
	}
	send_msg(md, x, v, &out);
}

static void
on_request(void *arg, struct http_exchange *x)
{
	struct md *md = arg;
	const char *service = http_service(x), *body;
	struct ven *v;
	struct oadr_msg in;
	char err[OADR_ERR_MAX], *desc;
	size_t len;

	if (!http_is_post(x) || service == NULL) {
		http_reply_error(x, 404, "not an OpenADR 2.0b endpoint");
		return;
	}
	body = http_body(x, &len);
	md->received++;
	if (oadr_parse(body, len, &md->lim, md->schema, &in, err,
	    sizeof(err)) != 0) {
		md->refused++;
		mlog(md, "<- %s (%s) %s: refused: %s", http_peer(x)->subject_cn,
		    http_peer_addr(x), service, err);
		http_reply_error(x, 400, err);
		return;
	}
	if (msg_ven_id(&in) && in.type != OADR_CREATE_PARTY_REGISTRATION &&
	    !ven_find(md, http_peer(x)->openadr_fp, msg_ven_id(&in), NULL)) {
		/* The payload names a VEN this session's certificate is not. */
		struct oadr_msg out;

		mlog(md, "<- %s %s %s with venID %s: not this certificate's",
		    http_peer(x)->subject_cn, service,
		    oadr_msg_name(in.type), msg_ven_id(&in));
		memset(&out, 0, sizeof(out));
		out.type = OADR_RESPONSE;
		response_ok(&out.u.response.response, 452, "venID not "
		    "registered for this certificate", NULL);
		send_msg(md, x, NULL, &out);
		oadr_msg_free(&in);
		return;
	}
	if (!(v = ven_get(md, http_peer(x), msg_ven_id(&in),
	    in.type == OADR_CREATE_PARTY_REGISTRATION ?
	    in.u.create_party_registration.ven_name : NULL))) {
		oadr_msg_free(&in);
		http_reply_error(x, 500, "out of memory");
		return;
	}
	snprintf(v->tls_version, sizeof(v->tls_version), "%s",
	    http_tls_version(x));
	snprintf(v->tls_cipher, sizeof(v->tls_cipher), "%s",
	    http_tls_cipher(x));
	desc = oadr_msg_describe(&in);
	mlog(md, "<- %s %s %s", ven_label(v), service, desc ? desc : "?");
	if (md->verbose)
		mlog(md, "   %.*s", (int)len, body);
	free(desc);
	handle(md, x, v, service, &in);
	oadr_msg_free(&in);
}

static void
on_conn_event(void *arg, const char *addr, const char *what)
{
	struct md *md = arg;

	mlog(md, "   %s: %s", addr, what);
}

/* ---- steps -------------------------------------------------------------------- */

static void
request_report(struct md *md, const struct step *st, size_t idx)
{
	char label[128];

	for (size_t i = 0; i < md->nvens; i++) {
		struct ven *v = md->vens[i];
		struct offered *o = NULL;
		struct oadr_msg m;
		struct oadr_report_request *rr;

		if (!v->registered)
			continue;
		for (size_t k = 0; k < v->noffered; k++)
			if (!strcmp(v->offered[k].name, st->report_name))
				o = &v->offered[k];
		if (!o) {
			scenario_step_label(md->sc, idx, label, sizeof(label));
			mlog(md, "!! %s: %s offered no %s report; none "
			    "requested from it", label, ven_label(v),
			    st->report_name);
			continue;
		}
		memset(&m, 0, sizeof(m));
		m.type = OADR_CREATE_REPORT;
		m.u.create_report.request_id = dupstr(st->request_id);
		m.u.create_report.ven_id = dupstr(v->ven_id);
		rr = oadr_append((void **)&m.u.create_report.requests,
		    &m.u.create_report.n_requests, sizeof(*rr));
		rr->request_id = dupstr(st->request_id);
		rr->specifier_id = dupstr(o->specifier);
		rr->granularity = (int64_t)st->granularity_ms * 1000;
		rr->back_duration = (int64_t)st->back_ms * 1000;
		if (st->duration_ms) {
			rr->has_interval = 1;
			rr->interval.dtstart = wall_us() / 1000000 * 1000000;
			rr->interval.duration = (int64_t)st->duration_ms * 1000;
		}
		for (size_t k = 0; k < o->rids.n; k++) {
			struct oadr_specifier_payload *sp = oadr_append(
			    (void **)&rr->payloads, &rr->n_payloads,
			    sizeof(*sp));

			sp->rid = dupstr(o->rids.v[k]);
			sp->reading_type = dupstr("Direct Read");
		}
		ven_queue(v, &m);
	}
}

static void
queue_all(struct md *md, int type)
{
	for (size_t i = 0; i < md->nvens; i++) {
		struct ven *v = md->vens[i];
		struct oadr_msg m;
		char rid[48];

		if (!v->registered)
			continue;
		memset(&m, 0, sizeof(m));
		m.type = type;
		if (type == OADR_REQUEST_REREGISTRATION) {
			m.u.request_reregistration.ven_id = dupstr(v->ven_id);
		} else {
			snprintf(rid, sizeof(rid), "CPR-%lld",
			    (long long)wall_us());
			m.u.cancel_party_registration.request_id = dupstr(rid);
			m.u.cancel_party_registration.registration_id =
			    dupstr(v->reg_id);
			m.u.cancel_party_registration.ven_id =
			    dupstr(v->ven_id);
		}
		ven_queue(v, &m);
	}
}

static void
run_action(struct md *md, size_t idx)
{
	const struct step *st = &md->sc->steps[idx];
	struct mevent *e;
	char label[128];

	scenario_step_label(md->sc, idx, label, sizeof(label));
	mlog(md, "== %s", label);
	md->res[idx].state = RES_DONE;
	md->res[idx].at_ms = now_ms(md);
	switch (st->kind) {
	case STEP_EVENT:
		e = event_find(md, st->event_id);
		if (!e) {
			e = oadr_append((void **)&md->events, &md->nevents,
			    sizeof(*e));
			e->id = dupstr(st->event_id);
		} else
			e->mod++;	/* the same ID again: a new version */
		e->created_us = wall_us() / 1000000 * 1000000;
		e->dtstart_us = (wall_us() / 1000000 + st->start_ms / 1000) *
		    1000000;
		e->interval_ms = st->interval_ms;
		free(e->values);
		e->values = calloc(st->nvalues, sizeof(double));
		memcpy(e->values, st->values, st->nvalues * sizeof(double));
		e->n = st->nvalues;
		free(e->signal_name);
		e->signal_name = dupstr(st->signal_name);
		e->signal_type = st->signal_type;
		free(e->units);
		e->units = dupstr(st->units);
		e->response_required = st->response_required;
		e->test = st->test;
		free(e->market_context);
		e->market_context = dupstr(st->market_context ?
		    st->market_context : md->sc->market_context);
		e->cancelled = e->removed = 0;
		distribute_all(md);
		break;
	case STEP_MODIFY:
		e = event_find(md, st->event_id);
		e->mod++;
		if (st->nvalues) {
			free(e->values);
			e->values = calloc(st->nvalues, sizeof(double));
			memcpy(e->values, st->values, st->nvalues *
			    sizeof(double));
			e->n = st->nvalues;
		}
		if (st->interval_ms)
			e->interval_ms = st->interval_ms;
		if (st->have_start)
			e->dtstart_us = (wall_us() / 1000000 +
			    st->start_ms / 1000) * 1000000;
		distribute_all(md);
		break;
	case STEP_CANCEL:
		e = event_find(md, st->event_id);
		e->mod++;
		e->cancelled = 1;
		distribute_all(md);
		break;
	case STEP_REMOVE:
		event_find(md, st->event_id)->removed = 1;
		distribute_all(md);
		break;
	case STEP_REQUEST_REPORT:
		request_report(md, st, idx);
		break;
	case STEP_REREGISTER:
		queue_all(md, OADR_REQUEST_REREGISTRATION);
		break;
	case STEP_CANCEL_REGISTRATION:
		queue_all(md, OADR_CANCEL_PARTY_REGISTRATION);
		break;
	case STEP_SILENT:
		http_server_pause(md->srv);
		md->resume_at = (uint64_t)now_ms(md) + st->duration;
		break;
	case STEP_DROP:
		mlog(md, "   dropped %zu connections",
		    http_server_drop(md->srv));
		break;
	case STEP_RESTART:
		/* A VTN that restarted knows nothing of its VENs any more:
		 * registrations, answers, reports, sessions. Events stay. */
		http_server_drop(md->srv);
		for (size_t i = 0; i < md->nvens; i++)
			ven_amnesia(md->vens[i]);
		break;
	default:
		break;
	}
}

/* ---- expectations ------------------------------------------------------------ */

struct buf {
	char *s;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->len + 1 >= b->cap)
		return;			/* full: the message is cut here */
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n < b->cap - b->len ? (size_t)n :
		    b->cap - b->len - 1;
}

static size_t
want_vens(const struct md *md, const struct step *st)
{
	size_t r = registered(md);

	if (st->vens >= 0)
		return (size_t)st->vens;
	return r ? r : 1;
}

/* 1: held, 0: not yet; fills what was seen, for a failure message. */
static int
check_response(struct md *md, const struct step *st, struct buf *seen)
{
	const struct mevent *e = event_find(md, st->event_id);
	size_t ok = 0, need = want_vens(md, st), listed = 0;
	size_t n_in = 0, n_out = 0, n_none = 0, n_old = 0;

	for (size_t i = 0; i < md->nvens; i++) {
		const struct ven *v = md->vens[i];
		const struct response *r = NULL;

		for (size_t k = 0; k < v->nresps; k++)
			if (!strcmp(v->resps[k].event_id, st->event_id))
				r = &v->resps[k];
		if (!v->registered && !r)
			continue;
		if (r && e && r->mod == e->mod && r->opt == st->opt)
			ok++;
		if (!r)
			n_none++;
		else if (e && r->mod != e->mod)
			n_old++;
		else if (r->opt)
			n_out++;
		else
			n_in++;
		/* Each VEN by name in small runs; counts beyond a dozen. */
		if (listed++ >= 12)
			continue;
		if (r)
			bprintf(seen, "%s%s %s to modification %u at +%.1fs",
			    seen->len ? "; " : "", ven_label(v),
			    r->opt ? "optOut" : "optIn", r->mod,
			    (double)r->at_ms / 1000);
		else
			bprintf(seen, "%s%s no response", seen->len ? "; " : "",
			    ven_label(v));
	}
	if (listed > 12)
		bprintf(seen, "; in all %zu VENs: %zu optIn and %zu optOut to "
		    "modification %u, %zu answered an earlier one, %zu no "
		    "response", listed, n_in, n_out, e ? e->mod : 0, n_old,
		    n_none);
	return ok >= need;
}

/* Every rID the step names among the VEN's values for its request. */
static int
has_rids(const struct ven *v, const struct step *st, struct buf *seen)
{
	for (size_t r = 0; r < st->nrids; r++) {
		int found = 0;

		for (size_t k = 0; k < v->nvalues && !found; k++)
			found = !strcmp(v->values[k].request_id,
			    st->request_id) && !strcmp(v->values[k].rid,
			    st->rids[r]);
		if (!found) {
			bprintf(seen, ", no rID %s", st->rids[r]);
			return 0;
		}
	}
	return 1;
}

static int
check_report(struct md *md, const struct step *st, struct buf *seen)
{
	size_t ok = 0, n = 0, need = want_vens(md, st);
	double sum = 0;

	for (size_t i = 0; i < md->nvens; i++) {
		const struct ven *v = md->vens[i];
		const struct value *last = NULL;
		uint32_t cnt = 0;

		for (size_t k = 0; k < v->nvalues; k++)
			if (!strcmp(v->values[k].request_id, st->request_id)) {
				cnt++;
				if (!last || v->values[k].dtstart >=
				    last->dtstart)
					last = &v->values[k];
			}
		if (!v->registered && !cnt)
			continue;
		n++;
		bprintf(seen, "%s%s %u values", seen->len ? "; " : "",
		    ven_label(v), cnt);
		if (last)
			bprintf(seen, " (latest %.3f)", last->v);
		if (cnt < st->min_reports || !has_rids(v, st, seen))
			continue;
		sum += last->v;
		if (!st->have_value || st->aggregate_sum ||
		    fabs(last->v - st->value) <= st->tolerance *
		    fabs(st->value) + 1e-9)
			ok++;
	}
	if (st->have_value && st->aggregate_sum) {
		bprintf(seen, "; sum of latest %.3f", sum);
		return ok >= need && fabs(sum - st->value) <= st->tolerance *
		    fabs(st->value) + 1e-9;
	}
	(void)n;
	return ok >= need;
}

static int
version_rank(const char *v)
{
	return !strcmp(v, "TLSv1.3") ? 4 : !strcmp(v, "TLSv1.2") ? 3 :
	    !strcmp(v, "TLSv1.1") ? 2 : !strcmp(v, "TLSv1") ? 1 : 0;
}

static int
check_tls(struct md *md, const struct step *st, struct buf *seen)
{
	size_t ok = 0, need = want_vens(md, st);

	for (size_t i = 0; i < md->nvens; i++) {
		const struct ven *v = md->vens[i];
		int good = v->tls_version[0] != '\0';

		if (!v->registered)
			continue;
		if (st->min_version && version_rank(v->tls_version) <
		    version_rank(st->min_version))
			good = 0;
		if (st->nciphers) {
			int found = 0;

			for (size_t k = 0; k < st->nciphers; k++)
				found |= !strcmp(st->ciphers[k], v->tls_cipher);
			good &= found;
		}
		ok += good;
		bprintf(seen, "%s%s %s %s", seen->len ? "; " : "",
		    ven_label(v), v->tls_version, v->tls_cipher);
	}
	return ok >= need;
}

static void
describe_expectation(const struct md *md, const struct step *st,
    struct buf *b)
{
	char w[32];
	size_t need = want_vens(md, st);

	units_format_duration(st->within_ms, w, sizeof(w));
	switch (st->kind) {
	case STEP_EXPECT_REGISTRATION:
		if (st->again)
			bprintf(b, "%zu VEN(s) registered again within %s",
			    need, w);
		else
			bprintf(b, "%zu registered VEN(s) within %s", need, w);
		break;
	case STEP_EXPECT_RESPONSE:
		bprintf(b, "%s to %s (its latest modification) from %s%zu "
		    "VEN(s) within %s", st->opt ? "optOut" : "optIn",
		    st->event_id, st->vens < 0 ? "all " : "", need, w);
		break;
	case STEP_EXPECT_REPORT:
		bprintf(b, "at least %u value(s) for report request %s from "
		    "%s%zu VEN(s)", st->min_reports, st->request_id,
		    st->vens < 0 ? "all " : "", need);
		for (size_t k = 0; k < st->nrids; k++)
			bprintf(b, "%s%s", k ? ", " : " with rIDs ",
			    st->rids[k]);
		if (st->have_value)
			bprintf(b, ", %s %.3f within %.1f%%",
			    st->aggregate_sum ? "their latest values summing "
			    "to" : "each latest value", st->value,
			    st->tolerance * 100);
		bprintf(b, ", within %s", w);
		break;
	case STEP_EXPECT_TLS:
		bprintf(b, "%s%zu VEN(s) on %s%s", st->vens < 0 ? "all " : "",
		    need, st->min_version ? st->min_version : "any version",
		    st->nciphers ? " with one of the listed ciphers" : "");
		break;
	}
}

static void
evaluate(struct md *md, size_t idx, int64_t now)
{
	const struct step *st = &md->sc->steps[idx];
	struct result *r = &md->res[idx];
	char sbuf[1400], ebuf[600], label[128];
	struct buf seen = { sbuf, 0, sizeof(sbuf) };
	struct buf exp = { ebuf, 0, sizeof(ebuf) };
	int held;

	sbuf[0] = ebuf[0] = '\0';
	switch (st->kind) {
	case STEP_EXPECT_REGISTRATION: {
		size_t n = 0;

		/* again: registered (again) since this step's time. */
		for (size_t i = 0; i < md->nvens; i++)
			n += md->vens[i]->registered && (!st->again ||
			    md->vens[i]->registered_ms >= (int64_t)st->at_ms);
		held = n >= want_vens(md, st);
		bprintf(&seen, "%zu registered%s", n, st->again ?
		    " since then" : "");
		break;
	}
	case STEP_EXPECT_RESPONSE:
		held = check_response(md, st, &seen);
		break;
	case STEP_EXPECT_REPORT:
		held = check_report(md, st, &seen);
		break;
	case STEP_EXPECT_TLS:
		held = check_tls(md, st, &seen);
		break;
	default:
		return;
	}
	scenario_step_label(md->sc, idx, label, sizeof(label));
	describe_expectation(md, st, &exp);
	if (held) {
		r->state = RES_PASS;
		r->at_ms = now;
		snprintf(r->msg, sizeof(r->msg), "expected %s: held at "
		    "+%.3fs (%s)", ebuf, (double)now / 1000, sbuf);
		mlog(md, "ok %s: %s", label, r->msg);
	} else if ((uint64_t)now >= st->at_ms + st->within_ms) {
		r->state = RES_FAIL;
		r->at_ms = now;
		snprintf(r->msg, sizeof(r->msg), "expected %s; came: %s", ebuf,
		    sbuf[0] ? sbuf : "nothing");
		mlog(md, "FAILED %s: %s", label, r->msg);
	}
}

/* ---- output ---------------------------------------------------------------- */

static int
is_expectation(int kind)
{
	return kind >= STEP_EXPECT_REGISTRATION;
}

static void
write_json(struct md *md, int64_t took)
{
	struct json_buf j;
	FILE *f;

	json_init(&j, 0);
	json_object_begin(&j);
	json_kv_str(&j, "scenario", md->sc->name ? md->sc->name :
	    md->sc->path);
	json_kv_bool(&j, "passed", md->exit_code == 0);
	json_kv_int(&j, "duration_ms", took);
	json_key(&j, "steps");
	json_array_begin(&j);
	for (size_t i = 0; i < md->sc->nsteps; i++) {
		const struct step *st = &md->sc->steps[i];
		const struct result *r = &md->res[i];

		json_object_begin(&j);
		json_kv_int(&j, "step", (int64_t)i + 1);
		json_kv_str(&j, "kind", scenario_step_name(st->kind));
		json_kv_int(&j, "at_ms", (int64_t)st->at_ms);
		json_kv_int(&j, "line", (int64_t)st->line);
		json_kv_str(&j, "result", r->state == RES_PASS ? "pass" :
		    r->state == RES_FAIL ? "fail" : r->state == RES_DONE ?
		    "done" : "not reached");
		if (r->msg[0])
			json_kv_str(&j, "message", r->msg);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "vens");
	json_array_begin(&j);
	for (size_t i = 0; i < md->nvens; i++) {
		const struct ven *v = md->vens[i];

		json_object_begin(&j);
		json_kv_str(&j, "fingerprint", v->fp);
		json_kv_str(&j, "cn", v->cn);
		json_kv_str(&j, "ven_id", v->ven_id);
		json_kv_str(&j, "ven_name", v->name);
		json_kv_bool(&j, "registered", v->registered);
		json_kv_str(&j, "tls_version", v->tls_version);
		json_kv_str(&j, "tls_cipher", v->tls_cipher);
		json_kv_int(&j, "polls", (int64_t)v->polls);
		json_kv_int(&j, "report_updates", (int64_t)v->updates);
		json_kv_int(&j, "report_values", (int64_t)v->nvalues);
		json_key(&j, "responses");
		json_array_begin(&j);
		for (size_t k = 0; k < v->nresps; k++) {
			json_object_begin(&j);
			json_kv_str(&j, "event", v->resps[k].event_id);
			json_kv_int(&j, "modification", v->resps[k].mod);
			json_kv_str(&j, "opt", v->resps[k].opt ? "optOut" :
			    "optIn");
			json_kv_int(&j, "at_ms", v->resps[k].at_ms);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_key(&j, "messages");
	json_object_begin(&j);
	json_kv_int(&j, "received", (int64_t)md->received);
	json_kv_int(&j, "sent", (int64_t)md->sent);
	json_kv_int(&j, "refused", (int64_t)md->refused);
	json_object_end(&j);
	json_object_end(&j);
	if ((f = fopen(md->json_path, "w")) == NULL ||
	    fprintf(f, "%s\n", j.s) < 0 || fclose(f) != 0)
		fprintf(stderr, "acgw-mockdispatch: %s: %s\n", md->json_path,
		    strerror(errno));
	json_free(&j);
}


static void
write_junit(struct md *md, int64_t took)
{
	size_t tests = 0, failures = 0;
	FILE *f = fopen(md->junit_path, "w");
	char label[128];

	if (f == NULL) {
		fprintf(stderr, "acgw-mockdispatch: %s: %s\n", md->junit_path,
		    strerror(errno));
		return;
	}
	for (size_t i = 0; i < md->sc->nsteps; i++)
		if (is_expectation(md->sc->steps[i].kind)) {
			tests++;
			failures += md->res[i].state != RES_PASS;
		}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<testsuite name=\"");
	scenario_xml_escape(f, md->sc->name ? md->sc->name : md->sc->path);
	fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n",
	    tests, failures, (double)took / 1000);
	for (size_t i = 0; i < md->sc->nsteps; i++) {
		const struct result *r = &md->res[i];

		if (!is_expectation(md->sc->steps[i].kind))
			continue;
		scenario_step_label(md->sc, i, label, sizeof(label));
		fprintf(f, "  <testcase classname=\"acgw-mockdispatch\" "
		    "name=\"");
		scenario_xml_escape(f, label);
		fprintf(f, "\" time=\"%.3f\"", r->at_ms > 0 ?
		    (double)(r->at_ms - (int64_t)md->sc->steps[i].at_ms) /
		    1000 : 0.0);
		if (r->state == RES_PASS) {
			fprintf(f, "/>\n");
			continue;
		}
		fprintf(f, ">\n    <failure message=\"");
		scenario_xml_escape(f, r->msg[0] ? r->msg : "not reached");
		fprintf(f, "\"/>\n  </testcase>\n");
	}
	fprintf(f, "</testsuite>\n");
	if (fclose(f) != 0)
		fprintf(stderr, "acgw-mockdispatch: %s: %s\n", md->junit_path,
		    strerror(errno));
}

static void
finish(struct md *md)
{
	int64_t took = now_ms(md);
	size_t pass = 0, fail = 0;
	char label[128];

	for (size_t i = 0; i < md->sc->nsteps; i++) {
		if (!is_expectation(md->sc->steps[i].kind))
			continue;
		if (md->res[i].state == RES_PASS)
			pass++;
		else
			fail++;
	}
	md->exit_code = fail || md->stopped ? 1 : 0;
	if (md->stopped)
		printf("acgw-mockdispatch: stopped by a signal before the end "
		    "of the scenario\n");
	printf("acgw-mockdispatch: scenario %s: %zu expectation(s) held, %zu "
	    "failed, %zu VEN(s) seen, %llu messages in, %llu out, %llu "
	    "refused, %.1fs\n", md->sc->name ? md->sc->name : md->sc->path,
	    pass, fail, md->nvens, (unsigned long long)md->received,
	    (unsigned long long)md->sent, (unsigned long long)md->refused,
	    (double)took / 1000);
	for (size_t i = 0; i < md->sc->nsteps; i++) {
		const struct result *r = &md->res[i];

		if (!is_expectation(md->sc->steps[i].kind))
			continue;
		scenario_step_label(md->sc, i, label, sizeof(label));
		printf("  %s %s: %s\n", r->state == RES_PASS ? "ok    " :
		    "FAILED", label, r->msg[0] ? r->msg : "not reached "
		    "(stopped before its time)");
	}
	fflush(stdout);
	if (md->json_path)
		write_json(md, took);
	if (md->junit_path)
		write_junit(md, took);
	event_base_loopbreak(md->base);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct md *md = arg;
	int64_t now = now_ms(md);
	int open = 0;

	(void)fd, (void)what;
	if (stop_signal) {
		mlog(md, "== stopped by signal %d", (int)stop_signal);
		md->stopped = 1;
		finish(md);
		return;
	}
	if (md->resume_at && (uint64_t)now >= md->resume_at) {
		http_server_resume(md->srv);
		md->resume_at = 0;
		mlog(md, "== listening again");
	}
	while (md->next < md->sc->nsteps &&
	    md->sc->steps[md->next].at_ms <= (uint64_t)now) {
		if (!is_expectation(md->sc->steps[md->next].kind))
			run_action(md, md->next);
		md->next++;
	}
	for (size_t i = 0; i < md->next; i++)
		if (is_expectation(md->sc->steps[i].kind) &&
		    md->res[i].state == RES_PENDING)
			evaluate(md, i, now);
	for (size_t i = 0; i < md->sc->nsteps; i++)
		open |= is_expectation(md->sc->steps[i].kind) &&
		    md->res[i].state == RES_PENDING;
	if ((md->next == md->sc->nsteps && !open && !md->resume_at &&
	    (uint64_t)now >= md->drain_until) ||
	    (md->timeout_ms && (uint64_t)now >= md->timeout_ms)) {
		if (md->next < md->sc->nsteps || open)
			mlog(md, "== stopped by --timeout");
		finish(md);
	}
}

static void
on_signal(int sig)
{
	stop_signal = sig;
}

/* ---- main ---------------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: acgw-mockdispatch -l ADDR:PORT --cert FILE --key FILE "
	    "--ca FILE\n"
	    "           -s SCENARIO [--json FILE] [--junit FILE] [--log FILE]\n"
	    "           [--schema DIR] [--timeout DURATION] [-v]\n"
	    "       acgw-mockdispatch --conformance -l ADDR:PORT --cert FILE "
	    "--key FILE --ca FILE\n"
	    "           --wrong-name-cert FILE --wrong-name-key FILE "
	    "[--probe-timeout DURATION]\n"
	    "           [--json FILE] [--junit FILE] [--log FILE]\n"
	    "       acgw-mockdispatch -t -s SCENARIO | -V | -h\n"
	    "  -l, --listen ADDR:PORT  where VENs connect (127.0.0.1:8443)\n"
	    "      --cert, --key       the VTN's server certificate and key\n"
	    "      --ca FILE           CA(s) the VENs' client certificates "
	    "chain to\n"
	    "  -s, --scenario FILE     the timeline to play "
	    "(acgw-mockdispatch(1))\n"
	    "      --json FILE         machine-readable result\n"
	    "      --junit FILE        JUnit XML result, one test case per "
	    "expectation\n"
	    "      --log FILE          message log (default: standard error)\n"
	    "      --schema DIR        also validate every payload against "
	    "DIR/oadr_20b.xsd\n"
	    "      --timeout DURATION  stop after this long whatever is left\n"
	    "      --conformance       TLS conformance probes instead of a "
	    "scenario\n"
	    "      --wrong-name-cert, --wrong-name-key\n"
	    "                          the certificate for another name the "
	    "second probe serves\n"
	    "      --probe-timeout DURATION  how long each probe waits for the "
	    "VEN (60s)\n"
	    "  -t                      check the scenario and exit\n"
	    "  -v                      log every payload in full\n"
	    "  -V, --version           print the version and exit\n"
	    "  -h, --help              print this help and exit\n"
	    "Exit status: 0 every expectation held, 1 one failed, 2 usage or "
	    "setup error.\n");
}

/* For the early exits: the message log is the only thing open. */
static int
close_log(struct md *md, int rc)
{
	if (md->log && md->log != stderr)
		fclose(md->log);
	return rc;
}

int mockdispatch_conformance(struct event_base *base, const char *listen,
    const char *cert, const char *key, const char *ca, const char *wcert,
    const char *wkey, uint64_t probe_ms, FILE *log, const char *json,
    const char *junit);

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'A' },
		{ "scenario", required_argument, NULL, 's' },
		{ "json", required_argument, NULL, 'J' },
		{ "junit", required_argument, NULL, 'U' },
		{ "log", required_argument, NULL, 'L' },
		{ "schema", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "conformance", no_argument, NULL, 'c' },
		{ "wrong-name-cert", required_argument, NULL, 'w' },
		{ "wrong-name-key", required_argument, NULL, 'W' },
		{ "probe-timeout", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NULL, *cert = NULL, *key = NULL, *ca = NULL;
	const char *spath = NULL, *logpath = NULL, *schema = NULL;
	const char *wcert = NULL, *wkey = NULL;
	struct http_server_opts so;
	struct tls_simple ts;
	struct md md;
	struct timeval tv = { 0, TICK_MS * 1000 };
	char err[SCENARIO_ERR_MAX];
	uint64_t probe_ms = 60000;
	int ch, check = 0, conformance = 0;

	memset(&md, 0, sizeof(md));
	oadr_limits_default(&md.lim);
	while ((ch = getopt_long(argc, argv, "l:s:tvhV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'l': listen = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'A': ca = optarg; break;
		case 's': spath = optarg; break;
		case 'J': md.json_path = optarg; break;
		case 'U': md.junit_path = optarg; break;
		case 'L': logpath = optarg; break;
		case 'S': schema = optarg; break;
		case 'c': conformance = 1; break;
		case 'w': wcert = optarg; break;
		case 'W': wkey = optarg; break;
		case 'T':
		case 'P':
			if (units_parse_duration(optarg, ch == 'T' ?
			    &md.timeout_ms : &probe_ms, err, sizeof(err))) {
				fprintf(stderr, "acgw-mockdispatch: --%s: %s\n",
				    ch == 'T' ? "timeout" : "probe-timeout",
				    err);
				return 2;
			}
			break;
		case 't': check = 1; break;
		case 'v': md.verbose = 1; break;
		case 'V': printf("acgw-mockdispatch %s\n", PACKAGE_VERSION);
			return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	md.log = stderr;
	if (logpath && !(md.log = fopen(logpath, "a"))) {
		fprintf(stderr, "acgw-mockdispatch: %s: %s\n", logpath,
		    strerror(errno));
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	{
		/* One descriptor per VEN session: as many as allowed. */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (conformance) {
		if (!listen || !cert || !key || !ca || !wcert || !wkey) {
			usage(stderr);
			return close_log(&md, 2);
		}
		if (!(md.base = event_base_new()))
			return close_log(&md, 2);
		ch = mockdispatch_conformance(md.base, listen, cert, key, ca,
		    wcert, wkey, probe_ms, md.log, md.json_path, md.junit_path);
		event_base_free(md.base);
		return close_log(&md, ch);
	}
	if (!spath || (!check && (!listen || !cert || !key || !ca))) {
		usage(stderr);
		return close_log(&md, 2);
	}
	if (!(md.sc = scenario_load(spath, err, sizeof(err)))) {
		fprintf(stderr, "acgw-mockdispatch: %s\n", err);
		return close_log(&md, 2);
	}
	if (check) {
		printf("scenario ok: %zu steps, %.1fs\n", md.sc->nsteps,
		    (double)md.sc->end_ms / 1000);
		scenario_free(md.sc);
		return close_log(&md, 0);
	}
	if (schema && !(md.schema = oadr_schema_load(schema, err,
	    sizeof(err)))) {
		fprintf(stderr, "acgw-mockdispatch: --schema: %s\n", err);
		md.exit_code = 2;
		goto out;
	}
	memset(&ts, 0, sizeof(ts));
	ts.server = 1;
	ts.cert = cert;
	ts.key = key;
	ts.ca = ca;
	if (!(md.ctx = tls_ctx_simple(&ts, err, sizeof(err)))) {
		fprintf(stderr, "acgw-mockdispatch: %s\n", err);
		md.exit_code = 2;
		goto out;
	}
	md.res = calloc(md.sc->nsteps + 1, sizeof(*md.res));
	md.base = event_base_new();
	if (!md.res || !md.base) {
		md.exit_code = 2;
		goto out;
	}
	memset(&so, 0, sizeof(so));
	so.ctx = md.ctx;
	so.listen = listen;
	so.max_body = md.lim.max_payload;
	so.handler = on_request;
	so.on_event = on_conn_event;
	so.arg = &md;
	if (!(md.srv = http_server_new(md.base, &so, err, sizeof(err)))) {
		fprintf(stderr, "acgw-mockdispatch: %s\n", err);
		md.exit_code = 2;
		goto out;
	}
	/* After the last action, two polls' time for VENs to get it. */
	for (size_t i = 0; i < md.sc->nsteps; i++)
		if (!is_expectation(md.sc->steps[i].kind) &&
		    md.sc->steps[i].at_ms + 2 * md.sc->poll_freq_ms >
		    md.drain_until)
			md.drain_until = md.sc->steps[i].at_ms +
			    2 * md.sc->poll_freq_ms;
	clock_gettime(CLOCK_MONOTONIC, &md.t0);
	mlog(&md, "== listening on %s (port %u), scenario %s, %zu steps",
	    listen, http_server_port(md.srv), md.sc->path, md.sc->nsteps);
	md.tick = event_new(md.base, -1, EV_PERSIST, tick_cb, &md);
	event_add(md.tick, &tv);
	event_base_dispatch(md.base);
	event_free(md.tick);
out:
	http_server_free(md.srv);
	for (size_t i = 0; i < md.nvens; i++)
		ven_free(md.vens[i]);
	free(md.vens);
	for (size_t i = 0; i < md.nevents; i++) {
		free(md.events[i].id);
		free(md.events[i].values);
		free(md.events[i].signal_name);
		free(md.events[i].units);
		free(md.events[i].market_context);
	}
	free(md.events);
	free(md.res);
	scenario_free(md.sc);
	oadr_schema_free(md.schema);
	SSL_CTX_free(md.ctx);
	/*
	 * evhttp_free leaves each TLS bufferevent with deferred callbacks
	 * queued; one more turn of the loop finishes them before it goes.
	 */
	if (md.base) {
		event_base_loop(md.base, EVLOOP_NONBLOCK);
		event_base_free(md.base);
	}
	if (md.log != stderr)
		fclose(md.log);
	return md.exit_code;
}
