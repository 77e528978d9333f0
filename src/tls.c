/*
 * tls — contexts, stores, CRLs, identity, key hygiene.
 *
 * Session resumption: a bounded server-side session cache
 * (tls.session_cache entries, tls.session_timeout), no stateless
 * tickets. A ticket key would be one long-lived secret that decrypts
 * every resumed session it ever sealed, and tickets cannot be withdrawn
 * when a peer is severed; cache entries can, and a reload (new CRL, new
 * peers) starts an empty cache so every peer is fully verified again.
 * TLS 1.3 still resumes: OpenSSL then issues stateful tickets that only
 * name a cache entry.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acgw/log.h"
#include "acgw/store.h"
#include "acgw/tls.h"

/* One CA file, shared by the peers that name it. */
struct tls_ca {
	char *path;
	STACK_OF(X509) *certs;
};

/* Peers sorted by pin, for the lookup at each handshake. */
struct tls_pin {
	unsigned char pin[32];
	const struct config_peer *peer;
	const struct tls_ca *ca;
};

/*
 * One client certificate that passed X509_verify_cert against this
 * tls's store: the SHA-256 of its DER, the rest of the chain it was
 * verified with, and until when that holds (the earliest notAfter of
 * the chain, the earliest CRL nextUpdate, tls.verify_cache_ttl).
 */
struct tls_vc {
	unsigned char md[32];
	STACK_OF(X509) *above;		/* the verified chain minus the leaf */
	time_t until;
	int used;
};

struct tls_vcache {
	struct tls_vc *slots;		/* open addressing, linear probing */
	size_t cap, n, max;		/* cap a power of two >= 2 * max */
	time_t ttl_s, crl_until;
	uint64_t hits, misses;
};

struct tls {
	const struct config *cfg;
	SSL_CTX *server, *client;
	SSL_CTX *push;			/* to RAs' push endpoints, or NULL */
	X509_STORE *peer_store;		/* every peer CA and CRL */
	struct tls_ca *cas;
	size_t ncas;
	struct tls_pin *pins;
	size_t npins;
	STACK_OF(X509_NAME) *crl_issuers;	/* CAs that have a CRL */
	struct tls_watch *watches;
	size_t nwatches;
	struct tls_vcache *vc;		/* NULL with tls.verify_cache 0 */
	EVP_MD *sha256;			/* fetched once, not per handshake */
};

int
tls_conn_index(void)
{
	static int idx = -1;

	if (idx == -1)
		idx = SSL_get_ex_new_index(0, "acgw conn", NULL, NULL, NULL);
	return idx;
}

/* ---- identity ------------------------------------------------------- */

static time_t
tls_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static void
tls_name_entry(const X509_NAME *name, int nid, char *out, size_t len)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	unsigned char *utf8 = NULL;
	int n;

	out[0] = '\0';
	if (i < 0)
		return;
	n = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n < 0)
		return;
	snprintf(out, len, "%.*s", n, (const char *)utf8);
	OPENSSL_free(utf8);
}

static void
tls_sans(X509 *cert, char *out, size_t len)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name,
	    NULL, NULL);
	size_t off = 0;

	out[0] = '\0';
	if (names == NULL)
		return;
	for (int i = 0; i < sk_GENERAL_NAME_num(names) && off < len; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		char buf[300];
		int w;

		buf[0] = '\0';
		if (g->type == GEN_DNS || g->type == GEN_URI ||
		    g->type == GEN_EMAIL) {
			const ASN1_IA5STRING *s = g->d.ia5;
			snprintf(buf, sizeof(buf), "%s:%.*s",
			    g->type == GEN_DNS ? "DNS" : g->type == GEN_URI ?
			    "URI" : "email", ASN1_STRING_length(s),
			    (const char *)ASN1_STRING_get0_data(s));
		} else if (g->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *ip = g->d.ip;
			char a[64];
			int family = ASN1_STRING_length(ip) == 4 ? AF_INET :
			    ASN1_STRING_length(ip) == 16 ? AF_INET6 : 0;

			if (family != 0 && inet_ntop(family,
			    ASN1_STRING_get0_data(ip), a, sizeof(a)) != NULL)
				snprintf(buf, sizeof(buf), "IP:%s", a);
		}
		if (buf[0] == '\0')
			continue;
		w = snprintf(out + off, len - off, "%s%s", off ? ", " : "",
		    buf);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	GENERAL_NAMES_free(names);
}

int
tls_identity_from_cert(X509 *cert, struct tls_identity *id)
{
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int n;

	memset(id, 0, sizeof(*id));
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (n <= 0)
		return -1;
	if (EVP_Digest(der, (size_t)n, id->spki_sha256, NULL, EVP_sha256(),
	    NULL) != 1) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	if (X509_digest(cert, EVP_sha256(), id->cert_sha256, &mdlen) != 1 ||
	    mdlen != 32)
		return -1;
	units_format_pin(id->spki_sha256, id->pin);
	for (int i = 0; i < 10; i++)
		snprintf(id->openadr_fp + 3 * i, sizeof(id->openadr_fp) - 3 * i,
		    i < 9 ? "%02X:" : "%02X", id->cert_sha256[22 + i]);
	tls_name_entry(X509_get_subject_name(cert), NID_commonName,
	    id->subject_cn, sizeof(id->subject_cn));
	X509_NAME_oneline(X509_get_issuer_name(cert), id->issuer,
	    sizeof(id->issuer));
	tls_sans(cert, id->sans, sizeof(id->sans));
	id->not_before = tls_asn1_time(X509_get0_notBefore(cert));
	id->not_after = tls_asn1_time(X509_get0_notAfter(cert));
	return 0;
}

const char *
tls_verify_reason(int e)
{
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate not yet valid";
	case X509_V_ERR_CERT_REVOKED:
		return "certificate revoked";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return "unknown CA";
	case X509_V_ERR_CRL_HAS_EXPIRED:
		return "CRL expired (nextUpdate passed)";
	case X509_V_ERR_CRL_NOT_YET_VALID:
		return "CRL not yet valid";
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		return "no CRL for the issuer";
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return "bad certificate signature";
	case X509_V_ERR_INVALID_PURPOSE:
		return "certificate not for this purpose";
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "server name mismatch";
	default:
		return X509_verify_cert_error_string(e);
	}
}

const char *
tls_handshake_reason(unsigned long err)
{
	const char *r = tls_error_reason(err);

	ERR_clear_error();
	return r;
}

const char *
tls_error_reason(unsigned long err)
{
	int lib = ERR_GET_LIB(err), reason = ERR_GET_REASON(err);

	if (err == 0)
		return "handshake aborted by peer";
	if (lib == ERR_LIB_SSL) {
		switch (reason) {
		case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
			return "no certificate";
		case SSL_R_UNSUPPORTED_PROTOCOL:
		case SSL_R_WRONG_VERSION_NUMBER:
		case SSL_R_VERSION_TOO_LOW:
		case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
			return "protocol version";
		case SSL_R_NO_SHARED_CIPHER:
		case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
			return "no shared cipher";
		case SSL_R_UNEXPECTED_EOF_WHILE_READING:
			return "peer dropped";
		case SSL_R_HTTP_REQUEST:
			return "plain HTTP on a TLS port";
		case SSL_R_CERTIFICATE_VERIFY_FAILED:
			return "certificate verify failed";
		case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
			return "peer does not know our CA";
		case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
		case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
			return "peer refused our certificate";
		default:
			break;
		}
		{
			const char *s = ERR_reason_error_string(err);
			return s != NULL ? s : "TLS error";
		}
	}
	if (lib == ERR_LIB_SYS)
		return "peer dropped";
	return "TLS error";
}

/* ---- loading -------------------------------------------------------- */

/* A file of secrets (NOUN: "private key", ...): ours alone, as ssh wants. */
static int
tls_check_secret_stat(const char *what, const char *noun, const char *path,
    const struct stat *st, char *err, size_t errlen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		return -1;
	}
	if (st->st_uid != geteuid() && st->st_uid != 0) {
		snprintf(err, errlen, "%s %s: owned by uid %ld, not by acgwd's "
		    "user (uid %ld) or root; fix: chown %ld %s", what, path,
		    (long)st->st_uid, (long)geteuid(), (long)geteuid(), path);
		return -1;
	}
	if ((st->st_mode & 077) != 0) {
		snprintf(err, errlen, "%s %s: %s readable by group or others "
		    "(mode %04o); fix: chmod 600 %s", what, path, noun,
		    (unsigned)(st->st_mode & 07777), path);
		return -1;
	}
	return 0;
}

/* Removes a file of secrets; one that stays is worth a warning. */
static void
tls_unlink_secret(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("tls: cannot remove %s, which holds session secrets",
		    path);
}

int
tls_check_key_file(const char *what, const char *path, char *err,
    size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	return tls_check_secret_stat(what, "private key", path, &st, err,
	    errlen);
}

/* "r3.cert" etc. with the config position, for error messages. */
static void
tls_where(const struct config *cfg, const char *key, long peer, char *buf,
    size_t len)
{
	config_locate(cfg, key, peer, buf, len);
}

static void
tls_ssl_error(char *err, size_t errlen, const char *where, const char *path,
    const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char detail[256];

	if (e != 0)
		ERR_error_string_n(e, detail, sizeof(detail));
	else
		snprintf(detail, sizeof(detail), "%s", strerror(errno));
	ERR_clear_error();
	snprintf(err, errlen, "%s: %s: %s (%s)", where, path, what, detail);
}

static STACK_OF(X509) *
tls_load_certs(const char *where, const char *path, char *err, size_t errlen)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *bio = BIO_new_file(path, "r");
	X509 *x;

	if (certs == NULL || bio == NULL) {
		sk_X509_free(certs);
		BIO_free(bio);
		ERR_clear_error();
		snprintf(err, errlen, "%s: %s: %s", where, path,
		    strerror(errno ? errno : ENOMEM));
		return NULL;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			break;
		}
	BIO_free(bio);
	if (sk_X509_num(certs) == 0) {
		sk_X509_free(certs);
		tls_ssl_error(err, errlen, where, path, "no PEM certificate");
		return NULL;
	}
	ERR_clear_error();	/* the read loop ends on "no start line" */
	return certs;
}

static X509_CRL *
tls_load_crl(const char *where, const char *path, char *err, size_t errlen)
{
	BIO *bio = BIO_new_file(path, "r");
	X509_CRL *crl;

	if (bio == NULL) {
		ERR_clear_error();
		snprintf(err, errlen, "%s: %s: %s", where, path,
		    strerror(errno));
		return NULL;
	}
	crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (crl == NULL)
		tls_ssl_error(err, errlen, where, path, "no PEM CRL");
	return crl;
}

static EVP_PKEY *
tls_load_key(const char *key, const struct config *cfg, const char *path,
    char *err, size_t errlen)
{
	char where[CONFIG_ERR_MAX], msg[TLS_ERR_MAX];
	BIO *bio;
	EVP_PKEY *pk;

	tls_where(cfg, key, -1, where, sizeof(where));
	if (tls_check_key_file(key, path, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "%s: %s", where, msg + strlen(key) + 1);
		return NULL;
	}
	if ((bio = BIO_new_file(path, "r")) == NULL) {
		ERR_clear_error();
		snprintf(err, errlen, "%s: %s: %s", where, path,
		    strerror(errno));
		return NULL;
	}
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pk == NULL)
		tls_ssl_error(err, errlen, where, path, "no PEM private key "
		    "(or it is encrypted)");
	return pk;
}

static int
tls_watch_add(struct tls *t, const char *what, const char *path, int is_crl,
    time_t until, const char *subject)
{
	struct tls_watch *v = realloc(t->watches,
	    (t->nwatches + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	t->watches = v;
	v = &t->watches[t->nwatches++];
	memset(v, 0, sizeof(*v));
	snprintf(v->what, sizeof(v->what), "%s", what);
	snprintf(v->path, sizeof(v->path), "%s", path);
	snprintf(v->subject, sizeof(v->subject), "%s", subject);
	v->is_crl = is_crl;
	v->until = until;
	return 0;
}

static int
tls_watch_cert(struct tls *t, const char *what, const char *path, X509 *x)
{
	struct tls_identity id;

	if (tls_identity_from_cert(x, &id) != 0)
		return -1;
	return tls_watch_add(t, what, path, 0, id.not_after,
	    id.subject_cn[0] ? id.subject_cn : id.issuer);
}

static int
tls_watch_crl(struct tls *t, const char *what, const char *path,
    X509_CRL *crl)
{
	char issuer[128];

	X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer, sizeof(issuer));
	return tls_watch_add(t, what, path, 1,
	    tls_asn1_time(X509_CRL_get0_nextUpdate(crl)), issuer);
}

/* Versions, suites and the options every context shares. */
static int
tls_ctx_common(SSL_CTX *ctx, const struct config *cfg, char *err,
    size_t errlen)
{
	int minv = cfg->tls.min_version == CONFIG_TLS_1_3 ? TLS1_3_VERSION :
	    TLS1_2_VERSION;

	if (!SSL_CTX_set_min_proto_version(ctx, minv) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, cfg->tls.ciphers) ||
	    !SSL_CTX_set_ciphersuites(ctx, cfg->tls.ciphersuites)) {
		tls_ssl_error(err, errlen, "tls", "(versions/ciphers)",
		    "OpenSSL refused the TLS settings");
		return -1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	/* A partial write must not move the buffer: bufferevents may. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_RELEASE_BUFFERS);
	return 0;
}

/* Was crl issued and signed by one of the CA certificates in cas? */
static int
tls_crl_of(X509_CRL *crl, STACK_OF(X509) *cas)
{
	for (int i = 0; i < sk_X509_num(cas); i++) {
		X509 *ca = sk_X509_value(cas, i);

		if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
		    X509_get_subject_name(ca)) == 0 &&
		    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
			return 1;
	}
	ERR_clear_error();
	return 0;
}

static int
tls_add_crl(struct tls *t, X509_STORE *store, const char *key, long peer,
    const char *path, STACK_OF(X509) *cas, char *err, size_t errlen)
{
	char where[CONFIG_ERR_MAX], what[96], issuer[200];
	X509_CRL *crl;

	tls_where(t->cfg, key, peer, where, sizeof(where));
	if ((crl = tls_load_crl(where, path, err, errlen)) == NULL)
		return -1;
	/* A CRL from another CA would leave this CA unchecked, silently. */
	if (!tls_crl_of(crl, cas)) {
		X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer,
		    sizeof(issuer));
		snprintf(err, errlen, "%s: %s: issued by %s, not signed by the "
		    "CA it is configured for", where, path, issuer);
		X509_CRL_free(crl);
		return -1;
	}
	if (!X509_STORE_add_crl(store, crl)) {
		X509_CRL_free(crl);
		tls_ssl_error(err, errlen, where, path, "cannot use CRL");
		return -1;
	}
	if (peer >= 0)
		snprintf(what, sizeof(what), "peers[%ld].%s", peer, key);
	else
		snprintf(what, sizeof(what), "%s", key);
	if (tls_watch_crl(t, what, path, crl) != 0 ||
	    !sk_X509_NAME_push(t->crl_issuers,
	    X509_NAME_dup(X509_CRL_get_issuer(crl)))) {
		X509_CRL_free(crl);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	X509_CRL_free(crl);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK |
	    X509_V_FLAG_CRL_CHECK_ALL);
	return 0;
}

/* A CA file, loaded once however many peers name it. */
static struct tls_ca *
tls_ca_get(struct tls *t, long peer, const char *path, char *err,
    size_t errlen)
{
	char where[CONFIG_ERR_MAX], what[96];
	struct tls_ca *v;
	STACK_OF(X509) *certs;

	for (size_t i = 0; i < t->ncas; i++)
		if (strcmp(t->cas[i].path, path) == 0)
			return &t->cas[i];
	tls_where(t->cfg, "ca", peer, where, sizeof(where));
	if ((certs = tls_load_certs(where, path, err, errlen)) == NULL)
		return NULL;
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (!X509_STORE_add_cert(t->peer_store,
		    sk_X509_value(certs, i))) {
			ERR_clear_error();	/* the same CA twice is fine */
		}
	snprintf(what, sizeof(what), "peers[%ld].ca", peer);
	if (tls_watch_cert(t, what, path, sk_X509_value(certs, 0)) != 0 ||
	    (v = realloc(t->cas, (t->ncas + 1) * sizeof(*v))) == NULL) {
		sk_X509_pop_free(certs, X509_free);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->cas = v;
	v[t->ncas].path = strdup(path);
	v[t->ncas].certs = certs;
	if (v[t->ncas].path == NULL) {
		sk_X509_pop_free(certs, X509_free);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return &t->cas[t->ncas++];
}

static int
tls_pin_cmp(const void *a, const void *b)
{
	return memcmp(((const struct tls_pin *)a)->pin,
	    ((const struct tls_pin *)b)->pin, 32);
}

static int
tls_build_peers(struct tls *t, char *err, size_t errlen)
{
	const struct config *cfg = t->cfg;
	size_t npins = 0, k = 0;

	if ((t->peer_store = X509_STORE_new()) == NULL)
		goto oom;
	for (size_t i = 0; i < cfg->peers.n; i++)
		npins += cfg->peers.v[i].pins.n;
	if (npins > 0 && (t->pins = calloc(npins, sizeof(*t->pins))) == NULL)
		goto oom;
	for (size_t i = 0; i < cfg->peers.n; i++) {
		const struct config_peer *p = &cfg->peers.v[i];
		const struct tls_ca *ca;

		if ((ca = tls_ca_get(t, (long)i, p->ca, err, errlen)) == NULL)
			return -1;
		if (p->crl != NULL && tls_add_crl(t, t->peer_store, "crl",
		    (long)i, p->crl, ca->certs, err, errlen) != 0)
			return -1;
		for (size_t j = 0; j < p->pins.n; j++) {
			memcpy(t->pins[k].pin, p->pins.v[j], 32);
			t->pins[k].peer = p;
			t->pins[k].ca = ca;
			k++;
		}
	}
	/* t->cas may have moved while later CA files loaded: resolve now. */
	for (size_t i = 0; i < k; i++)
		for (size_t c = 0; c < t->ncas; c++)
			if (strcmp(t->cas[c].path, t->pins[i].peer->ca) == 0)
				t->pins[i].ca = &t->cas[c];
	t->npins = k;
	if (t->npins > 1)
		qsort(t->pins, t->npins, sizeof(*t->pins), tls_pin_cmp);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int
tls_use_cert_key(struct tls *t, SSL_CTX *ctx, const char *certkey,
    const char *cert, const char *keykey, const char *key, char *err,
    size_t errlen)
{
	char where[CONFIG_ERR_MAX];
	STACK_OF(X509) *chain;
	EVP_PKEY *pk;
	int ok;

	tls_where(t->cfg, certkey, -1, where, sizeof(where));
	if ((chain = tls_load_certs(where, cert, err, errlen)) == NULL)
		return -1;
	if (!SSL_CTX_use_certificate(ctx, sk_X509_value(chain, 0))) {
		tls_ssl_error(err, errlen, where, cert, "unusable certificate");
		sk_X509_pop_free(chain, X509_free);
		return -1;
	}
	for (int i = 1; i < sk_X509_num(chain); i++)
		if (!SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i))) {
			tls_ssl_error(err, errlen, where, cert,
			    "unusable chain certificate");
			sk_X509_pop_free(chain, X509_free);
			return -1;
		}
	ok = tls_watch_cert(t, certkey, cert, sk_X509_value(chain, 0)) == 0;
	sk_X509_pop_free(chain, X509_free);
	if (!ok) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((pk = tls_load_key(keykey, t->cfg, key, err, errlen)) == NULL)
		return -1;
	ok = SSL_CTX_use_PrivateKey(ctx, pk) && SSL_CTX_check_private_key(ctx);
	EVP_PKEY_free(pk);
	if (!ok) {
		tls_where(t->cfg, keykey, -1, where, sizeof(where));
		tls_ssl_error(err, errlen, where, key, "does not match the "
		    "certificate");
		return -1;
	}
	return 0;
}

/*
 * The chain we send with our certificate. With only a leaf in the file
 * OpenSSL builds it from the context's store on every handshake: a whole
 * X509_verify_cert of our own certificate (an ECDSA verification and the
 * store lookups, a seventh of a full handshake's CPU). Built once here
 * instead, from the same store, to the same result; a file that carries
 * its chain is sent as it is, as before.
 */
static int
tls_build_chain(SSL_CTX *ctx, const char *where, const char *path, char *err,
    size_t errlen)
{
	STACK_OF(X509) *have = NULL;

	if (!SSL_CTX_get0_chain_certs(ctx, &have))
		have = NULL;
	if (have != NULL && sk_X509_num(have) > 0)
		return 0;
	if (SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR |
	    SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR) <= 0) {
		tls_ssl_error(err, errlen, where, path, "cannot build the "
		    "chain sent with the certificate");
		return -1;
	}
	return 0;
}

/* ---- verified-certificate cache ------------------------------------- */

/*
 * An RA reconnects with the same certificate again and again; building
 * and checking its chain (two ECDSA verifications, store lookups, CRL
 * search) is a fifth of a full handshake's CPU. The outcome depends only
 * on the certificate's bytes, the store and the time, so it is kept per
 * certificate: the store never changes under a struct tls (a reload
 * builds a new one, with an empty cache), and an entry ends at the
 * earliest notAfter in its chain, at the earliest CRL nextUpdate and
 * after tls.verify_cache_ttl. The peer-table and policy checks are not
 * cached: the verify callback runs on every handshake, hit or miss.
 */

static void
tls_vc_flush(struct tls_vcache *vc)
{
	for (size_t i = 0; i < vc->cap; i++)
		if (vc->slots[i].used) {
			sk_X509_pop_free(vc->slots[i].above, X509_free);
			vc->slots[i].used = 0;
		}
	vc->n = 0;
}

static void
tls_vc_free(struct tls_vcache *vc)
{
	if (vc == NULL)
		return;
	tls_vc_flush(vc);
	free(vc->slots);
	free(vc);
}

static struct tls_vcache *
tls_vc_new(const struct config *cfg, const struct tls_watch *w, size_t nw)
{
	struct tls_vcache *vc;
	size_t cap = 16;

	if (cfg->tls.verify_cache == 0)
		return NULL;
	while (cap < 2 * cfg->tls.verify_cache)
		cap *= 2;
	if ((vc = calloc(1, sizeof(*vc))) == NULL ||
	    (vc->slots = calloc(cap, sizeof(*vc->slots))) == NULL) {
		free(vc);
		return NULL;
	}
	vc->cap = cap;
	vc->max = cfg->tls.verify_cache;
	vc->ttl_s = (time_t)(cfg->tls.verify_cache_ttl_ms / 1000);
	/* A CRL past its nextUpdate fails verification: stop before it. */
	vc->crl_until = (time_t)INT64_MAX;
	for (size_t i = 0; i < nw; i++)	/* (0: a CRL without nextUpdate) */
		if (w[i].is_crl && w[i].until > 0 && w[i].until < vc->crl_until)
			vc->crl_until = w[i].until;
	return vc;
}

/* The slot holding MD, or the free slot where it would go. */
static struct tls_vc *
tls_vc_slot(const struct tls_vcache *vc, const unsigned char md[32])
{
	uint64_t h;
	size_t i;

	memcpy(&h, md, sizeof(h));
	for (i = h & (vc->cap - 1);; i = (i + 1) & (vc->cap - 1))
		if (!vc->slots[i].used ||
		    memcmp(vc->slots[i].md, md, 32) == 0)
			return &vc->slots[i];
}

static int
tls_cert_sha256(const struct tls *t, X509 *cert, unsigned char md[32])
{
	unsigned int len = 0;

	return X509_digest(cert, t->sha256, md, &len) == 1 && len == 32;
}

/* A chain still good at NOW, from the cache: the leaf, then the rest. */
static STACK_OF(X509) *
tls_vc_lookup(const struct tls *t, X509 *leaf, time_t now)
{
	struct tls_vcache *vc = t->vc;
	unsigned char md[32];
	struct tls_vc *e;
	STACK_OF(X509) *chain;

	if (vc == NULL || !tls_cert_sha256(t, leaf, md))
		return NULL;
	e = tls_vc_slot(vc, md);
	if (!e->used || now >= e->until) {
		vc->misses++;
		return NULL;
	}
	if ((chain = sk_X509_new_reserve(NULL,
	    sk_X509_num(e->above) + 1)) == NULL)
		return NULL;
	X509_up_ref(leaf);
	sk_X509_push(chain, leaf);
	for (int i = 0; i < sk_X509_num(e->above); i++) {
		X509_up_ref(sk_X509_value(e->above, i));
		sk_X509_push(chain, sk_X509_value(e->above, i));
	}
	vc->hits++;
	return chain;
}

/* Remembers that CHAIN (leaf first) verified at NOW. */
static void
tls_vc_store(const struct tls *t, STACK_OF(X509) *chain, time_t now)
{
	struct tls_vcache *vc = t->vc;
	unsigned char md[32];
	struct tls_vc *e;
	time_t until;
	STACK_OF(X509) *above;

	if (vc == NULL || sk_X509_num(chain) < 1 ||
	    !tls_cert_sha256(t, sk_X509_value(chain, 0), md))
		return;
	until = now + vc->ttl_s;
	if (vc->crl_until < until)
		until = vc->crl_until;
	for (int i = 0; i < sk_X509_num(chain); i++) {
		time_t na = tls_asn1_time(X509_get0_notAfter(
		    sk_X509_value(chain, i)));

		if (na < until)
			until = na;
	}
	if (until <= now || (above = sk_X509_new_null()) == NULL)
		return;
	for (int i = 1; i < sk_X509_num(chain); i++) {
		if (!sk_X509_push(above, sk_X509_value(chain, i))) {
			sk_X509_pop_free(above, X509_free);
			return;
		}
		X509_up_ref(sk_X509_value(chain, i));
	}
	e = tls_vc_slot(vc, md);
	/* Full of live entries: start afresh rather than grow. */
	if (!e->used && vc->n >= vc->max) {
		tls_vc_flush(vc);
		e = tls_vc_slot(vc, md);
	}
	if (e->used)
		sk_X509_pop_free(e->above, X509_free);
	else
		vc->n++;
	memcpy(e->md, md, 32);
	e->above = above;
	e->until = until;
	e->used = 1;
}

/*
 * The server's certificate verification (SSL_CTX_set_cert_verify_callback):
 * a cached chain stands in for X509_verify_cert, and the verify callback
 * is then called at depth 0 as X509_verify_cert would call it last.
 */
static int
tls_cert_verify(X509_STORE_CTX *x, void *arg)
{
	const struct tls *t = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(x);
	time_t now = time(NULL);
	STACK_OF(X509) *chain;
	X509_STORE_CTX_verify_cb cb;
	int ok;

	if (leaf == NULL || (chain = tls_vc_lookup(t, leaf, now)) == NULL) {
		ok = X509_verify_cert(x);
		if (ok == 1)
			tls_vc_store(t, X509_STORE_CTX_get0_chain(x), now);
		return ok;
	}
	X509_STORE_CTX_set0_verified_chain(x, chain);
	X509_STORE_CTX_set_error(x, X509_V_OK);
	X509_STORE_CTX_set_error_depth(x, 0);
	X509_STORE_CTX_set_current_cert(x, leaf);
	cb = X509_STORE_CTX_get_verify_cb(x);
	return cb != NULL ? cb(1, x) : 1;
}

/* ---- sessions kept over a restart (tls.keep_sessions) ----------------- */

/*
 * The file holds every live session's master secret: whoever reads it
 * can resume those sessions as the RA that made them. So it is off by
 * default, mode 0600 in the state directory like the other state, written
 * only when acgwd stops, read once when it starts and removed at once,
 * and only sessions still within tls.session_timeout are taken back. A
 * resumed session is admitted as any other: its certificate is checked
 * against the CAs and CRLs of the day, then the peer table and the policy.
 */
#define TLS_SESSIONS_FILE	"tls-sessions"
#define TLS_SESSIONS_MAGIC	"acgw-tls-sessions 1\n"
/* A session in PEM is about 1.5 KiB with an ECDSA certificate. */
#define TLS_SESSION_PEM_MAX	8192

/* SSL_CTX_flush_sessions hands each session to this, one at a time. */
static BIO *tls_save_bio;
static size_t tls_save_n;

static void
tls_save_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
	/* (Already marked not resumable: it is leaving this cache.) */
	(void)ctx;
	if (tls_save_bio != NULL &&
	    SSL_SESSION_get_time(sess) + SSL_SESSION_get_timeout(sess) >
	    time(NULL) && PEM_write_bio_SSL_SESSION(tls_save_bio, sess))
		tls_save_n++;
}

int
tls_sessions_save(const struct tls *t, size_t *n, char *err, size_t errlen)
{
	BIO *b;
	char *data = NULL;
	long len;
	int rc;

	*n = 0;
	if (t->server == NULL || !t->cfg->tls.keep_sessions ||
	    t->cfg->tls.session_cache == 0)
		return 0;
	if ((b = BIO_new(BIO_s_secmem())) == NULL ||
	    BIO_puts(b, TLS_SESSIONS_MAGIC) <= 0) {
		BIO_free(b);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Flushing at time 0 removes every entry, through the callback. */
	tls_save_bio = b;
	tls_save_n = 0;
	SSL_CTX_sess_set_remove_cb(t->server, tls_save_cb);
	SSL_CTX_flush_sessions(t->server, 0);
	SSL_CTX_sess_set_remove_cb(t->server, NULL);
	tls_save_bio = NULL;
	len = BIO_get_mem_data(b, &data);
	/* The relay makes the directory when it has state; it may not. */
	if (mkdir(t->cfg->dispatch.state_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", t->cfg->dispatch.state_dir,
		    strerror(errno));
		BIO_free(b);
		return -1;
	}
	rc = store_write(t->cfg->dispatch.state_dir, TLS_SESSIONS_FILE, data,
	    (size_t)len, err, errlen);
	BIO_free(b);		/* secure memory: cleansed as it goes */
	if (rc == 0)
		*n = tls_save_n;
	return rc;
}

/*
 * Each session of the file, as long as the cache takes them: with
 * today's tls.session_timeout, and its certificate verified against
 * today's CAs and CRLs (which also fills the verified-certificate
 * cache). A session whose certificate fails is left out: that peer makes
 * a full handshake, and is refused there if it must be.
 */
static void
tls_sessions_take(const struct tls *t, BIO *b, size_t *n, size_t *failed)
{
	long timeout = (long)(t->cfg->tls.session_timeout_ms / 1000);
	unsigned char *der;
	const unsigned char *p;
	long derlen;
	SSL_SESSION *sess;
	STACK_OF(X509) *chain;
	const char *why;

	while (PEM_bytes_read_bio_secmem(&der, &derlen, NULL,
	    PEM_STRING_SSL_SESSION, b, NULL, NULL) == 1) {
		p = der;
		sess = d2i_SSL_SESSION(NULL, &p, derlen);
		OPENSSL_secure_clear_free(der, (size_t)derlen);
		if (sess == NULL) {
			(*failed)++;
			continue;
		}
		SSL_SESSION_set_timeout(sess, timeout);
		chain = NULL;
		if (SSL_SESSION_get_time(sess) + timeout > time(NULL) &&
		    SSL_SESSION_get0_peer(sess) != NULL &&
		    tls_reverify(t, SSL_SESSION_get0_peer(sess), NULL, &chain,
		    &why) == 0 && SSL_CTX_add_session(t->server, sess))
			(*n)++;
		else
			(*failed)++;
		sk_X509_pop_free(chain, X509_free);
		SSL_SESSION_free(sess);
	}
	ERR_clear_error();	/* the end of the data */
}

int
tls_sessions_load(const struct tls *t, size_t *n, char *err, size_t errlen)
{
	const char *dir = t->cfg->dispatch.state_dir;
	size_t len = 0, failed = 0, magic = strlen(TLS_SESSIONS_MAGIC);
	size_t max = TLS_SESSION_PEM_MAX;
	char path[4096], *data = NULL;
	struct stat st;
	BIO *b;
	int fd, rc = -1;

	*n = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, TLS_SESSIONS_FILE);
	if (lstat(path, &st) != 0)
		return 0;
	if (t->server == NULL || !t->cfg->tls.keep_sessions ||
	    t->cfg->tls.session_cache == 0) {
		/* Left by an earlier run with the setting on: no use now. */
		tls_unlink_secret(path);
		return 0;
	}
	/* Checked on what is opened, not on the name. */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (tls_check_secret_stat("tls.keep_sessions", "session secrets", path,
	    &st, err, errlen) != 0)
		goto out;
	/* What the cache can hold; a longer file is refused. */
	if (t->cfg->tls.session_cache < (256u << 20) / TLS_SESSION_PEM_MAX)
		max *= t->cfg->tls.session_cache;
	else
		max = 256u << 20;
	if (store_read_fd(fd, path, max + magic, &data, &len, err,
	    errlen) != 1)
		goto out;
	if (len < magic || memcmp(data, TLS_SESSIONS_MAGIC, magic) != 0)
		snprintf(err, errlen, "%s: not an acgw-tls-sessions 1 file",
		    path);
	else if ((b = BIO_new_mem_buf(data + magic, (int)(len - magic))) ==
	    NULL)
		snprintf(err, errlen, "out of memory");
	else {
		tls_sessions_take(t, b, n, &failed);
		BIO_free(b);
		if (failed > 0)
			log_notice("tls: %zu session(s) of the last run left "
			    "out: expired, or their certificate no longer "
			    "verifies", failed);
		rc = 0;
	}
out:
	if (fd != -1)
		close(fd);
	tls_unlink_secret(path);	/* read once: the secrets leave */
	OPENSSL_clear_free(data, len);
	return rc;
}

void
tls_verify_cache_stats(const struct tls *t, uint64_t *hits,
    uint64_t *misses, size_t *entries)
{
	*hits = t->vc ? t->vc->hits : 0;
	*misses = t->vc ? t->vc->misses : 0;
	*entries = t->vc ? t->vc->n : 0;
}

static int
tls_build_server(struct tls *t, char *err, size_t errlen)
{
	const struct config *cfg = t->cfg;
	static const unsigned char sid_ctx[] = "acgw-r3";
	STACK_OF(X509_NAME) *names;

	if ((t->server = SSL_CTX_new(TLS_server_method())) == NULL ||
	    tls_ctx_common(t->server, cfg, err, errlen) != 0)
		return -1;
	if (tls_use_cert_key(t, t->server, "r3.cert", cfg->r3.cert, "r3.key",
	    cfg->r3.key, err, errlen) != 0)
		return -1;
	SSL_CTX_set_options(t->server, SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* The context takes its own reference to the store. */
	X509_STORE_up_ref(t->peer_store);
	SSL_CTX_set_cert_store(t->server, t->peer_store);
	if (tls_build_chain(t->server, "r3.cert", cfg->r3.cert, err, errlen) != 0)
		return -1;
	SSL_CTX_set_verify(t->server, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(t->server, 8);
	SSL_CTX_set_cert_verify_callback(t->server, tls_cert_verify, t);
	/* Name our CAs in the CertificateRequest, so clients pick right. */
	if ((names = sk_X509_NAME_new_null()) == NULL)
		goto oom;
	for (size_t i = 0; i < t->ncas; i++)
		for (int c = 0; c < sk_X509_num(t->cas[i].certs); c++)
			sk_X509_NAME_push(names, X509_NAME_dup(
			    X509_get_subject_name(sk_X509_value(t->cas[i].certs,
			    c))));
	SSL_CTX_set_client_CA_list(t->server, names);
	SSL_CTX_set_session_id_context(t->server, sid_ctx, sizeof(sid_ctx) - 1);
	if (cfg->tls.session_cache == 0) {
		SSL_CTX_set_session_cache_mode(t->server, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(t->server, 0);
	} else {
		SSL_CTX_set_session_cache_mode(t->server, SSL_SESS_CACHE_SERVER);
		SSL_CTX_sess_set_cache_size(t->server,
		    (long)cfg->tls.session_cache);
		SSL_CTX_set_timeout(t->server,
		    (long)(cfg->tls.session_timeout_ms / 1000));
		SSL_CTX_set_num_tickets(t->server, 1);
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int
tls_build_client(struct tls *t, char *err, size_t errlen)
{
	const struct config *cfg = t->cfg;
	char where[CONFIG_ERR_MAX];
	STACK_OF(X509) *cas;
	X509_STORE *store;

	if ((t->client = SSL_CTX_new(TLS_client_method())) == NULL ||
	    tls_ctx_common(t->client, cfg, err, errlen) != 0)
		return -1;
	if (tls_use_cert_key(t, t->client, "r1.cert", cfg->r1.cert, "r1.key",
	    cfg->r1.key, err, errlen) != 0)
		return -1;
	tls_where(cfg, "r1.ca", -1, where, sizeof(where));
	if ((cas = tls_load_certs(where, cfg->r1.ca, err, errlen)) == NULL)
		return -1;
	store = SSL_CTX_get_cert_store(t->client);
	for (int i = 0; i < sk_X509_num(cas); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(cas, i)))
			ERR_clear_error();
	if (tls_watch_cert(t, "r1.ca", cfg->r1.ca, sk_X509_value(cas, 0)) != 0) {
		sk_X509_pop_free(cas, X509_free);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cfg->r1.crl != NULL && tls_add_crl(t, store, "r1.crl", -1,
	    cfg->r1.crl, cas, err, errlen) != 0) {
		sk_X509_pop_free(cas, X509_free);
		return -1;
	}
	sk_X509_pop_free(cas, X509_free);
	if (tls_build_chain(t->client, "r1.cert", cfg->r1.cert, err, errlen) != 0)
		return -1;
	SSL_CTX_set_verify(t->client, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(t->client, 8);
	/* Client-side resumption towards the TSO: one cached session. */
	SSL_CTX_set_session_cache_mode(t->client, SSL_SESS_CACHE_OFF);
	return 0;
}

/*
 * Pushing to an RA, acgwd is the client and shows its R3 certificate
 * (which must then allow clientAuth). The RA's endpoint is verified as
 * its client certificates are: against the peers' CAs and CRLs, and its
 * key must be one of that peer's pins (the push module checks which).
 */
static int
tls_build_push(struct tls *t, char *err, size_t errlen)
{
	STACK_OF(X509) *chain = NULL;
	X509 *own = SSL_CTX_get0_certificate(t->server);
	char where[CONFIG_ERR_MAX];

	err[0] = '\0';
	/* Else every push fails in the RA's handshake, far from here. */
	if (X509_check_purpose(own, X509_PURPOSE_SSL_CLIENT, 0) != 1) {
		tls_where(t->cfg, "r3.cert", -1, where, sizeof(where));
		snprintf(err, errlen, "%s: %s: not usable as a client "
		    "certificate (its extended key usage lacks clientAuth), "
		    "which pushing to peers[].push_url needs", where,
		    t->cfg->r3.cert);
		return -1;
	}
	if ((t->push = SSL_CTX_new(TLS_client_method())) == NULL ||
	    tls_ctx_common(t->push, t->cfg, err, errlen) != 0)
		goto oom;
	if (!SSL_CTX_use_certificate(t->push, SSL_CTX_get0_certificate(
	    t->server)) || !SSL_CTX_use_PrivateKey(t->push,
	    SSL_CTX_get0_privatekey(t->server)) ||
	    !SSL_CTX_get0_chain_certs(t->server, &chain) ||
	    (chain != NULL && !SSL_CTX_set1_chain(t->push, chain)))
		goto oom;
	X509_STORE_up_ref(t->peer_store);
	SSL_CTX_set_cert_store(t->push, t->peer_store);
	SSL_CTX_set_verify(t->push, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(t->push, 8);
	SSL_CTX_set_session_cache_mode(t->push, SSL_SESS_CACHE_OFF);
	return 0;
oom:
	if (err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	return -1;
}

/*
 * A context from files alone, for the rehearsal tools (acgw-mockdispatch,
 * acgw-mockra): same defaults and key hygiene as acgwd's, no config.
 */
SSL_CTX *
tls_ctx_simple(const struct tls_simple *o, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	int ok;

	ERR_clear_error();
	ctx = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, o->min_version ?
	    o->min_version : TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, o->max_version ?
	    o->max_version : TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, o->ciphers ? o->ciphers :
	    CONFIG_DEFAULT_CIPHERS) ||
	    !SSL_CTX_set_ciphersuites(ctx, o->ciphersuites ? o->ciphersuites :
	    CONFIG_DEFAULT_SUITES)) {
		tls_ssl_error(err, errlen, "tls", "(versions/ciphers)",
		    "OpenSSL refused the TLS settings");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_RELEASE_BUFFERS);
	if ((certs = tls_load_certs("certificate", o->cert, err, errlen)) ==
	    NULL)
		goto fail;
	if (!SSL_CTX_use_certificate(ctx, sk_X509_value(certs, 0))) {
		tls_ssl_error(err, errlen, "certificate", o->cert, "unusable");
		goto fail;
	}
	for (int i = 1; i < sk_X509_num(certs); i++)
		if (!SSL_CTX_add1_chain_cert(ctx, sk_X509_value(certs, i))) {
			tls_ssl_error(err, errlen, "certificate", o->cert,
			    "unusable chain certificate");
			goto fail;
		}
	sk_X509_pop_free(certs, X509_free);
	certs = NULL;
	if (tls_check_key_file("key", o->key, err, errlen) != 0)
		goto fail;
	if ((bio = BIO_new_file(o->key, "r")) == NULL ||
	    (pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		tls_ssl_error(err, errlen, "key", o->key, "no PEM private key "
		    "(or it is encrypted)");
		goto fail;
	}
	ok = SSL_CTX_use_PrivateKey(ctx, pk) && SSL_CTX_check_private_key(ctx);
	if (!ok) {
		tls_ssl_error(err, errlen, "key", o->key, "does not match the "
		    "certificate");
		goto fail;
	}
	if ((certs = tls_load_certs("CA", o->ca, err, errlen)) == NULL)
		goto fail;
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (!X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx),
		    sk_X509_value(certs, i)))
			ERR_clear_error();
	if (o->server) {
		STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();

		for (int i = 0; names && i < sk_X509_num(certs); i++)
			sk_X509_NAME_push(names, X509_NAME_dup(
			    X509_get_subject_name(sk_X509_value(certs, i))));
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx, 0);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	SSL_CTX_set_verify_depth(ctx, 8);
	sk_X509_pop_free(certs, X509_free);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return ctx;
fail:
	sk_X509_pop_free(certs, X509_free);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls *
tls_new(const struct config *cfg, char *err, size_t errlen)
{
	struct tls *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	t->cfg = cfg;
	if ((t->crl_issuers = sk_X509_NAME_new_null()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (tls_build_peers(t, err, errlen) != 0)
		goto fail;
	if (cfg->r3.listen.text != NULL &&
	    tls_build_server(t, err, errlen) != 0)
		goto fail;
	if (cfg->r1.url.text != NULL && tls_build_client(t, err, errlen) != 0)
		goto fail;
	for (size_t i = 0; t->server != NULL && t->push == NULL &&
	    i < cfg->peers.n; i++)
		if (cfg->peers.v[i].push_url.text != NULL &&
		    tls_build_push(t, err, errlen) != 0)
			goto fail;
	/* After the watches: the cache stops at the first CRL's nextUpdate. */
	if ((t->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL)) == NULL ||
	    (cfg->tls.verify_cache > 0 && (t->vc = tls_vc_new(cfg, t->watches,
	    t->nwatches)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return t;
fail:
	tls_free(t);
	return NULL;
}

void
tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	/*
	 * Handshakes begun before a reload keep this context alive after
	 * t is gone: they verify in full, without this t's cache.
	 */
	if (t->server != NULL)
		SSL_CTX_set_cert_verify_callback(t->server, NULL, NULL);
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	SSL_CTX_free(t->push);
	X509_STORE_free(t->peer_store);
	for (size_t i = 0; i < t->ncas; i++) {
		free(t->cas[i].path);
		sk_X509_pop_free(t->cas[i].certs, X509_free);
	}
	free(t->cas);
	free(t->pins);
	sk_X509_NAME_pop_free(t->crl_issuers, X509_NAME_free);
	free(t->watches);
	tls_vc_free(t->vc);
	EVP_MD_free(t->sha256);
	free(t);
}

SSL_CTX *tls_server_ctx(const struct tls *t) { return t->server; }
SSL_CTX *tls_client_ctx(const struct tls *t) { return t->client; }
SSL_CTX *tls_push_ctx(const struct tls *t) { return t->push; }

const struct tls_watch *
tls_watches(const struct tls *t, size_t *n)
{
	*n = t->nwatches;
	return t->watches;
}

enum tls_expiry
tls_watch_state(const struct tls_watch *w, time_t now, uint64_t warning_ms,
    uint64_t critical_ms)
{
	if (w->until <= now)
		return TLS_EXPIRED;
	/* CRLs are reissued often (days): only a stale one is news. */
	if (w->is_crl)
		return TLS_EXPIRY_OK;
	if ((uint64_t)(w->until - now) * 1000 <= critical_ms)
		return TLS_EXPIRY_CRITICAL;
	if ((uint64_t)(w->until - now) * 1000 <= warning_ms)
		return TLS_EXPIRY_WARNING;
	return TLS_EXPIRY_OK;
}

const char *
tls_expiry_name(enum tls_expiry e)
{
	switch (e) {
	case TLS_EXPIRY_OK: return "ok";
	case TLS_EXPIRY_WARNING: return "expires soon";
	case TLS_EXPIRY_CRITICAL: return "expires very soon";
	case TLS_EXPIRED: return "expired";
	}
	return "?";
}

/* ---- peers ---------------------------------------------------------- */

static int
tls_chain_has(STACK_OF(X509) *chain, const struct tls_ca *ca)
{
	/* Depth 0 is the peer itself; its issuers follow. */
	for (int i = 1; chain != NULL && i < sk_X509_num(chain); i++)
		for (int c = 0; c < sk_X509_num(ca->certs); c++)
			if (X509_cmp(sk_X509_value(chain, i),
			    sk_X509_value(ca->certs, c)) == 0)
				return 1;
	return 0;
}

const struct config_peer *
tls_match_peer(const struct tls *t, const struct tls_identity *id,
    STACK_OF(X509) *chain, const char **reason)
{
	struct tls_pin key;
	const struct tls_pin *hit;

	memcpy(key.pin, id->spki_sha256, 32);
	hit = t->npins == 0 ? NULL :
	    bsearch(&key, t->pins, t->npins, sizeof(*t->pins), tls_pin_cmp);
	if (hit == NULL) {
		*reason = "unknown pin (no configured peer has this key)";
		return NULL;
	}
	if (!tls_chain_has(chain, hit->ca)) {
		*reason = "pin mismatch (the key is a peer's, but its "
		    "certificate does not chain to that peer's CA)";
		return NULL;
	}
	return hit->peer;
}

int
tls_source_allowed(const struct config_peer *peer, const struct sockaddr *sa)
{
	for (size_t i = 0; i < peer->sources.n; i++)
		if (units_cidr_match(&peer->sources.v[i], sa))
			return 1;
	return 0;
}

int
tls_crl_optional(const struct tls *t, X509_STORE_CTX *x)
{
	X509 *cur = X509_STORE_CTX_get_current_cert(x);

	if (X509_STORE_CTX_get_error(x) != X509_V_ERR_UNABLE_TO_GET_CRL ||
	    cur == NULL)
		return 0;
	for (int i = 0; i < sk_X509_NAME_num(t->crl_issuers); i++)
		if (X509_NAME_cmp(sk_X509_NAME_value(t->crl_issuers, i),
		    X509_get_issuer_name(cur)) == 0)
			return 0;	/* it has a CRL: the CRL must be there */
	return 1;
}

static int tls_reverify_idx = -1;

static int
tls_reverify_cb(int ok, X509_STORE_CTX *x)
{
	const struct tls *t = X509_STORE_CTX_get_ex_data(x, tls_reverify_idx);

	if (!ok && t != NULL && tls_crl_optional(t, x))
		return 1;
	return ok;
}

int
tls_reverify(const struct tls *t, X509 *cert, STACK_OF(X509) *chain,
    STACK_OF(X509) **verified, const char **reason)
{
	X509_STORE_CTX *x;
	int ok;

	/* A resumed session's certificate, verified before: the cache. */
	if ((*verified = tls_vc_lookup(t, cert, time(NULL))) != NULL)
		return 0;
	x = X509_STORE_CTX_new();
	if (tls_reverify_idx == -1)
		tls_reverify_idx = X509_STORE_CTX_get_ex_new_index(0, NULL,
		    NULL, NULL, NULL);
	if (x == NULL || !X509_STORE_CTX_init(x, t->peer_store, cert, chain)) {
		X509_STORE_CTX_free(x);
		*reason = "out of memory";
		return -1;
	}
	X509_STORE_CTX_set_ex_data(x, tls_reverify_idx, (void *)t);
	X509_STORE_CTX_set_verify_cb(x, tls_reverify_cb);
	/* As strict as a handshake: its depth and security level. */
	if (t->server != NULL) {
		X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(x),
		    SSL_CTX_get0_param(t->server));
		X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(x),
		    SSL_CTX_get_security_level(t->server));
	}
	X509_STORE_CTX_set_purpose(x, X509_PURPOSE_SSL_CLIENT);
	ok = X509_verify_cert(x) == 1;
	if (!ok)
		*reason = tls_verify_reason(X509_STORE_CTX_get_error(x));
	else if ((*verified = X509_STORE_CTX_get1_chain(x)) == NULL) {
		*reason = "out of memory";
		ok = 0;
	} else
		tls_vc_store(t, *verified, time(NULL));
	X509_STORE_CTX_free(x);
	ERR_clear_error();
	return ok ? 0 : -1;
}
