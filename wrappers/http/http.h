/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The http wrapper's internals. */
#ifndef SIPSVC_HTTP_H
#define SIPSVC_HTTP_H

#include <curl/curl.h>

#include "wrappers/wrapper-util.h"

#define HTTP_MAX_PENDING 8 /* dial requests in flight per device */

struct http_dev {
	const struct sipsvc_host_api *api;
	struct sipsvc_host *h;
	struct ev_loop *loop;
	char *url, *method, *body, *content_type, *userpwd;
	long timeout_ms;
	bool digest; /* else basic auth, sent with the first request */
	CURLM *multi;
	ev_timer timer;
	struct http_req *reqs[HTTP_MAX_PENDING]; /* in flight */
	unsigned pending;
};

/* A dial request in flight. */
struct http_req {
	struct http_dev *dev;
	CURL *easy;
	struct curl_slist *headers;
	char *url, *body;
	size_t seen; /* response bytes, bounded */
	sipsvc_done_h *done;
	void *arg;
};

/* template.c */
/**
 * Expand {target} and {device} in @p tmpl. In a URL (@p url true) the values are
 * percent-encoded; in a body they must not need escaping (no quotes, '<', '&' or
 * control characters — a schema-checked SIP URI never does). malloc'd result or NULL.
 */
char *http_expand(const char *tmpl, const char *target, const char *device, bool url);

/* multi.c: libcurl's multi interface on the daemon's libev loop */
int http_multi_init(struct http_dev *d);
void http_multi_done(struct http_dev *d);
int http_multi_add(struct http_dev *d, struct http_req *rq);

#endif
