/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <Status/> and <Devices/>. */
#include "config.h"

#include "control/control-private.h"
#include "core/xml.h"
#include "device/device.h"

/* The most frequent request (status bars poll it): written as text, without a tree,
 * which cost two thirds of its time. */
xmlNodePtr handle_status(struct request *req)
{
	struct xml_writer w;

	if (reply_writer_ok(req, &w) < 0)
		return NULL;
	status_write(&w);
	reply_writer_send(req, &w);
	return NULL;
}

static const char *availability(const struct device *d)
{
	int a = device_available(d);

	return a > 0 ? "true" : a == 0 ? "false" : "unknown";
}

static int add_device(xmlNodePtr ok, const struct device *d)
{
	xmlNodePtr n = xmlNewChild(ok, NULL, BAD_CAST "Device", NULL);

	if (!n || !xmlNewProp(n, BAD_CAST "id", BAD_CAST device_id(d)) ||
	    !xmlNewProp(n, BAD_CAST "wrapper", BAD_CAST device_wrapper(d)) ||
	    !xmlNewProp(n, BAD_CAST "mode", BAD_CAST device_mode_to_string(device_mode(d))) ||
	    (device_uri(d) && !xmlNewProp(n, BAD_CAST "uri", BAD_CAST device_uri(d))) ||
	    !xmlNewProp(n, BAD_CAST "default", BAD_CAST(device_is_default(d) ? "true" : "false")) ||
	    !xmlNewProp(n, BAD_CAST "available", BAD_CAST availability(d)))
		return -1;
	return 0;
}

xmlNodePtr handle_devices(struct request *req)
{
	struct device_table *t = req->ctl->devices;
	xmlNodePtr ok = reply_ok(req);
	size_t n = t ? device_table_count(t) : 0;

	for (size_t i = 0; ok && i < n; i++)
		if (add_device(ok, device_table_get(t, i)) < 0) {
			xmlFreeNode(ok);
			return NULL;
		}
	return ok;
}
