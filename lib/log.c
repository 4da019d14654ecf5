/*
 * Leveled logging to stderr (the journal picks it up under systemd).
 * Callers prefix messages with __func__ at the point of failure.
 *
 * Every message is one line whatever it carries: names, paths and error
 * texts from clients and upstreams reach the log, so control bytes are
 * written as \xNN (a forged line or a terminal escape cannot get in), and
 * a message is cut at LOG_LINE_MAX.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib.h"

#define LOG_LINE_MAX	4096

static enum log_level log_level = LOG_LEVEL_INFO;

static const char *log_names[] = { "error", "warn", "info", "debug" };

void
log_set_level(enum log_level level)
{
	log_level = level;
}

int
log_parse_level(const char *name, enum log_level *level)
{
	size_t	i;

	for (i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char		 stamp[32], msg[LOG_LINE_MAX], out[4 * LOG_LINE_MAX + 8];
	struct tm	 tm;
	time_t		 now;
	size_t		 i, o = 0;
	int		 n;

	if (level > log_level)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	for (i = 0; msg[i] != '\0'; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	fprintf(stderr, "%s pullgate[%s] %s%s\n", stamp, log_names[level], out,
	    n >= (int)sizeof msg ? "..." : "");
}

#define LOG_FUNCTION(name, level)		\
void						\
name(const char *fmt, ...)			\
{						\
	va_list	ap;				\
						\
	va_start(ap, fmt);			\
	log_vwrite(level, fmt, ap);		\
	va_end(ap);				\
}

LOG_FUNCTION(log_error, LOG_LEVEL_ERROR)
LOG_FUNCTION(log_warn, LOG_LEVEL_WARN)
LOG_FUNCTION(log_info, LOG_LEVEL_INFO)
LOG_FUNCTION(log_debug, LOG_LEVEL_DEBUG)

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
