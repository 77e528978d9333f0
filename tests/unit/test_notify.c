/* Unit tests for notify: the sd_notify datagrams acgwd sends. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "acgw/notify.h"
#include "../lib/testlib.h"

START_TEST(path_socket)
{
	char *dir = tl_tmpdir();
	char *path = tl_path(dir, "notify");
	int fd = tl_notify_listen(path);
	struct notify *n;
	char *m;

	setenv("NOTIFY_SOCKET", path, 1);
	unsetenv("WATCHDOG_USEC");
	n = notify_open();
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(notify_ready(n, "running"), 0);
	m = tl_notify_recv(fd, 1000);
	ck_assert_str_eq(m, "READY=1\nSTATUS=running");
	free(m);
	ck_assert_int_eq(notify_reloading(n), 0);
	m = tl_notify_recv(fd, 1000);
	ck_assert_ptr_nonnull(m);
	ck_assert_msg(strncmp(m, "RELOADING=1\nSTATUS=reloading configuration\n"
	    "MONOTONIC_USEC=", 58) == 0, "got %s", m);
	free(m);
	notify_stopping(n);
	m = tl_notify_recv(fd, 1000);
	ck_assert_str_eq(m, "STOPPING=1\nSTATUS=stopping");
	free(m);
	notify_watchdog(n);
	m = tl_notify_recv(fd, 1000);
	ck_assert_str_eq(m, "WATCHDOG=1");
	free(m);
	notify_status(n, "5 peers");
	m = tl_notify_recv(fd, 1000);
	ck_assert_str_eq(m, "STATUS=5 peers");
	free(m);
	ck_assert_uint_eq(notify_watchdog_usec(n), 0);
	notify_close(n);
	close(fd);
	tl_rmrf(dir);
	free(path);
	free(dir);
}
END_TEST

START_TEST(abstract_socket)
{
	struct sockaddr_un sun;
	char name[64];
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct notify *n;
	char *m;

	snprintf(name, sizeof(name), "@acgw-test-%ld", (long)getpid());
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, name + 1, strlen(name) - 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(name))), 0);
	setenv("NOTIFY_SOCKET", name, 1);
	n = notify_open();
	ck_assert_int_eq(notify_ready(n, "x"), 0);
	m = tl_notify_recv(fd, 1000);
	ck_assert_str_eq(m, "READY=1\nSTATUS=x");
	free(m);
	notify_close(n);
	close(fd);
}
END_TEST

START_TEST(watchdog_env)
{
	struct notify *n;
	char pid[32];

	unsetenv("NOTIFY_SOCKET");
	setenv("WATCHDOG_USEC", "30000000", 1);
	unsetenv("WATCHDOG_PID");
	n = notify_open();
	ck_assert_uint_eq(notify_watchdog_usec(n), 30000000);
	/* Without a socket every call is a harmless no-op. */
	ck_assert_int_eq(notify_ready(n, "x"), 0);
	notify_close(n);

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	n = notify_open();
	ck_assert_uint_eq(notify_watchdog_usec(n), 30000000);
	notify_close(n);

	setenv("WATCHDOG_PID", "1", 1);		/* somebody else's */
	n = notify_open();
	ck_assert_uint_eq(notify_watchdog_usec(n), 0);
	notify_close(n);

	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "30s", 1);	/* garbage */
	n = notify_open();
	ck_assert_uint_eq(notify_watchdog_usec(n), 0);
	notify_close(n);
	unsetenv("WATCHDOG_USEC");
}
END_TEST

START_TEST(bad_socket_path)
{
	struct notify *n;

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	n = notify_open();
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(notify_ready(n, "x"), 0);	/* ignored, logged */
	notify_close(n);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tl_tcase(s, "core", 0);

	tcase_add_test(tc, path_socket);
	tcase_add_test(tc, abstract_socket);
	tcase_add_test(tc, watchdog_env);
	tcase_add_test(tc, bad_socket_path);
	return tl_run_suite(s);
}
