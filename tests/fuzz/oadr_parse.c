/*
 * libFuzzer target: the OpenADR 2.0b parser (every byte R1 and R3
 * receive goes through it), and the builder's round trip of what the
 * parser accepts: a message that builds must parse back equal.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acgw/oadr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct oadr_msg zero;
	struct oadr_limits lim;
	struct oadr_msg m, back;
	char err[OADR_ERR_MAX], *doc;
	size_t len;

	oadr_limits_default(&lim);
	/* Small limits reach the limit checks with small inputs. */
	lim.max_depth = 24;
	lim.max_events = 4;
	lim.max_signals = 4;
	lim.max_intervals = 64;
	lim.max_reports = 8;
	lim.max_elements = 2000;
	if (oadr_parse((const char *)data, size, &lim, NULL, &m, err,
	    sizeof(err)) != 0) {
		/* A refused payload leaves nothing behind and says why. */
		if (memcmp(&m, &zero, sizeof(m)) != 0 || err[0] == '\0')
			__builtin_trap();
		return 0;
	}
	doc = oadr_build(&m, NULL, &len, err, sizeof(err));
	if (doc != NULL) {
		oadr_limits_default(&lim);
		if (oadr_parse(doc, len, &lim, NULL, &back, err,
		    sizeof(err)) != 0 || !oadr_msg_equal(&m, &back))
			__builtin_trap();
		oadr_msg_free(&back);
		free(doc);
	}
	free(oadr_msg_describe(&m));
	oadr_msg_free(&m);
	return 0;
}
