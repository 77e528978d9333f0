/*
 * Unit tests for tls: identity extraction against the values the openssl
 * CLI computed (scripts/mkpki writes X.pin and X.fp), reasons, key-file
 * hygiene, expiry states, and contexts built from a configuration.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "../lib/testlib.h"
#include "acgw/tls.h"

static char *pki;

static char *
pki_file(const char *name)
{
	return tl_path(pki, name);
}

/* First line of a file written by mkpki. */
static char *
pki_line(const char *name)
{
	char *p = pki_file(name), *s = tl_read(p);

	s[strcspn(s, "\n")] = '\0';
	free(p);
	return s;
}

static X509 *
load_cert(const char *name)
{
	char *p = pki_file(name);
	FILE *f = fopen(p, "r");
	X509 *x;

	ck_assert_msg(f != NULL, "%s", p);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	free(p);
	ck_assert_ptr_nonnull(x);
	return x;
}

static void
check_identity(const char *leaf, const char *cn)
{
	char pem[64], pinf[64], fpf[64];
	struct tls_identity id;
	char *pin, *fp;
	X509 *x;

	snprintf(pem, sizeof(pem), "%s.pem", leaf);
	snprintf(pinf, sizeof(pinf), "%s.pin", leaf);
	snprintf(fpf, sizeof(fpf), "%s.fp", leaf);
	x = load_cert(pem);
	ck_assert_int_eq(tls_identity_from_cert(x, &id), 0);
	pin = pki_line(pinf);
	fp = pki_line(fpf);
	ck_assert_str_eq(id.pin, pin);
	ck_assert_str_eq(id.openadr_fp, fp);
	ck_assert_uint_eq(strlen(id.openadr_fp), 29);
	ck_assert_str_eq(id.subject_cn, cn);
	ck_assert(id.not_after > id.not_before);
	free(pin);
	free(fp);
	X509_free(x);
}

START_TEST(identity_matches_openssl_cli)
{
	check_identity("ra1", "ra1");
	check_identity("ra-rsa", "ra-rsa");
	check_identity("r3-server", "acgw r3");
	check_identity("tso-server", "tso");
}
END_TEST

START_TEST(subject_alt_names)
{
	struct tls_identity id;
	X509 *x = load_cert("r3-server.pem");

	ck_assert_int_eq(tls_identity_from_cert(x, &id), 0);
	ck_assert_str_eq(id.sans, "IP:127.0.0.1, IP:::1, DNS:localhost");
	X509_free(x);
	x = load_cert("ra1.pem");
	ck_assert_int_eq(tls_identity_from_cert(x, &id), 0);
	ck_assert_str_eq(id.sans, "");
	ck_assert_str_eq(id.issuer, "/O=acgw test/CN=acgw test AC CA");
	X509_free(x);
}
END_TEST

START_TEST(reasons)
{
	ck_assert_str_eq(tls_verify_reason(X509_V_ERR_CERT_HAS_EXPIRED),
	    "certificate expired");
	ck_assert_str_eq(tls_verify_reason(X509_V_ERR_CERT_NOT_YET_VALID),
	    "certificate not yet valid");
	ck_assert_str_eq(tls_verify_reason(X509_V_ERR_CERT_REVOKED),
	    "certificate revoked");
	ck_assert_str_eq(tls_verify_reason(
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY), "unknown CA");
	ck_assert_str_eq(tls_error_reason(0), "handshake aborted by peer");
	ck_assert_str_eq(tls_error_reason(ERR_PACK(ERR_LIB_SSL, 0,
	    SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)), "no certificate");
	ck_assert_str_eq(tls_error_reason(ERR_PACK(ERR_LIB_SSL, 0,
	    SSL_R_UNEXPECTED_EOF_WHILE_READING)), "peer dropped");
	ck_assert_str_eq(tls_error_reason(ERR_PACK(ERR_LIB_SSL, 0,
	    SSL_R_NO_SHARED_CIPHER)), "no shared cipher");
	ck_assert_str_eq(tls_error_reason(ERR_PACK(ERR_LIB_SSL, 0,
	    SSL_R_UNSUPPORTED_PROTOCOL)), "protocol version");
}
END_TEST

START_TEST(key_file_hygiene)
{
	char *key = pki_file("ra1.key"), *want;
	char err[TLS_ERR_MAX];

	ck_assert_int_eq(tls_check_key_file("r3.key", key, err, sizeof(err)),
	    0);
	ck_assert_int_eq(chmod(key, 0640), 0);
	ck_assert_int_eq(tls_check_key_file("r3.key", key, err, sizeof(err)),
	    -1);
	ck_assert(asprintf(&want, "r3.key %s: private key readable by group or "
	    "others (mode 0640); fix: chmod 600 %s", key, key) > 0);
	ck_assert_str_eq(err, want);
	free(want);
	ck_assert_int_eq(chmod(key, 0600), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(key, 4242, (gid_t)-1), 0);
		ck_assert_int_eq(tls_check_key_file("r3.key", key, err,
		    sizeof(err)), -1);
		ck_assert(asprintf(&want, "r3.key %s: owned by uid 4242, not by "
		    "acgwd's user (uid 0) or root; fix: chown 0 %s", key,
		    key) > 0);
		ck_assert_str_eq(err, want);
		free(want);
		ck_assert_int_eq(chown(key, 0, (gid_t)-1), 0);
	}
	ck_assert_int_eq(tls_check_key_file("r3.key", "/nonexistent/k", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "r3.key /nonexistent/k: No such file or "
	    "directory");
	free(key);
}
END_TEST

START_TEST(expiry_states)
{
	struct tls_watch w;
	time_t now = 1000000000;

	memset(&w, 0, sizeof(w));
	w.until = now + 40 * 86400;
	ck_assert_int_eq(tls_watch_state(&w, now, 30 * 86400000ULL,
	    7 * 86400000ULL), TLS_EXPIRY_OK);
	w.until = now + 30 * 86400;
	ck_assert_int_eq(tls_watch_state(&w, now, 30 * 86400000ULL,
	    7 * 86400000ULL), TLS_EXPIRY_WARNING);
	w.until = now + 3 * 86400;
	ck_assert_int_eq(tls_watch_state(&w, now, 30 * 86400000ULL,
	    7 * 86400000ULL), TLS_EXPIRY_CRITICAL);
	w.until = now;
	ck_assert_int_eq(tls_watch_state(&w, now, 30 * 86400000ULL,
	    7 * 86400000ULL), TLS_EXPIRED);
	ck_assert_str_eq(tls_expiry_name(TLS_EXPIRED), "expired");
}
END_TEST

static struct config *
config_with(const char *fmt, ...)
{
	struct config_errors errs;
	struct config *cfg;
	char *y;
	va_list ap;

	va_start(ap, fmt);
	ck_assert(vasprintf(&y, fmt, ap) > 0);
	va_end(ap);
	cfg = config_load_buffer("t.yaml", y, strlen(y), &errs);
	ck_assert_msg(cfg != NULL, "%s", errs.msg[0]);
	free(y);
	return cfg;
}

START_TEST(contexts_and_watches)
{
	char *pin = pki_line("ra1.pin");
	char err[TLS_ERR_MAX];
	struct config *cfg;
	struct tls *t;
	const struct tls_watch *w;
	size_t n;

	cfg = config_with("r3:\n  listen: \"127.0.0.1:1\"\n"
	    "  cert: %s/r3-server.pem\n  key: %s/r3-server.key\n"
	    "peers:\n  - name: ra1\n    ca: %s/ca.pem\n    crl: %s/ca.crl\n"
	    "    pins: [\"%s\"]\n    sources: [127.0.0.1/32]\n", pki, pki,
	    pki, pki, pin);
	t = tls_new(cfg, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_ptr_nonnull(tls_server_ctx(t));
	ck_assert_ptr_null(tls_client_ctx(t));
	w = tls_watches(t, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(w[0].what, "peers[0].ca");
	ck_assert_str_eq(w[1].what, "peers[0].crl");
	ck_assert_int_eq(w[1].is_crl, 1);
	ck_assert_str_eq(w[2].what, "r3.cert");
	tls_free(t);
	config_free(cfg);

	/* A key that does not belong to the certificate. */
	cfg = config_with("r3:\n  listen: \"127.0.0.1:1\"\n"
	    "  cert: %s/r3-server.pem\n  key: %s/ra1.key\n", pki, pki);
	t = tls_new(cfg, err, sizeof(err));
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(err, "t.yaml:4:8: r3.key: ") == err &&
	    strstr(err, "ra1.key: does not match the certificate") != NULL,
	    "%s", err);
	config_free(cfg);

	/* A CRL from another CA would leave this one unchecked. */
	cfg = config_with("peers:\n  - name: ra1\n    ca: %s/ca2.pem\n"
	    "    crl: %s/ca.crl\n    pins: [\"%s\"]\n"
	    "    sources: [127.0.0.1/32]\n", pki, pki, pin);
	t = tls_new(cfg, err, sizeof(err));
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(err, "t.yaml:2:5: peers[0].crl: ") == err &&
	    strstr(err, "ca.crl: issued by /O=acgw test/CN=acgw test AC CA, "
	    "not signed by the CA it is configured for") != NULL, "%s", err);
	config_free(cfg);

	/* A CA file that is not a certificate. */
	cfg = config_with("peers:\n  - name: ra1\n    ca: %s/ra1.key\n"
	    "    pins: [\"%s\"]\n    sources: [127.0.0.1/32]\n", pki, pin);
	t = tls_new(cfg, err, sizeof(err));
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(err, "t.yaml:2:5: peers[0].ca: ") == err &&
	    strstr(err, "ra1.key: no PEM certificate") != NULL, "%s", err);
	config_free(cfg);
	free(pin);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tl_tcase(s, "core", 30);
	char tmpl[] = "/tmp/acgw-tls.XXXXXX", cmd[512];
	int rc;

	/* No ck_* here: Check's macros only work inside a test. */
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	if (asprintf(&pki, "%s/pki", tmpl) < 0 || tl_make_pki(pki) != 0)
		return EXIT_FAILURE;
	tcase_add_test(tc, identity_matches_openssl_cli);
	tcase_add_test(tc, subject_alt_names);
	tcase_add_test(tc, reasons);
	tcase_add_test(tc, key_file_hygiene);
	tcase_add_test(tc, expiry_states);
	tcase_add_test(tc, contexts_and_watches);
	rc = tl_run_suite(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", tmpl);
	free(pki);
	return rc;
}
