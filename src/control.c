/*
 * control — UNIX socket service for acgwctl.
 *
 * Life of a client: accept -> credentials from the kernel -> role (none:
 * one error line, then close) -> read lines, answer each with one JSON
 * line -> close on EOF, on an over-long line, or after control.idle_timeout
 * of silence. Replies are queued in the client's output buffer; a client
 * is freed only once its output has drained, so shutdown never cuts a
 * reply in half.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "acgw/control.h"
#include "acgw/log.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

struct control_client {
	struct control *ctl;
	struct bufferevent *bev;
	struct control_caller who;
	int closing;
	int paused;		/* reading stopped until replies drain */
	int eof;		/* the client closed its side */
	struct control_client *prev, *next;
};

struct control_listener {
	struct evconnlistener *lev;
	char *path;
	dev_t dev;
	ino_t ino;
};

struct control {
	struct event_base *base;
	const struct config *cfg;
	struct control_listener cur;
	struct control_listener pending;	/* from control_prepare */
	struct control_command *cmds;
	size_t ncmds;
	struct control_client *clients;
	size_t nclients;
	int shutting_down;
	control_audit_fn audit;
	void *audit_arg;
};

const char *
control_role_name(enum control_role role)
{
	switch (role) {
	case CONTROL_ROLE_OPERATOR: return "operator";
	case CONTROL_ROLE_READER: return "reader";
	case CONTROL_ROLE_NONE: break;
	}
	return "none";
}

/* ---- request parsing ------------------------------------------------ */

void
control_request_free(struct control_request *req)
{
	free(req->buf);
	memset(req, 0, sizeof(*req));
}

int
control_parse_line(const char *line, size_t len, struct control_request *req,
    char *err, size_t errlen)
{
	char *d;
	size_t i = 0;

	memset(req, 0, sizeof(*req));
	if (len > 0 && line[len - 1] == '\r')
		len--;		/* tolerate CRLF from nc and friends */
	if (!json_utf8_valid(line, len)) {
		snprintf(err, errlen, "request is not valid UTF-8");
		return -1;
	}
	for (size_t k = 0; k < len; k++) {
		unsigned char c = (unsigned char)line[k];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(err, errlen, "request contains control "
			    "character 0x%02x at byte %zu", c, k + 1);
			return -1;
		}
	}
	if ((req->buf = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d = req->buf;
	while (i < len) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			break;
		if (req->argc == CONTROL_ARGS_MAX) {
			snprintf(err, errlen, "more than %d words in request",
			    CONTROL_ARGS_MAX);
			goto fail;
		}
		req->argv[req->argc++] = d;
		while (i < len && line[i] != ' ' && line[i] != '\t') {
			if (line[i] != '"') {
				*d++ = line[i++];
				continue;
			}
			size_t open = i++;
			for (;;) {
				if (i == len) {
					snprintf(err, errlen, "unterminated "
					    "quote starting at byte %zu",
					    open + 1);
					goto fail;
				}
				if (line[i] == '"') {
					i++;
					break;
				}
				if (line[i] == '\\' && i + 1 < len &&
				    (line[i + 1] == '"' || line[i + 1] == '\\'))
					i++;
				*d++ = line[i++];
			}
		}
		*d++ = '\0';
	}
	req->argv[req->argc] = NULL;
	if (req->argc == 0) {
		snprintf(err, errlen, "empty request; try \"help\"");
		goto fail;
	}
	return 0;
fail:
	control_request_free(req);
	return -1;
}

enum control_role
control_role_for(const struct config *cfg, uid_t self,
    const struct control_caller *who)
{
	const struct config_grouplist *ops = &cfg->control.operators;
	const struct config_grouplist *rd = &cfg->control.readers;

	if (who->uid == 0 || who->uid == self)
		return CONTROL_ROLE_OPERATOR;
	if (config_grouplist_has(ops, who->gid))
		return CONTROL_ROLE_OPERATOR;
	for (size_t i = 0; i < who->ngroups; i++)
		if (config_grouplist_has(ops, who->groups[i]))
			return CONTROL_ROLE_OPERATOR;
	if (config_grouplist_has(rd, who->gid))
		return CONTROL_ROLE_READER;
	for (size_t i = 0; i < who->ngroups; i++)
		if (config_grouplist_has(rd, who->groups[i]))
			return CONTROL_ROLE_READER;
	return CONTROL_ROLE_NONE;
}

/* ---- commands ------------------------------------------------------- */

int
control_register(struct control *ctl, const struct control_command *cmd)
{
	struct control_command *v;

	for (size_t i = 0; i < ctl->ncmds; i++)
		if (strcmp(ctl->cmds[i].name, cmd->name) == 0)
			fatalx("control: command \"%s\" registered twice",
			    cmd->name);
	v = realloc(ctl->cmds, (ctl->ncmds + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	ctl->cmds = v;
	ctl->cmds[ctl->ncmds++] = *cmd;
	return 0;
}

static int
control_cmd_help(void *arg, const struct control_caller *who, int argc,
    char **argv, struct json_buf *reply, char *err, size_t errlen)
{
	struct control *ctl = arg;

	json_kv_str(reply, "role", control_role_name(who->role));
	json_key(reply, "commands");
	json_array_begin(reply);
	for (size_t i = 0; i < ctl->ncmds; i++) {
		const struct control_command *c = &ctl->cmds[i];

		if (c->role > who->role)
			continue;
		json_object_begin(reply);
		json_kv_str(reply, "command", c->usage);
		json_kv_str(reply, "role", control_role_name(c->role));
		json_kv_str(reply, "help", c->help);
		json_object_end(reply);
	}
	json_array_end(reply);
	return 0;
}

static void
control_error_reply(struct json_buf *reply, const char *msg)
{
	json_reset(reply);
	json_object_begin(reply);
	json_kv_bool(reply, "ok", 0);
	json_kv_str(reply, "error", msg);
	json_object_end(reply);
}

void
control_execute(struct control *ctl, const struct control_caller *who,
    const char *line, size_t len, struct json_buf *reply)
{
	struct control_request req;
	const struct control_command *cmd = NULL;
	char err[CONTROL_ERR_MAX];

	json_reset(reply);
	err[0] = '\0';
	if (control_parse_line(line, len, &req, err, sizeof(err)) != 0) {
		control_error_reply(reply, err);
		return;
	}
	for (size_t i = 0; i < ctl->ncmds; i++)
		if (strcmp(ctl->cmds[i].name, req.argv[0]) == 0)
			cmd = &ctl->cmds[i];
	if (cmd == NULL) {
		snprintf(err, sizeof(err), "unknown command \"%.64s\"; try "
		    "\"help\"", req.argv[0]);
		control_error_reply(reply, err);
		goto out;
	}
	if (cmd->role > who->role) {
		snprintf(err, sizeof(err), "permission denied: \"%s\" needs "
		    "the %s role; uid %ld has the %s role", cmd->name,
		    control_role_name(cmd->role), (long)who->uid,
		    control_role_name(who->role));
		control_error_reply(reply, err);
		goto out;
	}
	if (cmd->role == CONTROL_ROLE_OPERATOR && ctl->audit != NULL) {
		char cmdline[CONTROL_ERR_MAX], msg[CONTROL_ERR_MAX + 64];
		size_t off = 0;

		/* The words as parsed: what will run, not how it was typed. */
		cmdline[0] = '\0';
		for (int i = 0; i < req.argc && off < sizeof(cmdline); i++) {
			int w = snprintf(cmdline + off, sizeof(cmdline) - off,
			    "%s%s", i ? " " : "", req.argv[i]);
			if (w < 0)
				break;
			off += (size_t)w;
		}
		if (ctl->audit(ctl->audit_arg, who, cmdline, err,
		    sizeof(err)) != 0) {
			snprintf(msg, sizeof(msg), "refused: %s", err);
			control_error_reply(reply, msg);
			goto out;
		}
	}
	json_object_begin(reply);
	json_kv_bool(reply, "ok", 1);
	if (cmd->fn(cmd->arg, who, req.argc, req.argv, reply, err,
	    sizeof(err)) != 0) {
		control_error_reply(reply, err[0] ? err : "command failed");
		goto out;
	}
	json_object_end(reply);
	if (reply->failed) {
		snprintf(err, sizeof(err), "reply larger than "
		    "control.max_response (%zu bytes)", reply->limit);
		control_error_reply(reply, err);
	}
out:
	control_request_free(&req);
}

/* ---- clients -------------------------------------------------------- */

static void
control_client_free(struct control_client *c)
{
	struct control *ctl = c->ctl;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ctl->nclients--;
	bufferevent_free(c->bev);
	free(c);
}

/* Stop reading; free the client once what is queued has been written. */
static void
control_client_close(struct control_client *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		control_client_free(c);
}

static void
control_client_send(struct control_client *c, const char *s, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add(out, s, len);
	evbuffer_add(out, "\n", 1);
}

static void
control_client_error(struct control_client *c, const char *msg)
{
	struct json_buf j;

	json_init(&j, 0);
	control_error_reply(&j, msg);
	if (!j.failed)
		control_client_send(c, j.s, j.len);
	json_free(&j);
}

static void
control_readcb(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;
	struct control *ctl = c->ctl;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t max = ctl->cfg->control.max_line;
	struct json_buf reply;

	json_init(&reply, ctl->cfg->control.max_response);
	while (!c->closing) {
		struct evbuffer *out = bufferevent_get_output(bev);
		struct evbuffer_ptr eol;
		size_t eol_len = 0;
		char msg[128];
		char *line;

		/*
		 * A client that sends requests but does not read the replies
		 * must not make us buffer without end: stop reading until
		 * its replies have been written (control_writecb resumes).
		 */
		if (evbuffer_get_length(out) > ctl->cfg->control.max_response) {
			c->paused = 1;
			bufferevent_disable(bev, EV_READ);
			log_debug("control: uid %ld reads its replies slowly; "
			    "pausing its requests", (long)c->who.uid);
			break;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) <= max)
				break;
			snprintf(msg, sizeof(msg), "request line longer than "
			    "%zu bytes", max);
			control_client_error(c, msg);
			control_client_close(c);
			break;
		}
		if ((size_t)eol.pos > max) {
			snprintf(msg, sizeof(msg), "request line longer than "
			    "%zu bytes", max);
			control_client_error(c, msg);
			control_client_close(c);
			break;
		}
		if ((line = malloc((size_t)eol.pos + 1)) == NULL) {
			control_client_error(c, "out of memory");
			control_client_close(c);
			break;
		}
		evbuffer_remove(in, line, (size_t)eol.pos);
		evbuffer_drain(in, eol_len);
		line[eol.pos] = '\0';
		control_execute(ctl, &c->who, line, (size_t)eol.pos, &reply);
		free(line);
		if (!reply.failed)
			control_client_send(c, reply.s, reply.len);
		else
			control_client_error(c, "out of memory");
	}
	json_free(&reply);
}

static void
control_writecb(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;

	if (c->closing) {
		control_client_free(c);
		return;
	}
	if (c->paused) {
		/* Output drained: take up the requests already received. */
		c->paused = 0;
		if (!c->eof)
			bufferevent_enable(bev, EV_READ);
		control_readcb(bev, c);
		if (c->eof && !c->paused && !c->closing)
			control_client_close(c);
	}
}

static void
control_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *c = arg;

	if (what & BEV_EVENT_EOF) {
		/*
		 * The client has said all it will say (e.g. a script that
		 * shut down its write side): answer what is complete, let
		 * the replies drain, then close.
		 */
		c->eof = 1;
		if (!c->paused)
			control_readcb(bev, c);
		if (!c->paused && !c->closing)
			control_client_close(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("control: closing idle client (uid %ld, pid %ld)",
		    (long)c->who.uid, (long)c->who.pid);
	else if (what & BEV_EVENT_ERROR)
		log_debug("control: client uid %ld: %s", (long)c->who.uid,
		    strerror(EVUTIL_SOCKET_ERROR()));
	/* Error or timeout: nothing more can be written. */
	control_client_free(c);
}

/*
 * Who is calling, and with which role. SO_PEERGROUPS answers ERANGE with
 * the size it needs when the caller has many groups; ask again with that
 * much room rather than deciding on a partial list.
 */
static int
control_peer_role(int fd, const struct config *cfg, struct control_caller *who)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t *groups = NULL;
	socklen_t glen = 64 * sizeof(gid_t);

	memset(who, 0, sizeof(*who));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return -1;
	who->uid = cred.uid;
	who->gid = cred.gid;
	who->pid = cred.pid;
	for (int tries = 0; tries < 4; tries++) {
		gid_t *g = realloc(groups, glen ? glen : sizeof(gid_t));

		if (g == NULL)
			goto fail;
		groups = g;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups,
		    &glen) == 0)
			break;
		if (errno != ERANGE)
			goto fail;
		/* glen now holds the size the kernel needs. */
	}
	who->groups = groups;
	who->ngroups = glen / sizeof(gid_t);
	who->role = control_role_for(cfg, geteuid(), who);
	free(groups);
	who->groups = NULL;
	who->ngroups = 0;
	return 0;
fail:
	free(groups);
	return -1;
}

/* Connections of this uid now (the new one included). */
static size_t
control_clients_of(const struct control *ctl, uid_t uid)
{
	size_t n = 0;

	for (const struct control_client *c = ctl->clients; c; c = c->next)
		if (c->who.uid == uid)
			n++;
	return n;
}

static void
control_acceptcb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control *ctl = arg;
	struct control_client *c;
	struct timeval tv;
	char msg[256];

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("control: accept");
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("control: cannot set up client");
		close(fd);
		free(c);
		return;
	}
	c->next = ctl->clients;
	if (ctl->clients != NULL)
		ctl->clients->prev = c;
	ctl->clients = c;
	ctl->nclients++;
	bufferevent_setcb(c->bev, control_readcb, control_writecb,
	    control_eventcb, c);
	tv.tv_sec = (time_t)(ctl->cfg->control.idle_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(ctl->cfg->control.idle_timeout_ms % 1000) *
	    1000;
	bufferevent_set_timeouts(c->bev, &tv, &tv);

	if (control_peer_role(fd, ctl->cfg, &c->who) != 0) {
		log_warn("control: cannot identify the caller");
		control_client_error(c, "cannot identify the caller");
		control_client_close(c);
		return;
	}
	if (c->who.role == CONTROL_ROLE_NONE) {
		log_warnx("control: refused uid %ld (pid %ld): not in "
		    "control.readers or control.operators", (long)c->who.uid,
		    (long)c->who.pid);
		snprintf(msg, sizeof(msg), "permission denied: uid %ld is not "
		    "a member of control.readers or control.operators",
		    (long)c->who.uid);
		control_client_error(c, msg);
		control_client_close(c);
		return;
	}
	/*
	 * Each uid gets its own share, so one reader cannot lock everybody
	 * out; operators are not held to the total, so an incident never
	 * finds the socket full.
	 */
	if (control_clients_of(ctl, c->who.uid) >
	    ctl->cfg->control.max_clients_per_uid) {
		log_warnx("control: refused uid %ld: already %llu connections "
		    "(control.max_clients_per_uid)", (long)c->who.uid,
		    (unsigned long long)ctl->cfg->control.max_clients_per_uid);
		snprintf(msg, sizeof(msg), "too many control connections for "
		    "uid %ld (%llu); close some and try again",
		    (long)c->who.uid,
		    (unsigned long long)ctl->cfg->control.max_clients_per_uid);
		control_client_error(c, msg);
		control_client_close(c);
		return;
	}
	if (c->who.role != CONTROL_ROLE_OPERATOR &&
	    ctl->nclients > ctl->cfg->control.max_clients) {
		log_warnx("control: refused uid %ld: already %zu clients "
		    "(control.max_clients)", (long)c->who.uid,
		    ctl->nclients - 1);
		snprintf(msg, sizeof(msg), "too many control clients (%llu); "
		    "try again later",
		    (unsigned long long)ctl->cfg->control.max_clients);
		control_client_error(c, msg);
		control_client_close(c);
		return;
	}
	log_debug("control: client uid %ld pid %ld role %s", (long)c->who.uid,
	    (long)c->who.pid, control_role_name(c->who.role));
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
control_errorcb(struct evconnlistener *lev, void *arg)
{
	/* EMFILE and friends: log, keep listening; clients retry. */
	log_warn("control: accept");
}

/* ---- the listening socket ------------------------------------------ */

/*
 * A socket file at path: connectable means another daemon owns it (never
 * touch it); refused means a crash left it behind (remove it).
 */
static int
control_clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "control.socket %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control.socket %s exists and is not a "
		    "socket; remove it or choose another path", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "control.socket %s is in use by a "
		    "running acgwd; stop it first", path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		snprintf(err, errlen, "control.socket %s: cannot tell whether "
		    "it is in use: %s", path, strerror(errno));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "control.socket %s: cannot remove stale "
		    "socket: %s", path, strerror(errno));
		return -1;
	}
	log_notice("control: removed stale socket %s", path);
	return 0;
}

static int
control_set_perms(const char *path, const struct config *cfg, char *err,
    size_t errlen)
{
	gid_t gid = cfg->control.group.name ? cfg->control.group.gid : getegid();
	struct stat st;

	/*
	 * chown only when the group differs: under systemd the socket is
	 * born with the right group, and the unit's system-call filter then
	 * never sees a chown.
	 */
	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "control.socket %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (st.st_gid != gid && chown(path, (uid_t)-1, gid) == -1) {
		snprintf(err, errlen, "control.socket %s: cannot give it to "
		    "group %s: %s", path, cfg->control.group.name ?
		    cfg->control.group.name : "(own)", strerror(errno));
		return -1;
	}
	if (chmod(path, cfg->control.mode) == -1) {
		snprintf(err, errlen, "control.socket %s: chmod: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
control_listen(struct control *ctl, const struct config *cfg,
    struct control_listener *out, char *err, size_t errlen)
{
	const char *path = cfg->control.socket;
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd = -1;

	memset(out, 0, sizeof(*out));
	if (control_clear_stale(path, err, errlen) != 0)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Born private; opened up only after chown, so nobody races in. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "control.socket %s: bind: %s", path,
		    strerror(errno));
		goto fail;
	}
	umask(old);
	if (control_set_perms(path, cfg, err, errlen) != 0 ||
	    stat(path, &st) == -1)
		goto fail_unlink;
	if (listen(fd, (int)cfg->control.max_clients) == -1) {
		snprintf(err, errlen, "control.socket %s: listen: %s", path,
		    strerror(errno));
		goto fail_unlink;
	}
	out->lev = evconnlistener_new(ctl->base, control_acceptcb, ctl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (out->lev == NULL) {
		snprintf(err, errlen, "control.socket %s: cannot listen",
		    path);
		goto fail_unlink;
	}
	evconnlistener_set_error_cb(out->lev, control_errorcb);
	if ((out->path = strdup(path)) == NULL) {
		evconnlistener_free(out->lev);
		out->lev = NULL;
		fd = -1;
		snprintf(err, errlen, "out of memory");
		goto fail_unlink;
	}
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	return 0;
fail_unlink:
	unlink(path);
fail:
	if (fd != -1)
		close(fd);
	return -1;
}

/* Closes the listener and removes its file if it is still ours. */
static void
control_unlisten(struct control_listener *l)
{
	struct stat st;

	if (l->lev != NULL)
		evconnlistener_free(l->lev);
	if (l->path != NULL && stat(l->path, &st) == 0 &&
	    st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(l->path);
	free(l->path);
	memset(l, 0, sizeof(*l));
}

struct control *
control_new(struct event_base *base, const struct config *cfg, char *err,
    size_t errlen)
{
	struct control *ctl;
	struct control_command help = {
		"help", CONTROL_ROLE_READER, "help",
		"list the commands your role may run", control_cmd_help, NULL,
	};

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctl->base = base;
	ctl->cfg = cfg;
	help.arg = ctl;
	if (control_register(ctl, &help) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (base != NULL && control_listen(ctl, cfg, &ctl->cur, err,
	    errlen) != 0)
		goto fail;
	return ctl;
fail:
	free(ctl->cmds);
	free(ctl);
	return NULL;
}

/* Is acgwd in group gid (so that it may chown a file it owns to it)? */
static int
control_in_group(gid_t gid)
{
	gid_t groups[256];
	int n;

	if (geteuid() == 0 || getegid() == gid)
		return 1;
	n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

int
control_prepare(struct control *ctl, const struct config *newcfg, char *err,
    size_t errlen)
{
	const struct config_group *g = &newcfg->control.group;
	struct stat st;

	control_abort(ctl);
	if (ctl->cur.lev == NULL ||
	    strcmp(ctl->cur.path, newcfg->control.socket) != 0)
		return ctl->cur.lev == NULL ? 0 :
		    control_listen(ctl, newcfg, &ctl->pending, err, errlen);
	/*
	 * Same socket: its group and mode change at commit, which must not
	 * fail, so refuse here what the kernel would refuse there.
	 */
	if (g->name != NULL && stat(ctl->cur.path, &st) == 0 &&
	    st.st_gid != g->gid && !control_in_group(g->gid)) {
		snprintf(err, errlen, "control.group %s: acgwd (uid %ld) is not "
		    "a member, so it cannot give %s to it", g->name,
		    (long)geteuid(), ctl->cur.path);
		return -1;
	}
	return 0;
}

void
control_commit(struct control *ctl, const struct config *newcfg)
{
	char err[CONTROL_ERR_MAX];

	ctl->cfg = newcfg;
	if (ctl->pending.lev != NULL) {
		log_notice("control: now listening on %s (was %s)",
		    ctl->pending.path, ctl->cur.path);
		control_unlisten(&ctl->cur);
		ctl->cur = ctl->pending;
		memset(&ctl->pending, 0, sizeof(ctl->pending));
		return;
	}
	if (ctl->cur.path != NULL &&
	    control_set_perms(ctl->cur.path, newcfg, err, sizeof(err)) != 0)
		log_warnx("control: %s", err);
}

void
control_abort(struct control *ctl)
{
	if (ctl->pending.lev != NULL)
		control_unlisten(&ctl->pending);
}

void
control_shutdown(struct control *ctl)
{
	struct control_client *c, *next;

	ctl->shutting_down = 1;
	control_abort(ctl);
	control_unlisten(&ctl->cur);
	for (c = ctl->clients; c != NULL; c = next) {
		next = c->next;
		control_client_close(c);
	}
}

void
control_set_audit(struct control *ctl, control_audit_fn fn, void *arg)
{
	ctl->audit = fn;
	ctl->audit_arg = arg;
}

size_t
control_nclients(const struct control *ctl)
{
	return ctl->nclients;
}

void
control_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	control_abort(ctl);
	control_unlisten(&ctl->cur);
	while (ctl->clients != NULL)
		control_client_free(ctl->clients);
	free(ctl->cmds);
	free(ctl);
}
