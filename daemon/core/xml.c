/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

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

/* Length of the XML character starting at @p s, of at most @p left bytes, if it is
 * one, else 0 (NUL included). */
static size_t xml_char_len(const unsigned char *s, size_t left)
{
	uint32_t c;
	size_t n;

	if (s[0] < 0x80)
		n = 1, c = s[0];
	else if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, beyond U+10FFFF, surrogates, then XML 1.0 §2.2 Char. */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff) || c == 0xfffe || c == 0xffff)
		return 0;
	if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
		return 0;
	return n;
}

/*
 * \p{Cc} also holds the C1 controls U+0080-U+009F, in UTF-8 0xC2 0x80-0x9F, which XML
 * itself allows (fuzz-tunnel-event found a Request-URI with one).
 */
bool xml_uri_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0, scheme = s ? strspn(s, "abcdefghijklmnopqrstuvwxyz"
							"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-") : 0;

	if (n == 0 || n > 1024 || scheme == 0 || s[scheme] != ':' || !s[scheme + 1] ||
	    !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' ||
		    (c == 0xc2 && (unsigned char)s[i + 1] >= 0x80 &&
		     (unsigned char)s[i + 1] <= 0x9f))
			return false;
	}
	return xml_text_ok(s, n);
}

bool xml_text_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;

	for (size_t i = 0; i < n; i += len)
		if (!(len = xml_char_len(p + i, n - i)))
			return false;
	return true;
}

void xml_text_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		/* no bound needed: a continuation byte is never the terminating NUL */
		size_t n = xml_char_len(p, SIZE_MAX);

		if (n)
			p += n;
		else
			*p++ = '?';
	}
}

/* Strip the trailing newline libxml2 puts on messages. */
static void copy_msg(char *err, size_t errlen, int line, const char *msg)
{
	size_t n;

	snprintf(err, errlen, "%d: %s", line, msg ? msg : "parse error");
	xml_text_sanitize(err); /* messages quote raw input, and end up in replies */
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

/* One parser context serves every message: creating one costs more than parsing a
 * small request. Its dictionary keeps every name it has seen, so a peer sending new
 * names forever would grow it: past a bound the context is replaced. */
#define PARSER_DICT_MAX 4096

static xmlParserCtxtPtr shared_ctxt;

static xmlParserCtxtPtr parser_ctxt(void)
{
	if (shared_ctxt && xmlDictSize(shared_ctxt->dict) > PARSER_DICT_MAX) {
		xmlFreeParserCtxt(shared_ctxt);
		shared_ctxt = NULL;
	}
	if (!shared_ctxt)
		shared_ctxt = xmlNewParserCtxt();
	return shared_ctxt;
}

void xml_guard_done(void)
{
	xmlFreeParserCtxt(shared_ctxt);
	shared_ctxt = NULL;
}

xmlDocPtr xml_parse_untrusted(const char *buf, size_t len, char *err, size_t errlen)
{
	/* Never NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE or HUGE (notes/libraries.md).
	 * NOBLANKS: "<Status>\n</Status>" is as empty as "<Status/>" to the schema. */
	const int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
			 XML_PARSE_NOBLANKS;
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;

	xml_guard_init();
	if (len > INT32_MAX) {
		snprintf(err, errlen, "0: document too large");
		return NULL;
	}
	ctxt = parser_ctxt();
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
