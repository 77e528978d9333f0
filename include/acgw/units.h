/*
 * units — the one place where human-written values are parsed and printed:
 * durations ("250ms", "30s", "5m", "1h30m", "2d"), sizes ("512", "64KiB",
 * "1MiB"), socket addresses ("127.0.0.1:8443", "[::1]:8443"), file modes
 * ("0660") and group names.
 *
 * Every parser returns 0 on success or -1 with a reason in err (no key
 * path: the caller adds where the value came from).
 */
#ifndef ACGW_UNITS_H
#define ACGW_UNITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define UNITS_ERR_MAX 256

/* Formats an error message into err (the one helper every module uses). */
int units_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Lower-case hex of n bytes into out (2n + 1 bytes with the NUL). */
void units_hex(const unsigned char *p, size_t n, char *out);

/* Duration in milliseconds. */
int units_parse_duration(const char *s, uint64_t *ms, char *err, size_t errlen);
/* Shortest exact form: 90000 -> "1m30s", 250 -> "250ms", 0 -> "0s". */
void units_format_duration(uint64_t ms, char *buf, size_t len);

/* Size in bytes. */
int units_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen);
/* Exact form: 65536 -> "64KiB", 1000 -> "1000B". */
void units_format_size(uint64_t bytes, char *buf, size_t len);

/* Non-negative decimal integer without sign, spaces or leading "+". */
int units_parse_uint(const char *s, uint64_t *v, char *err, size_t errlen);

struct units_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
	int wildcard;		/* 0.0.0.0 or [::] */
};
/* Power: "800W", "1500kW", "1.5MW" -> whole watts. */
int units_parse_power(const char *s, int64_t *watts, char *err,
    size_t errlen);
/* Shortest exact form: 1500000 -> "1500kW", 2000000 -> "2MW". */
void units_format_power(int64_t watts, char *buf, size_t len);

/* Numeric IPv4 "a.b.c.d:port" or IPv6 "[addr]:port"; no DNS. */
int units_parse_sockaddr(const char *s, struct units_sockaddr *out,
    char *err, size_t errlen);
/* Prints as parsed: "127.0.0.1:8443", "[::1]:8443". */
void units_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);

/* Octal permission bits "0660" (at most 0777). */
int units_parse_mode(const char *s, mode_t *mode, char *err, size_t errlen);

/* A numeric IP address without port: "192.0.2.1", "2001:db8::1". */
int units_parse_ipaddr(const char *s, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen);

/* An address block: "192.0.2.0/24", "::1/128", or one address. */
struct units_cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network part, host bits zero */
	unsigned prefix;
};
int units_parse_cidr(const char *s, struct units_cidr *out, char *err,
    size_t errlen);
/* Is the address in sa inside the block? (IPv4-mapped IPv6 counts as IPv4.) */
int units_cidr_match(const struct units_cidr *c, const struct sockaddr *sa);

/* A SHA-256 pin: 64 hex digits, upper or lower case, colons allowed. */
int units_parse_pin(const char *s, unsigned char pin[32], char *err,
    size_t errlen);
/* Lower-case hex without separators (65 bytes with the NUL). */
void units_format_pin(const unsigned char pin[32], char out[65]);

/*
 * xs:dateTime with a zone, as OpenADR carries times:
 * "2026-11-22T01:30:00Z", "2026-11-22T10:30:00.250+09:00". Converted to
 * microseconds since 1970-01-01T00:00:00Z. A time without a zone is
 * refused: it would mean whatever the peer's local time is.
 */
int units_parse_datetime(const char *s, int64_t *usec, char *err,
    size_t errlen);
/* UTC with a Z, fraction only when there is one: the form peers accept. */
void units_format_datetime(int64_t usec, char *buf, size_t len);

/*
 * ISO 8601 / xs:duration: "PT15M", "P1DT2H", "-PT30S", "PT0.5S". Years
 * and months have no fixed length and are refused; weeks ("P2W") are
 * accepted as 7 days. In microseconds, negative for "-P...".
 */
int units_parse_iso_duration(const char *s, int64_t *usec, char *err,
    size_t errlen);
/*
 * The same, but a year counts 365 days and a month 30: for payloads, where
 * the schema allows "P5M" and refusing it would refuse a valid message.
 */
int units_parse_iso_duration_nominal(const char *s, int64_t *usec,
    char *err, size_t errlen);
/* The shortest exact form: 5400000000 -> "PT1H30M", 0 -> "PT0S". */
void units_format_iso_duration(int64_t usec, char *buf, size_t len);

/* Existing group name -> gid. */
int units_parse_group(const char *s, gid_t *gid, char *err, size_t errlen);

/* The wall clock now, microseconds since 1970-01-01T00:00:00Z (UTC). */
int64_t units_now_us(void);

#endif
