/*
 * relay, without sockets: the VEN's conversation with the TSO (what it
 * sends, in what order, what it does with each answer), the VTN's answers
 * to RAs (registration, venID bound to the certificate, events handed
 * out once), refusal of invalid upstream events with nothing relayed,
 * the state surviving a restart, and a failed state write acknowledging
 * nothing.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acgw/config.h"
#include "acgw/json.h"
#include "acgw/oadr.h"
#include "acgw/relay.h"
#include "../lib/testlib.h"

#define SEC 1000000LL

static char *dir;
static struct config *cfg;
static int64_t t0;

static struct config *
load_cfg(const char *state_dir)
{
	struct config_errors errs;
	struct config *c;
	char *text;

	ck_assert(asprintf(&text,
	    "audit: {enabled: false}\n"
	    "dispatch:\n"
	    "  state_dir: %s\n"
	    "  ack_deadline: 10s\n"
	    "  past_tolerance: 1m\n"
	    "peers:\n"
	    "  - {name: ra1, ca: /x, pins: [\"%064d\"], sources: [127.0.0.1/32],"
	    " contracted: 1000kW}\n"
	    "  - {name: ra2, ca: /x, pins: [\"%063d1\"], sources: [127.0.0.1/32],"
	    " contracted: 3000kW, ven_id: VEN-TWO}\n", state_dir, 0, 0) > 0);
	c = config_load_buffer("relay.yaml", text, strlen(text), &errs);
	ck_assert_msg(c != NULL, "%s", errs.msg[0]);
	free(text);
	return c;
}

static void
setup(void)
{
	char *sd;

	dir = tl_tmpdir();
	sd = tl_path(dir, "state");
	cfg = load_cfg(sd);
	free(sd);
	t0 = (int64_t)time(NULL) * SEC;
}

static void
teardown(void)
{
	config_free(cfg);
	tl_rmrf(dir);
	free(dir);
}

static struct relay *
new_relay(void)
{
	char err[RELAY_ERR_MAX];
	struct relay *r = relay_new(cfg, NULL, NULL, t0, err, sizeof(err));

	ck_assert_msg(r != NULL, "%s", err);
	return r;
}

static char *
build(struct oadr_msg *m, size_t *len)
{
	char err[OADR_ERR_MAX];
	char *doc = oadr_build(m, NULL, len, err, sizeof(err));

	ck_assert_msg(doc != NULL, "%s", err);
	oadr_msg_free(m);
	return doc;
}

static void
parse(const char *doc, size_t len, struct oadr_msg *m)
{
	struct oadr_limits lim;
	char err[OADR_ERR_MAX];

	oadr_limits_default(&lim);
	ck_assert_msg(oadr_parse(doc, len, &lim, NULL, m, err, sizeof(err)) ==
	    0, "%s", err);
}

/* ---- the RA side --------------------------------------------------------- */

/* One RA request, its reply parsed into *out; returns the HTTP status. */
static int
ra_send(struct relay *r, const char *peer, struct oadr_msg *in, int64_t now,
    struct oadr_msg *out)
{
	struct relay_undo *undo = NULL;
	char *doc, *reply = NULL, err[RELAY_ERR_MAX];
	size_t len, rlen = 0;
	int type = in->type, code;

	doc = build(in, &len);
	code = relay_ra_request(r, peer, oadr_msg_service(type), doc, len, now,
	    &reply, &rlen, &undo, err, sizeof(err));
	free(doc);
	memset(out, 0, sizeof(*out));
	if (code == 200) {
		if (relay_flush(r) != 0)
			relay_undo_apply(r, undo);
		parse(reply, rlen, out);
	}
	relay_undo_free(undo);
	free(reply);
	return code;
}

static void
ra_register(struct relay *r, const char *peer, const char *ven)
{
	struct oadr_msg m, out;
	struct oadr_create_party_registration *c =
	    &m.u.create_party_registration;

	memset(&m, 0, sizeof(m));
	m.type = OADR_CREATE_PARTY_REGISTRATION;
	c->request_id = oadr_strdup("r1");
	c->profile_name = oadr_strdup("2.0b");
	c->transport_name = oadr_strdup("simpleHttp");
	c->ven_name = oadr_strdup(peer);
	c->has_http_pull_model = 1;
	c->http_pull_model = 1;
	ck_assert_int_eq(ra_send(r, peer, &m, t0, &out), 200);
	ck_assert_int_eq(out.type, OADR_CREATED_PARTY_REGISTRATION);
	ck_assert_uint_eq(out.u.created_party_registration.response.code, 200);
	ck_assert_str_eq(out.u.created_party_registration.ven_id, ven);
	ck_assert_ptr_nonnull(out.u.created_party_registration.registration_id);
	oadr_msg_free(&out);
}

static int
ra_poll(struct relay *r, const char *peer, const char *ven, int64_t now,
    struct oadr_msg *out)
{
	struct oadr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OADR_POLL;
	m.u.poll.ven_id = oadr_strdup(ven);
	return ra_send(r, peer, &m, now, out);
}

/* ---- the TSO side ---------------------------------------------------------- */

/* The next request the VEN sends, parsed; 0 if nothing is due. */
static int
up_next(struct relay *r, int64_t now, struct oadr_msg *m, const char **svc)
{
	char *doc;
	size_t len;
	uint64_t wait;

	memset(m, 0, sizeof(*m));
	if (!relay_up_next(r, now, svc, &doc, &len, &wait))
		return 0;
	parse(doc, len, m);
	free(doc);
	return 1;
}

static void
up_answer(struct relay *r, int64_t now, struct oadr_msg *m)
{
	size_t len;
	char *doc = build(m, &len);

	relay_up_answer(r, now, 200, doc, len);
	free(doc);
}

/* The TSO's plain "200 OK" answer to the VEN's request in flight. */
static void
up_ok(struct relay *r, int64_t now)
{
	struct oadr_msg m;

	memset(&m, 0, sizeof(m));
	m.type = OADR_RESPONSE;
	m.u.response.response.code = 200;
	m.u.response.response.request_id = oadr_strdup("");
	up_answer(r, now, &m);
}

static void
created_party(struct oadr_msg *m, const char *ven, const char *reg)
{
	struct oadr_created_party_registration *c =
	    &m->u.created_party_registration;

	memset(m, 0, sizeof(*m));
	m->type = OADR_CREATED_PARTY_REGISTRATION;
	c->response.code = 200;
	c->response.request_id = oadr_strdup("");
	c->ven_id = ven ? oadr_strdup(ven) : NULL;
	c->registration_id = reg ? oadr_strdup(reg) : NULL;
	c->vtn_id = oadr_strdup("TSO");
	c->has_poll_freq = 1;
	c->poll_freq = 5 * SEC;
	oadr_append((void **)&c->profiles, &c->n_profiles,
	    sizeof(*c->profiles));
	c->profiles[0].name = oadr_strdup("2.0b");
	oadr_append((void **)&c->profiles[0].transports,
	    &c->profiles[0].n_transports, sizeof(struct oadr_transport));
	c->profiles[0].transports[0].name = oadr_strdup("simpleHttp");
}

/* Registration through to the first poll; the relay is then READY. */
static void
up_register(struct relay *r)
{
	struct oadr_msg m;
	const char *svc;

	ck_assert(up_next(r, t0, &m, &svc));
	ck_assert_int_eq(m.type, OADR_QUERY_REGISTRATION);
	ck_assert_str_eq(svc, "EiRegisterParty");
	oadr_msg_free(&m);
	created_party(&m, NULL, NULL);
	up_answer(r, t0, &m);

	ck_assert(up_next(r, t0, &m, &svc));
	ck_assert_int_eq(m.type, OADR_CREATE_PARTY_REGISTRATION);
	ck_assert_str_eq(m.u.create_party_registration.ven_name, "acgw");
	ck_assert_ptr_null(m.u.create_party_registration.ven_id);
	ck_assert_str_eq(m.u.create_party_registration.profile_name, "2.0b");
	ck_assert(m.u.create_party_registration.http_pull_model);
	oadr_msg_free(&m);
	created_party(&m, "VEN-ACGW", "REG-9");
	up_answer(r, t0, &m);

	ck_assert(up_next(r, t0, &m, &svc));
	ck_assert_int_eq(m.type, OADR_REGISTER_REPORT);
	ck_assert_str_eq(svc, "EiReport");
	ck_assert_uint_eq(m.u.register_report.n_reports, 2);
	ck_assert_str_eq(m.u.register_report.reports[0].name,
	    "METADATA_TELEMETRY_USAGE");
	ck_assert_str_eq(m.u.register_report.reports[1].name,
	    "METADATA_TELEMETRY_STATUS");
	ck_assert_str_eq(m.u.register_report.ven_id, "VEN-ACGW");
	oadr_msg_free(&m);
	memset(&m, 0, sizeof(m));
	m.type = OADR_REGISTERED_REPORT;
	m.u.registered_report.response.code = 200;
	m.u.registered_report.response.request_id = oadr_strdup("");
	m.u.registered_report.ven_id = oadr_strdup("VEN-ACGW");
	up_answer(r, t0, &m);

	/* Resynchronised once registered. */
	ck_assert(up_next(r, t0, &m, &svc));
	ck_assert_int_eq(m.type, OADR_REQUEST_EVENT);
	ck_assert_str_eq(svc, "EiEvent");
	oadr_msg_free(&m);
}

/*
 * An oadrDistributeEvent of one event (no item: kW; 30-minute intervals);
 * m must be zeroed before the first call.
 */
static void
distribution(struct oadr_msg *m, const char *id, uint32_t mod,
    int64_t start, const char *signal, const double *kw, size_t n)
{
	struct oadr_distribute_event *de = &m->u.distribute_event;
	struct oadr_event *ev;
	struct oadr_signal *s;

	/* A second call adds an event to the same distribution. */
	if (m->type != OADR_DISTRIBUTE_EVENT) {
		memset(m, 0, sizeof(*m));
		m->type = OADR_DISTRIBUTE_EVENT;
		de->has_response = 1;
		de->response.code = 200;
		de->response.request_id = oadr_strdup("");
		de->request_id = oadr_strdup("D");
		de->vtn_id = oadr_strdup("TSO");
	}
	ev = oadr_append((void **)&de->events, &de->n_events, sizeof(*ev));
	ev->descriptor.event_id = oadr_strdup(id);
	ev->descriptor.modification_number = mod;
	ev->descriptor.market_context = oadr_strdup("http://tso.example");
	ev->descriptor.created = start - 3600 * SEC;
	ev->descriptor.status = OADR_STATUS_FAR;
	ev->descriptor.test_event = oadr_strdup("false");
	ev->active.dtstart = start;
	ev->active.duration = (int64_t)n * 1800 * SEC;
	s = oadr_append((void **)&ev->signals, &ev->n_signals, sizeof(*s));
	s->name = oadr_strdup(signal);
	s->type = OADR_SIGNAL_SETPOINT;
	s->id = oadr_strdup("S");
	for (size_t i = 0; i < n; i++) {
		struct oadr_interval *iv = oadr_append((void **)
		    &s->intervals.v, &s->intervals.n, sizeof(*iv));
		struct oadr_stream_payload *p = oadr_append((void **)
		    &iv->payloads, &iv->n_payloads, sizeof(*p));
		char uid[8];

		snprintf(uid, sizeof(uid), "%zu", i);
		iv->uid = oadr_strdup(uid);
		iv->has_duration = 1;
		iv->duration = 1800 * SEC;
		p->kind = OADR_STREAM_SIGNAL;
		p->value.kind = OADR_PAYLOAD_FLOAT;
		p->value.value = kw[i];
	}
}

static char *
events_json(struct relay *r, int64_t now)
{
	struct json_buf j;
	char *s;

	json_init(&j, 0);
	json_object_begin(&j);
	relay_events_json(r, now, &j);
	json_object_end(&j);
	s = strdup(j.s);
	json_free(&j);
	return s;
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(ven_conversation)
{
	struct relay *r = new_relay();
	struct oadr_msg m;
	const char *svc;
	char *state, *path;

	up_register(r);
	memset(&m, 0, sizeof(m));
	m.type = OADR_DISTRIBUTE_EVENT;
	m.u.distribute_event.request_id = oadr_strdup("D0");
	m.u.distribute_event.vtn_id = oadr_strdup("TSO");
	up_answer(r, t0, &m);
	/* Nothing due until the VTN's poll frequency (5 s) has passed. */
	ck_assert(up_next(r, t0, &m, &svc));
	ck_assert_int_eq(m.type, OADR_POLL);
	oadr_msg_free(&m);
	up_ok(r, t0 + SEC);
	ck_assert(!up_next(r, t0 + 4 * SEC, &m, &svc));
	ck_assert(up_next(r, t0 + 5 * SEC, &m, &svc));
	ck_assert_int_eq(m.type, OADR_POLL);
	ck_assert_str_eq(m.u.poll.ven_id, "VEN-ACGW");
	oadr_msg_free(&m);
	/* The registration is on disk. */
	path = tl_path(dir, "state/relay.json");
	state = tl_read(path);
	ck_assert_msg(strstr(state, "\"ven_id\":\"VEN-ACGW\"") &&
	    strstr(state, "\"registration_id\":\"REG-9\""), "%s", state);
	free(state);
	free(path);
	relay_free(r);
}
END_TEST

START_TEST(invalid_events_refused_nothing_relayed)
{
	static const double kw[] = { 2000, 2000 };
	static const double big[] = { 2000, 4001 };
	struct relay *r = new_relay();
	struct oadr_msg m, out;
	const char *svc;
	char *ev;

	ra_register(r, "ra1", "ra1");
	ra_register(r, "ra2", "VEN-TWO");
	up_register(r);
	/* Started ten minutes ago (tolerance 1m), over capacity (4000 kW),
	 * an unknown signal: three refusals in one distribution. */
	memset(&m, 0, sizeof(m));
	distribution(&m, "PAST", 0, t0 - 600 * SEC, "LOAD_DISPATCH", kw, 2);
	distribution(&m, "BIG", 0, t0 + 600 * SEC, "LOAD_DISPATCH", big, 2);
	distribution(&m, "ODD", 0, t0 + 600 * SEC, "PRICE_SIGNAL", kw, 2);
	up_answer(r, t0, &m);
	ev = events_json(r, t0);
	ck_assert_msg(strstr(ev, "\"event\":\"PAST\",\"modification\":0,"
	    "\"state\":\"refused\"") != NULL, "%s", ev);
	ck_assert_msg(strstr(ev, "\"event\":\"BIG\",\"modification\":0,"
	    "\"state\":\"refused\"") != NULL, "%s", ev);
	ck_assert_msg(strstr(ev, "\"event\":\"ODD\",\"modification\":0,"
	    "\"state\":\"refused\"") != NULL, "%s", ev);
	ck_assert_msg(strstr(ev, "\"allocations\":[]") != NULL, "%s", ev);
	free(ev);
	/* Nothing reaches an RA. */
	ck_assert_int_eq(ra_poll(r, "ra1", "ra1", t0, &out), 200);
	ck_assert_int_eq(out.type, OADR_RESPONSE);
	oadr_msg_free(&out);
	ck_assert_int_eq(ra_poll(r, "ra2", "VEN-TWO", t0, &out), 200);
	ck_assert_int_eq(out.type, OADR_RESPONSE);
	oadr_msg_free(&out);
	/* The TSO is told optOut with each reason. */
	ck_assert(up_next(r, t0, &m, &svc));
	ck_assert_int_eq(m.type, OADR_CREATED_EVENT);
	ck_assert_uint_eq(m.u.created_event.n_event_responses, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct oadr_event_response *er =
		    &m.u.created_event.event_responses[i];

		ck_assert_int_eq(er->opt_type, OADR_OPT_OUT);
		ck_assert_uint_eq(er->code, 200);
	}
	ck_assert_str_eq(m.u.created_event.event_responses[0].event.event_id,
	    "PAST");
	ck_assert_msg(strstr(m.u.created_event.event_responses[0].description,
	    " is further in the past than dispatch.past_tolerance (PT1M)") !=
	    NULL, "%s", m.u.created_event.event_responses[0].description);
	ck_assert_str_eq(m.u.created_event.event_responses[1].description,
	    "interval 2: 4001000 W is more than the portfolio's capacity "
	    "4000000 W");
	ck_assert_str_eq(m.u.created_event.event_responses[2].description,
	    "no signal is one the configuration names (dispatch.signals): "
	    "got PRICE_SIGNAL/setpoint");
	oadr_msg_free(&m);
	relay_free(r);
}
END_TEST


/* The RA's poll, its reply taken back as if it never left: the type. */
static int
ra_poll_lost(struct relay *r, const char *peer, int64_t now, char *id,
    size_t idlen)
{
	struct relay_undo *undo = NULL;
	struct oadr_msg m, out;
	char *doc, *reply = NULL, err[RELAY_ERR_MAX];
	size_t len, rlen = 0;
	int type;

	memset(&m, 0, sizeof(m));
	m.type = OADR_POLL;
	m.u.poll.ven_id = oadr_strdup(peer);
	doc = build(&m, &len);
	ck_assert_int_eq(relay_ra_request(r, peer, "OadrPoll", doc, len, now,
	    &reply, &rlen, &undo, err, sizeof(err)), 200);
	ck_assert_msg(undo != NULL, "nothing handed over: %s", reply);
	relay_undo_apply(r, undo);
	relay_undo_free(undo);
	parse(reply, rlen, &out);
	type = out.type;
	if (type == OADR_CREATE_REPORT)
		snprintf(id, idlen, "%s", out.u.create_report.requests[0].
		    request_id);
	else if (type == OADR_CANCEL_REPORT)
		snprintf(id, idlen, "%s", out.u.cancel_report.
		    report_request_ids.v[0]);
	oadr_msg_free(&out);
	free(reply);
	free(doc);
	return type;
}

/*
 * A report request and its cancellation are handed over again when the
 * reply that carried them never left (a lost push, a write that failed):
 * the same oadrCreateReport, then the same oadrCancelReport.
 */
START_TEST(report_requests_handed_again)
{
	struct relay *r = new_relay();
	struct oadr_msg m, out;
	struct oadr_report *rep;
	struct oadr_report_description *d;
	struct oadr_report_request *rr;
	struct oadr_specifier_payload *sp;
	char id[100], id2[100];
	const char *svc;
	char **v;

	ra_register(r, "ra1", "ra1");
	up_register(r);
	/* ra1 offers its TELEMETRY_USAGE. */
	memset(&m, 0, sizeof(m));
	m.type = OADR_REGISTER_REPORT;
	m.u.register_report.request_id = oadr_strdup("RR-META");
	m.u.register_report.ven_id = oadr_strdup("ra1");
	rep = oadr_append((void **)&m.u.register_report.reports,
	    &m.u.register_report.n_reports, sizeof(*rep));
	rep->has_duration = 1;
	rep->duration = 3600 * SEC;
	rep->request_id = oadr_strdup("0");
	rep->specifier_id = oadr_strdup("RA1-USAGE");
	rep->name = oadr_strdup("METADATA_TELEMETRY_USAGE");
	rep->created = t0;
	d = oadr_append((void **)&rep->descriptions, &rep->n_descriptions,
	    sizeof(*d));
	d->rid = oadr_strdup("usage");
	d->report_type = oadr_strdup("usage");
	d->reading_type = oadr_strdup("Direct Read");
	ck_assert_int_eq(ra_send(r, "ra1", &m, t0, &out), 200);
	ck_assert_int_eq(out.type, OADR_REGISTERED_REPORT);
	oadr_msg_free(&out);
	/* The TSO asks for telemetry: acgwd asks ra1. */
	memset(&m, 0, sizeof(m));
	m.type = OADR_CREATE_REPORT;
	m.u.create_report.request_id = oadr_strdup("CR-1");
	m.u.create_report.ven_id = oadr_strdup("VEN-ACGW");
	rr = oadr_append((void **)&m.u.create_report.requests,
	    &m.u.create_report.n_requests, sizeof(*rr));
	rr->request_id = oadr_strdup("RR-TSO");
	rr->specifier_id = oadr_strdup("ACGW-TELEMETRY-USAGE");
	rr->granularity = 60 * SEC;
	rr->back_duration = 60 * SEC;
	sp = oadr_append((void **)&rr->payloads, &rr->n_payloads,
	    sizeof(*sp));
	sp->rid = oadr_strdup("usage");
	sp->reading_type = oadr_strdup("Direct Read");
	up_answer(r, t0, &m);

	ck_assert_int_eq(ra_poll_lost(r, "ra1", t0 + SEC, id, sizeof(id)),
	    OADR_CREATE_REPORT);
	ck_assert_int_eq(ra_poll(r, "ra1", "ra1", t0 + 2 * SEC, &out), 200);
	ck_assert_int_eq(out.type, OADR_CREATE_REPORT);
	ck_assert_str_eq(out.u.create_report.requests[0].request_id, id);
	oadr_msg_free(&out);
	/* ra1 takes it on; the TSO then cancels its request. */
	memset(&m, 0, sizeof(m));
	m.type = OADR_CREATED_REPORT;
	m.u.created_report.response.code = 200;
	m.u.created_report.response.request_id = oadr_strdup("");
	m.u.created_report.ven_id = oadr_strdup("ra1");
	v = oadr_append((void **)&m.u.created_report.pending.v,
	    &m.u.created_report.pending.n, sizeof(char *));
	*v = oadr_strdup(id);
	ck_assert_int_eq(ra_send(r, "ra1", &m, t0 + 2 * SEC, &out), 200);
	oadr_msg_free(&out);
	/*
	 * acgwd's answers go up (oadrCreatedReport, the first values, ...),
	 * each taken; then a poll, whose answer cancels the request.
	 */
	for (;;) {
		int type;

		ck_assert(up_next(r, t0 + 10 * SEC, &m, &svc));
		type = m.type;
		oadr_msg_free(&m);
		if (type == OADR_POLL)
			break;
		if (type != OADR_REQUEST_EVENT) {
			up_ok(r, t0 + 10 * SEC);
			continue;
		}
		/* No events. */
		memset(&m, 0, sizeof(m));
		m.type = OADR_DISTRIBUTE_EVENT;
		m.u.distribute_event.request_id = oadr_strdup("D0");
		m.u.distribute_event.vtn_id = oadr_strdup("TSO");
		up_answer(r, t0 + 10 * SEC, &m);
	}
	memset(&m, 0, sizeof(m));
	m.type = OADR_CANCEL_REPORT;
	m.u.cancel_report.request_id = oadr_strdup("CX-1");
	m.u.cancel_report.ven_id = oadr_strdup("VEN-ACGW");
	v = oadr_append((void **)&m.u.cancel_report.report_request_ids.v,
	    &m.u.cancel_report.report_request_ids.n, sizeof(char *));
	*v = oadr_strdup("RR-TSO");
	up_answer(r, t0 + 10 * SEC, &m);

	ck_assert_int_eq(ra_poll_lost(r, "ra1", t0 + 11 * SEC, id2,
	    sizeof(id2)), OADR_CANCEL_REPORT);
	ck_assert_str_eq(id2, id);
	ck_assert_int_eq(ra_poll(r, "ra1", "ra1", t0 + 12 * SEC, &out), 200);
	ck_assert_int_eq(out.type, OADR_CANCEL_REPORT);
	ck_assert_str_eq(out.u.cancel_report.report_request_ids.v[0], id);
	oadr_msg_free(&out);
	/* Handed over for good: nothing more for ra1. */
	ck_assert_int_eq(ra_poll(r, "ra1", "ra1", t0 + 13 * SEC, &out), 200);
	ck_assert_int_eq(out.type, OADR_RESPONSE);
	oadr_msg_free(&out);
	relay_free(r);
}
END_TEST

/* One RA's answer to its current event. */
static void
ra_answer(struct relay *r, const char *peer, const char *ven,
    const char *event, uint32_t mod, int opt, int64_t now)
{
	struct oadr_msg m, out;
	struct oadr_event_response *er;

	memset(&m, 0, sizeof(m));
	m.type = OADR_CREATED_EVENT;
	m.u.created_event.response.code = 200;
	m.u.created_event.response.request_id = oadr_strdup("");
	m.u.created_event.has_event_responses = 1;
	m.u.created_event.ven_id = oadr_strdup(ven);
	er = oadr_append((void **)&m.u.created_event.event_responses,
	    &m.u.created_event.n_event_responses, sizeof(*er));
	er->code = 200;
	er->request_id = oadr_strdup("");
	er->event.event_id = oadr_strdup(event);
	er->event.modification_number = mod;
	er->opt_type = opt;
	ck_assert_int_eq(ra_send(r, peer, &m, now, &out), 200);
	ck_assert_int_eq(out.type, OADR_RESPONSE);
	ck_assert_uint_eq(out.u.response.response.code, 200);
	oadr_msg_free(&out);
}

START_TEST(split_delivered_once_and_kept_over_restart)
{
	static const double kw[] = { 2000, 1000 };
	struct relay *r = new_relay();
	struct oadr_msg m, out;
	const char *svc;
	struct oadr_event *e;
	char *before, *after;

	ra_register(r, "ra1", "ra1");
	ra_register(r, "ra2", "VEN-TWO");
	up_register(r);
	memset(&m, 0, sizeof(m));
	distribution(&m, "EV", 3, t0 + 600 * SEC, "LOAD_DISPATCH", kw, 2);
	up_answer(r, t0, &m);
	/* Not answered upstream before the RAs answered. */
	ck_assert(up_next(r, t0, &m, &svc));
	ck_assert_int_eq(m.type, OADR_POLL);
	oadr_msg_free(&m);
	/* 1000 kW : 3000 kW of contracted capacity. */
	ck_assert_int_eq(ra_poll(r, "ra2", "VEN-TWO", t0, &out), 200);
	ck_assert_int_eq(out.type, OADR_DISTRIBUTE_EVENT);
	ck_assert_uint_eq(out.u.distribute_event.n_events, 1);
	e = &out.u.distribute_event.events[0];
	ck_assert_str_eq(e->descriptor.event_id, "EV");
	ck_assert_uint_eq(e->descriptor.modification_number, 0);
	ck_assert_str_eq(e->target.ven_ids.v[0], "VEN-TWO");
	ck_assert_double_eq(e->signals[0].intervals.v[0].payloads[0].value.value,
	    1500);
	ck_assert_double_eq(e->signals[0].intervals.v[1].payloads[0].value.value,
	    750);
	oadr_msg_free(&out);
	/* Handed out once: the next poll has nothing new. */
	ck_assert_int_eq(ra_poll(r, "ra2", "VEN-TWO", t0 + SEC, &out), 200);
	ck_assert_int_eq(out.type, OADR_RESPONSE);
	oadr_msg_free(&out);
	before = events_json(r, t0 + SEC);
	relay_free(r);

	/*
	 * A restart: the same events and allocations. ra2's part, handed
	 * over but not answered, is queued again (the reply may have died
	 * with the process): the same modification, a repeat to ra2.
	 */
	r = new_relay();
	after = events_json(r, t0 + SEC);
	ck_assert_ptr_nonnull(strstr(before, "\"ra\":\"ra2\",\"modification\""
	    ":0,\"watts\":[1500000,750000],\"delivery\":\"delivered\""));
	ck_assert_ptr_nonnull(strstr(after, "\"ra\":\"ra2\",\"modification\""
	    ":0,\"watts\":[1500000,750000],\"delivery\":\"queued\""));
	free(before);
	free(after);
	ck_assert_int_eq(ra_poll(r, "ra2", "VEN-TWO", t0 + 2 * SEC, &out), 200);
	ck_assert_int_eq(out.type, OADR_DISTRIBUTE_EVENT);
	ck_assert_uint_eq(out.u.distribute_event.events[0].descriptor.
	    modification_number, 0);
	oadr_msg_free(&out);
	ra_answer(r, "ra2", "VEN-TWO", "EV", 0, OADR_OPT_IN, t0 + 2 * SEC);
	ck_assert_int_eq(ra_poll(r, "ra1", "ra1", t0 + 2 * SEC, &out), 200);
	ck_assert_int_eq(out.type, OADR_DISTRIBUTE_EVENT);
	ck_assert_double_eq(out.u.distribute_event.events[0].signals[0].
	    intervals.v[0].payloads[0].value.value, 500);
	oadr_msg_free(&out);
	/* After a restart the VEN resynchronises first. */
	ck_assert(up_next(r, t0 + 2 * SEC, &m, &svc));
	ck_assert_int_eq(m.type, OADR_REQUEST_EVENT);
	oadr_msg_free(&m);
	relay_free(r);

	/* Answered parts are never handed out again. */
	r = new_relay();
	ck_assert_int_eq(ra_poll(r, "ra2", "VEN-TWO", t0 + 3 * SEC, &out), 200);
	ck_assert_int_eq(out.type, OADR_RESPONSE);
	oadr_msg_free(&out);
	relay_free(r);
}
END_TEST

START_TEST(silent_ra_late_share_moves)
{
	static const double kw[] = { 2000 };
	struct relay *r = new_relay();
	struct oadr_msg m, out;
	const char *svc;
	struct oadr_event *e;

	ra_register(r, "ra1", "ra1");
	ra_register(r, "ra2", "VEN-TWO");
	up_register(r);
	memset(&m, 0, sizeof(m));
	distribution(&m, "EV", 0, t0 + 600 * SEC, "LOAD_DISPATCH", kw, 1);
	up_answer(r, t0, &m);
	/* ra2 takes its 1500 kW; ra1 never polls. */
	ck_assert_int_eq(ra_poll(r, "ra2", "VEN-TWO", t0, &out), 200);
	ck_assert_int_eq(out.type, OADR_DISTRIBUTE_EVENT);
	ck_assert_double_eq(out.u.distribute_event.events[0].signals[0].
	    intervals.v[0].payloads[0].value.value, 1500);
	oadr_msg_free(&out);
	ra_answer(r, "ra2", "VEN-TWO", "EV", 0, OADR_OPT_IN, t0);
	relay_tick(r, t0 + SEC);
	ck_assert(up_next(r, t0 + SEC, &m, &svc));
	ck_assert_int_eq(m.type, OADR_POLL);	/* not answered yet */
	oadr_msg_free(&m);
	up_ok(r, t0 + SEC);
	/* ack_deadline (10 s) after ra1's part was first seen waiting. */
	relay_tick(r, t0 + 12 * SEC);
	ck_assert_int_eq(ra_poll(r, "ra2", "VEN-TWO", t0 + 12 * SEC, &out),
	    200);
	ck_assert_int_eq(out.type, OADR_DISTRIBUTE_EVENT);
	e = &out.u.distribute_event.events[0];
	ck_assert_uint_eq(e->descriptor.modification_number, 1);
	ck_assert_double_eq(e->signals[0].intervals.v[0].payloads[0].value.value,
	    2000);
	oadr_msg_free(&out);
	ra_answer(r, "ra2", "VEN-TWO", "EV", 1, OADR_OPT_IN, t0 + 12 * SEC);
	ck_assert(up_next(r, t0 + 12 * SEC, &m, &svc));
	ck_assert_int_eq(m.type, OADR_CREATED_EVENT);
	ck_assert_int_eq(m.u.created_event.event_responses[0].opt_type,
	    OADR_OPT_IN);
	oadr_msg_free(&m);
	relay_free(r);
}
END_TEST

START_TEST(venid_bound_to_certificate)
{
	struct relay *r = new_relay();
	struct oadr_msg out;
	char *reply = NULL, err[RELAY_ERR_MAX];
	struct relay_undo *undo = NULL;
	size_t rlen;

	/* Not registered yet: a poll is asked to register, others 452. */
	ck_assert_int_eq(ra_poll(r, "ra1", "ra1", t0, &out), 200);
	ck_assert_int_eq(out.type, OADR_REQUEST_REREGISTRATION);
	oadr_msg_free(&out);
	ra_register(r, "ra1", "ra1");
	/* ra1's session claiming ra2's venID. */
	ck_assert_int_eq(ra_poll(r, "ra1", "VEN-TWO", t0, &out), 200);
	ck_assert_int_eq(out.type, OADR_RESPONSE);
	ck_assert_uint_eq(out.u.response.response.code, 463);
	ck_assert_str_eq(out.u.response.response.description,
	    "venID does not match the certificate");
	oadr_msg_free(&out);
	/* Garbage is a 400 with the parser's reason. */
	ck_assert_int_eq(relay_ra_request(r, "ra1", "OadrPoll", "<x/>", 4, t0,
	    &reply, &rlen, &undo, err, sizeof(err)), 400);
	ck_assert_ptr_null(reply);
	ck_assert_msg(strncmp(err, "payload refused: ", 17) == 0, "%s", err);
	/* A message on the wrong service. */
	ck_assert_int_eq(relay_ra_request(r, "ra1", "EiEvent", "<x/>", 4, t0,
	    &reply, &rlen, &undo, err, sizeof(err)), 400);
	ck_assert_int_eq(relay_ra_request(r, "nobody", "OadrPoll", "", 0, t0,
	    &reply, &rlen, &undo, err, sizeof(err)), 403);
	ck_assert_str_eq(err, "nobody is not a configured RA");
	relay_free(r);
}
END_TEST

START_TEST(failed_write_acknowledges_nothing)
{
	static const double kw[] = { 400, 400 };
	struct relay *r = new_relay();
	struct oadr_msg m, out;
	struct relay_undo *undo = NULL;
	char *doc, *reply = NULL, err[RELAY_ERR_MAX], *path;
	size_t len, rlen;

	ra_register(r, "ra1", "ra1");
	up_register(r);
	memset(&m, 0, sizeof(m));
	distribution(&m, "EV", 0, t0 + 600 * SEC, "LOAD_DISPATCH", kw, 2);
	up_answer(r, t0, &m);
	ck_assert_int_eq(relay_flush(r), 0);
	/* The state directory is replaced by a file: writes fail. */
	path = tl_path(dir, "state");
	tl_rmrf(path);
	tl_write(path, "not a directory\n");
	memset(&m, 0, sizeof(m));
	m.type = OADR_POLL;
	m.u.poll.ven_id = oadr_strdup("ra1");
	doc = build(&m, &len);
	ck_assert_int_eq(relay_ra_request(r, "ra1", "OadrPoll", doc, len, t0,
	    &reply, &rlen, &undo, err, sizeof(err)), 200);
	ck_assert_ptr_nonnull(undo);
	ck_assert_int_eq(relay_flush(r), -1);
	ck_assert_msg(strstr(relay_state_error(r), "relay.json") != NULL ||
	    strstr(relay_state_error(r), "state") != NULL, "%s",
	    relay_state_error(r));
	/* Not sent: what it handed over is queued again. */
	relay_undo_apply(r, undo);
	relay_undo_free(undo);
	free(reply);
	undo = NULL;
	/* Nor does the VEN send anything upstream while it cannot write. */
	{
		const char *svc;
		char *d2;
		size_t l2;
		uint64_t wait;

		ck_assert_int_eq(relay_up_next(r, t0 + 10 * SEC, &svc, &d2, &l2,
		    &wait), 0);
	}
	/* Writable again: the event goes out on the next poll. */
	unlink(path);
	ck_assert_int_eq(ra_poll(r, "ra1", "ra1", t0 + SEC, &out), 200);
	ck_assert_int_eq(out.type, OADR_DISTRIBUTE_EVENT);
	ck_assert_ptr_null(relay_state_error(r));
	oadr_msg_free(&out);
	free(doc);
	free(path);
	relay_free(r);
}
END_TEST

START_TEST(corrupt_state_refused)
{
	char *path = tl_path(dir, "state"), *file, err[RELAY_ERR_MAX];

	ck_assert_int_eq(mkdir(path, 0700), 0);
	file = tl_path(path, "relay.json");
	tl_write(file, "{\"format\":\"acgw-state 1\",\"up\":{\"state\":7}}");
	ck_assert_ptr_null(relay_new(cfg, NULL, NULL, t0, err, sizeof(err)));
	ck_assert_msg(strstr(err, "relay.json: \"up\": a member has the "
	    "wrong type") != NULL, "%s", err);
	tl_write(file, "not json");
	ck_assert_ptr_null(relay_new(cfg, NULL, NULL, t0, err, sizeof(err)));
	ck_assert_msg(strstr(err, "relay.json: not JSON: ") != NULL, "%s",
	    err);
	free(file);
	free(path);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tl_tcase(s, "relay", 30);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ven_conversation);
	tcase_add_test(tc, invalid_events_refused_nothing_relayed);
	tcase_add_test(tc, split_delivered_once_and_kept_over_restart);
	tcase_add_test(tc, venid_bound_to_certificate);
	tcase_add_test(tc, silent_ra_late_share_moves);
	tcase_add_test(tc, failed_write_acknowledges_nothing);
	tcase_add_test(tc, corrupt_state_refused);
	tcase_add_test(tc, report_requests_handed_again);
	return tl_run_suite(s);
}
