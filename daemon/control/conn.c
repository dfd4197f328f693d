/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One control connection: reads bytes into the framer, writes replies and events from
 * a bounded queue. A client that stops reading first loses back-pressure on its own
 * requests, then is disconnected when an event finds its queue full. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/control-private.h"
#include "core/xml.h"

struct outmsg {
	struct outmsg *next;
	size_t len;
	char data[];
};

static void on_read(struct ev_loop *loop, ev_io *w, int revents);
static void on_write(struct ev_loop *loop, ev_io *w, int revents);
static void on_reap(struct ev_loop *loop, ev_timer *w, int revents);
static void on_stall(struct ev_loop *loop, ev_timer *w, int revents);

int conn_new(struct control *ctl, int fd, bool is_unix, const char *peer, struct conn **ret)
{
	struct conn *cn = calloc(1, sizeof(*cn));
	int one = 1;

	if (!cn) {
		close(fd);
		return -ENOMEM;
	}
	/* Replies are written as soon as they are ready; with Nagle's algorithm a second
	 * one waits for the client's delayed ACK of the first (40 ms on Linux). */
	if (!is_unix && fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cn->ctl = ctl;
	cn->fd = fd;
	cn->is_unix = is_unix;
	cn->id = ++ctl->next_conn_id;
	snprintf(cn->peer, sizeof(cn->peer), "%s", peer);
	frame_init(&cn->frame, &ctl->cfg->limits);
	ev_io_init(&cn->rio, on_read, fd, EV_READ);
	ev_io_init(&cn->wio, on_write, fd, EV_WRITE);
	ev_timer_init(&cn->reap, on_reap, 0., 0.);
	ev_timer_init(&cn->stall, on_stall, 0., CONN_STALL_SECS);
	cn->stall.data = cn;
	cn->rio.data = cn->wio.data = cn->reap.data = cn;
	/* Without a loop (unit tests, fuzzers) the caller drives conn_input() itself. */
	if (fd >= 0 && ctl->loop)
		ev_io_start(ctl->loop, &cn->rio);
	cn->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = cn;
	ctl->conns = cn;
	ctl->n_conns++;
	*ret = cn;
	return 0;
}

static void drop_queue(struct conn *cn)
{
	while (cn->q_head) {
		struct outmsg *m = cn->q_head;

		cn->q_head = m->next;
		free(m);
	}
	cn->q_tail = NULL;
	cn->q_len = cn->q_off = 0;
	free(cn->held); /* nothing more of it will be answered */
	cn->held = NULL;
	cn->held_len = 0;
}

void conn_free(struct conn *cn)
{
	struct control *ctl;

	if (!cn)
		return;
	ctl = cn->ctl;
	control_tunnel_conn_gone(cn);
	if (ctl->loop) {
		ev_io_stop(ctl->loop, &cn->rio);
		ev_io_stop(ctl->loop, &cn->wio);
		ev_timer_stop(ctl->loop, &cn->reap);
		ev_timer_stop(ctl->loop, &cn->stall);
	}
	if (cn->fd >= 0)
		close(cn->fd);
	xmlFreeNode(cn->deferred);
	drop_queue(cn);
	frame_done(&cn->frame);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		ctl->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	ctl->n_conns--;
	log_debug("control: connection %llu (%s) closed", (unsigned long long)cn->id, cn->peer);
	free(cn);
}

/* Write as much of the queue as the socket takes. Returns <0 on a dead socket. */
static int flush(struct conn *cn)
{
	while (cn->q_head) {
		struct outmsg *m = cn->q_head;
		ssize_t n = send(cn->fd, m->data + cn->q_off, m->len - cn->q_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		cn->q_off += (size_t)n;
		if (n > 0 && cn->ctl->loop)
			ev_timer_again(cn->ctl->loop,
				       &cn->stall); /* progress: the clock restarts */
		if (cn->q_off < m->len)
			return 0;
		cn->q_head = m->next;
		if (!cn->q_head)
			cn->q_tail = NULL;
		cn->q_len--;
		cn->q_off = 0;
		free(m);
	}
	return 0;
}

/* Start/stop the watchers to match the queue: write while it is non-empty, read while
 * it is short (back-pressure on a client that sends but does not read). */
static void update_watchers(struct conn *cn)
{
	struct ev_loop *loop = cn->ctl->loop;
	bool pause = cn->closing || cn->held_len || cn->deferred ||
		     cn->q_len >= cn->ctl->cfg->limits.max_queue / 2;

	if (cn->fd < 0 || !loop)
		return;
	if (cn->q_head) {
		ev_io_start(loop, &cn->wio);
		if (!ev_is_active(&cn->stall))
			ev_timer_again(loop, &cn->stall);
	} else {
		ev_io_stop(loop, &cn->wio);
		ev_timer_stop(loop, &cn->stall);
	}
	if (pause && !cn->read_paused)
		ev_io_stop(loop, &cn->rio);
	else if (!pause && cn->read_paused)
		ev_io_start(loop, &cn->rio);
	cn->read_paused = pause;
}

/* The message is written right after the queue link, in one allocation (@p buf, the
 * XML @p len bytes after the link); the serialiser and the writer write newlines in
 * text as "&#10;", so each message is one line. */
static struct outmsg *outmsg_at(char *buf, size_t len)
{
	struct outmsg *m = (struct outmsg *)buf;

	m->next = NULL;
	m->len = len;
	return m;
}

static struct outmsg *serialise(xmlNodePtr node)
{
	size_t len;
	char *buf;

	if (xml_serialise(node, sizeof(struct outmsg), &buf, &len) < 0)
		return NULL;
	return outmsg_at(buf, len);
}

/*
 * Give up on a connection without freeing it: an event can doom the very connection
 * whose request is being handled further up the stack (conn_input → request → log
 * line → `log` event → full queue), so freeing here was a use-after-free. Closing
 * also keeps on_event() from delivering to it again.
 */
static void conn_doom(struct conn *cn)
{
	struct ev_loop *loop = cn->ctl->loop;

	if (cn->doomed)
		return;
	cn->doomed = cn->closing = true;
	drop_queue(cn);
	if (!loop)
		return;
	ev_io_stop(loop, &cn->rio);
	ev_io_stop(loop, &cn->wio);
	ev_timer_stop(loop, &cn->stall);
	ev_timer_start(loop, &cn->reap);
}

/* PROTOCOL.md "Framing": a client that does not read is disconnected. Events overflow
 * its queue sooner; a client that only sends requests stops being read at half the
 * queue, and this ends it. */
static void on_stall(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *cn = w->data;

	log_warn("control: %s has read none of its %zu queued replies for %.0f s; "
		 "disconnecting",
		 cn->peer, cn->q_len, CONN_STALL_SECS);
	cn->ctl->stats.dropped_slow++;
	conn_doom(cn);
}

static void on_reap(struct ev_loop *loop, ev_timer *w, int revents)
{
	conn_free(w->data);
}

/* Queue @p m; write at once: the common case is an idle socket, and this saves a
 * loop turn. */
static int enqueue(struct conn *cn, struct outmsg *m)
{
	if (cn->q_tail)
		cn->q_tail->next = m;
	else
		cn->q_head = m;
	cn->q_tail = m;
	cn->q_len++;
	if (cn->fd >= 0 && cn->q_len == 1 && flush(cn) < 0) {
		conn_doom(cn);
		return -EPIPE;
	}
	update_watchers(cn);
	return 0;
}

int conn_send(struct conn *cn, xmlNodePtr node, bool is_event)
{
	struct outmsg *m;

	if (!node)
		return -ENOMEM; /* the reply could not be built */
	if (cn->doomed) {
		xmlFreeNode(node);
		return -ECONNRESET;
	}
	if (is_event && cn->q_len >= cn->ctl->cfg->limits.max_queue) {
		size_t queued = cn->q_len;

		xmlFreeNode(node);
		cn->ctl->stats.dropped_slow++;
		/* Doom first: this log line is itself a `log` event and must not come back. */
		conn_doom(cn);
		log_warn("control: %s does not read its events (%zu queued); disconnecting",
			 cn->peer, queued);
		return -ENOBUFS;
	}
	m = serialise(node);
	xmlFreeNode(node);
	if (!m)
		return -ENOMEM;
	return enqueue(cn, m);
}

int conn_writer_init(struct xml_writer *w)
{
	return xml_writer_init(w, sizeof(struct outmsg));
}

int conn_send_writer(struct conn *cn, struct xml_writer *w)
{
	size_t len;
	char *buf;
	int r;

	if (cn->doomed) {
		xml_writer_free(w);
		return -ECONNRESET;
	}
	r = xml_writer_finish(w, sizeof(struct outmsg), &buf, &len);
	return r < 0 ? r : enqueue(cn, outmsg_at(buf, len));
}

static int on_message(const char *msg, size_t len, void *arg)
{
	struct conn *cn = arg;

	/* After a not-well-formed message the stream cannot be trusted: nothing after it
	 * is handled (PROTOCOL.md "Framing": one Error, then the connection is closed). */
	if (request_handle(cn, msg, len) < 0 || cn->closing)
		return -1;
	/* Many small requests in one read must not queue replies without bound: stop
	 * scanning once half the queue is used, and go on as it drains. A deferred reply
	 * stops it too: the next reply must not overtake it. */
	return cn->deferred || cn->q_len >= cn->ctl->cfg->limits.max_queue / 2 ? 1 : 0;
}

/* Stream-level failures: one Error (none for cross-protocol bytes), then close. */
static int stream_error(struct conn *cn, int r)
{
	struct request req = {.ctl = cn->ctl, .conn = cn};
	enum control_error code = r == FRAME_TOO_LARGE	? CONTROL_ERROR_TOO_LARGE
				  : r == FRAME_TOO_DEEP ? CONTROL_ERROR_LIMIT
							: CONTROL_ERROR_NOT_WELL_FORMED;

	if (r == FRAME_NOT_XML) {
		log_limited(LOG_LEVEL_NOTICE,
			    "control: %s sent non-XML bytes; closed without reply", cn->peer);
		return -EPROTO;
	}
	if (r == FRAME_STOPPED) /* the handler closed the stream; flush its Error first */
		return cn->closing && cn->q_head ? 0 : -EPROTO;
	log_limited(LOG_LEVEL_INFO, "control: %s: %s; closing", cn->peer, cn->frame.err);
	cn->closing = true;
	if (conn_send(cn, reply_error(&req, code, "%s; the connection is closed", cn->frame.err),
		      false) < 0)
		return -EPIPE;
	return cn->q_head ? 0 : -EPROTO;
}

/* Keep @p data for later; the read buffer is at most 64 KiB, so is this. */
static int hold(struct conn *cn, const char *data, size_t len)
{
	char *b;

	if (cn->held_len + len > CONN_HELD_MAX)
		return -ENOBUFS;
	b = realloc(cn->held, cn->held_len + len);
	if (!b)
		return -ENOMEM;
	memcpy(b + cn->held_len, data, len);
	cn->held = b;
	cn->held_len += len;
	return 0;
}

int conn_input(struct conn *cn, const char *data, size_t len)
{
	size_t used;
	int r;

	if (cn->doomed)
		return -ECONNRESET;
	if (cn->closing)
		return 0;
	if (cn->held_len || cn->deferred) /* order is kept: this goes after what waits */
		return hold(cn, data, len);
	r = frame_feed_some(&cn->frame, data, len, on_message, cn, &used);
	if (r == FRAME_PAUSED) {
		r = hold(cn, data + used, len - used);
		update_watchers(cn);
		return r;
	}
	if (r < 0 && !cn->doomed)
		return stream_error(cn, r);
	if (cn->doomed)
		return -ECONNRESET;
	return cn->closing && !cn->q_head && !cn->deferred ? -EPROTO : 0;
}

/* The queue has room again: scan what was held back. */
static int resume_held(struct conn *cn)
{
	char *buf = cn->held;
	size_t len = cn->held_len;
	int r;

	if (!len || cn->deferred || cn->q_len >= cn->ctl->cfg->limits.max_queue / 2)
		return 0;
	cn->held = NULL;
	cn->held_len = 0;
	r = conn_input(cn, buf, len);
	free(buf);
	return r;
}

void conn_defer(struct conn *cn, xmlNodePtr reply, uint64_t version)
{
	xmlFreeNode(cn->deferred); /* never two: input pauses after the first */
	cn->deferred = reply;
	cn->deferred_ver = version;
	update_watchers(cn);
}

int conn_release(struct conn *cn)
{
	xmlNodePtr reply = cn->deferred;

	cn->deferred = NULL;
	if (reply && conn_send(cn, reply, false) < 0)
		return -EPIPE;
	if (resume_held(cn) < 0 || (cn->closing && !cn->q_head))
		return -EPROTO;
	update_watchers(cn);
	return 0;
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *cn = w->data;
	char buf[65536];
	ssize_t n = recv(cn->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0 && (cn->q_head || cn->deferred)) {
		/* Half-close: the client has said all; it still gets every reply. */
		cn->closing = true;
		update_watchers(cn);
		return;
	}
	if (n <= 0 || conn_input(cn, buf, (size_t)n) < 0)
		conn_free(cn);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *cn = w->data;

	if (flush(cn) < 0 || resume_held(cn) < 0 ||
	    (cn->closing && !cn->q_head && !cn->deferred)) {
		conn_free(cn);
		return;
	}
	update_watchers(cn);
}
