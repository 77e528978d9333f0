/*
 * audit — writer, recovery, rotation and offline verification of the
 * audit log. The record format and its guarantees are in audit.h and
 * acgw-audit(5); this file keeps them.
 *
 * Two chain states are kept: "head" advances as records are formatted,
 * "durable" only once they are on stable storage. A failed write rolls
 * head back to durable and truncates the file to its durable size, so
 * the file never holds a half-written record that later ones chain to.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "acgw/audit.h"
#include "acgw/log.h"
#include "acgw/units.h"

#define AUDIT_EVOLVE_LABEL "acgw audit key evolution v1"
#define AUDIT_MAC_SUFFIX_LEN 74		/* ,"mac":"<64 hex>"} */
#define AUDIT_LINE_MAX (1024 * 1024)	/* one record, details included */
/* 15-minute epochs for a century: the verifier walks no further. */
#define AUDIT_EPOCH_JUMP_MAX 4000000u

static const char *const audit_type_list[] = {
	"daemon.start", "daemon.stop", "daemon.reload", "config.changed",
	"tls.refused", "tls.expiry", "peer.admitted", "peer.closed",
	"peer.severed", "peer.restored", "attestation.accepted",
	"attestation.rejected", "attestation.expired", "r1.registered",
	"r1.link", "dispatch.received", "dispatch.allocated",
	"dispatch.delivered", "dispatch.acked", "report.sent",
	"ra.registered", "ra.unregistered", "ra.mismatch",
	"attestation.expiring", "peer.isolated",
	"operator.command", "audit.init", "audit.recovered", "audit.rotated",
	"audit.key_evolved",
};

#define AUDIT_NTYPES (sizeof(audit_type_list) / sizeof(audit_type_list[0]))

struct audit_chain {
	uint64_t seq;
	unsigned char last[32];		/* SHA-256 of the last line */
	unsigned epoch;
	uint64_t epoch_records;
	char time[40];			/* of the last record */
};

struct audit_waiter {
	audit_done done;
	void *arg;
};

struct audit {
	struct event_base *base;
	const struct config *cfg;
	char *dir;
	int fd;
	unsigned long fileno;		/* audit-<fileno>.log */
	time_t file_opened;
	off_t durable_size;
	unsigned char key[AUDIT_KEY_LEN];
	struct timespec epoch_started;
	struct audit_chain head, durable;
	char *pending;			/* formatted lines not yet durable */
	size_t pending_len, pending_cap;
	struct audit_waiter *waiters;
	size_t nwaiters, waiters_cap;
	struct event *flush_ev, *retry_ev, *tick_ev;
	int flush_armed;
	int failed;
	int key_dirty;			/* key file behind the log's epoch */
	char fail_reason[256];
	time_t failed_since;
};

int
audit_type_valid(const char *type)
{
	for (size_t i = 0; i < AUDIT_NTYPES; i++)
		if (strcmp(audit_type_list[i], type) == 0)
			return 1;
	return 0;
}

const char *const *
audit_types(size_t *n)
{
	*n = AUDIT_NTYPES;
	return audit_type_list;
}


/* ---- codec ---------------------------------------------------------- */

void
audit_key_evolve(const unsigned char in[AUDIT_KEY_LEN],
    unsigned char out[AUDIT_KEY_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;

	/* SHA-256 cannot fail on these inputs short of memory exhaustion. */
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, AUDIT_EVOLVE_LABEL,
	    sizeof(AUDIT_EVOLVE_LABEL) - 1) != 1 ||
	    EVP_DigestUpdate(md, in, AUDIT_KEY_LEN) != 1 ||
	    EVP_DigestFinal_ex(md, out, &n) != 1)
		fatalx("audit: SHA-256 failed");
	EVP_MD_CTX_free(md);
}

static int
audit_unhex(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < 2 * n; i++) {
		int v;

		if (s[i] >= '0' && s[i] <= '9')
			v = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			v = s[i] - 'a' + 10;
		else
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (unsigned char)(v << 4);
		else
			out[i / 2] |= (unsigned char)v;
	}
	return 0;
}

static void
audit_mac(const unsigned char key[AUDIT_KEY_LEN], const char *data,
    size_t len, char out[65])
{
	unsigned char mac[32];
	unsigned int n = 0;

	if (HMAC(EVP_sha256(), key, AUDIT_KEY_LEN, (const unsigned char *)data,
	    len, mac, &n) == NULL || n != 32)
		fatalx("audit: HMAC-SHA-256 failed");
	units_hex(mac, 32, out);
}

static void
audit_sha256(const char *data, size_t len, unsigned char out[32])
{
	if (EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) != 1)
		fatalx("audit: SHA-256 failed");
}

int
audit_record_format(struct json_buf *out, uint64_t seq, const char *time,
    const char *type, const char *actor, const char *peer,
    const char *details, unsigned epoch, const unsigned char prev[32],
    const unsigned char key[AUDIT_KEY_LEN])
{
	char prevhex[65], mac[65];
	size_t dlen = 0;

	json_reset(out);
	if (details != NULL) {
		struct json_value *v;
		char perr[64];

		dlen = strlen(details);
		/* One record, one line: no raw line breaks, even between tokens. */
		if (memchr(details, '\n', dlen) != NULL ||
		    memchr(details, '\r', dlen) != NULL)
			return -1;
		v = json_parse(details, dlen, perr, sizeof(perr));
		if (v == NULL || v->type != JSON_OBJECT) {
			json_value_free(v);
			return -1;
		}
		json_value_free(v);
	}
	json_object_begin(out);
	json_kv_uint(out, "seq", seq);
	json_kv_str(out, "time", time);
	json_kv_str(out, "type", type);
	json_kv_str(out, "actor", actor);
	json_key(out, "peer");
	json_string(out, peer);
	json_key(out, "details");
	if (details != NULL)
		json_raw(out, details, dlen);	/* checked above */
	else {
		json_object_begin(out);
		json_object_end(out);
	}
	json_kv_uint(out, "epoch", epoch);
	units_hex(prev, 32, prevhex);
	json_kv_str(out, "prev", prevhex);
	if (out->failed)
		return -1;
	/* The MAC covers everything before ,"mac": */
	audit_mac(key, out->s, out->len, mac);
	json_kv_str(out, "mac", mac);
	json_object_end(out);
	return out->failed ? -1 : 0;
}

/* ---- key file -------------------------------------------------------- */

int
audit_read_key(const char *path, unsigned char key[AUDIT_KEY_LEN],
    unsigned *epoch, char *err, size_t errlen)
{
	char buf[256], hex[65];
	unsigned e = 0;
	FILE *f;
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		return units_errf(err, errlen, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "epoch N\n<64 hex>\n", or a bare key (K0 as exported). */
	if (sscanf(buf, "epoch %u %64s", &e, hex) == 2 ||
	    sscanf(buf, "%64s", hex) == 1) {
		if (strlen(hex) == 64 && audit_unhex(hex, 32, key) == 0) {
			if (epoch != NULL)
				*epoch = e;
			OPENSSL_cleanse(buf, sizeof(buf));
			OPENSSL_cleanse(hex, sizeof(hex));
			return 0;
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return units_errf(err, errlen, "%s: not an audit key (64 lower-case "
	    "hex digits)", path);
}

/* Replaces dir/key atomically: temp file, fsync, rename, fsync dir. */
static int
audit_write_key(const char *dir, const unsigned char key[AUDIT_KEY_LEN],
    unsigned epoch, char *err, size_t errlen)
{
	char tmp[4096], path[4096], hex[65], line[128];
	int fd, dfd, n;

	snprintf(tmp, sizeof(tmp), "%s/key.new", dir);
	snprintf(path, sizeof(path), "%s/key", dir);
	units_hex(key, AUDIT_KEY_LEN, hex);
	n = snprintf(line, sizeof(line), "epoch %u\n%s\n", epoch, hex);
	OPENSSL_cleanse(hex, sizeof(hex));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
		int e = errno;

		OPENSSL_cleanse(line, sizeof(line));
		if (fd != -1)
			close(fd);
		unlink(tmp);
		return units_errf(err, errlen, "%s: %s", tmp, strerror(e));
	}
	OPENSSL_cleanse(line, sizeof(line));
	close(fd);
	if (rename(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		return units_errf(err, errlen, "%s: %s", path, strerror(e));
	}
	/* The rename is durable only once the directory is. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* ---- files ----------------------------------------------------------- */

static int
audit_file_cmp(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* Numbers of the audit-NNNNNNNN.log files in dir, ascending. */
static int
audit_list(const char *dir, unsigned long **out, size_t *n, char *err,
    size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned long *v = NULL;
	size_t cap = 0;

	*n = 0;
	if (d == NULL)
		return units_errf(err, errlen, "audit.dir %s: %s", dir,
		    strerror(errno));
	while ((de = readdir(d)) != NULL) {
		unsigned long num;
		char tail[8];

		if (sscanf(de->d_name, "audit-%8lu.%4s", &num, tail) != 2 ||
		    strcmp(tail, "log") != 0 || strlen(de->d_name) != 18)
			continue;
		if (*n == cap) {
			unsigned long *nv;

			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				free(v);
				closedir(d);
				return units_errf(err, errlen, "out of memory");
			}
			v = nv;
		}
		v[(*n)++] = num;
	}
	closedir(d);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), audit_file_cmp);
	*out = v;
	return 0;
}

static void
audit_path(const char *dir, unsigned long num, char *buf, size_t len)
{
	snprintf(buf, len, "%s/audit-%08lu.log", dir, num);
}

static void
audit_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (snprintf(buf, len, "%s.%06dZ", base,
	    (int)(ts.tv_nsec / 1000) % 1000000) >= (int)len)
		buf[len - 1] = '\0';
}

int
audit_init(const char *dir, unsigned char k0[AUDIT_KEY_LEN], char *err,
    size_t errlen)
{
	char path[4096];
	unsigned long *files = NULL;
	size_t n = 0;
	struct stat st;

	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return units_errf(err, errlen, "%s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/key", dir);
	if (stat(path, &st) == 0)
		return units_errf(err, errlen, "%s already exists: this log is "
		    "initialised (a new K0 would orphan its records)", path);
	if (audit_list(dir, &files, &n, err, errlen) != 0)
		return -1;
	free(files);
	if (n > 0)
		return units_errf(err, errlen, "%s holds audit files but no key; "
		    "move them away before starting a new log", dir);
	if (RAND_priv_bytes(k0, AUDIT_KEY_LEN) != 1)
		return units_errf(err, errlen, "no randomness for K0");
	return audit_write_key(dir, k0, 0, err, errlen);
}

/* ---- writing --------------------------------------------------------- */

static void
audit_mirror(const struct audit *a, const char *line, size_t len)
{
	if (a->cfg->audit.syslog)
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "acgw-audit: %.*s", (int)len,
		    line);
}

static int
audit_open_file(struct audit *a, unsigned long num, char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	int fd;

	audit_path(a->dir, num, path, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1 || fstat(fd, &st) != 0) {
		if (fd != -1)
			close(fd);
		return units_errf(err, errlen, "%s: %s", path, strerror(errno));
	}
	if (st.st_size == 0) {
		/* A new file's name must survive a crash with its records. */
		int dfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd == -1 || fsync(dfd) != 0) {
			int e = errno;

			if (dfd != -1)
				close(dfd);
			close(fd);
			return units_errf(err, errlen, "%s: %s", a->dir,
			    strerror(e));
		}
		close(dfd);
	}
	if (a->fd != -1)
		close(a->fd);
	a->fd = fd;
	a->fileno = num;
	a->durable_size = st.st_size;
	a->file_opened = time(NULL);
	return 0;
}

/* Writes all of buf at the end of the file and makes it durable. */
static int
audit_write_durable(struct audit *a, const char *buf, size_t len, char *err,
    size_t errlen)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(a->fd, buf + off, len - off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (fdatasync(a->fd) != 0)
		goto fail;
	a->durable_size += (off_t)len;
	return 0;
fail:
	units_errf(err, errlen, "writing audit-%08lu.log: %s", a->fileno,
	    strerror(errno ? errno : EIO));
	/* Never leave a partial record for later ones to chain to. */
	if (ftruncate(a->fd, a->durable_size) != 0)
		log_warn("audit: cannot cut back a partial write");
	return -1;
}

/* Ends a formatted record with its newline (not a JSON separator). */
static int
audit_newline(struct json_buf *j)
{
	if (j->len + 2 > j->cap) {
		char *p = realloc(j->s, j->len + 2);

		if (p == NULL)
			return -1;
		j->s = p;
		j->cap = j->len + 2;
	}
	j->s[j->len++] = '\n';
	j->s[j->len] = '\0';
	return 0;
}

/* Formats the next record onto head (not yet written). */
static int
audit_format_next(struct audit *a, struct json_buf *j, const char *type,
    const char *actor, const char *peer, const char *details)
{
	char now[40];

	audit_now(now, sizeof(now));
	/*
	 * Times never go backwards in the log, even when the clock is
	 * stepped back: the verifier insists on order.
	 */
	if (strcmp(now, a->head.time) < 0)
		snprintf(now, sizeof(now), "%s", a->head.time);
	if (audit_record_format(j, a->head.seq + 1, now, type, actor, peer,
	    details, a->head.epoch, a->head.last, a->key) != 0)
		return -1;
	a->head.seq++;
	audit_sha256(j->s, j->len, a->head.last);
	a->head.epoch_records++;
	snprintf(a->head.time, sizeof(a->head.time), "%s", now);
	return 0;
}

static void audit_fail_closed(struct audit *a, const char *why);

/* One record, written and synced before returning (bypasses the queue). */
static int
audit_write_now(struct audit *a, const char *type, const char *actor,
    const char *peer, const char *details, char *err, size_t errlen)
{
	struct json_buf j;
	int rc;

	/* head == durable here: nothing may be queued under this record. */
	if (a->pending_len != 0)
		return units_errf(err, errlen, "internal error: a record was "
		    "queued during a synchronous write");
	json_init(&j, AUDIT_LINE_MAX);
	if (audit_format_next(a, &j, type, actor, peer, details) != 0) {
		json_free(&j);
		a->head = a->durable;
		return units_errf(err, errlen, "%s: details are not one JSON "
		    "object on one line (or over 1 MiB)", type);
	}
	if (audit_newline(&j) != 0) {
		json_free(&j);
		a->head = a->durable;
		return units_errf(err, errlen, "out of memory");
	}
	rc = audit_write_durable(a, j.s, j.len, err, errlen);
	if (rc == 0) {
		a->durable = a->head;
		audit_mirror(a, j.s, j.len - 1);
	} else
		a->head = a->durable;
	json_free(&j);
	return rc;
}

/*
 * Evolves the key: the audit.key_evolved record is written under the new
 * key first, then the key file is replaced; a crash in between is
 * repaired at the next open (the log is one epoch ahead of the file).
 */
static int
audit_evolve(struct audit *a, char *err, size_t errlen)
{
	unsigned char next[AUDIT_KEY_LEN], old[AUDIT_KEY_LEN];
	char details[64];

	memcpy(old, a->key, AUDIT_KEY_LEN);
	audit_key_evolve(a->key, next);
	memcpy(a->key, next, AUDIT_KEY_LEN);
	a->head.epoch++;
	a->head.epoch_records = 0;
	snprintf(details, sizeof(details), "{\"epoch\":%u}", a->head.epoch);
	if (audit_write_now(a, "audit.key_evolved", "system", NULL, details,
	    err, errlen) != 0) {
		memcpy(a->key, old, AUDIT_KEY_LEN);
		OPENSSL_cleanse(old, sizeof(old));
		OPENSSL_cleanse(next, sizeof(next));
		return -1;
	}
	OPENSSL_cleanse(old, sizeof(old));
	if (audit_write_key(a->dir, next, a->head.epoch, err, errlen) != 0) {
		/* The old key is still on disk: retried until replaced. */
		a->key_dirty = 1;
		OPENSSL_cleanse(next, sizeof(next));
		return -1;
	}
	OPENSSL_cleanse(next, sizeof(next));
	clock_gettime(CLOCK_MONOTONIC, &a->epoch_started);
	return 0;
}

static int
audit_evolve_due(const struct audit *a)
{
	struct timespec now;
	uint64_t ms;

	if (a->durable.epoch_records >= a->cfg->audit.key_records)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (uint64_t)(now.tv_sec - a->epoch_started.tv_sec) * 1000 +
	    (uint64_t)((now.tv_nsec - a->epoch_started.tv_nsec) / 1000000);
	return ms >= a->cfg->audit.key_interval_ms;
}

/* Removes the oldest files beyond audit.keep_files and audit.keep_age. */
static void
audit_retention(struct audit *a)
{
	unsigned long *files = NULL;
	size_t n = 0;
	char err[AUDIT_ERR_MAX], path[4096];
	time_t now = time(NULL);

	if (audit_list(a->dir, &files, &n, err, sizeof(err)) != 0) {
		log_warnx("audit: retention: %s", err);
		return;
	}
	for (size_t i = 0; i + 1 < n; i++) {	/* never the current file */
		struct stat st;
		int old;

		audit_path(a->dir, files[i], path, sizeof(path));
		/* A time in the future (clock set back) says nothing of age. */
		if (stat(path, &st) != 0 || st.st_mtime > now)
			continue;
		old = a->cfg->audit.keep_age_ms > 0 &&
		    (uint64_t)(now - st.st_mtime) * 1000 >
		    a->cfg->audit.keep_age_ms;
		if (!old && (a->cfg->audit.keep_files == 0 ||
		    n - i <= a->cfg->audit.keep_files))
			continue;
		if (unlink(path) == 0)
			log_notice("audit: removed %s (retention)", path);
	}
	free(files);
}

/* Starts the next file; its first record links to the last of this one. */
static int
audit_rotate(struct audit *a, char *err, size_t errlen)
{
	char details[128];
	unsigned long prev = a->fileno;

	if (audit_open_file(a, prev + 1, err, errlen) != 0)
		return -1;
	snprintf(details, sizeof(details), "{\"previous_file\":"
	    "\"audit-%08lu.log\"}", prev);
	if (audit_write_now(a, "audit.rotated", "system", NULL, details, err,
	    errlen) != 0)
		return -1;
	audit_retention(a);
	return 0;
}

static int
audit_rotate_due(const struct audit *a)
{
	return (uint64_t)a->durable_size >= a->cfg->audit.max_file_size ||
	    (uint64_t)(time(NULL) - a->file_opened) * 1000 >=
	    a->cfg->audit.max_file_age_ms;
}

/* Housekeeping between batches: key evolution and rotation. */
static int
audit_maintain(struct audit *a, char *err, size_t errlen)
{
	if (a->pending_len != 0)
		return 0;
	if (audit_rotate_due(a) && audit_rotate(a, err, errlen) != 0)
		return -1;
	if (audit_evolve_due(a) && audit_evolve(a, err, errlen) != 0)
		return -1;
	return 0;
}

static void
audit_call_waiters(struct audit *a, int ok)
{
	struct audit_waiter *w = a->waiters;
	size_t n = a->nwaiters;

	/* Callbacks may append: hand them a clean queue. */
	a->waiters = NULL;
	a->nwaiters = a->waiters_cap = 0;
	for (size_t i = 0; i < n; i++)
		if (w[i].done != NULL)
			w[i].done(w[i].arg, ok);
	free(w);
}

/* Group commit: everything queued goes out in one write and one sync. */
static int
audit_flush(struct audit *a)
{
	char err[AUDIT_ERR_MAX];
	const char *p, *nl;

	a->flush_armed = 0;
	if (a->pending_len == 0)
		return 0;
	if (audit_write_durable(a, a->pending, a->pending_len, err,
	    sizeof(err)) != 0) {
		a->pending_len = 0;
		a->head = a->durable;
		audit_fail_closed(a, err);
		audit_call_waiters(a, 0);
		return -1;
	}
	a->durable = a->head;
	for (p = a->pending; p < a->pending + a->pending_len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(a->pending + a->pending_len - p));
		audit_mirror(a, p, (size_t)(nl - p));
	}
	a->pending_len = 0;
	audit_call_waiters(a, 1);
	if (audit_maintain(a, err, sizeof(err)) != 0) {
		audit_fail_closed(a, err);
		return -1;
	}
	return 0;
}

static void
audit_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	audit_flush(arg);
}

/* An idle log must still evolve its key and rotate on time. */
static void
audit_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct audit *a = arg;
	char err[AUDIT_ERR_MAX];

	if (a->failed || a->pending_len != 0)
		return;
	if (audit_maintain(a, err, sizeof(err)) != 0)
		audit_fail_closed(a, err);
}

static void
audit_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct audit *a = arg;
	char err[AUDIT_ERR_MAX], details[400];
	struct json_buf j;

	if (a->key_dirty) {
		if (audit_write_key(a->dir, a->key, a->durable.epoch, err,
		    sizeof(err)) != 0) {
			log_warnx("audit: the old key is still on disk and cannot "
			    "be replaced: %s", err);
			return;
		}
		a->key_dirty = 0;
	}
	json_init(&j, 0);
	json_object_begin(&j);
	json_kv_str(&j, "reason", "write error");
	json_kv_str(&j, "error", a->fail_reason);
	json_kv_int(&j, "failed_for_s", (int64_t)(time(NULL) -
	    a->failed_since));
	json_object_end(&j);
	snprintf(details, sizeof(details), "%s", j.failed ? "{}" : j.s);
	json_free(&j);
	if (audit_write_now(a, "audit.recovered", "system", NULL, details,
	    err, sizeof(err)) != 0) {
		log_warnx("audit: still failing, new actions stay refused: %s",
		    err);
		return;
	}
	a->failed = 0;
	event_del(a->retry_ev);
	log_notice("audit: writing again after %ld s; actions resume",
	    (long)(time(NULL) - a->failed_since));
}

static void
audit_fail_closed(struct audit *a, const char *why)
{
	struct timeval tv;

	if (!a->failed) {
		a->failed_since = time(NULL);
		log_warnx("audit: CANNOT WRITE THE AUDIT LOG (%s): refusing "
		    "every action that needs a record until it can", why);
	}
	a->failed = 1;
	snprintf(a->fail_reason, sizeof(a->fail_reason), "%s", why);
	if (a->cfg->audit.disk_full_action == 1)
		fatalx("audit: %s; stopping (audit.disk_full_action: stop)",
		    why);
	if (a->retry_ev != NULL) {
		tv.tv_sec = (time_t)(a->cfg->audit.retry_interval_ms / 1000);
		tv.tv_usec = (suseconds_t)(a->cfg->audit.retry_interval_ms %
		    1000) * 1000;
		event_add(a->retry_ev, &tv);
	}
}

int
audit_append(struct audit *a, const char *type, const char *actor,
    const char *peer, const char *details, audit_done done, void *arg)
{
	struct json_buf j;
	struct timeval tv = { 0, 0 };
	struct audit_chain saved;

	if (a->failed || !audit_type_valid(type))
		return -1;
	if (a->base == NULL) {
		char err[AUDIT_ERR_MAX];
		int rc = audit_append_sync(a, type, actor, peer, details, err,
		    sizeof(err));

		if (rc == 0 && done != NULL)
			done(arg, 1);
		return rc;
	}
	saved = a->head;
	json_init(&j, AUDIT_LINE_MAX);
	if (audit_format_next(a, &j, type, actor, peer, details) != 0) {
		json_free(&j);
		return -1;
	}
	if (audit_newline(&j) != 0)
		goto oom;
	if (a->pending_len + j.len > a->pending_cap) {
		size_t cap = a->pending_cap ? a->pending_cap : 65536;
		char *p;

		while (cap < a->pending_len + j.len)
			cap *= 2;
		if ((p = realloc(a->pending, cap)) == NULL)
			goto oom;
		a->pending = p;
		a->pending_cap = cap;
	}
	if (a->nwaiters == a->waiters_cap) {
		size_t cap = a->waiters_cap ? a->waiters_cap * 2 : 64;
		struct audit_waiter *w = realloc(a->waiters,
		    cap * sizeof(*w));

		if (w == NULL)
			goto oom;
		a->waiters = w;
		a->waiters_cap = cap;
	}
	memcpy(a->pending + a->pending_len, j.s, j.len);
	a->pending_len += j.len;
	a->waiters[a->nwaiters].done = done;
	a->waiters[a->nwaiters].arg = arg;
	a->nwaiters++;
	json_free(&j);
	if (!a->flush_armed) {
		if (a->cfg->audit.sync == 1) {
			tv.tv_sec = (time_t)(a->cfg->audit.batch_interval_ms /
			    1000);
			tv.tv_usec = (suseconds_t)(a->cfg->audit.
			    batch_interval_ms % 1000) * 1000;
		}
		/* Flushed after every record queued in this turn. */
		event_add(a->flush_ev, &tv);
		a->flush_armed = 1;
	}
	return 0;
oom:
	/* Undo this record: it was formatted onto head but not queued. */
	json_free(&j);
	a->head = saved;
	return -1;
}

int
audit_append_sync(struct audit *a, const char *type, const char *actor,
    const char *peer, const char *details, char *err, size_t errlen)
{
	if (a->failed)
		return units_errf(err, errlen, "the audit log cannot be "
		    "written (%s)", a->fail_reason);
	if (!audit_type_valid(type))
		return units_errf(err, errlen, "unknown audit record type "
		    "\"%s\"", type);
	/*
	 * Records queued earlier go first: the chain is one line. Flushing
	 * runs completion callbacks, which may queue more: drain until empty.
	 */
	while (a->pending_len != 0)
		if (audit_flush(a) != 0)
			return units_errf(err, errlen, "the audit log cannot be "
			    "written (%s)", a->fail_reason);
	if (audit_write_now(a, type, actor, peer, details, err, errlen) != 0) {
		if (strstr(err, "details are not") == NULL) {
			char why[AUDIT_ERR_MAX];

			audit_fail_closed(a, err);
			snprintf(why, sizeof(why), "%s", a->fail_reason);
			units_errf(err, errlen, "the audit log cannot be written "
			    "(%s)", why);
		}
		return -1;
	}
	/*
	 * This record is durable whatever happens next: a failed rotation
	 * or key evolution closes the log for the records after it.
	 */
	{
		char merr[AUDIT_ERR_MAX];

		if (audit_maintain(a, merr, sizeof(merr)) != 0)
			audit_fail_closed(a, merr);
	}
	return 0;
}

int
audit_ok(const struct audit *a)
{
	return a != NULL && !a->failed;
}

/* ---- reading records -------------------------------------------------- */

/* The fields acgw relies on in one record line. */
struct audit_rec {
	uint64_t seq;
	unsigned epoch;
	char time[40];
	char type[40];
	char actor[80];
	char peer[80];
	unsigned char prev[32];
	unsigned char mac[32];
};

/*
 * Parses line[0..len) (no newline) as a record. Checks the shape and
 * that the MAC sits at the very end, where the writer puts it.
 */
static const char *
audit_parse_json(const char *line, size_t len, struct audit_rec *r)
{
	const struct json_value *seq, *time, *type, *peer, *epoch, *prev, *mac;
	const struct json_value *actor, *details;
	struct json_value *v;
	char perr[96];
	const char *why = NULL;

	memset(r, 0, sizeof(r[0]));
	if (len < AUDIT_MAC_SUFFIX_LEN + 2 ||
	    memcmp(line + len - AUDIT_MAC_SUFFIX_LEN, ",\"mac\":\"", 8) != 0)
		return "not a record (no MAC at the end of the line)";
	if ((v = json_parse(line, len, perr, sizeof(perr))) == NULL)
		return "not a record (not JSON)";
	seq = json_get(v, "seq");
	time = json_get(v, "time");
	type = json_get(v, "type");
	actor = json_get(v, "actor");
	peer = json_get(v, "peer");
	details = json_get(v, "details");
	epoch = json_get(v, "epoch");
	prev = json_get(v, "prev");
	mac = json_get(v, "mac");
	if (v->type != JSON_OBJECT || v->n != 9 || !seq || !seq->is_int ||
	    seq->integer < 1 || !time || time->type != JSON_STRING ||
	    !type || type->type != JSON_STRING || !actor ||
	    actor->type != JSON_STRING || !peer || (peer->type != JSON_NULL &&
	    peer->type != JSON_STRING) || !details ||
	    details->type != JSON_OBJECT || !epoch || !epoch->is_int ||
	    epoch->integer < 0 || epoch->integer > 0x7fffffff || !prev ||
	    prev->type != JSON_STRING || prev->string_len != 64 || !mac ||
	    mac->type != JSON_STRING || mac->string_len != 64) {
		why = "not a record (fields missing or of the wrong type)";
		goto out;
	}
	if (audit_unhex(prev->string, 32, r->prev) != 0 ||
	    audit_unhex(mac->string, 32, r->mac) != 0) {
		why = "not a record (prev or mac is not lower-case hex)";
		goto out;
	}
	if (!audit_type_valid(type->string)) {
		why = "unknown record type";
		goto out;
	}
	r->seq = (uint64_t)seq->integer;
	r->epoch = (unsigned)epoch->integer;
	snprintf(r->time, sizeof(r->time), "%s", time->string);
	snprintf(r->type, sizeof(r->type), "%s", type->string);
	if (peer->type == JSON_STRING)
		snprintf(r->peer, sizeof(r->peer), "%s", peer->string);
out:
	json_value_free(v);
	return why;
}

/* ---- the fast path: the layout the writer produces ---------------------- */

struct scan {
	const char *p, *end;
};

static int
scan_lit(struct scan *s, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

static int
scan_uint(struct scan *s, uint64_t *v, uint64_t max)
{
	uint64_t n = 0;
	const char *start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		if (n > (max - (uint64_t)(*s->p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s->p++ - '0');
	}
	if (s->p == start || (s->p - start > 1 && *start == '0'))
		return -1;
	*v = n;
	return 0;
}

/* A string without escapes (the fast path leaves those to the parser). */
static int
scan_plain_string(struct scan *s, char *out, size_t outlen)
{
	const char *start;

	if (scan_lit(s, "\"") != 0)
		return -1;
	start = s->p;
	while (s->p < s->end && *s->p != '"') {
		if (*s->p == '\\' || (unsigned char)*s->p < 0x20)
			return -1;
		s->p++;
	}
	if (s->p == s->end || (size_t)(s->p - start) >= outlen)
		return -1;
	memcpy(out, start, (size_t)(s->p - start));
	out[s->p - start] = '\0';
	s->p++;
	return 0;
}

/* Skips one JSON object, strings and nesting included. */
static int
scan_object(struct scan *s)
{
	int depth = 0, in_str = 0;

	if (s->p == s->end || *s->p != '{')
		return -1;
	for (; s->p < s->end; s->p++) {
		char c = *s->p;

		if (in_str) {
			if (c == '\\')
				s->p++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && --depth == 0) {
			s->p++;
			return 0;
		}
	}
	return -1;
}

static int
scan_hex32(struct scan *s, unsigned char out[32])
{
	if (scan_lit(s, "\"") != 0 || s->end - s->p < 65 ||
	    audit_unhex(s->p, 32, out) != 0 || s->p[64] != '"')
		return -1;
	s->p += 65;
	return 0;
}

/*
 * Reads a record in exactly the writer's layout without building a
 * tree: the verifier reads every record of every file. Anything else
 * (other spacing, escapes in names, a malformed line) goes to the full
 * JSON parser, which also words the errors. Details are skipped, not
 * judged: a record is only trusted once its MAC verifies, and the
 * writer checked them before it MACed them.
 */
static int
audit_parse_fast(const char *line, size_t len, struct audit_rec *r)
{
	struct scan s = { line, line + len };
	uint64_t v;

	memset(r, 0, sizeof(*r));
	if (scan_lit(&s, "{\"seq\":") != 0 || scan_uint(&s, &r->seq,
	    UINT64_MAX) != 0 || r->seq == 0 ||
	    scan_lit(&s, ",\"time\":") != 0 ||
	    scan_plain_string(&s, r->time, sizeof(r->time)) != 0 ||
	    scan_lit(&s, ",\"type\":") != 0 ||
	    scan_plain_string(&s, r->type, sizeof(r->type)) != 0 ||
	    !audit_type_valid(r->type) ||
	    scan_lit(&s, ",\"actor\":") != 0 ||
	    scan_plain_string(&s, r->actor, sizeof(r->actor)) != 0 ||
	    scan_lit(&s, ",\"peer\":") != 0)
		return -1;
	if (scan_lit(&s, "null") != 0 &&
	    scan_plain_string(&s, r->peer, sizeof(r->peer)) != 0)
		return -1;
	if (scan_lit(&s, ",\"details\":") != 0 || scan_object(&s) != 0 ||
	    scan_lit(&s, ",\"epoch\":") != 0 ||
	    scan_uint(&s, &v, 0x7fffffff) != 0 ||
	    scan_lit(&s, ",\"prev\":") != 0 || scan_hex32(&s, r->prev) != 0 ||
	    scan_lit(&s, ",\"mac\":") != 0 || scan_hex32(&s, r->mac) != 0 ||
	    scan_lit(&s, "}") != 0 || s.p != s.end)
		return -1;
	r->epoch = (unsigned)v;
	return 0;
}

static const char *
audit_parse(const char *line, size_t len, struct audit_rec *r)
{
	if (audit_parse_fast(line, len, r) == 0)
		return NULL;
	return audit_parse_json(line, len, r);
}

static int
audit_mac_ok(const unsigned char key[AUDIT_KEY_LEN], const char *line,
    size_t len, const unsigned char mac[32])
{
	char want[65], got[65];

	audit_mac(key, line, len - AUDIT_MAC_SUFFIX_LEN, want);
	units_hex(mac, 32, got);
	return CRYPTO_memcmp(want, got, 64) == 0;
}

/* Reads a whole file into memory (the caller frees it). */
static char *
audit_slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t off = 0;

	if (fd == -1 || fstat(fd, &st) != 0) {
		units_errf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		units_errf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	buf[off] = '\0';
	*len = off;
	return buf;
}

/* ---- opening and recovery ----------------------------------------------- */

/*
 * Finds the end of the chain in the newest file. Only an unterminated
 * last line is a torn write (a crash between write and sync) and is cut;
 * any complete record that does not check out stops the start without
 * touching the file, because cutting there would destroy acknowledged
 * records and evidence. Records of the current epoch are MAC-checked;
 * older ones can no longer be, by design (their keys are gone), so for
 * them shape, sequence and chain decide.
 */
static int
audit_recover(struct audit *a, unsigned key_epoch, size_t *dropped,
    char *err, size_t errlen)
{
	char path[4096];
	size_t len, off = 0, lineno = 0;
	char *buf;
	struct audit_chain c = a->head;
	int first = 1, repaired = 0;
	unsigned char next[AUDIT_KEY_LEN];

	*dropped = 0;
	audit_path(a->dir, a->fileno, path, sizeof(path));
	if ((buf = audit_slurp(path, &len, err, errlen)) == NULL)
		return -1;
	audit_key_evolve(a->key, next);
	while (off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		size_t ll;
		struct audit_rec r;
		const char *why;
		unsigned char h[32];

		if (nl == NULL)
			break;			/* torn: cut below */
		lineno++;
		ll = (size_t)(nl - (buf + off));
#define DAMAGED(...) do {						\
			int w_ = snprintf(err, errlen, "%s:%zu: ", path,	\
			    lineno);					\
			if (w_ > 0 && (size_t)w_ < errlen)			\
				snprintf(err + w_, errlen - (size_t)w_,		\
				    __VA_ARGS__);				\
			free(buf);						\
			OPENSSL_cleanse(next, sizeof(next));			\
			return -1;						\
		} while (0)
		if ((why = audit_parse(buf + off, ll, &r)) != NULL)
			DAMAGED("%s; acgwd will not write after a damaged record: "
			    "keep the file as evidence, verify it with acgwctl "
			    "audit verify, and start a new log", why);
		if (!first && (r.seq != c.seq + 1 ||
		    memcmp(r.prev, c.last, 32) != 0))
			DAMAGED("seq %llu does not follow seq %llu; the log is "
			    "damaged (acgwctl audit verify names the record)",
			    (unsigned long long)r.seq,
			    (unsigned long long)c.seq);
		if (!first && r.epoch < c.epoch)
			DAMAGED("seq %llu: epoch goes back", (unsigned long long)
			    r.seq);
		if (r.epoch > key_epoch + 1 || (r.epoch == key_epoch + 1 &&
		    (repaired || strcmp(r.type, "audit.key_evolved") != 0)))
			DAMAGED("seq %llu is in epoch %u but the key file is at "
			    "epoch %u: the key does not belong to this log",
			    (unsigned long long)r.seq, r.epoch, key_epoch);
		if (r.epoch == key_epoch && !repaired &&
		    !audit_mac_ok(a->key, buf + off, ll, r.mac))
			DAMAGED("seq %llu: MAC does not verify under the current "
			    "key", (unsigned long long)r.seq);
		if (r.epoch == key_epoch + 1) {
			/* Crashed after the evolution record, before the key. */
			if (!audit_mac_ok(next, buf + off, ll, r.mac))
				DAMAGED("seq %llu: MAC does not verify under the "
				    "next key", (unsigned long long)r.seq);
			repaired = 1;
		} else if (repaired && !audit_mac_ok(next, buf + off, ll,
		    r.mac))
			DAMAGED("seq %llu: MAC does not verify under the current "
			    "key", (unsigned long long)r.seq);
		audit_sha256(buf + off, ll, h);
		if (r.epoch != c.epoch)
			c.epoch_records = 0;
		c.seq = r.seq;
		c.epoch = r.epoch;
		c.epoch_records++;
		memcpy(c.last, h, 32);
		snprintf(c.time, sizeof(c.time), "%s", r.time);
		first = 0;
		off += ll + 1;
#undef DAMAGED
	}
	free(buf);
	if (!first && c.epoch < key_epoch) {
		OPENSSL_cleanse(next, sizeof(next));
		return units_errf(err, errlen, "%s: the key file is at epoch %u "
		    "but the log only reaches epoch %u; the key does not belong "
		    "to this log", a->dir, key_epoch, c.epoch);
	}
	if (repaired) {
		if (audit_write_key(a->dir, next, key_epoch + 1, err,
		    errlen) != 0) {
			OPENSSL_cleanse(next, sizeof(next));
			return -1;
		}
		memcpy(a->key, next, AUDIT_KEY_LEN);
		key_epoch++;
	}
	OPENSSL_cleanse(next, sizeof(next));
	if (off < len) {
		int fd = open(path, O_WRONLY | O_CLOEXEC);

		if (fd == -1 || ftruncate(fd, (off_t)off) != 0 ||
		    fsync(fd) != 0) {
			if (fd != -1)
				close(fd);
			return units_errf(err, errlen, "%s: cannot cut the torn "
			    "last line: %s", path, strerror(errno));
		}
		close(fd);
		*dropped = len - off;
	}
	c.epoch = key_epoch;
	a->head = a->durable = c;
	return 0;
}

/* The chain's end from the last record of an earlier file. */
static int
audit_tail_of(struct audit *a, unsigned long num, char *err, size_t errlen)
{
	char path[4096];
	size_t len, end;
	char *buf;
	struct audit_rec r;

	audit_path(a->dir, num, path, sizeof(path));
	if ((buf = audit_slurp(path, &len, err, errlen)) == NULL)
		return -1;
	end = len;
	while (end > 0 && buf[end - 1] == '\n')
		end--;
	if (end > 0) {
		size_t start = end;

		while (start > 0 && buf[start - 1] != '\n')
			start--;
		if (audit_parse(buf + start, end - start, &r) != NULL) {
			free(buf);
			return units_errf(err, errlen, "%s: its last record is "
			    "damaged, so the next file cannot link to it", path);
		}
		a->head.seq = r.seq;
		a->head.epoch = r.epoch;
		audit_sha256(buf + start, end - start, a->head.last);
		snprintf(a->head.time, sizeof(a->head.time), "%s", r.time);
	}
	free(buf);
	return 0;
}

struct audit *
audit_open(struct event_base *base, const struct config *cfg, char *err,
    size_t errlen)
{
	struct audit *a = calloc(1, sizeof(*a));
	unsigned long *files = NULL;
	size_t n = 0, dropped = 0;
	unsigned key_epoch = 0;
	char keypath[4096];

	if (a == NULL) {
		units_errf(err, errlen, "out of memory");
		return NULL;
	}
	a->fd = -1;
	a->base = base;
	a->cfg = cfg;
	if ((a->dir = strdup(cfg->audit.dir)) == NULL) {
		units_errf(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(keypath, sizeof(keypath), "%s/key", a->dir);
	if (access(keypath, F_OK) != 0) {
		units_errf(err, errlen, "audit.dir %s has no key: create the log "
		    "with \"acgwctl audit init --dir %s\" and keep the K0 it "
		    "prints offline", a->dir, a->dir);
		goto fail;
	}
	if (audit_read_key(keypath, a->key, &key_epoch, err, errlen) != 0 ||
	    audit_list(a->dir, &files, &n, err, errlen) != 0)
		goto fail;
	a->head.epoch = key_epoch;
	if (n == 0) {
		if (audit_open_file(a, 1, err, errlen) != 0)
			goto fail;
	} else {
		if (n > 1 && audit_tail_of(a, files[n - 2], err, errlen) != 0)
			goto fail;
		a->fileno = files[n - 1];
		if (audit_recover(a, key_epoch, &dropped, err, errlen) != 0 ||
		    audit_open_file(a, files[n - 1], err, errlen) != 0)
			goto fail;
	}
	free(files);
	files = NULL;
	a->durable = a->head;
	/* The epoch began when its key was written, not at this start. */
	clock_gettime(CLOCK_MONOTONIC, &a->epoch_started);
	{
		struct stat kst;
		time_t age;

		if (stat(keypath, &kst) == 0 &&
		    (age = time(NULL) - kst.st_mtime) > 0)
			a->epoch_started.tv_sec -= age;	/* may go below 0 */
	}
	if (base != NULL) {
		struct timeval tick = { 1, 0 };

		a->flush_ev = evtimer_new(base, audit_flush_cb, a);
		a->retry_ev = event_new(base, -1, EV_PERSIST, audit_retry_cb, a);
		a->tick_ev = event_new(base, -1, EV_PERSIST, audit_tick_cb, a);
		if (a->flush_ev == NULL || a->retry_ev == NULL ||
		    a->tick_ev == NULL || event_add(a->tick_ev, &tick) != 0) {
			units_errf(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (dropped > 0) {
		char details[128];

		snprintf(details, sizeof(details), "{\"file\":\"audit-%08lu.log\","
		    "\"dropped_bytes\":%zu}", a->fileno, dropped);
		log_warnx("audit: cut %zu bytes of torn or damaged records from "
		    "the end of audit-%08lu.log", dropped, a->fileno);
		if (audit_write_now(a, "audit.recovered", "system", NULL,
		    details, err, errlen) != 0)
			goto fail;
	}
	return a;
fail:
	free(files);
	audit_close(a);
	return NULL;
}

int
audit_reconfigure(struct audit *a, const struct config *cfg, char *err,
    size_t errlen)
{
	if (strcmp(cfg->audit.dir, a->dir) != 0)
		return units_errf(err, errlen, "audit.dir cannot change on a "
		    "reload (%s is open); restart acgwd to move the log",
		    a->dir);
	a->cfg = cfg;
	return 0;
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	if (a->pending_len != 0 && a->fd != -1)
		audit_flush(a);
	if (a->flush_ev != NULL)
		event_free(a->flush_ev);
	if (a->retry_ev != NULL)
		event_free(a->retry_ev);
	if (a->tick_ev != NULL)
		event_free(a->tick_ev);
	if (a->fd != -1)
		close(a->fd);
	OPENSSL_cleanse(a->key, sizeof(a->key));
	free(a->pending);
	free(a->waiters);
	free(a->dir);
	free(a);
}

void
audit_status_json(const struct audit *a, struct json_buf *j)
{
	json_kv_str(j, "audit_state", a->failed ? "FAILED (actions refused)" :
	    "ok");
	json_kv_uint(j, "audit_seq", a->durable.seq);
	json_kv_uint(j, "audit_epoch", a->durable.epoch);
	{
		char f[32];

		snprintf(f, sizeof(f), "audit-%08lu.log", a->fileno);
		json_kv_str(j, "audit_file", f);
	}
	if (a->failed)
		json_kv_str(j, "audit_error", a->fail_reason);
}

/* ---- tail and search ---------------------------------------------------- */

/* The seq of a file's first record (0 if none can be read). */
static uint64_t
audit_first_seq(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t seq = 0;
	struct audit_rec r;

	if (f == NULL)
		return 0;
	if ((n = getline(&line, &cap, f)) > 1 &&
	    audit_parse(line, (size_t)n - 1, &r) == NULL)
		seq = r.seq;
	free(line);
	fclose(f);
	return seq;
}

/*
 * Calls fn on each record line of the files from index "from" on,
 * oldest first; fn returns 0 to go on, 1 to stop, -1 on error.
 */
static int
audit_each_from(struct audit *a, const unsigned long *files, size_t n,
    size_t from, int (*fn)(void *, const char *, size_t,
    const struct audit_rec *), void *arg, char *err, size_t errlen)
{
	int rc = 0;

	for (size_t i = from; i < n && rc == 0; i++) {
		char path[4096];
		size_t len, off = 0;
		char *buf;

		audit_path(a->dir, files[i], path, sizeof(path));
		if ((buf = audit_slurp(path, &len, err, errlen)) == NULL)
			return -1;
		while (off < len && rc == 0) {
			char *nl = memchr(buf + off, '\n', len - off);
			struct audit_rec r;

			if (nl == NULL)
				break;
			if (audit_parse(buf + off, (size_t)(nl - buf - off),
			    &r) == NULL)
				rc = fn(arg, buf + off, (size_t)(nl - buf - off),
				    &r);
			off = (size_t)(nl - buf) + 1;
		}
		free(buf);
	}
	return rc < 0 ? -1 : 0;
}

/* The matching records, kept as raw lines. */
struct audit_ring {
	char **lines;
	size_t cap, n, next;
	const struct audit_filter *f;
	uint64_t after;
	int first;		/* keep the first cap records, not the last */
};

static int
audit_ring_add(void *arg, const char *line, size_t len,
    const struct audit_rec *r)
{
	struct audit_ring *ring = arg;
	const struct audit_filter *f = ring->f;
	char *copy;

	if (r->seq <= ring->after)
		return 0;
	if (f != NULL && ((f->type && strcmp(f->type, r->type) != 0) ||
	    (f->peer && strcmp(f->peer, r->peer) != 0) ||
	    (f->since && strcmp(r->time, f->since) < 0) ||
	    (f->until && strcmp(r->time, f->until) > 0)))
		return 0;
	if (ring->first && ring->n == ring->cap)
		return 1;
	if ((copy = strndup(line, len)) == NULL)
		return -1;
	free(ring->lines[ring->next]);
	ring->lines[ring->next] = copy;
	ring->next = (ring->next + 1) % ring->cap;
	if (ring->n < ring->cap)
		ring->n++;
	return 0;
}

/*
 * Runs the ring over the files. Only the files that can matter are
 * read: for "after SEQ", from the file holding SEQ + 1; for a plain
 * tail, from the newest file backwards until enough records are there.
 */
static int
audit_ring_json(struct audit *a, struct audit_ring *ring, struct json_buf *j,
    char *err, size_t errlen)
{
	unsigned long *files = NULL;
	size_t n = 0, from = 0;
	int rc;

	while (a->pending_len != 0 && audit_flush(a) == 0)
		;
	if ((ring->lines = calloc(ring->cap, sizeof(char *))) == NULL)
		return units_errf(err, errlen, "out of memory");
	if (audit_list(a->dir, &files, &n, err, errlen) != 0) {
		free(ring->lines);
		return -1;
	}
	if (ring->f == NULL && n > 0) {
		char path[4096];

		/* Newest file backwards: its first seq bounds what it holds. */
		for (from = n; from > 0; from--) {
			uint64_t first;

			audit_path(a->dir, files[from - 1], path, sizeof(path));
			first = audit_first_seq(path);
			if (ring->after > 0 ? first <= ring->after + 1 && first :
			    first != 0 && a->durable.seq - first + 1 >=
			    ring->cap)
				break;
		}
		if (from > 0)
			from--;
	}
	rc = audit_each_from(a, files, n, from, audit_ring_add, ring, err,
	    errlen);
	free(files);
	if (rc == 0) {
		size_t start = (ring->next + ring->cap - ring->n) % ring->cap;

		json_array_begin(j);
		for (size_t i = 0; i < ring->n; i++)
			json_raw(j, ring->lines[(start + i) % ring->cap],
			    strlen(ring->lines[(start + i) % ring->cap]));
		json_array_end(j);
	}
	for (size_t i = 0; i < ring->cap; i++)
		free(ring->lines[i]);
	free(ring->lines);
	return rc;
}

int
audit_tail_json(struct audit *a, size_t n, uint64_t after,
    struct json_buf *j, char *err, size_t errlen)
{
	/* With "after": the first n records after it, for --follow. */
	struct audit_ring ring = { NULL, n ? n : 1, 0, 0, NULL, after,
	    after > 0 };

	return audit_ring_json(a, &ring, j, err, errlen);
}

int
audit_search_json(struct audit *a, const struct audit_filter *f,
    struct json_buf *j, char *err, size_t errlen)
{
	struct audit_ring ring = { NULL, f->limit ? f->limit : 100, 0, 0, f,
	    0, 0 };

	return audit_ring_json(a, &ring, j, err, errlen);
}

/* ---- offline verification ------------------------------------------------ */

/*
 * Hashing for the verifier, with the algorithms fetched once and the
 * HMAC keyed once per epoch: per record, the one-shot calls would fetch
 * and key again, which costs more than the hashing itself.
 */
struct audit_hasher {
	EVP_MD *sha;
	EVP_MD_CTX *md;
	EVP_MAC *hmac;
	EVP_MAC_CTX *mac;
};

static int
audit_hasher_init(struct audit_hasher *h)
{
	memset(h, 0, sizeof(*h));
	h->sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->md = EVP_MD_CTX_new();
	h->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	h->mac = h->hmac ? EVP_MAC_CTX_new(h->hmac) : NULL;
	return h->sha && h->md && h->hmac && h->mac ? 0 : -1;
}

static void
audit_hasher_free(struct audit_hasher *h)
{
	EVP_MAC_CTX_free(h->mac);
	EVP_MAC_free(h->hmac);
	EVP_MD_CTX_free(h->md);
	EVP_MD_free(h->sha);
}

static int
audit_hasher_key(struct audit_hasher *h, const unsigned char key[32])
{
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	return EVP_MAC_init(h->mac, key, AUDIT_KEY_LEN, params) == 1 ? 0 : -1;
}

static int
audit_hasher_sha(struct audit_hasher *h, const char *d, size_t n,
    unsigned char out[32])
{
	unsigned int len = 0;

	return EVP_DigestInit_ex(h->md, h->sha, NULL) == 1 &&
	    EVP_DigestUpdate(h->md, d, n) == 1 &&
	    EVP_DigestFinal_ex(h->md, out, &len) == 1 && len == 32 ? 0 : -1;
}

/* The record's MAC, under the key last given to audit_hasher_key. */
static int
audit_hasher_mac_ok(struct audit_hasher *h, const char *line, size_t len,
    const unsigned char mac[32])
{
	unsigned char want[32];
	size_t n = 0;

	if (EVP_MAC_init(h->mac, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(h->mac, (const unsigned char *)line,
	    len - AUDIT_MAC_SUFFIX_LEN) != 1 ||
	    EVP_MAC_final(h->mac, want, &n, sizeof(want)) != 1 || n != 32)
		return 0;
	return CRYPTO_memcmp(want, mac, 32) == 0;
}

int
audit_verify_files(const unsigned char k0[AUDIT_KEY_LEN],
    const char *const *files, size_t nfiles, struct audit_verify *v)
{
	unsigned char key[AUDIT_KEY_LEN], last[32];
	unsigned epoch = 0;
	uint64_t seq = 0;
	char prevtime[40] = "";
	int have_prev = 0;
	struct audit_hasher h;

	memset(v, 0, sizeof(*v));
	memcpy(key, k0, AUDIT_KEY_LEN);
	if (audit_hasher_init(&h) != 0 || audit_hasher_key(&h, key) != 0) {
		audit_hasher_free(&h);
		snprintf(v->error, sizeof(v->error), "OpenSSL: no SHA-256 or "
		    "HMAC");
		return -1;
	}
	for (size_t fi = 0; fi < nfiles; fi++) {
		char err[AUDIT_ERR_MAX];
		size_t len, off = 0, lineno = 0;
		char *buf = audit_slurp(files[fi], &len, err, sizeof(err));

		if (buf == NULL) {
			snprintf(v->error, sizeof(v->error), "%s", err);
			goto fail;
		}
		if (len == 0) {
			/* A crash between a rotation's open and its first record
			 * leaves an empty newest file; elsewhere it is a gap. */
			free(buf);
			if (fi + 1 == nfiles)
				continue;
			snprintf(v->error, sizeof(v->error), "%s: empty file",
			    files[fi]);
			goto fail;
		}
		while (off < len) {
			char *nl = memchr(buf + off, '\n', len - off);
			size_t ll;
			struct audit_rec r;
			const char *why;

			lineno++;
			if (nl == NULL) {
				snprintf(v->error, sizeof(v->error), "%s:%zu: "
				    "after seq %llu: record is cut short (no "
				    "newline at the end of the file)", files[fi],
				    lineno, (unsigned long long)seq);
				free(buf);
				goto fail;
			}
			ll = (size_t)(nl - (buf + off));
#define BAD(...) do {							\
				int w_ = snprintf(v->error, sizeof(v->error),	\
				    "%s:%zu: seq %llu: ", files[fi], lineno,	\
				    (unsigned long long)r.seq);		\
				if (w_ > 0 && (size_t)w_ < sizeof(v->error))	\
					snprintf(v->error + w_,			\
					    sizeof(v->error) - (size_t)w_,	\
					    __VA_ARGS__);			\
				free(buf);					\
				goto fail;					\
			} while (0)
			if ((why = audit_parse(buf + off, ll, &r)) != NULL) {
				snprintf(v->error, sizeof(v->error), "%s:%zu: "
				    "after seq %llu: %s", files[fi], lineno,
				    (unsigned long long)seq, why);
				free(buf);
				goto fail;
			}
			if (!have_prev && r.seq == 1) {
				static const unsigned char zero[32];

				if (memcmp(r.prev, zero, 32) != 0)
					BAD("the first record must have a zero "
					    "prev hash");
			}
			if (have_prev && r.seq != seq + 1)
				BAD("expected seq %llu: %s",
				    (unsigned long long)(seq + 1), r.seq <= seq ?
				    "records out of order or repeated" :
				    "records missing");
			if (have_prev && memcmp(r.prev, last, 32) != 0)
				BAD("chain broken: prev is not the hash of the "
				    "record before%s", lineno == 1 ?
				    " (in the previous file)" : "");
			if (r.epoch < epoch)
				BAD("epoch %u goes back from %u", r.epoch,
				    epoch);
			/* Each epoch is one hash to walk: refuse absurd jumps. */
			if (r.epoch - epoch > AUDIT_EPOCH_JUMP_MAX)
				BAD("epoch %u is implausibly far from %u", r.epoch,
				    epoch);
			if (have_prev && r.epoch > epoch &&
			    (r.epoch != epoch + 1 ||
			    strcmp(r.type, "audit.key_evolved") != 0))
				BAD("epoch %u starts without an audit.key_evolved "
				    "record from epoch %u", r.epoch, epoch);
			if (have_prev && strcmp(r.time, prevtime) < 0)
				BAD("time %s is before the previous record's %s",
				    r.time, prevtime);
			/* Walk the key forward to the record's epoch. */
			if (epoch < r.epoch) {
				while (epoch < r.epoch) {
					unsigned char next[AUDIT_KEY_LEN];

					audit_key_evolve(key, next);
					memcpy(key, next, AUDIT_KEY_LEN);
					OPENSSL_cleanse(next, sizeof(next));
					epoch++;
				}
				if (audit_hasher_key(&h, key) != 0)
					BAD("OpenSSL: cannot key HMAC");
			}
			if (!audit_hasher_mac_ok(&h, buf + off, ll, r.mac))
				BAD("MAC does not verify under the epoch %u key "
				    "(record altered or forged)", r.epoch);
			if (!have_prev) {
				v->first_seq = r.seq;
				v->first_epoch = r.epoch;
				snprintf(v->first_time, sizeof(v->first_time),
				    "%s", r.time);
			}
			if (audit_hasher_sha(&h, buf + off, ll, last) != 0)
				BAD("OpenSSL: SHA-256 failed");
#undef BAD
			seq = r.seq;
			/* r.time is NUL-terminated and shorter than both. */
			memcpy(prevtime, r.time, sizeof(r.time));
			have_prev = 1;
			v->records++;
			v->last_seq = r.seq;
			v->last_epoch = r.epoch;
			off += ll + 1;
		}
		free(buf);
	}
	OPENSSL_cleanse(key, sizeof(key));
	audit_hasher_free(&h);
	memcpy(v->last_time, prevtime, sizeof(prevtime));
	if (v->records == 0) {
		snprintf(v->error, sizeof(v->error), "no records");
		return -1;
	}
	return 0;
fail:
	OPENSSL_cleanse(key, sizeof(key));
	audit_hasher_free(&h);
	return -1;
}
