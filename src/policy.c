/*
 * policy — peers' states and the verdicts on their attestations.
 *
 * State lives in dispatch.state_dir: policy.json (each peer's state,
 * reason, who decided and when; the isolation switches) and, per peer,
 * the attestation it holds as given (attest-PEER.p7m), re-verified at
 * every start and reload, so that a changed trust anchor takes effect.
 * A severed peer stays severed across restarts.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "acgw/log.h"
#include "acgw/policy.h"
#include "acgw/store.h"
#include "acgw/units.h"

#define POLICY_FORMAT "acgw-policy 1"
#define CATALOG_FORMAT "acgw-controls 1"

struct policy_peer {
	char name[65];
	int state;			/* enum policy_state */
	char reason[POLICY_ERR_MAX];
	char by[64];
	int64_t since;
	int have;			/* att holds an attestation */
	struct attestation att;
	unsigned char *raw;		/* its bytes as given */
	size_t rawlen;
	int warned;			/* expiry level logged: 0, 1, 2 */
	/* anomaly window: counters at its start, and at the last look */
	int64_t window;
	uint64_t invalid0, mismatch0;
	int64_t last_t;
	uint64_t last_inv, last_mis;
};

struct policy {
	const struct config *cfg;
	struct attest_anchor *anchor;	/* NULL: policy disabled */
	struct policy_control *controls;
	size_t ncontrols;
	struct policy_peer *peers;	/* as cfg->peers */
	size_t npeers;
	size_t *sorted;			/* peers' indices by name; NULL: search */
	int iso_r1, iso_r3;
	int dirty;
};

const char *
policy_state_name(int state)
{
	switch (state) {
	case POLICY_ADMITTED: return "admitted";
	case POLICY_SEVERED: return "severed";
	default: return "pending";
	}
}

/* The peers by name, sorted: the gate asks on every request. */
static const struct policy *sort_ctx;

static int
by_name(const void *a, const void *b)
{
	return strcmp(sort_ctx->peers[*(const size_t *)a].name,
	    sort_ctx->peers[*(const size_t *)b].name);
}

static struct policy_peer *
policy_peer(const struct policy *p, const char *name)
{
	size_t lo = 0, hi = p->npeers;

	if (p->sorted == NULL) {
		for (size_t i = 0; i < p->npeers; i++)
			if (strcmp(p->peers[i].name, name) == 0)
				return &p->peers[i];
		return NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(p->peers[p->sorted[mid]].name, name);

		if (c == 0)
			return &p->peers[p->sorted[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct config_peer *
policy_cfg_peer(const struct policy *p, const struct policy_peer *pp)
{
	return &p->cfg->peers.v[pp - p->peers];
}

/* ---- the catalog --------------------------------------------------------- */

static void
catalog_free(struct policy_control *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].title);
		for (size_t k = 0; k < v[i].nsections; k++)
			free(v[i].sections[k]);
		free(v[i].sections);
	}
	free(v);
}

static int
catalog_err(char *err, size_t errlen, const char *path, const yaml_node_t *n,
    const char *what)
{
	return units_errf(err, errlen, "%s:%zu:%zu: %s", path,
	    n ? (size_t)n->start_mark.line + 1 : 0,
	    n ? (size_t)n->start_mark.column + 1 : 0, what);
}

static const yaml_node_t *
ymap_get(yaml_document_t *d, const yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
	    pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(d, pr->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(d, pr->value);
	}
	return NULL;
}

static int
catalog_entry(yaml_document_t *d, const yaml_node_t *e, const char *path,
    struct policy_control *c, char *err, size_t errlen)
{
	const yaml_node_t *id, *title, *secs;
	char why[UNITS_ERR_MAX + 64];

	if (e->type != YAML_MAPPING_NODE)
		return catalog_err(err, errlen, path, e, "controls[]: expected "
		    "a mapping");
	for (yaml_node_pair_t *pr = e->data.mapping.pairs.start;
	    pr < e->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(d, pr->key);
		const char *ks = k && k->type == YAML_SCALAR_NODE ?
		    (char *)k->data.scalar.value : "";

		if (strcmp(ks, "id") && strcmp(ks, "title") &&
		    strcmp(ks, "sections")) {
			snprintf(why, sizeof(why), "controls[]: unknown key "
			    "\"%s\"", ks);
			return catalog_err(err, errlen, path, k, why);
		}
	}
	id = ymap_get(d, e, "id");
	title = ymap_get(d, e, "title");
	secs = ymap_get(d, e, "sections");
	if (!id || id->type != YAML_SCALAR_NODE || !title ||
	    title->type != YAML_SCALAR_NODE || !secs ||
	    secs->type != YAML_SEQUENCE_NODE)
		return catalog_err(err, errlen, path, e, "controls[]: needs id, "
		    "title and sections (a list)");
	if ((c->id = strdup((char *)id->data.scalar.value)) == NULL ||
	    (c->title = strdup((char *)title->data.scalar.value)) == NULL)
		return units_errf(err, errlen, "out of memory");
	for (yaml_node_item_t *it = secs->data.sequence.items.start;
	    it < secs->data.sequence.items.top; it++) {
		yaml_node_t *s = yaml_document_get_node(d, *it);
		char **v;

		if (!s || s->type != YAML_SCALAR_NODE)
			return catalog_err(err, errlen, path, s, "sections: "
			    "expected a list of section references");
		if (!(v = realloc(c->sections, (c->nsections + 1) *
		    sizeof(*v))))
			return units_errf(err, errlen, "out of memory");
		c->sections = v;
		if (!(v[c->nsections] = strdup((char *)s->data.scalar.value)))
			return units_errf(err, errlen, "out of memory");
		c->nsections++;
	}
	return 0;
}

static int
catalog_load(const char *path, struct policy_control **out, size_t *nout,
    char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	yaml_parser_t ps;
	yaml_document_t d;
	const yaml_node_t *root, *fmt, *list;
	struct policy_control *v = NULL;
	size_t n = 0;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	if (f == NULL)
		return units_errf(err, errlen, "%s: cannot read: %s", path,
		    strerror(errno));
	if (!yaml_parser_initialize(&ps)) {
		fclose(f);
		return units_errf(err, errlen, "out of memory");
	}
	yaml_parser_set_input_file(&ps, f);
	if (!yaml_parser_load(&ps, &d)) {
		units_errf(err, errlen, "%s:%zu:%zu: not YAML: %s", path,
		    (size_t)ps.problem_mark.line + 1,
		    (size_t)ps.problem_mark.column + 1,
		    ps.problem ? ps.problem : "syntax error");
		yaml_parser_delete(&ps);
		fclose(f);
		return -1;
	}
	root = yaml_document_get_root_node(&d);
	if (!root || root->type != YAML_MAPPING_NODE) {
		catalog_err(err, errlen, path, root, "expected a mapping");
		goto done;
	}
	fmt = ymap_get(&d, root, "format");
	if (!fmt || fmt->type != YAML_SCALAR_NODE ||
	    strcmp((char *)fmt->data.scalar.value, CATALOG_FORMAT) != 0) {
		catalog_err(err, errlen, path, fmt ? fmt : root, "format: "
		    "must be \"" CATALOG_FORMAT "\"");
		goto done;
	}
	list = ymap_get(&d, root, "controls");
	if (!list || list->type != YAML_SEQUENCE_NODE) {
		catalog_err(err, errlen, path, root, "controls: expected a "
		    "list");
		goto done;
	}
	for (yaml_node_item_t *it = list->data.sequence.items.start;
	    it < list->data.sequence.items.top; it++) {
		struct policy_control *nv = realloc(v, (n + 1) * sizeof(*nv));

		if (!nv) {
			units_errf(err, errlen, "out of memory");
			goto done;
		}
		v = nv;
		memset(&v[n], 0, sizeof(v[n]));
		n++;
		if (catalog_entry(&d, yaml_document_get_node(&d, *it), path,
		    &v[n - 1], err, errlen) != 0)
			goto done;
		for (size_t k = 0; k + 1 < n; k++)
			if (strcmp(v[k].id, v[n - 1].id) == 0) {
				char why[160];

				snprintf(why, sizeof(why), "control \"%.64s\" is "
				    "listed twice", v[n - 1].id);
				catalog_err(err, errlen, path,
				    yaml_document_get_node(&d, *it), why);
				goto done;
			}
	}
	*out = v;
	*nout = n;
	v = NULL;
	n = 0;
	rc = 0;
done:
	catalog_free(v, n);
	yaml_document_delete(&d);
	yaml_parser_delete(&ps);
	fclose(f);
	return rc;
}

static const struct policy_control *
catalog_find(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < p->ncontrols; i++)
		if (strcmp(p->controls[i].id, id) == 0)
			return &p->controls[i];
	return NULL;
}

const struct attest_anchor *
policy_anchor(const struct policy *p)
{
	return p->anchor;
}

size_t
policy_npeers(const struct policy *p)
{
	return p->npeers;
}

const char *
policy_peer_name(const struct policy *p, size_t i)
{
	return i < p->npeers ? p->peers[i].name : NULL;
}

const char *
policy_attestation_dir(const struct policy *p)
{
	return p->anchor != NULL ? p->cfg->policy.attestation_dir : NULL;
}

uint64_t
policy_reevaluate_ms(const struct policy *p)
{
	return p->cfg->policy.reevaluate_ms;
}

const struct policy_control *
policy_catalog(const struct policy *p, size_t *n)
{
	*n = p->ncontrols;
	return p->controls;
}

/* ---- verdicts ------------------------------------------------------------ */

static int
has_control(const struct attestation *a, const char *id)
{
	for (size_t i = 0; i < a->ncontrols; i++)
		if (strcmp(a->controls[i], id) == 0)
			return 1;
	return 0;
}

static int
verdict(const struct policy *p, const struct policy_peer *pp, int64_t now,
    char *why, size_t len)
{
	const struct config_peer *cp = policy_cfg_peer(p, pp);
	const struct attestation *a = &pp->att;
	const struct config_strlist *req;
	int64_t skew = (int64_t)p->cfg->policy.clock_skew_ms * 1000;
	int64_t age = (int64_t)p->cfg->policy.max_age_ms * 1000;
	char t[40], d[40], missing[POLICY_ERR_MAX] = "";
	int pin = 0, importance_a = cp->importance == 1;

	if (!pp->have)
		return units_errf(why, len, "no attestation");
	if (strcmp(a->peer, pp->name) != 0)
		return units_errf(why, len, "made for peer \"%s\", not \"%s\"",
		    a->peer, pp->name);
	for (size_t i = 0; i < a->npins && !pin; i++)
		for (size_t k = 0; k < cp->pins.n && !pin; k++)
			pin = memcmp(a->pins[i], cp->pins.v[k], 32) == 0;
	if (!pin)
		return units_errf(why, len, "names none of the peer's pins "
		    "(peers[].pins)");
	if (now + skew < a->issued) {
		units_format_datetime(a->issued, t, sizeof(t));
		units_format_duration(p->cfg->policy.clock_skew_ms, d,
		    sizeof(d));
		return units_errf(why, len, "not valid before %s (beyond the "
		    "clock skew of %s)", t, d);
	}
	if (now - skew >= a->expires) {
		units_format_datetime(a->expires, t, sizeof(t));
		return units_errf(why, len, "expired at %s", t);
	}
	if (now - a->issued > age) {
		units_format_datetime(a->issued, t, sizeof(t));
		units_format_duration(p->cfg->policy.max_age_ms, d, sizeof(d));
		return units_errf(why, len, "issued %s, older than "
		    "policy.max_age (%s)", t, d);
	}
	if ((a->importance == 'A') != importance_a)
		return units_errf(why, len, "attests importance %c, but the peer "
		    "is importance %c (peers[].importance)", a->importance,
		    importance_a ? 'A' : 'B');
	if (importance_a && p->cfg->policy.third_party_for_a &&
	    a->kind != ATTEST_THIRD_PARTY)
		return units_errf(why, len, "importance A needs a third-party "
		    "assessment (policy.third_party_for_a); this one is "
		    "internal");
	req = importance_a ? &p->cfg->policy.required_a :
	    &p->cfg->policy.required_b;
	for (size_t i = 0; i < req->n; i++)
		if (!has_control(a, req->v[i])) {
			size_t l = strlen(missing);

			snprintf(missing + l, sizeof(missing) - l, "%s%s",
			    l ? ", " : "", req->v[i]);
		}
	if (missing[0] != '\0')
		return units_errf(why, len, "missing required controls: %s",
		    missing);
	snprintf(why, len, "ok");
	return 0;
}

int
policy_evaluate(const struct policy *p, const char *peer, int64_t now,
    char *why, size_t whylen)
{
	const struct policy_peer *pp = policy_peer(p, peer);

	if (pp == NULL)
		return units_errf(why, whylen, "%s is not a configured peer",
		    peer);
	return verdict(p, pp, now, why, whylen);
}

/* ---- state ---------------------------------------------------------------- */

const char *
policy_refusal(const struct policy *p, const char *peer)
{
	const struct policy_peer *pp = policy_peer(p, peer);

	if (p->iso_r3)
		return "R3 is isolated (acgwctl isolate)";
	if (pp == NULL)
		return "not a configured peer";
	if (pp->state == POLICY_SEVERED)
		return pp->reason[0] ? pp->reason : "severed";
	if (pp->state == POLICY_PENDING)
		return pp->reason[0] ? pp->reason : "no valid attestation";
	return NULL;
}

int
policy_state_of(const struct policy *p, const char *peer)
{
	const struct policy_peer *pp = policy_peer(p, peer);

	return pp ? pp->state : -1;
}

void
policy_mark(struct policy *p, const char *peer, int state, const char *reason,
    const char *by, int64_t now)
{
	struct policy_peer *pp = policy_peer(p, peer);

	if (pp == NULL)
		return;
	/*
	 * Back from a severance: the anomaly count starts afresh at the
	 * next look (what it counted before must not sever it again).
	 */
	if (state == POLICY_ADMITTED && pp->state == POLICY_SEVERED)
		pp->window = 0;
	pp->state = state;
	snprintf(pp->reason, sizeof(pp->reason), "%s", reason ? reason : "");
	snprintf(pp->by, sizeof(pp->by), "%s", by);
	pp->since = now;
	p->dirty = 1;
}

void
policy_mark_warned(struct policy *p, const char *peer, int level)
{
	struct policy_peer *pp = policy_peer(p, peer);

	if (pp != NULL && pp->warned != level) {
		pp->warned = level;
		p->dirty = 1;
	}
}

int
policy_isolated(const struct policy *p, const char *which)
{
	return strcmp(which, "r1") == 0 ? p->iso_r1 : p->iso_r3;
}

void
policy_set_isolated(struct policy *p, const char *which, int on)
{
	if (strcmp(which, "r1") == 0)
		p->iso_r1 = on;
	else
		p->iso_r3 = on;
	p->dirty = 1;
}

int
policy_restorable(const struct policy *p, const char *peer, int64_t now,
    char *why, size_t whylen)
{
	const struct policy_peer *pp = policy_peer(p, peer);
	char v[POLICY_ERR_MAX];

	if (pp == NULL)
		return units_errf(why, whylen, "%s is not a configured peer",
		    peer);
	if (pp->state != POLICY_SEVERED)
		return units_errf(why, whylen, "%s is not severed (%s)", peer,
		    policy_state_name(pp->state));
	if (p->anchor != NULL && verdict(p, pp, now, v, sizeof(v)) != 0)
		return units_errf(why, whylen, "%s cannot be restored: its "
		    "attestation does not pass: %s", peer, v);
	return 0;
}

/* ---- attestations in -------------------------------------------------------- */

static int
policy_hold(struct policy_peer *pp, struct attestation *a, const void *data,
    size_t len)
{
	unsigned char *raw = malloc(len ? len : 1);

	if (raw == NULL)
		return -1;
	memcpy(raw, data, len);
	attest_free(&pp->att);
	free(pp->raw);
	pp->att = *a;
	memset(a, 0, sizeof(*a));
	pp->raw = raw;
	pp->rawlen = len;
	pp->have = 1;
	return 0;
}

int
policy_offer(struct policy *p, const char *expect, const void *data,
    size_t len, int64_t now, char *peer, size_t peerlen, char *err,
    size_t errlen)
{
	struct attestation a;
	struct policy_peer *pp;
	char t[40];

	if (p->anchor == NULL)
		return units_errf(err, errlen, "attestations are not in use "
		    "(policy.enabled: false)");
	if (attest_verify(p->anchor, data, len, now, &a, err, errlen) != 0)
		return -1;
	snprintf(peer, peerlen, "%s", a.peer);
	if (expect != NULL && strcmp(a.peer, expect) != 0) {
		units_errf(err, errlen, "made for peer \"%s\", not \"%s\"",
		    a.peer, expect);
		attest_free(&a);
		return -1;
	}
	if ((pp = policy_peer(p, a.peer)) == NULL) {
		units_errf(err, errlen, "made for \"%s\", which is not a "
		    "configured peer", a.peer);
		attest_free(&a);
		return -1;
	}
	if (pp->have && a.issued <= pp->att.issued) {
		units_format_datetime(pp->att.issued, t, sizeof(t));
		units_errf(err, errlen, "not newer than the one held (issued "
		    "%s); kept that one", t);
		attest_free(&a);
		return 1;
	}
	if (policy_hold(pp, &a, data, len) != 0) {
		attest_free(&a);
		return units_errf(err, errlen, "out of memory");
	}
	pp->warned = 0;		/* a new expiry: warned afresh */
	p->dirty = 1;
	return 0;
}

/* ---- review --------------------------------------------------------------- */

static int
push(struct policy_action **v, size_t *n, int kind, const char *peer,
    const char *reason)
{
	struct policy_action *nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (nv == NULL)
		return -1;
	*v = nv;
	nv[*n].kind = kind;
	nv[*n].level = 0;
	snprintf(nv[*n].peer, sizeof(nv[*n].peer), "%s", peer);
	snprintf(nv[*n].reason, sizeof(nv[*n].reason), "%s", reason);
	(*n)++;
	return 0;
}

struct policy_action *
policy_review(struct policy *p, int64_t now, size_t *n)
{
	struct policy_action *v = NULL;

	*n = 0;
	if (p->anchor == NULL)
		return NULL;		/* identity only: nothing to review */
	for (size_t i = 0; i < p->npeers; i++) {
		struct policy_peer *pp = &p->peers[i];
		char why[POLICY_ERR_MAX];
		int ok = verdict(p, pp, now, why, sizeof(why)) == 0;

		switch (pp->state) {
		case POLICY_ADMITTED:
			if (!ok)
				push(&v, n, p->cfg->policy.failure_action == 1 ?
				    POLICY_DO_WARN : POLICY_DO_SEVER, pp->name,
				    why);
			break;
		case POLICY_PENDING:
			if (ok)
				push(&v, n, POLICY_DO_ADMIT, pp->name, "ok");
			else if (strcmp(pp->reason, why) != 0) {
				/* Keep the reason refusals give current. */
				snprintf(pp->reason, sizeof(pp->reason), "%s",
				    why);
			}
			break;
		case POLICY_SEVERED:
			/* An operator's severance needs an operator. */
			if (ok && p->cfg->policy.restore == 1 &&
			    strcmp(pp->by, "policy") == 0)
				push(&v, n, POLICY_DO_RESTORE, pp->name, "a "
				    "valid attestation (policy.restore: auto)");
			break;
		}
		if (ok && pp->state != POLICY_SEVERED) {
			int64_t left = pp->att.expires - now;
			int level = left <= (int64_t)p->cfg->policy.
			    expiry_critical_ms * 1000 ? 2 : left <= (int64_t)
			    p->cfg->policy.expiry_warning_ms * 1000 ? 1 : 0;

			if (level > pp->warned) {
				char t[40];

				units_format_datetime(pp->att.expires, t,
				    sizeof(t));
				snprintf(why, sizeof(why), "attestation expires "
				    "at %s (%s)", t, level == 2 ? "critical" :
				    "warning");
				if (push(&v, n, POLICY_DO_EXPIRY, pp->name,
				    why) == 0)
					v[*n - 1].level = level;
			}
		}
	}
	return v;
}

int
policy_anomaly(struct policy *p, const char *peer, uint64_t invalid,
    uint64_t mismatches, int64_t now, char *why, size_t whylen)
{
	struct policy_peer *pp = policy_peer(p, peer);
	uint64_t max_i = p->cfg->policy.max_invalid_per_minute;
	uint64_t max_m = p->cfg->policy.max_mismatches_per_minute;

	if (pp == NULL || pp->state == POLICY_SEVERED)
		return 0;
	if (pp->window == 0 || invalid < pp->invalid0 ||
	    mismatches < pp->mismatch0) {
		pp->window = now;
		pp->invalid0 = invalid;
		pp->mismatch0 = mismatches;
	} else if (now - pp->window >= 60LL * 1000000) {
		/*
		 * A new minute starts at the last look, not now: what came
		 * since then still counts (the looks may be a minute apart).
		 */
		pp->window = pp->last_t;
		pp->invalid0 = pp->last_inv;
		pp->mismatch0 = pp->last_mis;
	}
	pp->last_t = now;
	pp->last_inv = invalid;
	pp->last_mis = mismatches;
	if (max_i > 0 && invalid - pp->invalid0 >= max_i) {
		units_errf(why, whylen, "anomaly: %llu invalid messages within "
		    "a minute (policy.max_invalid_per_minute %llu)",
		    (unsigned long long)(invalid - pp->invalid0),
		    (unsigned long long)max_i);
		return 1;
	}
	if (max_m > 0 && mismatches - pp->mismatch0 >= max_m) {
		units_errf(why, whylen, "anomaly: %llu venID/certificate "
		    "mismatches within a minute "
		    "(policy.max_mismatches_per_minute %llu)",
		    (unsigned long long)(mismatches - pp->mismatch0),
		    (unsigned long long)max_m);
		return 1;
	}
	return 0;
}

/* ---- persistence -------------------------------------------------------------- */

static void
attest_file(const struct policy_peer *pp, char *buf, size_t len)
{
	snprintf(buf, len, "attest-%s.p7m", pp->name);
}

int
policy_commit(struct policy *p, char *err, size_t errlen)
{
	struct json_buf j;
	const char *dir = p->cfg->dispatch.state_dir;
	int rc = 0;

	if (!p->dirty)
		return 0;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return units_errf(err, errlen, "%s: cannot create: %s", dir,
		    strerror(errno));
	for (size_t i = 0; i < p->npeers && rc == 0; i++) {
		char name[128];

		if (!p->peers[i].have)
			continue;
		attest_file(&p->peers[i], name, sizeof(name));
		rc = store_write(dir, name, p->peers[i].raw,
		    p->peers[i].rawlen, err, errlen);
	}
	if (rc != 0)
		return -1;
	json_init(&j, 0);
	json_object_begin(&j);
	json_kv_str(&j, "format", POLICY_FORMAT);
	json_key(&j, "isolated");
	json_object_begin(&j);
	json_kv_bool(&j, "r1", p->iso_r1);
	json_kv_bool(&j, "r3", p->iso_r3);
	json_object_end(&j);
	json_key(&j, "peers");
	json_array_begin(&j);
	for (size_t i = 0; i < p->npeers; i++) {
		const struct policy_peer *pp = &p->peers[i];

		json_object_begin(&j);
		json_kv_str(&j, "name", pp->name);
		json_kv_str(&j, "state", policy_state_name(pp->state));
		json_kv_str(&j, "reason", pp->reason);
		json_kv_str(&j, "by", pp->by);
		json_kv_int(&j, "since", pp->since);
		json_kv_int(&j, "warned", pp->warned);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	rc = j.failed ? units_errf(err, errlen, "out of memory") :
	    store_write(dir, POLICY_STATE_FILE, j.s, j.len, err, errlen);
	json_free(&j);
	if (rc == 0)
		p->dirty = 0;
	return rc;
}

/* The held attestation of a peer from the state directory, re-verified. */
static void
policy_load_attestation(struct policy *p, struct policy_peer *pp, int64_t now)
{
	char name[128], why[ATTEST_ERR_MAX], *data = NULL;
	struct attestation a;
	size_t len = 0;

	attest_file(pp, name, sizeof(name));
	if (p->anchor == NULL || store_read(p->cfg->dispatch.state_dir, name,
	    ATTEST_MAX_SIZE, &data, &len, why, sizeof(why)) != 1) {
		free(data);
		return;
	}
	if (attest_verify(p->anchor, data, len, now, &a, why,
	    sizeof(why)) != 0 || (strcmp(a.peer, pp->name) != 0 &&
	    units_errf(why, sizeof(why), "it is made for \"%s\"", a.peer))) {
		log_warnx("policy: %s: the attestation held from before no "
		    "longer verifies: %s", pp->name, why);
		attest_free(&a);
		free(data);
		return;
	}
	policy_hold(pp, &a, data, len);
	free(data);
}

static int
policy_load_state(struct policy *p, char *err, size_t errlen)
{
	char *text = NULL, why[POLICY_ERR_MAX];
	struct json_value *root;
	const struct json_value *a, *iso, *fmt;
	size_t len = 0;
	int rc;

	rc = store_read(p->cfg->dispatch.state_dir, POLICY_STATE_FILE,
	    4 << 20, &text, &len, why, sizeof(why));
	if (rc == 0)
		return 0;
	if (rc < 0)
		return units_errf(err, errlen, "%s", why);
	root = json_parse(text, len, why, sizeof(why));
	free(text);
	if (root == NULL)
		return units_errf(err, errlen, "%s/%s: not JSON: %s",
		    p->cfg->dispatch.state_dir, POLICY_STATE_FILE, why);
	fmt = json_get(root, "format");
	if (!fmt || fmt->type != JSON_STRING ||
	    strcmp(fmt->string, POLICY_FORMAT) != 0) {
		json_value_free(root);
		return units_errf(err, errlen, "%s/%s: not an \"%s\" file",
		    p->cfg->dispatch.state_dir, POLICY_STATE_FILE,
		    POLICY_FORMAT);
	}
	if ((iso = json_get(root, "isolated")) && iso->type == JSON_OBJECT) {
		const struct json_value *x;

		if ((x = json_get(iso, "r1")) && x->type == JSON_BOOL)
			p->iso_r1 = x->boolean;
		if ((x = json_get(iso, "r3")) && x->type == JSON_BOOL)
			p->iso_r3 = x->boolean;
	}
	if ((a = json_get(root, "peers")) && a->type == JSON_ARRAY)
		for (size_t i = 0; i < a->n; i++) {
			const struct json_value *o = a->items[i], *x;
			struct policy_peer *pp;

			if (!(x = json_get(o, "name")) || x->type != JSON_STRING ||
			    !(pp = policy_peer(p, x->string)))
				continue;
			if ((x = json_get(o, "state")) && x->type == JSON_STRING)
				pp->state = strcmp(x->string, "severed") == 0 ?
				    POLICY_SEVERED : strcmp(x->string,
				    "admitted") == 0 ? POLICY_ADMITTED :
				    POLICY_PENDING;
			if ((x = json_get(o, "reason")) && x->type == JSON_STRING)
				snprintf(pp->reason, sizeof(pp->reason), "%s",
				    x->string);
			if ((x = json_get(o, "by")) && x->type == JSON_STRING)
				snprintf(pp->by, sizeof(pp->by), "%s", x->string);
			if ((x = json_get(o, "since")) && x->is_int)
				pp->since = x->integer;
			if ((x = json_get(o, "warned")) && x->is_int)
				pp->warned = (int)x->integer;
		}
	json_value_free(root);
	return 0;
}

/* ---- life cycle --------------------------------------------------------------- */

static struct policy *
policy_make(const struct config *cfg, char *err, size_t errlen)
{
	struct policy *p = calloc(1, sizeof(*p));
	char where[512], why[POLICY_ERR_MAX];

	if (p == NULL) {
		units_errf(err, errlen, "out of memory");
		return NULL;
	}
	p->cfg = cfg;
	if ((p->peers = calloc(cfg->peers.n ? cfg->peers.n : 1,
	    sizeof(*p->peers))) == NULL) {
		units_errf(err, errlen, "out of memory");
		goto fail;
	}
	p->npeers = cfg->peers.n;
	for (size_t i = 0; i < p->npeers; i++) {
		snprintf(p->peers[i].name, sizeof(p->peers[i].name), "%s",
		    cfg->peers.v[i].name);
	}
	if ((p->sorted = calloc(p->npeers ? p->npeers : 1,
	    sizeof(*p->sorted))) != NULL) {
		for (size_t i = 0; i < p->npeers; i++)
			p->sorted[i] = i;
		sort_ctx = p;
		qsort(p->sorted, p->npeers, sizeof(*p->sorted), by_name);
		sort_ctx = NULL;
	}
	for (size_t i = 0; i < p->npeers; i++) {
		snprintf(p->peers[i].name, sizeof(p->peers[i].name), "%s",
		    cfg->peers.v[i].name);
		p->peers[i].state = cfg->policy.enabled ? POLICY_PENDING :
		    POLICY_ADMITTED;
		snprintf(p->peers[i].by, sizeof(p->peers[i].by), "policy");
		if (cfg->policy.enabled)
			snprintf(p->peers[i].reason, sizeof(p->peers[i].reason),
			    "no attestation");
	}
	if (!cfg->policy.enabled)
		return p;
	if (catalog_load(cfg->policy.catalog, &p->controls, &p->ncontrols,
	    why, sizeof(why)) != 0) {
		config_locate(cfg, "policy.catalog", -1, where, sizeof(where));
		units_errf(err, errlen, "%s: %s", where, why);
		goto fail;
	}
	for (int a = 0; a < 2; a++) {
		const struct config_strlist *req = a ? &cfg->policy.required_a :
		    &cfg->policy.required_b;

		for (size_t i = 0; i < req->n; i++)
			if (catalog_find(p, req->v[i]) == NULL) {
				config_locate(cfg, a ? "policy.required_a" :
				    "policy.required_b", -1, where,
				    sizeof(where));
				units_errf(err, errlen, "%s: control \"%s\" is "
				    "not in the catalog %s", where, req->v[i],
				    cfg->policy.catalog);
				goto fail;
			}
	}
	if ((p->anchor = attest_anchor_load(cfg->policy.assessor_ca,
	    cfg->policy.assessor_key_usage ? "nonRepudiation" :
	    "digitalSignature", why, sizeof(why))) == NULL) {
		config_locate(cfg, "policy.assessor_ca", -1, where,
		    sizeof(where));
		units_errf(err, errlen, "%s: %s", where, why);
		goto fail;
	}
	return p;
fail:
	policy_free(p);
	return NULL;
}

struct policy *
policy_new(const struct config *cfg, int64_t now, char *err, size_t errlen)
{
	struct policy *p = policy_make(cfg, err, errlen);

	if (p == NULL)
		return NULL;
	if (policy_load_state(p, err, errlen) != 0) {
		policy_free(p);
		return NULL;
	}
	for (size_t i = 0; i < p->npeers; i++) {
		struct policy_peer *pp = &p->peers[i];

		policy_load_attestation(p, pp, now);
		if (!cfg->policy.enabled && pp->state == POLICY_PENDING)
			pp->state = POLICY_ADMITTED;
		/*
		 * Admitted while attestations were not required, and none
		 * held: pending (refused until one passes), not severed.
		 */
		if (cfg->policy.enabled && pp->state == POLICY_ADMITTED &&
		    !pp->have) {
			pp->state = POLICY_PENDING;
			snprintf(pp->reason, sizeof(pp->reason),
			    "no attestation");
		}
	}
	return p;
}

struct policy *
policy_reload(const struct policy *old, const struct config *cfg,
    int64_t now, char *err, size_t errlen)
{
	struct policy *p = policy_make(cfg, err, errlen);

	if (p == NULL)
		return NULL;
	p->iso_r1 = old->iso_r1;
	p->iso_r3 = old->iso_r3;
	for (size_t i = 0; i < p->npeers; i++) {
		struct policy_peer *pp = &p->peers[i];
		const struct policy_peer *op = policy_peer(old, pp->name);
		struct attestation a;
		char why[ATTEST_ERR_MAX];

		if (op == NULL)
			continue;
		/* A severance or an admission stands; pending stays so. */
		if (op->state == POLICY_SEVERED || !cfg->policy.enabled ||
		    op->state == POLICY_ADMITTED) {
			pp->state = op->state == POLICY_PENDING &&
			    !cfg->policy.enabled ? POLICY_ADMITTED : op->state;
			memcpy(pp->reason, op->reason, sizeof(pp->reason));
			memcpy(pp->by, op->by, sizeof(pp->by));
			pp->since = op->since;
		}
		pp->warned = op->warned;
		/* The held attestation, checked under the new anchor. */
		if (op->have && p->anchor != NULL && attest_verify(p->anchor,
		    op->raw, op->rawlen, now, &a, why, sizeof(why)) == 0)
			policy_hold(pp, &a, op->raw, op->rawlen);
		/* Attestations just turned on: pending, not severed. */
		if (cfg->policy.enabled && pp->state == POLICY_ADMITTED &&
		    !pp->have) {
			pp->state = POLICY_PENDING;
			snprintf(pp->reason, sizeof(pp->reason),
			    "no attestation");
		}
	}
	p->dirty = 1;
	return p;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->npeers; i++) {
		attest_free(&p->peers[i].att);
		free(p->peers[i].raw);
	}
	free(p->peers);
	free(p->sorted);
	catalog_free(p->controls, p->ncontrols);
	attest_anchor_free(p->anchor);
	free(p);
}

/* ---- control views ------------------------------------------------------------ */

static void
time_kv(struct json_buf *j, const char *key, int64_t t)
{
	char b[40];

	if (t == 0)
		return;
	units_format_datetime(t, b, sizeof(b));
	json_kv_str(j, key, b);
}

void
policy_peers_json(const struct policy *p, int64_t now, struct json_buf *j)
{
	json_array_begin(j);
	for (size_t i = 0; i < p->npeers; i++) {
		const struct policy_peer *pp = &p->peers[i];
		char why[POLICY_ERR_MAX];

		json_object_begin(j);
		json_kv_str(j, "peer", pp->name);
		json_kv_str(j, "state", policy_state_name(pp->state));
		json_kv_str(j, "reason", pp->reason[0] ? pp->reason : "-");
		json_kv_str(j, "by", pp->by);
		time_kv(j, "since", pp->since);
		if (pp->have) {
			verdict(p, pp, now, why, sizeof(why));
			json_kv_str(j, "attestation", why);
			time_kv(j, "expires", pp->att.expires);
			json_kv_str(j, "assessor", pp->att.assessor);
		} else
			json_kv_str(j, "attestation", p->anchor ? "none" :
			    "not in use");
		json_object_end(j);
	}
	json_array_end(j);
}

int
policy_attest_json(const struct policy *p, const char *peer, int64_t now,
    struct json_buf *j, char *err, size_t errlen)
{
	const struct policy_peer *pp = policy_peer(p, peer);
	const struct config_strlist *req;
	char why[POLICY_ERR_MAX];

	if (pp == NULL)
		return units_errf(err, errlen, "%s is not a configured peer",
		    peer);
	json_kv_str(j, "peer", pp->name);
	json_kv_str(j, "state", policy_state_name(pp->state));
	json_kv_str(j, "reason", pp->reason[0] ? pp->reason : "-");
	if (!pp->have) {
		json_kv_str(j, "attestation", "none");
		return 0;
	}
	verdict(p, pp, now, why, sizeof(why));
	json_kv_str(j, "verdict", why);
	json_kv_str(j, "interface", pp->att.interface);
	json_kv_str(j, "importance", pp->att.importance == 'A' ? "A" : "B");
	json_kv_str(j, "assessor", pp->att.assessor);
	json_kv_str(j, "assessor_kind", attest_kind_name(pp->att.kind));
	json_kv_str(j, "signer", pp->att.signer);
	time_kv(j, "issued", pp->att.issued);
	time_kv(j, "expires", pp->att.expires);
	json_kv_str(j, "sha256", pp->att.sha256);
	json_key(j, "controls");
	json_array_begin(j);
	for (size_t i = 0; i < pp->att.ncontrols; i++)
		json_string(j, pp->att.controls[i]);
	json_array_end(j);
	req = policy_cfg_peer(p, pp)->importance == 1 ?
	    &p->cfg->policy.required_a : &p->cfg->policy.required_b;
	json_key(j, "missing");
	json_array_begin(j);
	for (size_t i = 0; i < req->n; i++)
		if (!has_control(&pp->att, req->v[i]))
			json_string(j, req->v[i]);
	json_array_end(j);
	return 0;
}
