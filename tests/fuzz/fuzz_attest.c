/*
 * libFuzzer target: compliance attestations as an RA uploads them
 * (POST /acgw/attestation) or an operator loads them — the CMS decoding
 * and signature path of attest_verify, and the strict YAML reader behind
 * it. The first byte picks which; the rest is the file.
 * Properties: an accepted attestation has a peer, an interface, at least
 * one pin and expires after it was issued; a refused one says why and
 * leaves nothing allocated.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acgw/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A throwaway CA certificate (public; its key was discarded). */
static const char anchor_pem[] =
	    "-----BEGIN CERTIFICATE-----\n"
	    "MIIBnjCCAUOgAwIBAgIUTzD0cMvEUy2Ts3JDcx6QqcYn8GIwCgYIKoZIzj0EAwIw\n"
	    "GzEZMBcGA1UEAwwQZnV6eiBhc3Nlc3NvciBDQTAgFw0yNjExMjIwNzExNDdaGA8y\n"
	    "MTI2MTAyOTA3MTE0N1owGzEZMBcGA1UEAwwQZnV6eiBhc3Nlc3NvciBDQTBZMBMG\n"
	    "ByqGSM49AgEGCCqGSM49AwEHA0IABEhGnkwoZ+KhNuVeVh4mbUwDEiKnVliw4WAn\n"
	    "cCZvwgYrrIrrI7n1esnyi4A1Yj8yvVOwPgT68gwKV3Ae/7bYfwWjYzBhMB0GA1Ud\n"
	    "DgQWBBTHi8TkXwRVuLmPx/eZQKYHoDXhnjAfBgNVHSMEGDAWgBTHi8TkXwRVuLmP\n"
	    "x/eZQKYHoDXhnjAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwICBDAKBggq\n"
	    "hkjOPQQDAgNJADBGAiEA8CnRlcmkz/4vXegugjprx2vqMyEJihSDPRz2R0z7APgC\n"
	    "IQCzCAxTU4EpELlxXsbDn0jBYC3kpV22e8UysfkM3Rft/w==\n"
	    "-----END CERTIFICATE-----\n";

static struct attest_anchor *anchor;

static void
setup(void)
{
	char path[64], err[ATTEST_ERR_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "/dev/shm/acgw-fuzz-attest.%ld.pem",
	    (long)getpid());
	if ((f = fopen(path, "w")) == NULL ||
	    fwrite(anchor_pem, 1, sizeof(anchor_pem) - 1, f) !=
	    sizeof(anchor_pem) - 1 || fclose(f) != 0)
		abort();
	anchor = attest_anchor_load(path, "digitalSignature", err,
	    sizeof(err));
	unlink(path);
	if (anchor == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attestation a;
	char err[ATTEST_ERR_MAX];
	int rc;

	if (anchor == NULL)
		setup();
	if (size < 1)
		return 0;
	err[0] = '\0';
	if (data[0] & 1)
		rc = attest_verify(anchor, data + 1, size - 1,
		    1790000000LL * 1000000, &a, err, sizeof(err));
	else
		rc = attest_parse_yaml((const char *)data + 1, size - 1, &a,
		    err, sizeof(err));
	if (rc == 0) {
		if (a.peer == NULL || a.interface == NULL || a.npins == 0 ||
		    a.assessor == NULL || a.expires <= a.issued)
			__builtin_trap();
		attest_free(&a);
		return 0;
	}
	if (err[0] == '\0' || a.peer != NULL || a.pins != NULL ||
	    a.controls != NULL)
		__builtin_trap();
	return 0;
}
