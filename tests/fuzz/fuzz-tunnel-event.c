/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the `tunnel` events built from SIP messages a peer sent
 * (daemon/tunnel/event.c): whatever libosip2 parses, as an inbound request for a
 * listener or as a response to a tunnelled request, must serialise to one line that
 * parses again and validates against sipsvc.xsd, as every client expects.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xml.h"
#include "tunnel/tunnel-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static xmlSchemaValidCtxtPtr vctxt;

static void check_valid(xmlNodePtr ev)
{
	char *line = NULL, err[512];
	size_t len = 0;
	xmlDocPtr doc;

	if (!ev)
		return; /* out of memory only */
	if (xml_serialise(ev, 0, &line, &len) < 0)
		abort();
	xmlFreeNode(ev);
	doc = xml_parse_untrusted(line, len - 1, err, sizeof(err));
	if (!doc || xml_schema_check(vctxt, doc, err, sizeof(err)) < 0) {
		fprintf(stderr, "invalid event: %s\n%.*s\n", err, (int)len, line);
		abort();
	}
	xmlFreeDoc(doc);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct origin o = { .conn = 1, .ref = "r1" };
	osip_message_t *m = NULL;
	char *buf;

	if (!vctxt) {
		xmlSchemaPtr schema;

		log_set_level(LOG_LEVEL_EMERG);
		xml_guard_init();
		parser_init();
		schema = xml_schema_compile(sipsvc_xsd, sipsvc_xsd_len);
		vctxt = schema ? xmlSchemaNewValidCtxt(schema) : NULL;
		if (!vctxt)
			abort();
	}
	if (size > 65536 || !(buf = malloc(size + 1)))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (osip_message_init(&m) == 0 && osip_message_parse(m, buf, size) == 0) {
		if (MSG_IS_REQUEST(m) && m->sip_method)
			check_valid(tunnel_request_event(&o, "x1.00000000000000ff", m));
		else if (MSG_IS_RESPONSE(m))
			check_valid(tunnel_response_event(&o, m->status_code, m, "c1", "device"));
	}
	osip_message_free(m);
	free(buf);
	return 0;
}
