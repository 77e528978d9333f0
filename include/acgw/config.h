/*
 * config — acgwd.yaml, loaded with libyaml into validated structs.
 *
 * One table (config.c) describes every setting once: its key path, type,
 * bounds, default and whether this release supports it. The table drives
 * parsing, defaults and the documentation check against acgwd.yaml(5).
 * Errors name file:line:column and the key path. A config is either loaded
 * whole or not at all: the caller keeps its old one when loading fails.
 */
#ifndef ACGW_CONFIG_H
#define ACGW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "acgw/log.h"
#include "acgw/units.h"

#define CONFIG_ERR_MAX 512
#define CONFIG_ERRS_MAX 16
/* A config larger than this is refused: room for 10,000 peers and more. */
#define CONFIG_FILE_MAX (16 * 1024 * 1024)
#define CONFIG_DEFAULT_SOCKET "/run/acgw/control.sock"

/* TLS 1.2: the two suites OpenADR 2.0 mandates, after ECDHE AEAD suites. */
#define CONFIG_DEFAULT_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-SHA256:AES128-SHA256"
#define CONFIG_DEFAULT_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"

struct config_errors {
	size_t count;		/* errors found, may exceed CONFIG_ERRS_MAX */
	char msg[CONFIG_ERRS_MAX][CONFIG_ERR_MAX];
};

struct config_group {
	char *name;
	gid_t gid;
};

/* A socket address as written and as parsed. */
struct config_addr {
	char *text;		/* NULL if unset */
	struct units_sockaddr sa;
};

struct config_grouplist {
	struct config_group *v;
	size_t n;
};

/* A list of SHA-256 pins. */
struct config_pinlist {
	unsigned char (*v)[32];
	size_t n;
};

/* A list of address blocks. */
struct config_cidrlist {
	struct units_cidr *v;
	size_t n;
};

/* An https URL: "https://host[:port][/prefix]". */
struct config_url {
	char *text;		/* NULL if unset */
	char *host;		/* name or numeric address, without brackets */
	uint16_t port;		/* 443 unless given */
	char *path;		/* "" or "/prefix" without a trailing slash */
};

/* An optional SHA-256 pin. */
struct config_pin {
	int set;
	unsigned char v[32];
};

/* An optional numeric address without port. */
struct config_ipaddr {
	char *text;		/* NULL if unset */
	struct sockaddr_storage ss;
	socklen_t len;
};

/* A list of signals, "NAME/type" (dispatch.signals). */
struct config_strlist {
	char **v;
	size_t n;
};

/* One resource aggregator allowed on R3 (peers: list). */
struct config_peer {
	char *name;
	char *ca;		/* CA certificate(s) its client certificates chain to */
	char *crl;		/* that CA's CRL, or NULL */
	struct config_pinlist pins;
	struct config_cidrlist sources;
	uint64_t max_sessions;
	char *ven_id;		/* the venID bound to its certificate; NULL: name */
	int importance;		/* 0: B, 1: A (policy: required controls) */
	uint64_t contracted_w;	/* its contracted capacity, watts */
	uint64_t rank;		/* priority rule: lower first (0: list order) */
	uint64_t share;		/* static rule: percent of each target */
	struct config_url push_url;	/* its push endpoint, if it may use one */
	size_t line, col;	/* where this element starts in the file */
};

struct config_peerlist {
	struct config_peer *v;
	size_t n;
};

enum config_tls_version {
	CONFIG_TLS_1_2 = 0,
	CONFIG_TLS_1_3,
};

struct config {
	char *path;
	unsigned char sha256[32];	/* of the file as read */
	size_t *key_pos;	/* line, col of each table key's value (0: default) */

	struct {
		enum log_level level;
	} log;

	struct {
		char *socket;
		mode_t mode;
		struct config_group group;	/* name NULL: the daemon's own group */
		struct config_grouplist readers;
		struct config_grouplist operators;
		uint64_t max_line;
		uint64_t max_response;
		uint64_t max_clients;
		uint64_t max_clients_per_uid;
		uint64_t idle_timeout_ms;
	} control;

	struct {
		uint64_t watchdog_fraction;	/* keepalive every WATCHDOG_USEC / n */
		uint64_t stop_timeout_ms;
	} daemon;

	struct {
		enum config_tls_version min_version;
		char *ciphers;		/* TLS 1.2 cipher list */
		char *ciphersuites;	/* TLS 1.3 suites */
		uint64_t session_cache;	/* entries; 0: no resumption */
		uint64_t session_timeout_ms;
		int keep_sessions;	/* session cache kept over a restart */
		uint64_t verify_cache;	/* certificates; 0: verify each time */
		uint64_t verify_cache_ttl_ms;
		uint64_t expiry_warning_ms;
		uint64_t expiry_critical_ms;
		uint64_t expiry_check_ms;
	} tls;

	struct {
		struct config_addr listen;
		int allow_wildcard;
		char *cert;
		char *key;
		uint64_t handshake_timeout_ms;
		uint64_t idle_timeout_ms;
		uint64_t max_sessions;
		uint64_t max_header_size;
		uint64_t max_body_size;
		uint64_t max_output;
		uint64_t requests_per_second;
		uint64_t request_burst;
		uint64_t push_timeout_ms;	/* a push to an RA, each */
		uint64_t push_backoff_max_ms;	/* retries of a failed push */
	} r3;

	struct {
		struct config_url url;
		char *server_name;	/* NULL: the URL's host */
		char *ca;
		char *crl;
		struct config_pin pin;
		char *cert;
		char *key;
		struct config_ipaddr source_address;
		char *interface;
		uint64_t connect_timeout_ms;
		uint64_t timeout_ms;
		uint64_t poll_interval_ms;
		uint64_t backoff_initial_ms;
		uint64_t backoff_max_ms;
	} r1;

	struct config_peerlist peers;

	struct {
		char *schema;		/* NULL: the checks in code only */
		uint64_t max_payload;
		uint64_t max_depth;
		uint64_t max_elements;
		uint64_t max_events;
		uint64_t max_signals;
		uint64_t max_intervals;
		uint64_t max_reports;
		uint64_t max_duration_ms;
	} oadr;

	struct {
		int enabled;		/* attestations required on R3 */
		char *catalog;		/* controls.yaml */
		char *assessor_ca;	/* trust anchor of assessors */
		int assessor_key_usage;	/* 0 digitalSignature, 1 nonRepudiation */
		struct config_strlist required_a;	/* control IDs */
		struct config_strlist required_b;
		int third_party_for_a;
		uint64_t max_age_ms;
		uint64_t clock_skew_ms;
		uint64_t reevaluate_ms;
		int failure_action;	/* 0 sever, 1 warn */
		int allow_warn;		/* the explicit test flag for warn */
		int restore;		/* 0 manual, 1 auto */
		char *attestation_dir;	/* watched; NULL: none */
		uint64_t expiry_warning_ms;
		uint64_t expiry_critical_ms;
		uint64_t max_invalid_per_minute;	/* 0: no threshold */
		uint64_t max_mismatches_per_minute;
	} policy;

	struct {
		char *state_dir;	/* relay state (acgw-state(5)) */
		char *ven_name;		/* our venName towards the TSO */
		char *vtn_id;		/* our vtnID towards the RAs */
		int rule;		/* enum dispatch_rule */
		uint64_t capacity_w;	/* 0: the sum of peers[].contracted */
		struct config_strlist signals;
		uint64_t past_tolerance_ms;
		uint64_t min_duration_ms;
		uint64_t max_duration_ms;
		uint64_t ack_deadline_ms;
		uint64_t coverage_threshold;	/* percent */
		uint64_t ra_poll_interval_ms;
		uint64_t report_grace_ms;
		uint64_t retention_ms;
	} dispatch;

	struct {
		int enabled;
		char *dir;
		int sync;			/* 0 always, 1 batch */
		uint64_t batch_interval_ms;
		uint64_t key_interval_ms;
		uint64_t key_records;
		uint64_t max_file_size;
		uint64_t max_file_age_ms;
		uint64_t keep_files;		/* 0: keep all */
		uint64_t keep_age_ms;		/* 0: keep all */
		int syslog;
		int disk_full_action;		/* 0 fail_closed, 1 stop */
		uint64_t retry_interval_ms;
	} audit;
};

enum config_type {
	CONFIG_SECTION,
	CONFIG_STRING,
	CONFIG_PATH,
	CONFIG_BOOL,
	CONFIG_UINT,
	CONFIG_DURATION,
	CONFIG_SIZE,
	CONFIG_SOCKADDR,
	CONFIG_MODE,
	CONFIG_GROUP,
	CONFIG_GROUPLIST,
	CONFIG_LOGLEVEL,
	CONFIG_ENUM,		/* one of key->choices, stored as an int index */
	CONFIG_NAME,		/* [A-Za-z0-9._-]{1,64} */
	CONFIG_URL,
	CONFIG_PIN,
	CONFIG_PINLIST,
	CONFIG_CIDRLIST,
	CONFIG_IPADDR,
	CONFIG_LIST,		/* a list of mappings, described by "path[]." keys */
	CONFIG_POWER,		/* "1500kW": whole watts, stored as uint64_t */
	CONFIG_SIGNALLIST,	/* ["LOAD_DISPATCH/setpoint", ...] */
	CONFIG_NAMELIST,	/* [NAME, ...] (control IDs) */
};

/* One row of the settings table. */
struct config_key {
	const char *path;	/* "control.socket" */
	enum config_type type;
	size_t offset;		/* into struct config */
	uint64_t min, max;	/* bounds for UINT, DURATION (ms), SIZE */
	const char *def;	/* default, written as a user would; NULL: unset */
	const char *unsupported; /* non-NULL: refused with this reason */
	const char *choices;	/* ENUM: "a|b|c" */
	size_t elem_size;	/* LIST: size of one element */
	int required;		/* must be written (inside LIST elements) */
};

/*
 * "https://host[:port][/prefix]" (a name, IPv4 or [IPv6] host) into *u,
 * which holds its own copies; config_url_free releases them.
 */
int config_parse_url(const char *s, struct config_url *u, char *err,
    size_t errlen);
void config_url_free(struct config_url *u);

struct oadr_limits;
/* The payload limits of the oadr section, in the codec's terms. */
void config_oadr_limits(const struct config *c, struct oadr_limits *l);

/*
 * Load and validate path. On success returns a new config; on failure
 * returns NULL and errs holds every error found (errs->msg[0] first).
 */
struct config *config_load(const char *path, struct config_errors *errs);

/* Same, from memory; name is used in messages. For tests and fuzzing. */
struct config *config_load_buffer(const char *name, const char *buf,
    size_t len, struct config_errors *errs);

void config_free(struct config *cfg);

/* The settings table, for docs and tests. */
const struct config_key *config_keys(size_t *n);

/* Human name of a type, as acgwd.yaml(5) uses it. */
const char *config_type_name(enum config_type type);

/*
 * "file:line:col: path" for errors found after loading (a file that
 * path names cannot be read, ...). path is a top-level key such as
 * "r3.key"; peer is an index into cfg->peers, or -1.
 */
void config_locate(const struct config *cfg, const char *path, long peer,
    char *buf, size_t len);

/* The peer of that name, or NULL. */
const struct config_peer *config_peer_find(const struct config *cfg,
    const char *name);

/* Is gid one of the groups in list? */
int config_grouplist_has(const struct config_grouplist *list, gid_t gid);

#endif
