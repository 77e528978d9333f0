/*
 * units — parsing and printing of human-written values, in one place so
 * that every config key and every command line agrees on the syntax.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acgw/units.h"

int
units_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}


void
units_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Reads decimal digits at *p; refuses overflow. */
static int
units_digits(const char **p, uint64_t *v)
{
	uint64_t n = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -2;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*v = n;
	return 0;
}

int
units_parse_uint(const char *s, uint64_t *v, char *err, size_t errlen)
{
	const char *p = s;
	int rc = units_digits(&p, v);

	if (rc == -2)
		return units_errf(err, errlen, "\"%s\" is too large", s);
	if (rc != 0 || *p != '\0')
		return units_errf(err, errlen,
		    "\"%s\" is not an unsigned integer", s);
	return 0;
}

static const struct {
	const char *suffix;
	uint64_t ms;
} duration_units[] = {
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ "h", 60 * 60 * 1000 },
	{ "d", 24 * 60 * 60 * 1000 },
};

int
units_parse_duration(const char *s, uint64_t *ms, char *err, size_t errlen)
{
	const char *p = s;
	uint64_t total = 0;

	if (*s == '\0')
		return units_errf(err, errlen,
		    "\"%s\" is not a duration (e.g. 500ms, 30s, 5m, 1h)", s);
	while (*p != '\0') {
		uint64_t n, mult = 0;
		size_t ulen = 0;
		int rc = units_digits(&p, &n);

		if (rc == -2)
			return units_errf(err, errlen,
			    "\"%s\" is too long a duration", s);
		if (rc != 0)
			return units_errf(err, errlen,
			    "\"%s\" is not a duration (e.g. 500ms, 30s, 5m, 1h)",
			    s);
		for (size_t i = 0; i < sizeof(duration_units) /
		    sizeof(duration_units[0]); i++) {
			size_t l = strlen(duration_units[i].suffix);
			/* Longest match: "ms" before "m". */
			if (strncmp(p, duration_units[i].suffix, l) == 0 &&
			    l > ulen) {
				ulen = l;
				mult = duration_units[i].ms;
			}
		}
		if (mult == 0)
			return units_errf(err, errlen,
			    "\"%s\" needs a unit after each number "
			    "(ms, s, m, h, d)", s);
		p += ulen;
		if (n > UINT64_MAX / mult || total > UINT64_MAX - n * mult)
			return units_errf(err, errlen,
			    "\"%s\" is too long a duration", s);
		total += n * mult;
	}
	*ms = total;
	return 0;
}

void
units_format_duration(uint64_t ms, char *buf, size_t len)
{
	size_t off = 0;

	if (ms == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	buf[0] = '\0';
	for (int i = (int)(sizeof(duration_units) / sizeof(duration_units[0]))
	    - 1; i >= 0 && off < len; i--) {
		uint64_t n = ms / duration_units[i].ms;

		if (n == 0)
			continue;
		ms -= n * duration_units[i].ms;
		int w = snprintf(buf + off, len - off, "%" PRIu64 "%s", n,
		    duration_units[i].suffix);
		if (w < 0)
			return;
		off += (size_t)w;
	}
}

static const struct {
	const char *suffix;
	uint64_t bytes;
} size_units[] = {
	{ "", 1 },
	{ "B", 1 },
	{ "KiB", 1024ULL },
	{ "MiB", 1024ULL * 1024 },
	{ "GiB", 1024ULL * 1024 * 1024 },
};

int
units_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	const char *p = s;
	uint64_t n;
	int rc = units_digits(&p, &n);

	if (rc == -2)
		return units_errf(err, errlen, "\"%s\" is too large a size", s);
	if (rc != 0)
		return units_errf(err, errlen,
		    "\"%s\" is not a size (e.g. 4096, 64KiB, 1MiB)", s);
	for (size_t i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++) {
		if (strcmp(p, size_units[i].suffix) != 0)
			continue;
		if (n > UINT64_MAX / size_units[i].bytes)
			return units_errf(err, errlen,
			    "\"%s\" is too large a size", s);
		*bytes = n * size_units[i].bytes;
		return 0;
	}
	return units_errf(err, errlen,
	    "\"%s\" has an unknown size unit (use B, KiB, MiB or GiB)", s);
}

void
units_format_size(uint64_t bytes, char *buf, size_t len)
{
	for (int i = (int)(sizeof(size_units) / sizeof(size_units[0])) - 1;
	    i >= 2; i--) {
		if (bytes != 0 && bytes % size_units[i].bytes == 0) {
			snprintf(buf, len, "%" PRIu64 "%s",
			    bytes / size_units[i].bytes, size_units[i].suffix);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64 "B", bytes);
}

/*
 * Power: "800W", "1500kW", "1.5MW" -> whole watts. A decimal point is
 * allowed as long as the value is a whole number of watts.
 */
int
units_parse_power(const char *s, int64_t *watts, char *err, size_t errlen)
{
	const char *p = s;
	uint64_t n = 0, frac = 0, scale = 1, div = 1;
	int rc = units_digits(&p, &n), fd = 0;

	if (rc == -2)
		return units_errf(err, errlen, "\"%s\" is too large a power", s);
	if (rc != 0)
		return units_errf(err, errlen, "\"%s\" is not a power (e.g. "
		    "800W, 1500kW, 1.5MW)", s);
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (++fd > 6)
				return units_errf(err, errlen, "\"%s\": more "
				    "than 6 decimals", s);
			frac = frac * 10 + (uint64_t)(*p++ - '0');
			div *= 10;
		}
		if (fd == 0)
			return units_errf(err, errlen, "\"%s\" is not a power "
			    "(e.g. 800W, 1500kW, 1.5MW)", s);
	}
	if (!strcmp(p, "W"))
		scale = 1;
	else if (!strcmp(p, "kW"))
		scale = 1000;
	else if (!strcmp(p, "MW"))
		scale = 1000000;
	else if (!strcmp(p, "GW"))
		scale = 1000000000;
	else
		return units_errf(err, errlen, "\"%s\" needs a unit: W, kW, MW "
		    "or GW", s);
	if (n > (uint64_t)INT64_MAX / scale / 2)
		return units_errf(err, errlen, "\"%s\" is too large a power", s);
	if (frac * scale % div != 0)
		return units_errf(err, errlen, "\"%s\" is not a whole number "
		    "of watts", s);
	*watts = (int64_t)(n * scale + frac * scale / div);
	return 0;
}

void
units_format_power(int64_t watts, char *buf, size_t len)
{
	if (watts != 0 && watts % 1000000 == 0)
		snprintf(buf, len, "%" PRId64 "MW", watts / 1000000);
	else if (watts != 0 && watts % 1000 == 0)
		snprintf(buf, len, "%" PRId64 "kW", watts / 1000);
	else
		snprintf(buf, len, "%" PRId64 "W", watts);
}

static int
units_parse_port(const char *p, const char *whole, uint16_t *port,
    char *err, size_t errlen)
{
	uint64_t v;

	if (*p == '\0')
		return units_errf(err, errlen,
		    "\"%s\" has no port (write address:port)", whole);
	if (units_digits(&p, &v) != 0 || *p != '\0' || v == 0 || v > 65535)
		return units_errf(err, errlen,
		    "\"%s\" has an invalid port (1-65535)", whole);
	*port = (uint16_t)v;
	return 0;
}

int
units_parse_sockaddr(const char *s, struct units_sockaddr *out,
    char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *end;
	uint16_t port;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

		end = strchr(s, ']');
		if (end == NULL || (size_t)(end - s - 1) >= sizeof(host))
			return units_errf(err, errlen,
			    "\"%s\" is not an address (write [IPv6]:port)", s);
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return units_errf(err, errlen,
			    "\"%s\" has an invalid IPv6 address", s);
		if (end[1] != ':')
			return units_errf(err, errlen,
			    "\"%s\" has no port (write [IPv6]:port)", s);
		if (units_parse_port(end + 2, s, &port, err, errlen) != 0)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		out->len = sizeof(*sin6);
		out->wildcard = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
		return 0;
	}

	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

	end = strrchr(s, ':');
	if (end == NULL)
		return units_errf(err, errlen,
		    "\"%s\" has no port (write address:port)", s);
	if (strchr(s, ':') != end)
		return units_errf(err, errlen,
		    "\"%s\" is ambiguous: write IPv6 addresses as [addr]:port",
		    s);
	if ((size_t)(end - s) >= sizeof(host))
		return units_errf(err, errlen,
		    "\"%s\" has an invalid IPv4 address", s);
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return units_errf(err, errlen,
		    "\"%s\" has an invalid IPv4 address (numeric only, no "
		    "host names)", s);
	if (units_parse_port(end + 1, s, &port, err, errlen) != 0)
		return -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	out->len = sizeof(*sin);
	out->wildcard = sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return 0;
}

void
units_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
	}
}

int
units_parse_ipaddr(const char *s, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		*len = sizeof(*sin6);
		return 0;
	}
	return units_errf(err, errlen, "\"%s\" is not a numeric IPv4 or IPv6 "
	    "address", s);
}

int
units_parse_cidr(const char *s, struct units_cidr *out, char *err,
    size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;
	uint64_t prefix;

	memset(out, 0, sizeof(*out));
	if (hlen >= sizeof(host))
		return units_errf(err, errlen, "\"%s\" is not an address block "
		    "(e.g. 192.0.2.0/24, ::1/128)", s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else
		return units_errf(err, errlen, "\"%s\" is not an address block "
		    "(e.g. 192.0.2.0/24, ::1/128)", s);
	prefix = max;
	if (slash != NULL) {
		const char *p = slash + 1;

		if (units_digits(&p, &prefix) != 0 || *p != '\0' ||
		    prefix > max)
			return units_errf(err, errlen, "\"%s\" has an invalid "
			    "prefix length (0-%u)", s, max);
	}
	out->prefix = (unsigned)prefix;
	/* Host bits set mean a typo more often than intent: refuse. */
	for (unsigned bit = out->prefix; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
			return units_errf(err, errlen, "\"%s\" has host bits set "
			    "beyond /%u", s, out->prefix);
	return 0;
}

int
units_cidr_match(const struct units_cidr *c, const struct sockaddr *sa)
{
	const unsigned char *a;
	unsigned char mapped[4];
	int family = sa->sa_family;

	if (family == AF_INET)
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	else if (family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		a = in6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			memcpy(mapped, in6->s6_addr + 12, 4);
			a = mapped;
			family = AF_INET;
		}
	} else
		return 0;
	if (family != c->family)
		return 0;
	for (unsigned bit = 0; bit < c->prefix; bit++) {
		unsigned char m = (unsigned char)(0x80 >> (bit % 8));
		if ((a[bit / 8] & m) != (c->addr[bit / 8] & m))
			return 0;
	}
	return 1;
}

int
units_parse_pin(const char *s, unsigned char pin[32], char *err,
    size_t errlen)
{
	size_t n = 0;

	for (const char *p = s; *p != '\0'; p++) {
		int v;

		if (*p == ':')
			continue;
		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else
			return units_errf(err, errlen, "\"%s\" is not a SHA-256 "
			    "pin (64 hex digits)", s);
		if (n == 64)
			return units_errf(err, errlen, "\"%s\" is not a SHA-256 "
			    "pin (64 hex digits)", s);
		if (n % 2 == 0)
			pin[n / 2] = (unsigned char)(v << 4);
		else
			pin[n / 2] |= (unsigned char)v;
		n++;
	}
	if (n != 64)
		return units_errf(err, errlen, "\"%s\" is not a SHA-256 pin "
		    "(64 hex digits)", s);
	return 0;
}

void
units_format_pin(const unsigned char pin[32], char out[65])
{
	units_hex(pin, 32, out);
}

int
units_parse_mode(const char *s, mode_t *mode, char *err, size_t errlen)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n < 3 || n > 4 || (n == 4 && s[0] != '0'))
		return units_errf(err, errlen,
		    "\"%s\" is not a file mode (write octal, e.g. \"0660\")",
		    s);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			return units_errf(err, errlen,
			    "\"%s\" is not a file mode (write octal, e.g. "
			    "\"0660\")", s);
		v = v * 8 + (unsigned)(*p - '0');
	}
	*mode = (mode_t)v;
	return 0;
}

int
units_parse_group(const char *s, gid_t *gid, char *err, size_t errlen)
{
	struct group grp, *res = NULL;
	size_t cap = 16384;
	char *buf = NULL;
	int rc;

	if (*s == '\0')
		return units_errf(err, errlen, "empty group name");
	/* Groups with many members need more room: grow until it fits. */
	for (;;) {
		char *nb = realloc(buf, cap);

		if (nb == NULL) {
			free(buf);
			return units_errf(err, errlen, "out of memory");
		}
		buf = nb;
		rc = getgrnam_r(s, &grp, buf, cap, &res);
		if (rc != ERANGE || cap >= (16u << 20))
			break;
		cap *= 2;
	}
	if (rc == 0 && res != NULL)
		*gid = grp.gr_gid;
	free(buf);
	if (rc != 0)
		return units_errf(err, errlen, "cannot look up group \"%s\": %s",
		    s, strerror(rc));
	if (res == NULL)
		return units_errf(err, errlen, "group \"%s\" does not exist",
		    s);
	return 0;
}

/* ---- OpenADR times ---------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant). */
static int64_t
units_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
units_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Exactly n digits at *p. */
static int
units_fixed(const char **p, int n, unsigned *v)
{
	unsigned x = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		x = x * 10 + (unsigned)((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return 0;
}

int
units_parse_datetime(const char *s, int64_t *usec, char *err, size_t errlen)
{
	const char *p = s;
	unsigned y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0;
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	int64_t t, off = 0;

	if (units_fixed(&p, 4, &y) != 0 || *p++ != '-' ||
	    units_fixed(&p, 2, &mo) != 0 || *p++ != '-' ||
	    units_fixed(&p, 2, &d) != 0 || *p++ != 'T' ||
	    units_fixed(&p, 2, &h) != 0 || *p++ != ':' ||
	    units_fixed(&p, 2, &mi) != 0 || *p++ != ':' ||
	    units_fixed(&p, 2, &sec) != 0)
		return units_errf(err, errlen, "\"%s\" is not a date and time "
		    "(YYYY-MM-DDThh:mm:ssZ)", s);
	if (*p == '.') {
		int n = 0;

		p++;
		while (*p >= '0' && *p <= '9') {
			if (++n > 6)
				return units_errf(err, errlen, "\"%s\": more than "
				    "6 digits of fractional seconds", s);
			frac = frac * 10 + (unsigned)(*p++ - '0');
		}
		if (n == 0)
			return units_errf(err, errlen, "\"%s\": no digits after "
			    "the decimal point", s);
		while (n++ < 6)
			frac *= 10;
	}
	if (*p == 'Z')
		p++;
	else if (*p == '+' || *p == '-') {
		int neg = *p++ == '-';

		if (units_fixed(&p, 2, &oh) != 0 || *p++ != ':' ||
		    units_fixed(&p, 2, &om) != 0 || oh > 14 || om > 59 ||
		    (oh == 14 && om != 0))
			return units_errf(err, errlen, "\"%s\" has an invalid "
			    "zone offset (Z or +hh:mm)", s);
		off = ((int64_t)oh * 60 + om) * 60;
		if (neg)
			off = -off;
	} else if (*p == '\0')
		return units_errf(err, errlen, "\"%s\" has no time zone (write "
		    "Z for UTC)", s);
	if (*p != '\0')
		return units_errf(err, errlen, "\"%s\" has trailing characters",
		    s);
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 &&
	    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) || h > 23 ||
	    mi > 59 || sec > 59)
		return units_errf(err, errlen, "\"%s\" is not a valid date and "
		    "time", s);
	t = units_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
	    sec - off;
	*usec = t * 1000000 + frac;
	return 0;
}

void
units_format_datetime(int64_t usec, char *buf, size_t len)
{
	int64_t secs = usec >= 0 ? usec / 1000000 :
	    -((-usec + 999999) / 1000000);
	int64_t frac = usec - secs * 1000000, days, rem, y;
	unsigned m, d;

	days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	rem = secs - days * 86400;
	units_civil_from_days(days, &y, &m, &d);
	if (frac == 0)
		snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02dZ",
		    (long long)y, m, d, (int)(rem / 3600),
		    (int)(rem / 60 % 60), (int)(rem % 60));
	else
		snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02d.%06dZ",
		    (long long)y, m, d, (int)(rem / 3600),
		    (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
}

/*
 * nominal: a year counts 365 days and a month 30, as a payload that
 * writes "P5M" can only be taken at some fixed length.
 */
static int
iso_duration(const char *s, int nominal, int64_t *usec, char *err,
    size_t errlen)
{
	const char *p = s;
	int neg = 0, in_time = 0, any = 0, rank, last = -1;
	int64_t total = 0;

	if (*p == '-') {
		neg = 1;
		p++;
	} else if (*p == '+')
		p++;
	if (*p++ != 'P')
		return units_errf(err, errlen, "\"%s\" is not an ISO 8601 "
		    "duration (e.g. PT15M, P1DT2H)", s);
	while (*p != '\0') {
		uint64_t n = 0, frac = 0;
		int fd = 0, rc;
		int64_t mult;

		if (*p == 'T') {
			if (in_time || p[1] == '\0')
				return units_errf(err, errlen, "\"%s\" is not an "
				    "ISO 8601 duration (misplaced T)", s);
			in_time = 1;
			p++;
			continue;
		}
		if ((rc = units_digits(&p, &n)) != 0)
			return units_errf(err, errlen, rc == -2 ? "\"%s\" is too "
			    "long a duration" : "\"%s\" is not an ISO 8601 "
			    "duration (e.g. PT15M, P1DT2H)", s);
		if (*p == '.' || *p == ',') {
			p++;
			while (*p >= '0' && *p <= '9') {
				if (++fd > 6)
					return units_errf(err, errlen, "\"%s\": "
					    "more than 6 digits of fractional "
					    "seconds", s);
				frac = frac * 10 + (uint64_t)(*p++ - '0');
			}
			if (fd == 0 || *p != 'S')
				return units_errf(err, errlen, "\"%s\": only "
				    "seconds may have a fraction", s);
			while (fd++ < 6)
				frac *= 10;
		}
		/* rank: the order units must keep (Y M W D T H M S) */
		switch (*p) {
		case 'Y':
			if (!nominal)
				return units_errf(err, errlen, "\"%s\": years have "
				    "no fixed length; write days", s);
			mult = 365 * 86400, rank = 0;
			break;
		case 'M':
			if (in_time) {
				mult = 60, rank = 5;
				break;
			}
			if (!nominal)
				return units_errf(err, errlen, "\"%s\": months "
				    "have no fixed length; write days", s);
			mult = 30 * 86400, rank = 1;
			break;
		case 'W': mult = 7 * 86400, rank = 2; break;
		case 'D': mult = 86400, rank = 3; break;
		case 'H': mult = 3600, rank = 4; break;
		case 'S': mult = 1, rank = 6; break;
		default:
			return units_errf(err, errlen, "\"%s\" is not an ISO 8601 "
			    "duration (e.g. PT15M, P1DT2H)", s);
		}
		if ((rank <= 3) == in_time)
			return units_errf(err, errlen, "\"%s\": %s belong %s T",
			    s, !in_time ? "hours, minutes and seconds" :
			    nominal ? "years, months, weeks and days" :
			    "weeks and days", in_time ? "before" : "after");
		if (rank <= last)
			return units_errf(err, errlen, "\"%s\": units out of "
			    "order or repeated", s);
		last = rank;
		if (n > (uint64_t)INT64_MAX / 1000000 / (uint64_t)mult ||
		    total > INT64_MAX - (int64_t)n * mult * 1000000 -
		    (int64_t)frac)
			return units_errf(err, errlen, "\"%s\" is too long a "
			    "duration", s);
		total += (int64_t)n * mult * 1000000 + (int64_t)frac;
		any = 1;
		p++;
	}
	if (!any)
		return units_errf(err, errlen, "\"%s\" has no value (e.g. "
		    "PT0S)", s);
	*usec = neg ? -total : total;
	return 0;
}

int
units_parse_iso_duration(const char *s, int64_t *usec, char *err,
    size_t errlen)
{
	return iso_duration(s, 0, usec, err, errlen);
}

int
units_parse_iso_duration_nominal(const char *s, int64_t *usec, char *err,
    size_t errlen)
{
	return iso_duration(s, 1, usec, err, errlen);
}

void
units_format_iso_duration(int64_t usec, char *buf, size_t len)
{
	uint64_t u = usec < 0 ? (uint64_t)0 - (uint64_t)usec : (uint64_t)usec;
	uint64_t secs = u / 1000000, frac = u % 1000000;
	uint64_t d = secs / 86400, h = secs / 3600 % 24, m = secs / 60 % 60;
	uint64_t s = secs % 60;
	size_t off = 0;
	int w;

#define PUT(...) do {							\
		w = snprintf(buf + off, off < len ? len - off : 0,	\
		    __VA_ARGS__);					\
		if (w > 0)						\
			off += (size_t)w;				\
	} while (0)
	PUT("%sP", usec < 0 ? "-" : "");
	if (d)
		PUT("%lluD", (unsigned long long)d);
	if (h || m || s || frac || !d)
		PUT("T");
	if (h)
		PUT("%lluH", (unsigned long long)h);
	if (m)
		PUT("%lluM", (unsigned long long)m);
	if (frac) {
		char f[8];
		int n = 6;

		snprintf(f, sizeof(f), "%06llu", (unsigned long long)frac);
		while (n > 1 && f[n - 1] == '0')
			f[--n] = '\0';
		PUT("%llu.%sS", (unsigned long long)s, f);
	} else if (s || (!d && !h && !m))
		PUT("%lluS", (unsigned long long)s);
#undef PUT
}

int64_t
units_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
