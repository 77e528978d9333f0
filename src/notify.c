/*
 * notify — sd_notify by hand.
 *
 * Why not libsystemd: the protocol is one datagram of "KEY=VALUE" lines
 * to a UNIX socket, and a DMZ daemon gains nothing from linking a large
 * library (and its dependencies) for it. Abstract socket names ("@...")
 * are supported as systemd uses them.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "acgw/log.h"
#include "acgw/notify.h"

struct notify {
	int fd;
	struct sockaddr_un sun;
	socklen_t sunlen;
	uint64_t watchdog_usec;
};

static uint64_t
notify_env_u64(const char *name)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	return v;
}

struct notify *
notify_open(void)
{
	struct notify *n;
	const char *path = getenv("NOTIFY_SOCKET");
	size_t plen;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->fd = -1;

	/* The watchdog is ours only if WATCHDOG_PID is unset or is us. */
	uint64_t wpid = notify_env_u64("WATCHDOG_PID");
	if (wpid == 0 || wpid == (uint64_t)getpid())
		n->watchdog_usec = notify_env_u64("WATCHDOG_USEC");

	if (path == NULL || *path == '\0')
		return n;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    plen >= sizeof(n->sun.sun_path)) {
		log_warnx("NOTIFY_SOCKET \"%s\" is not a usable socket path; "
		    "not notifying systemd", path);
		return n;
	}
	n->sun.sun_family = AF_UNIX;
	memcpy(n->sun.sun_path, path, plen);
	if (path[0] == '@')
		n->sun.sun_path[0] = '\0';
	n->sunlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd == -1)
		log_warn("notify socket");
	return n;
}

void
notify_close(struct notify *n)
{
	if (n == NULL)
		return;
	if (n->fd != -1)
		close(n->fd);
	free(n);
}

int
notify_send(struct notify *n, const char *state)
{
	ssize_t r;

	if (n == NULL || n->fd == -1)
		return 0;
	do
		/* Never block the loop on a full queue (systemd drains it). */
		r = sendto(n->fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
		    (struct sockaddr *)&n->sun, n->sunlen);
	while (r == -1 && errno == EINTR);
	if (r == -1) {
		log_warn("notify systemd (%.40s)", state);
		return -1;
	}
	return 0;
}

int
notify_ready(struct notify *n, const char *status)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	return notify_send(n, buf);
}

int
notify_reloading(struct notify *n)
{
	struct timespec ts;
	char buf[128];

	/* MONOTONIC_USEC lets systemd >= 253 match READY=1 to this reload. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof(buf),
	    "RELOADING=1\nSTATUS=reloading configuration\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	return notify_send(n, buf);
}

int
notify_stopping(struct notify *n)
{
	return notify_send(n, "STOPPING=1\nSTATUS=stopping");
}

int
notify_status(struct notify *n, const char *status)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "STATUS=%s", status);
	return notify_send(n, buf);
}

int
notify_watchdog(struct notify *n)
{
	return notify_send(n, "WATCHDOG=1");
}

uint64_t
notify_watchdog_usec(const struct notify *n)
{
	return n ? n->watchdog_usec : 0;
}
