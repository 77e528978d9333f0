/*
 * relay_down — acgwd as the VTN of the resource aggregators (R3).
 *
 * Pull model: every RA request is answered at once, and what acgw has
 * for an RA (its events, a report request, a re-registration request)
 * goes back in the answer to its oadrPoll. The venID of every payload
 * must be the one bound to the session's certificate (peers[].ven_id,
 * else the peer's name): any other is answered with 463 and recorded.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acgw/log.h"
#include "acgw/units.h"
#include "relay_impl.h"

/* Telemetry kept per RA: bounded, oldest dropped first. */
#define RELAY_SAMPLES_MAX 4096
/* Availability windows held per RA (oadrCreateOpt). */
#define RELAY_OPTS_MAX 64
/* A reported value beyond this is not power any RA has (1 TW). */
#define RELAY_WATTS_MAX 1000000000000.0

/* ---- telemetry ---------------------------------------------------------- */

int64_t
relay_ra_window_sum(const struct relay *r, int64_t t, size_t *reported,
    size_t *expected, char *missing, size_t mlen)
{
	int64_t sum = 0;
	size_t used = 0;

	*reported = *expected = 0;
	if (mlen > 0)
		missing[0] = '\0';
	for (size_t i = 0; i < r->nras; i++) {
		const struct relay_ra *ra = &r->ras[i];
		int found = 0;

		if (!ra->registered || ra->severed)
			continue;
		(*expected)++;
		for (size_t k = ra->nsamples; k-- > 0;)
			if (ra->samples[k].t == t) {
				sum += ra->samples[k].w;
				found = 1;
				break;
			}
		if (found) {
			(*reported)++;
			continue;
		}
		if (used < mlen) {
			int n = snprintf(missing + used, mlen - used, "%s%s",
			    used ? "," : "", ra->name);

			used = n > 0 ? used + (size_t)n : used;
			if (used >= mlen)
				used = mlen;
		}
	}
	return sum;
}

/*
 * What each RA is asked to report follows what the TSO asked of acgw:
 * TELEMETRY_USAGE at the finest granularity requested, sent every
 * interval, so that each TSO window can be summed as soon as it ends.
 * Telemetry older than every open window is forgotten.
 */
void
relay_down_reports(struct relay *r)
{
	int64_t gran = 0, oldest = INT64_MAX;
	const char *tid = NULL;

	for (size_t i = 0; i < r->ntreqs; i++) {
		if (r->treqs[i].next_from < oldest)
			oldest = r->treqs[i].next_from;
		if (r->treqs[i].status)
			continue;
		if (gran == 0 || r->treqs[i].granularity < gran) {
			gran = r->treqs[i].granularity;
			tid = r->treqs[i].request_id;
		}
	}
	for (size_t i = 0; i < r->nras; i++) {
		struct relay_ra *ra = &r->ras[i];
		size_t keep = 0;

		for (size_t k = 0; k < ra->nsamples; k++)
			if (ra->samples[k].t >= oldest && r->ntreqs > 0)
				ra->samples[keep++] = ra->samples[k];
		if (keep != ra->nsamples) {
			ra->nsamples = keep;
			r->dirty = 1;
		}
		if (gran == 0) {
			if (ra->rreq_state == RREQ_SENT ||
			    ra->rreq_state == RREQ_ACTIVE) {
				ra->rreq_state = RREQ_CANCEL;
				r->dirty = 1;
			} else if (ra->rreq_state == RREQ_TO_SEND) {
				ra->rreq_state = RREQ_NONE;
				r->dirty = 1;
			}
			continue;
		}
		if (!ra->registered || ra->usage_specifier == NULL)
			continue;
		if (ra->rreq_state != RREQ_NONE && ra->rreq_state != RREQ_CANCEL
		    && ra->rreq_granularity == gran)
			continue;
		snprintf(ra->rreq_id, sizeof(ra->rreq_id), "acgw-%.40s-%llds",
		    tid, (long long)(gran / 1000000));
		ra->rreq_granularity = gran;
		ra->rreq_state = RREQ_TO_SEND;
		r->dirty = 1;
	}
}

static void
relay_take_sample(struct relay_ra *ra, int64_t t, int64_t w)
{
	struct relay_sample *s;

	for (size_t k = 0; k < ra->nsamples; k++)
		if (ra->samples[k].t == t) {
			ra->samples[k].w = w;
			return;
		}
	if (ra->nsamples >= RELAY_SAMPLES_MAX) {
		memmove(&ra->samples[0], &ra->samples[1],
		    (ra->nsamples - 1) * sizeof(*s));
		ra->nsamples--;
	}
	if ((s = oadr_append((void **)&ra->samples, &ra->nsamples,
	    sizeof(*s))) == NULL)
		return;
	s->t = t;
	s->w = w;
}

/* Watts per unit of a report description: itemUnits W with a scale. */
static double
relay_w_per_unit(const struct oadr_report_description *d)
{
	const char *sc;

	if (!d->has_item || d->item.kind != OADR_ITEM_POWER_REAL)
		return 1000;		/* no item: kW, as for signals */
	sc = d->item.si_scale ? d->item.si_scale : "none";
	if (strcmp(sc, "k") == 0)
		return 1000;
	if (strcmp(sc, "M") == 0)
		return 1000000;
	if (strcmp(sc, "G") == 0)
		return 1000000000;
	return 1;
}

static void
relay_take_metadata(struct relay *r, struct relay_ra *ra,
    const struct oadr_report_msg *rm)
{
	for (size_t i = 0; i < rm->n_reports; i++) {
		const struct oadr_report *rep = &rm->reports[i];
		const struct oadr_report_description *d = NULL;
		const char *name = rep->name ? rep->name : "";

		if (strncmp(name, "METADATA_", 9) == 0)
			name += 9;
		if (strcmp(name, "TELEMETRY_USAGE") != 0 ||
		    rep->specifier_id == NULL)
			continue;
		for (size_t k = 0; k < rep->n_descriptions && !d; k++)
			if (rep->descriptions[k].report_type &&
			    strcmp(rep->descriptions[k].report_type,
			    "usage") == 0)
				d = &rep->descriptions[k];
		if (d == NULL && rep->n_descriptions > 0)
			d = &rep->descriptions[0];
		if (d == NULL || d->rid == NULL)
			continue;
		free(ra->usage_specifier);
		free(ra->usage_rid);
		ra->usage_specifier = strdup(rep->specifier_id);
		ra->usage_rid = strdup(d->rid);
		ra->usage_w_per_unit = relay_w_per_unit(d);
		/* A new METADATA: ask again under what it now offers. */
		ra->rreq_state = RREQ_NONE;
		r->dirty = 1;
		log_info("relay: %s offers TELEMETRY_USAGE (%s, rID %s)",
		    ra->name, ra->usage_specifier, ra->usage_rid);
		break;
	}
	relay_down_reports(r);
}

static void
relay_take_update(struct relay *r, struct relay_ra *ra,
    const struct oadr_report_msg *um, int64_t now)
{
	for (size_t i = 0; i < um->n_reports; i++) {
		const struct oadr_report *rep = &um->reports[i];
		int64_t t = rep->has_dtstart ? rep->dtstart : 0;

		if (rep->request_id == NULL || ra->rreq_id[0] == '\0' ||
		    strcmp(rep->request_id, ra->rreq_id) != 0 ||
		    ra->rreq_granularity <= 0)
			continue;	/* not what we asked: taken, not used */
		for (size_t k = 0; k < rep->intervals.n; k++) {
			const struct oadr_interval *iv = &rep->intervals.v[k];
			int64_t at = iv->has_dtstart ? iv->dtstart : t;

			for (size_t p = 0; p < iv->n_payloads; p++) {
				const struct oadr_stream_payload *sp =
				    &iv->payloads[p];

				if (sp->kind != OADR_STREAM_REPORT ||
				    sp->value.kind != OADR_PAYLOAD_FLOAT ||
				    (ra->usage_rid && sp->rid &&
				    strcmp(sp->rid, ra->usage_rid) != 0))
					continue;
				{
					double w = sp->value.value *
					    ra->usage_w_per_unit;

					if (!(w > -RELAY_WATTS_MAX &&
					    w < RELAY_WATTS_MAX)) {
						ra->invalid++;
						continue;
					}
					relay_take_sample(ra, relay_grid(at,
					    ra->rreq_granularity), llround(w));
				}
				r->dirty = 1;
			}
			if (iv->has_duration)
				t = at + iv->duration;
		}
		ra->last_update = now;
		if (ra->rreq_state == RREQ_SENT)
			ra->rreq_state = RREQ_ACTIVE;
	}
}

/* ---- answers -------------------------------------------------------------- */

static void
relay_profiles(struct oadr_created_party_registration *c)
{
	struct oadr_profile *p = oadr_append((void **)&c->profiles,
	    &c->n_profiles, sizeof(*p));
	struct oadr_transport *t;

	if (p == NULL)
		return;
	p->name = oadr_strdup("2.0b");
	if ((t = oadr_append((void **)&p->transports, &p->n_transports,
	    sizeof(*t))) != NULL)
		t->name = oadr_strdup("simpleHttp");
}

static void
relay_registration_answer(struct relay *r, struct relay_ra *ra,
    unsigned code, const char *desc, const char *request_id, int with_ids,
    struct oadr_msg *out)
{
	struct oadr_created_party_registration *c =
	    &out->u.created_party_registration;

	out->type = OADR_CREATED_PARTY_REGISTRATION;
	relay_response(&c->response, code, desc, request_id);
	if (with_ids) {
		c->registration_id = oadr_strdup(ra->registration_id);
		c->ven_id = oadr_strdup(ra->ven_id);
	}
	c->vtn_id = oadr_strdup(r->cfg->dispatch.vtn_id);
	relay_profiles(c);
	c->has_poll_freq = 1;
	c->poll_freq = (int64_t)r->cfg->dispatch.ra_poll_interval_ms * 1000;
}

static void
relay_plain(struct relay_ra *ra, unsigned code, const char *desc,
    const char *request_id, struct oadr_msg *out)
{
	out->type = OADR_RESPONSE;
	relay_response(&out->u.response.response, code, desc, request_id);
	out->u.response.ven_id = oadr_strdup(ra->ven_id);
}

static void
relay_ra_audit(struct relay *r, struct relay_ra *ra, const char *type,
    const char *key, const char *value)
{
	struct json_buf j;

	json_init(&j, 4096);
	json_object_begin(&j);
	json_kv_str(&j, "ven_id", ra->ven_id);
	if (key)
		json_kv_str(&j, key, value);
	json_object_end(&j);
	relay_audit(r, type, ra->name, &j);
	json_free(&j);
}

/* ras[i] was made from cfg->peers.v[i]. */
static const struct config_peer *
relay_peer_cfg(const struct relay *r, const struct relay_ra *ra)
{
	size_t i = (size_t)(ra - r->ras);

	return i < r->cfg->peers.n ? &r->cfg->peers.v[i] : NULL;
}

/* The same URL, give or take one trailing slash. */
static int
relay_same_url(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '/')
		la--;
	if (lb > 0 && b[lb - 1] == '/')
		lb--;
	return la == lb && strncmp(a, b, la) == 0;
}

/*
 * An RA may ask for the push model only where the operator said where
 * it listens (peers[].push_url), and must name that same address: acgwd
 * never connects to an address a peer alone chose.
 */
static int
relay_push_refused(struct relay *r, struct relay_ra *ra,
    const struct oadr_create_party_registration *c, struct oadr_msg *out)
{
	const struct config_peer *p = relay_peer_cfg(r, ra);
	const char *want = p ? p->push_url.text : NULL;
	char desc[300];

	if (want == NULL)
		snprintf(desc, sizeof(desc), "push model not enabled for %s "
		    "(peers[].push_url): register with oadrHttpPullModel true "
		    "and poll", ra->name);
	else if (c->transport_address == NULL ||
	    !relay_same_url(c->transport_address, want))
		snprintf(desc, sizeof(desc), "oadrTransportAddress \"%.100s\" "
		    "is not the push endpoint configured for %s (%.100s)",
		    c->transport_address ? c->transport_address : "",
		    ra->name, want);
	else
		return 0;
	log_warnx("relay: %s: registration refused: %s", ra->name, desc);
	relay_registration_answer(r, ra, 400, desc, c->request_id, 0, out);
	return 1;
}

static void
relay_register(struct relay *r, struct relay_ra *ra,
    const struct oadr_create_party_registration *c, int64_t now,
    struct oadr_msg *out)
{
	if (c->profile_name == NULL || strcmp(c->profile_name, "2.0b") != 0) {
		relay_registration_answer(r, ra, 400, "profile not supported: "
		    "acgw speaks 2.0b", c->request_id, 0, out);
		return;
	}
	if (c->transport_name == NULL ||
	    strcmp(c->transport_name, "simpleHttp") != 0) {
		relay_registration_answer(r, ra, 400, "transport not "
		    "supported: acgw speaks simpleHttp", c->request_id, 0, out);
		return;
	}
	if (c->has_http_pull_model && !c->http_pull_model &&
	    relay_push_refused(r, ra, c, out))
		return;
	/* A registration it still holds is kept; anything else is new. */
	if (!ra->registered || c->registration_id == NULL ||
	    strcmp(c->registration_id, ra->registration_id) != 0) {
		char id[64];

		relay_request_id(r, "reg", id, sizeof(id));
		snprintf(ra->registration_id, sizeof(ra->registration_id), "%s",
		    id);
	}
	ra->registered = 1;
	ra->registered_at = now;
	ra->rereg = 0;
	ra->push = c->has_http_pull_model && !c->http_pull_model;
	snprintf(ra->push_url, sizeof(ra->push_url), "%s", ra->push ?
	    relay_peer_cfg(r, ra)->push_url.text : "");
	/* Its report requests went with its old registration. */
	if (ra->rreq_state != RREQ_NONE)
		ra->rreq_state = RREQ_NONE;
	r->dirty = 1;
	relay_sync_ras(r, now);
	relay_down_reports(r);
	relay_ra_audit(r, ra, "ra.registered", "registration_id",
	    ra->registration_id);
	log_notice("relay: %s registered (venID %s, registrationID %s)",
	    ra->name, ra->ven_id, ra->registration_id);
	relay_registration_answer(r, ra, 200, "OK", c->request_id, 1, out);
}

/* The RA's oadrDistributeEvent: all of its current events. */
static int
relay_distribution_for(struct relay *r, size_t idx, int64_t now,
    struct oadr_msg *out)
{
	struct oadr_distribute_event *de = &out->u.distribute_event;
	struct relay_ra *ra = &r->ras[idx];
	char id[64];

	out->type = OADR_DISTRIBUTE_EVENT;
	de->has_response = 1;
	relay_response(&de->response, 200, "OK", "");
	relay_request_id(r, "acgw-de", id, sizeof(id));
	de->request_id = oadr_strdup(id);
	de->vtn_id = oadr_strdup(r->cfg->dispatch.vtn_id);
	if (dispatch_ra_events(&r->d, idx, now, de) != 0)
		return -1;
	for (size_t i = 0; i < de->n_events; i++) {
		char **v = oadr_append((void **)&de->events[i].target.ven_ids.v,
		    &de->events[i].target.ven_ids.n, sizeof(char *));

		if (v == NULL || (*v = oadr_strdup(ra->ven_id)) == NULL)
			return -1;
	}
	return 0;
}

/* What a reply hands an RA, to take back if the reply never leaves. */
struct relay_undo {
	char ra[65];
	size_t n;
	char **events;
	uint32_t *mods;
	int64_t *deadlines;		/* each share's before the hand-over */
	int64_t at;
	/* A report request, its cancellation or oadrRequestReregistration
	 * handed over: the RA's state before and right after. */
	int ra_saved;
	struct relay_ra_hand {
		int rreq_state;
		char rreq_id[80];
		int rereg;
	} before, after;
};

static void
relay_hand_get(const struct relay_ra *ra, struct relay_ra_hand *h)
{
	h->rreq_state = ra->rreq_state;
	snprintf(h->rreq_id, sizeof(h->rreq_id), "%s", ra->rreq_id);
	h->rereg = ra->rereg;
}

/* An undo of what relay_poll_answer just changed on ra, from before. */
static struct relay_undo *
relay_hand_undo(const struct relay_ra *ra, const struct relay_ra_hand *before,
    int64_t now)
{
	struct relay_undo *u = calloc(1, sizeof(*u));

	if (u == NULL)
		return NULL;
	snprintf(u->ra, sizeof(u->ra), "%s", ra->name);
	u->at = now;
	u->ra_saved = 1;
	u->before = *before;
	relay_hand_get(ra, &u->after);
	return u;
}

void
relay_undo_free(struct relay_undo *u)
{
	for (size_t i = 0; u && i < u->n; i++)
		free(u->events[i]);
	if (u) {
		free(u->events);
		free(u->mods);
		free(u->deadlines);
	}
	free(u);
}

/*
 * The reply did not reach the RA (the state could not be written, or
 * its session closed first): what it would have handed over is queued
 * again, unless it changed meanwhile.
 */
void
relay_undo_apply(struct relay *r, struct relay_undo *u)
{
	size_t idx;

	struct relay_ra *ra;
	struct relay_ra_hand now;

	if (u == NULL || (ra = relay_ra_find(r, u->ra, &idx)) == NULL)
		return;
	/* Unless something changed it since, it is owed again. */
	relay_hand_get(ra, &now);
	if (u->ra_saved && now.rreq_state == u->after.rreq_state &&
	    now.rereg == u->after.rereg &&
	    strcmp(now.rreq_id, u->after.rreq_id) == 0) {
		ra->rreq_state = u->before.rreq_state;
		snprintf(ra->rreq_id, sizeof(ra->rreq_id), "%s",
		    u->before.rreq_id);
		ra->rereg = u->before.rereg;
		r->dirty = 1;
	}
	for (size_t k = 0; k < u->n; k++)
		for (size_t i = 0; i < r->d.nevents; i++) {
			struct dispatch_share *s;

			if (strcmp(r->d.events[i].id, u->events[k]) != 0)
				continue;
			s = &r->d.events[i].shares[idx];
			/*
			 * Its deadline is the one it had: an attempt that
			 * failed (a push to an endpoint that is down) must
			 * not give the RA more time to answer.
			 */
			if (s->mod == u->mods[k] && s->sent_at == u->at) {
				s->sent_at = 0;
				s->deadline = u->deadlines[k];
				r->d.changes++;
				if (r->ras[idx].delivered > 0)
					r->ras[idx].delivered--;
			}
		}
}

/* Marks what the RA is handed now; *undo says what that was. */
static int
relay_deliver(struct relay *r, size_t idx, int64_t now,
    struct relay_undo **undo)
{
	struct relay_undo *u = calloc(1, sizeof(*u));

	if (u == NULL || (u->events = calloc(r->d.nevents + 1,
	    sizeof(char *))) == NULL || (u->mods = calloc(r->d.nevents + 1,
	    sizeof(uint32_t))) == NULL || (u->deadlines = calloc(
	    r->d.nevents + 1, sizeof(int64_t))) == NULL) {
		relay_undo_free(u);
		return -1;
	}
	snprintf(u->ra, sizeof(u->ra), "%s", r->ras[idx].name);
	u->at = now;
	for (size_t i = 0; i < r->d.nevents; i++) {
		const struct dispatch_share *s = &r->d.events[i].shares[idx];

		if (!s->exists || s->sent_at != 0)
			continue;
		if ((u->events[u->n] = strdup(r->d.events[i].id)) == NULL) {
			relay_undo_free(u);
			return -1;
		}
		u->deadlines[u->n] = s->deadline;
		u->mods[u->n++] = s->mod;
	}
	dispatch_delivered(&r->d, idx, now);
	r->ras[idx].delivered += u->n;
	*undo = u;
	return 0;
}

static void
relay_audit_delivery(struct relay *r, const struct relay_undo *u,
    const struct relay_ra *ra)
{
	struct json_buf j;

	json_init(&j, 65536);
	json_object_begin(&j);
	json_key(&j, "events");
	json_array_begin(&j);
	for (size_t k = 0; k < u->n; k++) {
		json_object_begin(&j);
		json_kv_str(&j, "event", u->events[k]);
		json_kv_int(&j, "modification", u->mods[k]);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	relay_audit(r, "dispatch.delivered", ra->name, &j);
	json_free(&j);
}

static void
relay_answers(struct relay *r, size_t idx, const struct oadr_created_event *c,
    int64_t now)
{
	struct relay_ra *ra = &r->ras[idx];

	for (size_t i = 0; i < c->n_event_responses; i++) {
		const struct oadr_event_response *er = &c->event_responses[i];
		struct json_buf j;
		int rc;

		rc = dispatch_answer(&r->d, idx, er->event.event_id,
		    er->event.modification_number, er->opt_type, now);
		json_init(&j, 4096);
		json_object_begin(&j);
		json_kv_str(&j, "direction", "downstream");
		json_kv_str(&j, "event", er->event.event_id);
		json_kv_int(&j, "modification",
		    er->event.modification_number);
		json_kv_str(&j, "opt", er->opt_type == OADR_OPT_IN ? "optIn" :
		    "optOut");
		json_kv_int(&j, "code", er->code);
		if (rc != 0)
			json_kv_str(&j, "ignored", "not its current event or "
			    "modification");
		json_object_end(&j);
		relay_audit(r, "dispatch.acked", ra->name, &j);
		json_free(&j);
		if (rc != 0)
			log_info("relay: %s answered %s modification %u, which "
			    "is not its current one; ignored", ra->name,
			    er->event.event_id, er->event.modification_number);
	}
}

static void relay_cancel_opt(struct relay *r, struct relay_ra *ra,
    const char *opt_id, int64_t now);

static void
relay_take_opt(struct relay *r, size_t idx, const struct oadr_create_opt *o,
    int64_t now)
{
	struct relay_ra *ra = &r->ras[idx];

	if (o->has_qualified_event) {
		struct json_buf j;
		int rc = dispatch_answer(&r->d, idx,
		    o->qualified_event.event_id,
		    o->qualified_event.modification_number, o->opt_type, now);

		json_init(&j, 4096);
		json_object_begin(&j);
		json_kv_str(&j, "direction", "downstream");
		json_kv_str(&j, "event", o->qualified_event.event_id);
		json_kv_int(&j, "modification",
		    o->qualified_event.modification_number);
		json_kv_str(&j, "opt", o->opt_type == OADR_OPT_IN ? "optIn" :
		    "optOut");
		json_kv_str(&j, "by", "oadrCreateOpt");
		if (rc != 0)
			json_kv_str(&j, "ignored", "not its current event or "
			    "modification");
		json_object_end(&j);
		relay_audit(r, "dispatch.acked", ra->name, &j);
		json_free(&j);
		return;
	}
	/* The same optID again replaces its windows. */
	relay_cancel_opt(r, ra, o->opt_id, now);
	if (ra->nopts + o->n_available > RELAY_OPTS_MAX) {
		log_warnx("relay: %s: oadrCreateOpt %s: more than %d "
		    "availability windows held; not taken", ra->name,
		    o->opt_id, RELAY_OPTS_MAX);
		return;
	}
	for (size_t i = 0; i < o->n_available; i++) {
		struct relay_opt *w = oadr_append((void **)&ra->opts,
		    &ra->nopts, sizeof(*w));

		if (w == NULL)
			return;
		if ((w->id = strdup(o->opt_id)) == NULL) {
			ra->nopts--;
			return;
		}
		w->type = o->opt_type;
		w->from = o->available[i].dtstart;
		w->until = o->available[i].dtstart + o->available[i].duration;
	}
	r->dirty = 1;
	relay_sync_ras(r, now);
}

static void
relay_cancel_opt(struct relay *r, struct relay_ra *ra, const char *opt_id,
    int64_t now)
{
	size_t k = 0;

	while (k < ra->nopts) {
		if (strcmp(ra->opts[k].id, opt_id) == 0) {
			free(ra->opts[k].id);
			memmove(&ra->opts[k], &ra->opts[k + 1],
			    (ra->nopts - k - 1) * sizeof(ra->opts[k]));
			ra->nopts--;
			r->dirty = 1;
			continue;
		}
		k++;
	}
	relay_sync_ras(r, now);
}

/* What acgw hands an RA in answer to its poll. */
static int
relay_poll_answer(struct relay *r, size_t idx, int64_t now,
    struct oadr_msg *out, struct relay_undo **undo)
{
	struct relay_ra *ra = &r->ras[idx];
	struct relay_ra_hand before;

	ra->last_poll = now;
	relay_hand_get(ra, &before);
	if (ra->rereg) {
		out->type = OADR_REQUEST_REREGISTRATION;
		out->u.request_reregistration.ven_id = oadr_strdup(ra->ven_id);
		ra->rereg = 0;
		r->dirty = 1;
		return (*undo = relay_hand_undo(ra, &before, now)) ? 0 : -1;
	}
	if (dispatch_ra_pending(&r->d, idx)) {
		if (relay_distribution_for(r, idx, now, out) != 0 ||
		    relay_deliver(r, idx, now, undo) != 0)
			return -1;
		relay_audit_delivery(r, *undo, ra);
		return 0;
	}
	if (ra->rreq_state == RREQ_TO_SEND) {
		struct oadr_report_request_msg *cr = &out->u.create_report;
		struct oadr_report_request *q;
		struct oadr_specifier_payload *sp;

		out->type = OADR_CREATE_REPORT;
		cr->request_id = oadr_strdup(ra->rreq_id);
		cr->ven_id = oadr_strdup(ra->ven_id);
		if (!(q = oadr_append((void **)&cr->requests, &cr->n_requests,
		    sizeof(*q))) || !(sp = oadr_append((void **)&q->payloads,
		    &q->n_payloads, sizeof(*sp))))
			return -1;
		q->request_id = oadr_strdup(ra->rreq_id);
		q->specifier_id = oadr_strdup(ra->usage_specifier);
		q->granularity = ra->rreq_granularity;
		q->back_duration = ra->rreq_granularity;
		sp->rid = oadr_strdup(ra->usage_rid);
		sp->reading_type = oadr_strdup("Direct Read");
		ra->rreq_state = RREQ_SENT;
		ra->rreq_sent_at = now;
		r->dirty = 1;
		return (*undo = relay_hand_undo(ra, &before, now)) ? 0 : -1;
	}
	if (ra->rreq_state == RREQ_CANCEL) {
		char **s;

		out->type = OADR_CANCEL_REPORT;
		out->u.cancel_report.request_id = oadr_strdup(ra->rreq_id);
		out->u.cancel_report.ven_id = oadr_strdup(ra->ven_id);
		s = oadr_append((void **)&out->u.cancel_report.
		    report_request_ids.v, &out->u.cancel_report.
		    report_request_ids.n, sizeof(char *));
		if (s == NULL)
			return -1;
		*s = oadr_strdup(ra->rreq_id);
		out->u.cancel_report.report_to_follow = 0;
		ra->rreq_state = RREQ_NONE;
		ra->rreq_id[0] = '\0';
		r->dirty = 1;
		return (*undo = relay_hand_undo(ra, &before, now)) ? 0 : -1;
	}
	relay_plain(ra, 200, "OK", "", out);
	return 0;
}

/* The venID a payload claims, if it carries one. */
static const char *
relay_claimed_ven(const struct oadr_msg *m)
{
	switch (m->type) {
	case OADR_CREATE_PARTY_REGISTRATION:
		return m->u.create_party_registration.ven_id;
	case OADR_CANCEL_PARTY_REGISTRATION:
		return m->u.cancel_party_registration.ven_id;
	case OADR_CANCELED_PARTY_REGISTRATION:
		return m->u.canceled_party_registration.ven_id;
	case OADR_POLL: return m->u.poll.ven_id;
	case OADR_RESPONSE: return m->u.response.ven_id;
	case OADR_REQUEST_EVENT: return m->u.request_event.ven_id;
	case OADR_CREATED_EVENT: return m->u.created_event.ven_id;
	case OADR_REGISTER_REPORT: return m->u.register_report.ven_id;
	case OADR_UPDATE_REPORT: return m->u.update_report.ven_id;
	case OADR_CREATED_REPORT: return m->u.created_report.ven_id;
	case OADR_CANCELED_REPORT: return m->u.canceled_report.ven_id;
	case OADR_REGISTERED_REPORT: return m->u.registered_report.ven_id;
	case OADR_CREATE_OPT: return m->u.create_opt.ven_id;
	case OADR_CANCEL_OPT: return m->u.cancel_opt.ven_id;
	default: return NULL;
	}
}

static const char *
relay_request_id_of(const struct oadr_msg *m)
{
	switch (m->type) {
	case OADR_QUERY_REGISTRATION:
		return m->u.query_registration.request_id;
	case OADR_CREATE_PARTY_REGISTRATION:
		return m->u.create_party_registration.request_id;
	case OADR_CANCEL_PARTY_REGISTRATION:
		return m->u.cancel_party_registration.request_id;
	case OADR_REQUEST_EVENT: return m->u.request_event.request_id;
	case OADR_REGISTER_REPORT: return m->u.register_report.request_id;
	case OADR_UPDATE_REPORT: return m->u.update_report.request_id;
	case OADR_CREATE_OPT: return m->u.create_opt.request_id;
	case OADR_CANCEL_OPT: return m->u.cancel_opt.request_id;
	default: return "";
	}
}

/* Everything a registered RA may send, answered into out. */
static int
relay_dispatch_msg(struct relay *r, size_t idx, const struct oadr_msg *in,
    int64_t now, struct oadr_msg *out, struct relay_undo **undo)
{
	struct relay_ra *ra = &r->ras[idx];
	const char *rid = relay_request_id_of(in);

	switch (in->type) {
	case OADR_CANCEL_PARTY_REGISTRATION:
		ra->registered = 0;
		r->dirty = 1;
		relay_sync_ras(r, now);
		relay_ra_audit(r, ra, "ra.unregistered", "by", "the RA");
		log_notice("relay: %s cancelled its registration", ra->name);
		out->type = OADR_CANCELED_PARTY_REGISTRATION;
		relay_response(&out->u.canceled_party_registration.response,
		    200, "OK", rid);
		out->u.canceled_party_registration.registration_id =
		    oadr_strdup(ra->registration_id);
		out->u.canceled_party_registration.ven_id =
		    oadr_strdup(ra->ven_id);
		return 0;
	case OADR_POLL:
		return relay_poll_answer(r, idx, now, out, undo);
	case OADR_REQUEST_EVENT:
		if (relay_distribution_for(r, idx, now, out) != 0)
			return -1;
		free(out->u.distribute_event.response.request_id);
		out->u.distribute_event.response.request_id =
		    oadr_strdup(rid);
		if (relay_deliver(r, idx, now, undo) != 0)
			return -1;
		relay_audit_delivery(r, *undo, ra);
		return 0;
	case OADR_CREATED_EVENT:
		relay_answers(r, idx, &in->u.created_event, now);
		break;
	case OADR_REGISTER_REPORT:
		relay_take_metadata(r, ra, &in->u.register_report);
		out->type = OADR_REGISTERED_REPORT;
		relay_response(&out->u.registered_report.response, 200, "OK",
		    rid);
		out->u.registered_report.ven_id = oadr_strdup(ra->ven_id);
		return 0;
	case OADR_CREATED_REPORT:
		for (size_t i = 0; i < in->u.created_report.pending.n; i++)
			if (ra->rreq_state == RREQ_SENT && strcmp(ra->rreq_id,
			    in->u.created_report.pending.v[i]) == 0) {
				ra->rreq_state = RREQ_ACTIVE;
				r->dirty = 1;
			}
		break;
	case OADR_UPDATE_REPORT:
		relay_take_update(r, ra, &in->u.update_report, now);
		out->type = OADR_UPDATED_REPORT;
		relay_response(&out->u.updated_report.response, 200, "OK", rid);
		out->u.updated_report.ven_id = oadr_strdup(ra->ven_id);
		return 0;
	case OADR_CREATE_OPT:
		relay_take_opt(r, idx, &in->u.create_opt, now);
		out->type = OADR_CREATED_OPT;
		relay_response(&out->u.created_opt.response, 200, "OK", rid);
		out->u.created_opt.opt_id = oadr_strdup(in->u.create_opt.opt_id);
		return 0;
	case OADR_CANCEL_OPT:
		relay_cancel_opt(r, ra, in->u.cancel_opt.opt_id, now);
		out->type = OADR_CANCELED_OPT;
		relay_response(&out->u.canceled_opt.response, 200, "OK", rid);
		out->u.canceled_opt.opt_id = oadr_strdup(in->u.cancel_opt.opt_id);
		return 0;
	case OADR_RESPONSE:
	case OADR_CANCELED_REPORT:
	case OADR_CANCELED_PARTY_REGISTRATION:
	case OADR_REGISTERED_REPORT:
		break;
	default:
		relay_plain(ra, 400, "a VTN's message, not one a VEN sends",
		    rid, out);
		return 0;
	}
	relay_plain(ra, 200, "OK", rid, out);
	return 0;
}

int
relay_ra_request(struct relay *r, const char *peer, const char *service,
    const char *body, size_t len, int64_t now, char **reply,
    size_t *replylen, struct relay_undo **undo, char *err, size_t errlen)
{
	struct oadr_msg in, out;
	struct relay_ra *ra;
	size_t idx;
	const char *claimed;
	char why[OADR_ERR_MAX];
	int status = 200;

	*reply = NULL;
	*undo = NULL;
	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	if ((ra = relay_ra_find(r, peer, &idx)) == NULL) {
		units_errf(err, errlen, "%s is not a configured RA", peer);
		return 403;
	}
	ra->requests++;
	ra->last_request = now;
	if (ra->severed) {
		units_errf(err, errlen, "%s is severed", peer);
		return 403;
	}
	if (relay_parse(r, body, len, &in, why, sizeof(why)) != 0) {
		ra->invalid++;
		log_warnx("relay: %s: payload refused: %s", peer, why);
		units_errf(err, errlen, "payload refused: %s", why);
		return 400;
	}
	/* oadrResponse may come to any service; everything else has one. */
	if (oadr_msg_service(in.type) != NULL &&
	    strcmp(oadr_msg_service(in.type), service) != 0) {
		ra->invalid++;
		units_errf(err, errlen, "%s belongs to the %s service, not %s",
		    oadr_msg_name(in.type), oadr_msg_service(in.type),
		    service);
		oadr_msg_free(&in);
		return 400;
	}
	claimed = relay_claimed_ven(&in);
	if (claimed != NULL && strcmp(claimed, ra->ven_id) != 0) {
		char d[200];

		ra->mismatches++;
		snprintf(d, sizeof(d), "%.64s", claimed);
		relay_ra_audit(r, ra, "ra.mismatch", "claimed", d);
		log_warnx("relay: %s: %s claims venID \"%s\", but its "
		    "certificate is bound to \"%s\"; answered 463", peer,
		    oadr_msg_name(in.type), d, ra->ven_id);
		if (in.type == OADR_CREATE_PARTY_REGISTRATION)
			relay_registration_answer(r, ra, 463, "venID does not "
			    "match the certificate", relay_request_id_of(&in),
			    0, &out);
		else
			relay_plain(ra, 463, "venID does not match the "
			    "certificate", relay_request_id_of(&in), &out);
	} else if (in.type == OADR_QUERY_REGISTRATION)
		relay_registration_answer(r, ra, 200, "OK",
		    relay_request_id_of(&in), ra->registered, &out);
	else if (in.type == OADR_CREATE_PARTY_REGISTRATION)
		relay_register(r, ra, &in.u.create_party_registration, now,
		    &out);
	else if (!ra->registered) {
		if (in.type == OADR_POLL) {
			out.type = OADR_REQUEST_REREGISTRATION;
			out.u.request_reregistration.ven_id =
			    oadr_strdup(ra->ven_id);
		} else
			relay_plain(ra, 452, "not registered: send "
			    "oadrCreatePartyRegistration first",
			    relay_request_id_of(&in), &out);
	} else if (relay_dispatch_msg(r, idx, &in, now, &out, undo) != 0) {
		relay_undo_apply(r, *undo);
		relay_undo_free(*undo);
		*undo = NULL;
		units_errf(err, errlen, "out of memory");
		status = 503;
		goto done;
	}
	/* "Nothing for you" is the same bytes every time: built once. */
	if (in.type == OADR_POLL && out.type == OADR_RESPONSE &&
	    out.u.response.response.code == 200 && ra->poll_ok != NULL &&
	    (*reply = malloc(ra->poll_ok_len + 1)) != NULL) {
		memcpy(*reply, ra->poll_ok, ra->poll_ok_len + 1);
		*replylen = ra->poll_ok_len;
		goto done;
	}
	if (in.type == OADR_POLL && out.type == OADR_RESPONSE &&
	    out.u.response.response.code == 200 && (*reply = relay_build(r,
	    &out, replylen, why, sizeof(why))) != NULL) {
		if ((ra->poll_ok = malloc(*replylen + 1)) != NULL) {
			memcpy(ra->poll_ok, *reply, *replylen + 1);
			ra->poll_ok_len = *replylen;
		}
		goto done;
	}
	if ((*reply = relay_build(r, &out, replylen, why, sizeof(why))) ==
	    NULL) {
		relay_undo_apply(r, *undo);
		relay_undo_free(*undo);
		*undo = NULL;
		units_errf(err, errlen, "cannot build the answer: %s", why);
		status = 503;
	}
done:
	oadr_msg_free(&out);
	oadr_msg_free(&in);
	return status;
}

/* ---- push model ---------------------------------------------------------- */

int
relay_ra_push_next(struct relay *r, const char *peer, int64_t now,
    const char **service, char **doc, size_t *len, struct relay_undo **undo,
    char *err, size_t errlen)
{
	struct oadr_msg out;
	struct relay_ra *ra;
	size_t idx;
	char why[OADR_ERR_MAX];
	int64_t last;

	*doc = NULL;
	*undo = NULL;
	if ((ra = relay_ra_find(r, peer, &idx)) == NULL ||
	    !relay_ra_pushable(r, peer))
		return 0;
	memset(&out, 0, sizeof(out));
	last = ra->last_poll;
	if (relay_poll_answer(r, idx, now, &out, undo) != 0) {
		relay_undo_apply(r, *undo);
		relay_undo_free(*undo);
		*undo = NULL;
		oadr_msg_free(&out);
		units_errf(err, errlen, "out of memory");
		return -1;
	}
	if (out.type == OADR_RESPONSE) {
		/* Nothing owed: not a hand-over. */
		ra->last_poll = last;
		oadr_msg_free(&out);
		return 0;
	}
	*service = oadr_msg_service(out.type);
	if ((*doc = relay_build(r, &out, len, why, sizeof(why))) == NULL) {
		relay_undo_apply(r, *undo);
		relay_undo_free(*undo);
		*undo = NULL;
		units_errf(err, errlen, "cannot build %s: %s",
		    oadr_msg_name(out.type), why);
		oadr_msg_free(&out);
		return -1;
	}
	oadr_msg_free(&out);
	return 1;
}

/*
 * What the RA's endpoint answered. HTTP 200 delivers; its body is an
 * oadrResponse or, from VENs that answer at once, the answer itself
 * (oadrCreatedEvent, oadrCreatedReport, ...), taken as if the RA had
 * posted it. Anything else takes back what was handed over.
 */
int
relay_ra_pushed(struct relay *r, const char *peer, int64_t now, int status,
    const char *body, size_t len, struct relay_undo *undo)
{
	struct relay_ra *ra = relay_ra_find(r, peer, NULL);
	struct oadr_msg in;
	char why[OADR_ERR_MAX], *reply = NULL;
	struct relay_undo *u2 = NULL;
	size_t rlen;
	int code;

	if (ra == NULL)
		return -1;
	if (status != 200) {
		relay_undo_apply(r, undo);
		ra->push_failures++;
		return -1;
	}
	ra->pushed++;
	if (len == 0)
		return 0;
	memset(&in, 0, sizeof(in));
	if (relay_parse(r, body, len, &in, why, sizeof(why)) != 0) {
		ra->invalid++;
		log_warnx("relay: %s: the answer to a push is refused: %s",
		    peer, why);
		return 0;
	}
	code = in.type;
	oadr_msg_free(&in);
	switch (code) {
	case OADR_RESPONSE:
		return 0;
	case OADR_POLL:
	case OADR_REQUEST_EVENT:
	case OADR_QUERY_REGISTRATION:
	case OADR_CREATE_PARTY_REGISTRATION:
		/* Requests that want an answer of their own: on their own
		 * POST, where the answer can reach the RA. */
		ra->invalid++;
		log_warnx("relay: %s answered a push with %s; ignored", peer,
		    oadr_msg_name(code));
		return 0;
	default:
		break;
	}
	if (oadr_msg_service(code) == NULL)
		return 0;
	/* Through the same door as a posted message: venID, audit, ... */
	code = relay_ra_request(r, peer, oadr_msg_service(code), body, len, now,
	    &reply, &rlen, &u2, why, sizeof(why));
	if (code != 200)
		log_warnx("relay: %s: the answer to a push is refused: %s",
		    peer, why);
	free(reply);
	relay_undo_free(u2);
	return 0;
}

/* Registered for push at the address configured now, and not severed. */
int
relay_ra_pushable(const struct relay *r, const char *peer)
{
	struct relay_ra *ra = relay_ra_find((struct relay *)r, peer, NULL);
	const struct config_peer *p;

	return ra != NULL && ra->push && ra->registered && !ra->severed &&
	    (p = relay_peer_cfg(r, ra)) != NULL && p->push_url.text != NULL &&
	    relay_same_url(ra->push_url, p->push_url.text);
}

/*
 * After a reload or a restart: an RA registered for push at an address
 * the configuration no longer names is registered no more (it learns so
 * with code 452 at its next request, and registers again).
 */
void
relay_push_recheck(struct relay *r)
{
	for (size_t i = 0; i < r->nras; i++) {
		struct relay_ra *ra = &r->ras[i];
		const struct config_peer *p = relay_peer_cfg(r, ra);

		if (!ra->push || !ra->registered || (p != NULL &&
		    p->push_url.text != NULL && relay_same_url(ra->push_url,
		    p->push_url.text)))
			continue;
		ra->registered = 0;
		ra->push = 0;
		r->dirty = 1;
		relay_ra_audit(r, ra, "ra.unregistered", "by",
		    "peers[].push_url changed");
		log_notice("relay: %s registered for push at %s, which "
		    "peers[].push_url no longer names: it must register "
		    "again", ra->name, ra->push_url);
		ra->push_url[0] = '\0';
	}
}
