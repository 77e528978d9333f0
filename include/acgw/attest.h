/*
 * attest — compliance attestations (acgw-attestation(5)): a YAML document
 * signed as CMS SignedData with the content attached, by an assessor whose
 * certificate chains to the policy's assessor trust anchor.
 *
 * This module checks what a file is and who signed it; whether what it
 * says is enough for a peer is policy's question (policy.h).
 */
#ifndef ACGW_ATTEST_H
#define ACGW_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#define ATTEST_ERR_MAX 512
#define ATTEST_FORMAT "acgw-attestation 1"
#define ATTEST_MAX_SIZE (256 * 1024)

enum attest_kind {
	ATTEST_INTERNAL = 0,
	ATTEST_THIRD_PARTY,
};

struct attestation {
	char *peer;			/* the peer it is about */
	char *interface;		/* "r3" */
	unsigned char (*pins)[32];	/* SPKI SHA-256 of the peer's key(s) */
	size_t npins;
	char importance;		/* 'A' or 'B' */
	char **controls;		/* control IDs satisfied */
	size_t ncontrols;
	char *assessor;			/* assessor name */
	int kind;			/* enum attest_kind */
	int64_t issued, expires;	/* µs UTC */
	char signer[256];		/* the signing certificate's subject */
	char sha256[65];		/* of the file as given, hex */
};

/* The assessor trust anchor and the key usage a signer must carry. */
struct attest_anchor;

/*
 * Load the PEM certificates of path as trust anchors; key_usage is
 * "digitalSignature" or "nonRepudiation". NULL with err.
 */
struct attest_anchor *attest_anchor_load(const char *path,
    const char *key_usage, char *err, size_t errlen);
void attest_anchor_free(struct attest_anchor *a);

/*
 * Check a file's bytes (PEM or DER CMS SignedData) at time now (µs UTC,
 * for the signer's certificate validity): the structure, the content
 * attached, the signature over it, the signer's chain to the anchor and
 * its key usage, then the YAML inside (strict: every key known, every
 * required key present). 0 and *out (free with attest_free), or -1 and a
 * verdict in err, e.g. "signature does not verify: the content was
 * altered or is not what the signer signed".
 */
int attest_verify(const struct attest_anchor *anchor, const void *data,
    size_t len, int64_t now, struct attestation *out, char *err,
    size_t errlen);

/* Only the YAML (for tests and tools): 0, or -1 with err. */
int attest_parse_yaml(const char *text, size_t len, struct attestation *out,
    char *err, size_t errlen);

void attest_free(struct attestation *a);

/* "third-party" / "internal". */
const char *attest_kind_name(int kind);

#endif
