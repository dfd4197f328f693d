/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SDP of a file transfer (RFC 5547): a bounded parser of the one m=message stream and
 * its attributes, the a=file-selector grammar (§6), and the writer for offers and answers.
 * Our own parser rather than libosip2's: the attributes that matter here need their own
 * grammar anyway, and every field lands in a fixed-size slot. Library code: no logging. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "transfer/transfer.h"

static const char *const setup_names[_TRANSFER_SETUP_MAX] = {
	[TRANSFER_SETUP_ACTIVE] = "active",
	[TRANSFER_SETUP_PASSIVE] = "passive",
	[TRANSFER_SETUP_ACTPASS] = "actpass",
	[TRANSFER_SETUP_HOLDCONN] = "holdconn",
};

static const char *const direction_names[_TRANSFER_DIRECTION_MAX] = {
	[TRANSFER_DIRECTION_SENDRECV] = "sendrecv",
	[TRANSFER_DIRECTION_SENDONLY] = "sendonly",
	[TRANSFER_DIRECTION_RECVONLY] = "recvonly",
	[TRANSFER_DIRECTION_INACTIVE] = "inactive",
};

const char *transfer_setup_to_string(enum transfer_setup s)
{
	return s >= 0 && s < _TRANSFER_SETUP_MAX ? setup_names[s] : NULL;
}

static int lookup(const char *const *names, int max, const char *s, size_t n)
{
	for (int i = 0; i < max; i++)
		if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
			return i;
	return -1;
}

enum transfer_setup transfer_setup_from_string(const char *s, size_t n)
{
	return (enum transfer_setup)lookup(setup_names, _TRANSFER_SETUP_MAX, s, n);
}

const char *transfer_direction_to_string(enum transfer_direction d)
{
	return d >= 0 && d < _TRANSFER_DIRECTION_MAX ? direction_names[d] : NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 5547 §6: filename-string = 1*(filename-char / percent-encoded); the quotes, '%',
 * NUL, CR and LF only ever appear percent-encoded, and a decoded NUL is refused too. */
static int parse_name(const char *s, size_t n, size_t *used, char *out, size_t size)
{
	size_t i = 0, o = 0;

	for (; i < n && s[i] != '"'; i++) {
		int c = (unsigned char)s[i];

		if (c == '\r' || c == '\n' || c == 0)
			return -EBADMSG;
		if (c == '%') {
			int h, l;

			if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
				return -EBADMSG;
			c = h * 16 + l;
			if (c == 0)
				return -EBADMSG;
			i += 2;
		}
		if (o + 1 >= size)
			return -EMSGSIZE;
		out[o++] = (char)c;
	}
	if (i == n || o == 0)
		return -EBADMSG; /* no closing quote, or an empty name */
	out[o] = '\0';
	*used = i + 1;
	return 0;
}

/* RFC 5547 §6 hash-value = 2HEXDIG *(":" 2HEXDIG), RFC 4572 §5 style. */
static int parse_hash(const char *s, size_t n, uint8_t *out, size_t max, size_t *ret_len)
{
	size_t o = 0;

	for (size_t i = 0;; i += 3) {
		int h, l;

		if (i + 2 > n || (h = hexval(s[i])) < 0 || (l = hexval(s[i + 1])) < 0)
			return -EBADMSG;
		if (o == max)
			return -EMSGSIZE;
		out[o++] = (uint8_t)(h * 16 + l);
		if (i + 2 == n)
			break;
		if (s[i + 2] != ':')
			return -EBADMSG;
	}
	*ret_len = o;
	return 0;
}

static int parse_hash_selector(const char *s, size_t n, struct transfer_file_selector *sel)
{
	const char *colon = memchr(s, ':', n);
	uint8_t buf[64];
	size_t alen, len;
	int r;

	if (!colon)
		return -EBADMSG;
	alen = (size_t)(colon - s);
	r = parse_hash(colon + 1, n - alen - 1, buf, sizeof(buf), &len);
	if (r < 0)
		return r;
	if (alen == 7 && strncasecmp(s, "sha-256", 7) == 0) {
		if (len != TRANSFER_SHA256_LEN || (sel->has & TRANSFER_SEL_SHA256))
			return -EBADMSG;
		memcpy(sel->sha256, buf, len);
		sel->has |= TRANSFER_SEL_SHA256;
	} else if (alen == 5 && strncasecmp(s, "sha-1", 5) == 0) {
		if (len != TRANSFER_SHA1_LEN || (sel->has & TRANSFER_SEL_SHA1))
			return -EBADMSG;
		memcpy(sel->sha1, buf, len);
		sel->has |= TRANSFER_SEL_SHA1;
	} /* other algorithms of the IANA registry are well-formed but unused */
	return 0;
}

/* type "/" subtype *(";" attribute "=" DQUOTE value DQUOTE): kept verbatim, checked for
 * the characters that could break out of the attribute. */
static int parse_type(const char *s, size_t n, struct transfer_file_selector *sel)
{
	const char *slash = memchr(s, '/', n);

	if (!slash || slash == s || slash == s + n - 1 || n > TRANSFER_TYPE_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return -EBADMSG;
	memcpy(sel->type, s, n);
	sel->type[n] = '\0';
	sel->has |= TRANSFER_SEL_TYPE;
	return 0;
}

static int parse_size(const char *s, size_t n, struct transfer_file_selector *sel)
{
	uint64_t v = 0;

	if (n == 0 || n > 18)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	sel->size = v;
	sel->has |= TRANSFER_SEL_SIZE;
	return 0;
}

/* One selector at @p s; its length (up to the SP or the end) in @p used. */
static int parse_selector(const char *s, size_t n, size_t *used,
			  struct transfer_file_selector *sel)
{
	const char *sp;
	size_t len = 0; /* parse_name() leaves it alone when it fails */

	if (n > 6 && memcmp(s, "name:\"", 6) == 0) {
		if (sel->has & TRANSFER_SEL_NAME)
			return -EBADMSG;
		sel->has |= TRANSFER_SEL_NAME;
		*used = 6;
		int r = parse_name(s + 6, n - 6, &len, sel->name, sizeof(sel->name));
		*used += len;
		return r;
	}
	sp = memchr(s, ' ', n);
	*used = len = sp ? (size_t)(sp - s) : n;
	if (len > 5 && memcmp(s, "type:", 5) == 0 && !(sel->has & TRANSFER_SEL_TYPE))
		return parse_type(s + 5, len - 5, sel);
	if (len > 5 && memcmp(s, "size:", 5) == 0 && !(sel->has & TRANSFER_SEL_SIZE))
		return parse_size(s + 5, len - 5, sel);
	if (len > 5 && memcmp(s, "hash:", 5) == 0)
		return parse_hash_selector(s + 5, len - 5, sel);
	return -EBADMSG;
}

int transfer_file_selector_parse(const char *s, size_t n, struct transfer_file_selector *ret)
{
	struct transfer_file_selector sel = { 0 };
	size_t i = 0, used;
	int r;

	/* RFC 5547 §6: file-selector-attr = "file-selector" [":" selector *(SP selector)] */
	while (i < n) {
		r = parse_selector(s + i, n - i, &used, &sel);
		if (r < 0)
			return r;
		i += used;
		if (i < n) {
			if (s[i] != ' ' || i + 1 == n)
				return -EBADMSG;
			i++;
		}
	}
	*ret = sel;
	return 0;
}

static int append(char *buf, size_t size, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t size, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= size)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, size - *pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *pos)
		return -ENOSPC;
	*pos += (size_t)n;
	return 0;
}

static int append_hash(char *buf, size_t size, size_t *pos, const char *alg, const uint8_t *h,
		       size_t len)
{
	int r = append(buf, size, pos, " hash:%s:", alg);

	for (size_t i = 0; r == 0 && i < len; i++)
		r = append(buf, size, pos, i ? ":%02X" : "%02X", h[i]);
	return r;
}

static int append_name(char *buf, size_t size, size_t *pos, const char *name)
{
	int r = append(buf, size, pos, "name:\"");

	/* RFC 5547 §6: '"', '%', CR, LF percent-encoded; other controls too, for safety. */
	for (const unsigned char *p = (const unsigned char *)name; r == 0 && *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '%')
			r = append(buf, size, pos, "%%%02X", *p);
		else
			r = append(buf, size, pos, "%c", *p);
	}
	return r < 0 ? r : append(buf, size, pos, "\"");
}

int transfer_file_selector_format(char *buf, size_t size, const struct transfer_file_selector *sel)
{
	size_t pos = 0;
	int r = 0;

	if (size)
		buf[0] = '\0';
	if (sel->has & TRANSFER_SEL_NAME)
		r = append_name(buf, size, &pos, sel->name);
	if (r == 0 && (sel->has & TRANSFER_SEL_TYPE))
		r = append(buf, size, &pos, "%stype:%s", pos ? " " : "", sel->type);
	if (r == 0 && (sel->has & TRANSFER_SEL_SIZE))
		r = append(buf, size, &pos, "%ssize:%llu", pos ? " " : "",
			   (unsigned long long)sel->size);
	if (r == 0 && (sel->has & TRANSFER_SEL_SHA256))
		r = append_hash(buf, size, &pos, "sha-256", sel->sha256, TRANSFER_SHA256_LEN);
	if (r == 0 && (sel->has & TRANSFER_SEL_SHA1))
		r = append_hash(buf, size, &pos, "sha-1", sel->sha1, TRANSFER_SHA1_LEN);
	if (r < 0)
		return r;
	/* a hash written first would start with a space */
	if (buf[0] == ' ') {
		memmove(buf, buf + 1, pos);
		pos--;
	}
	return (int)pos;
}

/* ---- the SDP body ----------------------------------------------------------------- */

struct sdp_ctx {
	struct transfer_sdp *s;
	bool in_msrp;  /* inside the m=message TCP/MSRP section we take */
	bool in_other; /* inside another media section, before ours */
	bool done;     /* a later m= section began */
};

static int copy_value(char *dst, size_t size, const char *v, size_t n)
{
	if (n >= size)
		return -EMSGSIZE;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return -EBADMSG;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int parse_u64_field(const char *s, size_t n, uint64_t *ret)
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

/* Split @p s at spaces into at most @p max words. */
static size_t split(const char *s, size_t n, const char **w, size_t *wl, size_t max)
{
	size_t k = 0, i = 0;

	while (i < n && k < max) {
		size_t st = i;

		while (i < n && s[i] != ' ')
			i++;
		w[k] = s + st;
		wl[k++] = i - st;
		while (i < n && s[i] == ' ')
			i++;
	}
	return i < n ? max + 1 : k;
}

/* c=IN IP4 addr / c=IN IP6 addr (RFC 4566 §5.7) */
static int parse_c(struct transfer_sdp *s, const char *v, size_t n)
{
	const char *w[3];
	size_t wl[3];

	if (split(v, n, w, wl, 3) != 3 || wl[0] != 2 || memcmp(w[0], "IN", 2) != 0 || wl[1] != 3)
		return -EBADMSG;
	if (memcmp(w[1], "IP4", 3) == 0)
		s->ipv6 = false;
	else if (memcmp(w[1], "IP6", 3) == 0)
		s->ipv6 = true;
	else
		return -EBADMSG;
	return copy_value(s->addr, sizeof(s->addr), w[2], wl[2]);
}

/* o=username sess-id sess-version IN IP4 addr (RFC 4566 §5.2) */
static int parse_o(struct transfer_sdp *s, const char *v, size_t n)
{
	const char *w[6];
	size_t wl[6];

	if (split(v, n, w, wl, 6) != 6)
		return -EBADMSG;
	if (copy_value(s->origin_user, sizeof(s->origin_user), w[0], wl[0]) < 0 ||
	    parse_u64_field(w[1], wl[1], &s->session_id) < 0 ||
	    parse_u64_field(w[2], wl[2], &s->session_version) < 0)
		return -EBADMSG;
	return 0;
}

/* m=message PORT TCP/MSRP * (RFC 4975 §8.1); 1 if it is ours. */
static int parse_m(struct transfer_sdp *s, const char *v, size_t n)
{
	const char *w[4];
	size_t wl[4];
	uint64_t port;

	if (split(v, n, w, wl, 4) != 4)
		return 0;
	if (wl[0] != 7 || memcmp(w[0], "message", 7) != 0 || wl[2] != 8 ||
	    memcmp(w[2], "TCP/MSRP", 8) != 0)
		return 0;
	if (parse_u64_field(w[1], wl[1], &port) < 0 || port > 65535)
		return -EBADMSG;
	s->port = (uint16_t)port;
	return 1;
}

/* a=file-range:start-stop (RFC 5547 §6); stop may be "*". */
static int parse_file_range(struct transfer_sdp *s, const char *v, size_t n)
{
	const char *dash = memchr(v, '-', n);

	if (!dash || parse_u64_field(v, (size_t)(dash - v), &s->range_start) < 0 ||
	    s->range_start == 0)
		return -EBADMSG;
	if (v + n - dash == 2 && dash[1] == '*')
		s->range_stop = TRANSFER_RANGE_UNKNOWN;
	else if (parse_u64_field(dash + 1, (size_t)(v + n - dash - 1), &s->range_stop) < 0 ||
		 s->range_stop + 1 < s->range_start)
		return -EBADMSG;
	s->has_range = true;
	return 0;
}

static int parse_media_attr(struct transfer_sdp *s, const char *name, size_t nl, const char *v,
			    size_t n)
{
#define IS(x) (nl == sizeof(x) - 1 && memcmp(name, x, nl) == 0)
	if (IS("path"))
		return copy_value(s->path, sizeof(s->path), v, n);
	if (IS("accept-types"))
		return copy_value(s->accept_types, sizeof(s->accept_types), v, n);
	if (IS("file-selector"))
		return transfer_file_selector_parse(v, n, &s->sel);
	if (IS("file-transfer-id"))
		return n == 0 ? -EBADMSG : copy_value(s->transfer_id, sizeof(s->transfer_id), v, n);
	if (IS("file-range"))
		return parse_file_range(s, v, n);
	if (IS("file-disposition"))
		return copy_value(s->disposition, sizeof(s->disposition), v, n);
#undef IS
	return 0; /* RFC 4566 §5.13: unknown attributes are ignored */
}

/* An a= line: direction and setup may be session-level (RFC 4145 §4), the rest only
 * count inside our media section. */
static int parse_a(struct sdp_ctx *c, const char *v, size_t n)
{
	const char *colon = memchr(v, ':', n);
	size_t nl = colon ? (size_t)(colon - v) : n;
	const char *val = colon ? colon + 1 : v + n;
	size_t vl = colon ? n - nl - 1 : 0;
	int d;

	if (c->done || c->in_other)
		return 0;
	d = lookup(direction_names, _TRANSFER_DIRECTION_MAX, v, n);
	if (d >= 0) {
		c->s->direction = (enum transfer_direction)d;
		return 0;
	}
	if (nl == 5 && memcmp(v, "setup", 5) == 0) {
		enum transfer_setup st = transfer_setup_from_string(val, vl);

		if (st == _TRANSFER_SETUP_INVALID)
			return -EBADMSG;
		c->s->setup = st;
		c->s->has_setup = true;
		return 0;
	}
	return c->in_msrp ? parse_media_attr(c->s, v, nl, val, vl) : 0;
}

static int parse_line(struct sdp_ctx *c, char type, const char *v, size_t n)
{
	int r;

	switch (type) {
	case 'o':
		return parse_o(c->s, v, n);
	case 'c':
		if (c->done || c->in_other)
			return 0;
		return parse_c(c->s, v, n);
	case 'm':
		if (c->in_msrp) {
			c->done = true;
			c->in_msrp = false;
			return 0;
		}
		if (c->done)
			return 0;
		r = parse_m(c->s, v, n);
		c->in_msrp = r > 0;
		c->in_other = r == 0;
		return r < 0 ? r : 0;
	case 'a':
		return parse_a(c, v, n);
	default:
		return 0;
	}
}

int transfer_sdp_parse(const char *buf, size_t len, struct transfer_sdp *ret)
{
	struct transfer_sdp s = { .setup = TRANSFER_SETUP_ACTIVE };
	struct sdp_ctx c = { .s = &s };
	size_t i = 0;
	bool first = true, found = false;

	if (len > TRANSFER_SDP_MAX)
		return -EMSGSIZE;
	if (len == 0)
		return -EBADMSG;
	while (i < len) {
		const char *eol = memchr(buf + i, '\n', len - i);
		size_t n = eol ? (size_t)(eol - (buf + i)) : len - i;
		int r;

		if (n > 0 && buf[i + n - 1] == '\r')
			n--;
		/* RFC 4566 §5: every line is type=value, the first is v=0 */
		if (n < 2 || buf[i + 1] != '=' || buf[i] < 'a' || buf[i] > 'z')
			return -EBADMSG;
		if (first && (n != 3 || memcmp(buf + i, "v=0", 3) != 0))
			return -EBADMSG;
		first = false;
		r = parse_line(&c, buf[i], buf + i + 2, n - 2);
		if (r < 0)
			return r;
		found |= c.in_msrp;
		i += (eol ? (size_t)(eol - (buf + i)) + 1 : len - i);
	}
	if (!found)
		return -ENOMSG;
	if (!s.addr[0])
		return -EBADMSG;
	*ret = s;
	return 0;
}

int transfer_sdp_format(char *buf, size_t size, const struct transfer_sdp *s)
{
	const char *af = s->ipv6 ? "IP6" : "IP4";
	char sel[1024];
	size_t pos = 0;
	int r;

	r = append(buf, size, &pos,
		   "v=0\r\no=%s %llu %llu IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n"
		   "m=message %u TCP/MSRP *\r\na=%s\r\na=accept-types:%s\r\na=path:%s\r\n",
		   s->origin_user[0] ? s->origin_user : "-", (unsigned long long)s->session_id,
		   (unsigned long long)s->session_version, af, s->addr, af, s->addr, s->port,
		   transfer_direction_to_string(s->direction),
		   s->accept_types[0] ? s->accept_types : "*", s->path);
	if (r == 0 && s->has_setup)
		r = append(buf, size, &pos, "a=setup:%s\r\n", transfer_setup_to_string(s->setup));
	if (r == 0 && s->sel.has) {
		int n = transfer_file_selector_format(sel, sizeof(sel), &s->sel);

		r = n < 0 ? n : append(buf, size, &pos, "a=file-selector:%s\r\n", sel);
	}
	if (r == 0 && s->transfer_id[0])
		r = append(buf, size, &pos, "a=file-transfer-id:%s\r\n", s->transfer_id);
	if (r == 0 && s->disposition[0])
		r = append(buf, size, &pos, "a=file-disposition:%s\r\n", s->disposition);
	if (r == 0 && s->has_range && s->range_stop == TRANSFER_RANGE_UNKNOWN)
		r = append(buf, size, &pos, "a=file-range:%llu-*\r\n",
			   (unsigned long long)s->range_start);
	else if (r == 0 && s->has_range)
		r = append(buf, size, &pos, "a=file-range:%llu-%llu\r\n",
			   (unsigned long long)s->range_start, (unsigned long long)s->range_stop);
	return r < 0 ? r : (int)pos;
}

int transfer_sdp_answer(const struct transfer_sdp *offer, struct transfer_sdp *ans)
{
	/* RFC 4145 §4.1 as RFC 6135 applies it to MSRP: actpass offered → the answerer is
	 * active; an active offerer gets passive and vice versa; holdconn is no transfer. */
	switch (offer->has_setup ? offer->setup : TRANSFER_SETUP_ACTIVE) {
	case TRANSFER_SETUP_ACTPASS:
	case TRANSFER_SETUP_PASSIVE:
		ans->setup = TRANSFER_SETUP_ACTIVE;
		break;
	case TRANSFER_SETUP_ACTIVE:
		ans->setup = TRANSFER_SETUP_PASSIVE;
		break;
	default:
		return -EPROTO;
	}
	ans->has_setup = true;
	/* RFC 5547 §8.2: the answer mirrors the direction and keeps the selector and id. */
	if (offer->direction == TRANSFER_DIRECTION_SENDONLY)
		ans->direction = TRANSFER_DIRECTION_RECVONLY;
	else if (offer->direction == TRANSFER_DIRECTION_RECVONLY)
		ans->direction = TRANSFER_DIRECTION_SENDONLY;
	else
		return -EPROTO;
	ans->sel = offer->sel;
	memcpy(ans->transfer_id, offer->transfer_id, sizeof(ans->transfer_id));
	memcpy(ans->disposition, offer->disposition, sizeof(ans->disposition));
	ans->has_range = offer->has_range;
	ans->range_start = offer->range_start;
	ans->range_stop = offer->range_stop;
	if (!ans->accept_types[0])
		memcpy(ans->accept_types, offer->accept_types, sizeof(ans->accept_types));
	return 0;
}
