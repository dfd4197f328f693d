/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MSRP framing (RFC 4975): the examples of the RFC, the end-line found whatever the
 * buffer boundaries, and hostile input refused. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "testutil.h"
#include "transfer/transfer.h"

/* RFC 4975 §4 (first example), literally. Its Byte-Range says 25 bytes for a 23-byte body:
 * the parser reports both, the receiver session is the one that judges them. */
static const char rfc4975_send[] = "MSRP a786hjs2 SEND\r\n"
				   "To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n"
				   "From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n"
				   "Message-ID: 87652491\r\n"
				   "Byte-Range: 1-25/25\r\n"
				   "Content-Type: text/plain\r\n"
				   "\r\n"
				   "Hey Bob, are you there?\r\n"
				   "-------a786hjs2$\r\n";

static const char rfc4975_ok[] = "MSRP a786hjs2 200 OK\r\n"
				 "To-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n"
				 "From-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n"
				 "-------a786hjs2$\r\n";

struct result {
	struct transfer_msrp_head head;
	char body[4096];
	size_t body_len;
	int heads, ends;
	char flag;
	int error;
};

/* Feed @p msg in pieces of at most @p step bytes (and the first piece @p first), the way
 * a receiver does: unconsumed bytes stay in front of what arrives next. */
static void feed(const char *msg, size_t len, size_t first, size_t step, struct result *res)
{
	struct transfer_msrp_parser p;
	char buf[8192];
	size_t fill = 0, off = 0;

	memset(res, 0, sizeof(*res));
	transfer_msrp_parser_init(&p);
	while (off < len || fill > 0) {
		size_t take = off == 0 ? first : step;
		struct transfer_msrp_event ev;
		ssize_t n;
		size_t pos = 0;

		if (take > len - off)
			take = len - off;
		memcpy(buf + fill, msg + off, take);
		fill += take;
		off += take;
		for (;;) {
			n = transfer_msrp_parse(&p, (uint8_t *)buf + pos, fill - pos, &ev);
			if (n < 0) {
				res->error = (int)n;
				return;
			}
			pos += (size_t)n;
			if (ev.type == TRANSFER_MSRP_EV_HEAD) {
				res->head = p.head;
				res->heads++;
			} else if (ev.type == TRANSFER_MSRP_EV_DATA) {
				ck_assert_uint_le(res->body_len + ev.len, sizeof(res->body));
				memcpy(res->body + res->body_len, ev.data, ev.len);
				res->body_len += ev.len;
			} else if (ev.type == TRANSFER_MSRP_EV_END) {
				res->ends++;
				res->flag = ev.flag;
			} else if (n == 0)
				break;
		}
		memmove(buf, buf + pos, fill - pos);
		fill -= pos;
		if (off == len && take == 0)
			break;
	}
}

START_TEST(rfc4975_send_example)
{
	struct result r;

	feed(rfc4975_send, strlen(rfc4975_send), 4096, 4096, &r);
	ck_assert_int_eq(r.error, 0);
	ck_assert_int_eq(r.heads, 1);
	ck_assert_int_eq(r.ends, 1);
	ck_assert_int_eq(r.flag, '$');
	ck_assert(!r.head.is_response);
	ck_assert_str_eq(r.head.method, "SEND");
	ck_assert_str_eq(r.head.txid, "a786hjs2");
	ck_assert_str_eq(r.head.to_path, "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp");
	ck_assert_str_eq(r.head.from_path, "msrp://atlanta.example.com:7654/jshA7weztas;tcp");
	ck_assert_str_eq(r.head.message_id, "87652491");
	ck_assert_str_eq(r.head.content_type, "text/plain");
	ck_assert(r.head.has_range);
	ck_assert_uint_eq(r.head.range.start, 1);
	ck_assert_uint_eq(r.head.range.end, 25);
	ck_assert_uint_eq(r.head.range.total, 25);
	ck_assert_uint_eq(r.body_len, 23);
	ck_assert(memcmp(r.body, "Hey Bob, are you there?", 23) == 0);
}
END_TEST

START_TEST(rfc4975_response_example)
{
	struct result r;

	feed(rfc4975_ok, strlen(rfc4975_ok), 4096, 4096, &r);
	ck_assert_int_eq(r.error, 0);
	ck_assert_int_eq(r.heads, 1);
	ck_assert_int_eq(r.ends, 1);
	ck_assert(r.head.is_response);
	ck_assert_int_eq(r.head.status, 200);
	ck_assert(!r.head.has_body);
	ck_assert_uint_eq(r.body_len, 0);
}
END_TEST

/* A chunk whose body is full of near-misses of its own end-line. */
static char *tricky_chunk(size_t *ret_len, char **ret_body, size_t *ret_body_len)
{
	static const char body[] = "\r\n------\r\n-------a786\r\n-------a786hjs\r\n-------a786hjs2x"
				   "\r\n-------a786hjs2\r-------a786hjs2$-\r\n----";
	char *msg;
	int n = asprintf(&msg,
			 "MSRP a786hjs2 SEND\r\nTo-Path: msrp://b.example/x;tcp\r\n"
			 "From-Path: msrp://a.example/y;tcp\r\nMessage-ID: m1\r\n"
			 "Byte-Range: 1-%zu/%zu\r\nContent-Type: application/octet-stream\r\n\r\n"
			 "%s\r\n-------a786hjs2+\r\n",
			 sizeof(body) - 1, sizeof(body) - 1, body);

	ck_assert_int_gt(n, 0);
	*ret_len = (size_t)n;
	*ret_body = (char *)body;
	*ret_body_len = sizeof(body) - 1;
	return msg;
}

START_TEST(endline_split_at_every_byte)
{
	size_t len, blen;
	char *body, *msg = tricky_chunk(&len, &body, &blen);

	for (size_t first = 1; first <= len; first++) {
		struct result r;

		feed(msg, len, first, len, &r);
		ck_assert_int_eq(r.error, 0);
		ck_assert_int_eq(r.ends, 1);
		ck_assert_int_eq(r.flag, '+');
		ck_assert_uint_eq(r.body_len, blen);
		ck_assert(memcmp(r.body, body, blen) == 0);
	}
	for (size_t step = 1; step <= 7; step++) {
		struct result r;

		feed(msg, len, step, step, &r);
		ck_assert_int_eq(r.error, 0);
		ck_assert_int_eq(r.ends, 1);
		ck_assert_uint_eq(r.body_len, blen);
		ck_assert(memcmp(r.body, body, blen) == 0);
	}
	free(msg);
}
END_TEST

START_TEST(two_messages_back_to_back)
{
	char both[1024];
	struct result r;

	snprintf(both, sizeof(both), "%s%s", rfc4975_ok, rfc4975_send);
	feed(both, strlen(both), 1, 1, &r);
	ck_assert_int_eq(r.error, 0);
	ck_assert_int_eq(r.heads, 2);
	ck_assert_int_eq(r.ends, 2);
	ck_assert_uint_eq(r.body_len, 23);
}
END_TEST

static int parse_error_of(const char *msg)
{
	struct result r;

	feed(msg, strlen(msg), strlen(msg), 1, &r);
	return r.error;
}

START_TEST(hostile_heads)
{
	char *big;
	size_t n = TRANSFER_MSRP_HEAD_MAX + 100;

	/* bogus start lines and transaction ids */
	ck_assert_int_eq(parse_error_of("HTTP/1.1 200 OK\r\n"), -EBADMSG);
	ck_assert_int_eq(parse_error_of("MSRP ab SEND\r\n"), -EBADMSG);
	ck_assert_int_eq(parse_error_of("MSRP a/bcd SEND\r\n"), -EBADMSG);
	ck_assert_int_eq(parse_error_of("MSRP abcd send\r\n"), -EBADMSG);
	ck_assert_int_eq(parse_error_of("MSRP abcd 20 OK\r\n"), -EBADMSG);
	/* a body without Content-Type, a response with a body, missing paths */
	ck_assert_int_eq(parse_error_of("MSRP abcd SEND\r\nTo-Path: a\r\nFrom-Path: b\r\n\r\nx"),
			 -EBADMSG);
	ck_assert_int_eq(parse_error_of("MSRP abcd 200 OK\r\nTo-Path: a\r\nFrom-Path: b\r\n"
					"Content-Type: a/b\r\n\r\n"),
			 -EBADMSG);
	ck_assert_int_eq(parse_error_of("MSRP abcd SEND\r\nTo-Path: a\r\n-------abcd$\r\n"),
			 -EBADMSG);
	/* a repeated header, an end-line of another transaction, a bad flag */
	ck_assert_int_eq(parse_error_of("MSRP abcd SEND\r\nTo-Path: a\r\nTo-Path: a\r\n"),
			 -EBADMSG);
	ck_assert_int_eq(parse_error_of("MSRP abcd SEND\r\nTo-Path: a\r\nFrom-Path: b\r\n"
					"-------abce$\r\n"),
			 -EBADMSG);
	ck_assert_int_eq(parse_error_of("MSRP abcd SEND\r\nTo-Path: a\r\nFrom-Path: b\r\n"
					"-------abcd!\r\n"),
			 -EBADMSG);
	/* oversize: one endless line, and many short ones */
	big = malloc(n + 1);
	memcpy(big, "MSRP abcd SEND\r\nX-Pad: ", 23);
	memset(big + 23, 'x', n - 23);
	big[n] = '\0';
	ck_assert_int_eq(parse_error_of(big), -EMSGSIZE);
	for (size_t i = 16; i + 4 < n; i += 4)
		memcpy(big + i, "a:\r\n", 4);
	ck_assert_int_eq(parse_error_of(big), -EMSGSIZE);
	/* a header field longer than its bound */
	memcpy(big, "MSRP abcd SEND\r\nTo-Path: ", 25);
	memset(big + 25, 'p', 1000);
	memcpy(big + 1025, "\r\n", 3);
	ck_assert_int_eq(parse_error_of(big), -EMSGSIZE);
	free(big);
}
END_TEST

START_TEST(byte_ranges)
{
	struct transfer_byte_range br;

#define BR(s) transfer_msrp_parse_byte_range(s, strlen(s), &br)
	ck_assert_int_eq(BR("1-25/25"), 0);
	ck_assert_int_eq(BR("1-*/*"), 0);
	ck_assert_uint_eq(br.end, TRANSFER_RANGE_UNKNOWN);
	ck_assert_uint_eq(br.total, TRANSFER_RANGE_UNKNOWN);
	ck_assert_int_eq(BR("1-0/0"), 0); /* the empty file */
	ck_assert_int_eq(BR("0-10/10"), -EBADMSG);
	ck_assert_int_eq(BR("5-3/10"), -EBADMSG);
	ck_assert_int_eq(BR("1-11/10"), -EBADMSG);
	ck_assert_int_eq(BR("1-10"), -EBADMSG);
	ck_assert_int_eq(BR("-1-10/10"), -EBADMSG);
	ck_assert_int_eq(BR("1-+10/10"), -EBADMSG);
	ck_assert_int_eq(BR("1-10/99999999999999999999"), -EBADMSG);
	ck_assert_int_eq(BR("1- 10/10"), -EBADMSG);
	ck_assert_int_eq(BR("1-10/"), -EBADMSG);
#undef BR
}
END_TEST

START_TEST(format_round_trip)
{
	struct transfer_msrp_head h = { .success_report = TRANSFER_MSRP_REPORT_YES };
	char buf[2048], txid[TRANSFER_MSRP_TXID_MAX + 1];
	struct result r;
	int n, m;

	ck_assert_int_eq(transfer_msrp_txid_new(txid), 0);
	ck_assert_uint_eq(strlen(txid), TRANSFER_TXID_LEN);
	strcpy(h.txid, txid);
	strcpy(h.to_path, "msrp://b.example:1/s;tcp");
	strcpy(h.from_path, "msrp://a.example:2/t;tcp");
	strcpy(h.message_id, "id1");
	strcpy(h.content_type, "application/octet-stream");
	h.range = (struct transfer_byte_range){ 11, 15, 20 };
	n = transfer_msrp_format_send(buf, sizeof(buf), &h);
	ck_assert_int_gt(n, 0);
	memcpy(buf + n, "hello", 5);
	m = transfer_msrp_format_endline(buf + n + 5, sizeof(buf) - (size_t)n - 5, txid, '+');
	ck_assert_int_gt(m, 0);
	feed(buf, (size_t)(n + 5 + m), 3, 5, &r);
	ck_assert_int_eq(r.error, 0);
	ck_assert_uint_eq(r.body_len, 5);
	ck_assert_int_eq(r.flag, '+');
	ck_assert_uint_eq(r.head.range.start, 11);
	ck_assert_int_eq(r.head.success_report, TRANSFER_MSRP_REPORT_YES);
	ck_assert_int_eq(transfer_msrp_format_send(buf, 40, &h), -ENOSPC);
	ck_assert(transfer_msrp_txid_in(txid, "ab\r\n-------", 11) == false);
	snprintf(buf, sizeof(buf), "x\r\n-------%sy", txid);
	ck_assert(transfer_msrp_txid_in(txid, buf, strlen(buf)));
}
END_TEST

START_TEST(session_paths)
{
	char a[128], b[128];

	ck_assert_int_gt(transfer_msrp_path_new(a, sizeof(a), "192.0.2.1", 7654), 0);
	ck_assert_int_gt(transfer_msrp_path_new(b, sizeof(b), "192.0.2.1", 7654), 0);
	ck_assert(strncmp(a, "msrp://192.0.2.1:7654/", 22) == 0);
	ck_assert_uint_eq(strlen(a), 22 + TRANSFER_TXID_LEN + 4);
	ck_assert_str_eq(a + strlen(a) - 4, ";tcp");
	ck_assert_str_ne(a, b);
	ck_assert_int_gt(transfer_msrp_path_new(a, sizeof(a), "::1", 9), 0);
	ck_assert(strncmp(a, "msrp://[::1]:9/", 15) == 0);
	ck_assert_int_eq(transfer_msrp_path_new(a, 20, "192.0.2.1", 7654), -ENOSPC);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transfer-msrp");
	TCase *tc = tcase_create("msrp");

	tcase_add_test(tc, rfc4975_send_example);
	tcase_add_test(tc, rfc4975_response_example);
	tcase_add_test(tc, endline_split_at_every_byte);
	tcase_add_test(tc, two_messages_back_to_back);
	tcase_add_test(tc, hostile_heads);
	tcase_add_test(tc, byte_ranges);
	tcase_add_test(tc, format_round_trip);
	tcase_add_test(tc, session_paths);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
