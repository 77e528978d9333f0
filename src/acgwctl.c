/*
 * acgwctl — operator client for acgwd's control socket.
 *
 * Sends one request line, reads one JSON reply line, prints it as tables
 * for people or verbatim with --json. Exit codes are documented in
 * acgwctl(8) and are the same for every command.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "acgw/audit.h"
#include "acgw/config.h"
#include "acgw/json.h"
#include "acgw/oadr.h"

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,	/* the daemon refused or the command failed */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,	/* no daemon on the socket */
	EXIT_DENIED = 4,	/* permission denied */
	EXIT_PROTOCOL = 5,	/* bad or missing reply, timeout */
};

#define REPLY_MAX (64u << 20)

static void
usage(FILE *f)
{
	fprintf(f, "usage: acgwctl [-s SOCKET] [-j] [-T SECONDS] COMMAND "
	    "[ARGS...]\n"
	    "       acgwctl -V | -h\n"
	    "  -s, --socket SOCKET    control socket (default %s,\n"
	    "                         or $ACGW_CONTROL_SOCKET)\n"
	    "  -j, --json             print the daemon's JSON reply as is\n"
	    "  -T, --timeout SECONDS  wait at most this long for the reply "
	    "(default 30)\n"
	    "  -V, --version          print the version and exit\n"
	    "  -h, --help             print this help and exit\n"
	    "commands (\"acgwctl help\" lists what your role may run):\n"
	    "  status   version, pid, uptime, configuration and counters\n"
	    "  peers    live R3 sessions\n"
	    "  reload   reload the configuration (operators)\n"
	    "  audit tail [N] [--follow], audit search [--type T] [--peer P]\n"
	    "           [--since TIME] [--until TIME] [--limit N]\n"
	    "  events   upstream events and each RA's part\n"
	    "  ras      every RA: registration, polls, admission\n"
	    "  r1       the link to the TSO\n"
	    "  sever PEER [--reason TEXT], restore PEER (operators)\n"
	    "  isolate [--off] [r1|r3|all] (operators)\n"
	    "  attest list, attest show PEER, attest load PEER FILE (load:\n"
	    "           operators)\n"
	    "  compliance  posture against the guidelines, peers' states\n"
	    "  help     commands available to you\n"
	    "offline (no daemon):\n"
	    "  audit init [--dir DIR] [--export FILE]\n"
	    "  audit verify --key K0FILE FILE...\n"
	    "  oadr check [--schema DIR] FILE...\n",
	    CONFIG_DEFAULT_SOCKET);
}

/* Appends arg to line, quoted if it needs to be. 0 or -1. */
static int
append_arg(char *line, size_t cap, size_t *len, const char *arg)
{
	int quote = arg[0] == '\0' || strpbrk(arg, " \t\"\\") != NULL;

	if (strpbrk(arg, "\r\n") != NULL)
		return -1;
	if (*len > 0) {
		if (*len + 1 >= cap)
			return -1;
		line[(*len)++] = ' ';
	}
	if (quote) {
		if (*len + 1 >= cap)
			return -1;
		line[(*len)++] = '"';
	}
	for (const char *p = arg; *p != '\0'; p++) {
		if (quote && (*p == '"' || *p == '\\')) {
			if (*len + 1 >= cap)
				return -1;
			line[(*len)++] = '\\';
		}
		if (*len + 1 >= cap)
			return -1;
		line[(*len)++] = *p;
	}
	if (quote) {
		if (*len + 1 >= cap)
			return -1;
		line[(*len)++] = '"';
	}
	line[*len] = '\0';
	return 0;
}

static int
connect_socket(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	struct group *gr;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "acgwctl: socket path too long: %s\n", path);
		exit(EXIT_USAGE);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "acgwctl: socket: %s\n", strerror(errno));
		exit(EXIT_UNREACHABLE);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	switch (errno) {
	case ENOENT:
		fprintf(stderr, "acgwctl: %s does not exist: acgwd is not "
		    "running, or uses another control.socket (try -s or "
		    "systemctl status acgwd)\n", path);
		exit(EXIT_UNREACHABLE);
	case ECONNREFUSED:
		fprintf(stderr, "acgwctl: connection refused on %s: acgwd is "
		    "not running (the socket is left over)\n", path);
		exit(EXIT_UNREACHABLE);
	case EACCES:
	case EPERM:
		if (stat(path, &st) == 0 && (gr = getgrgid(st.st_gid)) != NULL)
			fprintf(stderr, "acgwctl: permission denied on %s: run "
			    "as root or as a member of group \"%s\"\n", path,
			    gr->gr_name);
		else
			fprintf(stderr, "acgwctl: permission denied on %s: run "
			    "as root or as a member of the socket's group\n",
			    path);
		exit(EXIT_DENIED);
	default:
		fprintf(stderr, "acgwctl: cannot connect to %s: %s\n", path,
		    strerror(errno));
		exit(EXIT_UNREACHABLE);
	}
}

/*
 * Sends the request. acgwd may refuse a caller (role, client limit) and
 * close before reading; its one-line reason is then already waiting, so a
 * broken pipe here is not the end: the caller reads the reply anyway.
 */
static void
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EPIPE || errno == ECONNRESET))
			return;
		if (w == -1) {
			fprintf(stderr, "acgwctl: sending the request: %s\n",
			    strerror(errno));
			exit(EXIT_PROTOCOL);
		}
		buf += w;
		len -= (size_t)w;
	}
}

/* Reads one reply line (without newline) within timeout_ms. */
static char *
read_reply(int fd, int timeout_ms, size_t *outlen)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	struct timespec start, now;

	if (buf == NULL) {
		fprintf(stderr, "acgwctl: out of memory\n");
		exit(EXIT_PROTOCOL);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long left;
		ssize_t r;
		char *nl;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			fprintf(stderr, "acgwctl: no reply from acgwd within "
			    "%d s\n", timeout_ms / 1000);
			exit(EXIT_PROTOCOL);
		}
		if (len + 1 >= cap) {
			char *nb;

			if (cap >= REPLY_MAX) {
				fprintf(stderr, "acgwctl: reply larger than "
				    "%u bytes\n", REPLY_MAX);
				exit(EXIT_PROTOCOL);
			}
			cap *= 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "acgwctl: out of memory\n");
				exit(EXIT_PROTOCOL);
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fprintf(stderr, "acgwctl: reading the reply: %s\n",
			    strerror(errno));
			exit(EXIT_PROTOCOL);
		}
		if (r == 0) {
			fprintf(stderr, "acgwctl: acgwd closed the connection "
			    "without a reply\n");
			exit(EXIT_PROTOCOL);
		}
		len += (size_t)r;
		buf[len] = '\0';
		if ((nl = memchr(buf, '\n', len)) != NULL) {
			*nl = '\0';
			*outlen = (size_t)(nl - buf);
			return buf;
		}
	}
}

/* ---- printing ------------------------------------------------------- */

static void
print_scalar(FILE *f, const struct json_value *v)
{
	switch (v->type) {
	case JSON_NULL: fputs("-", f); break;
	case JSON_BOOL: fputs(v->boolean ? "yes" : "no", f); break;
	case JSON_NUMBER:
		if (v->is_int)
			fprintf(f, "%lld", (long long)v->integer);
		else
			fprintf(f, "%g", v->number);
		break;
	case JSON_STRING: fputs(v->string, f); break;
	case JSON_ARRAY: {
		/* A short list of numbers or words reads better inline. */
		int inline_ok = v->n <= 12;

		for (size_t i = 0; inline_ok && i < v->n; i++)
			inline_ok = v->items[i]->type == JSON_NUMBER ||
			    v->items[i]->type == JSON_STRING;
		if (!inline_ok || v->n == 0) {
			fprintf(f, "(%zu items)", v->n);
			break;
		}
		for (size_t i = 0; i < v->n; i++) {
			if (i > 0)
				fputc(',', f);
			print_scalar(f, v->items[i]);
		}
		break;
	}
	case JSON_OBJECT: fprintf(f, "(%zu fields)", v->n); break;
	}
}

static size_t
scalar_width(const struct json_value *v)
{
	char buf[64];

	switch (v->type) {
	case JSON_STRING: return strlen(v->string);
	case JSON_NUMBER:
		return v->is_int ? (size_t)snprintf(buf, sizeof(buf), "%lld",
		    (long long)v->integer) :
		    (size_t)snprintf(buf, sizeof(buf), "%g", v->number);
	case JSON_BOOL: return v->boolean ? 3 : 2;
	case JSON_NULL: return 1;
	default: {
		/* As print_scalar writes it. */
		FILE *f = fmemopen(NULL, 4096, "w+");
		long n;

		if (f == NULL)
			return 12;
		print_scalar(f, v);
		n = ftell(f);
		fclose(f);
		return n > 0 ? (size_t)n : 12;
	}
	}
}

/* An array of objects as a table; columns from the first object. */
static void
print_table(const char *title, const struct json_value *arr)
{
	const struct json_value *first;
	size_t w[32] = { 0 }, ncol;

	if (arr->n == 0) {
		printf("%s: none\n", title);
		return;
	}
	first = arr->items[0];
	ncol = first->n < 32 ? first->n : 32;
	for (size_t c = 0; c < ncol; c++)
		w[c] = strlen(first->keys[c]);
	for (size_t r = 0; r < arr->n; r++)
		for (size_t c = 0; c < ncol; c++) {
			const struct json_value *cell =
			    json_get(arr->items[r], first->keys[c]);
			size_t cw = cell ? scalar_width(cell) : 1;
			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t c = 0; c < ncol; c++) {
		char up[64];
		size_t k;

		for (k = 0; first->keys[c][k] != '\0' && k + 1 < sizeof(up); k++)
			up[k] = (char)(first->keys[c][k] >= 'a' &&
			    first->keys[c][k] <= 'z' ? first->keys[c][k] - 32 :
			    first->keys[c][k]);
		up[k] = '\0';
		printf("%-*s%s", c + 1 < ncol ? (int)w[c] : 0, up,
		    c + 1 < ncol ? "  " : "\n");
	}
	for (size_t r = 0; r < arr->n; r++)
		for (size_t c = 0; c < ncol; c++) {
			const struct json_value *cell =
			    json_get(arr->items[r], first->keys[c]);
			size_t cw = cell ? scalar_width(cell) : 1;

			if (cell)
				print_scalar(stdout, cell);
			else
				fputs("-", stdout);
			if (c + 1 < ncol)
				printf("%*s", (int)(w[c] - cw + 2), "");
			else
				putchar('\n');
		}
}

/* Scalars as an aligned "key  value" list, then arrays as tables. */
static void
print_human(const struct json_value *reply)
{
	size_t kw = 0;

	for (size_t i = 0; i < reply->n; i++)
		if (strcmp(reply->keys[i], "ok") != 0 &&
		    reply->items[i]->type != JSON_ARRAY &&
		    strlen(reply->keys[i]) > kw)
			kw = strlen(reply->keys[i]);
	for (size_t i = 0; i < reply->n; i++) {
		const struct json_value *v = reply->items[i];

		if (strcmp(reply->keys[i], "ok") == 0 || v->type == JSON_ARRAY)
			continue;
		printf("%-*s  ", (int)kw, reply->keys[i]);
		print_scalar(stdout, v);
		putchar('\n');
	}
	for (size_t i = 0; i < reply->n; i++) {
		const struct json_value *v = reply->items[i];
		int objects = 1;

		if (v->type != JSON_ARRAY)
			continue;
		for (size_t k = 0; k < v->n; k++)
			if (v->items[k]->type != JSON_OBJECT)
				objects = 0;
		if (objects) {
			putchar('\n');
			print_table(reply->keys[i], v);
			continue;
		}
		printf("%-*s  ", (int)kw, reply->keys[i]);
		for (size_t k = 0; k < v->n; k++) {
			if (k > 0)
				fputs(", ", stdout);
			print_scalar(stdout, v->items[k]);
		}
		putchar('\n');
	}
}

/* ---- offline audit commands (no daemon involved) -------------------- */

/*
 * audit init [--dir DIR] [--export FILE]: a new log with a fresh K0,
 * printed (or written to FILE, mode 0600) once for offline custody.
 */
static int
audit_init_cmd(int argc, char **argv)
{
	const char *dir = "/var/lib/acgw/audit", *export = NULL;
	unsigned char k0[AUDIT_KEY_LEN];
	char err[AUDIT_ERR_MAX], hex[65];

	for (int i = 0; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "usage: acgwctl audit init [--dir DIR] "
			    "[--export FILE]\n");
			return EXIT_USAGE;
		}
		if (strcmp(argv[i], "--dir") == 0)
			dir = argv[i + 1];
		else if (strcmp(argv[i], "--export") == 0)
			export = argv[i + 1];
		else {
			fprintf(stderr, "usage: acgwctl audit init [--dir DIR] "
			    "[--export FILE]\n");
			return EXIT_USAGE;
		}
	}
	if (audit_init(dir, k0, err, sizeof(err)) != 0) {
		fprintf(stderr, "acgwctl: audit init: %s\n", err);
		return EXIT_FAILED;
	}
	for (int i = 0; i < AUDIT_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", k0[i]);
	if (export != NULL) {
		int fd = open(export, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		FILE *f = fd == -1 ? NULL : fdopen(fd, "w");

		if (f == NULL || fprintf(f, "%s\n", hex) < 0 ||
		    fclose(f) != 0) {
			fprintf(stderr, "acgwctl: audit init: %s: %s (the log "
			    "in %s is created; its K0 is lost unless you copy "
			    "it from %s/key now, before acgwd evolves it)\n",
			    export, strerror(errno), dir, dir);
			return EXIT_FAILED;
		}
		printf("audit log created in %s; K0 written to %s\n"
		    "Move %s offline: it verifies every record ever written, "
		    "and acgwd keeps no copy once the key evolves.\n", dir,
		    export, export);
	} else
		printf("audit log created in %s\nK0: %s\nKeep K0 offline: it "
		    "verifies every record ever written, and acgwd keeps no "
		    "copy once the key evolves.\n", dir, hex);
	memset(hex, 0, sizeof(hex));
	return EXIT_OK;
}

/* audit verify --key K0FILE FILE...: offline, exit 0 or 1. */
static int
audit_verify_cmd(int argc, char **argv)
{
	unsigned char k0[AUDIT_KEY_LEN];
	struct audit_verify v;
	char err[AUDIT_ERR_MAX];
	unsigned epoch;

	if (argc < 3 || strcmp(argv[0], "--key") != 0) {
		fprintf(stderr, "usage: acgwctl audit verify --key K0FILE "
		    "FILE...\n");
		return EXIT_USAGE;
	}
	if (audit_read_key(argv[1], k0, &epoch, err, sizeof(err)) != 0) {
		fprintf(stderr, "acgwctl: audit verify: %s\n", err);
		return EXIT_USAGE;
	}
	if (epoch != 0)
		fprintf(stderr, "acgwctl: audit verify: warning: %s is the key "
		    "of epoch %u, not K0: the verifier starts from K0, so no "
		    "record will verify with it\n", argv[1], epoch);
	if (audit_verify_files(k0, (const char *const *)argv + 2,
	    (size_t)(argc - 2), &v) != 0) {
		printf("FAILED: %s\n", v.error);
		if (v.records > 0)
			printf("(the %llu records before it verified: seq "
			    "%llu..%llu)\n", (unsigned long long)v.records,
			    (unsigned long long)v.first_seq,
			    (unsigned long long)v.last_seq);
		return EXIT_FAILED;
	}
	printf("ok: %llu records, seq %llu..%llu, epochs %u..%u, first %s, "
	    "last %s\n", (unsigned long long)v.records,
	    (unsigned long long)v.first_seq, (unsigned long long)v.last_seq,
	    v.first_epoch, v.last_epoch, v.first_time, v.last_time);
	return EXIT_OK;
}

/* Whole file into memory, refusing more than max bytes (+1 to tell). */
static char *
read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	if (!(buf = malloc(max + 1))) {
		snprintf(err, errlen, "out of memory");
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s", strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/*
 * oadr check [--schema DIR] FILE...: decode each payload with the limits
 * acgwd uses by default; print what it is or exactly why it is refused.
 */
static int
oadr_check_cmd(int argc, char **argv)
{
	struct oadr_schema *schema = NULL;
	struct oadr_limits lim;
	char err[OADR_ERR_MAX];
	int i = 0, failed = 0;

	oadr_limits_default(&lim);
	if (argc >= 2 && strcmp(argv[0], "--schema") == 0) {
		if (!(schema = oadr_schema_load(argv[1], err, sizeof(err)))) {
			fprintf(stderr, "acgwctl: oadr check: %s\n", err);
			return EXIT_USAGE;
		}
		i = 2;
	}
	if (i >= argc || argv[i][0] == '-') {
		fprintf(stderr, "usage: acgwctl oadr check [--schema DIR] "
		    "FILE...\n");
		oadr_schema_free(schema);
		return EXIT_USAGE;
	}
	for (; i < argc; i++) {
		struct oadr_msg m;
		char *buf, *desc;
		size_t len;

		/* Read one byte past the limit so the parser can name it. */
		if (!(buf = read_file(argv[i], lim.max_payload, &len, err,
		    sizeof(err)))) {
			printf("%s: error: %s\n", argv[i], err);
			failed = 1;
			continue;
		}
		if (oadr_parse(buf, len, &lim, schema, &m, err,
		    sizeof(err)) != 0) {
			printf("%s: error: %s\n", argv[i], err);
			failed = 1;
		} else {
			desc = oadr_msg_describe(&m);
			printf("%s: %s\n", argv[i], desc ? desc : "?");
			free(desc);
			oadr_msg_free(&m);
		}
		free(buf);
	}
	oadr_schema_free(schema);
	return failed ? EXIT_FAILED : EXIT_OK;
}

/* Audit records for people: one line each. */
static void
print_records(const struct json_value *records)
{
	struct json_buf j;

	if (records->n == 0) {
		printf("no records\n");
		return;
	}
	json_init(&j, 0);
	for (size_t i = 0; i < records->n; i++) {
		const struct json_value *r = records->items[i];
		const struct json_value *seq = json_get(r, "seq");
		const struct json_value *t = json_get(r, "time");
		const struct json_value *type = json_get(r, "type");
		const struct json_value *actor = json_get(r, "actor");
		const struct json_value *peer = json_get(r, "peer");
		const struct json_value *det = json_get(r, "details");

		json_reset(&j);
		if (det != NULL)
			json_write_value(&j, det);
		printf("%lld %s %s %s %s %s\n",
		    seq && seq->is_int ? (long long)seq->integer : 0LL,
		    t && t->type == JSON_STRING ? t->string : "?",
		    type && type->type == JSON_STRING ? type->string : "?",
		    actor && actor->type == JSON_STRING ? actor->string : "?",
		    peer && peer->type == JSON_STRING ? peer->string : "-",
		    j.s ? j.s : "{}");
	}
	json_free(&j);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("ACGW_CONTROL_SOCKET");
	const struct json_value *ok, *error, *records;
	int follow = 0;
	uint64_t last_seq = 0;
	struct json_value *reply;
	int json = 0, timeout_s = 30, ch, fd, rc;
	char line[65536], perr[128], *raw;
	size_t len = 0, rawlen, base_len;

	if (sock == NULL || *sock == '\0')
		sock = CONFIG_DEFAULT_SOCKET;
	/* "+": stop at the command, so its own arguments pass through. */
	while ((ch = getopt_long(argc, argv, "+s:jT:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's': sock = optarg; break;
		case 'j': json = 1; break;
		case 'T': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end != '\0' || v < 1 || v > 3600) {
				fprintf(stderr, "acgwctl: --timeout takes "
				    "1..3600 seconds\n");
				return EXIT_USAGE;
			}
			timeout_s = (int)v;
			break;
		}
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': printf("acgwctl %s\n", PACKAGE_VERSION); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* These work on files, without a daemon. */
	if (argc - optind >= 2 && strcmp(argv[optind], "audit") == 0) {
		if (strcmp(argv[optind + 1], "init") == 0)
			return audit_init_cmd(argc - optind - 2,
			    argv + optind + 2);
		if (strcmp(argv[optind + 1], "verify") == 0)
			return audit_verify_cmd(argc - optind - 2,
			    argv + optind + 2);
	}
	if (argc - optind >= 2 && strcmp(argv[optind], "oadr") == 0 &&
	    strcmp(argv[optind + 1], "check") == 0)
		return oadr_check_cmd(argc - optind - 2, argv + optind + 2);
	follow = argc - optind >= 2 && strcmp(argv[optind], "audit") == 0 &&
	    strcmp(argv[optind + 1], "tail") == 0 &&
	    strcmp(argv[argc - 1], "--follow") == 0;
	if (follow)
		argc--;		/* acgwctl's own option, not the daemon's */
	line[0] = '\0';
	for (int i = optind; i < argc; i++)
		if (append_arg(line, sizeof(line) - 1, &len, argv[i]) != 0) {
			fprintf(stderr, "acgwctl: request too long or holds a "
			    "line break\n");
			return EXIT_USAGE;
		}
	line[len++] = '\n';
	base_len = len;

again:
	fd = connect_socket(sock);
	write_all(fd, line, len);
	raw = read_reply(fd, timeout_s * 1000, &rawlen);
	close(fd);

	if ((reply = json_parse(raw, rawlen, perr, sizeof(perr))) == NULL ||
	    reply->type != JSON_OBJECT ||
	    (ok = json_get(reply, "ok")) == NULL || ok->type != JSON_BOOL) {
		fprintf(stderr, "acgwctl: malformed reply from acgwd (%s)\n",
		    reply ? "no \"ok\" member" : perr);
		json_value_free(reply);
		free(raw);
		return EXIT_PROTOCOL;
	}
	records = json_get(reply, "records");
	if (json)
		printf("%s\n", raw);
	if (ok->boolean) {
		if (!json && records != NULL && records->type == JSON_ARRAY &&
		    strcmp(argv[optind], "audit") == 0) {
			if (!follow || records->n > 0)
				print_records(records);
		} else if (!json)
			print_human(reply);
		rc = EXIT_OK;
	} else {
		error = json_get(reply, "error");
		if (!json)
			fprintf(stderr, "acgwctl: %s\n",
			    error && error->type == JSON_STRING ?
			    error->string : "command failed");
		rc = error && error->type == JSON_STRING &&
		    strncmp(error->string, "permission denied", 17) == 0 ?
		    EXIT_DENIED : EXIT_FAILED;
	}
	if (follow && rc == EXIT_OK) {
		/* --follow: ask for what came after the last record, each second. */
		if (records != NULL && records->type == JSON_ARRAY &&
		    records->n > 0) {
			const struct json_value *s = json_get(records->items[
			    records->n - 1], "seq");

			if (s != NULL && s->is_int)
				last_seq = (uint64_t)s->integer;
		}
		fflush(stdout);
		if (records == NULL || records->type != JSON_ARRAY ||
		    records->n < 1000)
			sleep(1);
		json_value_free(reply);
		free(raw);
		/* At most 1000 at a time (the reply limit); more come next. */
		len = (size_t)snprintf(line, sizeof(line), "audit tail 1000 "
		    "after %llu\n", (unsigned long long)last_seq);
		(void)base_len;
		goto again;
	}
	json_value_free(reply);
	free(raw);
	return rc;
}
