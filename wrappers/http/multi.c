/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libcurl's multi interface driven by the daemon's libev loop: curl tells which sockets
 * to watch and when to wake it (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION); nothing blocks. */
#include "config.h"

#include "wrappers/http/http.h"

struct sock {
	ev_io io;
	struct http_dev *dev;
	curl_socket_t fd;
};

void http_request_finished(struct http_req *rq, CURLcode res, long status);

static void check_done(struct http_dev *d)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(d->multi, &left))) {
		struct http_req *rq = NULL;
		long status = 0;
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&rq);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(d->multi, easy);
		http_request_finished(rq, res, status);
	}
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sock *s = w->data;
	struct http_dev *d = s->dev;  /* s may be freed by the call below */
	int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
		     (revents & EV_WRITE ? CURL_CSELECT_OUT : 0), running;

	curl_multi_socket_action(d->multi, s->fd, action, &running);
	check_done(d);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_dev *d = w->data;
	int running;

	curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(d);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_dev *d = userp;
	struct sock *s = socketp;
	int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			ev_io_stop(d->loop, &s->io);
			free(s);
		}
		curl_multi_assign(d->multi, fd, NULL);
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->dev = d;
		s->fd = fd;
		ev_io_init(&s->io, on_io, fd, events);
		s->io.data = s;
		curl_multi_assign(d->multi, fd, s);
	}
	ev_io_stop(d->loop, &s->io);
	ev_io_set(&s->io, fd, events);
	ev_io_start(d->loop, &s->io);
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct http_dev *d = userp;

	ev_timer_stop(d->loop, &d->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&d->timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(d->loop, &d->timer);
	}
	return 0;
}

int http_multi_init(struct http_dev *d)
{
	d->multi = curl_multi_init();
	if (!d->multi)
		return -ENOMEM;
	ev_timer_init(&d->timer, on_timeout, 0., 0.);
	d->timer.data = d;
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
	return 0;
}

int http_multi_add(struct http_dev *d, struct http_req *rq)
{
	return curl_multi_add_handle(d->multi, rq->easy) == CURLM_OK ? 0 : -ENOMEM;
}

void http_multi_done(struct http_dev *d)
{
	ev_timer_stop(d->loop, &d->timer);
	if (d->multi)
		curl_multi_cleanup(d->multi);
	d->multi = NULL;
}
