/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The http wrapper: a phone with an HTTP click-to-dial API makes the call itself
 * (transfer mode only: the service never carries its signalling). Parameters:
 *   url            the request URL; {target} and {device} are replaced (percent-encoded)
 *   method         GET (default) or POST
 *   body           POST body template ({target}, {device})
 *   content-type   of the body (default text/plain)
 *   user           HTTP authentication user
 *   auth           basic (default: sent with the first request) or digest
 *   password / password-file   its password, or a file (mode 0600) holding it
 *   timeout-ms     for the whole request (default 10000)
 * A 2xx response means the phone is dialling.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wrappers/http/http.h"

static const char *const params[] = { "url", "method", "body", "content-type", "user", "auth",
				      "password", "password-file", "timeout-ms", NULL };

#define RESPONSE_MAX (64 * 1024) /* a click-to-dial answer is small; refuse floods */

static bool curl_ready; /* curl_global_init() done, until shutdown() */

/* A password file must be private, like any credential the daemon reads. */
static int read_password_file(struct http_dev *d, const char *path, char *buf, size_t size)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		d->api->log(d->h, SIPSVC_LOG_ERR, "%s must be a regular file of mode 0600", path);
		return -EPERM;
	}
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

static int read_auth(struct http_dev *d)
{
	const char *user = d->api->param(d->h, "user"), *pw = d->api->param(d->h, "password");
	const char *pwfile = d->api->param(d->h, "password-file");
	char buf[512];
	int r;

	const char *auth = d->api->param(d->h, "auth");

	if (!user)
		return 0;
	if (auth && strcmp(auth, "basic") != 0 && strcmp(auth, "digest") != 0) {
		d->api->log(d->h, SIPSVC_LOG_ERR, "auth is basic or digest, not \"%s\"", auth);
		return -EINVAL;
	}
	d->digest = auth && strcmp(auth, "digest") == 0;
	if (!pw && pwfile) {
		r = read_password_file(d, pwfile, buf, sizeof(buf));
		if (r < 0)
			return r;
		pw = buf;
	}
	if (asprintf(&d->userpwd, "%s:%s", user, pw ? pw : "") < 0)
		d->userpwd = NULL;
	explicit_bzero(buf, sizeof(buf));
	return d->userpwd ? 0 : -ENOMEM;
}

static int dup_param(struct http_dev *d, const char *name, const char *dflt, char **ret)
{
	const char *v = d->api->param(d->h, name);

	*ret = v || dflt ? strdup(v ? v : dflt) : NULL;
	return (v || dflt) && !*ret ? -ENOMEM : 0;
}

static int read_params(struct http_dev *d)
{
	const char *t = d->api->param(d->h, "timeout-ms"), *url = d->api->param(d->h, "url");
	int r;

	if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
		d->api->log(d->h, SIPSVC_LOG_ERR, "an http device needs url=\"http(s)://…\"");
		return -EINVAL;
	}
	if ((r = dup_param(d, "url", NULL, &d->url)) < 0 ||
	    (r = dup_param(d, "method", "GET", &d->method)) < 0 ||
	    (r = dup_param(d, "body", NULL, &d->body)) < 0 ||
	    (r = dup_param(d, "content-type", "text/plain", &d->content_type)) < 0)
		return r;
	if (strcmp(d->method, "GET") != 0 && strcmp(d->method, "POST") != 0) {
		d->api->log(d->h, SIPSVC_LOG_ERR, "method is GET or POST, not \"%s\"", d->method);
		return -EINVAL;
	}
	d->timeout_ms = t ? strtol(t, NULL, 10) : 10000;
	if (d->timeout_ms < 100 || d->timeout_ms > 600000) {
		d->api->log(d->h, SIPSVC_LOG_ERR, "timeout-ms is 100 to 600000");
		return -EINVAL;
	}
	return read_auth(d);
}

static void dev_free(struct http_dev *d)
{
	free(d->url);
	free(d->method);
	free(d->body);
	free(d->content_type);
	if (d->userpwd)
		explicit_bzero(d->userpwd, strlen(d->userpwd));
	free(d->userpwd);
	free(d);
}

static int http_open(const struct sipsvc_host_api *api, struct sipsvc_host *h, void **ret)
{
	struct http_dev *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->api = api;
	d->h = h;
	d->loop = api->loop(h);
	r = read_params(d);
	if (r == 0 && !curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			r = -ENOMEM;
		curl_ready = r == 0;
	}
	if (r == 0)
		r = http_multi_init(d);
	if (r < 0) {
		dev_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

static void req_free(struct http_req *rq)
{
	curl_easy_cleanup(rq->easy);
	curl_slist_free_all(rq->headers);
	free(rq->url);
	free(rq->body);
	free(rq);
}

static void untrack(struct http_dev *d, struct http_req *rq)
{
	for (unsigned i = 0; i < d->pending; i++)
		if (d->reqs[i] == rq) {
			d->reqs[i] = d->reqs[--d->pending];
			return;
		}
}

void http_request_finished(struct http_req *rq, CURLcode res, long status);
void http_request_finished(struct http_req *rq, CURLcode res, long status)
{
	struct http_dev *d = rq->dev;
	char why[160];
	int err = 0;

	if (res != CURLE_OK) {
		snprintf(why, sizeof(why), "click-to-dial request failed: %s", curl_easy_strerror(res));
		err = res == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
	} else if (status < 200 || status > 299) {
		snprintf(why, sizeof(why), "the phone answered HTTP %ld", status);
		err = status == 401 || status == 403 ? -EACCES : -EIO;
	}
	untrack(d, rq);
	d->api->log(d->h, err ? SIPSVC_LOG_WARNING : SIPSVC_LOG_INFO, "%s",
		    err ? why : "the phone accepted the click-to-dial request");
	d->api->availability(d->h, res == CURLE_OK, err ? why : NULL);
	rq->done(rq->arg, err, err ? why : NULL);
	req_free(rq);
}

static void http_close(void *state)
{
	struct http_dev *d = state;

	if (!d)
		return;
	/* Requests still in flight are abandoned: their callers are told. */
	while (d->pending > 0) {
		struct http_req *rq = d->reqs[--d->pending];

		curl_multi_remove_handle(d->multi, rq->easy);
		rq->done(rq->arg, -ECANCELED, "the device was closed");
		req_free(rq);
	}
	http_multi_done(d);
	dev_free(d);
}

static size_t discard(char *ptr, size_t size, size_t n, void *userp)
{
	struct http_req *rq = userp;

	rq->seen += size * n;
	return rq->seen > RESPONSE_MAX ? 0 : size * n;
}

static int setup_easy(struct http_dev *d, struct http_req *rq)
{
	CURL *e = rq->easy = curl_easy_init();

	if (!e)
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_URL, rq->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, rq);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, d->timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, rq);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "sipsvcd/" PACKAGE_VERSION);
	if (d->userpwd) {
		curl_easy_setopt(e, CURLOPT_USERPWD, d->userpwd);
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, d->digest ? CURLAUTH_DIGEST : CURLAUTH_BASIC);
	}
	if (strcmp(d->method, "POST") == 0) {
		char ct[160];

		snprintf(ct, sizeof(ct), "Content-Type: %s", d->content_type);
		rq->headers = curl_slist_append(NULL, ct);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->headers);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
	}
	return 0;
}

static int http_dial(void *state, const char *target, sipsvc_done_h *done, void *arg)
{
	struct http_dev *d = state;
	struct http_req *rq;
	int r;

	if (d->pending >= HTTP_MAX_PENDING)
		return -EBUSY;
	rq = calloc(1, sizeof(*rq));
	if (!rq)
		return -ENOMEM;
	*rq = (struct http_req){ .dev = d, .done = done, .arg = arg };
	rq->url = http_expand(d->url, target, d->api->id(d->h), true);
	rq->body = d->body ? http_expand(d->body, target, d->api->id(d->h), false) : NULL;
	r = !rq->url || (d->body && !rq->body) ? -EINVAL : setup_easy(d, rq);
	if (r == 0)
		r = http_multi_add(d, rq);
	if (r < 0) {
		req_free(rq);
		return r;
	}
	d->reqs[d->pending++] = rq;
	d->api->log(d->h, SIPSVC_LOG_DEBUG, "click-to-dial %s %s", d->method, rq->url);
	return 0;
}

static int http_contact(void *state, char *buf, size_t size)
{
	return -ENOENT; /* not reachable by SIP: it dials */
}

static unsigned http_caps(void *state)
{
	return SIPSVC_CAP_DIALS;
}

static int http_available(void *state)
{
	return -1;
}

static void http_shutdown(struct ev_loop *loop)
{
	if (curl_ready)
		curl_global_cleanup();
	curl_ready = false;
}

SIPSVC_WRAPPER(http) = {
	.abi = SIPSVC_WRAPPER_ABI,
	.name = "http",
	.params = params,
	.open = http_open,
	.close = http_close,
	.contact = http_contact,
	.caps = http_caps,
	.available = http_available,
	.dial = http_dial,
	.shutdown = http_shutdown,
};
