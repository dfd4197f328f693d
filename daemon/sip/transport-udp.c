/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* UDP transport (RFC 3261 18): one socket per address family. */
#include "config.h"

#include <errno.h>
#include <time.h> /* before linux/errqueue.h */
#include <linux/errqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sip/sip-private.h"

/*
 * RFC 3261 18.4: an ICMP error for a request we sent is a transport error. With
 * IP_RECVERR the kernel queues them with the datagram's destination (ip(7)); the
 * client transactions toward it learn of it now rather than at timer B/F, so that
 * RFC 3263 4.3 moves on. The queue is drained whatever the error says.
 */
static void drain_errors(struct udp_sock *u)
{
	for (int i = 0; i < SIP_UDP_BURST; i++) {
		union sip_sockaddr dst = { 0 };
		char ctl[512], byte;
		struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
		struct msghdr mh = { .msg_name = &dst, .msg_namelen = sizeof(dst), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = ctl,
				     .msg_controllen = sizeof(ctl) };
		bool unreachable = false;

		if (recvmsg(u->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			struct sock_extended_err ee;

			if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
			      (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
				continue;
			memcpy(&ee, CMSG_DATA(c), sizeof(ee));
			unreachable |= (ee.ee_origin == SO_EE_ORIGIN_ICMP ||
					ee.ee_origin == SO_EE_ORIGIN_ICMP6) &&
				       (ee.ee_errno == ECONNREFUSED || ee.ee_errno == EHOSTUNREACH ||
					ee.ee_errno == ENETUNREACH);
		}
		if (unreachable && mh.msg_namelen > 0 && dst.sa.sa_family == u->family)
			sip_client_flow_failed(u->sip, &dst, false);
	}
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct udp_sock *u = w->data;
	struct sip *s = u->sip;
	union sip_sockaddr peer;
	socklen_t len;
	ssize_t n;

	/* A bounded burst per wake-up keeps TCP and the control socket served under load. */
	for (int i = 0; i < SIP_UDP_BURST; i++) {
		len = sizeof(peer);
		n = recvfrom(u->fd, s->rxbuf, SIP_MAX_MESSAGE + 1, MSG_TRUNC, &peer.sa, &len);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			/* The socket's pending error (ICMP, with IP_RECVERR): read its queue. */
			drain_errors(u);
			continue;
		}
		if (n < 0)
			return;
		if (n > SIP_MAX_MESSAGE) {
			s->stats.rx_garbage++;
			continue;
		}
		sip_input(s, false, u->fd, &peer.sa, len, s->rxbuf, (size_t)n);
	}
}

/* Bind one datagram socket; *port 0 picks one and is updated. */
static int bind_one(struct sip *s, const union sip_sockaddr *addr, socklen_t alen, int *port)
{
	struct udp_sock *u = &s->udp[s->n_udp];
	union sip_sockaddr local = *addr;
	socklen_t len = sizeof(local);
	int fd, one = 1, rcvbuf = 4 << 20;

	fd = socket(addr->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (addr->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Bursts at thousands of requests per second must not overflow the queue. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* ICMP errors for what we send (drain_errors()). */
	if (addr->sa.sa_family == AF_INET6)
		setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
	else
		setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one));
	if (bind(fd, &addr->sa, alen) < 0 || getsockname(fd, &local.sa, &len) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*u = (struct udp_sock){ .sip = s, .fd = fd, .family = addr->sa.sa_family };
	sip_addr_format(&local.sa, u->name, sizeof(u->name));
	sip_addr_split(&local.sa, (char[INET6_ADDRSTRLEN]){ 0 }, INET6_ADDRSTRLEN, port);
	ev_io_init(&u->io, on_readable, fd, EV_READ);
	u->io.data = u;
	ev_io_start(s->loop, &u->io);
	s->n_udp++;
	log_info("sip: listening on udp %s", u->name);
	return 0;
}

static int any_addr(int family, int port, union sip_sockaddr *a, socklen_t *len)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		a->in.sin_family = AF_INET;
		a->in.sin_port = htons(port);
		*len = sizeof(a->in);
	} else {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons(port);
		a->in6.sin6_addr = in6addr_any;
		*len = sizeof(a->in6);
	}
	return 0;
}

int udp_start(struct sip *s)
{
	union sip_sockaddr a;
	socklen_t len;
	int port = s->cfg->sip_port, r;

	if (s->cfg->sip_addr) {
		r = sip_addr_parse(s->cfg->sip_addr, port ? port : 1, &a, &len);
		if (r < 0) {
			log_err("sip: --sip-addr %s is not a numeric IPv4 or IPv6 address",
				s->cfg->sip_addr);
			return r;
		}
		if (a.sa.sa_family == AF_INET6)
			a.in6.sin6_port = htons(port);
		else
			a.in.sin_port = htons(port);
		r = bind_one(s, &a, len, &port);
	} else {
		any_addr(AF_INET, port, &a, &len);
		r = bind_one(s, &a, len, &port);
		if (r == 0) {
			int r6;

			/* IPv6 may be disabled on this host: IPv4 alone still serves. */
			any_addr(AF_INET6, port, &a, &len);
			r6 = bind_one(s, &a, len, &port);
			if (r6 < 0)
				log_notice("sip: not listening on udp [::]:%d: %s", port,
					   strerror(-r6));
		}
	}
	if (r < 0) {
		log_err("sip: cannot bind udp port %d: %s", s->cfg->sip_port, strerror(-r));
		return r;
	}
	s->port = port;
	return 0;
}

void udp_stop(struct sip *s)
{
	for (unsigned i = 0; i < s->n_udp; i++) {
		ev_io_stop(s->loop, &s->udp[i].io);
		close(s->udp[i].fd);
	}
	s->n_udp = 0;
}

/* The socket the request came in on, if its family fits @p to; else any that fits. */
static int pick_socket(struct sip *s, int fd, int family)
{
	int any = -1;

	for (unsigned i = 0; i < s->n_udp; i++) {
		if (s->udp[i].family != family)
			continue;
		if (s->udp[i].fd == fd)
			return fd;
		any = s->udp[i].fd;
	}
	return any;
}

int udp_send(struct sip *s, int fd, const union sip_sockaddr *to, socklen_t len,
	     const char *buf, size_t n)
{
	fd = pick_socket(s, fd, to->sa.sa_family);
	if (fd < 0)
		return -EAFNOSUPPORT;
	/* The socket's pending ICMP error (IP_RECVERR) fails whichever send comes next,
	 * to any peer: read it where it belongs and send again. A routing error of this
	 * very send stays. */
	for (int tries = 0;; tries++) {
		int err;

		if (sendto(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL, &to->sa, len) >= 0)
			return 0;
		err = errno;
		if (tries == 3 || (err != ECONNREFUSED && err != EHOSTUNREACH && err != ENETUNREACH))
			return -err;
		for (unsigned i = 0; i < s->n_udp; i++)
			if (s->udp[i].fd == fd)
				drain_errors(&s->udp[i]);
	}
}
