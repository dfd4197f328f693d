/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "core.h"
#include "xml.h"

/* Whatever asks for an external entity or DTD gets nothing: no file, no network. */
static xmlParserInputPtr refuse_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	return NULL;
}

/* libxml2 prints to stderr by default; our callers report errors themselves. */
static void silent_structured(void *arg, xmlErrorPtr e)
{
}

void xml_guard_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	xmlInitParser();
	xmlSetExternalEntityLoader(refuse_loader);
	xmlSetStructuredErrorFunc(NULL, silent_structured);
}

/* Strip the trailing newline libxml2 puts on messages. */
static void copy_msg(char *err, size_t errlen, int line, const char *msg)
{
	size_t n;

	snprintf(err, errlen, "%d: %s", line, msg ? msg : "parse error");
	utf8_trim_partial(err); /* messages quote input, and end up in replies */
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

xmlDocPtr xml_parse_untrusted(const char *buf, size_t len, char *err, size_t errlen)
{
	/* Never NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE or HUGE (notes/libraries.md). */
	const int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;

	xml_guard_init();
	if (len > INT32_MAX) {
		snprintf(err, errlen, "0: document too large");
		return NULL;
	}
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		snprintf(err, errlen, "0: out of memory");
		return NULL;
	}
	doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, "UTF-8", opts);
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		doc = NULL;
		snprintf(err, errlen, "%d: a DOCTYPE is not allowed", 1);
	} else if (!doc || !ctxt->wellFormed) {
		xmlErrorPtr e = xmlCtxtGetLastError(ctxt);

		xmlFreeDoc(doc);
		doc = NULL;
		copy_msg(err, errlen, e ? e->line : 0, e ? e->message : NULL);
	}
	xmlFreeParserCtxt(ctxt);
	return doc;
}

xmlSchemaPtr xml_schema_compile(const char *xsd, size_t len)
{
	xmlSchemaParserCtxtPtr pctxt;
	xmlSchemaPtr schema;

	xml_guard_init();
	pctxt = xmlSchemaNewMemParserCtxt(xsd, (int)len);
	if (!pctxt)
		return NULL;
	xmlSchemaSetParserStructuredErrors(pctxt, silent_structured, NULL);
	schema = xmlSchemaParse(pctxt);
	xmlSchemaFreeParserCtxt(pctxt);
	return schema;
}

struct first_error {
	char *buf;
	size_t len;
	bool set;
};

static void keep_first(void *arg, xmlErrorPtr e)
{
	struct first_error *fe = arg;

	if (fe->set || !e)
		return;
	fe->set = true;
	copy_msg(fe->buf, fe->len, e->line, e->message);
}

int xml_schema_check(xmlSchemaValidCtxtPtr vctxt, xmlDocPtr doc, char *err, size_t errlen)
{
	struct first_error fe = { err, errlen, false };
	int r;

	xmlSchemaSetValidStructuredErrors(vctxt, keep_first, &fe);
	r = xmlSchemaValidateDoc(vctxt, doc);
	xmlSchemaSetValidStructuredErrors(vctxt, silent_structured, NULL);
	if (r == 0)
		return 0;
	if (!fe.set)
		snprintf(err, errlen, "0: does not match the schema");
	return -EINVAL;
}
