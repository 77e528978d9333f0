/*
 * control — the operator interface: a UNIX stream socket, one request
 * line in, one JSON line out.
 *
 * The caller's role comes from the kernel (SO_PEERCRED, SO_PEERGROUPS):
 * root and acgwd's own user are operators, members of control.operators
 * are operators, members of control.readers are readers, anyone else is
 * refused. Modules register their commands with the role they need; the
 * parsing and role checks are plain functions, testable without sockets.
 */
#ifndef ACGW_CONTROL_H
#define ACGW_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#include "acgw/config.h"
#include "acgw/json.h"

struct event_base;
struct control;

enum control_role {
	CONTROL_ROLE_NONE = 0,
	CONTROL_ROLE_READER,
	CONTROL_ROLE_OPERATOR,
};

struct control_caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	/* Supplementary groups as the kernel saw them; only while the role is
	 * decided (NULL afterwards). */
	const gid_t *groups;
	size_t ngroups;
	enum control_role role;
};

#define CONTROL_ARGS_MAX 32

/* A tokenised request; argv points into buf. */
struct control_request {
	int argc;
	char *argv[CONTROL_ARGS_MAX + 1];
	char *buf;
};

#define CONTROL_ERR_MAX 512

/*
 * A command handler adds its members to reply (an object that already
 * holds "ok": true) and returns 0, or writes a message to err and returns
 * -1; the reply is then {"ok": false, "error": err}.
 */
typedef int (*control_handler)(void *arg, const struct control_caller *who,
    int argc, char **argv, struct json_buf *reply, char *err, size_t errlen);

struct control_command {
	const char *name;
	enum control_role role;	/* the least role allowed to run it */
	const char *usage;	/* "reload", "audit tail [N]" */
	const char *help;	/* one line */
	control_handler fn;
	void *arg;
};

/* ---- pure parts (no sockets) --------------------------------------- */

/*
 * Splits a request line (without its newline) into words. Words are
 * separated by spaces or tabs; "double quotes" group words, with \" and
 * \\ as escapes. Refuses invalid UTF-8 and control characters.
 */
int control_parse_line(const char *line, size_t len,
    struct control_request *req, char *err, size_t errlen);
void control_request_free(struct control_request *req);

/* The role the configuration gives this caller. */
enum control_role control_role_for(const struct config *cfg, uid_t self,
    const struct control_caller *who);
const char *control_role_name(enum control_role role);

/* ---- the socket service -------------------------------------------- */

struct control *control_new(struct event_base *base, const struct config *cfg,
    char *err, size_t errlen);
void control_free(struct control *ctl);

int control_register(struct control *ctl, const struct control_command *cmd);

/*
 * Runs one request line for caller and writes the one-line JSON reply
 * (no newline) into reply. Used by the socket service and by tests.
 */
void control_execute(struct control *ctl, const struct control_caller *who,
    const char *line, size_t len, struct json_buf *reply);

/*
 * Reload: control_prepare checks what the new config needs (a new socket
 * if the path changed) without changing anything visible; control_commit
 * switches to it and cannot fail; control_abort throws it away.
 */
int control_prepare(struct control *ctl, const struct config *newcfg,
    char *err, size_t errlen);
void control_commit(struct control *ctl, const struct config *newcfg);
void control_abort(struct control *ctl);

/*
 * Every operator command is recorded before it runs: fn gets the caller
 * and the request line, and returns 0, or -1 with a reason (the command
 * is then refused: nothing happens that the audit log would not show).
 */
typedef int (*control_audit_fn)(void *arg, const struct control_caller *who,
    const char *line, char *err, size_t errlen);
void control_set_audit(struct control *ctl, control_audit_fn fn, void *arg);

/* Stop accepting; flush replies in progress, then close every client. */
void control_shutdown(struct control *ctl);
/* Clients connected now. */
size_t control_nclients(const struct control *ctl);

#endif
