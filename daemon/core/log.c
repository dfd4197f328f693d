/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging: one line per event on stderr, prefixed "<N>" so journald keeps the severity. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "xml.h"

static enum log_level max_level = LOG_LEVEL_INFO;
static log_tap_h *tap;
static void *tap_arg;
static bool in_tap; /* a tap that logs must not recurse */

static const char *const level_names[_LOG_LEVEL_MAX] = {
    [LOG_LEVEL_EMERG] = "emerg", [LOG_LEVEL_ALERT] = "alert",	  [LOG_LEVEL_CRIT] = "crit",
    [LOG_LEVEL_ERR] = "err",	 [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
    [LOG_LEVEL_INFO] = "info",	 [LOG_LEVEL_DEBUG] = "debug",
};

const char *log_level_to_string(enum log_level l)
{
	return l >= 0 && l < _LOG_LEVEL_MAX ? level_names[l] : NULL;
}

enum log_level log_level_from_string(const char *s)
{
	for (int i = 0; s && i < _LOG_LEVEL_MAX; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return _LOG_LEVEL_INVALID;
}

void log_set_level(enum log_level l)
{
	if (l >= 0 && l < _LOG_LEVEL_MAX)
		max_level = l;
}

enum log_level log_get_level(void)
{
	return max_level;
}

void log_set_tap(log_tap_h *h, void *arg)
{
	tap = h;
	tap_arg = arg;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (l > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	xml_text_sanitize(line); /* the line also goes to clients as a `log` event */
	/* One line per event: a newline inside would split it in the journal. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "<%d>%s\n", (int)l, line);
	if (tap && !in_tap) {
		in_tap = true;
		tap(l, line, tap_arg);
		in_tap = false;
	}
}

/*
 * Messages an outsider can cause at will (a refused connection, garbage on a socket)
 * would let anyone fill the journal: LOG_LIMIT_BURST lines per LOG_LIMIT_PERIOD and
 * call site, then silence, then one line counting what was left out.
 */
bool log_limit_pass(struct log_limit *l)
{
	struct timespec ts;
	double now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	if (l->n == 0 || now - l->start >= LOG_LIMIT_PERIOD) {
		if (l->suppressed)
			log_msg(LOG_LEVEL_NOTICE,
				"log: %u more lines like the one before were left out "
				"in %d s",
				l->suppressed, LOG_LIMIT_PERIOD);
		l->start = now;
		l->n = 0;
		l->suppressed = 0;
	}
	if (l->n < LOG_LIMIT_BURST) {
		l->n++;
		return true;
	}
	l->suppressed++;
	return false;
}
