/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One MSRP connection on the loop: establishing it (accept or connect, RFC 4145 §4 roles),
 * reading into one bounded buffer through the chunk parser, a small bounded queue for
 * responses and REPORTs, a stall timer. Senders write their chunks themselves. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transfer/transfer-private.h"

static void fail(struct transfer_conn *c, int err)
{
	transfer_conn_pause(c, true);
	ev_io_stop(c->loop, &c->wio);
	ev_timer_stop(c->loop, &c->stall);
	c->ops->error(c->arg, err);
}

/* Feed what is buffered to the parser; unconsumed bytes move to the front. */
static int drain(struct transfer_conn *c)
{
	size_t pos = 0;
	int r = 0;

	while (pos < c->rfill) {
		struct transfer_msrp_event ev;
		ssize_t n = transfer_msrp_parse(&c->parser, c->rbuf + pos, c->rfill - pos, &ev);

		if (n < 0) {
			r = (int)n;
			break;
		}
		pos += (size_t)n;
		if (ev.type == TRANSFER_MSRP_EV_NONE && n == 0)
			break;
		if (ev.type != TRANSFER_MSRP_EV_NONE) {
			r = c->ops->event(c->arg, &ev, &c->parser.head);
			if (r < 0 || c->closed)
				break;
		}
	}
	if (c->closed)
		return 0; /* the session ended in an event; rbuf is gone */
	memmove(c->rbuf, c->rbuf + pos, c->rfill - pos);
	c->rfill -= pos;
	return r;
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct transfer_conn *c = w->data;
	ssize_t n;
	int r;

	/* the parser always consumes all but a head or an end-line prefix; a full buffer
	 * cannot happen with TRANSFER_MSRP_HEAD_MAX far below its size, but never read 0 */
	if (c->rfill == TRANSFER_RBUF_SIZE) {
		fail(c, -EPROTO);
		return;
	}
	n = read(c->fd, c->rbuf + c->rfill, TRANSFER_RBUF_SIZE - c->rfill);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fail(c, n == 0 ? -ECONNRESET : -errno);
		return;
	}
	c->last = ev_now(loop);
	c->rfill += (size_t)n;
	r = drain(c);
	if (r < 0 && !c->closed)
		fail(c, r == -EBADMSG || r == -EMSGSIZE ? -EPROTO : r);
}

static int flush_out(struct transfer_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		c->out_off += (size_t)n;
		c->last = ev_now(c->loop);
	}
	c->out_off = c->out_len = 0;
	return 0;
}

static void update_write(struct transfer_conn *c)
{
	bool want = c->established && !c->closed &&
		    (c->want_write || (c->out_len > 0 && !c->mid_message));

	if (want && !ev_is_active(&c->wio))
		ev_io_start(c->loop, &c->wio);
	else if (!want && ev_is_active(&c->wio))
		ev_io_stop(c->loop, &c->wio);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct transfer_conn *c = w->data;
	int r;

	if (!c->mid_message && c->out_len > 0) {
		r = flush_out(c);
		if (r < 0) {
			fail(c, r);
			return;
		}
	}
	if (c->out_len == 0 && c->want_write)
		c->ops->writable(c->arg);
	else
		update_write(c);
}

static void on_stall(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer_conn *c = w->data;
	ev_tstamp left = c->last + c->timeout - ev_now(loop);

	/* RFC 4975 §7.1.1 leaves the timeout to us: no byte either way for that long */
	if (left <= 0) {
		fail(c, -ETIMEDOUT);
		return;
	}
	ev_timer_set(w, left, 0);
	ev_timer_start(loop, w);
}

static void start(struct transfer_conn *c)
{
	c->established = true;
	c->last = ev_now(c->loop);
	ev_io_init(&c->rio, on_read, c->fd, EV_READ);
	ev_io_init(&c->wio, on_write, c->fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	if (!c->paused)
		ev_io_start(c->loop, &c->rio);
	c->ops->established(c->arg);
	if (!c->closed)
		update_write(c);
}

static void on_listen(struct ev_loop *loop, ev_io *w, int revents)
{
	struct transfer_conn *c = w->data;
	int fd, err = 0;
	socklen_t len = sizeof(err);

	if (c->lfd >= 0) {
		fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				fail(c, -errno);
			return;
		}
		/* RFC 4975 §5.4 (one session, one connection here): stop listening */
		ev_io_stop(loop, w);
		close(c->lfd);
		c->lfd = -1;
		c->fd = fd;
	} else {
		ev_io_stop(loop, w);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			fail(c, -err);
			return;
		}
	}
	start(c);
}

int transfer_conn_init(struct transfer_conn *c, struct ev_loop *loop, int fd,
		       enum transfer_sock how, ev_tstamp timeout,
		       const struct transfer_conn_ops *ops, void *arg)
{
	*c = (struct transfer_conn){ .loop = loop, .fd = -1, .lfd = -1, .ops = ops, .arg = arg,
				     .timeout = timeout > 0 ? timeout : TRANSFER_TIMEOUT_DEFAULT };
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		close(fd);
		return -errno;
	}
	c->rbuf = malloc(TRANSFER_RBUF_SIZE);
	if (!c->rbuf) {
		close(fd);
		return -ENOMEM;
	}
	transfer_msrp_parser_init(&c->parser);
	if (how == TRANSFER_SOCK_LISTENING)
		c->lfd = fd;
	else
		c->fd = fd;
	ev_timer_init(&c->stall, on_stall, c->timeout, 0);
	c->stall.data = c;
	c->last = ev_now(loop);
	ev_timer_start(loop, &c->stall);
	if (how == TRANSFER_SOCK_CONNECTED) {
		start(c);
		return 0;
	}
	ev_io_init(&c->lio, on_listen, fd, how == TRANSFER_SOCK_LISTENING ? EV_READ : EV_WRITE);
	c->lio.data = c;
	ev_io_start(loop, &c->lio);
	return 0;
}

void transfer_conn_close(struct transfer_conn *c)
{
	if (!c->loop || c->closed)
		return;
	c->closed = true;
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	ev_io_stop(c->loop, &c->lio);
	ev_timer_stop(c->loop, &c->stall);
	if (c->fd >= 0)
		close(c->fd);
	if (c->lfd >= 0)
		close(c->lfd);
	c->fd = c->lfd = -1;
	free(c->rbuf);
	c->rbuf = NULL;
}

int transfer_conn_queue(struct transfer_conn *c, const char *msg, size_t len)
{
	int r;

	if (c->closed)
		return -ENOTCONN;
	if (len > sizeof(c->out) - c->out_len)
		return -ENOBUFS;
	memcpy(c->out + c->out_len, msg, len);
	c->out_len += len;
	if (c->established && !c->mid_message) {
		r = flush_out(c);
		if (r < 0)
			return r;
	}
	update_write(c);
	return 0;
}

void transfer_conn_pause(struct transfer_conn *c, bool pause)
{
	c->paused = pause;
	if (!c->established || c->closed)
		return;
	if (pause)
		ev_io_stop(c->loop, &c->rio);
	else if (!ev_is_active(&c->rio)) {
		ev_io_start(c->loop, &c->rio);
		/* bytes read before the pause may already hold whole messages */
		if (c->rfill > 0) {
			int r = drain(c);

			if (r < 0 && !c->closed)
				fail(c, r == -EBADMSG || r == -EMSGSIZE ? -EPROTO : r);
		}
	}
}

void transfer_conn_want_write(struct transfer_conn *c, bool want)
{
	c->want_write = want;
	update_write(c);
}

void transfer_conn_touch(struct transfer_conn *c)
{
	if (!c->loop || c->closed)
		return;
	c->last = ev_now(c->loop);
}
