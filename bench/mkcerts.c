/*
 * mkcerts — many throwaway RA client certificates for the benchmarks.
 *
 *   mkcerts -n COUNT -o DIR --ca-cert CA.pem --ca-key CA.key [-p PREFIX]
 *           [--days N]
 *
 * Writes DIR/PREFIXnnnnn.pem (ECDSA P-256 leaf, CN=PREFIXnnnnn, signed by
 * the CA with SHA-256) and DIR/PREFIXnnnnn.key (PKCS#8 PEM, mode 0600),
 * and prints one "NAME PIN" line per certificate: the SHA-256 of its DER
 * SubjectPublicKeyInfo in lowercase hex, which is what peers[].pins
 * holds. The reconnect storm needs 10,000 of them: the openssl CLI takes
 * about 30 ms and five processes per certificate (five minutes), this
 * takes about 0.2 ms in one. Nothing it writes is meant to outlive the
 * benchmark that asked for it; the keys are never committed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static void
usage(FILE *f)
{
	fprintf(f, "usage: mkcerts -n COUNT -o DIR --ca-cert CA.pem "
	    "--ca-key CA.key [-p PREFIX] [--days N]\n");
}

static void
ssl_fail(const char *what)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	fprintf(stderr, "mkcerts: %s: %s\n", what, buf);
}

/* The CA's certificate and key, from PEM files. */
static int
load_ca(const char *cert, const char *key, X509 **ca, EVP_PKEY **cakey)
{
	FILE *f;

	if ((f = fopen(cert, "r")) == NULL) {
		fprintf(stderr, "mkcerts: %s: %s\n", cert, strerror(errno));
		return -1;
	}
	*ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (*ca == NULL) {
		ssl_fail(cert);
		return -1;
	}
	if ((f = fopen(key, "r")) == NULL) {
		fprintf(stderr, "mkcerts: %s: %s\n", key, strerror(errno));
		return -1;
	}
	*cakey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (*cakey == NULL) {
		ssl_fail(key);
		return -1;
	}
	return 0;
}

/* One leaf for NAME with KEY, signed by the CA. */
static X509 *
make_leaf(const char *name, EVP_PKEY *key, X509 *ca, EVP_PKEY *cakey,
    int days)
{
	X509 *x = X509_new();
	X509_NAME *subj = X509_NAME_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	if (x == NULL || subj == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    !X509_set_version(x, 2) ||
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
	    (const unsigned char *)name, -1, -1, 0) ||
	    !X509_set_subject_name(x, subj) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    !X509_set_pubkey(x, key))
		goto fail;
	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage,
	    "clientAuth")) == NULL)
		goto fail;
	if (!X509_add_ext(x, ext, -1)) {
		X509_EXTENSION_free(ext);
		goto fail;
	}
	X509_EXTENSION_free(ext);
	if (X509_sign(x, cakey, EVP_sha256()) <= 0)
		goto fail;
	BN_free(bn);
	X509_NAME_free(subj);
	return x;
fail:
	ssl_fail(name);
	BN_free(bn);
	X509_NAME_free(subj);
	X509_free(x);
	return NULL;
}

/* PATH written with MODE, created new (an existing file is an error). */
static FILE *
create(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	FILE *f;

	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "mkcerts: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	return f;
}

/* The SPKI pin: SHA-256 of the DER SubjectPublicKeyInfo, in hex. */
static int
pin_of(EVP_PKEY *key, char hex[65])
{
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	int len = i2d_PUBKEY(key, &der);

	if (len <= 0 || !EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(),
	    NULL)) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static int
make_one(const char *dir, const char *name, X509 *ca, EVP_PKEY *cakey,
    int days)
{
	char path[4096], pin[65];
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = NULL;
	FILE *f = NULL;
	int ok;

	if (key == NULL) {
		ssl_fail("EVP_EC_gen");
		return -1;
	}
	if ((x = make_leaf(name, key, ca, cakey, days)) == NULL ||
	    pin_of(key, pin) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	if ((f = create(path, 0600)) == NULL)
		goto fail;
	ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) != 0 || !ok)
		goto fail_write;
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	if ((f = create(path, 0644)) == NULL)
		goto fail;
	ok = PEM_write_X509(f, x);
	if (fclose(f) != 0 || !ok)
		goto fail_write;
	printf("%s %s\n", name, pin);
	X509_free(x);
	EVP_PKEY_free(key);
	return 0;
fail_write:
	fprintf(stderr, "mkcerts: %s: could not write\n", path);
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ca-cert", required_argument, NULL, 'C' },
		{ "ca-key", required_argument, NULL, 'K' },
		{ "days", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *cacert = NULL, *cakeyf = NULL,
	    *prefix = "ra";
	long n = -1, days = 2;
	X509 *ca = NULL;
	EVP_PKEY *cakey = NULL;
	char name[128], *end;
	int opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "n:o:p:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n': n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > 1000000) n = -1;
			break;
		case 'o': dir = optarg; break;
		case 'p': prefix = optarg; break;
		case 'C': cacert = optarg; break;
		case 'K': cakeyf = optarg; break;
		case 'd': days = strtol(optarg, &end, 10);
			if (*end != '\0' || days < 1 || days > 3650) days = -1;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || n < 1 || days < 1 || !dir || !cacert || !cakeyf ||
	    strlen(prefix) > 64) {
		usage(stderr);
		return 2;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "mkcerts: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (load_ca(cacert, cakeyf, &ca, &cakey) != 0)
		goto out;
	for (long i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "%s%05ld", prefix, i);
		if (make_one(dir, name, ca, cakey, (int)days) != 0)
			goto out;
	}
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return rc;
}
