/*
 * audit_bench — how fast the audit log makes records durable, and how
 * fast it verifies them.
 *
 *   audit_bench [-t SECONDS] [-d DIR] [-w N] [-k] [-S] [-h]
 *
 * Each case opens a fresh log (audit_init, then audit_open with
 * "sync: always") in its own directory and runs N logical writers (1, 8,
 * 64) inside one libevent loop. A writer keeps exactly one record in
 * flight: it appends, and appends again from the completion callback,
 * which the log calls once the record is on stable storage (group
 * commit: one write and one fdatasync for all records queued in one turn
 * of the loop). Latency is the time from audit_append to that callback.
 * Each batch's time is split, in the same run, into formatting (the
 * callbacks, which append the next batch) and flushing (write, fdatasync
 * and one turn of the loop).
 *
 * Then: the filesystem alone (write + fdatasync of a batch the size the
 * writers produced), the CPU cost of one record's formatting, parsing
 * and hashes without I/O, and audit_verify_files over the last log
 * written (64 writers), warm in the page cache.
 *
 * Output: one line per figure, "NAME [PARAM=V ...] value=V [goal>=G]",
 * then a table for people. bench/run collects the lines of every
 * benchmark. Nothing is left behind unless -k is given.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "acgw/audit.h"
#include "acgw/config.h"
#include "acgw/json.h"
#include "acgw/log.h"

#define GOAL_DURABLE_RPS_64	20000	/* issue 5: 64 writers, sync: always */
#define GOAL_VERIFY_RPS		500000	/* issue 5: offline verification */

#define NCASES_MAX 3
static unsigned nwriters_cases[NCASES_MAX] = { 1, 8, 64 };
static size_t ncases = NCASES_MAX;	/* -w N: that case alone */

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
	    1000000000u + ((uint64_t)ru.ru_utime.tv_usec +
	    (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("audit_bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* snprintf for paths: a path that does not fit is an error, not cut. */
static void
pathf(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
pathf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		die("path too long: %s...", out);
}

/* ---- samples ------------------------------------------------------------ */

struct samples {
	uint64_t *v;		/* nanoseconds */
	size_t n, cap;
};

static void
samples_add(struct samples *s, uint64_t x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		uint64_t *v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL)
			die("out of memory");
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, in microseconds; s must be sorted. */
static double
pct_us(const struct samples *s, double q)
{
	size_t k;

	if (s->n == 0)
		return 0;
	k = (size_t)ceil(q * (double)s->n);
	if (k < 1)
		k = 1;
	if (k > s->n)
		k = s->n;
	return (double)s->v[k - 1] / 1000.0;
}

static double
mean_us(const struct samples *s)
{
	long double sum = 0;

	if (s->n == 0)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	return (double)(sum / s->n / 1000.0L);
}

/* ---- directories -------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static char cleanup_dir[PATH_MAX];	/* removed at exit unless -k */

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Removes dir and everything this program made in it. */
static void
rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];
	struct stat st;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(path);
		else if (unlink(path) != 0)
			fprintf(stderr, "audit_bench: cannot remove %s: %s\n", path,
			    strerror(errno));
	}
	closedir(d);
	if (rmdir(dir) != 0)
		fprintf(stderr, "audit_bench: cannot remove %s: %s\n", dir,
		    strerror(errno));
}

static void
cleanup(void)
{
	if (cleanup_dir[0] != '\0')
		rm_tree(cleanup_dir);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The audit-*.log files of dir, oldest first (their names sort so). */
static char **
log_files(const char *dir, size_t *n, uint64_t *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	*bytes = 0;
	if (d == NULL)
		die("%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat st;
		size_t len = strlen(de->d_name);

		if (strncmp(de->d_name, "audit-", 6) != 0 || len < 5 ||
		    strcmp(de->d_name + len - 4, ".log") != 0)
			continue;
		pathf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			die("%s: %s", path, strerror(errno));
		if (*n == cap) {
			char **nv;

			cap = cap ? cap * 2 : 8;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				die("out of memory");
			v = nv;
		}
		if ((v[(*n)++] = strdup(path)) == NULL)
			die("out of memory");
		*bytes += (uint64_t)st.st_size;
	}
	closedir(d);
	qsort(v, *n, sizeof(*v), name_cmp);
	return v;
}

/* The filesystem type of path, as far as statfs tells. */
static const char *
fs_name(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) != 0)
		return "unknown";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53UL:		return "ext2/3/4";
	case 0x58465342UL:	return "xfs";
	case 0x9123683EUL:	return "btrfs";
	case 0x01021994UL:	return "tmpfs";
	case 0x794C7630UL:	return "overlayfs";
	case 0xF2F52010UL:	return "f2fs";
	case 0x2FC12FC1UL:	return "zfs";
	default:		return "other";
	}
}

/* ---- the records the writers append ---------------------------------------- */

/* Details of the size and shape r3 writes for an admitted peer. */
static void
make_details(char *buf, size_t len, unsigned id)
{
	snprintf(buf, len, "{\"address\":\"192.0.2.%u:%u\",\"cn\":"
	    "\"ra-%04u.example.net\",\"pin\":\"sha256//"
	    "q8AsGg1Fh0dUm8kZKlGv3xT7HcX0Yy2bNcW5pRjE4sI=\",\"tls\":"
	    "\"TLSv1.3\",\"cipher\":\"TLS_AES_128_GCM_SHA256\",\"requests\":%u}",
	    1 + id % 250, 40000 + id, id, id * 7);
}

/* ---- durable appends ---------------------------------------------------- */

struct bench_case;

struct writer {
	struct bench_case *c;
	unsigned id;
	uint64_t t0;
	char peer[32];
	char details[320];
};

struct bench_case {
	unsigned nwriters;
	struct audit *a;
	struct event_base *base;
	struct event *stop_ev, *batch_ev;
	struct writer *w;
	int stop, batch_open, failed;
	uint64_t batch_first_ns, batch_end_ns;	/* of the current batch */
	struct samples work, sync;	/* per batch, see writer_done */
	unsigned inflight;
	uint64_t completed, batches;
	uint64_t start_ns, last_ns, cpu;
	struct samples lat;
	unsigned char k0[AUDIT_KEY_LEN];	/* for the verify step */
	/* results */
	double rps, p50, p99, max, cpu_us, busy, per_batch;
	double work_us, sync_us, sync_p50, sync_p99;
};

static void writer_done(void *arg, int ok);

static void
writer_send(struct writer *w)
{
	struct bench_case *c = w->c;

	w->t0 = mono_ns();
	if (audit_append(c->a, "peer.admitted", "r3", w->peer, w->details,
	    writer_done, w) != 0) {
		c->failed = 1;
		c->stop = 1;
		return;
	}
	c->inflight++;
}

static void
writer_done(void *arg, int ok)
{
	struct writer *w = arg;
	struct bench_case *c = w->c;
	uint64_t now = mono_ns();

	c->inflight--;
	if (!ok) {
		c->failed = 1;
		c->stop = 1;
	} else {
		samples_add(&c->lat, now - w->t0);
		c->completed++;
		c->last_ns = now;
		/*
		 * All callbacks of one group commit run back to back; the
		 * marker runs after the last of them, so one marker per
		 * fdatasync. A batch's time splits in two: from the marker
		 * of the one before to its first callback, the log's flush
		 * (write, fdatasync, one turn of the loop); from there to its
		 * own marker, the callbacks, which format the next batch.
		 */
		if (!c->batch_open) {
			c->batch_open = 1;
			c->batches++;
			c->batch_first_ns = now;
			if (c->batch_end_ns != 0)
				samples_add(&c->sync, now - c->batch_end_ns);
			event_active(c->batch_ev, 0, 0);
		}
	}
	if (interrupted)
		c->stop = 1;
	if (!c->stop)
		writer_send(w);
	else if (c->inflight == 0)
		event_base_loopbreak(c->base);
}

static void
batch_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_case *c = arg;

	(void)fd;
	(void)what;
	c->batch_open = 0;
	c->batch_end_ns = mono_ns();
	samples_add(&c->work, c->batch_end_ns - c->batch_first_ns);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_case *c = arg;

	(void)fd;
	(void)what;
	c->stop = 1;
	if (c->inflight == 0)
		event_base_loopbreak(c->base);
}

static struct config *
bench_config(const char *dir, int syslog_on)
{
	struct config_errors errs;
	struct config *cfg;
	char *y;
	int n;

	n = asprintf(&y, "audit:\n  dir: \"%s\"\n  sync: always\n"
	    "  syslog: %s\n", dir, syslog_on ? "true" : "false");
	if (n < 0)
		die("out of memory");
	cfg = config_load_buffer("audit_bench.yaml", y, (size_t)n, &errs);
	free(y);
	if (cfg == NULL)
		die("config: %s", errs.msg[0]);
	return cfg;
}

static void
new_log(const char *dir, unsigned char k0[AUDIT_KEY_LEN])
{
	char err[AUDIT_ERR_MAX];

	if (audit_init(dir, k0, err, sizeof(err)) != 0)
		die("audit_init: %s", err);
}

static void
run_case(struct bench_case *c, const char *dir, double seconds, int syslog_on)
{
	struct config *cfg;
	char err[AUDIT_ERR_MAX];
	struct timeval tv;
	uint64_t elapsed;

	new_log(dir, c->k0);
	cfg = bench_config(dir, syslog_on);
	if ((c->base = event_base_new()) == NULL)
		die("event_base_new failed");
	if ((c->a = audit_open(c->base, cfg, err, sizeof(err))) == NULL)
		die("audit_open: %s", err);
	c->stop_ev = evtimer_new(c->base, stop_cb, c);
	c->batch_ev = event_new(c->base, -1, 0, batch_end_cb, c);
	if ((c->w = calloc(c->nwriters, sizeof(*c->w))) == NULL ||
	    c->stop_ev == NULL || c->batch_ev == NULL)
		die("out of memory");
	for (unsigned i = 0; i < c->nwriters; i++) {
		c->w[i].c = c;
		c->w[i].id = i;
		snprintf(c->w[i].peer, sizeof(c->w[i].peer), "ra-%04u", i);
		make_details(c->w[i].details, sizeof(c->w[i].details), i);
	}
	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	evtimer_add(c->stop_ev, &tv);

	c->cpu = cpu_ns();
	c->start_ns = mono_ns();
	for (unsigned i = 0; i < c->nwriters && !c->stop; i++)
		writer_send(&c->w[i]);
	event_base_dispatch(c->base);
	c->cpu = cpu_ns() - c->cpu;
	if (c->failed)
		die("%u writers: the log failed (see the messages above)",
		    c->nwriters);

	elapsed = c->last_ns - c->start_ns;
	c->rps = elapsed ? (double)c->completed * 1e9 / (double)elapsed : 0;
	qsort(c->lat.v, c->lat.n, sizeof(uint64_t), u64_cmp);
	c->p50 = pct_us(&c->lat, 0.50);
	c->p99 = pct_us(&c->lat, 0.99);
	c->max = pct_us(&c->lat, 1.0);
	c->cpu_us = c->completed ? (double)c->cpu / 1000.0 /
	    (double)c->completed : 0;
	c->busy = elapsed ? 100.0 * (double)c->cpu / (double)elapsed : 0;
	c->work_us = mean_us(&c->work);
	c->sync_us = mean_us(&c->sync);
	qsort(c->sync.v, c->sync.n, sizeof(uint64_t), u64_cmp);
	c->sync_p50 = pct_us(&c->sync, 0.50);
	c->sync_p99 = pct_us(&c->sync, 0.99);
	free(c->work.v);
	free(c->sync.v);
	c->work.v = c->sync.v = NULL;
	c->per_batch = c->batches ? (double)c->completed /
	    (double)c->batches : 0;

	audit_close(c->a);
	event_free(c->stop_ev);
	event_free(c->batch_ev);
	event_base_free(c->base);
	config_free(cfg);
	free(c->w);
	free(c->lat.v);
	c->lat.v = NULL;
}

/* ---- the filesystem alone ------------------------------------------------- */

struct raw_sync {
	unsigned records;
	size_t bytes;
	double mean, p50, p99;
};

/* write(batch) + fdatasync on an O_APPEND file, as the log does it. */
static void
run_raw(struct raw_sync *r, const char *dir, size_t line_len, double seconds)
{
	char path[PATH_MAX];
	struct samples s = { NULL, 0, 0 };
	char *buf;
	uint64_t end;
	int fd;

	r->bytes = line_len * r->records;
	if ((buf = malloc(r->bytes)) == NULL)
		die("out of memory");
	memset(buf, 'x', r->bytes);
	for (unsigned i = 1; i <= r->records; i++)
		buf[i * line_len - 1] = '\n';
	pathf(path, sizeof(path), "%s/raw-%u.log", dir, r->records);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		die("%s: %s", path, strerror(errno));
	end = mono_ns() + (uint64_t)(seconds * 1e9);
	do {
		uint64_t t0 = mono_ns();

		if (write(fd, buf, r->bytes) != (ssize_t)r->bytes ||
		    fdatasync(fd) != 0)
			die("%s: %s", path, strerror(errno));
		samples_add(&s, mono_ns() - t0);
	} while (mono_ns() < end && !interrupted);
	close(fd);
	unlink(path);
	qsort(s.v, s.n, sizeof(uint64_t), u64_cmp);
	r->mean = mean_us(&s);
	r->p50 = pct_us(&s, 0.50);
	r->p99 = pct_us(&s, 0.99);
	free(s.v);
	free(buf);
}

/* ---- CPU per record, without I/O ---------------------------------------------- */

struct cpu_costs {
	size_t line_len;
	double format_us, hmac_us, sha_us;
	double hmac_reuse_us, sha_reuse_us;	/* contexts kept across records */
	double parse_us;			/* json_parse of one record line */
};

static void
run_cpu(struct cpu_costs *cc, double seconds)
{
	unsigned char key[AUDIT_KEY_LEN], prev[32], mac[32];
	char details[320];
	struct json_buf j;
	uint64_t n, t0, end;
	unsigned int mlen;

	memset(key, 0x5a, sizeof(key));
	memset(prev, 0xa5, sizeof(prev));
	make_details(details, sizeof(details), 42);
	json_init(&j, 0);
	/* audit_record_format: details check (parse), JSON, HMAC. */
	t0 = mono_ns();
	end = t0 + (uint64_t)(seconds * 1e9);
	n = 0;
	do {
		for (int i = 0; i < 256; i++, n++)
			if (audit_record_format(&j, n + 1,
			    "2026-11-21T10:00:00.000000Z", "peer.admitted", "r3",
			    "ra-0042", details, 0, prev, key) != 0)
				die("audit_record_format failed");
	} while (mono_ns() < end && !interrupted);
	cc->format_us = (double)(mono_ns() - t0) / 1000.0 / (double)n;
	cc->line_len = j.len + 1;	/* with its newline */

	/* The two hashes every record costs, on a record-sized line. */
	t0 = mono_ns();
	end = t0 + (uint64_t)(seconds / 2 * 1e9);
	n = 0;
	do {
		for (int i = 0; i < 256; i++, n++)
			if (HMAC(EVP_sha256(), key, sizeof(key),
			    (const unsigned char *)j.s, j.len - 74, mac,
			    &mlen) == NULL)
				die("HMAC failed");
	} while (mono_ns() < end && !interrupted);
	cc->hmac_us = (double)(mono_ns() - t0) / 1000.0 / (double)n;
	t0 = mono_ns();
	end = t0 + (uint64_t)(seconds / 2 * 1e9);
	n = 0;
	do {
		for (int i = 0; i < 256; i++, n++)
			if (EVP_Digest(j.s, j.len, mac, NULL, EVP_sha256(),
			    NULL) != 1)
				die("SHA-256 failed");
	} while (mono_ns() < end && !interrupted);
	cc->sha_us = (double)(mono_ns() - t0) / 1000.0 / (double)n;

	/* Parsing one record line into a tree, as verification does. */
	t0 = mono_ns();
	end = t0 + (uint64_t)(seconds / 2 * 1e9);
	n = 0;
	do {
		for (int i = 0; i < 256; i++, n++) {
			char perr[96];
			struct json_value *v = json_parse(j.s, j.len, perr,
			    sizeof(perr));

			if (v == NULL)
				die("json_parse: %s", perr);
			json_value_free(v);
		}
	} while (mono_ns() < end && !interrupted);
	cc->parse_us = (double)(mono_ns() - t0) / 1000.0 / (double)n;

	/*
	 * The same two hashes with the algorithms fetched and the key set
	 * once (as a writer or verifier could, per epoch): what the one-shot
	 * HMAC() and EVP_Digest() spend on fetching, locking and set-up is
	 * the difference.
	 */
	{
		EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		EVP_MAC_CTX *mctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
		EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
		EVP_MD_CTX *dctx = EVP_MD_CTX_new();
		OSSL_PARAM params[2];
		size_t outl;

		params[0] = OSSL_PARAM_construct_utf8_string("digest",
		    (char *)"SHA256", 0);
		params[1] = OSSL_PARAM_construct_end();
		if (mctx == NULL || sha == NULL || dctx == NULL ||
		    EVP_MAC_init(mctx, key, sizeof(key), params) != 1)
			die("HMAC set-up failed");
		t0 = mono_ns();
		end = t0 + (uint64_t)(seconds / 2 * 1e9);
		n = 0;
		do {
			for (int i = 0; i < 256; i++, n++)
				if (EVP_MAC_init(mctx, NULL, 0, NULL) != 1 ||
				    EVP_MAC_update(mctx, (const unsigned char *)
				    j.s, j.len - 74) != 1 ||
				    EVP_MAC_final(mctx, mac, &outl,
				    sizeof(mac)) != 1)
					die("HMAC failed");
		} while (mono_ns() < end && !interrupted);
		cc->hmac_reuse_us = (double)(mono_ns() - t0) / 1000.0 /
		    (double)n;
		t0 = mono_ns();
		end = t0 + (uint64_t)(seconds / 2 * 1e9);
		n = 0;
		do {
			for (int i = 0; i < 256; i++, n++)
				if (EVP_DigestInit_ex(dctx, sha, NULL) != 1 ||
				    EVP_DigestUpdate(dctx, j.s, j.len) != 1 ||
				    EVP_DigestFinal_ex(dctx, mac, &mlen) != 1)
					die("SHA-256 failed");
		} while (mono_ns() < end && !interrupted);
		cc->sha_reuse_us = (double)(mono_ns() - t0) / 1000.0 /
		    (double)n;
		EVP_MD_CTX_free(dctx);
		EVP_MD_free(sha);
		EVP_MAC_CTX_free(mctx);
		EVP_MAC_free(hmac);
	}
	json_free(&j);
}

/* ---- verification ---------------------------------------------------------- */

struct verify_result {
	uint64_t records, bytes;
	size_t files;
	double rps, mbps;
};

static void
run_verify(struct verify_result *vr, const char *dir,
    const unsigned char k0[AUDIT_KEY_LEN], double seconds)
{
	struct audit_verify v;
	char **files;
	uint64_t t0, t, total = 0, runs = 0;

	files = log_files(dir, &vr->files, &vr->bytes);
	t0 = mono_ns();
	do {
		if (audit_verify_files(k0, (const char *const *)files,
		    vr->files, &v) != 0)
			die("verify: %s", v.error);
		total += v.records;
		runs++;
		t = mono_ns() - t0;
	} while (t < (uint64_t)(seconds * 1e9) && !interrupted);
	vr->records = v.records;
	vr->rps = (double)total * 1e9 / (double)t;
	vr->mbps = (double)vr->bytes * (double)runs * 1e9 / (double)t / 1e6;
	for (size_t i = 0; i < vr->files; i++)
		free(files[i]);
	free(files);
}

/* ---- output ------------------------------------------------------------------ */

static const char *
met(double value, double goal)
{
	return value >= goal ? "met" : "MISSED";
}

static void
report(const struct bench_case *c, const struct raw_sync *raw,
    const struct cpu_costs *cc, const struct verify_result *vr,
    const char *base, double seconds, int syslog_on, double total_s)
{
	/* Machine-readable: NAME [PARAM=V ...] value=V [goal>=G] */
	for (size_t i = 0; i < ncases; i++) {
		printf("audit.durable_rps writers=%u value=%.0f", c[i].nwriters,
		    c[i].rps);
		if (c[i].nwriters == 64)
			printf(" goal>=%d", GOAL_DURABLE_RPS_64);
		putchar('\n');
	}
	for (size_t i = 0; i < ncases; i++)
		printf("audit.latency_p50_us writers=%u value=%.0f\n",
		    c[i].nwriters, c[i].p50);
	for (size_t i = 0; i < ncases; i++)
		printf("audit.latency_p99_us writers=%u value=%.0f\n",
		    c[i].nwriters, c[i].p99);
	for (size_t i = 0; i < ncases; i++)
		printf("audit.latency_max_us writers=%u value=%.0f\n",
		    c[i].nwriters, c[i].max);
	for (size_t i = 0; i < ncases; i++)
		printf("audit.records_per_fdatasync writers=%u value=%.1f\n",
		    c[i].nwriters, c[i].per_batch);
	for (size_t i = 0; i < ncases; i++)
		printf("audit.cpu_us_per_record writers=%u value=%.1f\n",
		    c[i].nwriters, c[i].cpu_us);
	for (size_t i = 0; i < ncases; i++)
		printf("audit.cpu_busy_pct writers=%u value=%.0f\n",
		    c[i].nwriters, c[i].busy);
	for (size_t i = 0; i < ncases; i++)
		printf("audit.batch_format_us writers=%u value=%.0f\n",
		    c[i].nwriters, c[i].work_us);
	for (size_t i = 0; i < ncases; i++)
		printf("audit.batch_sync_us writers=%u value=%.0f\n",
		    c[i].nwriters, c[i].sync_us);
	for (size_t i = 0; i < ncases; i++)
		printf("audit.batch_sync_p99_us writers=%u value=%.0f\n",
		    c[i].nwriters, c[i].sync_p99);
	for (size_t i = 0; i < ncases; i++)
		printf("fs.write_fdatasync_us records=%u bytes=%zu value=%.0f\n",
		    raw[i].records, raw[i].bytes, raw[i].mean);
	for (size_t i = 0; i < ncases; i++)
		printf("fs.write_fdatasync_p50_us records=%u bytes=%zu "
		    "value=%.0f\n", raw[i].records, raw[i].bytes, raw[i].p50);
	printf("cpu.record_format_us value=%.2f\n", cc->format_us);
	printf("cpu.hmac_sha256_us value=%.2f\n", cc->hmac_us);
	printf("cpu.sha256_us value=%.2f\n", cc->sha_us);
	printf("cpu.record_parse_us value=%.2f\n", cc->parse_us);
	printf("cpu.hmac_sha256_reused_ctx_us value=%.2f\n", cc->hmac_reuse_us);
	printf("cpu.sha256_reused_ctx_us value=%.2f\n", cc->sha_reuse_us);
	printf("audit.record_bytes value=%zu\n", cc->line_len);
	printf("audit.verify_rps value=%.0f goal>=%d\n", vr->rps,
	    GOAL_VERIFY_RPS);
	printf("audit.verify_mb_per_s value=%.1f\n", vr->mbps);
	printf("audit.verify_log_bytes records=%llu files=%zu value=%llu\n",
	    (unsigned long long)vr->records, vr->files,
	    (unsigned long long)vr->bytes);

	/* For people. */
	printf("\nacgw audit log: sync: always, group commit, %.1f s per case, "
	    "syslog mirror %s\nlogs in %s (%s); whole run %.1f s\n\n",
	    seconds, syslog_on ? "on" : "off", base, fs_name(base), total_s);
	printf("writers  durable rec/s  latency p50 us  p99 us  max us  "
	    "CPU us/rec  CPU busy\n");
	for (size_t i = 0; i < ncases; i++)
		printf("%7u  %13.0f  %14.0f  %6.0f  %6.0f  %10.1f  %7.0f%%\n",
		    c[i].nwriters, c[i].rps, c[i].p50, c[i].p99, c[i].max,
		    c[i].cpu_us, c[i].busy);
	printf("\none group commit (batch), in the same runs: the callbacks "
	    "format the next\nbatch, then the log writes and fdatasyncs it "
	    "(means; rec/s if one part cost nothing)\n");
	printf("writers  rec/batch  format us  write+fdatasync us (p99)  "
	    "rec/s if sync free  if format free\n");
	for (size_t i = 0; i < ncases; i++)
		printf("%7u  %9.1f  %9.0f  %17.0f (%5.0f)  %18.0f  %14.0f\n",
		    c[i].nwriters, c[i].per_batch, c[i].work_us, c[i].sync_us,
		    c[i].sync_p99, c[i].work_us > 0 ? c[i].per_batch * 1e6 / c[i].work_us :
		    0, c[i].sync_us > 0 ? c[i].per_batch * 1e6 / c[i].sync_us : 0);
	for (size_t i = 0; i < ncases; i++)
		if (c[i].nwriters == 64)
			printf("goal: >= %d durable rec/s with 64 writers: %s\n",
			    GOAL_DURABLE_RPS_64, met(c[i].rps,
			    GOAL_DURABLE_RPS_64));
	putchar('\n');
	printf("filesystem alone, write + fdatasync of one batch of %zu-byte "
	    "lines:\n", cc->line_len);
	for (size_t i = 0; i < ncases; i++)
		printf("  %3u line(s) %6zu bytes: mean %6.0f us, p50 %6.0f us, "
		    "p99 %6.0f us\n", raw[i].records, raw[i].bytes, raw[i].mean,
		    raw[i].p50, raw[i].p99);
	printf("CPU per record without I/O: audit_record_format %.2f us "
	    "(of which HMAC-SHA-256 %.2f us); chain SHA-256 %.2f us\n",
	    cc->format_us, cc->hmac_us, cc->sha_us);
	printf("json_parse of one record line (verify parses each): %.2f us\n",
	    cc->parse_us);
	printf("the same hashes with contexts set up once: HMAC-SHA-256 %.2f "
	    "us, SHA-256 %.2f us\n\n", cc->hmac_reuse_us, cc->sha_reuse_us);
	printf("verify: %llu records, %llu bytes in %zu file(s): %.0f "
	    "records/s, %.1f MB/s\ngoal: >= %d records/s: %s\n",
	    (unsigned long long)vr->records, (unsigned long long)vr->bytes,
	    vr->files, vr->rps, vr->mbps, GOAL_VERIFY_RPS,
	    met(vr->rps, GOAL_VERIFY_RPS));
}

/* ---- main ------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: audit_bench [-t SECONDS] [-d DIR] [-w N] [-k] [-S] [-h]\n"
	    "  -t SECONDS  duration of each durable-append case (default 3,\n"
	    "              0.2 to 60)\n"
	    "  -d DIR      make the logs in a new directory under DIR (default\n"
	    "              /tmp); it is removed at the end\n"
	    "  -w N        only the case with N writers (1 to 4096), for\n"
	    "              profiling; default: 1, 8 and 64\n"
	    "  -k          keep that directory\n"
	    "  -S          mirror every record to syslog, as acgwd does by\n"
	    "              default (off: the figure is the file alone)\n"
	    "  -h          this help\n"
	    "Prints one line per figure, NAME [PARAM=V ...] value=V "
	    "[goal>=G], then a table.\n");
}

int
main(int argc, char **argv)
{
	struct bench_case cases[NCASES_MAX];
	struct raw_sync raw[NCASES_MAX];
	struct cpu_costs cc;
	struct verify_result vr;
	const char *parent = "/tmp";
	char base[PATH_MAX], dir[PATH_MAX];
	double seconds = 3;
	int keep = 0, syslog_on = 0, ch;
	uint64_t t_start = mono_ns();

	while ((ch = getopt(argc, argv, "t:d:w:kSh")) != -1) {
		char *end;
		unsigned long w;

		switch (ch) {
		case 'w':
			errno = 0;
			w = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    w < 1 || w > 4096) {
				usage(stderr);
				return 2;
			}
			nwriters_cases[0] = (unsigned)w;
			ncases = 1;
			break;
		case 't':
			seconds = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(seconds >= 0.2) ||
			    seconds > 60) {
				usage(stderr);
				return 2;
			}
			break;
		case 'd':
			parent = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'S':
			syslog_on = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("audit_bench", LOG_TARGET_STDERR, LOG_LEVEL_WARNING);
	setvbuf(stdout, NULL, _IOLBF, 0);

	pathf(base, sizeof(base), "%s/acgw-audit-bench.XXXXXX", parent);
	if (mkdtemp(base) == NULL)
		die("%s: %s", base, strerror(errno));
	if (!keep) {
		snprintf(cleanup_dir, sizeof(cleanup_dir), "%s", base);
		atexit(cleanup);
	}
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}

	/* 1. Durable appends, 1/8/64 writers, each case in a fresh log. */
	for (size_t i = 0; i < ncases; i++) {
		memset(&cases[i], 0, sizeof(cases[i]));
		cases[i].nwriters = nwriters_cases[i];
		pathf(dir, sizeof(dir), "%s/w%u", base, nwriters_cases[i]);
		run_case(&cases[i], dir, seconds, syslog_on);
		if (interrupted)
			die("interrupted");
	}

	/* 2. CPU per record, then the filesystem alone at those batch sizes. */
	run_cpu(&cc, seconds < 1 ? seconds : 1);
	pathf(dir, sizeof(dir), "%s/raw", base);
	if (mkdir(dir, 0750) != 0)
		die("%s: %s", dir, strerror(errno));
	for (size_t i = 0; i < ncases; i++) {
		/* The batch the writers really produced, rounded. */
		raw[i].records = (unsigned)(cases[i].per_batch + 0.5);
		if (raw[i].records < 1)
			raw[i].records = 1;
		run_raw(&raw[i], dir, cc.line_len, seconds < 1 ? seconds : 1);
	}
	rm_tree(dir);
	if (interrupted)
		die("interrupted");

	/* 3. Verify the log of the last case (64 writers), warm in the cache. */
	pathf(dir, sizeof(dir), "%s/w%u", base, nwriters_cases[ncases - 1]);
	run_verify(&vr, dir, cases[ncases - 1].k0, seconds < 1 ? seconds : 1);
	if (interrupted)
		die("interrupted");
	report(cases, raw, &cc, &vr, base, seconds, syslog_on,
	    (double)(mono_ns() - t_start) / 1e9);
	if (keep) {
		/* K0 beside each kept log, for acgwctl audit verify --key. */
		for (size_t i = 0; i < ncases; i++) {
			FILE *f;
			int fd;

			pathf(dir, sizeof(dir), "%s/w%u.k0", base,
			    cases[i].nwriters);
			fd = open(dir, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600);
			if (fd == -1 || (f = fdopen(fd, "w")) == NULL)
				die("%s: %s", dir, strerror(errno));
			for (int k = 0; k < AUDIT_KEY_LEN; k++)
				fprintf(f, "%02x", cases[i].k0[k]);
			fputc('\n', f);
			if (fclose(f) != 0)
				die("%s: %s", dir, strerror(errno));
		}
		fprintf(stderr, "audit_bench: logs kept in %s; check one with "
		    "acgwctl audit verify --key %s/w%u.k0 %s/w%u/audit-*.log\n",
		    base, base, cases[ncases - 1].nwriters, base,
		    cases[ncases - 1].nwriters);
	}
	for (size_t i = 0; i < ncases; i++)
		OPENSSL_cleanse(cases[i].k0, sizeof(cases[i].k0));
	return 0;	/* cleanup() removes the directory */
}
