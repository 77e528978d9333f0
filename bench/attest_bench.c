/*
 * attest_bench — attestation checks per second (issue 8: re-evaluating
 * 10,000 peers), and the policy's verdict on a held one.
 *
 *   attest_bench [-t SECONDS] [-d DIR] [-h]
 *
 * Makes a throwaway assessor CA, an assessor certificate and one signed
 * attestation with the openssl CLI in a new directory under DIR (default
 * /tmp, removed afterwards), then measures on one core:
 *   attest.verify_per_s   attest_verify: CMS structure, signature, the
 *                         signer's chain to the anchor, key usage, YAML
 *                         (what a new attestation costs);
 * Output: "NAME value=V [goal>=G]" lines, then a short table.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acgw/attest.h"

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
sh(const char *dir, const char *cmd)
{
	char line[8192];

	snprintf(line, sizeof(line), "cd '%s' && { %s; } >/dev/null 2>&1", dir,
	    cmd);
	return system(line);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) ==
	    NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		if (f)
			fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

int
main(int argc, char **argv)
{
	double secs = 3, c0, used;
	const char *base = "/tmp";
	char dir[1024], path[1200], err[ATTEST_ERR_MAX], cmd[2048];
	struct attest_anchor *an;
	struct attestation a;
	size_t len;
	char *data;
	long n = 0;
	int ch;
	time_t now = time(NULL);
	struct tm tm;
	char issued[32], expires[32];

	while ((ch = getopt(argc, argv, "t:d:h")) != -1)
		switch (ch) {
		case 't': secs = atof(optarg); break;
		case 'd': base = optarg; break;
		default:
			fprintf(stderr, "usage: attest_bench [-t SECONDS] "
			    "[-d DIR]\n");
			return ch == 'h' ? 0 : 2;
		}
	snprintf(dir, sizeof(dir), "%s/acgw-attest-bench.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		return 1;
	}
	gmtime_r(&now, &tm);
	strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
	now += 86400 * 30;
	gmtime_r(&now, &tm);
	strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(cmd, sizeof(cmd),
	    "openssl ecparam -name prime256v1 -genkey -noout -out ca.key && "
	    "openssl req -x509 -new -key ca.key -subj /CN=bench-assessor-ca "
	    "-days 2 -addext basicConstraints=critical,CA:TRUE "
	    "-addext keyUsage=critical,keyCertSign -out ca.pem && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out as.key && "
	    "openssl req -new -key as.key -subj /CN=bench-assessor -out as.csr "
	    "&& printf 'keyUsage=critical,digitalSignature\\n' > as.ext && "
	    "openssl x509 -req -in as.csr -CA ca.pem -CAkey ca.key "
	    "-CAcreateserial -days 2 -extfile as.ext -out as.pem && "
	    "printf 'format: acgw-attestation 1\\npeer: ra1\\ninterface: r3\\n"
	    "pins: [\"%064d\"]\\nimportance: B\\ncontrols: [R3-MUTUAL-AUTH, "
	    "R3-ENCRYPTION, LOG-COLLECTION]\\nassessor: {name: Bench, kind: "
	    "third-party}\\nissued: %s\\nexpires: %s\\n' > a.yaml && "
	    "openssl cms -sign -binary -nodetach -in a.yaml -signer as.pem "
	    "-inkey as.key -outform DER -out a.p7m", 0, issued, expires);
	if (sh(dir, cmd) != 0) {
		fprintf(stderr, "attest_bench: the openssl CLI failed in %s\n",
		    dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	if ((an = attest_anchor_load(path, "digitalSignature", err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "attest_bench: %s\n", err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/a.p7m", dir);
	if ((data = slurp(path, &len)) == NULL) {
		fprintf(stderr, "attest_bench: cannot read %s\n", path);
		return 1;
	}
	c0 = cpu_s();
	do {
		if (attest_verify(an, data, len, (int64_t)time(NULL) * 1000000,
		    &a, err, sizeof(err)) != 0) {
			fprintf(stderr, "attest_bench: %s\n", err);
			return 1;
		}
		attest_free(&a);
		n++;
	} while ((used = cpu_s() - c0) < secs);
	printf("attest.verify_per_s value=%.0f\n", n / used);
	printf("\n%ld attestations (%zu bytes, DER) verified in %.2f CPU-s: "
	    "%.0f/s, %.1f µs each;\n10,000 peers re-verified in %.2f CPU-s. "
	    "(A re-evaluation tick does not\nre-verify: it re-checks the held "
	    "verdict's times and controls.)\n", n, len, used, n / used,
	    used / n * 1e6, used / n * 10000);
	free(data);
	attest_anchor_free(an);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
