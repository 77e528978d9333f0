/*
 * tls — OpenSSL 3 contexts, certificate stores, revocation, peer identity
 * and key-file hygiene for R1 (client) and R3 (server).
 *
 * A struct tls is built whole from one configuration and never changed;
 * a reload builds a new one and the edges switch to it for new
 * handshakes, so a broken reload changes nothing. Live SSL objects keep
 * their own reference to the SSL_CTX they were made from.
 */
#ifndef ACGW_TLS_H
#define ACGW_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "acgw/config.h"

#define TLS_ERR_MAX 768

/* What a peer certificate says about who holds it. */
struct tls_identity {
	unsigned char spki_sha256[32];
	unsigned char cert_sha256[32];
	char pin[65];			/* hex of spki_sha256 */
	char openadr_fp[30];		/* last 10 bytes of cert_sha256, "AB:CD:.." */
	char subject_cn[128];
	char sans[512];			/* "DNS:a, IP:127.0.0.1, URI:..." */
	char issuer[256];		/* one-line issuer name */
	time_t not_before, not_after;
};

int tls_identity_from_cert(X509 *cert, struct tls_identity *id);

/* Why a verification failed, in the words the logs use. */
const char *tls_verify_reason(int x509_error);

/*
 * Why a handshake failed, from the OpenSSL error queue and the alert we
 * sent or received: "no certificate", "protocol version", "no shared
 * cipher", "peer dropped", ... Drains the queue.
 */
const char *tls_handshake_reason(unsigned long err);
/* The same for one error code, leaving the queue alone. */
const char *tls_error_reason(unsigned long err);

/* One certificate or CRL acgwd watches for expiry. */
struct tls_watch {
	char what[96];		/* "r3.cert", "peers[0].ca", "r1.crl", ... */
	char path[256];
	int is_crl;
	time_t until;		/* notAfter, or the CRL's nextUpdate */
	char subject[128];
};

struct tls;

/* The two TLS 1.2 suites OpenADR 2.0 mandates. */
#define TLS_OPENADR_CIPHERS "ECDHE-ECDSA-AES128-SHA256:AES128-SHA256"

/*
 * A context from files alone, for the rehearsal tools: cert (PEM, with
 * its chain), key (owner and mode checked as acgwd checks its own), ca
 * (the peers' CA certificates). A server requires a client certificate.
 * Zero versions and NULL suites mean acgw's defaults (TLS 1.2 and 1.3).
 * The caller checks names and pins itself.
 */
struct tls_simple {
	int server;
	const char *cert, *key, *ca;
	int min_version, max_version;	/* TLS1_2_VERSION, TLS1_3_VERSION */
	const char *ciphers;		/* TLS 1.2 list */
	const char *ciphersuites;	/* TLS 1.3 */
};
SSL_CTX *tls_ctx_simple(const struct tls_simple *o, char *err,
    size_t errlen);

/*
 * Loads every certificate, key, CA and CRL the configuration names,
 * checks key-file ownership and permissions, and builds the contexts.
 * On failure: NULL and an error naming the config key and the file.
 */
struct tls *tls_new(const struct config *cfg, char *err, size_t errlen);
void tls_free(struct tls *t);

/* The R3 server context (NULL without r3.listen) and R1 client context. */
SSL_CTX *tls_server_ctx(const struct tls *t);
SSL_CTX *tls_client_ctx(const struct tls *t);
/* To RAs' push endpoints (NULL unless a peer has push_url). */
SSL_CTX *tls_push_ctx(const struct tls *t);

/*
 * Which configured peer this verified client certificate belongs to:
 * its pin must be among the peer's pins and the chain must end at the
 * peer's CA. NULL and a reason ("unknown pin", "pin belongs to ra1 but
 * the chain ends at another CA") otherwise.
 */
const struct config_peer *tls_match_peer(const struct tls *t,
    const struct tls_identity *id, STACK_OF(X509) *chain,
    const char **reason);

/* Is the address allowed for this peer (peers[].sources)? */
int tls_source_allowed(const struct config_peer *peer,
    const struct sockaddr *sa);

/*
 * Verifies a peer certificate (with the untrusted chain it sent) against
 * this tls: after a reload, to find live sessions whose certificate is
 * now revoked or whose CA is gone, and for resumed sessions, which skip
 * the verify callback. 0 and the verified chain (free it with
 * sk_X509_pop_free) if good, else -1 and a reason.
 */
int tls_reverify(const struct tls *t, X509 *cert, STACK_OF(X509) *chain,
    STACK_OF(X509) **verified, const char **reason);

/*
 * tls.keep_sessions: the R3 session cache written to
 * dispatch.state_dir/tls-sessions when acgwd stops, and read back (then
 * removed) when it starts, so that RAs resume their sessions after a
 * restart instead of making full handshakes all at once. Save empties
 * the cache. Without the setting, load removes a file left behind.
 * 0 and the number of sessions, or -1 with err.
 */
int tls_sessions_save(const struct tls *t, size_t *n, char *err,
    size_t errlen);
int tls_sessions_load(const struct tls *t, size_t *n, char *err,
    size_t errlen);

/*
 * The verified-certificate cache of the R3 server (tls.verify_cache):
 * lookups that found a chain still good, lookups that did not, and the
 * certificates held.
 */
void tls_verify_cache_stats(const struct tls *t, uint64_t *hits,
    uint64_t *misses, size_t *entries);

/*
 * May this X509 error be overlooked? Only "unable to get CRL" for an
 * issuer that has no CRL configured.
 */
int tls_crl_optional(const struct tls *t, X509_STORE_CTX *x);

/* Every watched certificate and CRL with its expiry. */
const struct tls_watch *tls_watches(const struct tls *t, size_t *n);

enum tls_expiry {
	TLS_EXPIRY_OK = 0,
	TLS_EXPIRY_WARNING,	/* within tls.expiry_warning */
	TLS_EXPIRY_CRITICAL,	/* within tls.expiry_critical */
	TLS_EXPIRED,		/* certificate expired, or CRL past nextUpdate */
};
enum tls_expiry tls_watch_state(const struct tls_watch *w, time_t now,
    uint64_t warning_ms, uint64_t critical_ms);
const char *tls_expiry_name(enum tls_expiry e);

/*
 * A private key file must belong to acgwd's user (or root) and be
 * readable by nobody else, as ssh insists for its keys.
 */
int tls_check_key_file(const char *what, const char *path, char *err,
    size_t errlen);

/* SSL ex_data slot for the edges' per-connection state. */
int tls_conn_index(void);

#endif
