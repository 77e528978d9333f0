/*
 * relay_up — acgwd as the VEN of the TSO's 簡易指令システム.
 *
 * One request at a time, chosen by relay_up_next in this order:
 * registration (oadrQueryRegistration, oadrCreatePartyRegistration),
 * the METADATA of what acgw reports (oadrRegisterReport), answers owed
 * for what a poll handed us, oadrRequestEvent after any gap, the answers
 * to events (oadrCreatedEvent, once every RA's part is settled), reports
 * that are due (oadrUpdateReport), then oadrPoll at the VTN's requested
 * frequency. What the TSO answers is taken by relay_up_answer; anything
 * it settles is only marked settled when the TSO acknowledged it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acgw/log.h"
#include "acgw/units.h"
#include "relay_impl.h"

static const char *const relay_good = "Quality Good - Non Specific";
static const char *const relay_partial = "Quality Bad - Comm Failure";
static const char *const relay_none = "No Quality - No Value";

void
relay_up_reset(struct relay *r)
{
	free(r->ven_id);
	free(r->registration_id);
	free(r->vtn_id);
	r->ven_id = r->registration_id = r->vtn_id = NULL;
	for (size_t i = 0; i < r->ntreqs; i++) {
		free(r->treqs[i].request_id);
		free(r->treqs[i].specifier_id);
	}
	free(r->treqs);
	r->treqs = NULL;
	r->ntreqs = 0;
}

void
relay_up_flight_clear(struct relay *r)
{
	for (size_t i = 0; i < r->flight.nevents; i++)
		free(r->flight.events[i]);
	free(r->flight.events);
	free(r->flight.mods);
	free(r->flight.opts);
	memset(&r->flight, 0, sizeof(r->flight));
}

static int64_t
relay_poll_every(const struct relay *r)
{
	return r->poll_freq_us > 0 ? r->poll_freq_us :
	    (int64_t)r->cfg->r1.poll_interval_ms * 1000;
}

/* ---- building what we send --------------------------------------------- */

static void
relay_metadata(struct oadr_report *rep, const char *name,
    const char *specifier, const char *rid, int usage)
{
	struct oadr_report_description *d;

	rep->has_duration = 1;
	rep->duration = 3600LL * 1000000;
	rep->request_id = oadr_strdup("0");
	rep->specifier_id = oadr_strdup(specifier);
	rep->name = oadr_strdup(name);
	rep->created = 0;
	d = oadr_append((void **)&rep->descriptions, &rep->n_descriptions,
	    sizeof(*d));
	if (d == NULL)
		return;
	d->rid = oadr_strdup(rid);
	d->report_type = oadr_strdup(usage ? "usage" : "x-resourceStatus");
	if (usage) {
		d->has_item = 1;
		d->item.kind = OADR_ITEM_POWER_REAL;
		d->item.description = oadr_strdup("RealPower");
		d->item.units = oadr_strdup("W");
		d->item.si_scale = oadr_strdup("k");
		d->item.hertz = 50;
		d->item.voltage = 6600;
		d->item.ac = 1;
	}
	d->reading_type = oadr_strdup(usage ? "Direct Read" : "x-notApplicable");
	d->has_sampling = 1;
	d->min_period = 1LL * 1000000;
	d->max_period = 3600LL * 1000000;
}

static int
relay_make_request(struct relay *r, int64_t now, struct oadr_msg *m)
{
	char id[64];

	memset(m, 0, sizeof(*m));
	relay_request_id(r, "acgw", id, sizeof(id));
	switch (r->up_state) {
	case UP_QUERY:
		m->type = OADR_QUERY_REGISTRATION;
		m->u.query_registration.request_id = oadr_strdup(id);
		return 0;
	case UP_CREATE: {
		struct oadr_create_party_registration *c =
		    &m->u.create_party_registration;

		m->type = OADR_CREATE_PARTY_REGISTRATION;
		c->request_id = oadr_strdup(id);
		/* Only what the VTN gave us before (re-registration). */
		if (r->registration_id)
			c->registration_id = oadr_strdup(r->registration_id);
		if (r->ven_id)
			c->ven_id = oadr_strdup(r->ven_id);
		c->profile_name = oadr_strdup("2.0b");
		c->transport_name = oadr_strdup("simpleHttp");
		c->report_only = 0;
		c->xml_signature = 0;
		c->ven_name = oadr_strdup(r->cfg->dispatch.ven_name);
		c->has_http_pull_model = 1;
		c->http_pull_model = 1;
		return 0;
	}
	case UP_REGISTER_REPORT: {
		struct oadr_report_msg *rm = &m->u.register_report;
		struct oadr_report *rep;

		m->type = OADR_REGISTER_REPORT;
		rm->request_id = oadr_strdup(id);
		rm->ven_id = oadr_strdup(r->ven_id);
		if ((rep = oadr_append((void **)&rm->reports, &rm->n_reports,
		    sizeof(*rep))) == NULL)
			return -1;
		relay_metadata(rep, "METADATA_TELEMETRY_USAGE",
		    RELAY_USAGE_SPECIFIER, RELAY_USAGE_RID, 1);
		rep->created = now / 1000000 * 1000000;
		if ((rep = oadr_append((void **)&rm->reports, &rm->n_reports,
		    sizeof(*rep))) == NULL)
			return -1;
		relay_metadata(rep, "METADATA_TELEMETRY_STATUS",
		    RELAY_STATUS_SPECIFIER, RELAY_STATUS_RID, 0);
		rep->created = now / 1000000 * 1000000;
		return 0;
	}
	default:
		return -1;
	}
}

/* oadrCreatedEvent for every event whose answer is due. 0: none due. */
static int
relay_make_created_event(struct relay *r, struct oadr_msg *m)
{
	struct oadr_created_event *ce = &m->u.created_event;
	size_t n = 0;

	memset(m, 0, sizeof(*m));
	m->type = OADR_CREATED_EVENT;
	for (size_t i = 0; i < r->d.nevents; i++) {
		struct dispatch_event *e = &r->d.events[i];
		struct oadr_event_response *er;
		int opt;

		if (!dispatch_upstream_due(&r->d, i, &opt))
			continue;
		if (e->up.response_required == OADR_RESPONSE_NEVER) {
			/* The VTN wants no answer: settled as it is. */
			dispatch_answered(&r->d, i, opt);
			continue;
		}
		if (!(er = oadr_append((void **)&ce->event_responses,
		    &ce->n_event_responses, sizeof(*er))))
			break;
		er->code = 200;
		er->description = oadr_strdup(e->refused ? e->why :
		    opt == OADR_OPT_IN ? "OK" : "coverage below "
		    "dispatch.coverage_threshold");
		er->request_id = oadr_strdup("");
		er->event.event_id = oadr_strdup(e->id);
		er->event.modification_number = e->mod;
		er->opt_type = opt;
		{
			char **ev = realloc(r->flight.events, (n + 1) *
			    sizeof(char *));
			uint32_t *mods;
			int *opts;

			if (ev != NULL)
				r->flight.events = ev;
			mods = realloc(r->flight.mods, (n + 1) *
			    sizeof(uint32_t));
			if (mods != NULL)
				r->flight.mods = mods;
			opts = realloc(r->flight.opts, (n + 1) * sizeof(int));
			if (opts != NULL)
				r->flight.opts = opts;
			if (!ev || !mods || !opts ||
			    (ev[n] = strdup(e->id)) == NULL) {
				/* Out of memory: sent, but answered again
				 * next time (a repeat the VTN takes). */
				break;
			}
			mods[n] = e->mod;
			opts[n] = opt;
			r->flight.nevents = ++n;
		}
	}
	if (n == 0) {
		oadr_msg_free(m);
		return 0;
	}
	ce->has_event_responses = 1;
	relay_response(&ce->response, 200, "OK", "");
	ce->ven_id = oadr_strdup(r->ven_id);
	return 1;
}

/* The RAs' summed telemetry for one TSO window: oadrUpdateReport. */
static int
relay_make_update(struct relay *r, size_t ti, int64_t now, struct oadr_msg *m)
{
	struct relay_treq *t = &r->treqs[ti];
	struct oadr_report_msg *um = &m->u.update_report;
	struct oadr_report *rep;
	struct json_buf j;
	char id[64], missing[1024] = "";
	size_t incomplete = 0;

	memset(m, 0, sizeof(*m));
	m->type = OADR_UPDATE_REPORT;
	relay_request_id(r, "acgw-rpt", id, sizeof(id));
	um->request_id = oadr_strdup(id);
	um->ven_id = oadr_strdup(r->ven_id);
	if (!(rep = oadr_append((void **)&um->reports, &um->n_reports,
	    sizeof(*rep))))
		return -1;
	rep->has_dtstart = 1;
	rep->dtstart = t->next_from;
	rep->has_duration = 1;
	rep->duration = t->back;
	rep->has_intervals = 1;
	rep->report_id = oadr_strdup(id);
	rep->request_id = oadr_strdup(t->request_id);
	rep->specifier_id = oadr_strdup(t->specifier_id);
	rep->name = oadr_strdup(t->status ? "TELEMETRY_STATUS" :
	    "TELEMETRY_USAGE");
	rep->created = now / 1000000 * 1000000;
	for (int64_t at = t->next_from; at < t->next_from + t->back;
	    at += t->granularity) {
		struct oadr_interval *iv = oadr_append((void **)
		    &rep->intervals.v, &rep->intervals.n, sizeof(*iv));
		struct oadr_stream_payload *p;
		size_t got = 0, want = 0;
		char miss[512];
		int64_t w;

		if (!iv || !(p = oadr_append((void **)&iv->payloads,
		    &iv->n_payloads, sizeof(*p))))
			return -1;
		w = relay_ra_window_sum(r, at, &got, &want, miss, sizeof(miss));
		iv->has_dtstart = 1;
		iv->dtstart = at;
		iv->has_duration = 1;
		iv->duration = t->granularity;
		p->kind = OADR_STREAM_REPORT;
		p->has_confidence = 1;
		p->confidence = want ? (unsigned)(got * 100 / want) : 100;
		if (t->status) {
			/* Online when every expected RA reported. */
			p->rid = oadr_strdup(RELAY_STATUS_RID);
			p->value.kind = OADR_PAYLOAD_STATUS;
			p->value.status.online = want > 0 && got == want;
			p->value.status.manual_override = 0;
		} else {
			p->rid = oadr_strdup(RELAY_USAGE_RID);
			p->value.kind = OADR_PAYLOAD_FLOAT;
			p->value.value = (double)w / 1000;
		}
		/* No RA registered: no value, not a good zero. */
		p->data_quality = oadr_strdup(want > 0 && got == want ?
		    relay_good : got == 0 ? relay_none : relay_partial);
		if (want == 0)
			p->confidence = 0;
		if (got != want) {
			incomplete++;
			if (missing[0] == '\0')
				snprintf(missing, sizeof(missing), "%s", miss);
		}
	}
	r->flight.treq = ti;
	r->flight.window_end = t->next_from + t->back;
	json_init(&j, 8192);
	json_object_begin(&j);
	json_kv_str(&j, "request", t->request_id);
	json_kv_int(&j, "intervals", (int64_t)rep->intervals.n);
	json_kv_int(&j, "incomplete_intervals", (int64_t)incomplete);
	if (incomplete)
		json_kv_str(&j, "missing", missing);
	json_object_end(&j);
	relay_audit(r, "report.sent", NULL, &j);
	json_free(&j);
	if (incomplete)
		log_warnx("relay: report %s: %zu of %zu intervals incomplete "
		    "(missing: %s); flagged \"%s\"", t->request_id, incomplete,
		    rep->intervals.n, missing, relay_partial);
	return 0;
}

/*
 * A window is due when it is over and every RA reported for it, or when
 * the grace period after it passed (then sent with quality flags).
 */
static int
relay_treq_due(const struct relay *r, const struct relay_treq *t, int64_t now)
{
	int64_t end = t->next_from + t->back;

	if (now < end)
		return 0;
	if (now >= end + (int64_t)r->cfg->dispatch.report_grace_ms * 1000)
		return 1;
	for (int64_t at = t->next_from; at < end; at += t->granularity) {
		size_t got = 0, want = 0;
		char miss[8];

		relay_ra_window_sum(r, at, &got, &want, miss, sizeof(miss));
		if (got < want)
			return 0;
	}
	return 1;
}

int
relay_up_next(struct relay *r, int64_t now, const char **service,
    char **doc, size_t *len, uint64_t *wait_ms)
{
	struct oadr_msg m;
	char err[OADR_ERR_MAX];
	int64_t next;

	*doc = NULL;
	*wait_ms = 1000;
	if (r->flight.type != OADR_MSG_NONE || relay_commit(r) != 0)
		return 0;
	if (now < r->retry_at) {
		*wait_ms = (uint64_t)((r->retry_at - now + 999) / 1000);
		if (*wait_ms > 1000)
			*wait_ms = 1000;
		return 0;
	}
	if (r->up_state != UP_READY) {
		if (relay_make_request(r, now, &m) != 0) {
			oadr_msg_free(&m);
			return 0;
		}
		goto send;
	}
	if (r->nowed > 0) {
		/* The one oadrResponse owed answers oadrRequestReregistration. */
		*service = r->owed[0].type == OADR_RESPONSE ? "EiRegisterParty" :
		    oadr_msg_service(r->owed[0].type);
		if ((*doc = strdup(r->owed[0].doc)) == NULL)
			return 0;
		*len = r->owed[0].len;
		r->flight.type = r->owed[0].type;
		r->flight.owed = 1;
		return 1;
	}
	if (r->resync) {
		char id[64];

		memset(&m, 0, sizeof(m));
		m.type = OADR_REQUEST_EVENT;
		relay_request_id(r, "acgw-req", id, sizeof(id));
		m.u.request_event.request_id = oadr_strdup(id);
		m.u.request_event.ven_id = oadr_strdup(r->ven_id);
		goto send;
	}
	if (relay_make_created_event(r, &m))
		goto send;
	/* A due poll goes before a backlog of reports (new events first). */
	if (now >= r->last_poll + relay_poll_every(r)) {
		memset(&m, 0, sizeof(m));
		m.type = OADR_POLL;
		m.u.poll.ven_id = oadr_strdup(r->ven_id);
		r->last_poll = now;
		goto send;
	}
	for (size_t i = 0; i < r->ntreqs; i++)
		if (relay_treq_due(r, &r->treqs[i], now)) {
			if (relay_make_update(r, i, now, &m) != 0) {
				oadr_msg_free(&m);
				return 0;
			}
			goto send;
		}
	next = r->last_poll + relay_poll_every(r);
	if (now < next) {
		*wait_ms = (uint64_t)((next - now + 999) / 1000);
		for (size_t i = 0; i < r->ntreqs; i++) {
			int64_t end = r->treqs[i].next_from + r->treqs[i].back;
			uint64_t w = end > now ? (uint64_t)((end - now + 999) /
			    1000) : 1000;

			if (w < *wait_ms)
				*wait_ms = w;
		}
		if (*wait_ms > 1000)
			*wait_ms = 1000;	/* deadlines are checked each second */
		return 0;
	}
	memset(&m, 0, sizeof(m));
	m.type = OADR_POLL;
	m.u.poll.ven_id = oadr_strdup(r->ven_id);
	r->last_poll = now;
send:
	r->flight.type = m.type;
	if ((*doc = relay_build(r, &m, len, err, sizeof(err))) == NULL) {
		relay_up_flight_clear(r);
		snprintf(r->up_error, sizeof(r->up_error), "%s", err);
		return 0;
	}
	*service = oadr_msg_service(r->flight.type);
	return 1;
}

/* ---- taking what the TSO answers ---------------------------------------- */

/* An answer the next requests carry to the VTN. */
static void
relay_owe(struct relay *r, struct oadr_msg *m)
{
	char err[OADR_ERR_MAX];
	struct relay_owed *w;
	size_t len;
	int type = m->type;
	char *doc = relay_build(r, m, &len, err, sizeof(err));

	if (doc == NULL)
		return;
	if ((w = oadr_append((void **)&r->owed, &r->nowed, sizeof(*w))) ==
	    NULL) {
		free(doc);
		return;
	}
	w->type = type;
	w->doc = doc;
	w->len = len;
	r->dirty = 1;
}

static void
relay_owe_pending(struct relay *r, int type, const char *request_id)
{
	struct oadr_msg m;
	struct oadr_pending_reports_msg *p;

	memset(&m, 0, sizeof(m));
	m.type = type;
	p = type == OADR_CREATED_REPORT ? &m.u.created_report :
	    &m.u.canceled_report;
	relay_response(&p->response, 200, "OK", request_id);
	for (size_t i = 0; i < r->ntreqs; i++) {
		char **s = oadr_append((void **)&p->pending.v, &p->pending.n,
		    sizeof(char *));

		if (s)
			*s = oadr_strdup(r->treqs[i].request_id);
	}
	p->ven_id = oadr_strdup(r->ven_id);
	relay_owe(r, &m);
}

/* Report requests from the TSO; what acgw did not offer is not taken. */
static void
relay_take_treqs(struct relay *r, const struct oadr_report_request *v,
    size_t n, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		const struct oadr_report_request *q = &v[i];
		struct relay_treq *t = NULL;
		int status;

		if (q->specifier_id == NULL)
			continue;
		if (strcmp(q->specifier_id, RELAY_USAGE_SPECIFIER) == 0)
			status = 0;
		else if (strcmp(q->specifier_id, RELAY_STATUS_SPECIFIER) == 0)
			status = 1;
		else {
			log_warnx("relay: TSO report request %s names specifier "
			    "%s, which acgw does not offer; ignored",
			    q->request_id, q->specifier_id);
			continue;
		}
		for (size_t k = 0; k < r->ntreqs; k++)
			if (strcmp(r->treqs[k].request_id, q->request_id) == 0)
				t = &r->treqs[k];
		if (t == NULL) {
			if (!(t = oadr_append((void **)&r->treqs, &r->ntreqs,
			    sizeof(*t))))
				continue;
			t->request_id = strdup(q->request_id);
			t->specifier_id = strdup(q->specifier_id);
		}
		t->status = status;
		/* Whole seconds at least: the RAs' grid is in seconds. */
		t->granularity = q->granularity >= 1000000 ? q->granularity /
		    1000000 * 1000000 : 60LL * 1000000;
		t->back = q->back_duration >= t->granularity ?
		    q->back_duration / t->granularity * t->granularity :
		    t->granularity;
		if ((uint64_t)(t->back / t->granularity) >
		    r->cfg->oadr.max_intervals) {
			log_warnx("relay: TSO report request %s: %lld intervals "
			    "per report, more than oadr.max_intervals (%llu); "
			    "not taken", q->request_id,
			    (long long)(t->back / t->granularity),
			    (unsigned long long)r->cfg->oadr.max_intervals);
			free(t->request_id);
			free(t->specifier_id);
			r->ntreqs--;
			continue;
		}
		/*
		 * The first window starts at the first interval boundary by
		 * which every RA can have been asked (it polls within
		 * dispatch.ra_poll_interval), so that it is not flagged
		 * incomplete for want of a question.
		 */
		t->next_from = relay_grid((q->has_interval &&
		    q->interval.dtstart > now ? q->interval.dtstart : now) +
		    (int64_t)r->cfg->dispatch.ra_poll_interval_ms * 1000 +
		    t->granularity - 1, t->granularity);
		t->until = q->has_interval && q->interval.duration > 0 ?
		    q->interval.dtstart + q->interval.duration : 0;
		log_notice("relay: TSO report request %s (%s): every %llds in "
		    "%llds intervals", t->request_id, status ?
		    "TELEMETRY_STATUS" : "TELEMETRY_USAGE",
		    (long long)(t->back / 1000000),
		    (long long)(t->granularity / 1000000));
		r->dirty = 1;
	}
	relay_down_reports(r);
}

static void
relay_cancel_treqs(struct relay *r, const struct oadr_strlist *ids)
{
	for (size_t k = 0; k < ids->n; k++)
		for (size_t i = 0; i < r->ntreqs; i++)
			if (strcmp(r->treqs[i].request_id, ids->v[k]) == 0) {
				free(r->treqs[i].request_id);
				free(r->treqs[i].specifier_id);
				memmove(&r->treqs[i], &r->treqs[i + 1],
				    (r->ntreqs - i - 1) * sizeof(r->treqs[i]));
				r->ntreqs--;
				r->dirty = 1;
				break;
			}
	relay_down_reports(r);
}

/* An upstream distribution: into the engine, and on record. */
static void
relay_take_distribution(struct relay *r, const struct oadr_distribute_event *de,
    int64_t now)
{
	size_t nbefore = r->d.nevents;
	unsigned char *was = calloc(nbefore + 1, 1);

	for (size_t i = 0; was && i < nbefore; i++)
		was[i] = (unsigned char)r->d.events[i].cancelled;
	dispatch_distribution(&r->d, de, now);
	for (size_t i = 0; i < r->d.nevents; i++) {
		const struct dispatch_event *e = &r->d.events[i];
		struct json_buf j;

		/* Taken now (new or modified), or implicitly cancelled. */
		if (e->received_at != now && !(e->cancelled && i < nbefore &&
		    was && !was[i]))
			continue;
		json_init(&j, 8192);
		json_object_begin(&j);
		json_kv_str(&j, "event", e->id);
		json_kv_int(&j, "modification", e->mod);
		json_kv_str(&j, "state", e->refused ? "refused" :
		    e->cancelled ? "cancelled" : "accepted");
		if (e->refused)
			json_kv_str(&j, "reason", e->why);
		json_object_end(&j);
		relay_audit(r, "dispatch.received", NULL, &j);
		json_free(&j);
		if (e->refused) {
			log_warnx("relay: event %s (modification %u) refused, "
			    "nothing relayed: %s", e->id, e->mod, e->why);
			continue;
		}
		log_notice("relay: event %s modification %u %s", e->id, e->mod,
		    e->cancelled ? "cancelled" : "taken");
		if (e->cancelled)
			continue;
		json_init(&j, 65536);
		json_object_begin(&j);
		json_kv_str(&j, "event", e->id);
		json_kv_int(&j, "modification", e->mod);
		json_key(&j, "shares_w");
		json_object_begin(&j);
		for (size_t k = 0; k < r->d.nras; k++) {
			if (!e->shares[k].exists)
				continue;
			json_key(&j, r->d.ras[k].name);
			json_array_begin(&j);
			for (size_t x = 0; x < e->shares[k].n; x++)
				json_int(&j, e->shares[k].watts[x]);
			json_array_end(&j);
		}
		json_object_end(&j);
		json_object_end(&j);
		relay_audit(r, "dispatch.allocated", NULL, &j);
		json_free(&j);
	}
	free(was);
	r->dirty = 1;
}

/* The TSO acknowledged our oadrCreatedEvent. */
static void
relay_events_answered(struct relay *r)
{
	for (size_t k = 0; k < r->flight.nevents; k++)
		for (size_t i = 0; i < r->d.nevents; i++) {
			struct dispatch_event *e = &r->d.events[i];
			struct json_buf j;

			if (strcmp(e->id, r->flight.events[k]) != 0 ||
			    e->mod != r->flight.mods[k])
				continue;
			dispatch_answered(&r->d, i, r->flight.opts[k]);
			json_init(&j, 4096);
			json_object_begin(&j);
			json_kv_str(&j, "direction", "upstream");
			json_kv_str(&j, "event", e->id);
			json_kv_int(&j, "modification", e->mod);
			json_kv_str(&j, "opt", r->flight.opts[k] == OADR_OPT_IN ?
			    "optIn" : "optOut");
			json_kv_int(&j, "coverage_pct", (int64_t)(100 *
			    dispatch_coverage(&r->d, e) + 1e-9));
			json_object_end(&j);
			relay_audit(r, "dispatch.acked", NULL, &j);
			json_free(&j);
		}
}

static void
relay_registered(struct relay *r, const struct oadr_created_party_registration
    *c)
{
	struct json_buf j;

	free(r->ven_id);
	free(r->registration_id);
	r->ven_id = strdup(c->ven_id);
	r->registration_id = strdup(c->registration_id);
	r->up_state = UP_REGISTER_REPORT;
	r->resync = 1;
	r->dirty = 1;
	log_notice("relay: registered with the TSO: venID %s, registrationID "
	    "%s", c->ven_id, c->registration_id);
	json_init(&j, 4096);
	json_object_begin(&j);
	json_kv_str(&j, "ven_id", c->ven_id);
	json_kv_str(&j, "registration_id", c->registration_id);
	if (c->vtn_id)
		json_kv_str(&j, "vtn_id", c->vtn_id);
	json_object_end(&j);
	relay_audit(r, "r1.registered", NULL, &j);
	json_free(&j);
}

static void relay_up_refused(struct relay *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
relay_up_refused(struct relay *r, const char *fmt, ...)
{
	va_list ap;

	r->up_refused++;
	va_start(ap, fmt);
	vsnprintf(r->up_error, sizeof(r->up_error), fmt, ap);
	va_end(ap);
	log_warnx("relay: %s", r->up_error);
}

/* What a poll (or a request) brought. */
static void
relay_take(struct relay *r, int sent, struct oadr_msg *in, int64_t now)
{
	struct oadr_msg m;

	memset(&m, 0, sizeof(m));
	switch (in->type) {
	case OADR_CREATED_PARTY_REGISTRATION: {
		const struct oadr_created_party_registration *c =
		    &in->u.created_party_registration;

		if (c->response.code != 200) {
			relay_up_refused(r, "the TSO refused %s (code %u)",
			    oadr_msg_name(sent), c->response.code);
			if (sent == OADR_CREATE_PARTY_REGISTRATION &&
			    r->ven_id != NULL) {
				/* Start again, as a VEN it does not know. */
				relay_up_reset(r);
				r->up_state = UP_QUERY;
				r->dirty = 1;
			}
			break;
		}
		if (c->has_poll_freq && c->poll_freq > 0)
			r->poll_freq_us = c->poll_freq;
		if (c->vtn_id) {
			free(r->vtn_id);
			r->vtn_id = strdup(c->vtn_id);
		}
		if (sent == OADR_QUERY_REGISTRATION)
			r->up_state = UP_CREATE;
		else if (sent == OADR_CREATE_PARTY_REGISTRATION) {
			if (!c->ven_id || !c->registration_id) {
				relay_up_refused(r, "the TSO's %s has no venID or "
				    "registrationID (code %u)",
				    oadr_msg_name(in->type), c->response.code);
				break;
			}
			relay_registered(r, c);
		}
		r->dirty = 1;
		break;
	}
	case OADR_REGISTERED_REPORT:
		if (sent == OADR_REGISTER_REPORT && r->up_state ==
		    UP_REGISTER_REPORT)
			r->up_state = UP_READY;
		if (in->u.registered_report.n_requests > 0) {
			relay_take_treqs(r, in->u.registered_report.requests,
			    in->u.registered_report.n_requests, now);
			relay_owe_pending(r, OADR_CREATED_REPORT, "");
		}
		r->dirty = 1;
		break;
	case OADR_DISTRIBUTE_EVENT:
		relay_take_distribution(r, &in->u.distribute_event, now);
		if (sent == OADR_REQUEST_EVENT)
			r->resync = 0;
		break;
	case OADR_CREATE_REPORT:
		relay_take_treqs(r, in->u.create_report.requests,
		    in->u.create_report.n_requests, now);
		relay_owe_pending(r, OADR_CREATED_REPORT,
		    in->u.create_report.request_id);
		break;
	case OADR_CANCEL_REPORT:
		relay_cancel_treqs(r, &in->u.cancel_report.report_request_ids);
		relay_owe_pending(r, OADR_CANCELED_REPORT,
		    in->u.cancel_report.request_id);
		break;
	case OADR_REGISTER_REPORT:
		m.type = OADR_REGISTERED_REPORT;
		relay_response(&m.u.registered_report.response, 200, "OK",
		    in->u.register_report.request_id);
		m.u.registered_report.ven_id = oadr_strdup(r->ven_id);
		relay_owe(r, &m);
		break;
	case OADR_UPDATE_REPORT:
		m.type = OADR_UPDATED_REPORT;
		relay_response(&m.u.updated_report.response, 200, "OK",
		    in->u.update_report.request_id);
		m.u.updated_report.ven_id = oadr_strdup(r->ven_id);
		relay_owe(r, &m);
		break;
	case OADR_REQUEST_REREGISTRATION:
		m.type = OADR_RESPONSE;
		relay_response(&m.u.response.response, 200, "OK", "");
		m.u.response.ven_id = oadr_strdup(r->ven_id);
		relay_owe(r, &m);
		log_notice("relay: the TSO asks to register again");
		r->up_state = UP_CREATE;
		r->dirty = 1;
		break;
	case OADR_CANCEL_PARTY_REGISTRATION: {
		const struct oadr_cancel_party_registration *c =
		    &in->u.cancel_party_registration;

		m.type = OADR_CANCELED_PARTY_REGISTRATION;
		relay_response(&m.u.canceled_party_registration.response, 200,
		    "OK", c->request_id);
		m.u.canceled_party_registration.registration_id =
		    oadr_strdup(c->registration_id);
		m.u.canceled_party_registration.ven_id =
		    oadr_strdup(r->ven_id);
		relay_owe(r, &m);
		log_warnx("relay: the TSO cancelled acgw's registration; "
		    "registering again");
		relay_up_reset(r);
		r->up_state = UP_QUERY;
		r->dirty = 1;
		break;
	}
	case OADR_RESPONSE: {
		unsigned code = in->u.response.response.code;

		if (code == 200) {
			if (sent == OADR_CREATED_EVENT)
				relay_events_answered(r);
			break;
		}
		relay_up_refused(r, "the TSO answered %s with code %u",
		    oadr_msg_name(sent), code);
		break;
	}
	case OADR_UPDATED_REPORT:
		if (in->u.updated_report.response.code != 200)
			relay_up_refused(r, "the TSO answered %s with code %u",
			    oadr_msg_name(sent),
			    in->u.updated_report.response.code);
		if (in->u.updated_report.has_cancel_report)
			relay_cancel_treqs(r, &in->u.updated_report.
			    cancel_report.report_request_ids);
		break;
	default:
		/* Valid but nothing to do (oadrCanceledPartyRegistration...). */
		log_debug("relay: the TSO sent %s; nothing to do",
		    oadr_msg_name(in->type));
		break;
	}
}

/* A report window the TSO took: move on, and forget what it covered. */
static void
relay_window_sent(struct relay *r)
{
	struct relay_treq *t;

	if (r->flight.treq >= r->ntreqs)
		return;
	t = &r->treqs[r->flight.treq];
	t->next_from = r->flight.window_end;
	r->dirty = 1;
	if (t->until != 0 && t->next_from >= t->until) {
		struct oadr_strlist one = { &t->request_id, 1 };

		relay_cancel_treqs(r, &one);
	}
	relay_down_reports(r);
}

/*
 * The TSO no longer knows us (452 or 463 to anything): forget the
 * registration and what hung on it, and register again.
 */
static void
relay_lost_registration(struct relay *r, unsigned code)
{
	log_warnx("relay: the TSO answered %u: it does not know acgw's "
	    "registration (any more); registering again", code);
	relay_up_reset(r);
	for (size_t i = 0; i < r->nowed; i++)
		free(r->owed[i].doc);
	r->nowed = 0;
	r->up_state = UP_QUERY;
	r->resync = 0;
	r->dirty = 1;
	relay_down_reports(r);
}

/* The eiResponse code an answer carries (200 when it has none). */
static unsigned
relay_code_of(const struct oadr_msg *m)
{
	switch (m->type) {
	case OADR_RESPONSE: return m->u.response.response.code;
	case OADR_CREATED_PARTY_REGISTRATION:
		return m->u.created_party_registration.response.code;
	case OADR_REGISTERED_REPORT:
		return m->u.registered_report.response.code;
	case OADR_UPDATED_REPORT: return m->u.updated_report.response.code;
	case OADR_CREATED_REPORT: return m->u.created_report.response.code;
	case OADR_CANCELED_REPORT: return m->u.canceled_report.response.code;
	case OADR_DISTRIBUTE_EVENT:
		return m->u.distribute_event.has_response ?
		    m->u.distribute_event.response.code : 200;
	default: return 200;
	}
}

/*
 * A message the TSO would not take, this many times running, is given
 * up (with a log): a refused answer must not keep the poll from going
 * out, or the link jams.
 */
#define RELAY_GIVE_UP 3

static void
relay_give_up(struct relay *r, int sent)
{
	log_warnx("relay: the TSO refused %s %d times; giving it up so that "
	    "polling goes on", oadr_msg_name(sent), RELAY_GIVE_UP);
	switch (sent) {
	case OADR_CREATED_EVENT:
		relay_events_answered(r);
		break;
	case OADR_UPDATE_REPORT:
		relay_window_sent(r);
		break;
	case OADR_REQUEST_EVENT:
		r->resync = 0;
		break;
	case OADR_REGISTER_REPORT:
		r->up_state = UP_READY;
		break;
	default:
		if (r->flight.owed && r->nowed > 0) {
			free(r->owed[0].doc);
			memmove(&r->owed[0], &r->owed[1], (r->nowed - 1) *
			    sizeof(r->owed[0]));
			r->nowed--;
		}
		break;
	}
	r->dirty = 1;
}

/* A refusal of any kind: wait for the next poll time; give up at last. */
static void
relay_refused_flight(struct relay *r, int sent, int64_t now)
{
	r->retry_at = now + relay_poll_every(r);
	if (sent != OADR_QUERY_REGISTRATION &&
	    sent != OADR_CREATE_PARTY_REGISTRATION && sent != OADR_POLL &&
	    ++r->refusals >= RELAY_GIVE_UP) {
		relay_give_up(r, sent);
		r->refusals = 0;
	}
}

void
relay_up_answer(struct relay *r, int64_t now, int status, const char *body,
    size_t len)
{
	struct oadr_msg in;
	char err[OADR_ERR_MAX];
	int sent = r->flight.type, state = r->up_state, progressed;
	unsigned code;

	if (sent == OADR_MSG_NONE)
		return;
	r->last_answer = now;
	if (status != 200) {
		relay_up_refused(r, "the TSO answered %s with HTTP %u",
		    oadr_msg_name(sent), (unsigned)status);
		relay_refused_flight(r, sent, now);
		relay_up_flight_clear(r);
		relay_commit(r);
		return;
	}
	if (relay_parse(r, body, len, &in, err, sizeof(err)) != 0) {
		relay_up_refused(r, "the TSO's answer to %s refused: %.400s",
		    oadr_msg_name(sent), err);
		relay_refused_flight(r, sent, now);
		relay_up_flight_clear(r);
		relay_commit(r);
		return;
	}
	if (sent == OADR_POLL)
		r->polls++;
	code = relay_code_of(&in);
	if (code == 452 || code == 463) {
		relay_lost_registration(r, code);
		oadr_msg_free(&in);
		relay_up_flight_clear(r);
		r->retry_at = now + relay_poll_every(r);
		relay_commit(r);
		return;
	}
	if (r->flight.owed && r->nowed > 0) {
		free(r->owed[0].doc);
		memmove(&r->owed[0], &r->owed[1], (r->nowed - 1) *
		    sizeof(r->owed[0]));
		r->nowed--;
		r->dirty = 1;
	}
	/* A window is settled by any 200 answer to its report. */
	if (sent == OADR_UPDATE_REPORT && code == 200)
		relay_window_sent(r);
	relay_take(r, sent, &in, now);
	oadr_msg_free(&in);
	/* Did the answer move anything on? If not, it counts as refused. */
	switch (sent) {
	case OADR_QUERY_REGISTRATION:
		progressed = r->up_state != state || state != UP_QUERY;
		break;
	case OADR_CREATE_PARTY_REGISTRATION:
		progressed = r->up_state == UP_REGISTER_REPORT;
		break;
	case OADR_REGISTER_REPORT:
		progressed = r->up_state != UP_REGISTER_REPORT;
		break;
	case OADR_REQUEST_EVENT:
		progressed = !r->resync;
		break;
	case OADR_CREATED_EVENT:
		progressed = code == 200;
		break;
	default:
		progressed = code == 200;
		break;
	}
	if (progressed) {
		r->retry_at = 0;
		r->refusals = 0;
	} else
		relay_refused_flight(r, sent, now);
	relay_up_flight_clear(r);
	relay_sync_ras(r, now);
	relay_commit(r);
}

void
relay_up_failed(struct relay *r, int64_t now)
{
	(void)now;
	relay_up_flight_clear(r);
	if (r->up_state == UP_READY && !r->resync) {
		r->resync = 1;
		r->dirty = 1;
	}
}

void
relay_up_json(const struct relay *r, struct json_buf *j)
{
	static const char *const names[] = { "querying", "registering",
	    "registering reports", "registered" };
	char buf[40];

	json_kv_str(j, "registration", names[r->up_state]);
	if (r->ven_id)
		json_kv_str(j, "ven_id", r->ven_id);
	if (r->registration_id)
		json_kv_str(j, "registration_id", r->registration_id);
	if (r->vtn_id)
		json_kv_str(j, "vtn_id", r->vtn_id);
	json_kv_int(j, "poll_interval_ms", relay_poll_every(r) / 1000);
	if (r->last_poll) {
		units_format_datetime(r->last_poll, buf, sizeof(buf));
		json_kv_str(j, "last_poll", buf);
		units_format_datetime(r->last_poll + relay_poll_every(r), buf,
		    sizeof(buf));
		json_kv_str(j, "next_poll", buf);
	}
	json_kv_uint(j, "polls_answered", r->polls);
	json_kv_bool(j, "resync_pending", r->resync);
	json_kv_uint(j, "answers_owed", r->nowed);
	json_kv_uint(j, "report_requests", r->ntreqs);
	json_kv_uint(j, "refused_answers", r->up_refused);
	if (r->up_error[0])
		json_kv_str(j, "last_refusal", r->up_error);
	json_kv_uint(j, "state_writes", r->writes);
	if (r->state_error[0])
		json_kv_str(j, "state_error", r->state_error);
}
