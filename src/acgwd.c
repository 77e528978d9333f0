/*
 * acgwd — the aggregation coordinator's interconnect gateway daemon.
 *
 * This file is the lifecycle only: options, start-up, signals, reload
 * (build the new state, check it, then swap; the old stays if the new
 * fails), graceful stop and the systemd handshake. Everything else lives
 * in its own module.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "acgw/audit.h"
#include "acgw/config.h"
#include "acgw/compliance.h"
#include "acgw/control.h"
#include "acgw/enforce.h"
#include "acgw/log.h"
#include "acgw/notify.h"
#include "acgw/oadr.h"
#include "acgw/policy.h"
#include "acgw/push.h"
#include "acgw/r1.h"
#include "acgw/r3.h"
#include "acgw/relay.h"
#include "acgw/tls.h"
#include "acgw/units.h"

#define ACGWD_DEFAULT_CONFIG SYSCONFDIR "/acgw/acgwd.yaml"

struct acgwd {
	struct event_base *base;
	struct config *cfg;
	struct tls *tls;
	struct oadr_schema *schema;	/* oadr.schema compiled, or NULL */
	const char *config_path;
	struct control *ctl;
	struct audit *audit;		/* NULL with audit.enabled: false */
	struct r1 *r1;
	struct r3 *r3;
	struct relay *relay;		/* the VEN, the VTN and the engine */
	struct push *push;		/* ... and its pushes to push RAs */
	struct policy *policy;		/* who may stay interconnected */
	struct enforce *enforce;	/* ... and its decisions carried out */
	struct event *ev_relay;		/* its clock: deadlines and reports */
	struct event *ev_expiry;
	/* Last expiry state logged per watched file ("what path"). */
	struct expiry_seen {
		char key[360];
		enum tls_expiry state;
	} *expiry_seen;
	size_t nexpiry_seen;
	struct notify *notify;
	struct event *ev_term, *ev_int, *ev_hup;
	struct event *ev_watchdog;
	struct event *ev_drain;
	time_t started;
	struct timespec started_mono;
	struct timespec stop_deadline;
	uint64_t reloads, reload_failures;
	time_t last_reload;
	char last_reload_error[CONFIG_ERR_MAX];
	int stopping;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: acgwd [-f] [-t] [-c FILE]\n"
	    "       acgwd -V | -h\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground (systemd runs acgwd so)\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print the version and exit\n"
	    "  -h       print this help and exit\n", ACGWD_DEFAULT_CONFIG);
}

static void
format_utc(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A durable record, or -1 with why: the action must then not happen. */
static int
acgwd_record(struct acgwd *d, const char *type, const char *actor,
    struct json_buf *details, char *err, size_t errlen)
{
	if (d->audit == NULL)
		return 0;
	if (details->failed) {
		snprintf(err, errlen, "audit record too large");
		return -1;
	}
	return audit_append_sync(d->audit, type, actor, NULL, details->s, err,
	    errlen);
}

static void
print_config_errors(const struct config_errors *errs)
{
	size_t shown = errs->count < CONFIG_ERRS_MAX ? errs->count :
	    CONFIG_ERRS_MAX;

	for (size_t i = 0; i < shown; i++)
		fprintf(stderr, "%s\n", errs->msg[i]);
	if (errs->count > shown)
		fprintf(stderr, "(%zu more errors not shown)\n",
		    errs->count - shown);
}

/* ---- watchdog ------------------------------------------------------- */

static void
acgwd_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acgwd *d = arg;

	notify_watchdog(d->notify);
}

static int
acgwd_watchdog_arm(struct acgwd *d)
{
	uint64_t usec = notify_watchdog_usec(d->notify);
	struct timeval tv;

	if (usec == 0)
		return 0;
	usec /= d->cfg->daemon.watchdog_fraction;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	if (d->ev_watchdog == NULL)
		d->ev_watchdog = event_new(d->base, -1, EV_PERSIST,
		    acgwd_watchdog_cb, d);
	if (d->ev_watchdog == NULL || event_add(d->ev_watchdog, &tv) != 0)
		return -1;
	return 0;
}

/* ---- certificate and CRL expiry ------------------------------------ */

static enum tls_expiry *
acgwd_expiry_slot(struct acgwd *d, const struct tls_watch *w)
{
	char key[360];
	struct expiry_seen *v;

	snprintf(key, sizeof(key), "%s %s", w->what, w->path);
	for (size_t i = 0; i < d->nexpiry_seen; i++)
		if (strcmp(d->expiry_seen[i].key, key) == 0)
			return &d->expiry_seen[i].state;
	v = realloc(d->expiry_seen, (d->nexpiry_seen + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	d->expiry_seen = v;
	v = &v[d->nexpiry_seen++];
	snprintf(v->key, sizeof(v->key), "%s", key);
	v->state = TLS_EXPIRY_OK;
	return &v->state;
}

/*
 * Logs each certificate or CRL once per threshold it crosses (warning,
 * critical, expired), so an operator is told early and not every hour.
 */
static void
acgwd_expiry_check(struct acgwd *d)
{
	const struct tls_watch *w;
	time_t now = time(NULL);
	size_t n;

	w = tls_watches(d->tls, &n);
	for (size_t i = 0; i < n; i++) {
		enum tls_expiry st = tls_watch_state(&w[i], now,
		    d->cfg->tls.expiry_warning_ms, d->cfg->tls.expiry_critical_ms);
		enum tls_expiry *seen = acgwd_expiry_slot(d, &w[i]);
		char until[32];

		if (seen == NULL || st == *seen)
			continue;
		*seen = st;
		if (st == TLS_EXPIRY_OK)
			continue;
		format_utc(w[i].until, until, sizeof(until));
		if (d->audit != NULL) {
			struct json_buf j;

			json_init(&j, 4096);
			json_object_begin(&j);
			json_kv_str(&j, "what", w[i].what);
			json_kv_str(&j, "path", w[i].path);
			json_kv_str(&j, "until", until);
			json_kv_str(&j, "state", tls_expiry_name(st));
			json_object_end(&j);
			if (j.failed || audit_append(d->audit, "tls.expiry",
			    "system", NULL, j.s, NULL, NULL) != 0)
				log_warnx("cannot record the expiry warning in "
				    "the audit log");
			json_free(&j);
		}
		if (w[i].is_crl)
			log_warnx("%s %s (%s): %s: nextUpdate %s%s", w[i].what,
			    w[i].path, w[i].subject, st == TLS_EXPIRED ?
			    "CRL is stale" : "CRL nextUpdate is near", until,
			    st == TLS_EXPIRED ? "; fetch a fresh CRL and reload"
			    : "");
		else
			log_warnx("%s %s (%s): certificate %s: notAfter %s; "
			    "renew it and reload", w[i].what, w[i].path,
			    w[i].subject, tls_expiry_name(st), until);
	}
}

static void
acgwd_expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	acgwd_expiry_check(arg);
}

static int
acgwd_expiry_arm(struct acgwd *d)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(d->cfg->tls.expiry_check_ms / 1000);
	tv.tv_usec = (suseconds_t)(d->cfg->tls.expiry_check_ms % 1000) * 1000;
	if (d->ev_expiry == NULL)
		d->ev_expiry = event_new(d->base, -1, EV_PERSIST,
		    acgwd_expiry_cb, d);
	if (d->ev_expiry == NULL || event_add(d->ev_expiry, &tv) != 0)
		return -1;
	return 0;
}

static void
acgwd_expiry_json(struct acgwd *d, struct json_buf *j)
{
	const struct tls_watch *w;
	time_t now = time(NULL);
	size_t n;
	char until[32];

	w = tls_watches(d->tls, &n);
	json_array_begin(j);
	for (size_t i = 0; i < n; i++) {
		format_utc(w[i].until, until, sizeof(until));
		json_object_begin(j);
		json_kv_str(j, "what", w[i].what);
		json_kv_str(j, "kind", w[i].is_crl ? "crl" : "certificate");
		json_kv_str(j, "until", until);
		json_kv_int(j, "days_left", (int64_t)(w[i].until - now) / 86400);
		json_kv_str(j, "state", tls_expiry_name(tls_watch_state(&w[i],
		    now, d->cfg->tls.expiry_warning_ms,
		    d->cfg->tls.expiry_critical_ms)));
		json_kv_str(j, "path", w[i].path);
		json_object_end(j);
	}
	json_array_end(j);
}

/* ---- the relay's edges ---------------------------------------------- */

static int
acgwd_up_next(void *arg, const char **service, char **doc, size_t *len,
    uint64_t *wait_ms)
{
	struct acgwd *d = arg;

	return relay_up_next(d->relay, units_now_us(), service, doc, len,
	    wait_ms);
}

static void
acgwd_up_answer(void *arg, int status, const char *body, size_t len)
{
	struct acgwd *d = arg;

	relay_up_answer(d->relay, units_now_us(), status, body, len);
}

static void
acgwd_up_failed(void *arg)
{
	struct acgwd *d = arg;

	relay_up_failed(d->relay, units_now_us());
}

static int
acgwd_ra_request(void *arg, const char *peer, const char *service,
    const char *body, size_t len, char **reply, size_t *replylen,
    void **token, char *err, size_t errlen)
{
	struct acgwd *d = arg;
	struct relay_undo *undo = NULL;
	int code = relay_ra_request(d->relay, peer, service, body, len,
	    units_now_us(), reply, replylen, &undo, err, errlen);

	*token = undo;
	/* An answer or telemetry may settle something owed to the TSO. */
	if (strcmp(service, "OadrPoll") != 0)
		r1_kick(d->r1);
	return code;
}

/* Once per turn of the loop, before the RAs' replies leave. */
static int
acgwd_ra_sync(void *arg)
{
	struct acgwd *d = arg;

	return relay_flush(d->relay);
}

static void
acgwd_ra_done(void *arg, void *token, int sent)
{
	struct acgwd *d = arg;

	if (!sent)
		relay_undo_apply(d->relay, token);
	relay_undo_free(token);
}

static void
acgwd_relay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acgwd *d = arg;

	if (relay_tick(d->relay, units_now_us()))
		r1_kick(d->r1);
}

/*
 * An RA's attestation over its own mTLS session: POST /acgw/attestation
 * with the file as the body. It must be about that peer and name the key
 * of the session it came on.
 */
static void
acgwd_upload(void *arg, const char *peer, struct evhttp_request *req)
{
	struct acgwd *d = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req), *out;
	size_t len = evbuffer_get_length(in);
	unsigned char pin[32];
	char verdict[POLICY_ERR_MAX], err[POLICY_ERR_MAX], msg[1200];
	const char *body;
	int code = 200;

	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 503, "Service Unavailable");
		return;
	}
	body = len ? (const char *)evbuffer_pullup(in, -1) : "";
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		code = 405;
		snprintf(msg, sizeof(msg), "POST the attestation\n");
	} else if (r3_request_pin(req, pin) != 0) {
		code = 403;
		snprintf(msg, sizeof(msg), "no session identity\n");
	} else if (enforce_upload(d->enforce, peer, pin, body, len, verdict,
	    sizeof(verdict), err, sizeof(err)) != 0) {
		code = 400;
		snprintf(msg, sizeof(msg), "rejected: %s\n", err);
	} else
		snprintf(msg, sizeof(msg), "accepted: %s\n", verdict);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add(out, msg, strlen(msg));
	evhttp_send_reply(req, code, code == 200 ? "OK" : code == 400 ?
	    "Bad Request" : code == 403 ? "Forbidden" : "Method Not Allowed",
	    out);
	evbuffer_free(out);
}

/* ---- reload --------------------------------------------------------- */

/*
 * The last step that may fail: the audit log takes the new settings and
 * records the change; only then is anything switched.
 */
static int
acgwd_audit_reload(struct acgwd *d, const struct config *ncfg, char *err,
    size_t errlen)
{
	char oldsha[65], newsha[65];
	struct json_buf j;
	int changed, rc;

	if ((d->audit != NULL) != (ncfg->audit.enabled != 0)) {
		snprintf(err, errlen, "audit.enabled cannot change on a reload; "
		    "restart acgwd");
		return -1;
	}
	if (d->audit == NULL)
		return 0;
	if (audit_reconfigure(d->audit, ncfg, err, errlen) != 0)
		return -1;
	units_hex(d->cfg->sha256, sizeof(d->cfg->sha256), oldsha);
	units_hex(ncfg->sha256, sizeof(ncfg->sha256), newsha);
	changed = strcmp(oldsha, newsha) != 0;
	json_init(&j, 4096);
	json_object_begin(&j);
	json_kv_str(&j, "config", d->config_path);
	json_kv_str(&j, "sha256", newsha);
	if (changed)
		json_kv_str(&j, "previous_sha256", oldsha);
	json_object_end(&j);
	rc = acgwd_record(d, changed ? "config.changed" : "daemon.reload",
	    "system", &j, err, errlen);
	json_free(&j);
	if (rc != 0)
		/* The old settings stay in force with the old config. */
		audit_reconfigure(d->audit, d->cfg, err, errlen);
	return rc;
}

/* oadr.schema, compiled; *out NULL when the key is unset. */
static int
acgwd_load_schema(const struct config *cfg, struct oadr_schema **out,
    char *err, size_t errlen)
{
	char where[512], why[OADR_ERR_MAX];

	*out = NULL;
	if (cfg->oadr.schema == NULL)
		return 0;
	if ((*out = oadr_schema_load(cfg->oadr.schema, why, sizeof(why))) !=
	    NULL)
		return 0;
	config_locate(cfg, "oadr.schema", -1, where, sizeof(where));
	snprintf(err, errlen, "%s: %s", where, why);
	return -1;
}

static int
acgwd_reload(struct acgwd *d, char *err, size_t errlen)
{
	struct config_errors errs;
	struct config *ncfg, *old;
	struct tls *ntls, *oldtls;
	struct oadr_schema *nschema;
	struct policy *npolicy = NULL;
	char sha[65];

	log_notice("reloading %s", d->config_path);
	notify_reloading(d->notify);
	d->last_reload = time(NULL);
	if ((ncfg = config_load(d->config_path, &errs)) == NULL) {
		size_t shown = errs.count < CONFIG_ERRS_MAX ? errs.count :
		    CONFIG_ERRS_MAX;

		for (size_t i = 0; i < shown; i++)
			log_warnx("reload failed, keeping the running "
			    "configuration: %s", errs.msg[i]);
		snprintf(err, errlen, "%s", errs.msg[0]);
		goto fail;
	}
	if ((ntls = tls_new(ncfg, err, errlen)) == NULL) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", err);
		config_free(ncfg);
		goto fail;
	}
	if (acgwd_load_schema(ncfg, &nschema, err, errlen) != 0) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", err);
		tls_free(ntls);
		config_free(ncfg);
		goto fail;
	}
	if (control_prepare(d->ctl, ncfg, err, errlen) != 0) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", err);
		oadr_schema_free(nschema);
		tls_free(ntls);
		config_free(ncfg);
		goto fail;
	}
	if (r3_prepare(d->r3, ncfg, err, errlen) != 0 ||
	    relay_prepare(d->relay, ncfg, err, errlen) != 0 ||
	    (npolicy = policy_reload(d->policy, ncfg, units_now_us(), err,
	    errlen)) == NULL ||
	    acgwd_audit_reload(d, ncfg, err, errlen) != 0) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", err);
		policy_free(npolicy);
		relay_abort(d->relay);
		r3_abort(d->r3);
		control_abort(d->ctl);
		oadr_schema_free(nschema);
		tls_free(ntls);
		config_free(ncfg);
		goto fail;
	}
	/* Nothing below can fail: switch over. */
	old = d->cfg;
	oldtls = d->tls;
	d->cfg = ncfg;
	d->tls = ntls;
	control_commit(d->ctl, ncfg);
	r3_commit(d->r3, ncfg, ntls);
	r1_commit(d->r1, ncfg, ntls);
	relay_switch(d->relay, ncfg, nschema, units_now_us());
	push_commit(d->push, ncfg, ntls);
	enforce_set_policy(d->enforce, npolicy);
	policy_free(d->policy);
	d->policy = npolicy;
	oadr_schema_free(d->schema);
	d->schema = nschema;
	tls_free(oldtls);
	acgwd_expiry_arm(d);
	acgwd_expiry_check(d);
	log_set_level(ncfg->log.level);
	if (acgwd_watchdog_arm(d) != 0)
		log_warnx("cannot re-arm the watchdog timer");
	config_free(old);
	d->reloads++;
	d->last_reload_error[0] = '\0';
	units_hex(ncfg->sha256, sizeof(ncfg->sha256), sha);
	log_notice("configuration reloaded (sha256 %s)", sha);
	notify_ready(d->notify, "running");
	return 0;
fail:
	d->reload_failures++;
	snprintf(d->last_reload_error, sizeof(d->last_reload_error), "%s",
	    err);
	notify_send(d->notify, "READY=1\nSTATUS=running; last reload failed");
	return -1;
}

/* ---- control commands ---------------------------------------------- */

/* Every operator command is on record before it runs. */
static int
acgwd_audit_command(void *arg, const struct control_caller *who,
    const char *line, char *err, size_t errlen)
{
	struct acgwd *d = arg;
	struct json_buf j;
	char actor[32];
	int rc;

	json_init(&j, 8192);
	json_object_begin(&j);
	json_kv_int(&j, "uid", (int64_t)who->uid);
	json_kv_int(&j, "pid", (int64_t)who->pid);
	json_kv_str(&j, "command", line);
	json_object_end(&j);
	snprintf(actor, sizeof(actor), "operator:%ld", (long)who->uid);
	rc = acgwd_record(d, "operator.command", actor, &j, err, errlen);
	json_free(&j);
	return rc;
}

static int
acgwd_cmd_status(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;
	struct timespec now;
	char buf[80], sha[65];
	uint64_t hits, misses;
	size_t held;

	if (argc != 1) {
		snprintf(err, errlen, "usage: status");
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	json_kv_str(j, "version", PACKAGE_VERSION);
	json_kv_int(j, "pid", (int64_t)getpid());
	format_utc(d->started, buf, sizeof(buf));
	json_kv_str(j, "started", buf);
	json_kv_int(j, "uptime_s", (int64_t)(now.tv_sec -
	    d->started_mono.tv_sec));
	json_kv_str(j, "state", d->stopping ? "stopping" : "running");
	json_kv_str(j, "config", d->config_path);
	units_hex(d->cfg->sha256, sizeof(d->cfg->sha256), sha);
	json_kv_str(j, "config_sha256", sha);
	json_kv_str(j, "log_level", log_level_name(d->cfg->log.level));
	json_kv_str(j, "control_socket", d->cfg->control.socket);
	json_kv_uint(j, "control_clients", control_nclients(d->ctl));
	json_kv_uint(j, "reloads", d->reloads);
	json_kv_uint(j, "reload_failures", d->reload_failures);
	if (d->last_reload != 0) {
		format_utc(d->last_reload, buf, sizeof(buf));
		json_kv_str(j, "last_reload", buf);
	}
	if (d->last_reload_error[0] != '\0')
		json_kv_str(j, "last_reload_error", d->last_reload_error);
	json_kv_uint(j, "watchdog_usec", notify_watchdog_usec(d->notify));
	json_kv_str(j, "your_role", control_role_name(who->role));
	json_kv_str(j, "r3_listen", d->cfg->r3.listen.text ?
	    d->cfg->r3.listen.text : "-");
	json_kv_uint(j, "r3_sessions", r3_nsessions(d->r3));
	tls_verify_cache_stats(d->tls, &hits, &misses, &held);
	json_kv_uint(j, "verify_cache_entries", held);
	json_kv_uint(j, "verify_cache_hits", hits);
	json_kv_uint(j, "verify_cache_misses", misses);
	r1_status_json(d->r1, j);
	if (d->audit != NULL)
		audit_status_json(d->audit, j);
	else
		json_kv_str(j, "audit_state", "disabled");
	json_kv_uint(j, "peers_configured", d->cfg->peers.n);
	json_key(j, "certificates");
	acgwd_expiry_json(d, j);
	return 0;
}

/* audit tail [N] [after SEQ] | audit search [--type T] [--peer P] ... */
static int
acgwd_cmd_audit(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;
	static const char usage[] = "usage: audit tail [N] [after SEQ] | "
	    "audit search [--type T] [--peer P] [--since TIME] [--until TIME] "
	    "[--limit N]";
	uint64_t n = 20, after = 0;
	char uerr[UNITS_ERR_MAX];

	if (d->audit == NULL) {
		snprintf(err, errlen, "the audit log is disabled "
		    "(audit.enabled: false)");
		return -1;
	}
	if (argc >= 2 && strcmp(argv[1], "tail") == 0) {
		int i = 2;

		if (i < argc && strcmp(argv[i], "after") != 0 &&
		    (units_parse_uint(argv[i++], &n, uerr, sizeof(uerr)) != 0 ||
		    n == 0 || n > 100000)) {
			snprintf(err, errlen, "audit tail: N must be 1..100000");
			return -1;
		}
		if (i + 1 < argc && strcmp(argv[i], "after") == 0) {
			if (units_parse_uint(argv[i + 1], &after, uerr,
			    sizeof(uerr)) != 0) {
				snprintf(err, errlen, "audit tail: %s", uerr);
				return -1;
			}
			i += 2;
		}
		if (i != argc) {
			snprintf(err, errlen, "%s", usage);
			return -1;
		}
		json_key(j, "records");
		return audit_tail_json(d->audit, (size_t)n, after, j, err,
		    errlen);
	}
	if (argc >= 2 && strcmp(argv[1], "search") == 0) {
		struct audit_filter f = { NULL, NULL, NULL, NULL, 100 };

		for (int i = 2; i < argc; i += 2) {
			const char *v = i + 1 < argc ? argv[i + 1] : NULL;
			uint64_t lim;

			if (v == NULL) {
				snprintf(err, errlen, "%s", usage);
				return -1;
			}
			if (strcmp(argv[i], "--type") == 0) {
				if (!audit_type_valid(v)) {
					snprintf(err, errlen, "audit search: "
					    "unknown record type \"%.64s\"", v);
					return -1;
				}
				f.type = v;
			} else if (strcmp(argv[i], "--peer") == 0)
				f.peer = v;
			else if (strcmp(argv[i], "--since") == 0)
				f.since = v;
			else if (strcmp(argv[i], "--until") == 0)
				f.until = v;
			else if (strcmp(argv[i], "--limit") == 0 &&
			    units_parse_uint(v, &lim, uerr, sizeof(uerr)) == 0 &&
			    lim > 0 && lim <= 100000)
				f.limit = (size_t)lim;
			else {
				snprintf(err, errlen, "%s", usage);
				return -1;
			}
		}
		json_key(j, "records");
		return audit_search_json(d->audit, &f, j, err, errlen);
	}
	snprintf(err, errlen, "%s", usage);
	return -1;
}

static int
acgwd_cmd_peers(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;

	if (argc != 1) {
		snprintf(err, errlen, "usage: peers");
		return -1;
	}
	json_key(j, "sessions");
	r3_sessions_json(d->r3, j);
	return 0;
}

static int
acgwd_cmd_events(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;

	if (argc != 1) {
		snprintf(err, errlen, "usage: events");
		return -1;
	}
	relay_events_json(d->relay, units_now_us(), j);
	return 0;
}

/* "admitted", "pending: no attestation", "severed: expired at ...". */
static const char *
acgwd_admission(void *arg, const char *peer)
{
	static char buf[POLICY_ERR_MAX + 32];
	struct acgwd *d = arg;
	const char *why = policy_refusal(d->policy, peer);
	int st = policy_state_of(d->policy, peer);

	if (why == NULL)
		return "admitted";
	snprintf(buf, sizeof(buf), "%s: %s", st == POLICY_ADMITTED ?
	    "isolated" : policy_state_name(st), why);
	return buf;
}

static int
acgwd_cmd_ras(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;

	if (argc != 1) {
		snprintf(err, errlen, "usage: ras");
		return -1;
	}
	json_key(j, "ras");
	relay_ras_json(d->relay, units_now_us(), j, acgwd_admission, d);
	json_key(j, "push");
	push_json(d->push, j);
	return 0;
}

static int
acgwd_cmd_r1(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;

	if (argc != 1) {
		snprintf(err, errlen, "usage: r1");
		return -1;
	}
	r1_status_json(d->r1, j);
	relay_up_json(d->relay, j);
	return 0;
}

/* "operator:UID" for the record. */
static void
acgwd_actor(const struct control_caller *who, char *buf, size_t len)
{
	snprintf(buf, len, "operator:%ld", (long)who->uid);
}

/* sever PEER [--reason TEXT ...] */
static int
acgwd_cmd_sever(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;
	char reason[400] = "severed by an operator", actor[32];

	if (argc < 2 || (argc > 2 && (strcmp(argv[2], "--reason") != 0 ||
	    argc < 4))) {
		snprintf(err, errlen, "usage: sever PEER [--reason TEXT]");
		return -1;
	}
	if (argc > 3) {
		reason[0] = '\0';
		for (int i = 3; i < argc; i++) {
			size_t l = strlen(reason);

			snprintf(reason + l, sizeof(reason) - l, "%s%s",
			    l ? " " : "", argv[i]);
		}
	}
	acgwd_actor(who, actor, sizeof(actor));
	if (enforce_sever(d->enforce, argv[1], reason, actor, err, errlen) != 0)
		return -1;
	json_kv_str(j, "peer", argv[1]);
	json_kv_str(j, "state", "severed");
	json_kv_str(j, "reason", reason);
	return 0;
}

static int
acgwd_cmd_restore(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;
	char actor[32];

	if (argc != 2) {
		snprintf(err, errlen, "usage: restore PEER");
		return -1;
	}
	acgwd_actor(who, actor, sizeof(actor));
	if (enforce_restore(d->enforce, argv[1], actor, err, errlen) != 0)
		return -1;
	json_kv_str(j, "peer", argv[1]);
	json_kv_str(j, "state", "admitted");
	return 0;
}

/* isolate [--off] [r1|r3|all] */
static int
acgwd_cmd_isolate(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;
	const char *which = "all";
	char actor[32];
	int on = 1, i = 1;

	if (i < argc && strcmp(argv[i], "--off") == 0) {
		on = 0;
		i++;
	}
	if (i < argc)
		which = argv[i++];
	if (i != argc) {
		snprintf(err, errlen, "usage: isolate [--off] [r1|r3|all]");
		return -1;
	}
	acgwd_actor(who, actor, sizeof(actor));
	if (enforce_isolate(d->enforce, which, on, actor, err, errlen) != 0)
		return -1;
	json_kv_str(j, "isolated", which);
	json_kv_str(j, "state", on ? "isolated" : "lifted");
	return 0;
}

/* A file acgwd reads for an operator: regular, bounded. */
static char *
acgwd_read_file(const char *path, size_t max, size_t *len, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t got;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > max) {
		snprintf(err, errlen, "%s: not a regular file of at most %zu "
		    "bytes", path, max);
		close(fd);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL ||
	    (got = read(fd, buf, (size_t)st.st_size)) != st.st_size) {
		snprintf(err, errlen, "%s: cannot read", path);
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	*len = (size_t)got;
	return buf;
}

/* attest load PEER FILE | attest show PEER | attest list */
static int
acgwd_cmd_attest(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;
	char verdict[POLICY_ERR_MAX], actor[32], *buf;
	size_t len;
	int rc;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		json_key(j, "peers");
		policy_peers_json(d->policy, units_now_us(), j);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "show") == 0)
		return policy_attest_json(d->policy, argv[2], units_now_us(), j,
		    err, errlen);
	if (argc == 4 && strcmp(argv[1], "load") == 0) {
		if (who->role != CONTROL_ROLE_OPERATOR) {
			snprintf(err, errlen, "permission denied: \"attest "
			    "load\" needs the operator role; uid %ld has the "
			    "%s role", (long)who->uid,
			    control_role_name(who->role));
			return -1;
		}
		if ((buf = acgwd_read_file(argv[3], ATTEST_MAX_SIZE, &len, err,
		    errlen)) == NULL)
			return -1;
		acgwd_actor(who, actor, sizeof(actor));
		rc = enforce_attestation(d->enforce, argv[2], buf, len, actor,
		    verdict, sizeof(verdict), err, errlen);
		free(buf);
		if (rc != 0)
			return -1;
		json_kv_str(j, "peer", argv[2]);
		json_kv_str(j, "verdict", verdict);
		json_kv_str(j, "state", policy_state_name(policy_state_of(
		    d->policy, argv[2])));
		return 0;
	}
	snprintf(err, errlen, "usage: attest load PEER FILE | attest show PEER "
	    "| attest list");
	return -1;
}

static int
acgwd_cmd_compliance(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;
	struct compliance_in in = { d->cfg, d->tls, d->audit, d->policy,
	    units_now_us() };

	if (argc != 1) {
		snprintf(err, errlen, "usage: compliance");
		return -1;
	}
	compliance_json(&in, j);
	return 0;
}

static int
acgwd_cmd_reload(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *j, char *err, size_t errlen)
{
	struct acgwd *d = arg;
	char sha[65];

	if (argc != 1) {
		snprintf(err, errlen, "usage: reload");
		return -1;
	}
	log_notice("reload requested by uid %ld (pid %ld)", (long)who->uid,
	    (long)who->pid);
	if (acgwd_reload(d, err, errlen) != 0)
		return -1;
	json_kv_str(j, "config", d->config_path);
	units_hex(d->cfg->sha256, sizeof(d->cfg->sha256), sha);
	json_kv_str(j, "config_sha256", sha);
	return 0;
}

/* ---- signals and stop ----------------------------------------------- */

static void
acgwd_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acgwd *d = arg;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (control_nclients(d->ctl) == 0 && r3_nsessions(d->r3) == 0) {
		event_base_loopbreak(d->base);
		return;
	}
	if (now.tv_sec > d->stop_deadline.tv_sec ||
	    (now.tv_sec == d->stop_deadline.tv_sec &&
	    now.tv_nsec >= d->stop_deadline.tv_nsec)) {
		log_warnx("stop: %zu control clients and %zu R3 sessions still "
		    "open after daemon.stop_timeout; closing them",
		    control_nclients(d->ctl), r3_nsessions(d->r3));
		event_base_loopbreak(d->base);
	}
}

static void
acgwd_stop(struct acgwd *d, const char *why)
{
	struct timeval tick = { 0, 20000 };
	uint64_t ms = d->cfg->daemon.stop_timeout_ms;

	if (d->stopping)
		return;
	d->stopping = 1;
	log_notice("stopping (%s)", why);
	notify_stopping(d->notify);
	if (d->audit != NULL) {
		char err[AUDIT_ERR_MAX], details[64];

		snprintf(details, sizeof(details), "{\"signal\":\"%s\"}", why);
		if (audit_append_sync(d->audit, "daemon.stop", "system", NULL,
		    details, err, sizeof(err)) != 0)
			log_warnx("cannot record the stop: %s", err);
	}
	control_shutdown(d->ctl);
	r3_shutdown(d->r3);
	r1_shutdown(d->r1);
	clock_gettime(CLOCK_MONOTONIC, &d->stop_deadline);
	d->stop_deadline.tv_sec += (time_t)(ms / 1000);
	d->stop_deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (d->stop_deadline.tv_nsec >= 1000000000L) {
		d->stop_deadline.tv_sec++;
		d->stop_deadline.tv_nsec -= 1000000000L;
	}
	d->ev_drain = event_new(d->base, -1, EV_PERSIST, acgwd_drain_cb, d);
	if (d->ev_drain == NULL || event_add(d->ev_drain, &tick) != 0)
		event_base_loopbreak(d->base);
}

static void
acgwd_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct acgwd *d = arg;
	char err[CONFIG_ERR_MAX];

	switch (sig) {
	case SIGHUP:
		if (!d->stopping)
			acgwd_reload(d, err, sizeof(err));
		break;
	case SIGTERM:
		acgwd_stop(d, "SIGTERM");
		break;
	case SIGINT:
		acgwd_stop(d, "SIGINT");
		break;
	}
}

/* ---- start-up ------------------------------------------------------- */

/*
 * Detach from the terminal. The parent waits until the child reports
 * that start-up finished (one byte on a pipe), so "acgwd" returns 1 when
 * the daemon could not start, like a foreground start would.
 */
static int
acgwd_detach(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c = 0;
	ssize_t r;

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		close(p[1]);
		while ((r = read(p[0], &c, 1)) == -1 && errno == EINTR)
			;
		/* EOF without a byte: the child failed and said why. */
		_exit(r == 1 && c == 'r' ? 0 : 1);
	}
	close(p[0]);
	if (setsid() == -1)
		fatal("setsid");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	*ready_fd = p[1];
	return 0;
}

static void
acgwd_detach_done(int ready_fd)
{
	int null;

	if (ready_fd == -1)
		return;
	log_init("acgwd", LOG_TARGET_SYSLOG, log_get_level());
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (write(ready_fd, "r", 1) != 1)
		log_warn("start-up pipe");
	close(ready_fd);
}

static int
acgwd_register_commands(struct acgwd *d)
{
	const struct control_command cmds[] = {
		{ "status", CONTROL_ROLE_READER, "status",
		    "version, pid, uptime, configuration and counters",
		    acgwd_cmd_status, d },
		{ "reload", CONTROL_ROLE_OPERATOR, "reload",
		    "reload the configuration (as SIGHUP does)",
		    acgwd_cmd_reload, d },
		{ "audit", CONTROL_ROLE_READER, "audit tail [N] | audit search "
		    "[--type T] [--peer P] [--since T] [--until T]",
		    "recent or matching audit records", acgwd_cmd_audit, d },
		{ "peers", CONTROL_ROLE_READER, "peers",
		    "every live R3 session: peer, address, TLS, pin, counters",
		    acgwd_cmd_peers, d },
		{ "events", CONTROL_ROLE_READER, "events",
		    "upstream events, each RA's part, delivery, answers, "
		    "coverage", acgwd_cmd_events, d },
		{ "ras", CONTROL_ROLE_READER, "ras",
		    "every RA: registration, last poll, availability, "
		    "contracted power, telemetry", acgwd_cmd_ras, d },
		{ "r1", CONTROL_ROLE_READER, "r1",
		    "the link to the TSO: venID, polls, backoff, failures",
		    acgwd_cmd_r1, d },
		{ "sever", CONTROL_ROLE_OPERATOR, "sever PEER [--reason TEXT]",
		    "stop interconnection with a peer at once",
		    acgwd_cmd_sever, d },
		{ "restore", CONTROL_ROLE_OPERATOR, "restore PEER",
		    "admit a severed peer again (its attestation must pass)",
		    acgwd_cmd_restore, d },
		{ "isolate", CONTROL_ROLE_OPERATOR, "isolate [--off] [r1|r3|all]",
		    "incident kill switch: close and refuse R1, R3 or both",
		    acgwd_cmd_isolate, d },
		{ "compliance", CONTROL_ROLE_READER, "compliance",
		    "the coordinator's posture against the guidelines, and "
		    "every peer's attestation", acgwd_cmd_compliance, d },
		{ "attest", CONTROL_ROLE_READER, "attest load PEER FILE | attest "
		    "show PEER | attest list",
		    "compliance attestations (load needs the operator role)",
		    acgwd_cmd_attest, d },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (control_register(d->ctl, &cmds[i]) != 0)
			return -1;
	return 0;
}

static void
acgwd_free(struct acgwd *d)
{
	control_free(d->ctl);
	r3_free(d->r3);
	r1_free(d->r1);
	enforce_free(d->enforce);
	/* What is in flight is taken back before the last write. */
	push_free(d->push);
	if (d->relay != NULL)
		relay_flush(d->relay);
	relay_free(d->relay);
	policy_free(d->policy);
	if (d->ev_relay) event_free(d->ev_relay);
	audit_close(d->audit);
	if (d->ev_expiry) event_free(d->ev_expiry);
	free(d->expiry_seen);
	if (d->ev_term) event_free(d->ev_term);
	if (d->ev_int) event_free(d->ev_int);
	if (d->ev_hup) event_free(d->ev_hup);
	if (d->ev_watchdog) event_free(d->ev_watchdog);
	if (d->ev_drain) event_free(d->ev_drain);
	notify_close(d->notify);
	oadr_schema_free(d->schema);
	if (d->tls != NULL) {
		size_t n;
		char err[TLS_ERR_MAX];

		if (tls_sessions_save(d->tls, &n, err, sizeof(err)) != 0)
			log_warnx("tls: sessions not kept: %s", err);
		else if (d->cfg->tls.keep_sessions)
			log_notice("tls: %zu session(s) kept for the next run "
			    "(tls.keep_sessions)", n);
	}
	tls_free(d->tls);
	config_free(d->cfg);
	/* Closed TLS bufferevents finish their deferred callbacks first. */
	if (d->base) {
		event_base_loop(d->base, EVLOOP_NONBLOCK);
		event_base_free(d->base);
	}
	libevent_global_shutdown();
}

int
main(int argc, char **argv)
{
	struct acgwd d;
	struct config_errors errs;
	const char *path = ACGWD_DEFAULT_CONFIG;
	int foreground = 0, test = 0, ch, ready_fd = -1;
	char err[TLS_ERR_MAX], sha[65];

	memset(&d, 0, sizeof(d));
	log_init("acgwd", LOG_TARGET_STDERR, LOG_LEVEL_INFO);
	while ((ch = getopt(argc, argv, "c:fthV")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'f': foreground = 1; break;
		case 't': test = 1; break;
		case 'V':
			printf("acgwd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	if ((d.cfg = config_load(path, &errs)) == NULL) {
		print_config_errors(&errs);
		return 1;
	}
	/* Certificates, keys, CAs and CRLs are part of the configuration. */
	if ((d.tls = tls_new(d.cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		config_free(d.cfg);
		return 1;
	}
	/* The audit log is part of the configuration too: it must exist. */
	if (d.cfg->audit.enabled) {
		char keypath[4096];
		unsigned char key[AUDIT_KEY_LEN];
		unsigned epoch;

		snprintf(keypath, sizeof(keypath), "%s/key", d.cfg->audit.dir);
		if (access(keypath, F_OK) != 0) {
			config_locate(d.cfg, "audit.dir", -1, err, sizeof(err));
			fprintf(stderr, "%s: %s has no key: create the log with "
			    "\"acgwctl audit init --dir %s\" and keep the K0 it "
			    "prints offline\n", err, d.cfg->audit.dir,
			    d.cfg->audit.dir);
			tls_free(d.tls);
			config_free(d.cfg);
			return 1;
		}
		if (audit_read_key(keypath, key, &epoch, err, sizeof(err)) != 0) {
			fprintf(stderr, "audit.dir: %s\n", err);
			tls_free(d.tls);
			config_free(d.cfg);
			return 1;
		}
		memset(key, 0, sizeof(key));
	}
	if (acgwd_load_schema(d.cfg, &d.schema, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		tls_free(d.tls);
		config_free(d.cfg);
		return 1;
	}
	{
		struct policy *p = policy_new(d.cfg, units_now_us(), err,
		    sizeof(err));

		if (p == NULL) {
			fprintf(stderr, "%s\n", err);
			oadr_schema_free(d.schema);
			tls_free(d.tls);
			config_free(d.cfg);
			return 1;
		}
		if (test)
			policy_free(p);
		else
			d.policy = p;
	}
	if (test) {
		printf("configuration ok\n");
		oadr_schema_free(d.schema);
		tls_free(d.tls);
		config_free(d.cfg);
		return 0;
	}
	d.config_path = path;
	log_set_level(d.cfg->log.level);
	signal(SIGPIPE, SIG_IGN);

	if (!foreground)
		acgwd_detach(&ready_fd);

	d.started = time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &d.started_mono);
	{
		/*
		 * The changelist folds an event removed and added again in
		 * one turn (each HTTP request and reply does that) into no
		 * epoll_ctl at all.
		 */
		struct event_config *ec = event_config_new();

		if (ec == NULL || event_config_set_flag(ec,
		    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) != 0 ||
		    (d.base = event_base_new_with_config(ec)) == NULL)
			fatalx("cannot create the event loop");
		event_config_free(ec);
	}
	d.notify = notify_open();
	if ((d.ctl = control_new(d.base, d.cfg, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (d.cfg->audit.enabled) {
		struct json_buf j;

		if ((d.audit = audit_open(d.base, d.cfg, err, sizeof(err))) ==
		    NULL)
			fatalx("audit: %s", err);
		control_set_audit(d.ctl, acgwd_audit_command, &d);
		json_init(&j, 4096);
		json_object_begin(&j);
		json_kv_str(&j, "version", PACKAGE_VERSION);
		json_kv_int(&j, "pid", (int64_t)getpid());
		json_kv_str(&j, "config", path);
		units_hex(d.cfg->sha256, sizeof(d.cfg->sha256), sha);
		json_kv_str(&j, "config_sha256", sha);
		json_object_end(&j);
		if (acgwd_record(&d, "daemon.start", "system", &j, err,
		    sizeof(err)) != 0)
			fatalx("audit: cannot record the start: %s", err);
		json_free(&j);
	} else
		log_warnx("the audit log is disabled (audit.enabled: false): "
		    "nothing acgwd does is recorded");
	if ((d.relay = relay_new(d.cfg, d.schema, d.audit, units_now_us(), err,
	    sizeof(err))) == NULL)
		fatalx("relay state: %s", err);
	if ((d.r3 = r3_new(d.base, d.cfg, d.tls, d.audit, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	if (r3_serve_oadr(d.r3, acgwd_ra_request, acgwd_ra_sync,
	    acgwd_ra_done, &d) != 0)
		fatalx("r3: out of memory");
	{
		const struct r1_conv conv = { acgwd_up_next, acgwd_up_answer,
		    acgwd_up_failed, &d };

		if ((d.r1 = r1_new(d.base, d.cfg, d.tls, &conv, d.audit)) ==
		    NULL)
			fatalx("r1: out of memory");
	}
	if ((d.push = push_new(d.base, d.relay, d.cfg, d.tls, err,
	    sizeof(err))) == NULL)
		fatalx("push: %s", err);
	if ((d.enforce = enforce_new(d.base, d.policy, d.r1, d.r3, d.relay,
	    d.audit, err, sizeof(err))) == NULL ||
	    r3_route(d.r3, "/acgw/attestation", acgwd_upload, &d) != 0)
		fatalx("policy: %s", err);
	enforce_start(d.enforce);
	{
		struct timeval sec = { 1, 0 };

		if ((d.ev_relay = event_new(d.base, -1, EV_PERSIST,
		    acgwd_relay_cb, &d)) == NULL ||
		    event_add(d.ev_relay, &sec) != 0)
			fatalx("cannot arm the relay timer");
	}
	if (acgwd_register_commands(&d) != 0)
		fatalx("out of memory");
	d.ev_term = evsignal_new(d.base, SIGTERM, acgwd_signal_cb, &d);
	d.ev_int = evsignal_new(d.base, SIGINT, acgwd_signal_cb, &d);
	d.ev_hup = evsignal_new(d.base, SIGHUP, acgwd_signal_cb, &d);
	if (d.ev_term == NULL || d.ev_int == NULL || d.ev_hup == NULL ||
	    event_add(d.ev_term, NULL) != 0 || event_add(d.ev_int, NULL) != 0 ||
	    event_add(d.ev_hup, NULL) != 0)
		fatalx("cannot install signal handlers");
	if (acgwd_watchdog_arm(&d) != 0)
		fatalx("cannot arm the watchdog timer");
	if (acgwd_expiry_arm(&d) != 0)
		fatalx("cannot arm the expiry timer");
	acgwd_expiry_check(&d);
	/*
	 * Last, so that a start that fails on the way keeps them for the
	 * next try (systemd's restart): nothing is accepted before this.
	 */
	{
		size_t n;

		if (tls_sessions_load(d.tls, &n, err, sizeof(err)) != 0)
			log_warnx("tls: sessions of the last run not taken "
			    "back: %s", err);
		else if (n > 0)
			log_notice("tls: %zu session(s) of the last run taken "
			    "back (tls.keep_sessions)", n);
	}

	units_hex(d.cfg->sha256, sizeof(d.cfg->sha256), sha);
	log_notice("acgwd %s started: pid %ld, config %s (sha256 %s), control "
	    "socket %s", PACKAGE_VERSION, (long)getpid(), path, sha,
	    d.cfg->control.socket);
	acgwd_detach_done(ready_fd);
	notify_ready(d.notify, "running");

	if (event_base_dispatch(d.base) == -1)
		log_warnx("event loop failed");
	log_notice("stopped");
	acgwd_free(&d);
	return 0;
}
