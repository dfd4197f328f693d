/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TCP transport (RFC 3261 18): listeners beside the UDP sockets, connections reused per
 * peer, framing by Content-Length, a bounded number of connections, bounded input and
 * output per connection, an idle timeout, TCP keep-alive, and answers to RFC 5626 3.5.1
 * CRLF keep-alives.
 */
#include "config.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sip/sip-private.h"

#define IN_CAP (SIP_MAX_MESSAGE + 256)

static void conn_close(struct tcp_conn *c)
{
	struct sip *s = c->sip;

	if (c->closed)
		return;
	c->closed = true;
	ev_io_stop(s->loop, &c->rio);
	ev_io_stop(s->loop, &c->wio);
	ev_timer_stop(s->loop, &c->idle);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	mem_deref(c);
}

static void conn_destroy(void *data)
{
	struct tcp_conn *c = data;

	free(c->in);
	free(c->out);
}

bool sip_addr_same(const union sip_sockaddr *a, const union sip_sockaddr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port &&
		       a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	return a->in6.sin6_port == b->in6.sin6_port &&
	       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(struct in6_addr)) == 0;
}

static int flush(struct tcp_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(c->sip->loop, &c->wio);
			return 0;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		c->out_off += n;
	}
	c->out_off = c->out_len = 0;
	ev_io_stop(c->sip->loop, &c->wio);
	return 0;
}

static int conn_write(struct tcp_conn *c, const char *buf, size_t n)
{
	char *p;

	if (c->out_len - c->out_off + n > SIP_TCP_MAX_QUEUE)
		return -ENOBUFS;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	p = realloc(c->out, c->out_len + n);
	if (!p)
		return -ENOMEM;
	c->out = p;
	memcpy(c->out + c->out_len, buf, n);
	c->out_len += n;
	return c->connecting ? 0 : flush(c);
}

static void connect_failed(struct tcp_conn *c, int err)
{
	log_debug("sip: connect to %s: %s", c->name, strerror(err));
	/* RFC 3261 18.4: what we queued there is lost; its transactions learn it now
	 * rather than at their timeout, so that RFC 3263 4.3 moves on. */
	mem_ref(c);
	conn_close(c);
	sip_client_flow_failed(c->sip, &c->peer, true);
	mem_deref(c);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_conn *c = w->data;
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->connecting) {
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			connect_failed(c, err);
			return;
		}
		c->connecting = false;
	}
	if (flush(c) < 0)
		conn_close(c);
}

/* RFC 5626 4.4.1: a double-CRLF ping is answered with a single CRLF pong. */
static void keepalive(struct tcp_conn *c, size_t skip)
{
	if (skip >= 4 && memcmp(c->in, "\r\n\r\n", 4) == 0)
		(void)conn_write(c, "\r\n", 2);
}

/* Cut complete messages out of the input buffer; <0: close the connection. */
static int frame_all(struct tcp_conn *c)
{
	struct sip *s = c->sip;
	size_t skip, off = 0;
	ssize_t n;

	while (off < c->in_len && !c->closed) {
		n = sip_frame_find(c->in + off, c->in_len - off, SIP_MAX_MESSAGE, &skip);
		if (skip)
			keepalive(c, skip);
		off += skip;
		if (n < 0) {
			s->stats.tcp_oversize += n == -EMSGSIZE;
			s->stats.rx_garbage += n != -EMSGSIZE;
			return (int)n;
		}
		if (n == 0)
			break;
		sip_input(s, true, c->fd, &c->peer.sa, c->peer_len, c->in + off, (size_t)n);
		off += (size_t)n;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_conn *c = w->data;
	ssize_t n;

	if (!c->in && !(c->in = malloc(IN_CAP))) {
		conn_close(c);
		return;
	}
	n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0 && c->connecting) {
		connect_failed(c, errno); /* the error may show on the read side first */
		return;
	}
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += n;
	ev_timer_again(loop, &c->idle);
	mem_ref(c); /* sip_input may close it */
	if (frame_all(c) < 0) {
		log_debug("sip: closing tcp %s: unframeable or oversized message", c->name);
		conn_close(c);
	}
	mem_deref(c);
}

static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tcp_conn *c = w->data;

	log_debug("sip: closing idle tcp %s", c->name);
	conn_close(c);
}

/*
 * Keep-alive of the flows we hold (RFC 3261 18.3 leaves it to the transport): TCP's own
 * SO_KEEPALIVE rather than RFC 5626 3.5.1 CRLF pings. The kernel sends the probes
 * without waking our loop, any peer answers them (a CRLF ping gets its pong only from
 * an RFC 5626-aware server, which we cannot know without Outbound), they refresh NAT
 * and firewall state like any segment, and a peer that vanished without a FIN is found
 * within 30 + 3 * 10 s, before the idle timeout (SIP_TCP_IDLE), so that requests on
 * the flow fail fast (a read error closes it). We still answer CRLF pings (keepalive()).
 */
static void set_keepalive(int fd)
{
	int on = 1, idle = SIP_TCP_KEEPIDLE, intvl = SIP_TCP_KEEPINTVL, cnt = SIP_TCP_KEEPCNT;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0)
		log_debug("sip: tcp keep-alive: %s", strerror(errno));
}

static struct tcp_conn *conn_new(struct sip *s, int fd, const union sip_sockaddr *peer,
				 socklen_t plen, bool connecting)
{
	struct tcp_conn *c = mem_zalloc(sizeof(*c), conn_destroy);

	if (!c) {
		close(fd);
		return NULL;
	}
	set_keepalive(fd);
	c->sip = s;
	c->fd = fd;
	c->peer = *peer;
	c->peer_len = plen;
	c->connecting = connecting;
	sip_addr_format(&peer->sa, c->name, sizeof(c->name));
	ev_io_init(&c->rio, on_readable, fd, EV_READ);
	ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
	ev_init(&c->idle, on_idle);
	c->idle.repeat = SIP_TCP_IDLE;
	c->rio.data = c->wio.data = c->idle.data = c;
	ev_io_start(s->loop, &c->rio);
	if (connecting)
		ev_io_start(s->loop, &c->wio);
	ev_timer_again(s->loop, &c->idle);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	return c;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_listener *l = w->data;
	struct sip *s = l->sip;
	union sip_sockaddr peer;
	socklen_t len = sizeof(peer);
	int fd;

	while ((fd = accept4(l->fd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (s->n_conns >= SIP_MAX_TCP_CONNS) {
			s->stats.tcp_refused++;
			close(fd);
		} else {
			conn_new(s, fd, &peer, len, false);
		}
		len = sizeof(peer);
	}
}

static int listen_one(struct sip *s, const union sip_sockaddr *addr, socklen_t alen)
{
	struct tcp_listener *l = &s->tcp[s->n_tcp];
	int fd, one = 1;

	fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, &addr->sa, alen) < 0 || listen(fd, 128) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*l = (struct tcp_listener){ .sip = s, .fd = fd, .family = addr->sa.sa_family };
	sip_addr_format(&addr->sa, l->name, sizeof(l->name));
	ev_io_init(&l->io, on_accept, fd, EV_READ);
	l->io.data = l;
	ev_io_start(s->loop, &l->io);
	s->n_tcp++;
	log_info("sip: listening on tcp %s", l->name);
	return 0;
}

int tcp_start(struct sip *s)
{
	/* The same addresses as UDP, at the port UDP got. */
	for (unsigned i = 0; i < s->n_udp; i++) {
		union sip_sockaddr a = { 0 };
		socklen_t len = sizeof(a);
		int r;

		if (getsockname(s->udp[i].fd, &a.sa, &len) < 0)
			return -errno;
		r = listen_one(s, &a, len);
		if (r < 0 && !(r == -EADDRINUSE && s->cfg->sip_port == 0))
			log_err("sip: cannot listen on tcp %s: %s", s->udp[i].name, strerror(-r));
		if (r < 0)
			return r;
	}
	return 0;
}

void tcp_stop(struct sip *s)
{
	while (s->conns)
		conn_close(s->conns);
	for (unsigned i = 0; i < s->n_tcp; i++) {
		ev_io_stop(s->loop, &s->tcp[i].io);
		close(s->tcp[i].fd);
	}
	s->n_tcp = 0;
}

static struct tcp_conn *conn_connect(struct sip *s, const union sip_sockaddr *to, socklen_t len)
{
	int fd;

	if (s->n_conns >= SIP_MAX_TCP_CONNS)
		return NULL;
	fd = socket(to->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, &to->sa, len) < 0 && errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	return conn_new(s, fd, to, len, true);
}

int tcp_send(struct sip *s, int fd, const union sip_sockaddr *flow, const union sip_sockaddr *to,
	     socklen_t len, const char *buf, size_t n)
{
	struct tcp_conn *c, *found = NULL;
	int r;

	/* RFC 3261 18.2.2: the connection the request came on, if it is still open ... */
	for (c = s->conns; flow && c && !found; c = c->next)
		if (c->fd == fd && sip_addr_same(&c->peer, flow))
			found = c;
	/* ... else a flow to received/rport, else a new connection there. */
	for (c = s->conns; c && !found; c = c->next)
		if (sip_addr_same(&c->peer, to))
			found = c;
	if (!found)
		found = conn_connect(s, to, len);
	if (!found)
		return -ECONNREFUSED;
	r = conn_write(found, buf, n);
	if (r < 0)
		conn_close(found);
	return r;
}
