/*
 * attest — compliance attestations: CMS SignedData (attached content)
 * verified with OpenSSL's CMS API, then the YAML inside read strictly
 * with libyaml.
 *
 * The order of the checks decides which verdict a bad file gets, so it is
 * fixed: is it CMS at all, is it SignedData, is the content attached, does
 * the signature match the content (whoever signed), does the signer chain
 * to the assessor trust anchor, does it carry the key usage, and only then
 * is the content read. A tampered file therefore says "does not verify",
 * not something about its YAML.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include <openssl/bio.h>
#include <openssl/pem.h>	/* before cms.h: its PEM functions need it */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acgw/attest.h"
#include "acgw/units.h"

struct attest_anchor {
	X509_STORE *store;
	uint32_t key_usage;		/* KU_DIGITAL_SIGNATURE or ... */
	char ku_name[32];
};

const char *
attest_kind_name(int kind)
{
	return kind == ATTEST_THIRD_PARTY ? "third-party" : "internal";
}

void
attest_free(struct attestation *a)
{
	if (a == NULL)
		return;
	free(a->peer);
	free(a->interface);
	free(a->pins);
	for (size_t i = 0; i < a->ncontrols; i++)
		free(a->controls[i]);
	free(a->controls);
	free(a->assessor);
	memset(a, 0, sizeof(*a));
}

/* ---- the trust anchor --------------------------------------------------- */

struct attest_anchor *
attest_anchor_load(const char *path, const char *key_usage, char *err,
    size_t errlen)
{
	struct attest_anchor *a = calloc(1, sizeof(*a));
	BIO *bio = NULL;
	X509 *x;
	int n = 0;

	if (a == NULL) {
		units_errf(err, errlen, "out of memory");
		return NULL;
	}
	if (strcmp(key_usage, "digitalSignature") == 0)
		a->key_usage = KU_DIGITAL_SIGNATURE;
	else if (strcmp(key_usage, "nonRepudiation") == 0)
		a->key_usage = KU_NON_REPUDIATION;
	else {
		units_errf(err, errlen, "key usage \"%s\" is not "
		    "digitalSignature or nonRepudiation", key_usage);
		goto fail;
	}
	snprintf(a->ku_name, sizeof(a->ku_name), "%s", key_usage);
	if ((a->store = X509_STORE_new()) == NULL ||
	    (bio = BIO_new_file(path, "r")) == NULL) {
		units_errf(err, errlen, "%s: cannot read", path);
		goto fail;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		X509_STORE_add_cert(a->store, x);
		X509_free(x);
		n++;
	}
	ERR_clear_error();
	BIO_free(bio);
	if (n == 0) {
		units_errf(err, errlen, "%s: no PEM certificate in it", path);
		goto fail;
	}
	return a;
fail:
	attest_anchor_free(a);
	return NULL;
}

void
attest_anchor_free(struct attest_anchor *a)
{
	if (a == NULL)
		return;
	X509_STORE_free(a->store);
	free(a);
}

/* ---- the YAML inside ------------------------------------------------------ */

struct yctx {
	yaml_parser_t p;
	yaml_event_t ev;
	int have;
	char *err;
	size_t errlen;
	int failed;
};

static int
yfail(struct yctx *y, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
yfail(struct yctx *y, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[ATTEST_ERR_MAX];
	va_list ap;

	if (y->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(y->err, y->errlen, "attestation:%zu:%zu: %s",
	    (size_t)m->line + 1, (size_t)m->column + 1, msg);
	y->failed = 1;
	return -1;
}

static int
ynext(struct yctx *y)
{
	if (y->have)
		yaml_event_delete(&y->ev);
	y->have = 0;
	if (!yaml_parser_parse(&y->p, &y->ev)) {
		yaml_mark_t m = y->p.problem_mark;

		return yfail(y, &m, "not YAML: %s", y->p.problem ?
		    y->p.problem : "syntax error");
	}
	y->have = 1;
	if (y->ev.type == YAML_ALIAS_EVENT)
		return yfail(y, &y->ev.start_mark, "aliases are not allowed");
	return 0;
}

static int
yscalar(struct yctx *y, const char *key, char **out)
{
	if (ynext(y) != 0)
		return -1;
	if (y->ev.type != YAML_SCALAR_EVENT)
		return yfail(y, &y->ev.start_mark, "%s: expected a scalar",
		    key);
	free(*out);
	if ((*out = strndup((const char *)y->ev.data.scalar.value,
	    y->ev.data.scalar.length)) == NULL)
		return yfail(y, &y->ev.start_mark, "out of memory");
	if (strlen(*out) != y->ev.data.scalar.length) {
		free(*out);
		*out = NULL;
		return yfail(y, &y->ev.start_mark, "%s: contains a NUL byte",
		    key);
	}
	return 0;
}

/* A sequence of scalars; each is handed to take. */
static int
ylist(struct yctx *y, const char *key,
    int (*take)(struct yctx *, const char *, struct attestation *),
    struct attestation *a)
{
	if (ynext(y) != 0)
		return -1;
	if (y->ev.type != YAML_SEQUENCE_START_EVENT)
		return yfail(y, &y->ev.start_mark, "%s: expected a list", key);
	for (;;) {
		char *v = NULL;
		int rc;

		if (ynext(y) != 0)
			return -1;
		if (y->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return yfail(y, &y->ev.start_mark, "%s: expected a "
			    "list of scalars", key);
		if ((v = strndup((const char *)y->ev.data.scalar.value,
		    y->ev.data.scalar.length)) == NULL)
			return yfail(y, &y->ev.start_mark, "out of memory");
		rc = take(y, v, a);
		free(v);
		if (rc != 0)
			return -1;
	}
}

static int
take_pin(struct yctx *y, const char *v, struct attestation *a)
{
	unsigned char pin[32], (*np)[32];
	char why[UNITS_ERR_MAX];

	if (units_parse_pin(v, pin, why, sizeof(why)) != 0)
		return yfail(y, &y->ev.start_mark, "pins: %s", why);
	for (size_t i = 0; i < a->npins; i++)
		if (memcmp(a->pins[i], pin, 32) == 0)
			return yfail(y, &y->ev.start_mark, "pins: \"%s\" is "
			    "listed twice", v);
	if ((np = realloc(a->pins, (a->npins + 1) * sizeof(*np))) == NULL)
		return yfail(y, &y->ev.start_mark, "out of memory");
	a->pins = np;
	memcpy(a->pins[a->npins++], pin, 32);
	return 0;
}

static int
take_control(struct yctx *y, const char *v, struct attestation *a)
{
	char **nc;

	if (*v == '\0' || strlen(v) > 64)
		return yfail(y, &y->ev.start_mark, "controls: \"%.70s\" is not "
		    "a control ID", v);
	for (size_t i = 0; i < a->ncontrols; i++)
		if (strcmp(a->controls[i], v) == 0)
			return yfail(y, &y->ev.start_mark, "controls: \"%s\" is "
			    "listed twice", v);
	if ((nc = realloc(a->controls, (a->ncontrols + 1) * sizeof(*nc))) ==
	    NULL || (nc[a->ncontrols] = strdup(v)) == NULL) {
		if (nc)
			a->controls = nc;
		return yfail(y, &y->ev.start_mark, "out of memory");
	}
	a->controls = nc;
	a->ncontrols++;
	return 0;
}

static int
ytime(struct yctx *y, const char *key, int64_t *out)
{
	char *s = NULL, why[UNITS_ERR_MAX];
	yaml_mark_t m;
	int rc;

	if (yscalar(y, key, &s) != 0)
		return -1;
	m = y->ev.start_mark;
	rc = units_parse_datetime(s, out, why, sizeof(why));
	free(s);
	if (rc != 0)
		return yfail(y, &m, "%s: %s", key, why);
	return 0;
}

static int
yassessor(struct yctx *y, struct attestation *a, int *have_kind)
{
	int seen_name = 0;
	yaml_mark_t start;

	if (ynext(y) != 0)
		return -1;
	start = y->ev.start_mark;
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return yfail(y, &y->ev.start_mark, "assessor: expected a "
		    "mapping with name and kind");
	for (;;) {
		char key[32];
		char *v = NULL;

		if (ynext(y) != 0)
			return -1;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return yfail(y, &y->ev.start_mark, "assessor: keys "
			    "must be plain names");
		snprintf(key, sizeof(key), "%.*s",
		    (int)y->ev.data.scalar.length,
		    (const char *)y->ev.data.scalar.value);
		if (strlen(key) != y->ev.data.scalar.length)
			return yfail(y, &y->ev.start_mark, "assessor: keys "
			    "must be plain names");
		if (strcmp(key, "name") == 0) {
			if (seen_name++)
				return yfail(y, &y->ev.start_mark, "assessor.name"
				    ": duplicate key");
			if (yscalar(y, "assessor.name", &a->assessor) != 0)
				return -1;
		} else if (strcmp(key, "kind") == 0) {
			if ((*have_kind)++)
				return yfail(y, &y->ev.start_mark, "assessor.kind"
				    ": duplicate key");
			if (yscalar(y, "assessor.kind", &v) != 0)
				return -1;
			if (strcmp(v, "internal") == 0)
				a->kind = ATTEST_INTERNAL;
			else if (strcmp(v, "third-party") == 0)
				a->kind = ATTEST_THIRD_PARTY;
			else {
				free(v);
				return yfail(y, &y->ev.start_mark, "assessor.kind:"
				    " \"%s\" is not internal or third-party",
				    (const char *)y->ev.data.scalar.value);
			}
			free(v);
		} else
			return yfail(y, &y->ev.start_mark, "assessor.%s: "
			    "unknown key", key);
	}
	if (!seen_name || !*have_kind)
		return yfail(y, &start, "assessor: needs name and kind");
	return 0;
}

/* The keys of the top-level mapping, each at most once. */
enum { K_FORMAT, K_PEER, K_INTERFACE, K_PINS, K_IMPORTANCE, K_CONTROLS,
    K_ASSESSOR, K_ISSUED, K_EXPIRES, K_COUNT };
static const char *const ykeys[K_COUNT] = { "format", "peer", "interface",
    "pins", "importance", "controls", "assessor", "issued", "expires" };

static int
yvalue(struct yctx *y, int k, struct attestation *a, int *have_kind)
{
	char *v = NULL;
	int rc = 0;

	switch (k) {
	case K_FORMAT:
		if (yscalar(y, "format", &v) != 0)
			return -1;
		if (strcmp(v, ATTEST_FORMAT) != 0)
			rc = yfail(y, &y->ev.start_mark, "format: \"%s\" is not "
			    "\"%s\"", v, ATTEST_FORMAT);
		break;
	case K_PEER:
		return yscalar(y, "peer", &a->peer);
	case K_INTERFACE:
		if (yscalar(y, "interface", &a->interface) != 0)
			return -1;
		if (strcmp(a->interface, "r3") != 0)
			rc = yfail(y, &y->ev.start_mark, "interface: \"%s\" is "
			    "not r3 (the interface acgwd attests peers on)",
			    a->interface);
		break;
	case K_PINS:
		return ylist(y, "pins", take_pin, a);
	case K_IMPORTANCE:
		if (yscalar(y, "importance", &v) != 0)
			return -1;
		if (strcmp(v, "A") != 0 && strcmp(v, "B") != 0)
			rc = yfail(y, &y->ev.start_mark, "importance: \"%s\" is "
			    "not A or B", v);
		else
			a->importance = v[0];
		break;
	case K_CONTROLS:
		return ylist(y, "controls", take_control, a);
	case K_ASSESSOR:
		return yassessor(y, a, have_kind);
	case K_ISSUED:
		return ytime(y, "issued", &a->issued);
	case K_EXPIRES:
		return ytime(y, "expires", &a->expires);
	}
	free(v);
	return rc;
}

int
attest_parse_yaml(const char *text, size_t len, struct attestation *a,
    char *err, size_t errlen)
{
	struct yctx y;
	int seen[K_COUNT] = { 0 }, have_kind = 0, rc = -1;
	yaml_mark_t top = { 0, 0, 0 };

	memset(a, 0, sizeof(*a));
	memset(&y, 0, sizeof(y));
	y.err = err;
	y.errlen = errlen;
	if (!yaml_parser_initialize(&y.p)) {
		units_errf(err, errlen, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
	/* Stream start, document start, the mapping. */
	if (ynext(&y) != 0 || ynext(&y) != 0)
		goto done;
	if (y.ev.type != YAML_DOCUMENT_START_EVENT) {
		yfail(&y, &y.ev.start_mark, "empty document");
		goto done;
	}
	if (ynext(&y) != 0)
		goto done;
	top = y.ev.start_mark;
	if (y.ev.type != YAML_MAPPING_START_EVENT) {
		yfail(&y, &y.ev.start_mark, "expected a mapping");
		goto done;
	}
	for (;;) {
		char key[64];
		int k;

		if (ynext(&y) != 0)
			goto done;
		if (y.ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (y.ev.type != YAML_SCALAR_EVENT) {
			yfail(&y, &y.ev.start_mark, "keys must be plain names");
			goto done;
		}
		snprintf(key, sizeof(key), "%.*s",
		    (int)y.ev.data.scalar.length,
		    (const char *)y.ev.data.scalar.value);
		if (strlen(key) != y.ev.data.scalar.length) {
			yfail(&y, &y.ev.start_mark, "keys must be plain names");
			goto done;
		}
		for (k = 0; k < K_COUNT && strcmp(ykeys[k], key) != 0; k++)
			;
		if (k == K_COUNT) {
			yfail(&y, &y.ev.start_mark, "unknown key \"%s\"", key);
			goto done;
		}
		if (seen[k]++) {
			yfail(&y, &y.ev.start_mark, "%s: duplicate key", key);
			goto done;
		}
		if (yvalue(&y, k, a, &have_kind) != 0)
			goto done;
	}
	if (ynext(&y) != 0)
		goto done;
	if (y.ev.type != YAML_DOCUMENT_END_EVENT) {
		yfail(&y, &y.ev.start_mark, "one document only");
		goto done;
	}
	if (ynext(&y) != 0)
		goto done;
	if (y.ev.type != YAML_STREAM_END_EVENT) {
		yfail(&y, &y.ev.start_mark, "one document only");
		goto done;
	}
	for (int k = 0; k < K_COUNT; k++)
		if (!seen[k]) {
			yfail(&y, &top, "missing required key \"%s\"", ykeys[k]);
			goto done;
		}
	if (a->npins == 0) {
		yfail(&y, &top, "pins: needs at least one pin");
		goto done;
	}
	if (a->expires <= a->issued) {
		yfail(&y, &top, "expires must be after issued");
		goto done;
	}
	rc = 0;
done:
	if (y.have)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.p);
	if (rc != 0)
		attest_free(a);
	return rc;
}

/* ---- the signature -------------------------------------------------------- */

static CMS_ContentInfo *
attest_decode(const void *data, size_t len)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	CMS_ContentInfo *cms = NULL;

	if (bio == NULL)
		return NULL;
	if (len >= 11 && memcmp(data, "-----BEGIN ", 11) == 0)
		cms = PEM_read_bio_CMS(bio, NULL, NULL, NULL);
	else
		cms = d2i_CMS_bio(bio, NULL);
	BIO_free(bio);
	return cms;
}

/* Does the signer chain to the anchor at time now? NULL, or why not. */
static const char *
attest_chain(const struct attest_anchor *an, X509 *signer,
    STACK_OF(X509) *certs, int64_t now)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	const char *why = NULL;

	if (ctx == NULL || !X509_STORE_CTX_init(ctx, an->store, signer,
	    certs)) {
		X509_STORE_CTX_free(ctx);
		return "out of memory";
	}
	X509_STORE_CTX_set_time(ctx, 0, (time_t)(now / 1000000));
	if (X509_verify_cert(ctx) != 1)
		why = X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx));
	X509_STORE_CTX_free(ctx);
	return why;
}

static void
attest_digest(const void *data, size_t len, char *hex)
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md));
	units_hex(md, sizeof(md), hex);
}

int
attest_verify(const struct attest_anchor *an, const void *data, size_t len,
    int64_t now, struct attestation *out, char *err, size_t errlen)
{
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *signers = NULL, *certs = NULL;
	BIO *content = NULL;
	X509 *signer;
	const char *why;
	char *text;
	long tlen;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	ERR_clear_error();
	if (len > ATTEST_MAX_SIZE) {
		units_errf(err, errlen, "%zu bytes, more than an attestation "
		    "may have (%d)", len, ATTEST_MAX_SIZE);
		goto done;
	}
	if ((cms = attest_decode(data, len)) == NULL) {
		units_errf(err, errlen, "not a CMS SignedData in PEM or DER "
		    "(garbage or truncated)");
		goto done;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		units_errf(err, errlen, "a CMS structure, but not SignedData");
		goto done;
	}
	if (CMS_is_detached(cms)) {
		units_errf(err, errlen, "detached signature: the attestation "
		    "must carry its content (sign with openssl cms -sign "
		    "-nodetach)");
		goto done;
	}
	certs = CMS_get1_certs(cms);
	if (certs == NULL || sk_X509_num(certs) == 0) {
		units_errf(err, errlen, "needs exactly one signer with its "
		    "certificate included");
		goto done;
	}
	/* The signature over the content, whoever signed it. */
	if ((content = BIO_new(BIO_s_mem())) == NULL ||
	    CMS_verify(cms, NULL, NULL, NULL, content, CMS_BINARY |
	    CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		units_errf(err, errlen, "signature does not verify: the content "
		    "was altered or is not what the signer signed");
		goto done;
	}
	if ((signers = CMS_get0_signers(cms)) == NULL ||
	    sk_X509_num(signers) != 1) {
		units_errf(err, errlen, "needs exactly one signer with its "
		    "certificate included");
		goto done;
	}
	signer = sk_X509_value(signers, 0);
	X509_NAME_oneline(X509_get_subject_name(signer), out->signer,
	    sizeof(out->signer));
	if ((why = attest_chain(an, signer, certs, now)) != NULL) {
		units_errf(err, errlen, "signer %s does not chain to the "
		    "assessor trust anchor: %s", out->signer, why);
		goto done;
	}
	if (!(X509_get_extension_flags(signer) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(signer) & an->key_usage)) {
		units_errf(err, errlen, "signer %s lacks the key usage %s the "
		    "policy asks of assessors", out->signer, an->ku_name);
		goto done;
	}
	tlen = BIO_get_mem_data(content, &text);
	{
		char signer_subject[sizeof(out->signer)];

		memcpy(signer_subject, out->signer, sizeof(signer_subject));
		/* Empty content has no buffer at all. */
		rc = attest_parse_yaml(tlen > 0 && text ? text : "",
		    tlen > 0 && text ? (size_t)tlen : 0, out, err, errlen);
		memcpy(out->signer, signer_subject, sizeof(out->signer));
		if (rc != 0) {
			rc = -1;
			goto done;
		}
		rc = -1;
	}
	attest_digest(data, len, out->sha256);
	rc = 0;
done:
	if (rc != 0) {
		char keep[sizeof(out->signer)];

		memcpy(keep, out->signer, sizeof(keep));
		attest_free(out);
		memcpy(out->signer, keep, sizeof(keep));
	}
	sk_X509_free(signers);
	sk_X509_pop_free(certs, X509_free);
	BIO_free(content);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return rc;
}
