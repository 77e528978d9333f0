/*
 * enforce — the policy's decisions carried out on the edges.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "acgw/enforce.h"
#include "acgw/log.h"
#include "acgw/r1.h"
#include "acgw/r3.h"
#include "acgw/relay.h"
#include "acgw/units.h"

/* A file of the watched directory already looked at. */
struct seen_file {
	char name[256];
	off_t size;
	struct timespec mtime;
};

struct enforce {
	struct event_base *base;
	struct policy *policy;
	struct r1 *r1;
	struct r3 *r3;
	struct relay *relay;
	struct audit *audit;
	struct event *timer;
	struct event *soon;		/* a review on the next turn */
	uint64_t timer_ms;
	struct seen_file *seen;
	size_t nseen;
};

/*
 * One durable record. A record that cannot be written does not stop a
 * severance (refusing is the safe side) but is said loudly.
 */
static int
record(struct enforce *e, const char *type, const char *actor,
    const char *peer, const char *k1, const char *v1, const char *k2,
    const char *v2)
{
	struct json_buf j;
	char err[AUDIT_ERR_MAX];
	int rc = 0;

	if (e->audit == NULL)
		return 0;
	json_init(&j, 8192);
	json_object_begin(&j);
	if (k1)
		json_kv_str(&j, k1, v1);
	if (k2)
		json_kv_str(&j, k2, v2);
	json_object_end(&j);
	if (j.failed || audit_append_sync(e->audit, type, actor, peer, j.s,
	    err, sizeof(err)) != 0) {
		log_warnx("enforce: CANNOT RECORD %s for %s in the audit log: %s",
		    type, peer ? peer : "-", j.failed ? "too large" : err);
		rc = -1;
	}
	json_free(&j);
	return rc;
}

static void
commit(struct enforce *e)
{
	char err[POLICY_ERR_MAX];

	if (policy_commit(e->policy, err, sizeof(err)) != 0)
		log_warnx("enforce: cannot write the policy state: %s; a restart "
		    "would not know of this change", err);
}

const char *
enforce_gate(void *arg, const char *peer)
{
	struct enforce *e = arg;

	return policy_refusal(e->policy, peer);
}

/* ---- severance ------------------------------------------------------------ */

static void
sever(struct enforce *e, const char *peer, const char *reason, const char *by)
{
	struct timespec t0, t1;
	size_t closed;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* On record first; refused from here on (the gate asks policy). */
	record(e, "peer.severed", by, peer, "reason", reason, NULL, NULL);
	policy_mark(e->policy, peer, POLICY_SEVERED, reason, by, units_now_us());
	closed = r3_close_peer(e->r3, peer, "severed");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Then durable, so that a restart keeps it severed; then its
	 * events go to the others. */
	commit(e);
	relay_ra_set_active(e->relay, peer, 0, units_now_us());
	r1_kick(e->r1);
	log_warnx("enforce: %s SEVERED by %s: %s (%zu session(s) closed "
	    "%.2f ms after the decision; its events move to the others)",
	    peer, by, reason, closed, (t1.tv_sec - t0.tv_sec) * 1e3 +
	    (t1.tv_nsec - t0.tv_nsec) / 1e6);
}

static void
admit(struct enforce *e, const char *peer, const char *type,
    const char *by, const char *why)
{
	record(e, type, by, peer, "state", "admitted", "reason", why);
	policy_mark(e->policy, peer, POLICY_ADMITTED, "", by, units_now_us());
	commit(e);
	if (!policy_isolated(e->policy, "r3"))
		relay_ra_set_active(e->relay, peer, 1, units_now_us());
	log_notice("enforce: %s admitted (%s)", peer, why);
}

int
enforce_sever(struct enforce *e, const char *peer, const char *reason,
    const char *by, char *err, size_t errlen)
{
	int st = policy_state_of(e->policy, peer);

	if (st < 0)
		return units_errf(err, errlen, "%s is not a configured peer",
		    peer);
	if (st == POLICY_SEVERED)
		return units_errf(err, errlen, "%s is already severed", peer);
	sever(e, peer, reason, by);
	return 0;
}

int
enforce_restore(struct enforce *e, const char *peer, const char *by,
    char *err, size_t errlen)
{
	if (policy_restorable(e->policy, peer, units_now_us(), err, errlen) != 0)
		return -1;
	admit(e, peer, "peer.restored", by, "restored by an operator");
	return 0;
}

int
enforce_isolate(struct enforce *e, const char *which, int on,
    const char *by, char *err, size_t errlen)
{
	int r1 = strcmp(which, "r1") == 0 || strcmp(which, "all") == 0;
	int r3 = strcmp(which, "r3") == 0 || strcmp(which, "all") == 0;

	if (!r1 && !r3)
		return units_errf(err, errlen, "isolate: \"%s\" is not r1, r3 "
		    "or all", which);
	record(e, "peer.isolated", by, NULL, "interfaces", which, "state",
	    on ? "isolated" : "lifted");
	if (r1) {
		policy_set_isolated(e->policy, "r1", on);
		r1_isolate(e->r1, on);
	}
	if (r3) {
		policy_set_isolated(e->policy, "r3", on);
	}
	commit(e);
	if (r3) {
		for (size_t i = 0; i < policy_npeers(e->policy); i++) {
			const char *peer = policy_peer_name(e->policy, i);

			relay_ra_set_active(e->relay, peer, !on &&
			    policy_state_of(e->policy, peer) == POLICY_ADMITTED,
			    units_now_us());
			if (on)
				r3_close_peer(e->r3, peer, "R3 isolated");
		}
		r1_kick(e->r1);
	}
	log_warnx("enforce: %s %s by %s", which, on ? "ISOLATED" :
	    "isolation lifted", by);
	return 0;
}

/* ---- attestations ----------------------------------------------------------- */

static int take(struct enforce *e, const char *expect, const void *data,
    size_t len, const char *source, char *verdict, size_t vlen, char *err,
    size_t errlen);

int
enforce_attestation(struct enforce *e, const char *expect, const void *data,
    size_t len, const char *source, char *verdict, size_t vlen, char *err,
    size_t errlen)
{
	if (take(e, expect, data, len, source, verdict, vlen, err,
	    errlen) != 0)
		return -1;
	enforce_review(e);
	return 0;
}

/* Taken and on record; the peer's state follows at the next review. */
static int
take(struct enforce *e, const char *expect, const void *data, size_t len,
    const char *source, char *verdict, size_t vlen, char *err,
    size_t errlen)
{
	char peer[128] = "";

	int rc = policy_offer(e->policy, expect, data, len, units_now_us(), peer,
	    sizeof(peer), err, errlen);

	/* The directory's files are read again at every start: quiet. */
	if (rc == 1 && strncmp(source, "directory", 9) == 0)
		return -1;
	if (rc != 0) {
		record(e, "attestation.rejected", source, peer[0] ? peer :
		    expect, "reason", err, NULL, NULL);
		log_warnx("enforce: attestation from %s%s%s rejected: %s", source,
		    peer[0] || expect ? " for " : "", peer[0] ? peer :
		    expect ? expect : "", err);
		return -1;
	}
	policy_evaluate(e->policy, peer, units_now_us(), verdict, vlen);
	record(e, "attestation.accepted", source, peer, "verdict", verdict,
	    NULL, NULL);
	commit(e);
	log_notice("enforce: attestation for %s from %s taken; its verdict: %s",
	    peer, source, verdict);
	return 0;
}

int
enforce_upload(struct enforce *e, const char *peer, const unsigned char pin[32],
    const void *data, size_t len, char *verdict, size_t vlen, char *err,
    size_t errlen)
{
	struct attestation a;
	const struct attest_anchor *an = policy_anchor(e->policy);
	int found = 0;

	if (an == NULL)
		return units_errf(err, errlen, "attestations are not in use "
		    "(policy.enabled: false)");
	/* Only what names the key of the session it came on. */
	if (attest_verify(an, data, len, units_now_us(), &a, err, errlen) != 0)
		return take(e, peer, data, len, "upload", verdict, vlen, err,
		    errlen);
	for (size_t i = 0; i < a.npins && !found; i++)
		found = memcmp(a.pins[i], pin, 32) == 0;
	attest_free(&a);
	if (!found) {
		units_errf(err, errlen, "it does not name the key of the "
		    "session it came on");
		record(e, "attestation.rejected", "upload", peer, "reason", err,
		    NULL, NULL);
		log_warnx("enforce: attestation from upload for %s rejected: %s",
		    peer, err);
		return -1;
	}
	/*
	 * Taken now, judged a moment later: a verdict that severs the peer
	 * closes its sessions, and the reply to this upload must have left
	 * first (closing a session drops what it has not sent yet).
	 */
	if (take(e, peer, data, len, "upload", verdict, vlen, err,
	    errlen) != 0)
		return -1;
	{
		struct timeval later = { 0, 200000 };

		event_add(e->soon, &later);
	}
	return 0;
}

/* Files in policy.attestation_dir that are new or changed. */
static void
scan_dir(struct enforce *e, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL) {
		log_warnx("enforce: policy.attestation_dir %s: %s", dir,
		    strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096], err[POLICY_ERR_MAX], verdict[POLICY_ERR_MAX];
		char src[300], *buf;
		struct seen_file *s = NULL;
		struct stat st;
		ssize_t got;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size > ATTEST_MAX_SIZE)
			continue;
		for (size_t i = 0; i < e->nseen; i++)
			if (strcmp(e->seen[i].name, de->d_name) == 0)
				s = &e->seen[i];
		if (s && s->size == st.st_size && s->mtime.tv_sec ==
		    st.st_mtim.tv_sec && s->mtime.tv_nsec == st.st_mtim.tv_nsec)
			continue;
		if (s == NULL) {
			struct seen_file *v = realloc(e->seen, (e->nseen + 1) *
			    sizeof(*v));

			if (v == NULL)
				break;
			e->seen = v;
			s = &v[e->nseen++];
			snprintf(s->name, sizeof(s->name), "%s", de->d_name);
		}
		s->size = st.st_size;
		s->mtime = st.st_mtim;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
			continue;
		buf = malloc((size_t)st.st_size + 1);
		got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
		close(fd);
		snprintf(src, sizeof(src), "directory %.250s", de->d_name);
		/* All files first, one evaluation after (tick_cb). */
		if (got == st.st_size)
			take(e, NULL, buf, (size_t)got, src, verdict,
			    sizeof(verdict), err, sizeof(err));
		free(buf);
	}
	closedir(d);
}

/* ---- review --------------------------------------------------------------- */

void
enforce_review(struct enforce *e)
{
	struct policy_action *v;
	size_t n = 0;
	int64_t now = units_now_us();

	v = policy_review(e->policy, now, &n);
	for (size_t i = 0; i < n; i++) {
		struct policy_action *a = &v[i];

		switch (a->kind) {
		case POLICY_DO_SEVER:
			sever(e, a->peer, a->reason, "policy");
			break;
		case POLICY_DO_ADMIT:
			admit(e, a->peer, "peer.restored", "policy",
			    "its attestation passes");
			break;
		case POLICY_DO_RESTORE:
			admit(e, a->peer, "peer.restored", "policy", a->reason);
			break;
		case POLICY_DO_WARN:
			/* failure_action warn: a test setup, said loudly. */
			record(e, "attestation.rejected", "policy", a->peer,
			    "reason", a->reason, "action",
			    "warn only (policy.failure_action: warn)");
			log_warnx("enforce: %s WOULD BE SEVERED (%s), but "
			    "policy.failure_action is warn: a test setup only",
			    a->peer, a->reason);
			break;
		case POLICY_DO_EXPIRY:
			record(e, "attestation.expiring", "policy", a->peer,
			    "reason", a->reason, NULL, NULL);
			log_warnx("enforce: %s: %s; renew it before then", a->peer,
			    a->reason);
			policy_mark_warned(e->policy, a->peer, a->level);
			commit(e);
			break;
		}
	}
	free(v);
}

static void
anomalies(struct enforce *e)
{
	for (size_t i = 0; i < policy_npeers(e->policy); i++) {
		const char *peer = policy_peer_name(e->policy, i);
		uint64_t inv, mis;
		char why[POLICY_ERR_MAX];

		/* Not "policy": restore auto must not undo it at once. */
		if (relay_ra_counters(e->relay, peer, &inv, &mis) == 0 &&
		    policy_anomaly(e->policy, peer, inv, mis, units_now_us(), why,
		    sizeof(why)))
			sever(e, peer, why, "policy:anomaly");
	}
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct enforce *e = arg;
	const char *dir = policy_attestation_dir(e->policy);

	(void)fd, (void)what;
	if (dir != NULL)
		scan_dir(e, dir);
	anomalies(e);
	enforce_review(e);
}

static void
soon_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	enforce_review(arg);
}

static void
arm(struct enforce *e)
{
	uint64_t ms = policy_reevaluate_ms(e->policy);
	struct timeval tv;

	if (ms == e->timer_ms && evtimer_pending(e->timer, NULL))
		return;
	e->timer_ms = ms;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	event_del(e->timer);
	event_add(e->timer, &tv);
}

struct enforce *
enforce_new(struct event_base *base, struct policy *policy, struct r1 *r1,
    struct r3 *r3, struct relay *relay, struct audit *audit, char *err,
    size_t errlen)
{
	struct enforce *e = calloc(1, sizeof(*e));

	if (e == NULL || (e->timer = event_new(base, -1, EV_PERSIST, tick_cb,
	    e)) == NULL || (e->soon = event_new(base, -1, 0, soon_cb, e)) ==
	    NULL) {
		if (e && e->timer)
			event_free(e->timer);
		free(e);
		units_errf(err, errlen, "out of memory");
		return NULL;
	}
	e->base = base;
	e->policy = policy;
	e->r1 = r1;
	e->r3 = r3;
	e->relay = relay;
	e->audit = audit;
	r3_set_gate(r3, enforce_gate, e);
	arm(e);
	return e;
}

void
enforce_start(struct enforce *e)
{
	if (policy_isolated(e->policy, "r1")) {
		log_warnx("enforce: R1 stays isolated, as before the restart");
		r1_isolate(e->r1, 1);
	}
	for (size_t i = 0; i < policy_npeers(e->policy); i++) {
		const char *peer = policy_peer_name(e->policy, i);

		relay_ra_set_active(e->relay, peer, policy_state_of(e->policy,
		    peer) == POLICY_ADMITTED && !policy_isolated(e->policy,
		    "r3"), units_now_us());
	}
	tick_cb(-1, 0, e);
}

void
enforce_set_policy(struct enforce *e, struct policy *policy)
{
	e->policy = policy;
	arm(e);
	{
		/* A new or changed directory is read before any verdict. */
		const char *dir = policy_attestation_dir(policy);

		e->nseen = 0;
		if (dir != NULL)
			scan_dir(e, dir);
	}
	/* What the new policy says of every peer, now. */
	for (size_t i = 0; i < policy_npeers(policy); i++) {
		const char *peer = policy_peer_name(policy, i);

		relay_ra_set_active(e->relay, peer, policy_state_of(policy,
		    peer) == POLICY_ADMITTED && !policy_isolated(policy, "r3"),
		    units_now_us());
	}
	enforce_review(e);
}

void
enforce_free(struct enforce *e)
{
	if (e == NULL)
		return;
	if (e->timer)
		event_free(e->timer);
	if (e->soon)
		event_free(e->soon);
	free(e->seen);
	free(e);
}
