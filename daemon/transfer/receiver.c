/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The receiving side of a transfer: MSRP SEND chunks (RFC 4975) checked against the
 * offered file (RFC 5547), their bodies copied into 1 MiB blocks that a worker job
 * writes into NAME.part and feeds to SHA-256 (DESIGN.md "Work off the event loop": the
 * loop never hashes). One job runs at a time, so blocks are hashed in order; reading
 * stops while max_queued bytes wait for the pool (back-pressure), so memory stays
 * bounded whatever the peer sends.
 *
 * Decisions: chunks must arrive in order with no gap or overlap (one sender, one TCP
 * connection: anything else is a broken or hostile peer). A part whose hash does not
 * match is deleted: its bytes are wrong somewhere and resuming from it could never
 * succeed. Every other failure keeps the part, with what arrived, for a resume.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/core.h"
#include "core/worker.h"
#include "transfer/transfer-private.h"

#define BLOCK_SIZE (1024 * 1024)
/* RFC 4975 §7.1: non-SEND request bodies are at most 10240 bytes. */
#define NON_SEND_BODY_MAX 10240
#define PROGRESS_INTERVAL 0.25

struct block {
	struct block *next;
	uint64_t off;
	size_t len;
	uint8_t data[];
};

enum job_kind { JOB_REHASH, JOB_WRITE, JOB_FINAL };

enum chunk_kind { CHUNK_NONE, CHUNK_IGNORE, CHUNK_DATA };

struct transfer_receiver {
	struct ev_loop *loop;
	struct transfer_handlers h;
	void *arg;
	struct worker_pool *pool;
	uint64_t size;
	size_t max_queued;
	ev_tstamp timeout;
	uint8_t want[TRANSFER_SHA256_LEN];
	char local_path[TRANSFER_PATH_MAX + 1], peer_path[TRANSFER_PATH_MAX + 1];
	char message_id[TRANSFER_ID_MAX + 1];
	struct transfer_part part;
	struct transfer_conn conn;
	bool attached, active, ready, complete, owner_gone, delivered;
	EVP_MD_CTX *md;
	/* the one job in the pool; its fields belong to the worker while it runs */
	bool job_running;
	enum job_kind job_kind;
	struct block *job_blocks;
	uint64_t job_bytes;
	int job_err;
	uint8_t digest[TRANSFER_SHA256_LEN];
	/* blocks waiting for the pool, and spare ones kept for reuse */
	struct block *qhead, *qtail, *cur, *spare;
	size_t queued, n_spare;
	/* the chunk being received */
	enum chunk_kind chunk;
	uint64_t chunk_end;
	size_t ignored;
	bool success_report;
	uint64_t next; /* bytes received or on disk: the next byte's 0-based offset */
	uint64_t received;
	int status; /* the failure being reported once the pool is idle */
	char detail[TRANSFER_NAME_MAX + 64];
	ev_timer retry, deliver;
	ev_tstamp last_progress;
};

static void kick(struct transfer_receiver *r);

/* Blocks are reused: a fresh 1 MiB allocation is a fresh mapping whose page faults and
 * zeroing cost as much as the copy into it. At most a queue's worth is kept. */
static struct block *block_get(struct transfer_receiver *r)
{
	struct block *b = r->spare;

	if (b) {
		r->spare = b->next;
		r->n_spare--;
	} else
		b = malloc(sizeof(*b) + BLOCK_SIZE);
	return b;
}

static void block_put(struct transfer_receiver *r, struct block *b)
{
	if (r->n_spare * BLOCK_SIZE >= r->max_queued + BLOCK_SIZE) {
		free(b);
		return;
	}
	b->next = r->spare;
	r->spare = b;
	r->n_spare++;
}

static void free_list(struct block *b)
{
	while (b) {
		struct block *next = b->next;

		free(b);
		b = next;
	}
}

static void receiver_destroy(void *data)
{
	struct transfer_receiver *r = data;

	transfer_conn_close(&r->conn);
	ev_timer_stop(r->loop, &r->retry);
	ev_timer_stop(r->loop, &r->deliver);
	free(r->cur);
	free_list(r->qhead);
	free_list(r->spare);
	transfer_part_close(&r->part);
	EVP_MD_CTX_free(r->md);
}

/* ---- worker jobs (run on a pool thread: touch only the job's fields) -------------- */

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w, n -= (size_t)w, off += (uint64_t)w;
	}
	return 0;
}

static void job_write(struct transfer_receiver *r)
{
	for (struct block *b = r->job_blocks; b && r->job_err == 0; b = b->next) {
		r->job_err = write_all(r->part.fd, b->data, b->len, b->off);
		if (r->job_err == 0 && !EVP_DigestUpdate(r->md, b->data, b->len))
			r->job_err = -EIO;
	}
}

/* Resume (RFC 5547 §8): the bytes already in the part are hashed again before any
 * more are asked for; a part longer than the file cannot be ours and starts over. */
static void job_rehash(struct transfer_receiver *r)
{
	uint8_t *buf = malloc(BLOCK_SIZE);
	uint64_t off = 0;

	if (!buf || !EVP_DigestInit_ex(r->md, EVP_sha256(), NULL)) {
		r->job_err = -ENOMEM;
		free(buf);
		return;
	}
	if (r->part.have > r->size && ftruncate(r->part.fd, 0) < 0)
		r->job_err = -errno;
	while (r->job_err == 0 && r->part.have <= r->size && off < r->part.have) {
		size_t want = r->part.have - off < BLOCK_SIZE ? r->part.have - off : BLOCK_SIZE;
		ssize_t n = pread(r->part.fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->job_err = n < 0 ? -errno : 0;
			break; /* shorter than it was: resume from what is there */
		}
		EVP_DigestUpdate(r->md, buf, (size_t)n);
		off += (uint64_t)n;
	}
	r->job_bytes = off;
	free(buf);
}

static void job_final(struct transfer_receiver *r)
{
	unsigned len = 0;

	/* DESIGN.md "Files": what replaces nothing is still written before it is named */
	if (fsync(r->part.fd) < 0 && errno != EINVAL)
		r->job_err = -errno;
	if (!EVP_DigestFinal_ex(r->md, r->digest, &len) || len != TRANSFER_SHA256_LEN)
		r->job_err = r->job_err ? r->job_err : -EIO;
}

static void job_work(void *arg)
{
	struct transfer_receiver *r = arg;

	switch (r->job_kind) {
	case JOB_REHASH:
		job_rehash(r);
		break;
	case JOB_WRITE:
		job_write(r);
		break;
	case JOB_FINAL:
		job_final(r);
		break;
	}
}

/* ---- reporting -------------------------------------------------------------------- */

static void on_deliver(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer_receiver *r = w->data;

	if (r->status == 0 && r->h.progress)
		r->h.progress(r->next, r->size, r->arg);
	if (r->h.done)
		r->h.done(r->status, r->detail, r->arg); /* may free r */
}

/* The end: called once, after the pool finished with this receiver. The handler runs
 * from a timer so that it may free the receiver whatever called us. */
static void deliver(struct transfer_receiver *r, int status, const char *detail)
{
	if (r->delivered)
		return;
	r->delivered = true;
	r->status = status;
	if (detail)
		snprintf(r->detail, sizeof(r->detail), "%s", detail);
	transfer_conn_close(&r->conn);
	ev_timer_stop(r->loop, &r->retry);
	ev_timer_start(r->loop, &r->deliver);
}

static void progress(struct transfer_receiver *r)
{
	ev_tstamp now = ev_now(r->loop);

	if (r->h.progress && now - r->last_progress >= PROGRESS_INTERVAL) {
		r->last_progress = now;
		r->h.progress(r->next, r->size, r->arg);
	}
}

static void enqueue_cur(struct transfer_receiver *r)
{
	struct block *b = r->cur;

	if (!b || b->len == 0)
		return;
	r->cur = NULL;
	b->next = NULL;
	if (r->qtail)
		r->qtail->next = b;
	else
		r->qhead = b;
	r->qtail = b;
	r->queued += b->len;
}

/* Stop taking bytes from the network; what arrived still goes to the part. */
static void fail(struct transfer_receiver *r, int status, const char *detail)
{
	if (r->status || r->delivered)
		return;
	r->status = status;
	snprintf(r->detail, sizeof(r->detail), "%s", detail);
	transfer_conn_close(&r->conn);
	enqueue_cur(r);
	kick(r);
}

/* ---- the pool ----------------------------------------------------------------------- */

static void finish_verified(struct transfer_receiver *r);

/* Disk full, permission, I/O: what is queued cannot be written; the part keeps the rest. */
static void job_failed(struct transfer_receiver *r)
{
	free_list(r->qhead);
	r->qhead = r->qtail = NULL;
	r->queued = 0;
	free(r->cur);
	r->cur = NULL;
	snprintf(r->detail, sizeof(r->detail), "%s: %s (kept)", r->part.part_name,
		 strerror(-r->job_err));
	deliver(r, r->job_err, NULL);
}

/* The part is re-hashed: say where to resume; false if the handler ended us. */
static bool rehash_done(struct transfer_receiver *r)
{
	r->ready = true;
	r->next = r->job_bytes;
	/* all there already (a crash before the rename): verify, fetch nothing; an
	 * empty file still comes over the wire, as its one empty chunk */
	r->complete = r->size > 0 && r->next == r->size;
	if (r->h.ready)
		r->h.ready(r->next, r->arg); /* may attach, or free (our ref holds r) */
	if (r->owner_gone || r->delivered)
		return false;
	if (r->attached && !r->status && !r->complete)
		transfer_conn_pause(&r->conn, false);
	return true;
}

/* On the loop: the job's blocks go back to the spares, then the next step. */
static void job_done(void *arg, int status)
{
	struct transfer_receiver *r = arg;
	struct block *b;

	r->job_running = false;
	while ((b = r->job_blocks)) {
		r->job_blocks = b->next;
		r->queued -= b->len;
		block_put(r, b);
	}
	if (status < 0 && !r->job_err)
		r->job_err = status;
	if (r->owner_gone || r->delivered)
		; /* nobody listens any more */
	else if (r->job_err)
		job_failed(r);
	else if (r->job_kind == JOB_FINAL)
		finish_verified(r);
	else if (r->job_kind == JOB_WRITE || rehash_done(r)) {
		transfer_conn_touch(&r->conn);
		if (r->conn.paused && r->queued < r->max_queued && !r->status && r->attached &&
		    !r->complete)
			transfer_conn_pause(&r->conn, false);
		kick(r);
	}
	mem_deref(r);
}

static void submit(struct transfer_receiver *r, enum job_kind kind)
{
	int e;

	r->job_kind = kind;
	r->job_err = 0;
	r->job_running = true;
	mem_ref(r);
	e = worker_submit(r->pool, job_work, job_done, r);
	if (e == 0)
		return;
	r->job_running = false;
	mem_deref(r);
	if (kind == JOB_WRITE) { /* put the blocks back in front */
		struct block *last = r->job_blocks;

		while (last->next)
			last = last->next;
		last->next = r->qhead;
		if (!r->qhead)
			r->qtail = last;
		r->qhead = r->job_blocks;
		r->job_blocks = NULL;
	}
	if (e == -EAGAIN) /* the pool's queue is full: try again shortly */
		ev_timer_start(r->loop, &r->retry);
	else
		deliver(r, e, "cannot queue work");
}

static void kick(struct transfer_receiver *r)
{
	if (r->job_running || r->delivered || ev_is_active(&r->retry))
		return;
	if (r->qhead) {
		r->job_blocks = r->qhead;
		r->qhead = r->qtail = NULL;
		submit(r, JOB_WRITE);
	} else if (r->status)
		deliver(r, r->status, NULL);
	else if (r->complete && r->ready)
		submit(r, JOB_FINAL);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	kick(w->data);
}

static void send_report(struct transfer_receiver *r, int status, const char *reason)
{
	struct transfer_byte_range br = { 1, r->size, r->size };
	char txid[TRANSFER_MSRP_TXID_MAX + 1], msg[2048];
	int n;

	if (r->conn.closed || transfer_msrp_txid_new(txid) < 0)
		return;
	n = transfer_msrp_format_report(msg, sizeof(msg), txid, r->peer_path, r->local_path,
					r->message_id, &br, status, reason);
	if (n > 0)
		transfer_conn_queue(&r->conn, msg, (size_t)n);
}

static void finish_verified(struct transfer_receiver *r)
{
	char final[sizeof(r->part.part_name)];
	int e;

	if (memcmp(r->digest, r->want, TRANSFER_SHA256_LEN) != 0) {
		transfer_part_remove(&r->part);
		if (r->success_report)
			send_report(r, 400, "SHA-256 mismatch");
		deliver(r, -EBADMSG, "SHA-256 of the received file does not match the offer");
		return;
	}
	e = transfer_part_commit(&r->part, final, sizeof(final));
	if (e < 0) {
		deliver(r, e, "renaming the verified part failed");
		return;
	}
	/* RFC 4975 §7.1.2: the success report, sent only once the bytes are verified */
	if (r->success_report)
		send_report(r, 200, "OK");
	deliver(r, 0, final);
}

/* ---- the MSRP connection ------------------------------------------------------------ */

static int respond(struct transfer_receiver *r, const struct transfer_msrp_head *h, int code,
		   const char *comment)
{
	char msg[2 * TRANSFER_PATH_MAX + 128];
	int n;

	/* RFC 4975 §7.2: To-Path is the request's From-Path; From-Path is ours */
	n = transfer_msrp_format_response(msg, sizeof(msg), h->txid, code, comment, h->from_path,
					  r->local_path);
	if (n < 0)
		return n;
	return transfer_conn_queue(&r->conn, msg, (size_t)n);
}

/* A SEND's head against the offer (RFC 5547 §8) and what arrived so far. */
static int check_send(struct transfer_receiver *r, const struct transfer_msrp_head *h)
{
	const struct transfer_byte_range *br = &h->range;

	if (!h->has_range)
		return -EPROTO;
	if (br->total != TRANSFER_RANGE_UNKNOWN && br->total != r->size)
		return -EPROTO; /* not the file that was offered */
	if (br->start != r->next + 1)
		return -EPROTO; /* a gap, an overlap, or a range we did not ask for */
	if (br->end != TRANSFER_RANGE_UNKNOWN && br->end > r->size)
		return -EPROTO;
	if (r->message_id[0] && strcmp(r->message_id, h->message_id) != 0)
		return -EPROTO; /* one file, one message (RFC 5547 §8) */
	snprintf(r->message_id, sizeof(r->message_id), "%s", h->message_id);
	return 0;
}

static int on_head(struct transfer_receiver *r, const struct transfer_msrp_head *h)
{
	r->chunk = CHUNK_IGNORE;
	r->ignored = 0;
	if (h->is_response) /* to our binding SEND */
		return h->status / 100 == 2 ? 0 : -EPROTO;
	/* RFC 4975 §7.3: a request for another session is answered 481 */
	if (strcmp(h->to_path, r->local_path) != 0) {
		respond(r, h, 481, "Session Does Not Exist");
		return -EPROTO;
	}
	if (strcmp(h->method, "SEND") != 0) {
		if (strcmp(h->method, "REPORT") != 0) /* REPORTs get no response (§7.1.2) */
			respond(r, h, 501, "Unknown Method");
		return 0;
	}
	if (!h->has_body)
		return respond(r, h, 200, "OK"); /* binds the connection (§5.4) */
	if (check_send(r, h) < 0) {
		respond(r, h, 400, "Bad Byte-Range");
		return -EPROTO;
	}
	snprintf(r->peer_path, sizeof(r->peer_path), "%s", h->from_path);
	r->success_report = h->success_report == TRANSFER_MSRP_REPORT_YES;
	r->chunk = CHUNK_DATA;
	r->chunk_end = h->range.end;
	return 0;
}

static int on_data(struct transfer_receiver *r, const uint8_t *p, size_t len)
{
	if (r->chunk != CHUNK_DATA) {
		r->ignored += len;
		return r->ignored > NON_SEND_BODY_MAX ? -EPROTO : 0;
	}
	/* never more than offered, nor past the chunk's own Byte-Range */
	if (len > r->size - r->next ||
	    (r->chunk_end != TRANSFER_RANGE_UNKNOWN && r->next + len > r->chunk_end))
		return -EPROTO;
	while (len > 0) {
		size_t take;

		if (!r->cur) {
			r->cur = block_get(r);
			if (!r->cur)
				return -ENOMEM;
			r->cur->len = 0;
			r->cur->off = r->next;
		}
		take = BLOCK_SIZE - r->cur->len < len ? BLOCK_SIZE - r->cur->len : len;
		memcpy(r->cur->data + r->cur->len, p, take);
		r->cur->len += take;
		r->next += take, r->received += take, p += take, len -= take;
		if (r->cur->len == BLOCK_SIZE)
			enqueue_cur(r);
	}
	if (r->queued >= r->max_queued)
		transfer_conn_pause(&r->conn, true); /* back-pressure until the pool catches up */
	kick(r);
	progress(r);
	return 0;
}

static int on_end(struct transfer_receiver *r, const struct transfer_msrp_head *h, char flag)
{
	if (r->chunk != CHUNK_DATA)
		return 0;
	r->chunk = CHUNK_NONE;
	if (flag == '#')
		return -ECONNABORTED; /* RFC 4975 §7.1: the sender aborted the message */
	/* an end-line before the end its Byte-Range promised is a lie (§7.3 allows it only
	 * for interrupted chunks, which the continuation after it must then cover) */
	if (r->chunk_end != TRANSFER_RANGE_UNKNOWN && r->next != r->chunk_end && flag == '$')
		return -EPROTO;
	if (flag == '$' && r->next != r->size)
		return -EPROTO; /* the message ends short of the file */
	/* RFC 4975 §7.1.2: Failure-Report yes (the default) asks for a response per chunk */
	if (h->failure_report != TRANSFER_MSRP_REPORT_NO &&
	    h->failure_report != TRANSFER_MSRP_REPORT_PARTIAL)
		respond(r, h, 200, "OK");
	if (flag == '$') {
		r->complete = true;
		enqueue_cur(r);
		transfer_conn_pause(&r->conn, true);
		kick(r);
	}
	return 0;
}

static int conn_event(void *arg, const struct transfer_msrp_event *ev,
		      const struct transfer_msrp_head *h)
{
	struct transfer_receiver *r = arg;
	int e = 0;

	switch (ev->type) {
	case TRANSFER_MSRP_EV_HEAD:
		e = on_head(r, h);
		break;
	case TRANSFER_MSRP_EV_DATA:
		e = on_data(r, ev->data, ev->len);
		break;
	case TRANSFER_MSRP_EV_END:
		e = on_end(r, h, ev->flag);
		break;
	default:
		break;
	}
	if (e < 0)
		fail(r, e, e == -EPROTO ? "the peer broke RFC 4975/5547" : "transfer aborted");
	return e;
}

static void conn_established(void *arg)
{
	struct transfer_receiver *r = arg;
	struct transfer_msrp_head h = { .range = { 1, 0, 0 } };
	char msg[2 * TRANSFER_PATH_MAX + 256];
	int n;

	if (!r->active)
		return;
	/* RFC 4975 §5.4: the active end sends a request first, an empty SEND if nothing else */
	if (transfer_msrp_txid_new(h.txid) < 0)
		return;
	n = snprintf(msg, sizeof(msg),
		     "MSRP %s SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: %s\r\n"
		     "Byte-Range: 1-0/0\r\n-------%s$\r\n",
		     h.txid, r->peer_path, r->local_path, h.txid, h.txid);
	if (n > 0 && (size_t)n < sizeof(msg))
		transfer_conn_queue(&r->conn, msg, (size_t)n);
}

static void conn_writable(void *arg)
{
	struct transfer_receiver *r = arg;

	transfer_conn_want_write(&r->conn, false);
}

static void conn_error(void *arg, int err)
{
	struct transfer_receiver *r = arg;

	/* every byte is in: a peer that hangs up or goes quiet while the pool verifies
	 * changes nothing (the success REPORT then simply finds no one) */
	if (r->complete)
		return;
	fail(r, err, err == -ETIMEDOUT	 ? "the connection stalled"
		     : err == -ECONNRESET ? "the sender closed the connection"
		     : err == -EPROTO	  ? "the peer broke RFC 4975"
					  : "connection failed");
}

static const struct transfer_conn_ops conn_ops = {
	.established = conn_established,
	.event = conn_event,
	.writable = conn_writable,
	.error = conn_error,
};

/* ---- the interface ------------------------------------------------------------------- */

static int copy_path(char *dst, size_t size, const char *src)
{
	if (!src || strlen(src) >= size)
		return -EINVAL;
	strcpy(dst, src);
	return 0;
}

int transfer_receiver_new(struct ev_loop *loop, const struct transfer_receiver_params *p,
			  const struct transfer_handlers *h, void *arg,
			  struct transfer_receiver **ret)
{
	struct transfer_receiver *r;
	int e;

	if (!p->pool || !p->download_dir || !p->name || p->size == TRANSFER_RANGE_UNKNOWN)
		return -EINVAL;
	r = mem_zalloc(sizeof(*r), receiver_destroy);
	if (!r)
		return -ENOMEM;
	*r = (struct transfer_receiver){
		.loop = loop, .h = *h, .arg = arg, .pool = p->pool, .size = p->size,
		.max_queued = p->max_queued ? p->max_queued : TRANSFER_QUEUE_DEFAULT,
		.timeout = p->timeout, .part = { .fd = -1, .dirfd = -1 },
	};
	memcpy(r->want, p->sha256, TRANSFER_SHA256_LEN);
	ev_timer_init(&r->retry, on_retry, 0.01, 0);
	ev_timer_init(&r->deliver, on_deliver, 0, 0);
	r->retry.data = r->deliver.data = r;
	r->md = EVP_MD_CTX_new();
	e = !r->md ? -ENOMEM : copy_path(r->local_path, sizeof(r->local_path), p->local_path);
	if (e == 0)
		e = transfer_part_open(p->download_dir, p->name, p->sha256, &r->part);
	if (e < 0) {
		mem_deref(r);
		return e;
	}
	submit(r, JOB_REHASH);
	*ret = r;
	return 0;
}

int transfer_receiver_attach(struct transfer_receiver *r, int sock, enum transfer_sock how,
			     const char *peer_path)
{
	int e;

	if (r->attached || r->delivered || copy_path(r->peer_path, sizeof(r->peer_path),
						     peer_path) < 0) {
		close(sock);
		return r->attached || r->delivered ? -EALREADY : -EINVAL;
	}
	r->active = how != TRANSFER_SOCK_LISTENING;
	e = transfer_conn_init(&r->conn, r->loop, sock, how, r->timeout, &conn_ops, r);
	if (e < 0)
		return e;
	r->attached = true;
	/* bytes are taken only once the part is re-hashed and the window known */
	if (!r->ready || r->complete)
		transfer_conn_pause(&r->conn, true);
	return 0;
}

void transfer_receiver_cancel(struct transfer_receiver *r)
{
	fail(r, -ECANCELED, "cancelled");
}

uint64_t transfer_receiver_received(const struct transfer_receiver *r)
{
	return r->received;
}

void transfer_receiver_free(struct transfer_receiver *r)
{
	if (!r)
		return;
	r->owner_gone = true;
	transfer_conn_close(&r->conn);
	ev_timer_stop(r->loop, &r->retry);
	ev_timer_stop(r->loop, &r->deliver);
	mem_deref(r);
}
