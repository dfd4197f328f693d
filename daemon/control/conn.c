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

#include <libxml/xmlsave.h>

#include "control/control-private.h"

struct outmsg {
	struct outmsg *next;
	size_t len;
	char data[];
};

static void on_read(struct ev_loop *loop, ev_io *w, int revents);
static void on_write(struct ev_loop *loop, ev_io *w, int revents);

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
	cn->rio.data = cn->wio.data = cn;
	if (fd >= 0)
		ev_io_start(ctl->loop, &cn->rio);
	cn->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = cn;
	ctl->conns = cn;
	ctl->n_conns++;
	*ret = cn;
	return 0;
}

static void queue_clear(struct conn *cn)
{
	while (cn->q_head) {
		struct outmsg *m = cn->q_head;

		cn->q_head = m->next;
		free(m);
	}
	cn->q_tail = NULL;
	cn->q_len = cn->q_off = 0;
}

void conn_free(struct conn *cn)
{
	struct control *ctl;

	if (!cn)
		return;
	ctl = cn->ctl;
	/* Stopping also clears a pending event fed by conn_drop(). */
	ev_io_stop(ctl->loop, &cn->rio);
	ev_io_stop(ctl->loop, &cn->wio);
	if (cn->fd >= 0)
		close(cn->fd);
	queue_clear(cn);
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
	bool pause = cn->closing || cn->q_len >= cn->ctl->cfg->limits.max_queue / 2;

	if (cn->fd < 0)
		return;
	if (cn->q_head)
		ev_io_start(loop, &cn->wio);
	else
		ev_io_stop(loop, &cn->wio);
	if (pause && !cn->read_paused)
		ev_io_stop(loop, &cn->rio);
	else if (!pause && cn->read_paused)
		ev_io_start(loop, &cn->rio);
	cn->read_paused = pause;
}

/* xmlNodeDump writes line breaks in attribute values as "&#10;" but leaves those in
 * text content (an error message quoting a value, later a SIP body) as they are: write
 * them as references too, so that every message stays on one line. @dst has room for
 * five bytes per '\n'. */
static size_t copy_one_line(char *dst, const char *src, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (src[i] == '\n') {
			memcpy(dst + n, "&#10;", 5);
			n += 5;
		} else {
			dst[n++] = src[i];
		}
	}
	return n;
}

static struct outmsg *serialise(xmlNodePtr node)
{
	xmlBufferPtr b = xmlBufferCreate();
	struct outmsg *m = NULL;
	const char *s = NULL;
	size_t len = 0, breaks = 0;

	if (!b)
		return NULL;
	if (xmlNodeDump(b, NULL, node, 0, 0) >= 0) {
		s = (const char *)xmlBufferContent(b);
		len = (size_t)xmlBufferLength(b);
		for (size_t i = 0; i < len; i++)
			breaks += s[i] == '\n';
		m = malloc(sizeof(*m) + len + 4 * breaks + 1);
	}
	if (m) {
		m->next = NULL;
		m->len = copy_one_line(m->data, s, len);
		m->data[m->len++] = '\n'; /* clients may split on newlines: replies contain none */
	}
	xmlBufferFree(b);
	return m;
}

/* Events reach a connection from anywhere, also from inside its own request (the log
 * line a request causes): freeing it there would pull it from under its caller. */
void conn_drop(struct conn *cn)
{
	cn->dropped = cn->closing = true;
	queue_clear(cn);
	ev_io_stop(cn->ctl->loop, &cn->rio);
	cn->read_paused = true;
	ev_feed_event(cn->ctl->loop, &cn->wio, EV_WRITE); /* on_write frees it */
}

int conn_send(struct conn *cn, xmlNodePtr node, bool is_event)
{
	struct outmsg *m;

	if (cn->dropped) {
		xmlFreeNode(node);
		return -ECONNRESET;
	}
	if (is_event && cn->q_len >= cn->ctl->cfg->limits.max_queue) {
		xmlFreeNode(node);
		cn->ctl->stats.dropped_slow++;
		log_warn("control: %s does not read its events (%zu queued); disconnecting",
			 cn->peer, cn->q_len);
		return -ENOBUFS;
	}
	m = serialise(node);
	xmlFreeNode(node);
	if (!m)
		return -ENOMEM;
	if (cn->q_tail)
		cn->q_tail->next = m;
	else
		cn->q_head = m;
	cn->q_tail = m;
	cn->q_len++;
	/* Write at once: the common case is an idle socket, and this saves a loop turn. */
	if (cn->fd >= 0 && cn->q_len == 1 && flush(cn) < 0)
		return -EPIPE;
	update_watchers(cn);
	return 0;
}

static int on_message(const char *msg, size_t len, void *arg)
{
	struct conn *cn = arg;

	/* After a not-well-formed message the stream is over, also for the rest of the
	 * bytes already read: one Error, then the close (PROTOCOL.md "Framing"). */
	if (cn->closing)
		return -ESHUTDOWN;
	return request_handle(cn, msg, len);
}

/* Stream-level failures: one Error (none for cross-protocol bytes), then close. */
static int stream_error(struct conn *cn, int r)
{
	struct request req = { .ctl = cn->ctl, .conn = cn };
	enum control_error code = r == FRAME_TOO_LARGE ? CONTROL_ERROR_TOO_LARGE :
				  r == FRAME_TOO_DEEP  ? CONTROL_ERROR_LIMIT :
							 CONTROL_ERROR_NOT_WELL_FORMED;

	if (r == FRAME_NOT_XML) {
		log_notice("control: %s sent non-XML bytes; closed without reply", cn->peer);
		return -EPROTO;
	}
	if (r == FRAME_STOPPED) /* the handler closed the stream: flush its Error first */
		return cn->closing && !cn->dropped && cn->q_head ? 0 : -EPROTO;
	log_info("control: %s: %s; closing", cn->peer, cn->frame.err);
	cn->closing = true;
	if (conn_send(cn, reply_error(&req, code, "%s; the connection is closed",
				      cn->frame.err), false) < 0)
		return -EPIPE;
	return cn->q_head ? 0 : -EPROTO;
}

int conn_input(struct conn *cn, const char *data, size_t len)
{
	int r;

	if (cn->closing)
		return 0;
	r = frame_feed(&cn->frame, data, len, on_message, cn);
	if (r < 0)
		return stream_error(cn, r);
	return cn->closing && !cn->q_head ? -EPROTO : 0;
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *cn = w->data;
	char buf[65536];
	ssize_t n = recv(cn->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || conn_input(cn, buf, (size_t)n) < 0)
		conn_free(cn);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *cn = w->data;

	if (cn->dropped || flush(cn) < 0 || (cn->closing && !cn->q_head)) {
		conn_free(cn);
		return;
	}
	update_watchers(cn);
}
