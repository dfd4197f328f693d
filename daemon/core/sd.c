/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* systemd notifications; harmless without systemd (sd_notify is a no-op then). */
#include "config.h"

#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "core.h"

void sd_notifyf_safe(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r = sd_notify(0, buf);
	if (r < 0)
		log_debug("sd_notify(%s) failed: %s", buf, strerror(-r));
}
