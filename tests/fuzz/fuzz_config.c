/* libFuzzer target: acgwd.yaml parsing and validation (config module). */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "acgw/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs;
	struct config *cfg;

	cfg = config_load_buffer("fuzz.yaml", (const char *)data, size, &errs);
	/* Either a whole config or at least one error, never both. */
	if ((cfg == NULL) == (errs.count == 0))
		__builtin_trap();
	config_free(cfg);
	return 0;
}
