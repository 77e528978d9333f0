/*
 * acgw-mockdispatch --conformance: three TLS probes a VEN under test must
 * pass before the TSO's connection test, each a server the VEN connects to
 * (it retries on its own after each refusal):
 *
 *   1. legacy:     the server offers TLS 1.0 and 1.1 only. The VEN must
 *                  not offer them (its ClientHello is read) and must not
 *                  complete the handshake.
 *   2. wrong_name: a certificate from the right CA for another name. The
 *                  VEN must abort the handshake.
 *   3. openadr:    TLS 1.2 with only the suites OpenADR 2.0 mandates
 *                  (ECDHE-ECDSA-AES128-SHA256, AES128-SHA256). The VEN
 *                  must complete the handshake.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "acgw/http.h"
#include "acgw/json.h"
#include "acgw/tls.h"
#include "acgw/units.h"
#include "scenario.h"

enum { P_LEGACY, P_WRONG_NAME, P_OPENADR, P_COUNT };

static const char *const probe_names[P_COUNT] = {
	"legacy", "wrong_name", "openadr"
};
static const char *const probe_titles[P_COUNT] = {
	/* One title on two lines (parenthesised: clang warns otherwise). */
	("VEN offers no TLS below 1.2 and refuses a server that has only "
	    "TLS 1.0/1.1"),
	"VEN refuses a server certificate for another name",
	"VEN completes a TLS 1.2 handshake with only the OpenADR suites",
};

struct probe {
	int which;
	int done;
	int passed;
	char hellos[16][64];		/* connections that sent a ClientHello */
	unsigned nhellos;
	int stopped;			/* by a signal */
	char offered[128];		/* versions in the ClientHello */
	char detail[512];
	struct event_base *base;
	FILE *log;
	struct event *timer;
	struct event *sigterm, *sigint;
};

/* One log line: "WHEN [probe] a: b". */
static void
plog(struct probe *p, const char *a, const char *b)
{
	char ts[64];
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	units_format_datetime((int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000 /
	    1000 * 1000, ts, sizeof(ts));
	fprintf(p->log, "%s [%s] ", ts, probe_names[p->which]);
	fprintf(p->log, "%s: %s", a, b);
	fputc('\n', p->log);
	fflush(p->log);
}

static void
conclude(struct probe *p, int passed, const char *detail)
{
	if (p->done)
		return;
	p->done = 1;
	p->passed = passed;
	snprintf(p->detail, sizeof(p->detail), "%s%s%s", detail,
	    p->offered[0] ? "; ClientHello offered " : "", p->offered);
	event_base_loopbreak(p->base);
}

static const char *
version_name(unsigned v)
{
	switch (v) {
	case 0x0301: return "TLSv1";
	case 0x0302: return "TLSv1.1";
	case 0x0303: return "TLSv1.2";
	case 0x0304: return "TLSv1.3";
	default: return "other";
	}
}

/* What the client offers: supported_versions, else its legacy version. */
static int
hello_cb(SSL *ssl, int *al, void *arg)
{
	struct probe *p = arg;
	const unsigned char *ext;
	size_t len, o = 0;
	int below = 0;

	(void)al;
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = SSL_get_fd(ssl);

		if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss,
		    &sl) == 0)
			units_format_sockaddr((struct sockaddr *)&ss,
			    p->hellos[p->nhellos++ % 16], 64);
	}
	p->offered[0] = '\0';
	if (SSL_client_hello_get0_ext(ssl, 43, &ext, &len) && len >= 1 &&
	    ext[0] + 1u <= len) {
		for (size_t i = 1; i + 1 < (size_t)ext[0] + 1; i += 2) {
			unsigned v = (unsigned)ext[i] << 8 | ext[i + 1];

			if ((v & 0x0a0a) == 0x0a0a)
				continue;	/* GREASE */
			o += (size_t)snprintf(p->offered + o,
			    sizeof(p->offered) - o, "%s%s", o ? " " : "",
			    version_name(v));
			below |= v < 0x0303;
			if (o >= sizeof(p->offered))
				break;
		}
	} else {
		unsigned v = SSL_client_hello_get0_legacy_version(ssl);

		snprintf(p->offered, sizeof(p->offered), "up to %s (no "
		    "supported_versions extension)", version_name(v));
		/* Its lowest version is not in the hello: the handshake tells. */
		below = v < 0x0303;
	}
	if (p->which == P_LEGACY && below)
		conclude(p, 0, "the VEN offers TLS below 1.2");
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* Did the connection from addr send its ClientHello? */
static int
said_hello(const struct probe *p, const char *addr)
{
	for (unsigned i = 0; i < p->nhellos && i < 16; i++)
		if (!strcmp(p->hellos[i], addr))
			return 1;
	return 0;
}

/*
 * What a connection event says about the VEN. Only a VEN that sent its
 * ClientHello and then gave up tells us something; a connection closed
 * before any hello, or a client certificate our side refused, proves
 * nothing, and the probe waits for another attempt (or says why it is
 * inconclusive).
 */
static void
on_event(void *arg, const char *addr, const char *what)
{
	struct probe *p = arg;
	int done = !strncmp(what, "handshake done", 14);
	int we_refused = !strncmp(what, "handshake refused", 17);
	int client_gave_up = !strncmp(what, "handshake failed", 16) ||
	    !strncmp(what, "closed before", 13);

	plog(p, addr, what);
	if (we_refused) {
		char why[300];

		snprintf(why, sizeof(why), "inconclusive: this side refused the "
		    "VEN's certificate (%s); check --ca", what);
		conclude(p, 0, why);
		return;
	}
	if (client_gave_up && !said_hello(p, addr))
		return;		/* not even a ClientHello: wait for more */
	if (!done && !client_gave_up)
		return;
	switch (p->which) {
	case P_LEGACY:
		conclude(p, !done, done ? "the VEN completed a handshake below "
		    "TLS 1.2" : "the VEN refused TLS 1.0/1.1 and offered "
		    "nothing below TLS 1.2");
		break;
	case P_WRONG_NAME:
		if (done)
			conclude(p, 0, "the VEN accepted a server certificate "
			    "for another name");
		else if (!strncmp(what, "handshake failed: the client sent "
		    "alert", 37))
			conclude(p, 1, "the VEN refused the certificate for "
			    "another name");
		else
			conclude(p, 0, "inconclusive: the VEN closed the "
			    "connection without an alert, not saying why");
		break;
	case P_OPENADR:
		conclude(p, done, done ? what : "the VEN did not complete a "
		    "handshake with only the OpenADR TLS 1.2 suites");
		break;
	}
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct probe *p = arg;

	(void)what;
	p->stopped = (int)sig;
	conclude(p, 0, "stopped by a signal");
}

static void
on_request(void *arg, struct http_exchange *x)
{
	(void)arg;
	http_reply_error(x, 503, "TLS conformance probe: no OpenADR service");
}

static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd, (void)what;
	conclude(p, 0, "no connection attempt by the VEN within the probe "
	    "timeout");
}

static int
run_probe(struct probe *p, const char *listen, const char *cert,
    const char *key, const char *ca, const char *wcert, const char *wkey,
    uint64_t probe_ms)
{
	struct tls_simple ts;
	struct http_server_opts so;
	struct http_server *srv;
	SSL_CTX *ctx;
	struct timeval tv;
	char err[TLS_ERR_MAX];

	memset(&ts, 0, sizeof(ts));
	ts.server = 1;
	ts.cert = p->which == P_WRONG_NAME ? wcert : cert;
	ts.key = p->which == P_WRONG_NAME ? wkey : key;
	ts.ca = ca;
	if (p->which == P_LEGACY) {
		ts.min_version = TLS1_VERSION;
		ts.max_version = TLS1_1_VERSION;
		ts.ciphers = "DEFAULT:@SECLEVEL=0";
	} else if (p->which == P_OPENADR) {
		ts.min_version = TLS1_2_VERSION;
		ts.max_version = TLS1_2_VERSION;
		ts.ciphers = TLS_OPENADR_CIPHERS;
	}
	if (!(ctx = tls_ctx_simple(&ts, err, sizeof(err)))) {
		fprintf(stderr, "acgw-mockdispatch: %s\n", err);
		return -1;
	}
	SSL_CTX_set_client_hello_cb(ctx, hello_cb, p);
	memset(&so, 0, sizeof(so));
	so.ctx = ctx;
	so.listen = listen;
	so.handler = on_request;
	so.on_event = on_event;
	so.arg = p;
	if (!(srv = http_server_new(p->base, &so, err, sizeof(err)))) {
		fprintf(stderr, "acgw-mockdispatch: %s\n", err);
		SSL_CTX_free(ctx);
		return -1;
	}
	plog(p, "probe", probe_titles[p->which]);
	p->timer = evtimer_new(p->base, timeout_cb, p);
	p->sigterm = evsignal_new(p->base, SIGTERM, signal_cb, p);
	p->sigint = evsignal_new(p->base, SIGINT, signal_cb, p);
	tv.tv_sec = (time_t)(probe_ms / 1000);
	tv.tv_usec = (suseconds_t)(probe_ms % 1000) * 1000;
	evtimer_add(p->timer, &tv);
	if (p->sigterm)
		event_add(p->sigterm, NULL);
	if (p->sigint)
		event_add(p->sigint, NULL);
	event_base_dispatch(p->base);
	event_free(p->timer);
	if (p->sigterm)
		event_free(p->sigterm);
	if (p->sigint)
		event_free(p->sigint);
	http_server_drop(srv);
	/* Let the closes go out before the next probe binds the port. */
	event_base_loop(p->base, EVLOOP_NONBLOCK);
	http_server_free(srv);
	SSL_CTX_free(ctx);
	return 0;
}

int mockdispatch_conformance(struct event_base *base, const char *listen,
    const char *cert, const char *key, const char *ca, const char *wcert,
    const char *wkey, uint64_t probe_ms, FILE *log, const char *json,
    const char *junit);

int
mockdispatch_conformance(struct event_base *base, const char *listen,
    const char *cert, const char *key, const char *ca, const char *wcert,
    const char *wkey, uint64_t probe_ms, FILE *log, const char *json,
    const char *junit)
{
	struct probe probes[P_COUNT];
	int failed = 0;
	FILE *f;

	for (int i = 0; i < P_COUNT; i++) {
		memset(&probes[i], 0, sizeof(probes[i]));
		probes[i].which = i;
		probes[i].base = base;
		probes[i].log = log;
		if (run_probe(&probes[i], listen, cert, key, ca, wcert, wkey,
		    probe_ms) != 0)
			return 2;
		failed |= !probes[i].passed;
		if (probes[i].stopped) {
			/* The rest are not run: said so below. */
			for (int k = i + 1; k < P_COUNT; k++) {
				memset(&probes[k], 0, sizeof(probes[k]));
				probes[k].which = k;
				snprintf(probes[k].detail,
				    sizeof(probes[k].detail), "not run "
				    "(stopped by a signal)");
			}
			break;
		}
	}
	printf("acgw-mockdispatch: TLS conformance: %s\n", failed ? "FAILED" :
	    "passed");
	for (int i = 0; i < P_COUNT; i++)
		printf("  %s %s: %s: %s\n", probes[i].passed ? "ok    " :
		    "FAILED", probe_names[i], probe_titles[i],
		    probes[i].detail);
	fflush(stdout);
	if (json) {
		struct json_buf j;

		json_init(&j, 0);
		json_object_begin(&j);
		json_kv_bool(&j, "passed", !failed);
		json_key(&j, "probes");
		json_array_begin(&j);
		for (int i = 0; i < P_COUNT; i++) {
			json_object_begin(&j);
			json_kv_str(&j, "probe", probe_names[i]);
			json_kv_str(&j, "check", probe_titles[i]);
			json_kv_bool(&j, "passed", probes[i].passed);
			json_kv_str(&j, "detail", probes[i].detail);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_end(&j);
		if (!(f = fopen(json, "w")) || fprintf(f, "%s\n", j.s) < 0 ||
		    fclose(f) != 0)
			fprintf(stderr, "acgw-mockdispatch: %s: %s\n", json,
			    strerror(errno));
		json_free(&j);
	}
	if (junit && (f = fopen(junit, "w")) == NULL)
		fprintf(stderr, "acgw-mockdispatch: %s: %s\n", junit,
		    strerror(errno));
	else if (junit) {
		int nfail = 0;

		for (int i = 0; i < P_COUNT; i++)
			nfail += !probes[i].passed;
		fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		    "<testsuite name=\"tls-conformance\" tests=\"%d\" "
		    "failures=\"%d\">\n", P_COUNT, nfail);
		for (int i = 0; i < P_COUNT; i++) {
			fprintf(f, "  <testcase classname=\"acgw-mockdispatch\" "
			    "name=\"%s\"", probe_names[i]);
			if (probes[i].passed) {
				fprintf(f, "/>\n");
				continue;
			}
			fprintf(f, ">\n    <failure message=\"");
			scenario_xml_escape(f, probes[i].detail);
			fprintf(f, "\"/>\n  </testcase>\n");
		}
		fprintf(f, "</testsuite>\n");
		if (fclose(f) != 0)
			fprintf(stderr, "acgw-mockdispatch: %s: %s\n", junit,
			    strerror(errno));
	}
	return failed ? 1 : 0;
}
