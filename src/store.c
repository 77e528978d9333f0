/*
 * store — whole-file state, replaced atomically and durably.
 *
 * The sequence is the one that survives a crash at any instruction:
 * the new content goes to a temporary file in the same directory, which
 * is fsync'd before it is renamed over the old one (so that the name
 * never points at a file whose data is not yet on disk), and the
 * directory is fsync'd after the rename (so that the new name itself is
 * on disk before the caller acknowledges anything).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acgw/store.h"
#include "acgw/units.h"

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
store_write(const char *dir, const char *name, const void *data,
    size_t len, char *err, size_t errlen)
{
	char tmp[4096], path[4096];
	int fd = -1, dfd = -1, saved;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) || (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp",
	    dir, name) >= sizeof(tmp))
		return units_errf(err, errlen, "%s/%s: path too long", dir,
		    name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0)
		return units_errf(err, errlen, "%s: %s", tmp, strerror(errno));
	/* A temporary file a crash left keeps its mode: 0600 it is. */
	if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 ||
	    fsync(fd) != 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		return units_errf(err, errlen, "%s: %s", tmp, strerror(saved));
	}
	if (close(fd) != 0) {
		saved = errno;
		unlink(tmp);
		return units_errf(err, errlen, "%s: %s", tmp, strerror(saved));
	}
	if (rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		return units_errf(err, errlen, "%s: %s", path, strerror(saved));
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(dfd) != 0) {
		saved = errno;
		if (dfd >= 0)
			close(dfd);
		return units_errf(err, errlen, "%s: fsync of the directory: %s",
		    dir, strerror(saved));
	}
	close(dfd);
	return 0;
}

int
store_read_fd(int fd, const char *path, size_t max, char **data,
    size_t *len, char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	char *buf;

	*data = NULL;
	*len = 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return units_errf(err, errlen, "%s: not a regular file", path);
	if ((uint64_t)st.st_size > max)
		return units_errf(err, errlen, "%s: %lld bytes, more than the "
		    "%zu this file may have", path, (long long)st.st_size, max);
	if (!(buf = malloc((size_t)st.st_size + 1)))
		return units_errf(err, errlen, "out of memory");
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = n < 0 ? errno : EIO;

			explicit_bzero(buf, got);	/* it may hold secrets */
			free(buf);
			return units_errf(err, errlen, "%s: %s", path,
			    strerror(saved));
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 1;
}

int
store_read(const char *dir, const char *name, size_t max, char **data,
    size_t *len, char *err, size_t errlen)
{
	char path[4096];
	int fd, rc;

	*data = NULL;
	*len = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return units_errf(err, errlen, "%s/%s: path too long", dir,
		    name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return 0;
		return units_errf(err, errlen, "%s: %s", path, strerror(errno));
	}
	rc = store_read_fd(fd, path, max, data, len, err, errlen);
	close(fd);
	return rc;
}
