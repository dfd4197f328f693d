/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MSRP framing (RFC 4975): the incremental chunk parser that receivers run on every byte
 * from the network, and the writers for SEND heads, end-lines, responses and REPORTs.
 * Library code: no logging, no allocation, every field bounded. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "transfer/transfer.h"

#define DASHES "-------"

/* RFC 4975 §9: ident-char = ALPHANUM / "." / "-" / "+" / "%" / "=" */
static bool is_ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '+' || c == '%' || c == '=';
}

/* RFC 4975 §9: transact-id = ident = ALPHANUM 3*31ident-char */
static bool valid_txid(const char *s, size_t n)
{
	if (n < 4 || n > TRANSFER_MSRP_TXID_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_ident_char(s[i]))
			return false;
	return true;
}

/* A decimal number of at most 19 digits (fits int64): never trusts a length. */
static int parse_u64(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return 0;
}

/* Copy a bounded field; too long is an error, not a truncation. */
static int copy_field(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		return -EMSGSIZE;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return -EBADMSG;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

int transfer_msrp_parse_byte_range(const char *s, size_t n, struct transfer_byte_range *ret)
{
	const char *dash = memchr(s, '-', n), *slash;
	struct transfer_byte_range br = { 0 };
	int r;

	/* RFC 4975 §9: Byte-Range = range-start "-" range-end "/" total; end and total may be "*"
	 */
	if (!dash)
		return -EBADMSG;
	slash = memchr(dash, '/', n - (size_t)(dash - s));
	if (!slash)
		return -EBADMSG;
	r = parse_u64(s, (size_t)(dash - s), &br.start);
	if (r < 0 || br.start == 0)
		return -EBADMSG;
	if (slash - dash == 2 && dash[1] == '*')
		br.end = TRANSFER_RANGE_UNKNOWN;
	else if (parse_u64(dash + 1, (size_t)(slash - dash - 1), &br.end) < 0)
		return -EBADMSG;
	if (s + n - slash == 2 && slash[1] == '*')
		br.total = TRANSFER_RANGE_UNKNOWN;
	else if (parse_u64(slash + 1, (size_t)(s + n - slash - 1), &br.total) < 0)
		return -EBADMSG;
	/* end == start - 1 is an empty chunk (a 0-byte file is "1-0/0"). */
	if (br.end != TRANSFER_RANGE_UNKNOWN && br.end + 1 < br.start)
		return -EBADMSG;
	if (br.total != TRANSFER_RANGE_UNKNOWN && br.end != TRANSFER_RANGE_UNKNOWN &&
	    br.end > br.total)
		return -EBADMSG;
	*ret = br;
	return 0;
}

static int parse_start_line(struct transfer_msrp_head *h, const char *s, size_t n)
{
	const char *sp1, *sp2, *rest;
	size_t mlen;
	uint64_t code;

	/* RFC 4975 §9: req-start = "MSRP" SP transact-id SP method CRLF,
	 * resp-line = "MSRP" SP transact-id SP status-code [SP comment] CRLF */
	if (n < 5 || memcmp(s, "MSRP ", 5) != 0)
		return -EBADMSG;
	sp1 = s + 5;
	sp2 = memchr(sp1, ' ', n - 5);
	if (!sp2 || !valid_txid(sp1, (size_t)(sp2 - sp1)))
		return -EBADMSG;
	memcpy(h->txid, sp1, (size_t)(sp2 - sp1));
	h->txid[sp2 - sp1] = '\0';
	rest = sp2 + 1;
	mlen = (size_t)(s + n - rest);
	if (mlen >= 3 && rest[0] >= '0' && rest[0] <= '9') {
		if (parse_u64(rest, 3, &code) < 0 || code < 100 || code > 999 ||
		    (mlen > 3 && rest[3] != ' '))
			return -EBADMSG;
		h->is_response = true;
		h->status = (int)code;
		return 0;
	}
	if (mlen == 0 || mlen >= sizeof(h->method))
		return -EBADMSG;
	for (size_t i = 0; i < mlen; i++)
		if (rest[i] < 'A' || rest[i] > 'Z')
			return -EBADMSG;
	memcpy(h->method, rest, mlen);
	h->method[mlen] = '\0';
	return 0;
}

/* Status: 000 200 OK (RFC 4975 §9: Status = namespace SP status-code [SP text-reason]) */
static int parse_status_header(struct transfer_msrp_head *h, const char *v, size_t n)
{
	uint64_t code;

	if (n < 7 || memcmp(v, "000 ", 4) != 0 || parse_u64(v + 4, 3, &code) < 0 ||
	    (n > 7 && v[7] != ' '))
		return -EBADMSG;
	h->report_status = (int)code;
	return 0;
}

static int parse_report_flag(const char *v, size_t n, enum transfer_msrp_report *ret)
{
	if (n == 3 && memcmp(v, "yes", 3) == 0)
		*ret = TRANSFER_MSRP_REPORT_YES;
	else if (n == 2 && memcmp(v, "no", 2) == 0)
		*ret = TRANSFER_MSRP_REPORT_NO;
	else if (n == 7 && memcmp(v, "partial", 7) == 0)
		*ret = TRANSFER_MSRP_REPORT_PARTIAL;
	else
		return -EBADMSG;
	return 0;
}

/* One header field; a repeated one is refused (each is single-valued in RFC 4975 §9). */
static int parse_header(struct transfer_msrp_head *h, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n), *v;
	size_t nlen, vlen;
	unsigned bit;
	int r;

	if (!colon || colon == s)
		return -EBADMSG;
	nlen = (size_t)(colon - s);
	v = colon + 1;
	while (v < s + n && *v == ' ')
		v++;
	vlen = (size_t)(s + n - v);
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(s, name, nlen) == 0)
	if (IS("To-Path"))
		bit = 0, r = copy_field(h->to_path, sizeof(h->to_path), v, vlen);
	else if (IS("From-Path"))
		bit = 1, r = copy_field(h->from_path, sizeof(h->from_path), v, vlen);
	else if (IS("Message-ID"))
		bit = 2, r = copy_field(h->message_id, sizeof(h->message_id), v, vlen);
	else if (IS("Byte-Range"))
		bit = 3, r = transfer_msrp_parse_byte_range(v, vlen, &h->range),
		h->has_range = r == 0;
	else if (IS("Content-Type"))
		bit = 4, r = copy_field(h->content_type, sizeof(h->content_type), v, vlen);
	else if (IS("Status"))
		bit = 5, r = parse_status_header(h, v, vlen);
	else if (IS("Success-Report"))
		bit = 6, r = parse_report_flag(v, vlen, &h->success_report);
	else if (IS("Failure-Report"))
		bit = 7, r = parse_report_flag(v, vlen, &h->failure_report);
	else
		return 0; /* RFC 4975 §7.3: unknown header fields are ignored */
#undef IS
	if (r < 0)
		return r;
	if (h->seen & (1u << bit))
		return -EBADMSG;
	h->seen |= 1u << bit;
	return 0;
}

void transfer_msrp_parser_init(struct transfer_msrp_parser *p)
{
	*p = (struct transfer_msrp_parser){ 0 };
}

/* The head is complete: check what RFC 4975 §7.1 requires of every message. */
static int head_done(struct transfer_msrp_parser *p, bool has_body)
{
	struct transfer_msrp_head *h = &p->head;

	if (!(h->seen & 1u) || !(h->seen & 2u))
		return -EBADMSG; /* To-Path and From-Path are mandatory */
	if (has_body && !(h->seen & (1u << 4)))
		return -EBADMSG; /* a body needs Content-Type, the last header (§7.1) */
	if (has_body && h->is_response)
		return -EBADMSG; /* responses carry no body */
	h->has_body = has_body;
	/* The end-line, preceded by the CRLF that ends the data (§9 content-stuff). */
	p->needle_len = (size_t)snprintf(p->needle, sizeof(p->needle), "\r\n" DASHES "%s", h->txid);
	return 0;
}

/* An end-line "-------TXID" flag CRLF at @p s: 1 if it is one, 0 if more bytes are needed. */
static int match_endline(const struct transfer_msrp_parser *p, const char *s, size_t n,
			 char *flag)
{
	size_t tl = strlen(p->head.txid), need = 7 + tl + 3;

	if (n < need)
		return memcmp(s, DASHES, n < 7 ? n : 7) == 0 ? 0 : -EBADMSG;
	if (memcmp(s, DASHES, 7) != 0 || memcmp(s + 7, p->head.txid, tl) != 0)
		return -EBADMSG;
	*flag = s[7 + tl];
	if ((*flag != '$' && *flag != '+' && *flag != '#') || s[8 + tl] != '\r' ||
	    s[9 + tl] != '\n')
		return -EBADMSG;
	return 1;
}

static ssize_t parse_head_line(struct transfer_msrp_parser *p, const char *buf, size_t len,
			       struct transfer_msrp_event *ev)
{
	const char *eol;
	size_t n;
	int r;

	eol = memmem(buf, len, "\r\n", 2);
	if (!eol) {
		if (p->head_bytes + len >= TRANSFER_MSRP_HEAD_MAX)
			return -EMSGSIZE;
		return 0; /* need more */
	}
	n = (size_t)(eol - buf);
	p->head_bytes += n + 2;
	if (p->head_bytes > TRANSFER_MSRP_HEAD_MAX)
		return -EMSGSIZE;
	if (p->lines++ == 0)
		r = parse_start_line(&p->head, buf, n);
	else if (n == 0) {
		/* blank line: the body follows (§9 content-stuff) */
		r = head_done(p, true);
		if (r < 0)
			return r;
		p->state = TRANSFER_MSRP_STATE_BODY;
		ev->type = TRANSFER_MSRP_EV_HEAD;
		return (ssize_t)(n + 2);
	} else if (n >= 7 && memcmp(buf, DASHES, 7) == 0) {
		/* a message without body: the end-line follows the headers directly */
		r = head_done(p, false);
		if (r < 0)
			return r;
		p->state = TRANSFER_MSRP_STATE_END;
		ev->type = TRANSFER_MSRP_EV_HEAD;
		return 0; /* the end-line is consumed by the END event */
	} else
		r = parse_header(&p->head, buf, n);
	return r < 0 ? r : (ssize_t)(n + 2);
}

static ssize_t parse_body(struct transfer_msrp_parser *p, const char *buf, size_t len,
			  struct transfer_msrp_event *ev)
{
	const char *hit = memmem(buf, len, p->needle, p->needle_len);
	size_t safe;
	char flag;
	int r;

	if (hit == buf) {
		r = match_endline(p, buf + 2, len - 2, &flag);
		if (r == 0)
			return 0;
		if (r < 0) {
			/* the needle followed by something else is data (§9 grammar) */
			safe = 1;
			goto data;
		}
		ev->type = TRANSFER_MSRP_EV_END;
		ev->flag = flag;
		p->state = TRANSFER_MSRP_STATE_DONE;
		return (ssize_t)(p->needle_len + 3);
	}
	if (hit)
		safe = (size_t)(hit - buf);
	else /* keep what could be the start of an end-line split by the buffer's edge */
		safe = len >= p->needle_len ? len - (p->needle_len - 1) : 0;
	if (safe == 0)
		return 0;
data:
	ev->type = TRANSFER_MSRP_EV_DATA;
	ev->data = (const uint8_t *)buf;
	ev->len = safe;
	p->body_len += safe;
	return (ssize_t)safe;
}

ssize_t transfer_msrp_parse(struct transfer_msrp_parser *p, const uint8_t *data, size_t len,
			    struct transfer_msrp_event *ev)
{
	const char *buf = (const char *)data;
	char flag;
	int r;

	*ev = (struct transfer_msrp_event){ .type = TRANSFER_MSRP_EV_NONE };
	switch (p->state) {
	case TRANSFER_MSRP_STATE_HEAD:
		return parse_head_line(p, buf, len, ev);
	case TRANSFER_MSRP_STATE_BODY:
		return parse_body(p, buf, len, ev);
	case TRANSFER_MSRP_STATE_END:
		r = match_endline(p, buf, len, &flag);
		if (r <= 0)
			return r;
		if (flag == '#' && p->head.is_response)
			return -EBADMSG;
		ev->type = TRANSFER_MSRP_EV_END;
		ev->flag = flag;
		p->state = TRANSFER_MSRP_STATE_DONE;
		return (ssize_t)(7 + strlen(p->head.txid) + 3);
	case TRANSFER_MSRP_STATE_DONE:
		/* the caller starts the next message */
		transfer_msrp_parser_init(p);
		return transfer_msrp_parse(p, data, len, ev);
	}
	return -EINVAL;
}

int transfer_msrp_txid_new(char txid[TRANSFER_MSRP_TXID_MAX + 1])
{
	static const char alnum[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	uint8_t rnd[TRANSFER_TXID_LEN];

	/* RFC 4975 §7.1: at least 64 bits of randomness; 16 of 62 symbols give 95. */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno ? -errno : -EIO;
	for (size_t i = 0; i < sizeof(rnd); i++)
		txid[i] = alnum[rnd[i] % 62];
	txid[sizeof(rnd)] = '\0';
	return 0;
}

bool transfer_msrp_txid_in(const char *txid, const void *body, size_t len)
{
	char needle[2 + 7 + TRANSFER_MSRP_TXID_MAX + 1];
	int n = snprintf(needle, sizeof(needle), "\r\n" DASHES "%s", txid);

	/* RFC 4975 §7.1: the end-line must not occur in the body; the receiver looks for
	 * CRLF "-------" TXID, so that sequence must not occur (see parse_body). */
	return memmem(body, len, needle, (size_t)n) != NULL;
}

static int fmt_end(int n, size_t size)
{
	if (n < 0)
		return -EINVAL;
	return (size_t)n >= size ? -ENOSPC : n;
}

int transfer_msrp_format_send(char *buf, size_t size, const struct transfer_msrp_head *h)
{
	char end[24], total[24];
	int n;

	if (h->range.end == TRANSFER_RANGE_UNKNOWN)
		snprintf(end, sizeof(end), "*");
	else
		snprintf(end, sizeof(end), "%llu", (unsigned long long)h->range.end);
	if (h->range.total == TRANSFER_RANGE_UNKNOWN)
		snprintf(total, sizeof(total), "*");
	else
		snprintf(total, sizeof(total), "%llu", (unsigned long long)h->range.total);
	/* RFC 4975 §7.1: Content-Type last, then the blank line; §7.1.2 report headers. */
	n = snprintf(buf, size,
		     "MSRP %s SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: %s\r\n"
		     "Success-Report: %s\r\nFailure-Report: %s\r\nByte-Range: %llu-%s/%s\r\n"
		     "Content-Type: %s\r\n\r\n",
		     h->txid, h->to_path, h->from_path, h->message_id,
		     h->success_report == TRANSFER_MSRP_REPORT_YES ? "yes" : "no",
		     h->failure_report == TRANSFER_MSRP_REPORT_NO	   ? "no"
		     : h->failure_report == TRANSFER_MSRP_REPORT_PARTIAL ? "partial"
									  : "yes",
		     (unsigned long long)h->range.start, end, total, h->content_type);
	return fmt_end(n, size);
}

int transfer_msrp_format_endline(char *buf, size_t size, const char *txid, char flag)
{
	return fmt_end(snprintf(buf, size, "\r\n" DASHES "%s%c\r\n", txid, flag), size);
}

int transfer_msrp_format_response(char *buf, size_t size, const char *txid, int status,
				  const char *comment, const char *to_path, const char *from_path)
{
	/* RFC 4975 §7.2: To-Path is the request's From-Path (its first URI, no relays here). */
	return fmt_end(snprintf(buf, size,
				"MSRP %s %03d %s\r\nTo-Path: %s\r\nFrom-Path: %s\r\n" DASHES
				"%s$\r\n",
				txid, status, comment, to_path, from_path, txid),
		       size);
}

int transfer_msrp_format_report(char *buf, size_t size, const char *txid,
				const char *to_path, const char *from_path,
				const char *message_id, const struct transfer_byte_range *br,
				int status, const char *reason)
{
	/* RFC 4975 §7.1.2: a REPORT names the message, the bytes it covers, and a Status. */
	return fmt_end(
	    snprintf(buf, size,
		     "MSRP %s REPORT\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: %s\r\n"
		     "Byte-Range: %llu-%llu/%llu\r\nStatus: 000 %03d %s\r\n" DASHES "%s$\r\n",
		     txid, to_path, from_path, message_id, (unsigned long long)br->start,
		     (unsigned long long)br->end, (unsigned long long)br->total, status, reason,
		     txid),
	    size);
}

int transfer_msrp_path_new(char *buf, size_t size, const char *host, uint16_t port)
{
	char id[TRANSFER_MSRP_TXID_MAX + 1];
	bool v6 = strchr(host, ':') != NULL;
	int r = transfer_msrp_txid_new(id);

	if (r < 0)
		return r;
	/* RFC 4975 §6 and §14.1: msrp://host:port/session-id;tcp, the session id hard to
	 * guess (80 bits at least: 16 of 62 symbols are 95); an IPv6 literal in brackets */
	return fmt_end(snprintf(buf, size, "msrp://%s%s%s:%u/%s;tcp", v6 ? "[" : "", host,
				v6 ? "]" : "", port, id),
		       size);
}
