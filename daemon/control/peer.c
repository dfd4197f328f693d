/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who is at the other end of a control connection (PROTOCOL.md "Who may connect").
 * Unix sockets carry the peer's credentials; for loopback TCP the kernel's socket
 * table knows the owner of the peer socket, asked by its exact 4-tuple through
 * NETLINK_SOCK_DIAG (the lookup `ss -tne` does).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/control-private.h"

int peer_uid_unix(int fd, uid_t *ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	*ret = cred.uid;
	return 0;
}

int peer_diag_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	return fd < 0 ? -errno : fd;
}

/* The peer's socket has local = their address, remote = ours (inet_diag exact lookup). */
static int fill_req(int fd, struct inet_diag_req_v2 *r)
{
	struct sockaddr_storage local = { 0 }, remote = { 0 };
	socklen_t ll = sizeof(local), rl = sizeof(remote);

	if (getsockname(fd, (struct sockaddr *)&local, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&remote, &rl) < 0)
		return -errno;
	if (local.ss_family != remote.ss_family)
		return -EAFNOSUPPORT;
	memset(r, 0, sizeof(*r));
	r->sdiag_family = local.ss_family;
	r->sdiag_protocol = IPPROTO_TCP;
	r->idiag_states = ~0U;
	r->id.idiag_cookie[0] = r->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (local.ss_family == AF_INET) {
		const struct sockaddr_in *l = (void *)&local, *p = (void *)&remote;

		r->id.idiag_sport = p->sin_port;
		r->id.idiag_dport = l->sin_port;
		memcpy(r->id.idiag_src, &p->sin_addr, 4);
		memcpy(r->id.idiag_dst, &l->sin_addr, 4);
	} else if (local.ss_family == AF_INET6) {
		const struct sockaddr_in6 *l = (void *)&local, *p = (void *)&remote;

		r->id.idiag_sport = p->sin6_port;
		r->id.idiag_dport = l->sin6_port;
		memcpy(r->id.idiag_src, &p->sin6_addr, 16);
		memcpy(r->id.idiag_dst, &l->sin6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

/* The kernel answers a sock_diag request synchronously inside sendmsg, so the reply is
 * already queued when we read it: MSG_DONTWAIT never blocks the loop and never misses. */
static int diag_roundtrip(int diag_fd, const struct inet_diag_req_v2 *r, uid_t *ret)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST },
		.r = *r,
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr nlh;
		char buf[8192];
	} resp;
	ssize_t n;

	if (sendto(diag_fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	n = recv(diag_fd, &resp, sizeof(resp), MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	for (struct nlmsghdr *h = &resp.nlh; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			return e->error ? e->error : -ENOENT;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			*ret = m->idiag_uid;
			return 0;
		}
	}
	return -ENOENT;
}

int peer_uid_tcp(int diag_fd, int fd, uid_t *ret)
{
	struct inet_diag_req_v2 r;
	int err = fill_req(fd, &r);

	if (err < 0)
		return err;
	return diag_roundtrip(diag_fd, &r, ret);
}

void peer_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;

		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;

		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(s->sin6_port));
	} else if (sa->sa_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path)) {
		const struct sockaddr_un *s = (const void *)sa;

		snprintf(buf, size, "%.*s", (int)(len - offsetof(struct sockaddr_un, sun_path)),
			 s->sun_path);
	} else {
		snprintf(buf, size, "unix");
	}
}

bool peer_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;

		return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;
		const uint8_t *a = s->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&s->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&s->sin6_addr) && a[12] == 127;
	}
	return false;
}
