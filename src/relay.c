/*
 * relay — state, persistence and the control view. The VEN side is in
 * relay_up.c, the VTN side in relay_down.c.
 *
 * Persistence is a snapshot: the whole state as one JSON document
 * (acgw-state(5)), replaced atomically by store_write (temp file, fsync,
 * rename, fsync of the directory) whenever something changed and before
 * anything that acknowledges the change leaves. A snapshot rather than a
 * journal because the state is small (events, a few hundred bytes per RA)
 * and one write per acknowledged change is what the relay does anyway;
 * the figures are in bench/README.md.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/rand.h>

#include "acgw/log.h"
#include "acgw/store.h"
#include "acgw/units.h"
#include "relay_impl.h"

#define RELAY_STATE_MAX (256ULL << 20)
#define RELAY_FORMAT "acgw-state 1"

/* ---- small helpers ---------------------------------------------------- */

int64_t
relay_grid(int64_t t, int64_t step)
{
	int64_t q;

	if (step <= 0)
		return t;
	q = t / step;
	if (t < 0 && q * step != t)
		q--;
	return q * step;
}

void
relay_request_id(struct relay *r, const char *prefix, char *buf, size_t len)
{
	unsigned char rnd[4];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	snprintf(buf, len, "%s-%llu-%02x%02x%02x%02x", prefix,
	    (unsigned long long)++r->seq, rnd[0], rnd[1], rnd[2], rnd[3]);
}

void
relay_response(struct oadr_response *resp, unsigned code, const char *desc,
    const char *request_id)
{
	resp->code = code;
	resp->description = desc ? oadr_strdup(desc) : NULL;
	resp->request_id = oadr_strdup(request_id ? request_id : "");
}

/* Built, and checked against the schema when one is configured. */
char *
relay_build(struct relay *r, struct oadr_msg *m, size_t *len, char *err,
    size_t errlen)
{
	char *doc = oadr_build(m, r->schema, len, err, errlen);
	int type = m->type;

	oadr_msg_free(m);
	if (doc == NULL)
		log_warnx("relay: cannot build %s: %s", oadr_msg_name(type),
		    err);
	return doc;
}

int
relay_parse(struct relay *r, const char *body, size_t len, struct oadr_msg *m,
    char *err, size_t errlen)
{
	struct oadr_limits lim;

	config_oadr_limits(r->cfg, &lim);
	return oadr_parse(body ? body : "", len, &lim, r->schema, m, err,
	    errlen);
}

/* One audit record, queued (group-committed in this turn of the loop). */
void
relay_audit(struct relay *r, const char *type, const char *peer,
    struct json_buf *details)
{
	if (r->audit == NULL)
		return;
	if (details->failed || audit_append(r->audit, type, "relay", peer,
	    details->s, NULL, NULL) != 0)
		log_warnx("relay: cannot record %s in the audit log", type);
}

static size_t
relay_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* The name index: every request looks its RA up, so not by a search. */
static int
relay_index(struct relay *r)
{
	size_t n = 16, *v;

	while (n <= 2 * r->nras)
		n *= 2;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return -1;
	for (size_t i = 0; i < r->nras; i++) {
		size_t h = relay_hash(r->ras[i].name) & (n - 1);

		while (v[h] != 0)
			h = (h + 1) & (n - 1);
		v[h] = i + 1;
	}
	free(r->byname);
	r->byname = v;
	r->nbyname = n;
	return 0;
}

struct relay_ra *
relay_ra_find(struct relay *r, const char *name, size_t *index)
{
	size_t h;

	if (r->byname == NULL) {
		/* No index (out of memory on a reload): a search. */
		for (size_t i = 0; i < r->nras; i++)
			if (strcmp(r->ras[i].name, name) == 0) {
				if (index)
					*index = i;
				return &r->ras[i];
			}
		return NULL;
	}
	for (h = relay_hash(name) & (r->nbyname - 1); r->byname[h] != 0;
	    h = (h + 1) & (r->nbyname - 1)) {
		size_t i = r->byname[h] - 1;

		if (strcmp(r->ras[i].name, name) == 0) {
			if (index)
				*index = i;
			return &r->ras[i];
		}
	}
	return NULL;
}

void
relay_ra_clear(struct relay_ra *ra)
{
	free(ra->poll_ok);
	free(ra->usage_specifier);
	free(ra->usage_rid);
	free(ra->samples);
	for (size_t i = 0; i < ra->nopts; i++)
		free(ra->opts[i].id);
	free(ra->opts);
	memset(ra, 0, sizeof(*ra));
}

/* Is the RA opted out (availability) at now? */
static int
relay_ra_opted_out(const struct relay_ra *ra, int64_t now)
{
	for (size_t i = 0; i < ra->nopts; i++)
		if (ra->opts[i].type == OADR_OPT_OUT &&
		    now >= ra->opts[i].from && now < ra->opts[i].until)
			return 1;
	return 0;
}

/*
 * The engine's view of the RAs from the configuration and what each RA
 * did: registered, not severed, not opted out now. A change re-splits.
 */
void
relay_sync_ras(struct relay *r, int64_t now)
{
	struct dispatch_ra *v;
	int changed = 0;

	if (r->nras == 0)
		return;
	if ((v = calloc(r->nras, sizeof(*v))) == NULL)
		return;
	for (size_t i = 0; i < r->nras; i++) {
		/* ras[i] was made from cfg->peers.v[i]. */
		const struct config_peer *p = i < r->cfg->peers.n ?
		    &r->cfg->peers.v[i] : NULL;
		struct relay_ra *ra = &r->ras[i];

		v[i] = r->d.ras[i];
		v[i].contracted_w = p ? (int64_t)p->contracted_w : 0;
		v[i].rank = p && p->rank ? (int64_t)p->rank : (int64_t)i + 1;
		v[i].share_ppm = p ? (int64_t)p->share * 10000 : 0;
		v[i].available_w = relay_ra_opted_out(ra, now) ? 0 : -1;
		v[i].active = ra->registered && !ra->severed;
		if (v[i].contracted_w != r->d.ras[i].contracted_w ||
		    v[i].rank != r->d.ras[i].rank ||
		    v[i].share_ppm != r->d.ras[i].share_ppm ||
		    v[i].available_w != r->d.ras[i].available_w ||
		    v[i].active != r->d.ras[i].active)
			changed = 1;
	}
	if (changed)
		dispatch_ras_changed(&r->d, v, r->nras);
	free(v);
}

/* ---- persistence -------------------------------------------------------- */

static void
relay_save_up(const struct relay *r, struct json_buf *j)
{
	json_key(j, "up");
	json_object_begin(j);
	json_kv_int(j, "state", r->up_state);
	if (r->ven_id)
		json_kv_str(j, "ven_id", r->ven_id);
	if (r->registration_id)
		json_kv_str(j, "registration_id", r->registration_id);
	if (r->vtn_id)
		json_kv_str(j, "vtn_id", r->vtn_id);
	json_kv_int(j, "poll_freq_us", r->poll_freq_us);
	json_kv_bool(j, "resync", r->resync);
	json_key(j, "report_requests");
	json_array_begin(j);
	for (size_t i = 0; i < r->ntreqs; i++) {
		const struct relay_treq *t = &r->treqs[i];

		json_object_begin(j);
		json_kv_str(j, "request_id", t->request_id);
		json_kv_str(j, "specifier_id", t->specifier_id);
		json_kv_bool(j, "status", t->status);
		json_kv_int(j, "granularity_us", t->granularity);
		json_kv_int(j, "back_us", t->back);
		json_kv_int(j, "next_from", t->next_from);
		json_kv_int(j, "until", t->until);
		json_object_end(j);
	}
	json_array_end(j);
	json_key(j, "owed");
	json_array_begin(j);
	for (size_t i = 0; i < r->nowed; i++) {
		json_object_begin(j);
		json_kv_str(j, "message", oadr_msg_name(r->owed[i].type));
		json_kv_str(j, "doc", r->owed[i].doc);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

static void
relay_save_ra(const struct relay_ra *ra, struct json_buf *j)
{
	json_object_begin(j);
	json_kv_str(j, "name", ra->name);
	json_kv_bool(j, "registered", ra->registered);
	json_kv_str(j, "registration_id", ra->registration_id);
	json_kv_int(j, "registered_at", ra->registered_at);
	json_kv_bool(j, "severed", ra->severed);
	json_kv_bool(j, "reregister", ra->rereg);
	json_kv_bool(j, "push", ra->push);
	if (ra->push)
		json_kv_str(j, "push_url", ra->push_url);
	if (ra->usage_specifier) {
		json_kv_str(j, "usage_specifier", ra->usage_specifier);
		json_kv_str(j, "usage_rid", ra->usage_rid ? ra->usage_rid : "");
		json_kv_int(j, "usage_w_per_unit",
		    (int64_t)ra->usage_w_per_unit);
	}
	json_kv_int(j, "report_state", ra->rreq_state);
	json_kv_str(j, "report_id", ra->rreq_id);
	json_kv_int(j, "report_granularity_us", ra->rreq_granularity);
	json_key(j, "samples");
	json_array_begin(j);
	for (size_t k = 0; k < ra->nsamples; k++) {
		json_array_begin(j);
		json_int(j, ra->samples[k].t);
		json_int(j, ra->samples[k].w);
		json_array_end(j);
	}
	json_array_end(j);
	json_key(j, "opts");
	json_array_begin(j);
	for (size_t k = 0; k < ra->nopts; k++) {
		json_object_begin(j);
		json_kv_str(j, "id", ra->opts[k].id);
		json_kv_int(j, "type", ra->opts[k].type);
		json_kv_int(j, "from", ra->opts[k].from);
		json_kv_int(j, "until", ra->opts[k].until);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

static int
relay_save(const struct relay *r, struct json_buf *j, char *err,
    size_t errlen)
{
	struct json_buf dj;
	int rc;

	json_init(&dj, 0);
	if ((rc = dispatch_save(&r->d, &dj, err, errlen)) == 0) {
		json_object_begin(j);
		json_kv_str(j, "format", RELAY_FORMAT);
		relay_save_up(r, j);
		json_key(j, "ras");
		json_array_begin(j);
		for (size_t i = 0; i < r->nras; i++)
			relay_save_ra(&r->ras[i], j);
		json_array_end(j);
		json_key(j, "dispatch");
		json_raw(j, dj.s, dj.len);
		json_object_end(j);
		if (j->failed)
			rc = units_errf(err, errlen, "out of memory");
	}
	json_free(&dj);
	return rc;
}

/*
 * Write the state if it changed. 0 when it is on disk; -1 when it could
 * not be written (the reason is kept for status, and callers must not
 * acknowledge what changed).
 */
int
relay_commit(struct relay *r)
{
	struct json_buf j;
	char err[RELAY_ERR_MAX];

	if (!r->dirty && r->d.changes == r->saved_changes)
		return 0;
	json_init(&j, 0);
	/*
	 * The directory is made on the first write (and again after a
	 * failed one), so that a daemon with nothing to relay never touches
	 * it; its parent (/var/lib/acgw, systemd's StateDirectory) must
	 * exist.
	 */
	if ((r->writes == 0 || r->state_error[0] != '\0') &&
	    mkdir(r->cfg->dispatch.state_dir, 0700) != 0 && errno != EEXIST)
		snprintf(err, sizeof(err), "%s: cannot create: %s",
		    r->cfg->dispatch.state_dir, strerror(errno));
	else
		err[0] = '\0';
	if (err[0] != '\0' || relay_save(r, &j, err, sizeof(err)) != 0 ||
	    store_write(r->cfg->dispatch.state_dir, RELAY_STATE_FILE, j.s,
	    j.len, err, sizeof(err)) != 0) {
		json_free(&j);
		if (r->state_error[0] == '\0')
			log_warnx("relay: cannot write the state: %s; nothing is "
			    "acknowledged until it can", err);
		snprintf(r->state_error, sizeof(r->state_error), "%s", err);
		r->write_failures++;
		return -1;
	}
	json_free(&j);
	if (r->state_error[0] != '\0')
		log_notice("relay: the state is written again");
	r->state_error[0] = '\0';
	r->dirty = 0;
	r->saved_changes = r->d.changes;
	r->writes++;
	if (r->commit_cb != NULL)
		r->commit_cb(r->commit_arg);
	return 0;
}

void
relay_set_commit_cb(struct relay *r, void (*cb)(void *), void *arg)
{
	r->commit_cb = cb;
	r->commit_arg = arg;
}

int
relay_ra_counters(const struct relay *r, const char *peer, uint64_t *invalid,
    uint64_t *mismatches)
{
	struct relay_ra *ra = relay_ra_find((struct relay *)r, peer, NULL);

	if (ra == NULL)
		return -1;
	*invalid = ra->invalid;
	*mismatches = ra->mismatches;
	return 0;
}

int
relay_flush(struct relay *r)
{
	return relay_commit(r);
}

const char *
relay_state_error(const struct relay *r)
{
	return r->state_error[0] ? r->state_error : NULL;
}

/* Members of a loaded object. */
static int
jint(const struct json_value *o, const char *key, int64_t *v)
{
	const struct json_value *x = json_get(o, key);

	if (x == NULL)
		return 0;
	if (x->type != JSON_NUMBER || !x->is_int)
		return -1;
	*v = x->integer;
	return 0;
}

static int
jbool(const struct json_value *o, const char *key, int *v)
{
	const struct json_value *x = json_get(o, key);

	if (x == NULL)
		return 0;
	if (x->type != JSON_BOOL)
		return -1;
	*v = x->boolean != 0;
	return 0;
}

static int
jstr(const struct json_value *o, const char *key, char **v)
{
	const struct json_value *x = json_get(o, key);

	*v = NULL;
	if (x == NULL)
		return 0;
	if (x->type != JSON_STRING)
		return -1;
	return (*v = strdup(x->string)) == NULL ? -1 : 0;
}

static int
relay_load_up(struct relay *r, const struct json_value *up, char *err,
    size_t errlen)
{
	const struct json_value *a;
	int64_t v = 0;

	if (up == NULL || up->type != JSON_OBJECT)
		return units_errf(err, errlen, "\"up\" is missing");
	if (jint(up, "state", &v) != 0 || v < UP_QUERY || v > UP_READY ||
	    jstr(up, "ven_id", &r->ven_id) != 0 ||
	    jstr(up, "registration_id", &r->registration_id) != 0 ||
	    jstr(up, "vtn_id", &r->vtn_id) != 0 ||
	    jint(up, "poll_freq_us", &r->poll_freq_us) != 0 ||
	    jbool(up, "resync", &r->resync) != 0)
		return units_errf(err, errlen, "\"up\": a member has the wrong "
		    "type");
	r->up_state = (int)v;
	if (r->up_state >= UP_REGISTER_REPORT && r->ven_id == NULL)
		return units_errf(err, errlen, "\"up\": registered without a "
		    "venID");
	if ((a = json_get(up, "report_requests")) != NULL &&
	    a->type == JSON_ARRAY)
		for (size_t i = 0; i < a->n; i++) {
			struct relay_treq *t = oadr_append((void **)&r->treqs,
			    &r->ntreqs, sizeof(*t));

			if (t == NULL || jstr(a->items[i], "request_id",
			    &t->request_id) != 0 || t->request_id == NULL ||
			    jstr(a->items[i], "specifier_id",
			    &t->specifier_id) != 0 ||
			    jbool(a->items[i], "status", &t->status) != 0 ||
			    jint(a->items[i], "granularity_us",
			    &t->granularity) != 0 || t->granularity <= 0 ||
			    jint(a->items[i], "back_us", &t->back) != 0 ||
			    t->back <= 0 ||
			    jint(a->items[i], "next_from", &t->next_from) != 0 ||
			    jint(a->items[i], "until", &t->until) != 0)
				return units_errf(err, errlen, "\"up\": report "
				    "request %zu is not valid", i);
		}
	if ((a = json_get(up, "owed")) != NULL && a->type == JSON_ARRAY)
		for (size_t i = 0; i < a->n; i++) {
			const struct json_value *o = a->items[i];
			const struct json_value *name = json_get(o, "message");
			struct relay_owed *w;
			int type = OADR_MSG_NONE;

			for (int t = 1; name && name->type == JSON_STRING &&
			    t < OADR_MSG_COUNT; t++)
				if (strcmp(oadr_msg_name(t), name->string) == 0)
					type = t;
			if (!(w = oadr_append((void **)&r->owed, &r->nowed,
			    sizeof(*w))) || type == OADR_MSG_NONE ||
			    jstr(o, "doc", &w->doc) != 0 || w->doc == NULL)
				return units_errf(err, errlen, "\"up\": owed "
				    "message %zu is not valid", i);
			w->type = type;
			w->len = strlen(w->doc);
		}
	return 0;
}

static int
relay_load_ra(struct relay_ra *ra, const struct json_value *o)
{
	const struct json_value *a, *reg;
	int64_t v = 0;

	if (jbool(o, "registered", &ra->registered) != 0 ||
	    jint(o, "registered_at", &ra->registered_at) != 0 ||
	    jbool(o, "severed", &ra->severed) != 0 ||
	    jbool(o, "reregister", &ra->rereg) != 0 ||
	    jbool(o, "push", &ra->push) != 0 ||
	    jstr(o, "usage_specifier", &ra->usage_specifier) != 0 ||
	    jstr(o, "usage_rid", &ra->usage_rid) != 0 ||
	    jint(o, "report_granularity_us", &ra->rreq_granularity) != 0)
		return -1;
	if (jint(o, "usage_w_per_unit", &v) != 0)
		return -1;
	ra->usage_w_per_unit = (double)v;
	v = 0;
	if (jint(o, "report_state", &v) != 0 || v < RREQ_NONE ||
	    v > RREQ_CANCEL)
		return -1;
	ra->rreq_state = (int)v;
	if ((reg = json_get(o, "registration_id")) != NULL &&
	    reg->type == JSON_STRING)
		snprintf(ra->registration_id, sizeof(ra->registration_id), "%s",
		    reg->string);
	if ((reg = json_get(o, "report_id")) != NULL &&
	    reg->type == JSON_STRING)
		snprintf(ra->rreq_id, sizeof(ra->rreq_id), "%s", reg->string);
	if ((reg = json_get(o, "push_url")) != NULL &&
	    reg->type == JSON_STRING)
		snprintf(ra->push_url, sizeof(ra->push_url), "%s", reg->string);
	if ((a = json_get(o, "samples")) != NULL && a->type == JSON_ARRAY)
		for (size_t k = 0; k < a->n; k++) {
			const struct json_value *p = a->items[k];
			struct relay_sample *s;

			if (p->type != JSON_ARRAY || p->n != 2 ||
			    !p->items[0]->is_int || !p->items[1]->is_int ||
			    !(s = oadr_append((void **)&ra->samples,
			    &ra->nsamples, sizeof(*s))))
				return -1;
			s->t = p->items[0]->integer;
			s->w = p->items[1]->integer;
		}
	if ((a = json_get(o, "opts")) != NULL && a->type == JSON_ARRAY)
		for (size_t k = 0; k < a->n; k++) {
			struct relay_opt *w = oadr_append((void **)&ra->opts,
			    &ra->nopts, sizeof(*w));

			v = 0;
			if (!w || jstr(a->items[k], "id", &w->id) != 0 ||
			    !w->id || jint(a->items[k], "type", &v) != 0 ||
			    jint(a->items[k], "from", &w->from) != 0 ||
			    jint(a->items[k], "until", &w->until) != 0)
				return -1;
			w->type = (int)v;
		}
	return 0;
}

/*
 * Read the state file into r (made from the current configuration). A
 * missing file is a first start. RAs no longer configured are dropped.
 */
static int
relay_load(struct relay *r, char *err, size_t errlen)
{
	struct json_value *root = NULL, *dv;
	const struct json_value *a, *fmt;
	struct json_buf dj;
	char *text = NULL, why[RELAY_ERR_MAX];
	size_t len = 0;
	int rc;

	rc = store_read(r->cfg->dispatch.state_dir, RELAY_STATE_FILE,
	    RELAY_STATE_MAX, &text, &len, why, sizeof(why));
	if (rc == 0)
		return 0;		/* a first start */
	if (rc < 0)
		return units_errf(err, errlen, "%s", why);
	rc = -1;
	json_init(&dj, 0);
	if ((root = json_parse(text, len, why, sizeof(why))) == NULL) {
		units_errf(err, errlen, "not JSON: %s", why);
		goto done;
	}
	fmt = json_get(root, "format");
	if (fmt == NULL || fmt->type != JSON_STRING ||
	    strcmp(fmt->string, RELAY_FORMAT) != 0) {
		units_errf(err, errlen, "not an \"%s\" file", RELAY_FORMAT);
		goto done;
	}
	if (relay_load_up(r, json_get(root, "up"), err, errlen) != 0)
		goto done;
	if ((a = json_get(root, "ras")) != NULL && a->type == JSON_ARRAY)
		for (size_t i = 0; i < a->n; i++) {
			const struct json_value *nm = json_get(a->items[i],
			    "name");
			struct relay_ra *ra;

			if (nm == NULL || nm->type != JSON_STRING) {
				units_errf(err, errlen, "ras[%zu]: no name", i);
				goto done;
			}
			if ((ra = relay_ra_find(r, nm->string, NULL)) == NULL) {
				log_notice("relay: state of %s dropped: no "
				    "longer a configured peer", nm->string);
				continue;
			}
			if (relay_load_ra(ra, a->items[i]) != 0) {
				units_errf(err, errlen, "ras[%zu] (%s): a member "
				    "is not valid", i, ra->name);
				goto done;
			}
		}
	dv = (struct json_value *)json_get(root, "dispatch");
	if (dv == NULL || dv->type != JSON_OBJECT) {
		units_errf(err, errlen, "\"dispatch\" is missing");
		goto done;
	}
	json_write_value(&dj, dv);
	if (dj.failed || dispatch_load(&r->d, dj.s, dj.len, why,
	    sizeof(why)) != 0) {
		units_errf(err, errlen, "dispatch: %s", dj.failed ?
		    "out of memory" : why);
		goto done;
	}
	rc = 0;
done:
	json_free(&dj);
	json_value_free(root);
	free(text);
	return rc;
}

/* ---- life cycle ----------------------------------------------------- */

static char **
relay_signals(const struct config *cfg)
{
	char **v = calloc(cfg->dispatch.signals.n + 1, sizeof(*v));

	for (size_t i = 0; v && i < cfg->dispatch.signals.n; i++)
		v[i] = cfg->dispatch.signals.v[i];
	return v;
}

static int64_t
relay_capacity(const struct config *cfg)
{
	int64_t sum = 0;

	if (cfg->dispatch.capacity_w > 0)
		return (int64_t)cfg->dispatch.capacity_w;
	for (size_t i = 0; i < cfg->peers.n; i++)
		sum += (int64_t)cfg->peers.v[i].contracted_w;
	return sum;
}

static void
relay_engine_config(const struct config *cfg, char **signals,
    struct dispatch_config *dc)
{
	memset(dc, 0, sizeof(*dc));
	dc->rule = cfg->dispatch.rule;
	dc->lim.signals = (const char *const *)signals;
	dc->lim.capacity_w = relay_capacity(cfg);
	dc->lim.past_tolerance_us = (int64_t)cfg->dispatch.past_tolerance_ms *
	    1000;
	dc->lim.min_duration_us = (int64_t)cfg->dispatch.min_duration_ms * 1000;
	dc->lim.max_duration_us = (int64_t)cfg->dispatch.max_duration_ms * 1000;
	dc->ack_deadline_us = (int64_t)cfg->dispatch.ack_deadline_ms * 1000;
	dc->coverage_threshold = (double)cfg->dispatch.coverage_threshold /
	    100.0;
}

/* The RA table and an empty engine for cfg's peers. */
static int
relay_build_ras(const struct config *cfg, char **signals,
    struct relay_ra **ras, struct dispatch *d)
{
	struct dispatch_ra *dr;
	struct dispatch_config dc;
	size_t n = cfg->peers.n;

	*ras = calloc(n ? n : 1, sizeof(**ras));
	dr = calloc(n ? n : 1, sizeof(*dr));
	if (*ras == NULL || dr == NULL) {
		free(*ras);
		*ras = NULL;
		free(dr);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct config_peer *p = &cfg->peers.v[i];

		snprintf((*ras)[i].name, sizeof((*ras)[i].name), "%s", p->name);
		snprintf((*ras)[i].ven_id, sizeof((*ras)[i].ven_id), "%s",
		    p->ven_id ? p->ven_id : p->name);
		snprintf(dr[i].name, sizeof(dr[i].name), "%s", p->name);
		dr[i].contracted_w = (int64_t)p->contracted_w;
		dr[i].available_w = -1;
		dr[i].rank = p->rank ? (int64_t)p->rank : (int64_t)i + 1;
		dr[i].share_ppm = (int64_t)p->share * 10000;
	}
	relay_engine_config(cfg, signals, &dc);
	if (dispatch_init(d, &dc, dr, n) != 0) {
		free(*ras);
		*ras = NULL;
		free(dr);
		return -1;
	}
	free(dr);
	return 0;
}

struct relay *
relay_new(const struct config *cfg, const struct oadr_schema *schema,
    struct audit *audit, int64_t now, char *err, size_t errlen)
{
	struct relay *r = calloc(1, sizeof(*r));
	char why[RELAY_ERR_MAX];

	if (r == NULL) {
		units_errf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = cfg;
	r->schema = schema;
	r->audit = audit;
	r->nras = cfg->peers.n;

	if ((r->signals = relay_signals(cfg)) == NULL ||
	    relay_build_ras(cfg, r->signals, &r->ras, &r->d) != 0 ||
	    relay_index(r) != 0) {
		units_errf(err, errlen, "out of memory");
		goto fail;
	}
	if (relay_load(r, why, sizeof(why)) != 0) {
		units_errf(err, errlen, "%s/%s: %s", cfg->dispatch.state_dir,
		    RELAY_STATE_FILE, why);
		goto fail;
	}
	{
		size_t n = dispatch_requeue_unanswered(&r->d);

		if (n > 0)
			log_notice("relay: %zu event part(s) handed to RAs "
			    "before the restart and not answered are queued "
			    "again", n);
	}
	r->saved_changes = r->d.changes;
	/* A restart is a gap: what the TSO wants now is asked again. */
	if (r->up_state == UP_READY)
		r->resync = 1;
	relay_push_recheck(r);
	relay_sync_ras(r, now);
	return r;
fail:
	relay_free(r);
	return NULL;
}

void
relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	dispatch_free(&r->d);
	for (size_t i = 0; r->ras && i < r->nras; i++)
		relay_ra_clear(&r->ras[i]);
	free(r->ras);
	free(r->byname);
	free(r->signals);
	relay_up_reset(r);
	relay_up_flight_clear(r);
	relay_abort(r);
	for (size_t i = 0; i < r->nowed; i++)
		free(r->owed[i].doc);
	free(r->owed);
	free(r);
}

/*
 * Reload: a new engine for the new peers, the old state carried over
 * through the saved form (the same path a restart takes). relay_prepare
 * builds it aside; relay_switch swaps it in; relay_abort drops it.
 */
int
relay_prepare(struct relay *r, const struct config *cfg, char *err,
    size_t errlen)
{
	struct json_buf j;
	char why[RELAY_ERR_MAX];

	relay_abort(r);
	if (strcmp(cfg->dispatch.state_dir, r->cfg->dispatch.state_dir) != 0)
		return units_errf(err, errlen, "dispatch.state_dir cannot change "
		    "on a reload; restart acgwd");
	json_init(&j, 0);
	if ((r->next_signals = relay_signals(cfg)) == NULL ||
	    relay_build_ras(cfg, r->next_signals, &r->next_ras,
	    &r->next_d) != 0) {
		units_errf(err, errlen, "out of memory");
		goto fail;
	}
	r->have_next = 1;
	r->next_nras = cfg->peers.n;
	if (dispatch_save(&r->d, &j, why, sizeof(why)) != 0 ||
	    dispatch_load(&r->next_d, j.s, j.len, why, sizeof(why)) != 0) {
		units_errf(err, errlen, "relay: %s", why);
		goto fail;
	}
	json_free(&j);
	return 0;
fail:
	json_free(&j);
	relay_abort(r);
	return -1;
}

void
relay_abort(struct relay *r)
{
	if (!r->have_next) {
		free(r->next_signals);
		r->next_signals = NULL;
		return;
	}
	for (size_t i = 0; r->next_ras && i < r->next_nras; i++)
		relay_ra_clear(&r->next_ras[i]);
	free(r->next_ras);
	dispatch_free(&r->next_d);
	free(r->next_signals);
	r->next_ras = NULL;
	r->next_signals = NULL;
	r->have_next = 0;
}

void
relay_switch(struct relay *r, const struct config *cfg,
    const struct oadr_schema *schema, int64_t now)
{
	struct relay_ra *ras = r->next_ras;

	if (!r->have_next)
		return;
	/* Carry the RAs' own state over by name; the venID is the new one. */
	for (size_t i = 0; i < r->next_nras; i++) {
		struct relay_ra *old = relay_ra_find(r, ras[i].name, NULL);
		char vid[sizeof(ras[i].ven_id)];

		if (old == NULL)
			continue;
		memcpy(vid, ras[i].ven_id, sizeof(vid));
		ras[i] = *old;
		memcpy(ras[i].ven_id, vid, sizeof(vid));
		free(ras[i].poll_ok);	/* it names the old venID */
		ras[i].poll_ok = NULL;
		memset(old, 0, sizeof(*old));
	}
	for (size_t i = 0; i < r->nras; i++)
		relay_ra_clear(&r->ras[i]);
	free(r->ras);
	dispatch_free(&r->d);
	free(r->signals);
	r->d = r->next_d;
	r->ras = ras;
	r->nras = r->next_nras;
	r->signals = r->next_signals;
	free(r->byname);
	r->byname = NULL;
	relay_index(r);		/* without it, lookups search */
	r->next_ras = NULL;
	r->next_signals = NULL;
	memset(&r->next_d, 0, sizeof(r->next_d));
	r->have_next = 0;
	r->cfg = cfg;
	r->schema = schema;
	r->dirty = 1;
	relay_push_recheck(r);
	relay_sync_ras(r, now);
	relay_commit(r);
}

int
relay_ra_set_active(struct relay *r, const char *peer, int active,
    int64_t now)
{
	struct relay_ra *ra = relay_ra_find(r, peer, NULL);

	if (ra == NULL)
		return -1;
	if (ra->severed == !active)
		return 0;
	ra->severed = !active;
	r->dirty = 1;
	relay_sync_ras(r, now);
	return relay_commit(r);
}

int
relay_tick(struct relay *r, int64_t now)
{
	int due = 0;

	/* Availability windows that ended are forgotten. */
	for (size_t i = 0; i < r->nras; i++) {
		struct relay_ra *ra = &r->ras[i];
		size_t k = 0;

		while (k < ra->nopts) {
			if (ra->opts[k].until <= now) {
				free(ra->opts[k].id);
				memmove(&ra->opts[k], &ra->opts[k + 1],
				    (ra->nopts - k - 1) * sizeof(ra->opts[k]));
				ra->nopts--;
				r->dirty = 1;
				continue;
			}
			k++;
		}
	}
	/* A report request handed out but never confirmed: ask again. */
	for (size_t i = 0; i < r->nras; i++) {
		struct relay_ra *ra = &r->ras[i];

		if (ra->rreq_state != RREQ_SENT)
			continue;
		if (ra->rreq_sent_at == 0)
			ra->rreq_sent_at = now;
		else if (now - ra->rreq_sent_at > 3 * (int64_t)
		    r->cfg->dispatch.ra_poll_interval_ms * 1000 + 5000000) {
			ra->rreq_state = RREQ_TO_SEND;
			ra->rreq_sent_at = 0;
			r->dirty = 1;
		}
	}
	relay_sync_ras(r, now);
	dispatch_tick(&r->d, now);
	dispatch_prune(&r->d, now, (int64_t)r->cfg->dispatch.retention_ms *
	    1000);
	relay_down_reports(r);
	for (size_t i = 0; i < r->d.nevents; i++) {
		int opt;

		if (dispatch_upstream_due(&r->d, i, &opt))
			due = 1;
	}
	for (size_t i = 0; i < r->ntreqs; i++)
		if (now >= r->treqs[i].next_from + r->treqs[i].back)
			due = 1;
	relay_commit(r);
	return due || r->nowed > 0;
}

/* ---- control -------------------------------------------------------- */

static const char *
relay_share_name(int state)
{
	switch (state) {
	case SHARE_PENDING: return "pending";
	case SHARE_OPT_IN: return "optIn";
	case SHARE_OPT_OUT: return "optOut";
	case SHARE_LATE: return "late";
	default: return "none";
	}
}

static void
relay_time(struct json_buf *j, const char *key, int64_t t)
{
	char buf[40];

	if (t == 0)
		return;
	units_format_datetime(t, buf, sizeof(buf));
	json_kv_str(j, key, buf);
}

static void
relay_watts(struct json_buf *j, const char *key, const int64_t *w, size_t n)
{
	json_key(j, key);
	json_array_begin(j);
	for (size_t i = 0; w && i < n; i++)
		json_int(j, w[i]);
	json_array_end(j);
}

void
relay_events_json(const struct relay *r, int64_t now, struct json_buf *j)
{
	json_key(j, "events");
	json_array_begin(j);
	for (size_t i = 0; i < r->d.nevents; i++) {
		const struct dispatch_event *e = &r->d.events[i];
		int64_t start = e->up.active.dtstart;
		int64_t end = start + e->up.active.duration;

		json_object_begin(j);
		json_kv_str(j, "event", e->id);
		json_kv_uint(j, "modification", e->mod);
		json_kv_str(j, "state", e->refused ? "refused" : e->cancelled ?
		    "cancelled" : now < start ? "far" : now < end ? "active" :
		    "completed");
		relay_time(j, "start", start);
		relay_time(j, "end", end);
		relay_watts(j, "target_w", e->target.watts, e->target.n);
		json_kv_int(j, "coverage_pct", (int64_t)floor(
		    dispatch_coverage(&r->d, e) * 100 + 1e-9));
		json_kv_str(j, "answered_tso", !e->answered ? "-" :
		    e->answered_opt == OADR_OPT_IN ? "optIn" : "optOut");
		if (e->refused)
			json_kv_str(j, "reason", e->why);
		json_object_end(j);
	}
	json_array_end(j);
	/* One row per event and RA: its part, delivery and answer. */
	json_key(j, "allocations");
	json_array_begin(j);
	for (size_t i = 0; i < r->d.nevents; i++) {
		const struct dispatch_event *e = &r->d.events[i];

		for (size_t k = 0; k < r->d.nras; k++) {
			const struct dispatch_share *s = &e->shares[k];

			if (!s->exists && !s->watts)
				continue;
			json_object_begin(j);
			json_kv_str(j, "event", e->id);
			json_kv_str(j, "ra", r->d.ras[k].name);
			json_kv_uint(j, "modification", s->mod);
			relay_watts(j, "watts", s->watts, s->n);
			json_kv_str(j, "delivery", !s->exists ? "-" :
			    s->sent_at ? "delivered" : "queued");
			json_kv_str(j, "answer", relay_share_name(s->state));
			json_kv_bool(j, "cancelled", s->cancelled);
			relay_time(j, "answered_at", s->answered_at);
			json_object_end(j);
		}
	}
	json_array_end(j);
}

static const char *
relay_rreq_name(int s)
{
	switch (s) {
	case RREQ_TO_SEND: return "to send";
	case RREQ_SENT: return "sent";
	case RREQ_ACTIVE: return "active";
	case RREQ_CANCEL: return "cancelling";
	default: return "-";
	}
}

void
relay_ras_json(const struct relay *r, int64_t now, struct json_buf *j,
    const char *(*admission)(void *, const char *), void *arg)
{
	json_array_begin(j);
	for (size_t i = 0; i < r->nras; i++) {
		const struct relay_ra *ra = &r->ras[i];
		char buf[32];

		json_object_begin(j);
		json_kv_str(j, "ra", ra->name);
		json_kv_str(j, "ven_id", ra->ven_id);
		json_kv_str(j, "registration", ra->severed ? "severed" :
		    ra->registered ? "registered" : "not registered");
		if (ra->registered)
			json_kv_str(j, "registration_id", ra->registration_id);
		relay_time(j, "registered_at", ra->registered_at);
		relay_time(j, "last_poll", ra->last_poll);
		json_kv_str(j, "model", ra->push ? "push" : "pull");
		if (ra->push) {
			json_kv_uint(j, "pushed", ra->pushed);
			json_kv_uint(j, "push_failures", ra->push_failures);
		}
		units_format_power(r->d.ras[i].contracted_w, buf, sizeof(buf));
		json_kv_str(j, "contracted", buf);
		json_kv_str(j, "availability", relay_ra_opted_out(ra, now) ?
		    "opted out" : "available");
		json_kv_bool(j, "events_queued", dispatch_ra_pending(&r->d, i));
		json_kv_str(j, "telemetry", relay_rreq_name(ra->rreq_state));
		relay_time(j, "last_report", ra->last_update);
		json_kv_uint(j, "requests", ra->requests);
		json_kv_uint(j, "invalid", ra->invalid);
		json_kv_uint(j, "venid_mismatches", ra->mismatches);
		if (admission != NULL)
			json_kv_str(j, "admission", admission(arg, ra->name));
		json_object_end(j);
	}
	json_array_end(j);
}
