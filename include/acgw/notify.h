/*
 * notify — the systemd notification protocol (sd_notify(3)), spoken by
 * hand over the NOTIFY_SOCKET datagram socket: READY, RELOADING,
 * STOPPING, STATUS and WATCHDOG keepalives. Without NOTIFY_SOCKET every
 * call is a no-op, so acgwd runs the same under systemd and by hand.
 */
#ifndef ACGW_NOTIFY_H
#define ACGW_NOTIFY_H

#include <stdint.h>

struct notify;

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment. */
struct notify *notify_open(void);
void notify_close(struct notify *n);

/* Sends one state block, e.g. "READY=1\nSTATUS=running". 0 or -1. */
int notify_send(struct notify *n, const char *state);
int notify_ready(struct notify *n, const char *status);
int notify_reloading(struct notify *n);
int notify_stopping(struct notify *n);
int notify_status(struct notify *n, const char *status);
int notify_watchdog(struct notify *n);

/* The watchdog timeout systemd asked for (µs), 0 if none. */
uint64_t notify_watchdog_usec(const struct notify *n);

#endif
