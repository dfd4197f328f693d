/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * XML out: the serialiser of the trees we build (replies, events) and a writer that
 * makes the same text element by element, without a tree. Both escape the same way
 * and write one line per message (newlines become "&#10;").
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "xml.h"

#define INITIAL_CAP 2048

static void put_grow(struct xml_writer *o, const char *s, size_t n)
{
	size_t cap = o->cap * 2 > o->len + n ? o->cap * 2 : o->len + n + 256;
	char *b;

	if (o->oom)
		return;
	b = realloc(o->buf, cap);
	if (!b) {
		o->oom = true;
		o->cap = 0; /* every later put() comes here */
		return;
	}
	o->buf = b;
	o->cap = cap;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* Inline: most calls copy one to three constant bytes, which the compiler then does
 * without a call to memcpy. An out-of-memory writer has cap 0 and goes to put_grow(). */
static inline void put(struct xml_writer *o, const char *s, size_t n)
{
	if (o->len + n > o->cap) {
		put_grow(o, s, n);
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static inline void put_str(struct xml_writer *o, const char *s)
{
	put(o, s, strlen(s));
}

/* What a byte becomes in text (@p attr false) or in a double-quoted attribute value;
 * NULL: itself. Most bytes are plain, so the scan is one table load per byte. */
static const char *escape_of(unsigned char c, bool attr)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return attr ? "&quot;" : NULL;
	case '\n':
		return "&#10;";
	case '\r':
		return "&#13;";
	case '\t':
		return attr ? "&#9;" : NULL;
	default:
		/* XML 1.0 2.2 forbids other controls even as references. */
		return c < 0x20 ? "\xef\xbf\xbd" : NULL;
	}
}

static bool special[2][256];

static void special_init(void)
{
	for (int attr = 0; attr < 2; attr++)
		for (int c = 0; c < 256; c++)
			special[attr][c] = escape_of((unsigned char)c, attr) != NULL;
}

/* Runs of plain bytes are copied at once. */
static void put_escaped(struct xml_writer *o, const xmlChar *s, bool attr)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const bool *sp;
	const xmlChar *run = s, *p = s;

	pthread_once(&once, special_init);
	sp = special[attr];
	for (;; p++) {
		while (!sp[*p])
			p++;
		if (!*p)
			break;
		put(o, (const char *)run, (size_t)(p - run));
		put_str(o, escape_of(*p, attr));
		run = p + 1;
	}
	put(o, (const char *)run, (size_t)(p - run));
}

/* ---- the tree serialiser -------------------------------------------------------- */

static void put_node(struct xml_writer *o, xmlNodePtr n)
{
	if (n->type == XML_TEXT_NODE) {
		if (n->content)
			put_escaped(o, n->content, false);
		return;
	}
	if (n->type != XML_ELEMENT_NODE)
		return;
	put(o, "<", 1);
	put_str(o, (const char *)n->name);
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		put(o, " ", 1);
		put_str(o, (const char *)a->name);
		put(o, "=\"", 2);
		for (xmlNodePtr t = a->children; t; t = t->next)
			if (t->content)
				put_escaped(o, t->content, true);
		put(o, "\"", 1);
	}
	if (!n->children) {
		put(o, "/>", 2);
		return;
	}
	put(o, ">", 1);
	for (xmlNodePtr c = n->children; c; c = c->next)
		put_node(o, c);
	put(o, "</", 2);
	put_str(o, (const char *)n->name);
	put(o, ">", 1);
}

int xml_serialise(xmlNodePtr n, size_t head, char **ret, size_t *ret_len)
{
	struct xml_writer w;

	if (xml_writer_init(&w, head) < 0)
		return -ENOMEM;
	put_node(&w, n);
	return xml_writer_finish(&w, head, ret, ret_len);
}

/* ---- the writer ------------------------------------------------------------------- */

int xml_writer_init(struct xml_writer *w, size_t head)
{
	*w = (struct xml_writer){ .buf = malloc(head + INITIAL_CAP), .len = head,
				  .cap = head + INITIAL_CAP };
	w->oom = !w->buf;
	if (w->oom)
		w->cap = 0;
	return w->oom ? -ENOMEM : 0;
}

/* The start tag still open gets its '>': content follows. */
static void close_tag(struct xml_writer *w)
{
	if (w->in_tag)
		put(w, ">", 1);
	w->in_tag = false;
}

void xml_begin(struct xml_writer *w, const char *name)
{
	if (w->depth == XML_WRITER_DEPTH) {
		w->bad = true;
		return;
	}
	close_tag(w);
	put(w, "<", 1);
	put_str(w, name);
	w->open[w->depth++] = name;
	w->in_tag = true;
}

void xml_attr(struct xml_writer *w, const char *name, const char *value)
{
	if (!w->in_tag) {
		w->bad = true; /* an attribute after content or outside any element */
		return;
	}
	put(w, " ", 1);
	put_str(w, name);
	put(w, "=\"", 2);
	put_escaped(w, BAD_CAST value, true);
	put(w, "\"", 1);
}

/* Decimal digits of @p v, ending at @p end (exclusive); returns the first. */
static char *utoa(unsigned long long v, char *end)
{
	*--end = '\0';
	do
		*--end = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return end;
}

/*
 * Status writes dozens of counters per reply, and trees get attributes the same way;
 * vsnprintf was a tenth of a tree-built <Status/>: the formats used most ("%s" and
 * the unsigned ones) skip it. @p buf holds the digits; returns the value's text.
 */
__attribute__((format(printf, 3, 0)))
static const char *format_value(char *buf, size_t size, const char *fmt, va_list ap)
{
	if (fmt[0] == '%' && fmt[1] == 's' && !fmt[2])
		return va_arg(ap, const char *);
	if (fmt[0] == '%' && fmt[1] == 'u' && !fmt[2])
		return utoa(va_arg(ap, unsigned), buf + size);
	if (strcmp(fmt, "%zu") == 0)
		return utoa(va_arg(ap, size_t), buf + size);
	if (strcmp(fmt, "%llu") == 0)
		return utoa(va_arg(ap, unsigned long long), buf + size);
	vsnprintf(buf, size, fmt, ap);
	return buf;
}

void xml_attrf(struct xml_writer *w, const char *name, const char *fmt, ...)
{
	char buf[512];
	const char *v;
	va_list ap;

	va_start(ap, fmt);
	v = format_value(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	xml_attr(w, name, v);
}

int xml_set_propf(xmlNodePtr n, const char *name, const char *fmt, ...)
{
	char buf[512];
	const char *v;
	va_list ap;

	va_start(ap, fmt);
	v = format_value(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* xmlNewProp: callers set distinct names, so no search for an old value. */
	return xmlNewProp(n, BAD_CAST name, BAD_CAST v) ? 0 : -ENOMEM;
}

void xml_text(struct xml_writer *w, const char *text)
{
	if (!w->depth) {
		w->bad = true;
		return;
	}
	close_tag(w);
	put_escaped(w, BAD_CAST text, false);
}

void xml_end(struct xml_writer *w)
{
	if (!w->depth) {
		w->bad = true;
		return;
	}
	w->depth--;
	if (w->in_tag) {
		put(w, "/>", 2);
		w->in_tag = false;
		return;
	}
	put(w, "</", 2);
	put_str(w, w->open[w->depth]);
	put(w, ">", 1);
}

int xml_writer_finish(struct xml_writer *w, size_t head, char **ret, size_t *ret_len)
{
	int r = w->oom ? -ENOMEM : w->bad || w->depth ? -EINVAL : 0;

	put(w, "\n", 2); /* and a NUL, not counted: the text is also a C string */
	w->len--;
	if (r == 0 && w->oom)
		r = -ENOMEM;
	if (r < 0) {
		xml_writer_free(w);
		return r;
	}
	*ret = w->buf;
	*ret_len = w->len - head;
	w->buf = NULL;
	return 0;
}

void xml_writer_free(struct xml_writer *w)
{
	free(w->buf);
	w->buf = NULL;
}
