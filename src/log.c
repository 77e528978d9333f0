/*
 * log — stderr or syslog, one line per message.
 *
 * Format on stderr: "2026-11-21T23:59:22.123456Z acgwd[123]: warning: text".
 * When stderr is the journal (JOURNAL_STREAM names our stderr) the line
 * carries a "<N>" priority prefix instead of a time stamp, so journald
 * keeps the level and does not store the time twice.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "acgw/log.h"

static const char *log_ident = "acgw";
static enum log_target log_target = LOG_TARGET_STDERR;
static enum log_level log_threshold = LOG_LEVEL_INFO;
static int log_journal;

static const struct {
	const char *name;
	int syslog_prio;
} log_levels[] = {
	[LOG_LEVEL_ERROR] = { "error", LOG_ERR },
	[LOG_LEVEL_WARNING] = { "warning", LOG_WARNING },
	[LOG_LEVEL_NOTICE] = { "notice", LOG_NOTICE },
	[LOG_LEVEL_INFO] = { "info", LOG_INFO },
	[LOG_LEVEL_DEBUG] = { "debug", LOG_DEBUG },
};

/* True when JOURNAL_STREAM ("dev:ino") names the file on our stderr. */
static int
log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *ident, enum log_target target, enum log_level level)
{
	log_ident = ident;
	log_threshold = level;
	if (log_target == LOG_TARGET_SYSLOG && target != LOG_TARGET_SYSLOG)
		closelog();
	log_target = target;
	if (target == LOG_TARGET_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_journal = log_stderr_is_journal();
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level
log_get_level(void)
{
	return log_threshold;
}

int
log_level_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (strcmp(name, log_levels[i].name) == 0)
			return (int)i;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level >= sizeof(log_levels) / sizeof(log_levels[0]))
		return "unknown";
	return log_levels[level].name;
}

static void log_emit(enum log_level level, int errnum, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

static void
log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[2048];
	int n;

	if (level > log_threshold)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
		    strerror(errnum));
	/* One message is one line: fold embedded newlines. */
	for (char *p = msg; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	if (log_target == LOG_TARGET_SYSLOG) {
		syslog(log_levels[level].syslog_prio, "%s: %s",
		    log_levels[level].name, msg);
		return;
	}
	if (log_journal) {
		fprintf(stderr, "<%d>%s: %s\n", log_levels[level].syslog_prio,
		    log_levels[level].name, msg);
		return;
	}

	struct timespec ts;
	struct tm tm;
	char stamp[40];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%06ldZ %s[%ld]: %s: %s\n", stamp,
	    ts.tv_nsec / 1000, log_ident, (long)getpid(),
	    log_levels[level].name, msg);
}

#define LOG_FN(fn, level, witherr)                                   \
	void fn(const char *fmt, ...)                                \
	{                                                            \
		int saved = errno;                                   \
		va_list ap;                                          \
		va_start(ap, fmt);                                   \
		log_emit(level, (witherr) ? saved : 0, fmt, ap);     \
		va_end(ap);                                          \
		errno = saved;                                       \
	}

LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_notice, LOG_LEVEL_NOTICE, 0)
LOG_FN(log_warn, LOG_LEVEL_WARNING, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARNING, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
