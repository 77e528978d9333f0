/*
 * libFuzzer target: a control request line through parsing, role checks
 * and dispatch (control module), as a local client would send it.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acgw/control.h"
#include "acgw/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
echo(void *arg, const struct control_caller *who, int argc, char **argv,
    struct json_buf *reply, char *err, size_t errlen)
{
	json_key(reply, "args");
	json_array_begin(reply);
	for (int i = 0; i < argc; i++)
		json_string(reply, argv[i]);
	json_array_end(reply);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config *cfg;
	static struct control *ctl;
	struct control_caller who;
	struct json_buf reply;
	struct json_value *v;
	char err[256];

	if (ctl == NULL) {
		struct config_errors errs;
		const struct control_command cmd = {
			"echo", CONTROL_ROLE_READER, "echo", "echo", echo, NULL,
		};

		cfg = config_load_buffer("fuzz", "", 0, &errs);
		ctl = control_new(NULL, cfg, err, sizeof(err));
		if (ctl == NULL || control_register(ctl, &cmd) != 0)
			abort();
	}
	memset(&who, 0, sizeof(who));
	who.uid = 1000;
	who.role = size > 0 && data[0] & 1 ? CONTROL_ROLE_OPERATOR :
	    CONTROL_ROLE_READER;
	json_init(&reply, cfg->control.max_response);
	control_execute(ctl, &who, (const char *)data, size, &reply);
	/* Whatever came in, what goes out is one valid JSON object. */
	v = json_parse(reply.s, reply.len, err, sizeof(err));
	if (v == NULL || v->type != JSON_OBJECT || json_get(v, "ok") == NULL ||
	    memchr(reply.s, '\n', reply.len) != NULL)
		__builtin_trap();
	json_value_free(v);
	json_free(&reply);
	return 0;
}
