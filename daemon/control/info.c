/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <Status/> and <Devices/>. */
#include "config.h"

#include "control/control-private.h"

/* Contributors add children in their registration order; sipsvc.xsd fixes this one. */
static void order_children(xmlNodePtr st)
{
	static const char *const order[] = { "Control", "Sip", "Counts", "Overlay", "Registration" };

	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		xmlNodePtr n = st->children, next, last = st->last;

		for (bool done = !n; !done; n = next) {
			next = n->next;
			done = n == last;
			if (xmlStrEqual(n->name, BAD_CAST order[i])) {
				xmlUnlinkNode(n);
				xmlAddChild(st, n);
			}
		}
	}
}

xmlNodePtr handle_status(struct request *req)
{
	xmlNodePtr ok = reply_ok(req), st;

	if (!ok)
		return NULL;
	st = xmlNewChild(ok, NULL, BAD_CAST "Status", NULL);
	if (!st) {
		xmlFreeNode(ok);
		return NULL;
	}
	status_fill(st);
	order_children(st);
	return ok;
}

static int add_device(xmlNodePtr ok, const struct config_device *d, const struct config *cfg)
{
	xmlNodePtr n = xmlNewChild(ok, NULL, BAD_CAST "Device", NULL);
	bool dflt = d == config_default_device(cfg);

	if (!n || !xmlNewProp(n, BAD_CAST "id", BAD_CAST d->id) ||
	    !xmlNewProp(n, BAD_CAST "wrapper", BAD_CAST d->wrapper) ||
	    !xmlNewProp(n, BAD_CAST "mode", BAD_CAST device_mode_to_string(d->mode)) ||
	    (d->uri && !xmlNewProp(n, BAD_CAST "uri", BAD_CAST d->uri)) ||
	    !xmlNewProp(n, BAD_CAST "default", BAD_CAST(dflt ? "true" : "false")) ||
	    /* Wrappers, which know whether a device is reachable, come with the calls issue. */
	    !xmlNewProp(n, BAD_CAST "available", BAD_CAST "unknown"))
		return -1;
	return 0;
}

xmlNodePtr handle_devices(struct request *req)
{
	const struct config *cfg = req->ctl->cfg;
	xmlNodePtr ok = reply_ok(req);

	for (size_t i = 0; ok && i < cfg->n_devices; i++)
		if (add_device(ok, &cfg->devices[i], cfg) < 0) {
			xmlFreeNode(ok);
			return NULL;
		}
	return ok;
}
