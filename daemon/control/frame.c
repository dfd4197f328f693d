/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Framing of the control stream (PROTOCOL.md "Framing"): top-level elements back to
 * back, blanks between them ignored, an <?xml …?> declaration only at the very start.
 * This scanner only finds boundaries and enforces limits; well-formedness is judged by
 * libxml2 when it parses each message.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control-private.h"

void frame_init(struct frame *f, const struct control_limits *lim)
{
	*f = (struct frame){ .lim = lim, .st = FRAME_TOP, .decl_ok = true };
}

void frame_done(struct frame *f)
{
	free(f->buf);
	f->buf = NULL;
	f->len = f->cap = 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* XML 1.0 §2.3 NameStartChar, ASCII part; any non-ASCII byte may start a UTF-8 name. */
static bool is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (unsigned char)c >= 0x80;
}

static int fail(struct frame *f, int r, const char *msg)
{
	snprintf(f->err, sizeof(f->err), "%s", msg);
	return r;
}

/* Append the bytes of the current message seen so far in this chunk. */
static int append(struct frame *f, const char *p, size_t n)
{
	if (n == 0)
		return FRAME_OK;
	if (f->len + n > f->lim->max_message) {
		snprintf(f->err, sizeof(f->err), "message larger than %zu bytes",
			 f->lim->max_message);
		return FRAME_TOO_LARGE;
	}
	if (f->len + n > f->cap) {
		size_t cap = f->cap ? f->cap : 1024;
		char *b;

		while (cap < f->len + n)
			cap *= 2;
		if (cap > f->lim->max_message)
			cap = f->lim->max_message;
		b = realloc(f->buf, cap);
		if (!b)
			return fail(f, FRAME_TOO_LARGE, "out of memory");
		f->buf = b;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	return FRAME_OK;
}

/* State after markup ends: inside a message or between messages. */
static enum frame_state after_markup(const struct frame *f)
{
	return f->depth > 0 ? FRAME_TEXT : FRAME_TOP;
}

static int on_top(struct frame *f, char c)
{
	if (is_blank(c))
		return FRAME_OK;
	if (c != '<')
		return f->seen_any ? fail(f, FRAME_NOT_WELL_FORMED, "text outside an element")
				   : fail(f, FRAME_NOT_XML, "not XML");
	f->seen_any = true;
	f->st = FRAME_LT;
	return FRAME_OK;
}

static int on_lt(struct frame *f, char c)
{
	bool top = f->depth == 0;

	if (c == '/') {
		if (top)
			return fail(f, FRAME_NOT_WELL_FORMED, "end tag without a start tag");
		f->st = FRAME_ETAG;
	} else if (c == '?') {
		if (top && !f->decl_ok)
			return fail(f, FRAME_NOT_WELL_FORMED,
				    "a processing instruction between messages");
		f->top_pi = top;
		f->run = 0;
		f->st = FRAME_PI;
	} else if (c == '!') {
		f->n_bang = 0;
		f->st = FRAME_BANG;
	} else if (is_name_start(c)) {
		f->in_msg = true;
		f->quote = 0;
		f->prev = 0;
		f->st = FRAME_STAG;
	} else {
		return fail(f, FRAME_NOT_WELL_FORMED, "'<' not followed by a name");
	}
	f->decl_ok = false;
	return FRAME_OK;
}

/* Returns 1 when the tag closed the message. */
static int on_stag(struct frame *f, char c)
{
	if (f->quote) {
		if (c == f->quote)
			f->quote = 0;
	} else if (c == '"' || c == '\'') {
		f->quote = c;
	} else if (c == '<') {
		return fail(f, FRAME_NOT_WELL_FORMED, "'<' inside a tag");
	} else if (c == '>') {
		/* An empty element <e/> is nested as deep as <e></e>: count it too. */
		if (f->depth + 1 > f->lim->max_depth) {
			snprintf(f->err, sizeof(f->err), "elements nested deeper than %u",
				 f->lim->max_depth);
			return FRAME_TOO_DEEP;
		}
		if (f->prev != '/') {
			f->depth++;
			f->st = FRAME_TEXT;
			return 0;
		}
		f->st = after_markup(f);
		return f->depth == 0;
	}
	f->prev = c;
	return 0;
}

static int on_etag(struct frame *f, char c)
{
	if (c == '<')
		return fail(f, FRAME_NOT_WELL_FORMED, "'<' inside an end tag");
	if (c != '>')
		return 0;
	f->depth--;
	f->st = after_markup(f);
	return f->depth == 0;
}

/* "<!" starts a comment or CDATA section; anything else is a markup declaration. */
static int on_bang(struct frame *f, char c)
{
	static const char comment[] = "--", cdata[] = "[CDATA[";

	f->bang[f->n_bang++] = c;
	if (f->n_bang <= 2 && strncmp(f->bang, comment, f->n_bang) == 0) {
		if (f->n_bang == 2) {
			f->run = 0;
			f->st = FRAME_COMMENT;
		}
		return FRAME_OK;
	}
	if (f->depth > 0 && strncmp(f->bang, cdata, f->n_bang) == 0) {
		if (f->n_bang == 7) {
			f->run = 0;
			f->st = FRAME_CDATA;
		}
		return FRAME_OK;
	}
	return fail(f, FRAME_NOT_WELL_FORMED,
		    "DOCTYPE and entity declarations are not allowed");
}

/* Wait for the terminator "?>", "-->" or "]]>": @p mark repeated @p need times, then '>'. */
static void on_until(struct frame *f, char c, char mark, unsigned need)
{
	if (c == '>' && f->run >= need) {
		f->st = after_markup(f);
		return;
	}
	f->run = c == mark ? f->run + 1 : 0;
}

/* Advance by one byte; returns 1 when a message just ended, 0, or <0 on error. */
static int step(struct frame *f, char c)
{
	switch (f->st) {
	case FRAME_TOP:
		return on_top(f, c);
	case FRAME_LT:
		return on_lt(f, c);
	case FRAME_STAG:
		return on_stag(f, c);
	case FRAME_ETAG:
		return on_etag(f, c);
	case FRAME_TEXT:
		if (c == '<')
			f->st = FRAME_LT;
		return 0;
	case FRAME_PI:
		on_until(f, c, '?', 1);
		return 0;
	case FRAME_BANG:
		return on_bang(f, c);
	case FRAME_COMMENT:
		on_until(f, c, '-', 2);
		return 0;
	case FRAME_CDATA:
		on_until(f, c, ']', 2);
		return 0;
	}
	return fail(f, FRAME_NOT_WELL_FORMED, "internal state");
}

/* A message's bytes run from its first '<' to its last '>'. The '<' is consumed before
 * we know a message starts (it could open a comment), so it is added when the name
 * begins; @p run marks where the message's bytes start in this chunk. */
int frame_feed_some(struct frame *f, const char *data, size_t len, frame_msg_h *h, void *arg,
		    size_t *used)
{
	size_t run = 0;
	int r;

	*used = len;
	for (size_t i = 0; i < len; i++) {
		bool was_in = f->in_msg;
		int ended = step(f, data[i]);

		if (ended < 0)
			return ended;
		if (!was_in && f->in_msg) {
			if ((r = append(f, "<", 1)) < 0)
				return r;
			run = i;
		}
		if (f->in_msg && f->len + (i + 1 - run) > f->lim->max_message)
			return append(f, data + run, i + 1 - run);
		if (!ended)
			continue;
		if ((r = append(f, data + run, i + 1 - run)) < 0)
			return r;
		f->in_msg = false;
		r = h(f->buf, f->len, arg);
		f->len = 0;
		if (r < 0)
			return FRAME_STOPPED;
		if (r > 0 && i + 1 < len) {
			*used = i + 1;
			return FRAME_PAUSED;
		}
	}
	return f->in_msg ? append(f, data + run, len - run) : FRAME_OK;
}

/* Pauses are for callers that can hold input back; here every byte is scanned. */
struct no_pause {
	frame_msg_h *h;
	void *arg;
};

static int without_pause(const char *msg, size_t len, void *arg)
{
	struct no_pause *np = arg;
	int r = np->h(msg, len, np->arg);

	return r > 0 ? 0 : r;
}

int frame_feed(struct frame *f, const char *data, size_t len, frame_msg_h *h, void *arg)
{
	struct no_pause np = { h, arg };
	size_t used;

	return frame_feed_some(f, data, len, without_pause, &np, &used);
}
