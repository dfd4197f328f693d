/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Socket addresses: numeric only. Names are never resolved on the loop thread. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/sip-private.h"

void sip_addr_split(const struct sockaddr *sa, char *ip, size_t size, int *port)
{
	const union sip_sockaddr *u = (const void *)sa;

	if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &u->in6.sin6_addr, ip, size);
		*port = ntohs(u->in6.sin6_port);
	} else {
		inet_ntop(AF_INET, &u->in.sin_addr, ip, size);
		*port = ntohs(u->in.sin_port);
	}
}

void sip_addr_format(const struct sockaddr *sa, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	int port;

	sip_addr_split(sa, ip, sizeof(ip), &port);
	if (sa->sa_family == AF_INET6)
		snprintf(buf, size, "[%s]:%d", ip, port);
	else
		snprintf(buf, size, "%s:%d", ip, port);
}

int sip_addr_parse(const char *host, int port, union sip_sockaddr *ret, socklen_t *ret_len)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n;

	if (!host || port <= 0 || port > 65535)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (inet_pton(AF_INET, host, &ret->in.sin_addr) == 1) {
		ret->in.sin_family = AF_INET;
		ret->in.sin_port = htons(port);
		*ret_len = sizeof(ret->in);
		return 0;
	}
	/* A Via host may carry its IPv6 reference in brackets (RFC 3261 25.1). */
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(tmp)) {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		host = tmp;
	}
	if (inet_pton(AF_INET6, host, &ret->in6.sin6_addr) != 1)
		return -EINVAL;
	ret->in6.sin6_family = AF_INET6;
	ret->in6.sin6_port = htons(port);
	*ret_len = sizeof(ret->in6);
	return 0;
}
