/*
 * audit_writer CONFIG COUNT — the victim of the crash test: opens the
 * audit log of CONFIG (recovering whatever the last victim left behind)
 * and appends COUNT durable records, operator.command {"i":N}.
 *
 * "ok N" is printed and flushed only after record N is durable, so what
 * the parent has read before its kill -9 is exactly what the log was
 * bound to keep. Plain C: no Check, built in every make check.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "acgw/audit.h"
#include "acgw/config.h"

int
main(int argc, char **argv)
{
	struct config_errors errs;
	struct config *cfg;
	struct audit *a;
	char err[AUDIT_ERR_MAX], details[64], *end = NULL;
	unsigned long long count = 0;

	if (argc == 3)
		count = strtoull(argv[2], &end, 10);
	if (argc != 3 || end == argv[2] || *end != '\0') {
		fprintf(stderr, "usage: audit_writer CONFIG COUNT\n");
		return 2;
	}
	if ((cfg = config_load(argv[1], &errs)) == NULL) {
		fprintf(stderr, "%s\n", errs.msg[0]);
		return 1;
	}
	if ((a = audit_open(NULL, cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "audit_open: %s\n", err);
		config_free(cfg);
		return 1;
	}
	for (unsigned long long i = 1; i <= count; i++) {
		snprintf(details, sizeof(details), "{\"i\":%llu}", i);
		if (audit_append_sync(a, "operator.command", "writer", NULL,
		    details, err, sizeof(err)) != 0) {
			printf("fail %llu: %s\n", i, err);
			fflush(stdout);
			audit_close(a);
			config_free(cfg);
			return 1;
		}
		printf("ok %llu\n", i);
		fflush(stdout);
	}
	audit_close(a);
	config_free(cfg);
	return 0;
}
