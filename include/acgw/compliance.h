/*
 * compliance — "acgwctl compliance": the coordinator's own technical
 * posture against the guidelines, and every peer's attestation state.
 */
#ifndef ACGW_COMPLIANCE_H
#define ACGW_COMPLIANCE_H

#include <stdint.h>

#include "acgw/audit.h"
#include "acgw/config.h"
#include "acgw/json.h"
#include "acgw/policy.h"
#include "acgw/tls.h"

struct compliance_in {
	const struct config *cfg;
	const struct tls *tls;
	const struct audit *audit;	/* NULL: disabled */
	const struct policy *policy;
	int64_t now;			/* µs UTC */
};

/*
 * Member "rows": one object per check — area, status (ok, warning, fail,
 * info), detail, and the guideline sections it answers to.
 */
void compliance_json(const struct compliance_in *in, struct json_buf *j);

#endif
