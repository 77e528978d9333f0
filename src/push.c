/*
 * push — acgwd POSTs to the RAs that registered for the push model
 * (include/acgw/push.h says what is pushed, when, and to whom).
 *
 * This is the thin layer between libevent and the relay: the relay says
 * what is owed (relay_ra_push_next) and takes the answer
 * (relay_ra_pushed); here are only the connections, one request in
 * flight per RA, and the backoff.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "acgw/http.h"
#include "acgw/log.h"
#include "acgw/push.h"
#include "acgw/units.h"

#define PUSH_BACKOFF_MIN_MS 1000

struct push_slot {
	struct push *p;
	char peer[65];
	char url[300];
	struct http_client *http;
	struct relay_undo *undo;	/* what the request in flight hands over */
	int busy;
	struct event *retry;
	int waiting;			/* for retry, after a failure */
	uint64_t backoff_ms;		/* the last wait; 0 after a success */
	uint64_t sent, failed;
	int64_t last_ok;
	char last_error[300];
};

struct push {
	struct event_base *base;
	struct relay *relay;
	const struct config *cfg;
	struct tls *tls;
	struct push_slot *slots;
	size_t nslots;
	struct event *ev;		/* a look on the next turn */
};

/*
 * The endpoint is verified as the peer's client certificates are: a CA
 * without a CRL needs none (the others' CRLs must be there), and the
 * key must be one of this peer's pins, under its CA.
 */
static int
push_verify(void *arg, int ok, X509_STORE_CTX *x, char *why, size_t whylen)
{
	struct push_slot *s = arg;
	struct tls_identity id;
	const struct config_peer *peer;
	const char *reason = NULL;

	if (!ok)
		return tls_crl_optional(s->p->tls, x);
	if (X509_STORE_CTX_get_error_depth(x) != 0)
		return 1;
	if (tls_identity_from_cert(X509_STORE_CTX_get_current_cert(x),
	    &id) != 0) {
		snprintf(why, whylen, "out of memory");
		return 0;
	}
	peer = tls_match_peer(s->p->tls, &id, X509_STORE_CTX_get0_chain(x),
	    &reason);
	if (peer == NULL) {
		snprintf(why, whylen, "%s", reason);
		return 0;
	}
	if (strcmp(peer->name, s->peer) != 0) {
		snprintf(why, whylen, "the key is %s's, not %s's", peer->name,
		    s->peer);
		return 0;
	}
	return 1;
}

static void push_scan(struct push *p);

static void
push_failed(struct push_slot *s, const char *why)
{
	uint64_t max = s->p->cfg->r3.push_backoff_max_ms;
	struct timeval tv;

	s->failed++;
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : PUSH_BACKOFF_MIN_MS;
	if (s->backoff_ms > max)
		s->backoff_ms = max;
	/* Once per outage in the log, every attempt in the counters. */
	if (strcmp(s->last_error, why) != 0)
		log_warnx("push: %s at %s: %s; trying again in %llu ms and "
		    "backing off up to %llu ms", s->peer, s->url, why,
		    (unsigned long long)s->backoff_ms,
		    (unsigned long long)max);
	snprintf(s->last_error, sizeof(s->last_error), "%s", why);
	s->waiting = 1;
	tv.tv_sec = (time_t)(s->backoff_ms / 1000);
	tv.tv_usec = (suseconds_t)(s->backoff_ms % 1000) * 1000;
	evtimer_add(s->retry, &tv);
}

static void
push_reply(void *arg, int status, const char *body, size_t len,
    const char *err)
{
	struct push_slot *s = arg;
	struct push *p = s->p;
	struct relay_undo *u = s->undo;
	char why[HTTP_ERR_MAX + 40];

	s->busy = 0;
	s->undo = NULL;
	if (relay_ra_pushed(p->relay, s->peer, units_now_us(), status, body,
	    len, u) != 0) {
		relay_undo_free(u);
		if (status == 0)
			snprintf(why, sizeof(why), "%s", err);
		else
			snprintf(why, sizeof(why), "answered HTTP %d", status);
		push_failed(s, why);
		return;
	}
	relay_undo_free(u);
	if (s->last_error[0] != '\0')
		log_notice("push: %s at %s answers again", s->peer, s->url);
	s->last_error[0] = '\0';
	s->backoff_ms = 0;
	s->sent++;
	s->last_ok = units_now_us();
	/* What it answered may be durable state; more may be owed. */
	relay_flush(p->relay);
	push_kick(p);
}

/* Hands the slot's RA what it is owed, if anything, durably first. */
static void
push_one(struct push_slot *s)
{
	struct push *p = s->p;
	const char *service = NULL;
	char *doc = NULL, err[HTTP_ERR_MAX];
	size_t len = 0;
	int rc;

	if (s->busy || s->waiting)
		return;
	if (!relay_ra_pushable(p->relay, s->peer)) {
		/* Severed or gone: no connection stays open to it. */
		http_client_free(s->http);
		s->http = NULL;
		return;
	}
	rc = relay_ra_push_next(p->relay, s->peer, units_now_us(), &service,
	    &doc, &len, &s->undo, err, sizeof(err));
	if (rc <= 0) {
		if (rc < 0)
			push_failed(s, err);
		return;
	}
	if (relay_flush(p->relay) != 0) {
		snprintf(err, sizeof(err), "the state cannot be written (%s)",
		    relay_state_error(p->relay));
		goto fail;
	}
	if (s->http == NULL) {
		struct http_client_opts o = {
			.ctx = tls_push_ctx(p->tls),
			.url = s->url,
			.timeout_ms = (unsigned)p->cfg->r3.push_timeout_ms,
			.verify = push_verify,
			.verify_arg = s,
		};

		if ((s->http = http_client_new(p->base, &o, err,
		    sizeof(err))) == NULL)
			goto fail;
	}
	if (http_post(s->http, service, doc, len, push_reply, s, err,
	    sizeof(err)) != 0)
		goto fail;
	s->busy = 1;
	free(doc);
	return;
fail:
	free(doc);
	relay_undo_apply(p->relay, s->undo);
	relay_undo_free(s->undo);
	s->undo = NULL;
	push_failed(s, err);
}

static void
push_scan(struct push *p)
{
	for (size_t i = 0; i < p->nslots; i++)
		push_one(&p->slots[i]);
}

static void
push_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	push_scan(arg);
}

static void
push_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct push_slot *s = arg;

	(void)fd, (void)what;
	/* backoff_ms stays: a failure doubles it, a success clears it. */
	s->waiting = 0;
	push_one(s);
}

static void
push_slots_free(struct push *p)
{
	for (size_t i = 0; i < p->nslots; i++) {
		struct push_slot *s = &p->slots[i];

		/* No callback runs after this: the handover is taken back. */
		http_client_free(s->http);
		relay_undo_apply(p->relay, s->undo);
		relay_undo_free(s->undo);
		if (s->retry != NULL)
			event_free(s->retry);
	}
	free(p->slots);
	p->slots = NULL;
	p->nslots = 0;
}

static int
push_slots_new(struct push *p, char *err, size_t errlen)
{
	size_t n = 0;

	for (size_t i = 0; i < p->cfg->peers.n; i++)
		n += p->cfg->peers.v[i].push_url.text != NULL;
	if (n == 0)
		return 0;
	if ((p->slots = calloc(n, sizeof(*p->slots))) == NULL)
		goto oom;
	for (size_t i = 0; i < p->cfg->peers.n; i++) {
		const struct config_peer *c = &p->cfg->peers.v[i];
		struct push_slot *s = &p->slots[p->nslots];

		if (c->push_url.text == NULL)
			continue;
		s->p = p;
		snprintf(s->peer, sizeof(s->peer), "%s", c->name);
		snprintf(s->url, sizeof(s->url), "%s", c->push_url.text);
		p->nslots++;
		if ((s->retry = evtimer_new(p->base, push_retry_cb, s)) ==
		    NULL)
			goto oom;
	}
	return 0;
oom:
	push_slots_free(p);
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void
push_commit_cb(void *arg)
{
	push_kick(arg);
}

struct push *
push_new(struct event_base *base, struct relay *relay,
    const struct config *cfg, struct tls *tls, char *err, size_t errlen)
{
	struct push *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->ev = event_new(base, -1, 0, push_ev_cb, p)) ==
	    NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->base = base;
	p->relay = relay;
	p->cfg = cfg;
	p->tls = tls;
	if (push_slots_new(p, err, errlen) != 0) {
		event_free(p->ev);
		free(p);
		return NULL;
	}
	relay_set_commit_cb(relay, push_commit_cb, p);
	push_kick(p);
	return p;
}

void
push_commit(struct push *p, const struct config *cfg, struct tls *tls)
{
	char err[64];

	push_slots_free(p);
	p->cfg = cfg;
	p->tls = tls;
	if (push_slots_new(p, err, sizeof(err)) != 0)
		log_warnx("push: %s: nothing is pushed until the next reload",
		    err);
	push_kick(p);
}

void
push_free(struct push *p)
{
	if (p == NULL)
		return;
	relay_set_commit_cb(p->relay, NULL, NULL);
	push_slots_free(p);
	event_free(p->ev);
	free(p);
}

void
push_kick(struct push *p)
{
	if (p->nslots > 0)
		event_active(p->ev, EV_TIMEOUT, 0);
}

void
push_json(const struct push *p, struct json_buf *j)
{
	char t[40];

	json_array_begin(j);
	for (size_t i = 0; i < p->nslots; i++) {
		const struct push_slot *s = &p->slots[i];

		json_object_begin(j);
		json_kv_str(j, "ra", s->peer);
		json_kv_str(j, "url", s->url);
		json_kv_str(j, "state", s->busy ? "sending" : s->waiting ?
		    "backing off" : "idle");
		json_kv_uint(j, "pushed", s->sent);
		json_kv_uint(j, "failures", s->failed);
		json_kv_uint(j, "backoff_ms", s->backoff_ms);
		if (s->last_ok) {
			units_format_datetime(s->last_ok, t, sizeof(t));
			json_kv_str(j, "last_ok", t);
		}
		if (s->last_error[0])
			json_kv_str(j, "last_error", s->last_error);
		if (s->http != NULL && http_client_tls(s->http)[0])
			json_kv_str(j, "tls", http_client_tls(s->http));
		json_object_end(j);
	}
	json_array_end(j);
}
