/*
 * dispatch — checking an upstream 発動指令 and splitting it among the RAs,
 * in integer watts. See include/acgw/dispatch.h for the rules.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acgw/dispatch.h"
#include "acgw/json.h"
#include "acgw/units.h"

/* ---- allocation ------------------------------------------------------- */

/*
 * Exact shares of total among the members still open (open[i]), by
 * weight, without exceeding headroom; capped members are closed and the
 * rest shared again. Exact arithmetic: total × weight fits in 128 bits.
 */
static void
share(int64_t total, const struct dispatch_member *m, size_t n,
    unsigned char *open, int64_t *out)
{
	__int128 wsum, *rem = NULL;

	for (;;) {
		int capped = 0;

		wsum = 0;
		for (size_t i = 0; i < n; i++)
			if (open[i])
				wsum += m[i].weight;
		if (wsum == 0 || total == 0)
			return;
		/* Anyone whose exact share exceeds its headroom is capped. */
		for (size_t i = 0; i < n; i++) {
			int64_t room;

			if (!open[i])
				continue;
			room = m[i].capacity_w - out[i];
			if ((__int128)total * m[i].weight > (__int128)room * wsum) {
				out[i] += room;
				total -= room;
				open[i] = 0;
				capped = 1;
			}
		}
		if (!capped)
			break;
	}
	/* Floors, then the left-over watts by largest remainder. */
	rem = calloc(n, sizeof(*rem));
	{
		int64_t given = 0;

		for (size_t i = 0; i < n; i++) {
			__int128 num;

			if (!open[i])
				continue;
			num = (__int128)total * m[i].weight;
			out[i] += (int64_t)(num / wsum);
			given += (int64_t)(num / wsum);
			if (rem)
				rem[i] = num % wsum;
		}
		for (int64_t left = total - given; left > 0; left--) {
			size_t best = n;

			for (size_t i = 0; i < n; i++)
				if (open[i] && (best == n || (rem &&
				    rem[i] > rem[best])))
					best = i;
			if (best == n)
				break;
			out[best]++;
			if (rem)
				rem[best] = -1;	/* one watt each at most */
			open[best] = rem ? open[best] : 0;
		}
	}
	free(rem);
}

static void
fill_by_rank(int64_t total, const struct dispatch_member *m, size_t n,
    int64_t *out)
{
	unsigned char *done = calloc(n ? n : 1, 1);

	while (total > 0) {
		size_t best = n;

		for (size_t i = 0; i < n; i++)
			if (m[i].eligible && m[i].capacity_w > 0 &&
			    !(done && done[i]) && (best == n ||
			    m[i].weight < m[best].weight))
				best = i;
		if (best == n)
			break;
		out[best] = total < m[best].capacity_w ? total :
		    m[best].capacity_w;
		total -= out[best];
		if (!done)
			break;		/* out of memory: the first one only */
		done[best] = 1;
	}
	free(done);
}

int64_t
dispatch_allocate(int rule, int64_t target_w, const struct dispatch_member *m,
    size_t n, int64_t *out)
{
	int64_t cap = 0, total, sum = 0;
	unsigned char *open;

	if (target_w < 0 || (rule != DISPATCH_PROPORTIONAL &&
	    rule != DISPATCH_PRIORITY && rule != DISPATCH_STATIC))
		return -1;
	for (size_t i = 0; i < n; i++) {
		out[i] = 0;
		if (m[i].eligible && m[i].capacity_w > 0)
			cap += m[i].capacity_w;
	}
	total = target_w < cap ? target_w : cap;
	if (rule == DISPATCH_PRIORITY) {
		fill_by_rank(total, m, n, out);
	} else {
		if ((open = calloc(n ? n : 1, 1)) == NULL)
			return -1;
		for (size_t i = 0; i < n; i++)
			open[i] = m[i].eligible && m[i].capacity_w > 0 &&
			    m[i].weight > 0;
		share(total, m, n, open, out);
		free(open);
	}
	for (size_t i = 0; i < n; i++)
		sum += out[i];
	return sum;
}

/* ---- checking an upstream event --------------------------------------- */

static int
signal_allowed(const struct dispatch_limits *lim, const struct oadr_signal *s)
{
	char pair[160];

	snprintf(pair, sizeof(pair), "%s/%s", s->name,
	    oadr_signal_type_name(s->type));
	for (size_t i = 0; lim->signals && lim->signals[i]; i++)
		if (!strcmp(lim->signals[i], pair))
			return 1;
	return 0;
}

/* Watts per unit of the signal's values. */
static int
watts_per_unit(const struct oadr_signal *s, double *k, char *why,
    size_t whylen)
{
	const char *scale;

	if (!s->has_item) {
		*k = 1000;		/* no units: kW, as the profile uses */
		return 0;
	}
	if (s->item.kind != OADR_ITEM_POWER_REAL || !s->item.units ||
	    strcmp(s->item.units, "W") != 0)
		return units_errf(why, whylen, "signal %s: units must be "
		    "powerReal in W (with an SI scale), not %s", s->id,
		    s->item.units ? s->item.units : "(none)");
	scale = s->item.si_scale ? s->item.si_scale : "none";
	if (!strcmp(scale, "none"))
		*k = 1;
	else if (!strcmp(scale, "k"))
		*k = 1e3;
	else if (!strcmp(scale, "M"))
		*k = 1e6;
	else if (!strcmp(scale, "G"))
		*k = 1e9;
	else
		return units_errf(why, whylen, "signal %s: SI scale \"%s\" "
		    "is not one of none, k, M, G", s->id, scale);
	return 0;
}

void
dispatch_target_free(struct dispatch_target *t)
{
	free(t->duration_us);
	free(t->watts);
	free(t->signal_name);
	memset(t, 0, sizeof(*t));
}

/* check_past: a start in the past counts (a new event, or a new start). */
static int
check_event(const struct dispatch_limits *lim, const struct oadr_event *ev,
    int64_t now, int check_past, struct dispatch_target *t, char *why,
    size_t whylen)
{
	const struct oadr_signal *s = NULL;
	int64_t sum = 0, end;
	double k = 1000;
	char a[64], b[64];

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < ev->n_signals && !s; i++)
		if (signal_allowed(lim, &ev->signals[i]))
			s = &ev->signals[i];
	if (!s)
		return units_errf(why, whylen, "no signal is one the "
		    "configuration names (dispatch.signals)%s%s%s%s",
		    ev->n_signals ? ": got " : ": none",
		    ev->n_signals ? ev->signals[0].name : "",
		    ev->n_signals ? "/" : "",
		    ev->n_signals ? oadr_signal_type_name(
		    ev->signals[0].type) : "");
	if (watts_per_unit(s, &k, why, whylen) != 0)
		return -1;
	if (ev->active.duration < lim->min_duration_us ||
	    ev->active.duration > lim->max_duration_us) {
		units_format_iso_duration(ev->active.duration, a, sizeof(a));
		return units_errf(why, whylen, "duration %s is outside the "
		    "configured bounds (dispatch.min_duration, "
		    "dispatch.max_duration)", a);
	}
	end = ev->active.dtstart + ev->active.duration;
	if (ev->active.dtstart + lim->past_tolerance_us < now && end <= now &&
	    check_past) {
		units_format_datetime(end, a, sizeof(a));
		return units_errf(why, whylen, "the event ended at %s, in the "
		    "past", a);
	}
	if (ev->active.dtstart + lim->past_tolerance_us < now && check_past) {
		units_format_datetime(ev->active.dtstart, a, sizeof(a));
		units_format_iso_duration(lim->past_tolerance_us, b, sizeof(b));
		return units_errf(why, whylen, "start %s is further in the past "
		    "than dispatch.past_tolerance (%s)", a, b);
	}
	if (s->intervals.n == 0)
		return units_errf(why, whylen, "signal %s has no intervals",
		    s->id);
	t->n = s->intervals.n;
	t->duration_us = calloc(t->n, sizeof(*t->duration_us));
	t->watts = calloc(t->n, sizeof(*t->watts));
	if (!t->duration_us || !t->watts) {
		dispatch_target_free(t);
		return units_errf(why, whylen, "out of memory");
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct oadr_interval *iv = &s->intervals.v[i];
		double w;

		if (!iv->has_duration || iv->duration <= 0) {
			dispatch_target_free(t);
			return units_errf(why, whylen, "interval %zu has no "
			    "positive duration", i + 1);
		}
		if (iv->n_payloads == 0 ||
		    iv->payloads[0].value.kind != OADR_PAYLOAD_FLOAT) {
			dispatch_target_free(t);
			return units_errf(why, whylen, "interval %zu has no "
			    "value", i + 1);
		}
		w = iv->payloads[0].value.value * k;
		if (!(w >= 0) || w > 9e15) {
			dispatch_target_free(t);
			return units_errf(why, whylen, "interval %zu: %g is not a "
			    "target in watts", i + 1, w);
		}
		t->duration_us[i] = iv->duration;
		t->watts[i] = llround(w);
		sum += iv->duration;
		if (t->watts[i] > lim->capacity_w) {
			char msg[DISPATCH_ERR_MAX];

			snprintf(msg, sizeof(msg), "interval %zu: %lld W is more "
			    "than the portfolio's capacity %lld W", i + 1,
			    (long long)t->watts[i], (long long)lim->capacity_w);
			dispatch_target_free(t);
			return units_errf(why, whylen, "%s", msg);
		}
	}
	if (sum != ev->active.duration) {
		units_format_iso_duration(sum, a, sizeof(a));
		units_format_iso_duration(ev->active.duration, b, sizeof(b));
		dispatch_target_free(t);
		return units_errf(why, whylen, "the intervals last %s, the "
		    "active period %s", a, b);
	}
	t->dtstart = ev->active.dtstart;
	if (!(t->signal_name = strdup(s->name))) {
		dispatch_target_free(t);
		return units_errf(why, whylen, "out of memory");
	}
	t->signal_type = s->type;
	return 0;
}

int
dispatch_check_event(const struct dispatch_limits *lim,
    const struct oadr_event *ev, int64_t now, struct dispatch_target *t,
    char *why, size_t whylen)
{
	return check_event(lim, ev, now, 1, t, why, whylen);
}

/* ---- the engine -------------------------------------------------------- */

int
dispatch_init(struct dispatch *d, const struct dispatch_config *cfg,
    const struct dispatch_ra *ras, size_t nras)
{
	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	if (nras && !(d->ras = calloc(nras, sizeof(*d->ras))))
		return -1;
	if (nras)
		memcpy(d->ras, ras, nras * sizeof(*ras));
	d->nras = nras;
	return 0;
}

static void
event_clear(struct dispatch_event *e, size_t nras)
{
	struct oadr_msg m;

	free(e->id);
	dispatch_target_free(&e->target);
	for (size_t i = 0; e->shares && i < nras; i++)
		free(e->shares[i].watts);
	free(e->shares);
	/* The upstream copy is freed through a message that holds it. */
	memset(&m, 0, sizeof(m));
	m.type = OADR_DISTRIBUTE_EVENT;
	m.u.distribute_event.events = malloc(sizeof(e->up));
	if (m.u.distribute_event.events) {
		m.u.distribute_event.events[0] = e->up;
		m.u.distribute_event.n_events = 1;
		oadr_msg_free(&m);
	}
	memset(e, 0, sizeof(*e));
}

void
dispatch_free(struct dispatch *d)
{
	for (size_t i = 0; i < d->nevents; i++)
		event_clear(&d->events[i], d->nras);
	free(d->events);
	free(d->ras);
	memset(d, 0, sizeof(*d));
}

/* A deep copy of one upstream event. */
static int
copy_event(struct oadr_event *dst, const struct oadr_event *src)
{
	struct oadr_msg a, b;

	memset(&a, 0, sizeof(a));
	a.type = OADR_DISTRIBUTE_EVENT;
	a.u.distribute_event.events = (struct oadr_event *)src;
	a.u.distribute_event.n_events = 1;
	if (oadr_msg_copy(&b, &a) != 0)
		return -1;
	*dst = b.u.distribute_event.events[0];
	free(b.u.distribute_event.events);
	b.u.distribute_event.events = NULL;
	b.u.distribute_event.n_events = 0;
	oadr_msg_free(&b);
	return 0;
}

static struct dispatch_event *
find_event(struct dispatch *d, const char *id)
{
	for (size_t i = 0; i < d->nevents; i++)
		if (!strcmp(d->events[i].id, id))
			return &d->events[i];
	return NULL;
}

/* What an RA may be given now: contracted, or what it said is available. */
static int64_t
capacity_of(const struct dispatch_ra *ra)
{
	if (ra->available_w >= 0 && ra->available_w < ra->contracted_w)
		return ra->available_w;
	return ra->contracted_w;
}

static int64_t
weight_of(const struct dispatch *d, const struct dispatch_ra *ra)
{
	switch (d->cfg.rule) {
	case DISPATCH_PRIORITY: return ra->rank;
	case DISPATCH_STATIC: return ra->share_ppm;
	default: return ra->contracted_w;
	}
}

/*
 * Split the event's target again among the RAs that may take part (active
 * and not opted out or late for it). An RA whose part changes gets a new
 * modification and must answer again; one that now has nothing, while it
 * had something, has its event cancelled.
 */
static void
resplit(struct dispatch *d, struct dispatch_event *e, int force)
{
	struct dispatch_member *m = calloc(d->nras ? d->nras : 1, sizeof(*m));
	int64_t *out = calloc(d->nras ? d->nras : 1, sizeof(*out));
	int64_t **nw = calloc(d->nras ? d->nras : 1, sizeof(*nw));

	if (!m || !out || !nw)
		goto done;
	for (size_t r = 0; r < d->nras; r++) {
		const struct dispatch_share *s = &e->shares[r];

		m[r].capacity_w = capacity_of(&d->ras[r]);
		m[r].weight = weight_of(d, &d->ras[r]);
		m[r].eligible = d->ras[r].active && !e->cancelled &&
		    !e->refused && s->state != SHARE_OPT_OUT &&
		    s->state != SHARE_LATE;
		if (!(nw[r] = calloc(e->target.n ? e->target.n : 1,
		    sizeof(int64_t))))
			goto done;
	}
	for (size_t i = 0; i < e->target.n; i++) {
		dispatch_allocate(d->cfg.rule, e->target.watts[i], m, d->nras,
		    out);
		for (size_t r = 0; r < d->nras; r++)
			nw[r][i] = out[r];
	}
	for (size_t r = 0; r < d->nras; r++) {
		struct dispatch_share *s = &e->shares[r];
		int any = 0, same = s->watts != NULL && s->n == e->target.n &&
		    !force;

		for (size_t i = 0; i < e->target.n; i++) {
			any |= nw[r][i] != 0;
			if (same && s->watts[i] != nw[r][i])
				same = 0;
		}
		if (!m[r].eligible) {
			/*
			 * Opted out: its event stays as it answered it. Late,
			 * or no longer active: its event is cancelled, so that
			 * it does not act on it after all.
			 */
			if (s->state == SHARE_OPT_OUT)
				continue;
			if (s->exists && !s->cancelled) {
				s->cancelled = 1;
				s->mod++;
				s->sent_at = 0;
				s->deadline = 0;
				d->changes++;
			}
			if (s->state != SHARE_LATE)
				s->state = SHARE_NONE;
			continue;
		}
		if (!any && !s->exists) {
			s->state = SHARE_NONE;
			continue;
		}
		if (same && s->exists && !s->cancelled)
			continue;
		if (!any) {
			/* Had a part, has none now: cancel its event. */
			if (!s->cancelled) {
				s->cancelled = 1;
				s->mod += s->exists;
				s->sent_at = 0;
				s->deadline = 0;
				s->state = SHARE_NONE;
				d->changes++;
			}
			continue;
		}
		free(s->watts);
		s->watts = nw[r];
		s->n = e->target.n;
		nw[r] = NULL;
		s->mod += s->exists;
		s->exists = 1;
		s->cancelled = 0;
		s->state = SHARE_PENDING;
		s->sent_at = 0;
		s->deadline = 0;
		s->answered_at = 0;
		d->changes++;
	}
done:
	for (size_t r = 0; nw && r < d->nras; r++)
		free(nw[r]);
	free(nw);
	free(out);
	free(m);
}

/* Cancel the event for every RA that was told of it. */
static void
cancel_all(struct dispatch *d, struct dispatch_event *e)
{
	e->cancelled = 1;
	for (size_t r = 0; r < d->nras; r++) {
		struct dispatch_share *s = &e->shares[r];

		if (!s->exists || s->cancelled)
			continue;
		s->cancelled = 1;
		s->mod++;
		s->sent_at = 0;
		s->deadline = 0;
		if (s->state != SHARE_OPT_OUT)
			s->state = SHARE_PENDING;
	}
	d->changes++;
}

static void
free_event(struct oadr_event *ev)
{
	struct dispatch_event tmp;

	memset(&tmp, 0, sizeof(tmp));
	tmp.up = *ev;
	event_clear(&tmp, 0);
	memset(ev, 0, sizeof(*ev));
}

/* Can the codec write ev back (as dispatch_save and the RAs need)? */
static int
buildable(const struct oadr_event *ev, char *why, size_t len)
{
	struct oadr_msg m;
	size_t n;
	char *doc;

	memset(&m, 0, sizeof(m));
	m.type = OADR_DISTRIBUTE_EVENT;
	m.u.distribute_event.request_id = (char *)"check";
	m.u.distribute_event.vtn_id = (char *)"check";
	m.u.distribute_event.events = (struct oadr_event *)ev;
	m.u.distribute_event.n_events = 1;
	if ((doc = oadr_build(&m, NULL, &n, why, len)) == NULL)
		return 0;
	free(doc);
	return 1;
}

/* The plainest event with ev's identity and times, in whole seconds. */
static int
stand_in(const struct oadr_event *ev, struct oadr_event *out)
{
	struct oadr_signal *s;
	struct oadr_interval *iv;
	struct oadr_stream_payload *p;

	memset(out, 0, sizeof(*out));
	out->descriptor.event_id = oadr_strdup(ev->descriptor.event_id);
	out->descriptor.modification_number =
	    ev->descriptor.modification_number;
	out->descriptor.created = ev->descriptor.created / 1000000 * 1000000;
	out->descriptor.status = ev->descriptor.status;
	out->descriptor.market_context = oadr_strdup("x-unrelayable");
	out->descriptor.test_event = oadr_strdup("false");
	out->active.dtstart = ev->active.dtstart / 1000000 * 1000000;
	out->active.duration = ev->active.duration / 1000000 * 1000000;
	out->response_required = ev->response_required;
	if (!out->descriptor.event_id || !out->descriptor.market_context ||
	    !out->descriptor.test_event ||
	    !(s = oadr_append((void **)&out->signals, &out->n_signals,
	    sizeof(*s))) || !(s->name = oadr_strdup("x-unrelayable")) ||
	    !(s->id = oadr_strdup("0")) ||
	    !(iv = oadr_append((void **)&s->intervals.v, &s->intervals.n,
	    sizeof(*iv))) || !(iv->uid = oadr_strdup("0")) ||
	    !(p = oadr_append((void **)&iv->payloads, &iv->n_payloads,
	    sizeof(*p)))) {
		free_event(out);
		return -1;
	}
	s->type = OADR_SIGNAL_LEVEL;
	iv->has_duration = 1;
	iv->duration = out->active.duration;
	p->kind = OADR_STREAM_SIGNAL;
	p->value.kind = OADR_PAYLOAD_FLOAT;
	return 0;
}

static void
take_event(struct dispatch *d, struct dispatch_event *e,
    const struct oadr_event *ev, int64_t now)
{
	struct oadr_event copy;
	int is_new = e->received_at == 0;
	int64_t old_start = e->up.active.dtstart;

	if (copy_event(&copy, ev) != 0)
		return;
	if (!buildable(&copy, e->why, sizeof(e->why))) {
		/*
		 * Valid enough to parse, not to write back (a fractional
		 * second, an absurd decimal): kept as a plain stand-in that
		 * can be saved and answered, and refused.
		 */
		char why[DISPATCH_ERR_MAX];

		snprintf(why, sizeof(why), "cannot be relayed as received: %.400s",
		    e->why);
		free_event(&copy);
		if (stand_in(ev, &copy) != 0)
			return;
		{
			struct dispatch_event tmp;

			memset(&tmp, 0, sizeof(tmp));
			tmp.up = e->up;
			event_clear(&tmp, 0);
		}
		e->up = copy;
		e->mod = ev->descriptor.modification_number;
		e->received_at = now;
		cancel_all(d, e);
		e->cancelled = 0;
		e->refused = 1;
		snprintf(e->why, sizeof(e->why), "%s", why);
		d->changes++;
		return;
	}
	{
		/* Replace the stored upstream event. */
		struct dispatch_event tmp;

		memset(&tmp, 0, sizeof(tmp));
		tmp.up = e->up;
		event_clear(&tmp, 0);
	}
	e->up = copy;
	e->mod = ev->descriptor.modification_number;
	e->received_at = now;
	if (ev->descriptor.status == OADR_STATUS_CANCELLED) {
		cancel_all(d, e);
		return;
	}
	{
		struct dispatch_target nt;

		/*
		 * A start in the past is refused for a new event or a new
		 * start; an event already running may be modified.
		 */
		e->refused = check_event(&d->cfg.lim, &e->up, now, is_new ||
		    e->up.active.dtstart != old_start, &nt, e->why,
		    sizeof(e->why)) != 0;
		if (e->refused) {
			/*
			 * Nothing relayed; what was relayed before is
			 * cancelled (with the target it had).
			 */
			cancel_all(d, e);
			e->cancelled = 0;
			return;
		}
		dispatch_target_free(&e->target);
		e->target = nt;
	}
	e->why[0] = '\0';
	/* Listed again after a cancellation: it is live again. */
	e->cancelled = 0;
	/*
	 * A modification asks every RA again (times or values may have
	 * moved): every RA told of the event gets a new modification.
	 */
	for (size_t r = 0; r < d->nras; r++)
		if (e->shares[r].state == SHARE_OPT_OUT ||
		    e->shares[r].state == SHARE_LATE)
			e->shares[r].state = SHARE_PENDING;
	resplit(d, e, 1);
	d->changes++;
}

size_t
dispatch_distribution(struct dispatch *d,
    const struct oadr_distribute_event *de, int64_t now)
{
	size_t changed = 0;

	for (size_t k = 0; k < de->n_events; k++) {
		const struct oadr_event *ev = &de->events[k];
		struct dispatch_event *e = find_event(d, ev->descriptor.event_id);

		if (e && ev->descriptor.modification_number < e->mod)
			continue;	/* older than what we have */
		if (e && ev->descriptor.modification_number == e->mod) {
			/*
			 * A repeat: nothing moves for the RAs, and the VTN
			 * is answered again as before (it may have lost our
			 * answer, e.g. after its restart or our
			 * re-registration).
			 */
			if (e->answered) {
				e->answered = 0;
				d->changes++;
			}
			continue;
		}
		if (!e) {
			struct dispatch_event *nv = realloc(d->events,
			    (d->nevents + 1) * sizeof(*nv));

			if (!nv)
				continue;
			d->events = nv;
			e = &d->events[d->nevents];
			memset(e, 0, sizeof(*e));
			if (!(e->id = strdup(ev->descriptor.event_id)) ||
			    !(e->shares = calloc(d->nras ? d->nras : 1,
			    sizeof(*e->shares)))) {
				free(e->id);
				free(e->shares);
				continue;
			}
			d->nevents++;
		}
		take_event(d, e, ev, now);
		changed++;
	}
	/* Known, not cancelled, not listed any more: implied cancellation. */
	for (size_t i = 0; i < d->nevents; i++) {
		struct dispatch_event *e = &d->events[i];
		int listed = 0;

		for (size_t k = 0; k < de->n_events && !listed; k++)
			listed = !strcmp(de->events[k].descriptor.event_id, e->id);
		if (!listed && !e->cancelled) {
			cancel_all(d, e);
			changed++;
		}
	}
	return changed;
}

void
dispatch_delivered(struct dispatch *d, size_t ra, int64_t now)
{
	for (size_t i = 0; i < d->nevents; i++) {
		struct dispatch_share *s = &d->events[i].shares[ra];

		if (s->exists && s->sent_at == 0) {
			s->sent_at = now;
			s->deadline = now + d->cfg.ack_deadline_us;
			d->changes++;
		}
	}
}

size_t
dispatch_requeue_unanswered(struct dispatch *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nevents; i++)
		for (size_t r = 0; r < d->nras; r++) {
			struct dispatch_share *s = &d->events[i].shares[r];

			if (!s->exists || s->sent_at == 0 ||
			    s->answered_at >= s->sent_at ||
			    (s->state != SHARE_PENDING && !s->cancelled))
				continue;
			s->sent_at = 0;
			s->deadline = 0;
			d->changes++;
			n++;
		}
	return n;
}

static int
dispatch_ra_pending_event(const struct dispatch *d,
    const struct dispatch_event *e)
{
	for (size_t r = 0; r < d->nras; r++)
		if (e->shares[r].exists && e->shares[r].sent_at == 0)
			return 1;
	return 0;
}

int
dispatch_ra_pending(const struct dispatch *d, size_t ra)
{
	for (size_t i = 0; ra < d->nras && i < d->nevents; i++)
		if (d->events[i].shares[ra].exists &&
		    d->events[i].shares[ra].sent_at == 0)
			return 1;
	return 0;
}

size_t
dispatch_prune(struct dispatch *d, int64_t now, int64_t keep_us)
{
	size_t gone = 0, i = 0;

	while (i < d->nevents) {
		struct dispatch_event *e = &d->events[i];
		int64_t end = e->up.active.dtstart + e->up.active.duration;
		int over = (e->cancelled && e->received_at < now - keep_us) ||
		    (!e->refused && e->target.n > 0 && end < now - keep_us) ||
		    (e->refused && e->received_at < now - keep_us);
		int settled = e->answered || e->refused ||
		    e->up.response_required == OADR_RESPONSE_NEVER;

		if (over && settled && !dispatch_ra_pending_event(d, e)) {
			event_clear(e, d->nras);
			memmove(e, e + 1, (d->nevents - i - 1) * sizeof(*e));
			d->nevents--;
			d->changes++;
			gone++;
			continue;
		}
		i++;
	}
	return gone;
}

int
dispatch_answer(struct dispatch *d, size_t ra, const char *event_id,
    uint32_t mod, int opt, int64_t now)
{
	struct dispatch_event *e = find_event(d, event_id);
	struct dispatch_share *s;

	if (!e || ra >= d->nras)
		return -1;
	s = &e->shares[ra];
	if (!s->exists || mod != s->mod)
		return -1;
	if (s->cancelled) {
		/* The acknowledgement of a cancellation. */
		s->answered_at = now;
		if (s->state == SHARE_PENDING)
			s->state = SHARE_NONE;
		d->changes++;
		return 0;
	}
	s->state = opt == OADR_OPT_OUT ? SHARE_OPT_OUT : SHARE_OPT_IN;
	s->answered_at = now;
	d->changes++;
	if (s->state == SHARE_OPT_OUT)
		resplit(d, e, 0);
	return 0;
}

size_t
dispatch_tick(struct dispatch *d, int64_t now)
{
	size_t changed = 0;

	for (size_t i = 0; i < d->nevents; i++) {
		struct dispatch_event *e = &d->events[i];
		int moved = 0;

		for (size_t r = 0; r < d->nras; r++) {
			struct dispatch_share *s = &e->shares[r];

			if (!s->exists || s->cancelled ||
			    s->state != SHARE_PENDING)
				continue;
			/*
			 * A part the RA has not even fetched is late too: its
			 * deadline runs from the first tick that sees it
			 * queued (an RA that stopped polling must not hold
			 * the upstream answer back).
			 */
			if (s->sent_at == 0 && s->deadline == 0) {
				s->deadline = now + d->cfg.ack_deadline_us;
				d->changes++;
				continue;
			}
			if (now >= s->deadline) {
				s->state = SHARE_LATE;
				moved = 1;
			}
		}
		if (moved) {
			resplit(d, e, 0);
			d->changes++;
			changed++;
		}
	}
	return changed;
}

size_t
dispatch_ras_changed(struct dispatch *d, const struct dispatch_ra *ras,
    size_t nras)
{
	size_t changed = 0;

	if (nras != d->nras)
		return 0;		/* the caller rebuilds on a new RA set */
	memcpy(d->ras, ras, nras * sizeof(*ras));
	for (size_t i = 0; i < d->nevents; i++)
		if (!d->events[i].cancelled && !d->events[i].refused) {
			uint64_t before = d->changes;

			resplit(d, &d->events[i], 0);
			changed += d->changes != before;
		}
	return changed;
}

double
dispatch_coverage(const struct dispatch *d, const struct dispatch_event *e)
{
	double worst = 1;

	if (e->cancelled)
		return 1;
	if (e->refused)
		return 0;
	for (size_t i = 0; i < e->target.n; i++) {
		int64_t ok = 0;

		if (e->target.watts[i] == 0)
			continue;
		for (size_t r = 0; r < d->nras; r++)
			if (e->shares[r].state == SHARE_OPT_IN &&
			    !e->shares[r].cancelled && e->shares[r].watts &&
			    i < e->shares[r].n)
				ok += e->shares[r].watts[i];
		if ((double)ok / (double)e->target.watts[i] < worst)
			worst = (double)ok / (double)e->target.watts[i];
	}
	return worst;
}

int
dispatch_upstream_due(const struct dispatch *d, size_t i, int *opt)
{
	const struct dispatch_event *e = &d->events[i];
	int settled = 1;

	if (e->refused) {
		*opt = OADR_OPT_OUT;
	} else if (e->cancelled) {
		*opt = OADR_OPT_IN;
	} else {
		for (size_t r = 0; r < d->nras; r++)
			if (e->shares[r].exists && !e->shares[r].cancelled &&
			    e->shares[r].state == SHARE_PENDING)
				settled = 0;
		if (!settled)
			return 0;
		*opt = dispatch_coverage(d, e) + 1e-12 >=
		    d->cfg.coverage_threshold ? OADR_OPT_IN : OADR_OPT_OUT;
	}
	/* Answer again when the verdict changes (an RA dropped out later). */
	return !e->answered || e->answered_mod != e->mod ||
	    e->answered_opt != *opt;
}

void
dispatch_answered(struct dispatch *d, size_t i, int opt)
{
	d->events[i].answered = 1;
	d->events[i].answered_mod = d->events[i].mod;
	d->events[i].answered_opt = opt;
	d->changes++;
}

static int
status_at(const struct dispatch_event *e, const struct dispatch_share *s,
    int64_t now)
{
	int64_t start = e->up.active.dtstart;
	int64_t end = start + e->up.active.duration;

	if (s->cancelled || e->cancelled)
		return OADR_STATUS_CANCELLED;
	if (now < start)
		return start - now <= 300LL * 1000000 ? OADR_STATUS_NEAR :
		    OADR_STATUS_FAR;
	return now < end ? OADR_STATUS_ACTIVE : OADR_STATUS_COMPLETED;
}

static int
dupe(char **dst, const char *src)
{
	*dst = NULL;
	return src && !(*dst = strdup(src)) ? -1 : 0;
}

/*
 * The RA's event, built afresh: the upstream event's identity, times and
 * signal, with the RA's own modification number, status and values (kW,
 * powerReal). Other signals of the upstream event are not relayed.
 */
static int
ra_event(const struct dispatch_event *e, const struct dispatch_share *s,
    int64_t now, struct oadr_event *out)
{
	const struct oadr_event_descriptor *ud = &e->up.descriptor;
	struct oadr_event_descriptor *od = &out->descriptor;
	struct oadr_signal *sig;
	int64_t t = e->up.active.dtstart;

	if (dupe(&od->event_id, ud->event_id) ||
	    dupe(&od->market_context, ud->market_context) ||
	    dupe(&od->test_event, ud->test_event) ||
	    dupe(&od->vtn_comment, ud->vtn_comment))
		return -1;
	od->modification_number = s->mod;
	od->created = ud->created;
	od->has_priority = ud->has_priority;
	od->priority = ud->priority;
	od->status = status_at(e, s, now);
	out->active = e->up.active;
	out->response_required = OADR_RESPONSE_ALWAYS;
	if (!(sig = oadr_append((void **)&out->signals, &out->n_signals,
	    sizeof(*sig))))
		return -1;
	if (dupe(&sig->name, e->target.signal_name ? e->target.signal_name :
	    "LOAD_DISPATCH") || dupe(&sig->id, "SIG-1") ||
	    dupe(&sig->item.description, "RealPower") ||
	    dupe(&sig->item.units, "W") || dupe(&sig->item.si_scale, "k"))
		return -1;
	sig->type = e->target.signal_name ? e->target.signal_type :
	    OADR_SIGNAL_SETPOINT;
	sig->has_item = 1;
	sig->item.kind = OADR_ITEM_POWER_REAL;
	sig->item.hertz = 50;
	sig->item.voltage = 6600;
	sig->item.ac = 1;
	sig->has_current_value = 1;
	for (size_t i = 0; i < e->target.n; i++) {
		struct oadr_interval *iv = oadr_append((void **)
		    &sig->intervals.v, &sig->intervals.n, sizeof(*iv));
		struct oadr_stream_payload *p;
		char uid[24];
		double kw = s->watts && i < s->n ?
		    (double)s->watts[i] / 1000 : 0;

		if (!iv)
			return -1;
		iv->has_duration = 1;
		iv->duration = e->target.duration_us[i];
		snprintf(uid, sizeof(uid), "%zu", i);
		if (dupe(&iv->uid, uid) || !(p = oadr_append((void **)
		    &iv->payloads, &iv->n_payloads, sizeof(*p))))
			return -1;
		p->kind = OADR_STREAM_SIGNAL;
		p->value.kind = OADR_PAYLOAD_FLOAT;
		p->value.value = kw;
		if (od->status == OADR_STATUS_ACTIVE && now >= t &&
		    now < t + e->target.duration_us[i])
			sig->current_value = kw;
		t += e->target.duration_us[i];
	}
	return 0;
}

int
dispatch_ra_events(const struct dispatch *d, size_t ra, int64_t now,
    struct oadr_distribute_event *out)
{
	for (size_t i = 0; i < d->nevents; i++) {
		const struct dispatch_event *e = &d->events[i];
		const struct dispatch_share *s = &e->shares[ra];
		struct oadr_event *ev;

		if (!s->exists)
			continue;
		ev = oadr_append((void **)&out->events, &out->n_events,
		    sizeof(*ev));
		if (!ev || ra_event(e, s, now, ev) != 0)
			return -1;
	}
	return 0;
}

/* ---- persistence ---------------------------------------------------------- */

static void
save_ints(struct json_buf *j, const char *key, const int64_t *v, size_t n)
{
	json_key(j, key);
	json_array_begin(j);
	for (size_t i = 0; i < n; i++)
		json_int(j, v ? v[i] : 0);
	json_array_end(j);
}

int
dispatch_save(const struct dispatch *d, struct json_buf *j, char *err,
    size_t errlen)
{
	json_object_begin(j);
	json_kv_int(j, "version", 1);
	json_key(j, "events");
	json_array_begin(j);
	for (size_t i = 0; i < d->nevents; i++) {
		const struct dispatch_event *e = &d->events[i];
		struct oadr_msg m;
		char why[OADR_ERR_MAX], *xml;
		size_t len;

		/* The upstream event as the codec writes it: exact. */
		memset(&m, 0, sizeof(m));
		m.type = OADR_DISTRIBUTE_EVENT;
		m.u.distribute_event.request_id = (char *)"saved";
		m.u.distribute_event.vtn_id = (char *)"saved";
		m.u.distribute_event.events = (struct oadr_event *)&e->up;
		m.u.distribute_event.n_events = 1;
		if (!(xml = oadr_build(&m, NULL, &len, why, sizeof(why))))
			return units_errf(err, errlen, "event %s: %s", e->id,
			    why);
		json_object_begin(j);
		json_kv_str(j, "id", e->id);
		json_kv_int(j, "mod", e->mod);
		json_kv_bool(j, "cancelled", e->cancelled);
		json_kv_bool(j, "refused", e->refused);
		json_kv_str(j, "why", e->why);
		json_kv_int(j, "received_at", e->received_at);
		json_kv_bool(j, "answered", e->answered);
		json_kv_int(j, "answered_mod", e->answered_mod);
		json_kv_int(j, "answered_opt", e->answered_opt);
		json_kv_str(j, "up", xml);
		free(xml);
		json_key(j, "target");
		json_object_begin(j);
		json_kv_int(j, "dtstart", e->target.dtstart);
		json_kv_str(j, "signal", e->target.signal_name ?
		    e->target.signal_name : "");
		json_kv_int(j, "type", e->target.signal_type);
		save_ints(j, "durations", e->target.duration_us, e->target.n);
		save_ints(j, "watts", e->target.watts, e->target.n);
		json_object_end(j);
		json_key(j, "shares");
		json_array_begin(j);
		for (size_t r = 0; r < d->nras; r++) {
			const struct dispatch_share *s = &e->shares[r];

			if (!s->exists && s->state == SHARE_PENDING &&
			    !s->watts)
				continue;
			json_object_begin(j);
			json_kv_str(j, "ra", d->ras[r].name);
			json_kv_int(j, "mod", s->mod);
			json_kv_int(j, "state", s->state);
			json_kv_bool(j, "cancelled", s->cancelled);
			json_kv_bool(j, "exists", s->exists);
			json_kv_int(j, "sent_at", s->sent_at);
			json_kv_int(j, "deadline", s->deadline);
			json_kv_int(j, "answered_at", s->answered_at);
			save_ints(j, "watts", s->watts, s->n);
			json_object_end(j);
		}
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
	if (j->failed)
		return units_errf(err, errlen, "out of memory");
	return 0;
}

/* Members of a saved object, each checked for its type. */
static int
get_int(const struct json_value *o, const char *key, int64_t *v)
{
	const struct json_value *x = json_get(o, key);

	if (!x || x->type != JSON_NUMBER || !x->is_int)
		return -1;
	*v = x->integer;
	return 0;
}

static int
get_bool(const struct json_value *o, const char *key, int *v)
{
	const struct json_value *x = json_get(o, key);

	if (!x || x->type != JSON_BOOL)
		return -1;
	*v = x->boolean != 0;
	return 0;
}

static const char *
get_str(const struct json_value *o, const char *key)
{
	const struct json_value *x = json_get(o, key);

	return x && x->type == JSON_STRING ? x->string : NULL;
}

static int
get_ints(const struct json_value *o, const char *key, int64_t **v,
    size_t *n)
{
	const struct json_value *x = json_get(o, key);

	*v = NULL;
	*n = 0;
	if (!x || x->type != JSON_ARRAY)
		return -1;
	if (x->n && !(*v = calloc(x->n, sizeof(**v))))
		return -1;
	for (size_t i = 0; i < x->n; i++) {
		if (x->items[i]->type != JSON_NUMBER || !x->items[i]->is_int) {
			free(*v);
			*v = NULL;
			return -1;
		}
		(*v)[i] = x->items[i]->integer;
	}
	*n = x->n;
	return 0;
}

static int
load_event(struct dispatch *d, const struct json_value *o,
    struct dispatch_event *e, char *why, size_t whylen)
{
	const struct json_value *t = json_get(o, "target"),
	    *sh = json_get(o, "shares");
	const char *id = get_str(o, "id"), *up = get_str(o, "up"),
	    *w = get_str(o, "why"), *sig;
	int64_t v, *dur = NULL;
	size_t nd = 0;
	struct oadr_msg m;
	char perr[OADR_ERR_MAX];

	if (!id || !up || !w || !t || t->type != JSON_OBJECT || !sh ||
	    sh->type != JSON_ARRAY)
		return units_errf(why, whylen, "an event lacks its id, up, why, "
		    "target or shares");
	if (oadr_parse(up, strlen(up), NULL, NULL, &m, perr,
	    sizeof(perr)) != 0 || m.type != OADR_DISTRIBUTE_EVENT ||
	    m.u.distribute_event.n_events != 1) {
		if (m.type)
			oadr_msg_free(&m);
		return units_errf(why, whylen, "event %s: its upstream copy "
		    "does not read back: %s", id, perr);
	}
	if (copy_event(&e->up, &m.u.distribute_event.events[0]) != 0) {
		oadr_msg_free(&m);
		return units_errf(why, whylen, "out of memory");
	}
	oadr_msg_free(&m);
	if (!(e->id = strdup(id)) || !(e->shares = calloc(d->nras ? d->nras :
	    1, sizeof(*e->shares))))
		return units_errf(why, whylen, "out of memory");
	snprintf(e->why, sizeof(e->why), "%s", w);
	if (get_int(o, "mod", &v) != 0 || v < 0 || v > UINT32_MAX)
		goto bad;
	e->mod = (uint32_t)v;
	if (get_bool(o, "cancelled", &e->cancelled) != 0 ||
	    get_bool(o, "refused", &e->refused) != 0 ||
	    get_int(o, "received_at", &e->received_at) != 0 ||
	    get_bool(o, "answered", &e->answered) != 0 ||
	    get_int(o, "answered_mod", &v) != 0)
		goto bad;
	e->answered_mod = (uint32_t)v;
	if (get_int(o, "answered_opt", &v) != 0)
		goto bad;
	e->answered_opt = (int)v;
	/* The target */
	if (get_int(t, "dtstart", &e->target.dtstart) != 0 ||
	    !(sig = get_str(t, "signal")) || get_int(t, "type", &v) != 0 ||
	    get_ints(t, "durations", &dur, &nd) != 0 ||
	    get_ints(t, "watts", &e->target.watts, &e->target.n) != 0 ||
	    nd != e->target.n) {
		free(dur);
		goto bad;
	}
	e->target.duration_us = dur;
	e->target.signal_type = (int)v;
	if (*sig && !(e->target.signal_name = strdup(sig)))
		return units_errf(why, whylen, "out of memory");
	/* Parts, by RA name: an RA no longer configured is dropped. */
	for (size_t k = 0; k < sh->n; k++) {
		const struct json_value *so = sh->items[k];
		const char *ra = so->type == JSON_OBJECT ? get_str(so, "ra") :
		    NULL;
		struct dispatch_share *s = NULL;
		int64_t mod, state;

		for (size_t r = 0; ra && r < d->nras && !s; r++)
			if (!strcmp(d->ras[r].name, ra))
				s = &e->shares[r];
		if (!ra)
			goto bad;
		if (!s)
			continue;
		if (get_int(so, "mod", &mod) != 0 || get_int(so, "state",
		    &state) != 0 || get_bool(so, "cancelled", &s->cancelled) ||
		    get_bool(so, "exists", &s->exists) || get_int(so,
		    "sent_at", &s->sent_at) || get_int(so, "deadline",
		    &s->deadline) || get_int(so, "answered_at",
		    &s->answered_at) || get_ints(so, "watts", &s->watts, &s->n) ||
		    state < SHARE_PENDING || state > SHARE_NONE)
			goto bad;
		s->mod = (uint32_t)mod;
		s->state = (int)state;
	}
	return 0;
bad:
	return units_errf(why, whylen, "event %s: a member is missing or of "
	    "the wrong type", id);
}

int
dispatch_load(struct dispatch *d, const char *text, size_t len, char *err,
    size_t errlen)
{
	struct json_value *v;
	const struct json_value *evs;
	struct dispatch_event *nv = NULL;
	size_t n = 0;
	int64_t version;
	char why[DISPATCH_ERR_MAX];

	if (!(v = json_parse(text, len, why, sizeof(why))))
		return units_errf(err, errlen, "not JSON: %s", why);
	if (get_int(v, "version", &version) != 0 || version != 1 ||
	    !(evs = json_get(v, "events")) || evs->type != JSON_ARRAY) {
		json_value_free(v);
		return units_errf(err, errlen, "not a dispatch state of "
		    "version 1");
	}
	if (evs->n && !(nv = calloc(evs->n, sizeof(*nv)))) {
		json_value_free(v);
		return units_errf(err, errlen, "out of memory");
	}
	for (size_t i = 0; i < evs->n; i++) {
		if (evs->items[i]->type != JSON_OBJECT)
			snprintf(why, sizeof(why), "not an object");
		if (evs->items[i]->type != JSON_OBJECT ||
		    load_event(d, evs->items[i], &nv[n], why,
		    sizeof(why)) != 0) {
			event_clear(&nv[n], d->nras);
			for (size_t k = 0; k < n; k++)
				event_clear(&nv[k], d->nras);
			free(nv);
			json_value_free(v);
			return units_errf(err, errlen, "event %zu: %s", i + 1,
			    why);
		}
		n++;
	}
	json_value_free(v);
	/* Whole or nothing: the old state goes only now. */
	for (size_t i = 0; i < d->nevents; i++)
		event_clear(&d->events[i], d->nras);
	free(d->events);
	d->events = nv;
	d->nevents = n;
	return 0;
}
