/*
 * libFuzzer target: the offline audit verifier on arbitrary file
 * contents (an intruder controls the files it is asked to judge).
 */
#define _GNU_SOURCE
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "acgw/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char k0[AUDIT_KEY_LEN] = { 1, 2, 3 };
	static int fd = -1;
	char path[64];
	const char *files[1] = { path };
	struct audit_verify v;

	/* One in-memory file, rewritten for every input. */
	if (fd == -1 && (fd = memfd_create("audit", 0)) == -1)
		abort();
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) !=
	    (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (audit_verify_files(k0, files, 1, &v) == 0 && v.records == 0)
		__builtin_trap();	/* "ok" must mean at least one record */
	return 0;
}
