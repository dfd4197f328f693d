/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control listeners: inherited from systemd (sipsvcd.socket) or bound here. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "control/control-private.h"

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	int fd;

	/* Drain the backlog: under a burst of connects one wake-up takes them all. */
	while ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		control_accept(l->ctl, l, fd);
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warn("control: accept on %s failed: %s", l->addr, strerror(errno));
}

static int add_listener(struct control *ctl, int fd, bool is_unix, const char *addr)
{
	struct listener *l;

	if (ctl->n_ls == CONTROL_MAX_LISTENERS) {
		close(fd);
		return -ENOSPC;
	}
	l = &ctl->ls[ctl->n_ls++];
	*l = (struct listener){ .ctl = ctl, .fd = fd, .is_unix = is_unix };
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	ev_io_init(&l->io, on_accept, fd, EV_READ);
	l->io.data = l;
	ev_io_start(ctl->loop, &l->io);
	log_info("control: listening on %s %s", is_unix ? "unix" : "tcp", addr);
	return 0;
}

static int local_name(int fd, char *buf, size_t size, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);

	if (getsockname(fd, (struct sockaddr *)ss, &len) < 0)
		return -errno;
	peer_format((struct sockaddr *)ss, len, buf, size);
	return 0;
}

/* A socket unit that says 0.0.0.0 must not make us reachable from the network. */
static int adopt_inherited(struct control *ctl, int fd)
{
	struct sockaddr_storage ss = { 0 };
	char name[128] = "(unnamed)"; /* logged even when getsockname() fails */
	bool is_unix = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0;

	if (!is_unix && sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
		log_warn("control: ignoring inherited fd %d: not a listening stream socket", fd);
		close(fd);
		return 0;
	}
	if (local_name(fd, name, sizeof(name), &ss) < 0 ||
	    (!is_unix && !peer_is_loopback((struct sockaddr *)&ss))) {
		log_err("control: refusing inherited socket %s: not a loopback address", name);
		close(fd);
		return 0;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	if (!is_unix && ss.ss_family == AF_INET)
		ctl->tcp_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return add_listener(ctl, fd, is_unix, name);
}

static int bind_tcp(struct control *ctl, int family, int port)
{
	struct sockaddr_storage ss = { .ss_family = family };
	socklen_t len;
	char name[128];
	int fd, one = 1;

	if (family == AF_INET) {
		struct sockaddr_in *s = (void *)&ss;

		s->sin_port = htons(port);
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (void *)&ss;

		s->sin6_port = htons(port);
		s->sin6_addr = in6addr_loopback;
		len = sizeof(*s);
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0 ||
	    local_name(fd, name, sizeof(name), &ss) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (family == AF_INET)
		ctl->tcp_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return add_listener(ctl, fd, false, name);
}

/* A socket file left by a daemon that died is removed; a live daemon is not stolen from. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Bind and listen under a temporary name, then rename into place: a client that waits
 * for the socket file to appear never finds one that refuses connections. */
static int listen_at(const char *path, int *ret_fd)
{
	struct sockaddr_un tmp = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, r;

	if ((size_t)snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%ld", path, (long)getpid()) >=
	    sizeof(tmp.sun_path))
		return -ENAMETOOLONG;
	(void)unlink(tmp.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177); /* the socket is born 0600 */
	r = bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) < 0 ? -errno : 0;
	umask(old);
	if (r == 0 && (listen(fd, 128) < 0 || rename(tmp.sun_path, path) < 0))
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp.sun_path);
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int bind_unix(struct control *ctl)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *dir = ctl->cfg->runtime_dir;
	int fd = -1, r;

	r = paths_make_private_dir(dir);
	if (r < 0) {
		log_err("control: runtime dir %s: %s", dir,
			r == -EPERM ? "owned by another user or writable by others" : strerror(-r));
		return r;
	}
	/* Room for the temporary ".PID" suffix too. */
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path) - 12, "%s/control", dir) >=
	    sizeof(sa.sun_path) - 12)
		return -ENAMETOOLONG;
	r = clear_stale(sa.sun_path, &sa);
	if (r == 0)
		r = listen_at(sa.sun_path, &fd);
	if (r < 0)
		return r;
	ctl->unix_path = strdup(sa.sun_path);
	return add_listener(ctl, fd, true, sa.sun_path);
}

static int bind_all(struct control *ctl)
{
	int r = bind_tcp(ctl, AF_INET, ctl->cfg->control_port);

	if (r < 0) {
		log_err("control: cannot listen on 127.0.0.1:%d: %s", ctl->cfg->control_port,
			strerror(-r));
		return r;
	}
	/* ::1 may be missing (IPv6 disabled); the same port as v4 so clients find both. */
	r = bind_tcp(ctl, AF_INET6, ctl->tcp_port);
	if (r < 0)
		log_notice("control: not listening on [::1]:%d: %s", ctl->tcp_port, strerror(-r));
	r = bind_unix(ctl);
	if (r < 0)
		log_err("control: cannot listen on %s/control: %s", ctl->cfg->runtime_dir,
			strerror(-r));
	return r;
}

int listen_start(struct control *ctl)
{
	int n = sd_listen_fds(1), r;

	ctl->tcp_port = -1;
	if (n <= 0)
		return bind_all(ctl);
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
		r = adopt_inherited(ctl, fd);
		if (r < 0)
			return r;
	}
	if (ctl->n_ls == 0) {
		log_err("control: none of the %d inherited sockets is usable", n);
		return -EBADF;
	}
	return 0;
}

void listen_stop(struct control *ctl)
{
	for (unsigned i = 0; i < ctl->n_ls; i++) {
		ev_io_stop(ctl->loop, &ctl->ls[i].io);
		close(ctl->ls[i].fd);
	}
	ctl->n_ls = 0;
	if (ctl->unix_path) {
		unlink(ctl->unix_path);
		free(ctl->unix_path);
		ctl->unix_path = NULL;
	}
}
