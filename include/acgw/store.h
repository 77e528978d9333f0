/*
 * store — durable state files: a whole file replaced atomically, so that
 * after a crash at any point the file is either the old version or the
 * new one, never a mix (write a temporary file, fsync it, rename it over
 * the old one, fsync the directory).
 */
#ifndef ACGW_STORE_H
#define ACGW_STORE_H

#include <stddef.h>

#define STORE_ERR_MAX 512

/*
 * Replace dir/name with data (mode 0600). 0 once it is on stable storage,
 * or -1 with err (the old file, if any, is untouched).
 */
int store_write(const char *dir, const char *name, const void *data,
    size_t len, char *err, size_t errlen);

/*
 * Read dir/name whole (at most max bytes) into a malloc'd NUL-terminated
 * buffer. 1 and *data, *len; 0 when the file does not exist; -1 with err.
 */
int store_read(const char *dir, const char *name, size_t max, char **data,
    size_t *len, char *err, size_t errlen);

/*
 * The same from a descriptor already open (and checked) as path: 1 and
 * *data, *len, or -1 with err. The descriptor stays open.
 */
int store_read_fd(int fd, const char *path, size_t max, char **data,
    size_t *len, char *err, size_t errlen);

#endif
