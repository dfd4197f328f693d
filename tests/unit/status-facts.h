/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What sipsvcd's main.c contributes to <Status/> (sipsvc.xsd requires it), for the
 * unit tests and fuzz targets that run the control layer without main.c. Register it
 * with the config whose runtime directory it names. */
#ifndef SIPSVC_TESTS_STATUS_FACTS_H
#define SIPSVC_TESTS_STATUS_FACTS_H

#include "core/core.h"

static inline void status_facts(struct xml_writer *w, enum status_part part, void *arg)
{
	const struct config *cfg = arg;

	if (part != STATUS_ATTRS)
		return;
	xml_attrf(w, "version", "%s", PACKAGE_VERSION);
	xml_attrf(w, "pid", "%d", 1);
	xml_attrf(w, "uptime", "%.3f", 0.0);
	xml_attrf(w, "log-level", "%s", log_level_to_string(log_get_level()));
	xml_attrf(w, "state-dir", "%s", "/nonexistent/state");
	xml_attrf(w, "runtime-dir", "%s", cfg->runtime_dir);
}

#endif
