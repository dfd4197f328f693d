/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client side of the control protocol: the daemon writes one message per line
 * (newlines inside text are written as &#10;), so input is split on '\n' and each
 * line parsed on its own. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "sipsvc-client.h"

#define LINE_MAX_BYTES (16 * 1024 * 1024) /* longer than any message the daemon sends */
#define QUEUE_MAX 65536

struct sipsvc_client {
	int fd;
	bool eof;
	char endpoint[128];
	char *in;
	size_t in_len, in_cap;
	xmlDocPtr *q; /* ring of parsed messages */
	size_t q_head, q_len, q_cap;
	unsigned long next_ref;
};

static int connect_to(int family, const struct sockaddr *sa, socklen_t len, int *ret)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, sa, len) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*ret = fd;
	return 0;
}

static int connect_unix(const char *path, int *ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);

	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);
	return connect_to(AF_UNIX, (struct sockaddr *)&sa, sizeof(sa), ret);
}

static int connect_tcp(int port, int *ret)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	return connect_to(AF_INET, (struct sockaddr *)&sa, sizeof(sa), ret);
}

/* PROTOCOL.md "How clients find the daemon". */
static int discover(struct sipsvc_client *c)
{
	const char *v = getenv("SIPSVC_RUNTIME_DIR"), *x = getenv("XDG_RUNTIME_DIR");
	const char *p = getenv("SIPSVC_CONTROL_PORT");
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 32];
	int port = p ? atoi(p) : 7060;

	if (v && *v)
		snprintf(path, sizeof(path), "%s/control", v);
	else if (x && *x)
		snprintf(path, sizeof(path), "%s/sipsvc/control", x);
	else
		path[0] = '\0';
	if (path[0] && access(path, F_OK) == 0) {
		snprintf(c->endpoint, sizeof(c->endpoint), "unix:%s", path);
		return connect_unix(path, &c->fd);
	}
	if (port <= 0 || port > 65535)
		return -EINVAL;
	snprintf(c->endpoint, sizeof(c->endpoint), "tcp:127.0.0.1:%d", port);
	return connect_tcp(port, &c->fd);
}

static int open_endpoint(struct sipsvc_client *c, const struct sipsvc_client_opts *o)
{
	if (o && o->socket_path) {
		snprintf(c->endpoint, sizeof(c->endpoint), "unix:%s", o->socket_path);
		return connect_unix(o->socket_path, &c->fd);
	}
	if (o && o->port > 0) {
		snprintf(c->endpoint, sizeof(c->endpoint), "tcp:127.0.0.1:%d", o->port);
		return connect_tcp(o->port, &c->fd);
	}
	return discover(c);
}

int sipsvc_client_connect(const struct sipsvc_client_opts *o, struct sipsvc_client **ret)
{
	struct sipsvc_client *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->fd = -1;
	r = open_endpoint(c, o);
	if (r == 0 && fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
		r = -errno;
	if (r < 0) {
		sipsvc_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int sipsvc_client_new_fd(int fd, struct sipsvc_client **ret)
{
	struct sipsvc_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fd = fd;
	snprintf(c->endpoint, sizeof(c->endpoint), "fd:%d", fd);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		int r = -errno;

		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void sipsvc_client_free(struct sipsvc_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	while (c->q_len > 0)
		xmlFreeDoc(sipsvc_client_next(c));
	free(c->q);
	free(c->in);
	free(c);
}

int sipsvc_client_fd(const struct sipsvc_client *c)
{
	return c->fd;
}

const char *sipsvc_client_endpoint(const struct sipsvc_client *c)
{
	return c->endpoint;
}

xmlNodePtr sipsvc_request_new(const char *name)
{
	return xmlNewNode(NULL, BAD_CAST name);
}

int sipsvc_request_set(xmlNodePtr n, const char *name, const char *value)
{
	return xmlSetProp(n, BAD_CAST name, BAD_CAST value) ? 0 : -ENOMEM;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r == 0 ? -ETIMEDOUT : 0;
}

int sipsvc_client_send_raw(struct sipsvc_client *c, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		int r;

		if (n >= 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		/* The daemon reads while it writes, but we must too, or both can block. */
		r = sipsvc_client_process(c);
		if (r < 0 && r != -EPIPE)
			return r;
		if ((r = wait_fd(c->fd, POLLOUT, 30000)) < 0)
			return r;
	}
	return 0;
}

static int set_ref(struct sipsvc_client *c, xmlNodePtr req, char *ret_ref, size_t size)
{
	xmlChar *ref = xmlGetProp(req, BAD_CAST "ref");
	char gen[32];

	if (!ref) {
		snprintf(gen, sizeof(gen), "r%lu", ++c->next_ref);
		if (!xmlSetProp(req, BAD_CAST "ref", BAD_CAST gen))
			return -ENOMEM;
		ref = xmlStrdup(BAD_CAST gen);
	}
	if (ret_ref && size > 0)
		snprintf(ret_ref, size, "%s", ref ? (const char *)ref : "");
	xmlFree(ref);
	return 0;
}

int sipsvc_client_send(struct sipsvc_client *c, xmlNodePtr req, char *ret_ref, size_t size)
{
	xmlBufferPtr b = xmlBufferCreate();
	int r = b ? set_ref(c, req, ret_ref, size) : -ENOMEM;

	if (r == 0 && xmlNodeDump(b, NULL, req, 0, 0) < 0)
		r = -ENOMEM;
	if (r == 0)
		r = sipsvc_client_send_raw(c, (const char *)xmlBufferContent(b),
					   (size_t)xmlBufferLength(b));
	xmlBufferFree(b);
	xmlFreeNode(req);
	return r;
}

int sipsvc_client_shutdown(struct sipsvc_client *c)
{
	return shutdown(c->fd, SHUT_WR) < 0 ? -errno : 0;
}

static int queue_push(struct sipsvc_client *c, xmlDocPtr doc)
{
	if (c->q_len == c->q_cap) {
		size_t cap = c->q_cap ? c->q_cap * 2 : 16;
		xmlDocPtr *q;

		if (cap > QUEUE_MAX)
			return -ENOBUFS;
		q = malloc(cap * sizeof(xmlDocPtr));
		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < c->q_len; i++)
			q[i] = c->q[(c->q_head + i) % c->q_cap];
		free(c->q);
		c->q = q;
		c->q_cap = cap;
		c->q_head = 0;
	}
	c->q[(c->q_head + c->q_len++) % c->q_cap] = doc;
	return 0;
}

xmlDocPtr sipsvc_client_next(struct sipsvc_client *c)
{
	xmlDocPtr d;

	if (c->q_len == 0)
		return NULL;
	d = c->q[c->q_head];
	c->q_head = (c->q_head + 1) % c->q_cap;
	c->q_len--;
	return d;
}

/* The daemon is trusted less than fully: no network, no entities, no DTD. */
static int parse_line(struct sipsvc_client *c, const char *line, size_t len)
{
	const int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
	xmlDocPtr doc;

	if (len == 0)
		return 0;
	doc = xmlReadMemory(line, (int)len, NULL, "UTF-8", opts);
	if (!doc || doc->intSubset)
		return xmlFreeDoc(doc), -EBADMSG;
	if (queue_push(c, doc) < 0)
		return xmlFreeDoc(doc), -ENOBUFS;
	return 0;
}

static int split_lines(struct sipsvc_client *c)
{
	size_t start = 0;
	char *nl;
	int r;

	while ((nl = memchr(c->in + start, '\n', c->in_len - start))) {
		r = parse_line(c, c->in + start, (size_t)(nl - (c->in + start)));
		if (r < 0)
			return r;
		start = (size_t)(nl - c->in) + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	return c->in_len > LINE_MAX_BYTES ? -EMSGSIZE : 0;
}

static int read_some(struct sipsvc_client *c)
{
	ssize_t n;

	if (c->in_cap - c->in_len < 65536) {
		char *b = realloc(c->in, c->in_cap + 65536);

		if (!b)
			return -ENOMEM;
		c->in = b;
		c->in_cap += 65536;
	}
	n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	c->in_len += (size_t)n;
	return 1;
}

int sipsvc_client_process(struct sipsvc_client *c)
{
	int r;

	while (!c->eof && (r = read_some(c)) > 0)
		if ((r = split_lines(c)) < 0)
			return r;
	if (!c->eof && r < 0)
		return r;
	if (c->eof && c->q_len == 0)
		return -EPIPE;
	return (int)c->q_len;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sipsvc_client_wait(struct sipsvc_client *c, int timeout_ms, xmlDocPtr *ret)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	for (;;) {
		int r = sipsvc_client_process(c), left;

		if (r > 0) {
			*ret = sipsvc_client_next(c);
			return 0;
		}
		if (r < 0)
			return r;
		left = deadline < 0 ? -1 : (int)(deadline - now_ms());
		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		if ((r = wait_fd(c->fd, POLLIN, left)) < 0)
			return r;
	}
}

static bool is_reply_to(xmlDocPtr d, const char *ref)
{
	const char *name = sipsvc_msg_name(d), *r = sipsvc_msg_attr(d, "ref");

	return name && strcmp(name, "Event") != 0 && (!r || strcmp(r, ref) == 0);
}

/* Remove and return the reply to @p ref from the queue; the events stay, in order. */
static xmlDocPtr take_reply(struct sipsvc_client *c, const char *ref)
{
	for (size_t i = 0; i < c->q_len; i++) {
		xmlDocPtr d = c->q[(c->q_head + i) % c->q_cap];

		if (!is_reply_to(d, ref))
			continue;
		for (size_t k = i; k + 1 < c->q_len; k++)
			c->q[(c->q_head + k) % c->q_cap] = c->q[(c->q_head + k + 1) % c->q_cap];
		c->q_len--;
		return d;
	}
	return NULL;
}

int sipsvc_client_call(struct sipsvc_client *c, xmlNodePtr req, int timeout_ms, xmlDocPtr *ret)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	char ref[80];
	int r = sipsvc_client_send(c, req, ref, sizeof(ref));

	while (r == 0) {
		int left;

		r = sipsvc_client_process(c);
		if ((*ret = take_reply(c, ref)))
			return 0;
		if (r < 0)
			return r;
		left = deadline < 0 ? -1 : (int)(deadline - now_ms());
		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		r = wait_fd(c->fd, POLLIN, left);
	}
	return r;
}

const char *sipsvc_msg_name(xmlDocPtr doc)
{
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;

	return root ? (const char *)root->name : NULL;
}

const char *sipsvc_msg_attr(xmlDocPtr doc, const char *name)
{
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlAttrPtr a = root ? xmlHasProp(root, BAD_CAST name) : NULL;

	return a && a->children ? (const char *)a->children->content : NULL;
}
