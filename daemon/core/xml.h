/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file xml.h
 * Safe use of libxml2 on untrusted input (notes/libraries.md "libxml2 on untrusted
 * input"): no DTD, no entity expansion, no network or file access, errors captured
 * instead of printed. Shared by the config loader and the control protocol.
 */
#ifndef SIPSVC_CORE_XML_H
#define SIPSVC_CORE_XML_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

/** Install the global guards (entity loader that refuses, silent error handlers). Idempotent. */
void xml_guard_init(void);
/** Free the shared parser context (at exit, for leak checkers). */
void xml_guard_done(void);
/**
 * Parse @p len bytes of UTF-8 as a standalone document. Refuses any DTD.
 * Returns the document, or NULL with a message "LINE: problem" in @p err.
 */
xmlDocPtr xml_parse_untrusted(const char *buf, size_t len, char *err, size_t errlen);
/* ---- xmlwrite.c: XML out ---------------------------------------------------- */

#define XML_WRITER_DEPTH 8

/**
 * XML written as text element by element, without a tree: for replies asked often
 * (<Status/>: a libxml2 tree of its ~70 attributes cost two thirds of the request).
 * Calls after an error are no-ops; xml_writer_finish() reports it.
 */
struct xml_writer {
	char *buf;
	size_t len, cap;
	bool oom;                              /* out of memory */
	bool bad;                              /* misuse: unbalanced, attribute after content */
	bool in_tag;                           /* attributes may still follow */
	unsigned depth;
	const char *open[XML_WRITER_DEPTH];    /* names of open elements (not copied) */
};

/** Start a buffer with @p head bytes reserved before the XML. 0 or -ENOMEM. */
int xml_writer_init(struct xml_writer *w, size_t head);
/** Open element @p name (a string that lives until its xml_end()). */
void xml_begin(struct xml_writer *w, const char *name);
/** An attribute of the element just opened, escaped for a double-quoted value. */
void xml_attr(struct xml_writer *w, const char *name, const char *value);
/** xml_attr() with a printf format. */
void xml_attrf(struct xml_writer *w, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** Text content of the open element, escaped. */
void xml_text(struct xml_writer *w, const char *text);
/** Close the innermost open element ("/>" if it has no content). */
void xml_end(struct xml_writer *w);
/**
 * Add the final '\n' (and a NUL after it) and hand the buffer over (with its head) in *@p ret, the length
 * after the head in *@p ret_len. -ENOMEM, or -EINVAL if elements were left open or
 * misused; the buffer is then freed.
 */
int xml_writer_finish(struct xml_writer *w, size_t head, char **ret, size_t *ret_len);
/** Free an unfinished writer's buffer. */
void xml_writer_free(struct xml_writer *w);

/**
 * Serialise @p n (elements, attributes and text only: the trees we build) as one line
 * of XML into a new malloc'd buffer, with @p head bytes reserved before it and a '\n'
 * after it. Newlines in text become "&#10;"; control characters XML cannot carry
 * become U+FFFD. *ret_len counts the XML and the newline, not @p head.
 * Returns 0 or -ENOMEM.
 */
int xml_serialise(xmlNodePtr n, size_t head, char **ret, size_t *ret_len);
/**
 * Make @p s fit for XML text: every byte that is not part of a character XML 1.0
 * allows (§2.2: valid UTF-8, no C0 control but tab, LF and CR, no surrogates, no
 * U+FFFE/U+FFFF) becomes '?'. For text that quotes input (libxml2 messages show raw
 * bytes) or was cut by snprintf() inside a character.
 */
void xml_text_sanitize(char *s);
/**
 * Whether the @p n bytes at @p s are text XML 1.0 carries as it is (§2.2: valid UTF-8
 * of its Char set, no NUL): what xml_text_sanitize() would leave unchanged.
 */
bool xml_text_ok(const char *s, size_t n);
/**
 * Whether @p s is a URI that sipsvc.xsd's Uri type takes: scheme ":" rest, at most
 * 1024 bytes of valid UTF-8 without whitespace, controls (C0, DEL, C1), <, > or ".
 * For URIs a peer sent, before they go into an attribute of that type.
 */
bool xml_uri_ok(const char *s);
/** Compile a schema held in memory; NULL on failure (a bug in our own schema). */
xmlSchemaPtr xml_schema_compile(const char *xsd, size_t len);
/**
 * Validate @p doc; 0 if valid, else -EINVAL with the first problem as
 * "LINE: element 'X', attribute 'Y': …" in @p err.
 */
int xml_schema_check(xmlSchemaValidCtxtPtr vctxt, xmlDocPtr doc, char *err, size_t errlen);
/** The embedded control protocol schema (xml-schema/sipsvc.xsd). */
extern const char sipsvc_xsd[];
extern const size_t sipsvc_xsd_len;
/** The embedded config schema (xml-schema/sipsvc-config.xsd). */
extern const char sipsvc_config_xsd[];
extern const size_t sipsvc_config_xsd_len;

#endif
