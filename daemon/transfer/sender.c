/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sending side of a transfer: the file range as MSRP SEND chunks (RFC 4975 §7.1) of
 * 1 MiB by default, each a transaction of its own with a fresh transaction id that is
 * checked not to occur in the chunk, the head written from memory and the body with
 * sendfile(2) from the file, on a non-blocking socket (partial writes resume where they
 * stopped). An optional token bucket limits the upload rate.
 *
 * Reports (RFC 4975 §7.1.2), as decided here: chunks carry Failure-Report: yes, so the
 * receiver answers each one and a non-200 answer ends the transfer; and Success-Report:
 * yes, which our receiver honours only after the SHA-256 matched. The sender reports
 * success on that REPORT (Status 000 200), never merely on having written the bytes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "core/worker.h"
#include "transfer/transfer-private.h"

#define WRITE_BUDGET (4 * 1024 * 1024) /* per writable callback: fairness between sessions */
#define PROGRESS_INTERVAL 0.25
#define TXID_TRIES 8
#define NON_SEND_BODY_MAX 10240

enum send_state { ST_IDLE, ST_PREPARING, ST_HEAD, ST_BODY, ST_END, ST_ALL_SENT };

struct transfer_sender {
	struct ev_loop *loop;
	struct transfer_handlers h;
	void *arg;
	int fd;
	uint64_t size, first, end; /* 0-based [first, end) */
	char to_path[TRANSFER_PATH_MAX + 1], from_path[TRANSFER_PATH_MAX + 1];
	char message_id[TRANSFER_ID_MAX + 1], content_type[TRANSFER_TYPE_MAX + 1];
	size_t chunk_size;
	struct transfer_bucket *bucket;
	struct worker_pool *pool;
	ev_tstamp timeout;
	struct transfer_conn conn;
	bool attached, bound, delivered, report_ok, owner_gone;
	int job_err;	  /* the chunk scan in the pool: its result */
	uint64_t job_len; /* and the chunk's length */
	enum send_state st;
	char head[2 * TRANSFER_PATH_MAX + 512], endl[64];
	size_t head_len, head_off, endl_len, endl_off;
	char txid[TRANSFER_MSRP_TXID_MAX + 1];
	uint64_t pos, chunk_end;
	unsigned chunks, unacked;
	size_t ignored;
	uint64_t sent;
	int status;
	char detail[128];
	ev_timer rate, deliver;
	ev_tstamp last_progress;
};

static void sender_destroy(void *data)
{
	struct transfer_sender *s = data;

	transfer_conn_close(&s->conn);
	ev_timer_stop(s->loop, &s->rate);
	ev_timer_stop(s->loop, &s->deliver);
	if (s->fd >= 0)
		close(s->fd);
	mem_deref(s->bucket);
}

static void on_deliver(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer_sender *s = w->data;

	if (s->status == 0 && s->h.progress)
		s->h.progress(s->pos - s->first, s->end - s->first, s->arg);
	if (s->h.done)
		s->h.done(s->status, s->detail, s->arg); /* may free s */
}

/* The end, reported from a timer so that the handler may free the sender. */
static void finish(struct transfer_sender *s, int status, const char *detail)
{
	if (s->delivered)
		return;
	s->delivered = true;
	s->status = status;
	snprintf(s->detail, sizeof(s->detail), "%s", detail);
	transfer_conn_close(&s->conn);
	ev_timer_stop(s->loop, &s->rate);
	ev_timer_start(s->loop, &s->deliver);
}

static void maybe_done(struct transfer_sender *s)
{
	if (s->st == ST_ALL_SENT && s->unacked == 0 && s->report_ok)
		finish(s, 0, "sent and verified by the receiver");
}

/* RFC 4975 §7.1: the end-line must not occur in the body. Look at the chunk where it
 * lies (the page cache, mapped) and draw another id on the rare collision. */
static int pick_txid(struct transfer_sender *s, uint64_t off, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t base = off - off % (uint64_t)pg;
	size_t maplen = len + (size_t)(off - base);
	void *map = NULL;
	int r = -EIO;

	if (len > 0) {
		map = mmap(NULL, maplen, PROT_READ, MAP_SHARED, s->fd, (off_t)base);
		if (map == MAP_FAILED)
			return -errno;
		madvise(map, maplen, MADV_SEQUENTIAL);
	}
	for (int i = 0; i < TXID_TRIES; i++) {
		r = transfer_msrp_txid_new(s->txid);
		if (r < 0)
			break;
		if (!map || !transfer_msrp_txid_in(s->txid, (char *)map + (off - base), len))
			break;
		r = -EIO;
	}
	if (map)
		munmap(map, maplen);
	return r;
}

static int format_chunk(struct transfer_sender *s, uint64_t len)
{
	struct transfer_msrp_head h = { .success_report = TRANSFER_MSRP_REPORT_YES,
					.failure_report = TRANSFER_MSRP_REPORT_YES };
	int n;

	s->chunk_end = s->pos + len;
	memcpy(h.txid, s->txid, sizeof(h.txid));
	memcpy(h.to_path, s->to_path, sizeof(h.to_path));
	memcpy(h.from_path, s->from_path, sizeof(h.from_path));
	memcpy(h.message_id, s->message_id, sizeof(h.message_id));
	memcpy(h.content_type, s->content_type, sizeof(h.content_type));
	/* Byte-Range is 1-based and inclusive (RFC 4975 §7.1.1); "1-0/0" for an empty file */
	h.range = (struct transfer_byte_range){ s->pos + 1, s->chunk_end, s->size };
	n = transfer_msrp_format_send(s->head, sizeof(s->head), &h);
	if (n < 0)
		return n;
	s->head_len = (size_t)n;
	s->head_off = 0;
	n = transfer_msrp_format_endline(s->endl, sizeof(s->endl), s->txid,
					 s->chunk_end == s->end ? '$' : '+');
	if (n < 0)
		return n;
	s->endl_len = (size_t)n;
	s->endl_off = 0;
	s->chunks++;
	s->conn.mid_message = true;
	s->st = ST_HEAD;
	return 0;
}

/* On a pool thread: touches only the file, the txid and job_err. */
static void scan_work(void *arg)
{
	struct transfer_sender *s = arg;

	s->job_err = pick_txid(s, s->pos, (size_t)s->job_len);
}

static void scan_done(void *arg, int status)
{
	struct transfer_sender *s = arg;
	int r = status < 0 ? status : s->job_err;

	if (!s->owner_gone && !s->delivered) {
		if (r == 0)
			r = format_chunk(s, s->job_len);
		if (r < 0)
			finish(s, r, "reading the file failed");
		else
			transfer_conn_want_write(&s->conn, true);
	}
	mem_deref(s);
}

static int prepare_chunk(struct transfer_sender *s)
{
	uint64_t len = s->end - s->pos < s->chunk_size ? s->end - s->pos : s->chunk_size;
	int r;

	/* let the kernel read the chunk after this one ahead, asynchronously */
	posix_fadvise(s->fd, (off_t)(s->pos + len), (off_t)s->chunk_size, POSIX_FADV_WILLNEED);
	/* DESIGN.md "Work off the event loop": a cold file's pages are disk reads; with a
	 * pool the scan runs there and leaves the chunk in the page cache for sendfile */
	if (s->pool && len > 0) {
		s->job_len = len;
		s->st = ST_PREPARING;
		mem_ref(s);
		if (worker_submit(s->pool, scan_work, scan_done, s) == 0)
			return 0;
		mem_deref(s); /* the pool's queue is full: scan here this once */
		s->st = ST_IDLE;
	}
	r = pick_txid(s, s->pos, (size_t)len);
	return r < 0 ? r : format_chunk(s, len);
}

/* Write from memory; 1 when all is out, 0 when the socket is full. */
static int write_mem(struct transfer_sender *s, const char *p, size_t len, size_t *off)
{
	while (*off < len) {
		ssize_t n = send(s->conn.fd, p + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		*off += (size_t)n;
	}
	return 1;
}

static void on_rate(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer_sender *s = w->data;

	transfer_conn_want_write(&s->conn, true);
}

/* The body with sendfile(2); 1 when the chunk's body is out, 0 to wait, <0 error. */
static int write_body(struct transfer_sender *s, size_t *budget)
{
	while (s->pos < s->chunk_end && *budget > 0) {
		size_t want = s->chunk_end - s->pos < *budget ? s->chunk_end - s->pos : *budget;
		size_t grant = want;
		off_t off = (off_t)s->pos;
		ssize_t n;

		if (s->bucket) {
			grant = transfer_bucket_take(s->bucket, ev_now(s->loop), want);
			if (grant == 0) { /* over the upload rate: wait for tokens */
				transfer_conn_want_write(&s->conn, false);
				ev_timer_set(&s->rate,
					     transfer_bucket_wait(s->bucket, ev_now(s->loop), want),
					     0);
				ev_timer_start(s->loop, &s->rate);
				return 0;
			}
		}
		n = sendfile(s->conn.fd, s->fd, &off, grant);
		if (s->bucket && (n < 0 || (size_t)n < grant))
			transfer_bucket_put_back(s->bucket, grant - (n > 0 ? (size_t)n : 0));
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -ESTALE; /* the file shrank under us */
		s->pos += (uint64_t)n;
		s->sent += (uint64_t)n;
		*budget -= (size_t)n < *budget ? (size_t)n : *budget;
	}
	return s->pos == s->chunk_end ? 1 : 0;
}

static void progress(struct transfer_sender *s)
{
	ev_tstamp now = ev_now(s->loop);

	if (s->h.progress && now - s->last_progress >= PROGRESS_INTERVAL) {
		s->last_progress = now;
		s->h.progress(s->pos - s->first, s->end - s->first, s->arg);
	}
}

/* One step of the chunk state machine: >0 go on, 0 wait for the socket, <0 error. */
static int step(struct transfer_sender *s, size_t *budget)
{
	int r;

	switch (s->st) {
	case ST_IDLE:
		if (s->chunks > 0 && s->pos == s->end) {
			s->st = ST_ALL_SENT;
			transfer_conn_want_write(&s->conn, false);
			maybe_done(s);
			return 0;
		}
		if (prepare_chunk(s) < 0)
			return -EIO;
		return s->st == ST_PREPARING ? 0 : 1;
	case ST_PREPARING:
		return 0;
	case ST_HEAD:
		r = write_mem(s, s->head, s->head_len, &s->head_off);
		if (r > 0)
			s->st = ST_BODY;
		return r;
	case ST_BODY:
		r = write_body(s, budget);
		if (r > 0)
			s->st = ST_END;
		return r == 0 && *budget == 0 ? 0 : r;
	case ST_END:
		r = write_mem(s, s->endl, s->endl_len, &s->endl_off);
		if (r <= 0)
			return r;
		s->st = ST_IDLE;
		s->unacked++;
		s->conn.mid_message = false;
		/* responses queued meanwhile go out between chunks */
		return s->conn.out_len > 0 ? 0 : 1;
	case ST_ALL_SENT:
		return 0;
	}
	return -EINVAL;
}

static void conn_writable(void *arg)
{
	struct transfer_sender *s = arg;
	size_t budget = WRITE_BUDGET;
	int r;

	if (!s->bound)
		return;
	do
		r = step(s, &budget);
	while (r > 0 && budget > 0);
	if (r == -EPIPE || r == -ECONNRESET) {
		finish(s, -ECONNRESET, "the receiver closed the connection");
		return;
	}
	if (r < 0) {
		finish(s, r, r == -ESTALE ? "the file changed while sending" : "sending failed");
		return;
	}
	transfer_conn_touch(&s->conn);
	progress(s);
	if (s->st != ST_ALL_SENT && !s->delivered)
		transfer_conn_want_write(&s->conn,
					 !ev_is_active(&s->rate) && s->st != ST_PREPARING);
}

static int respond(struct transfer_sender *s, const struct transfer_msrp_head *h, int code,
		   const char *comment)
{
	char msg[2 * TRANSFER_PATH_MAX + 128];
	int n = transfer_msrp_format_response(msg, sizeof(msg), h->txid, code, comment,
					      h->from_path, s->from_path);

	return n < 0 ? n : transfer_conn_queue(&s->conn, msg, (size_t)n);
}

static int on_head(struct transfer_sender *s, const struct transfer_msrp_head *h)
{
	s->ignored = 0;
	if (h->is_response) {
		if (h->status != 200) {
			snprintf(s->detail, sizeof(s->detail), "the receiver answered %d",
				 h->status);
			return -EPROTO;
		}
		if (s->unacked > 0)
			s->unacked--;
		maybe_done(s);
		return 0;
	}
	if (strcmp(h->method, "REPORT") == 0) {
		if (h->report_status != 200) {
			snprintf(s->detail, sizeof(s->detail), "the receiver reported %d",
				 h->report_status);
			return -EBADMSG;
		}
		s->report_ok = true;
		maybe_done(s);
		return 0;
	}
	if (strcmp(h->method, "SEND") != 0 || h->has_body)
		return respond(s, h, strcmp(h->method, "SEND") ? 501 : 415, "Not Accepted");
	/* RFC 4975 §5.4: the active receiver's empty SEND binds the connection */
	if (!s->bound) {
		s->bound = true;
		transfer_conn_want_write(&s->conn, true);
	}
	return respond(s, h, 200, "OK");
}

static int conn_event(void *arg, const struct transfer_msrp_event *ev,
		      const struct transfer_msrp_head *h)
{
	struct transfer_sender *s = arg;
	int r = 0;

	if (ev->type == TRANSFER_MSRP_EV_HEAD)
		r = on_head(s, h);
	else if (ev->type == TRANSFER_MSRP_EV_DATA && (s->ignored += ev->len) > NON_SEND_BODY_MAX)
		r = -EPROTO;
	if (r < 0)
		finish(s, r, s->detail[0] ? s->detail : "the receiver broke RFC 4975");
	return r;
}

static void conn_established(void *arg)
{
	struct transfer_sender *s = arg;

	/* active: our first chunk binds the connection; passive: wait for the peer's SEND */
	if (s->bound)
		transfer_conn_want_write(&s->conn, true);
}

static void conn_error(void *arg, int err)
{
	struct transfer_sender *s = arg;

	finish(s, err, err == -ETIMEDOUT ? "the connection stalled"
		       : err == -ECONNRESET ? "the receiver closed the connection"
					    : "connection failed");
}

static const struct transfer_conn_ops conn_ops = {
	.established = conn_established,
	.event = conn_event,
	.writable = conn_writable,
	.error = conn_error,
};

static int copy_str(char *dst, size_t size, const char *src, const char *dflt)
{
	if (!src)
		src = dflt;
	if (!src || strlen(src) >= size)
		return -EINVAL;
	strcpy(dst, src);
	return 0;
}

static int setup(struct transfer_sender *s, const struct transfer_sender_params *p)
{
	uint64_t start = p->start ? p->start : 1;
	uint64_t stop = p->stop && p->stop != TRANSFER_RANGE_UNKNOWN ? p->stop : p->size;

	/* RFC 5547 §8: the range asked for lies within the file */
	if (start > p->size + 1 || stop > p->size || stop + 1 < start)
		return -EINVAL;
	s->first = s->pos = start - 1;
	s->end = stop;
	s->size = p->size;
	s->chunk_size = p->chunk_size ? p->chunk_size : TRANSFER_CHUNK_DEFAULT;
	if (copy_str(s->to_path, sizeof(s->to_path), p->to_path, NULL) < 0 ||
	    copy_str(s->from_path, sizeof(s->from_path), p->from_path, NULL) < 0 ||
	    copy_str(s->message_id, sizeof(s->message_id), p->message_id, NULL) < 0 ||
	    copy_str(s->content_type, sizeof(s->content_type), p->content_type,
		     "application/octet-stream") < 0)
		return -EINVAL;
	return 0;
}

int transfer_sender_new(struct ev_loop *loop, const struct transfer_sender_params *p,
			const struct transfer_handlers *h, void *arg,
			struct transfer_sender **ret)
{
	struct transfer_sender *s = mem_zalloc(sizeof(*s), sender_destroy);
	int r;

	if (!s) {
		close(p->fd);
		return -ENOMEM;
	}
	s->loop = loop;
	s->h = *h;
	s->arg = arg;
	s->fd = p->fd;
	s->timeout = p->timeout;
	s->bucket = mem_ref(p->bucket);
	s->pool = p->pool;
	ev_timer_init(&s->rate, on_rate, 0, 0);
	ev_timer_init(&s->deliver, on_deliver, 0, 0);
	s->rate.data = s->deliver.data = s;
	r = setup(s, p);
	if (r < 0) {
		mem_deref(s);
		return r;
	}
	*ret = s;
	return 0;
}

int transfer_sender_attach(struct transfer_sender *s, int sock, enum transfer_sock how)
{
	int r;

	if (s->attached || s->delivered) {
		close(sock);
		return -EALREADY;
	}
	s->bound = how != TRANSFER_SOCK_LISTENING;
	r = transfer_conn_init(&s->conn, s->loop, sock, how, s->timeout, &conn_ops, s);
	if (r == 0)
		s->attached = true;
	return r;
}

void transfer_sender_cancel(struct transfer_sender *s)
{
	finish(s, -ECANCELED, "cancelled");
}

uint64_t transfer_sender_sent(const struct transfer_sender *s)
{
	return s->sent;
}

void transfer_sender_free(struct transfer_sender *s)
{
	if (!s)
		return;
	s->owner_gone = true;
	transfer_conn_close(&s->conn);
	ev_timer_stop(s->loop, &s->rate);
	ev_timer_stop(s->loop, &s->deliver);
	mem_deref(s);
}
