/*
 * audit — the append-only, tamper-evident, durable audit log.
 *
 * One JSON record per line:
 *   {"seq":N,"time":"…Z","type":"…","actor":"…","peer":…,"details":{…},
 *    "epoch":E,"prev":"<sha256 of the previous line>","mac":"<hmac>"}
 * The MAC is HMAC-SHA-256, under the epoch key, of the line up to (not
 * including) ',"mac":'. Keys evolve one way, K(e+1) = SHA-256(label ‖
 * K(e)), and the old key is erased, so a thief of today's key cannot
 * rewrite an earlier epoch. The chain (prev) and the sequence numbers
 * run across rotated files.
 *
 * Durability: a record is written and fdatasync'd before its completion
 * callback runs (group commit: every record queued in one turn of the
 * event loop shares one write and one fdatasync). On a write error the
 * log fails closed until it can write again.
 */
#ifndef ACGW_AUDIT_H
#define ACGW_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "acgw/config.h"
#include "acgw/json.h"

#define AUDIT_KEY_LEN 32
#define AUDIT_ERR_MAX 512

struct event_base;
struct audit;

/* Is type one of the documented record types? */
int audit_type_valid(const char *type);
const char *const *audit_types(size_t *n);

/* K(e+1) from K(e). */
void audit_key_evolve(const unsigned char in[AUDIT_KEY_LEN],
    unsigned char out[AUDIT_KEY_LEN]);

/*
 * Formats one record line (no newline) into out: the pure codec, used by
 * the writer and by the tests. details is a JSON object text or NULL;
 * peer may be NULL. Returns 0, or -1 if details is not a JSON object.
 */
int audit_record_format(struct json_buf *out, uint64_t seq, const char *time,
    const char *type, const char *actor, const char *peer,
    const char *details, unsigned epoch, const unsigned char prev[32],
    const unsigned char key[AUDIT_KEY_LEN]);

/*
 * Creates a new log in dir: a fresh random K0 in dir/key (epoch 0, mode
 * 0600). Refuses if dir already holds a key or log files. k0 receives
 * the key for offline custody.
 */
int audit_init(const char *dir, unsigned char k0[AUDIT_KEY_LEN], char *err,
    size_t errlen);

/*
 * Opens the log of cfg->audit.dir for appending: checks the key, finds
 * the end of the chain, truncates a torn tail (and records that with
 * audit.recovered). The key's epoch counts from when its key file was
 * written; with a base, a timer evolves it (and rotates files) on time
 * even when nothing is logged. base may be NULL when only
 * audit_append_sync is used (then housekeeping happens on appends).
 */
struct audit *audit_open(struct event_base *base, const struct config *cfg,
    char *err, size_t errlen);
/* Flushes what is queued (durably), then closes. */
void audit_close(struct audit *a);

/* Reload: new sizes, intervals and sync policy; same directory only. */
int audit_reconfigure(struct audit *a, const struct config *cfg, char *err,
    size_t errlen);

typedef void (*audit_done)(void *arg, int ok);

/*
 * Queues a record; done(arg, 1) runs once it is on stable storage,
 * done(arg, 0) if it could not be written (the log has failed closed).
 * details: a JSON object text, or NULL. Returns -1 at once if the log
 * is failed or type is not a documented type.
 */
int audit_append(struct audit *a, const char *type, const char *actor,
    const char *peer, const char *details, audit_done done, void *arg);

/* Writes a record and returns once it is durable (0), or -1 and why. */
int audit_append_sync(struct audit *a, const char *type, const char *actor,
    const char *peer, const char *details, char *err, size_t errlen);

/* 0 while the log cannot write: actions that need a record must wait. */
int audit_ok(const struct audit *a);

/* Members for acgwctl status: audit_state, audit_seq, audit_epoch, ... */
void audit_status_json(const struct audit *a, struct json_buf *j);

/*
 * The last n records as a JSON array; with after > 0, the first n
 * records after seq "after" (what acgwctl audit tail --follow asks).
 */
int audit_tail_json(struct audit *a, size_t n, uint64_t after,
    struct json_buf *j, char *err, size_t errlen);

/* Records matching every given filter (NULL: any), newest last. */
struct audit_filter {
	const char *type;
	const char *peer;
	const char *since;	/* ISO time, compared as text */
	const char *until;
	size_t limit;
};
int audit_search_json(struct audit *a, const struct audit_filter *f,
    struct json_buf *j, char *err, size_t errlen);

/* ---- offline verification ------------------------------------------ */

struct audit_verify {
	uint64_t records;
	uint64_t first_seq, last_seq;
	unsigned first_epoch, last_epoch;
	char first_time[40], last_time[40];
	char error[AUDIT_ERR_MAX];	/* "file:line: seq N: why" */
};

/*
 * Checks files (in the order given, oldest first) against K0: record
 * syntax, sequence, time order, hash chain across files, epochs and key
 * evolutions, MACs. 0 if all good, -1 with v->error naming the first
 * broken record.
 */
int audit_verify_files(const unsigned char k0[AUDIT_KEY_LEN],
    const char *const *files, size_t nfiles, struct audit_verify *v);

/* Reads a key file (as audit_init writes it, or a bare hex line). */
int audit_read_key(const char *path, unsigned char key[AUDIT_KEY_LEN],
    unsigned *epoch, char *err, size_t errlen);

#endif
