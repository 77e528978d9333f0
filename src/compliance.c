/*
 * compliance — the coordinator's own technical posture, row by row, each
 * naming the guideline sections it answers to (the prefixes of
 * etc/controls.yaml: ERAB = ERAB cybersecurity guideline, 特定卸 = the
 * METI aggregator licence guideline, JESC = the smart-meter system
 * guideline), then every peer's attestation state. The table a licence
 * audit asks for; read-only, computed on demand from what is in force.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acgw/compliance.h"
#include "acgw/units.h"

static void
row(struct json_buf *j, const char *area, const char *status,
    const char *sections, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
row(struct json_buf *j, const char *area, const char *status,
    const char *sections, const char *fmt, ...)
{
	char detail[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	json_object_begin(j);
	json_kv_str(j, "area", area);
	json_kv_str(j, "status", status);
	json_kv_str(j, "detail", detail);
	json_kv_str(j, "sections", sections);
	json_object_end(j);
}

/* "NoNewPrivs:\t1" and "Seccomp:\t2" of this process, if visible. */
static void
hardening(int *nnp, int *seccomp)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	*nnp = *seccomp = -1;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "NoNewPrivs:", 11) == 0)
			*nnp = atoi(line + 11);
		else if (strncmp(line, "Seccomp:", 8) == 0)
			*seccomp = atoi(line + 8);
	}
	fclose(f);
}

static void
keys(const struct compliance_in *in, struct json_buf *j)
{
	const char *paths[2] = { in->cfg->r3.key, in->cfg->r1.key };
	const char *what[2] = { "r3.key", "r1.key" };

	for (int i = 0; i < 2; i++) {
		char err[512];

		if (paths[i] == NULL)
			continue;
		if (tls_check_key_file(what[i], paths[i], err, sizeof(err)) == 0)
			row(j, "private key file", "ok", "JESC 6-2",
			    "%s %s: owner only", what[i], paths[i]);
		else
			row(j, "private key file", "fail", "JESC 6-2", "%s",
			    err);
	}
}

static void
certificates(const struct compliance_in *in, struct json_buf *j)
{
	const struct tls_watch *w;
	size_t n;

	w = tls_watches(in->tls, &n);
	for (size_t i = 0; i < n; i++) {
		enum tls_expiry st = tls_watch_state(&w[i],
		    (time_t)(in->now / 1000000), in->cfg->tls.expiry_warning_ms,
		    in->cfg->tls.expiry_critical_ms);
		char until[40];

		units_format_datetime((int64_t)w[i].until * 1000000, until,
		    sizeof(until));
		row(j, w[i].is_crl ? "CRL freshness" : "certificate validity",
		    st == TLS_EXPIRY_OK ? "ok" : st == TLS_EXPIRED ? "fail" :
		    "warning", w[i].is_crl ? "ERAB 3.6.3; JESC 6-2" :
		    "JESC 6-2", "%s %s: %s until %s", w[i].what, w[i].path,
		    tls_expiry_name(st), until);
	}
}

static void
peers(const struct compliance_in *in, struct json_buf *j)
{
	for (size_t i = 0; i < policy_npeers(in->policy); i++) {
		const char *name = policy_peer_name(in->policy, i);
		int st = policy_state_of(in->policy, name);
		char why[POLICY_ERR_MAX];
		int ok = policy_evaluate(in->policy, name, in->now, why,
		    sizeof(why)) == 0;

		if (!in->cfg->policy.enabled)
			row(j, "peer", st == POLICY_SEVERED ? "fail" : "warning",
			    "ERAB 3.6 相互接続の中止; 特定卸 (4)イ②", "%s: %s; no attestation "
			    "required (policy.enabled: false)", name,
			    policy_state_name(st));
		else
			row(j, "peer", st == POLICY_ADMITTED && ok ? "ok" :
			    st == POLICY_SEVERED ? "fail" : "warning",
			    "ERAB 3.6 相互接続の中止; 特定卸 (4)イ②", "%s: %s; attestation: "
			    "%s", name, policy_state_name(st), why);
	}
}

void
compliance_json(const struct compliance_in *in, struct json_buf *j)
{
	const struct config *cfg = in->cfg;
	int nnp, seccomp, wildcard = cfg->r3.listen.text != NULL &&
	    cfg->r3.listen.sa.wildcard;

	json_key(j, "rows");
	json_array_begin(j);
	row(j, "R3 mutual authentication", cfg->r3.listen.text ? "ok" : "info",
	    "ERAB 3.6.3; 特定卸 (4)ウ①; JESC 5-4",
	    cfg->r3.listen.text ? "client certificate required; %zu peer(s) "
	    "by CA and SPKI pin" : "R3 not configured (%zu peers)",
	    cfg->peers.n);
	row(j, "TLS versions and suites", "ok",
	    "ERAB 3.6.1, 3.6.3; 特定卸 (4)ウ①; JESC 6-2", "TLS %s and later; TLS 1.2 "
	    "ciphers %s; TLS 1.3 suites %s; no renegotiation, no "
	    "compression", cfg->tls.min_version ? "1.3" : "1.2",
	    cfg->tls.ciphers, cfg->tls.ciphersuites);
	if (cfg->r3.listen.text != NULL)
		row(j, "R3 bind address", wildcard ? "warning" : "ok",
		    "ERAB 3.6.1; 特定卸 (4)イ①", "%s%s", cfg->r3.listen.text,
		    wildcard ? ": a wildcard address (r3.allow_wildcard)" :
		    ": an explicit address");
	if (cfg->r1.url.text != NULL) {
		row(j, "R1 source binding", cfg->r1.source_address.text ||
		    cfg->r1.interface ? "ok" : "warning",
		    "ERAB 3.6.1; 特定卸 (4)ア", "r1.source_address %s, "
		    "r1.interface %s", cfg->r1.source_address.text ?
		    cfg->r1.source_address.text : "(none)",
		    cfg->r1.interface ? cfg->r1.interface : "(none)");
		row(j, "R1 server identity", cfg->r1.pin.set ? "ok" : "info",
		    "ERAB 3.6.1", "chain to r1.ca and name %s%s",
		    cfg->r1.server_name ? cfg->r1.server_name :
		    cfg->r1.url.host, cfg->r1.pin.set ? ", key pinned (r1.pin)"
		    : "; no r1.pin");
	}
	keys(in, j);
	certificates(in, j);
	if (in->audit == NULL)
		row(j, "audit log", "fail", "ERAB 4.1.4; JESC 8-1.4, 10-2; 特定卸 (6)ア",
		    "disabled (audit.enabled: false)");
	else
		row(j, "audit log", audit_ok(in->audit) ? "ok" : "fail",
		    "ERAB 4.1.4; JESC 8-1.4, 10-2; 特定卸 (6)ア", "%s; hash chain, "
		    "forward-secure HMAC, sync %s; verify offline with acgwctl "
		    "audit verify", audit_ok(in->audit) ? "being written" :
		    "CANNOT BE WRITTEN (failing closed)",
		    cfg->audit.sync ? "batch" : "always");
	row(j, "control socket", (cfg->control.mode & 0007) == 0 ? "ok" :
	    "fail", "JESC 8-1", "%s mode %04o, group %s; readers and "
	    "operators by group", cfg->control.socket,
	    (unsigned)cfg->control.mode, cfg->control.group.name ?
	    cfg->control.group.name : "(acgwd's own)");
	hardening(&nnp, &seccomp);
	row(j, "service hardening", nnp == 1 && seccomp == 2 ? "ok" : "info",
	    "JESC 8-1; ERAB 3.6", "no_new_privs %s, seccomp filter %s%s",
	    nnp == 1 ? "on" : nnp == 0 ? "off" : "unknown",
	    seccomp == 2 ? "on" : seccomp == 0 ? "off" : "unknown",
	    nnp == 1 && seccomp == 2 ? "" : " (run under the systemd unit)");
	if (cfg->policy.enabled)
		row(j, "attestation of peers", cfg->policy.failure_action ?
		    "warning" : "ok",
		    "ERAB 3.6.3; 特定卸 (4)イ②; METI-SLIDES",
		    "required; failure action %s, restore %s, re-evaluated "
		    "every %llu ms", cfg->policy.failure_action ?
		    "warn (A TEST SETUP)" : "sever", cfg->policy.restore ?
		    "auto" : "manual",
		    (unsigned long long)cfg->policy.reevaluate_ms);
	else
		row(j, "attestation of peers", "warning",
		    "ERAB 3.6.3; 特定卸 (4)イ②; METI-SLIDES",
		    "not required (policy.enabled: false)");
	row(j, "isolation", policy_isolated(in->policy, "r1") ||
	    policy_isolated(in->policy, "r3") ? "warning" : "ok",
	    "特定卸 (6)イ①; JESC 11", "R1 %s, R3 %s",
	    policy_isolated(in->policy, "r1") ? "ISOLATED" : "open",
	    policy_isolated(in->policy, "r3") ? "ISOLATED" : "open");
	peers(in, j);
	json_array_end(j);
}
