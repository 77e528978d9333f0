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
#define CONFIG_FILE_MAX (1024 * 1024)	/* a config larger than this is refused */
#define CONFIG_DEFAULT_SOCKET "/run/acgw/control.sock"

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

struct config {
	char *path;
	unsigned char sha256[32];	/* of the file as read */

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
		struct config_addr listen;
		int allow_wildcard;
	} r3;
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
};

/* One row of the settings table. */
struct config_key {
	const char *path;	/* "control.socket" */
	enum config_type type;
	size_t offset;		/* into struct config */
	uint64_t min, max;	/* bounds for UINT, DURATION (ms), SIZE */
	const char *def;	/* default, written as a user would; NULL: unset */
	const char *unsupported; /* non-NULL: refused with this reason */
};

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

/* Is gid one of the groups in list? */
int config_grouplist_has(const struct config_grouplist *list, gid_t gid);

#endif
