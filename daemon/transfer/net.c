/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sockets of the MSRP connection a Fetch negotiates (RFC 4145 a=setup): the receiver
 * listens on the address its INVITE leaves from, the holder connects to the offer's
 * c=/m=. Addresses are numeric only (the SIP layer's rule, DESIGN.md).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transfer/transfer-private.h"

union sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

static int to_sa(const char *host, uint16_t port, union sa *sa, socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, host, &sa->in.sin_addr) == 1) {
		sa->in.sin_family = AF_INET;
		sa->in.sin_port = htons(port);
		*len = sizeof(sa->in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sa->in6.sin6_addr) == 1) {
		sa->in6.sin6_family = AF_INET6;
		sa->in6.sin6_port = htons(port);
		*len = sizeof(sa->in6);
		return 0;
	}
	return -EINVAL;
}

static int from_sa(const union sa *sa, char *buf, size_t size, uint16_t *port)
{
	const void *a = sa->sa.sa_family == AF_INET6 ? (const void *)&sa->in6.sin6_addr
						     : (const void *)&sa->in.sin_addr;

	if (!inet_ntop(sa->sa.sa_family, a, buf, (socklen_t)size))
		return -errno;
	if (port)
		*port = ntohs(sa->sa.sa_family == AF_INET6 ? sa->in6.sin6_port : sa->in.sin_port);
	return 0;
}

int transfer_uri_host(const char *uri, char *host, size_t size, uint16_t *port)
{
	const char *p, *end, *colon;
	size_t n;
	long v = 5060;

	if (strncmp(uri, "sip:", 4) != 0)
		return -EINVAL;
	p = uri + 4;
	end = p + strcspn(p, ";?>");
	for (const char *at = p; at < end; at++)
		if (*at == '@')
			p = at + 1;
	if (*p == '[') { /* RFC 3261 25.1 IPv6reference */
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb)
			return -EINVAL;
		n = (size_t)(rb - p - 1);
		p++;
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon ? colon : end) - p);
	}
	if (n == 0 || n >= size)
		return -EINVAL;
	memcpy(host, p, n);
	host[n] = '\0';
	if (colon) {
		char *e;

		v = strtol(colon + 1, &e, 10);
		if (e != end || v <= 0 || v > 65535)
			return -EINVAL;
	}
	*port = (uint16_t)v;
	{
		union sa sa;
		socklen_t len;

		return to_sa(host, *port, &sa, &len);
	}
}

int transfer_local_addr(const char *host, char *buf, size_t size, bool *ipv6)
{
	union sa sa, me = { 0 };
	socklen_t len, mlen = sizeof(me);
	int fd, r;

	if (to_sa(host, 9, &sa, &len) < 0)
		return -EINVAL;
	fd = socket(sa.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* a UDP connect sends nothing: it only asks the routing table for our source */
	r = connect(fd, &sa.sa, len) < 0 || getsockname(fd, &me.sa, &mlen) < 0 ? -errno : 0;
	close(fd);
	if (r == 0)
		r = from_sa(&me, buf, size, NULL);
	if (r == 0 && ipv6)
		*ipv6 = me.sa.sa_family == AF_INET6;
	return r;
}

int transfer_listen(const char *addr, uint16_t *port)
{
	union sa sa;
	socklen_t len;
	int fd;

	if (to_sa(addr, 0, &sa, &len) < 0)
		return -EINVAL;
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, &sa.sa, len) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, &sa.sa, &(socklen_t){ sizeof(sa) }) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*port = ntohs(sa.sa.sa_family == AF_INET6 ? sa.in6.sin6_port : sa.in.sin_port);
	return fd;
}

int transfer_connect(const char *addr, uint16_t port, char *local, size_t size,
		     uint16_t *lport)
{
	union sa sa, me = { 0 };
	socklen_t len, mlen = sizeof(me);
	int fd, r;

	if (port == 0 || to_sa(addr, port, &sa, &len) < 0)
		return -EINVAL;
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, &sa.sa, len) < 0 && errno != EINPROGRESS ? -errno : 0;
	if (r == 0 && getsockname(fd, &me.sa, &mlen) < 0)
		r = -errno;
	if (r == 0)
		r = from_sa(&me, local, size, lport);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

bool transfer_same_addr(const char *a, const char *b)
{
	union sa x, y;
	socklen_t lx, ly;

	if (to_sa(a, 0, &x, &lx) < 0 || to_sa(b, 0, &y, &ly) < 0 || lx != ly)
		return false;
	if (x.sa.sa_family == AF_INET)
		return x.in.sin_addr.s_addr == y.in.sin_addr.s_addr;
	return memcmp(&x.in6.sin6_addr, &y.in6.sin6_addr, sizeof(x.in6.sin6_addr)) == 0;
}
