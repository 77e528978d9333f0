/*
 * libFuzzer target: the JSON reader (acgwctl reads daemon replies with
 * it), and the writer's round trip of every string the reader accepts.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "acgw/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	struct json_value *v, *back;
	struct json_buf j;

	v = json_parse((const char *)data, size, err, sizeof(err));
	if (v == NULL)
		return 0;
	if (v->type == JSON_STRING) {
		json_init(&j, 0);
		json_string_len(&j, v->string, v->string_len);
		back = json_parse(j.s, j.len, err, sizeof(err));
		if (back == NULL || back->string_len != v->string_len ||
		    memcmp(back->string, v->string, v->string_len) != 0)
			__builtin_trap();
		json_value_free(back);
		json_free(&j);
	}
	json_value_free(v);
	return 0;
}
