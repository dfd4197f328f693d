/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Subscription dialogs (RFC 6665) on both sides: the dialog state of RFC 3261 12 kept
 * here (the SIP layer's struct sip_dialog is for INVITE), one of our requests out at a
 * time per dialog so that the peer sees CSeqs in order (RFC 3261 12.2.2 answers an
 * older one with 500), the NOTIFY that overtakes the 2xx to our SUBSCRIBE (RFC 6665
 * 4.1.2.4), expiry on both sides, and the final NOTIFY of a notifier (4.2.2).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip/sip-private.h"

struct subreq {
	struct subreq *next;
	struct sip_sub *sub; /* a reference while the request is out */
	char *method, *headers, *ctype, *body;
	sip_sub_done_h *done;
	void *arg;
	bool final; /* the subscription ends once this is answered */
};

struct sip_sub {
	struct sip *sip;
	struct sip_sub *next, *prev;
	bool linked;	  /* in s->subs: requests can match it */
	bool notifier;	  /* we send NOTIFYs */
	bool established; /* the remote tag and target are known */
	bool ending;	  /* no new requests from the owner */
	bool peer_ended;  /* the other side ended it in the request being handled */
	bool busy;	  /* one of our requests is out */
	bool told;	  /* the owner heard SIP_SUB_TERMINATED */
	bool tcp;
	char *event;	  /* the Event header value */
	char *call_id, *local_tag, *remote_tag;
	char *local_uri, *remote_uri, *target;
	char *routes[SIP_SUB_ROUTES_MAX];
	unsigned n_routes;
	unsigned local_cseq, remote_cseq;
	bool remote_cseq_set;
	unsigned max_expires;
	ev_tstamp expires_at;
	ev_timer timer;
	sip_sub_h *h;
	void *arg;
	struct subreq *q_head, *q_tail;
	unsigned q_len;
};

/* A subscriber waits this much past the expiry for the notifier's last NOTIFY, which
 * the notifier sends when its own timer runs out (RFC 6665 4.2.2). */
#define SUB_GRACE 5

static void pump(struct sip_sub *sub);
static int claim_once(struct sip *s);

/* ---- small helpers ------------------------------------------------------------------- */

static ev_tstamp now_of(const struct sip *s)
{
	return s->loop ? ev_now(s->loop) : 0;
}

static char *dup_osip(char *s)
{
	char *r = s ? strdup(s) : NULL;

	osip_free(s);
	return r;
}

static char *uri_str(const osip_uri_t *u)
{
	char *s = NULL;

	return u && osip_uri_to_str(u, &s) == 0 ? dup_osip(s) : NULL;
}

static char *tag_of(const osip_from_t *f)
{
	osip_generic_param_t *t = NULL;

	if (!f || osip_from_get_tag((osip_from_t *)f, &t) != 0 || !t || !t->gvalue)
		return NULL;
	return strdup(t->gvalue);
}

static char *call_id_of(const osip_message_t *m)
{
	char *s = NULL;

	return m->call_id && osip_call_id_to_str(m->call_id, &s) == 0 ? dup_osip(s) : NULL;
}

static const char *header_of(const osip_message_t *m, const char *name, const char *compact)
{
	osip_header_t *h = NULL;

	if (osip_message_header_get_byname(m, name, 0, &h) < 0 && compact)
		osip_message_header_get_byname(m, compact, 0, &h);
	return h ? h->hvalue : NULL;
}

/* Expires of a message, or @p dflt when absent or unreadable. */
static unsigned expires_of(const osip_message_t *m, unsigned dflt)
{
	const char *v = header_of(m, "expires", NULL);
	char *end;
	unsigned long n;

	if (!v)
		return dflt;
	n = strtoul(v, &end, 10);
	return end == v || n > 0xffffffUL ? dflt : (unsigned)n;
}

/* RFC 6665 8.2.1: Event is a package name and parameters; the package and the "id"
 * parameter identify the subscription (7.2.1). */
static void event_split(const char *ev, char *pkg, size_t psize, char *id, size_t isize)
{
	size_t n = strcspn(ev, "; \t");
	const char *p = strstr(ev, ";id=");

	snprintf(pkg, psize, "%.*s", (int)n, ev);
	id[0] = '\0';
	if (p)
		snprintf(id, isize, "%.*s", (int)strcspn(p + 4, "; \t"), p + 4);
}

static bool event_matches(const char *a, const char *b)
{
	char pa[64], pb[64], ia[128], ib[128];

	if (!a || !b)
		return false;
	event_split(a, pa, sizeof(pa), ia, sizeof(ia));
	event_split(b, pb, sizeof(pb), ib, sizeof(ib));
	return strcasecmp(pa, pb) == 0 && strcmp(ia, ib) == 0;
}

/* Remote target: the URI of the first Contact (RFC 3261 12.1.1). */
static int take_target(struct sip_sub *sub, const osip_message_t *m)
{
	osip_contact_t *c = NULL;
	char *t;

	if (osip_message_get_contact(m, 0, &c) < 0 || !c || !c->url)
		return -ENOENT;
	t = uri_str(c->url);
	if (!t)
		return -ENOMEM;
	free(sub->target);
	sub->target = t;
	return 0;
}

/* The route set from Record-Route: in order as a UAS (12.1.1), reversed as a UAC
 * (12.1.2). Entries beyond SIP_SUB_ROUTES_MAX are refused. */
static int take_routes(struct sip_sub *sub, const osip_message_t *m, bool reverse)
{
	int n = osip_list_size(&m->record_routes);

	if (n > SIP_SUB_ROUTES_MAX)
		return -E2BIG;
	for (int i = 0; i < n; i++) {
		osip_record_route_t *rr = osip_list_get(&m->record_routes, reverse ? n - 1 - i : i);
		char *s = NULL;

		if (osip_record_route_to_str(rr, &s) != 0)
			return -ENOMEM;
		sub->routes[sub->n_routes++] = dup_osip(s);
		if (!sub->routes[sub->n_routes - 1])
			return -ENOMEM;
	}
	return 0;
}

/* ---- the object -------------------------------------------------------------------- */

static void subreq_free(struct subreq *r)
{
	free(r->method);
	free(r->headers);
	free(r->ctype);
	free(r->body);
	free(r);
}

static void unlink_sub(struct sip_sub *sub)
{
	struct sip *s = sub->sip;

	if (!sub->linked)
		return;
	if (s->loop)
		ev_timer_stop(s->loop, &sub->timer);
	if (sub->prev)
		sub->prev->next = sub->next;
	else
		s->subs = sub->next;
	if (sub->next)
		sub->next->prev = sub->prev;
	s->n_subs--;
	sub->linked = false;
}

/* Requests still queued are dropped: their senders hear 0. */
static void queue_drop(struct sip_sub *sub)
{
	while (sub->q_head) {
		struct subreq *r = sub->q_head;

		sub->q_head = r->next;
		sub->q_len--;
		if (r->done)
			r->done(sub, 0, r->arg);
		subreq_free(r);
	}
	sub->q_tail = NULL;
}

static void sub_destroy(void *data)
{
	struct sip_sub *sub = data;

	unlink_sub(sub);
	queue_drop(sub);
	free(sub->event);
	free(sub->call_id);
	free(sub->local_tag);
	free(sub->remote_tag);
	free(sub->local_uri);
	free(sub->remote_uri);
	free(sub->target);
	for (unsigned i = 0; i < sub->n_routes; i++)
		free(sub->routes[i]);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

static struct sip_sub *sub_alloc(struct sip *s, bool notifier, sip_sub_h *h, void *arg)
{
	struct sip_sub *sub;

	if (s->n_subs >= SIP_MAX_SUBS)
		return NULL;
	sub = mem_zalloc(sizeof(*sub), sub_destroy);
	if (!sub)
		return NULL;
	sub->sip = s;
	sub->notifier = notifier;
	sub->h = h;
	sub->arg = arg;
	ev_timer_init(&sub->timer, on_timer, 0., 0.);
	sub->timer.data = sub;
	sub->linked = true;
	sub->next = s->subs;
	if (s->subs)
		s->subs->prev = sub;
	s->subs = sub;
	s->n_subs++;
	return sub;
}

static void expiry_set(struct sip_sub *sub, unsigned secs)
{
	struct sip *s = sub->sip;

	sub->expires_at = now_of(s) + secs;
	if (!s->loop || !sub->linked)
		return;
	ev_timer_stop(s->loop, &sub->timer);
	ev_timer_set(&sub->timer, (ev_tstamp)secs, 0.);
	ev_timer_start(s->loop, &sub->timer);
}

/* The owner hears of the end once, whoever ended it. */
static void tell_end(struct sip_sub *sub, int status)
{
	if (sub->told || !sub->h)
		return;
	sub->told = true;
	sub->h(sub, SIP_SUB_TERMINATED, status, NULL, sub->arg);
}

/* Ended by the module: no more matching. */
static void terminate(struct sip_sub *sub, int status)
{
	if (!sub->linked && sub->ending)
		return;
	sub->ending = true;
	unlink_sub(sub);
	if (!sub->established)
		queue_drop(sub); /* they could never go */
	tell_end(sub, status);
}

/* ---- sending ------------------------------------------------------------------------- */

static int add_from_to(const struct sip_sub *sub, osip_message_t *m)
{
	char buf[600];

	snprintf(buf, sizeof(buf), "<%s>;tag=%s", sub->local_uri, sub->local_tag);
	if (osip_message_set_from(m, buf) < 0)
		return -ENOMEM;
	snprintf(buf, sizeof(buf), "<%s>;tag=%s", sub->remote_uri, sub->remote_tag);
	return osip_message_set_to(m, buf) < 0 ? -ENOMEM : 0;
}

/* RFC 3261 12.2.1.1 (loose routing): the remote target in the Request-URI, the route
 * set in Route, tags, Call-ID, the next CSeq. SUBSCRIBE and NOTIFY refresh the target,
 * so they carry our Contact (RFC 6665 4.1.2.1, 4.2.1). */
static osip_message_t *build(struct sip_sub *sub, const struct subreq *r)
{
	osip_message_t *m = sip_request_skeleton(r->method, sub->target);
	char num[48];
	int e = m ? 0 : -ENOMEM;

	for (unsigned i = 0; e == 0 && i < sub->n_routes; i++)
		e = osip_message_set_route(m, sub->routes[i]) < 0 ? -ENOMEM : 0;
	snprintf(num, sizeof(num), "%u %s", ++sub->local_cseq, r->method);
	if (e == 0)
		e = add_from_to(sub, m);
	if (e == 0 && (osip_message_set_call_id(m, sub->call_id) < 0 ||
		       osip_message_set_cseq(m, num) < 0 ||
		       osip_message_set_header(m, "Event", sub->event) < 0))
		e = -ENOMEM;
	if (e == 0)
		e = sip_message_add_contact(sub->sip, m, sub->tcp);
	if (e == 0)
		e = sip_message_add_headers(m, r->headers);
	if (e == 0)
		e = sip_message_set_body(m, r->ctype, r->body);
	if (e < 0) {
		osip_message_free(m);
		return NULL;
	}
	return m;
}

/* From the 2xx to our SUBSCRIBE (RFC 3261 12.1.2) unless a NOTIFY came first. */
static void establish_uac(struct sip_sub *sub, const osip_message_t *resp)
{
	if (sub->established || !resp)
		return;
	sub->remote_tag = tag_of(resp->to);
	if (!sub->remote_tag || take_target(sub, resp) < 0 || take_routes(sub, resp, true) < 0) {
		terminate(sub, 500);
		return;
	}
	sub->established = true;
}

/* RFC 6665 4.1.2.2 / 4.2.2: 481, a timeout or a transport failure ends it. */
static bool fatal(int status, const osip_message_t *resp)
{
	return status == 481 || status == 408 || (!resp && status >= 300);
}

static void on_response(struct sip_tx *tx, int status, const osip_message_t *resp, void *arg)
{
	struct subreq *r = arg;
	struct sip_sub *sub = r->sub;
	bool initial = !sub->notifier && sub->local_cseq == 1;

	if (status < 200)
		return;
	sub->busy = false;
	if (status < 300 && initial && sub->linked) {
		establish_uac(sub, resp);
		if (sub->linked)
			expiry_set(sub, expires_of(resp, sub->max_expires) + SUB_GRACE);
	}
	if (r->done)
		r->done(sub, status, r->arg);
	if (r->final) { /* the owner's own end, now answered */
		sub->ending = true;
		unlink_sub(sub);
		tell_end(sub, status);
	} else if ((status >= 300 && initial) || fatal(status, resp)) {
		terminate(sub, status);
	}
	subreq_free(r);
	pump(sub);
	mem_deref(sub);
}

static int send_one(struct sip_sub *sub, struct subreq *r)
{
	osip_message_t *m = build(sub, r);
	int e;

	if (!m)
		return -ENOMEM;
	r->sub = mem_ref(sub);
	sub->busy = true;
	e = sip_request_send(sub->sip, m, sub->tcp, on_response, r, NULL);
	if (e < 0) {
		sub->busy = false;
		mem_deref(sub);
	}
	return e;
}

/* The next queued request, if none is out; a send that fails at once is answered
 * 503 (RFC 3261 8.1.3.1: a transport error). */
static void pump(struct sip_sub *sub)
{
	while (!sub->busy && sub->q_head && sub->established) {
		struct subreq *r = sub->q_head;

		sub->q_head = r->next;
		if (!sub->q_head)
			sub->q_tail = NULL;
		sub->q_len--;
		if (send_one(sub, r) == 0)
			continue;
		if (r->done)
			r->done(sub, 503, r->arg);
		subreq_free(r);
		if (!sub->ending)
			terminate(sub, 503);
	}
}

/* Queue a request; when it can go out at once and fails, say so now instead. */
static int enqueue(struct sip_sub *sub, const char *method, const char *headers,
		   const char *ctype, const char *body, bool final, sip_sub_done_h *done,
		   void *arg)
{
	struct subreq *r;
	int e;

	if (sub->q_len >= SIP_SUB_QUEUE_MAX)
		return -ENOBUFS;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct subreq){ .method = strdup(method), .headers = strdup(headers),
			      .ctype = ctype ? strdup(ctype) : NULL,
			      .body = ctype && body ? strdup(body) : NULL,
			      .done = done, .arg = arg, .final = final };
	if (!r->method || !r->headers || (ctype && (!r->ctype || !r->body))) {
		subreq_free(r);
		return -ENOMEM;
	}
	if (!sub->busy && !sub->q_head && sub->established) {
		e = send_one(sub, r);
		if (e < 0)
			subreq_free(r);
		return e;
	}
	if (sub->q_tail)
		sub->q_tail->next = r;
	else
		sub->q_head = r;
	sub->q_tail = r;
	sub->q_len++;
	return 0;
}

/* ---- the subscriber ------------------------------------------------------------------ */

static int uac_init(struct sip_sub *sub, const osip_message_t *m, const char *to)
{
	char *from = m->from ? uri_str(m->from->url) : NULL;

	sub->call_id = call_id_of(m);
	sub->local_tag = tag_of(m->from);
	sub->local_uri = from;
	sub->remote_uri = strdup(to);
	sub->target = strdup(to);
	sub->local_cseq = 1;
	if (!sub->call_id || !sub->local_tag || !sub->local_uri || !sub->remote_uri ||
	    !sub->target)
		return -ENOMEM;
	return 0;
}

int sip_sub_subscribe(struct sip *s, const char *from, const char *to, const char *event,
		      unsigned expires, const char *ctype, const char *body, sip_sub_h *h,
		      void *arg, sip_sub_done_h *done, void *done_arg, struct sip_sub **ret)
{
	osip_message_t *m = sip_request_new(s, "SUBSCRIBE", from, to, false);
	struct subreq *r = calloc(1, sizeof(*r));
	struct sip_sub *sub = NULL;
	char hdr[300];
	int e = m && r ? 0 : -ENOMEM;

	snprintf(hdr, sizeof(hdr), "Event: %s\r\nExpires: %u", event, expires);
	if (e == 0 && claim_once(s) < 0)
		e = -ENOMEM;
	if (e == 0 && (sip_message_add_headers(m, hdr) < 0 ||
		       sip_message_set_body(m, ctype, body) < 0))
		e = -EINVAL;
	if (e == 0 && !(sub = sub_alloc(s, false, h, arg)))
		e = -EBUSY;
	if (e == 0) {
		sub->max_expires = expires;
		sub->event = strdup(event);
		e = sub->event ? uac_init(sub, m, to) : -ENOMEM;
	}
	if (e < 0) {
		osip_message_free(m);
		free(r);
		mem_deref(sub);
		return e;
	}
	*r = (struct subreq){ .sub = mem_ref(sub), .done = done, .arg = done_arg };
	sub->busy = true;
	e = sip_request_send(s, m, false, on_response, r, NULL);
	if (e < 0) {
		free(r);
		mem_deref(sub);
		mem_deref(sub);
		return e;
	}
	*ret = sub;
	return 0;
}

int sip_sub_refresh(struct sip_sub *sub, unsigned expires, const char *ctype,
		    const char *body, sip_sub_done_h *done, void *arg)
{
	char hdr[32];

	if (!sub->linked || sub->ending || sub->notifier)
		return -ENOTCONN;
	snprintf(hdr, sizeof(hdr), "Expires: %u", expires);
	if (expires)
		sub->max_expires = expires;
	return enqueue(sub, "SUBSCRIBE", hdr, ctype, body, expires == 0, done, arg);
}

/* ---- the notifier --------------------------------------------------------------------- */

static int contact_header(struct sip_tx *tx, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	bool v6;

	if (sip_local_ip(tx->sip, &tx->src.peer, tx->src.peer_len, ip, sizeof(ip)) < 0)
		return -EADDRNOTAVAIL;
	v6 = strchr(ip, ':') != NULL;
	snprintf(buf, size, "Contact: <sip:sipsvc@%s%s%s:%d;transport=%s>", v6 ? "[" : "", ip,
		 v6 ? "]" : "", tx->sip->port, tx->src.is_tcp ? "tcp" : "udp");
	return 0;
}

static int uas_init(struct sip_sub *sub, struct sip_tx *tx)
{
	const osip_message_t *req = tx->req;

	sub->event = strdup(header_of(req, "event", "o"));
	sub->call_id = call_id_of(req);
	sub->remote_tag = tag_of(req->from);
	sub->local_tag = strdup(tx->tag);
	sub->remote_uri = req->from ? uri_str(req->from->url) : NULL;
	sub->local_uri = req->to ? uri_str(req->to->url) : NULL;
	sub->remote_cseq = (unsigned)strtoul(req->cseq->number, NULL, 10);
	sub->remote_cseq_set = true;
	sub->tcp = tx->src.is_tcp;
	if (!sub->event || !sub->call_id || !sub->remote_tag || !sub->local_tag ||
	    !sub->remote_uri || !sub->local_uri)
		return -ENOMEM;
	if (take_target(sub, req) < 0 || take_routes(sub, req, false) < 0)
		return -EINVAL; /* RFC 6665 3.1.1 (via RFC 3261 12.1.1): Contact is required */
	sub->established = true;
	return 0;
}

static int respond_2xx(struct sip_tx *tx, int status, unsigned expires)
{
	char hdr[400];
	size_t n;

	if (contact_header(tx, hdr, sizeof(hdr)) < 0)
		hdr[0] = '\0';
	n = strlen(hdr);
	snprintf(hdr + n, sizeof(hdr) - n, "%sExpires: %u", n ? "\r\n" : "", expires);
	return sip_tx_respond(tx, status, NULL, hdr, NULL, NULL);
}

int sip_sub_accept(struct sip_tx *tx, unsigned max_expires, sip_sub_h *h, void *arg,
		   struct sip_sub **ret)
{
	struct sip_sub *sub;
	unsigned expires;
	int e;

	if (!tx->tr || tx->dead || tx->final_sent)
		return -ENOENT;
	if (!header_of(tx->req, "event", "o"))
		return -EINVAL;
	sub = sub_alloc(tx->sip, true, h, arg);
	if (!sub)
		return -EBUSY;
	sub->max_expires = max_expires;
	e = uas_init(sub, tx);
	if (e < 0) {
		mem_deref(sub);
		return e;
	}
	expires = expires_of(tx->req, max_expires);
	if (expires > max_expires)
		expires = max_expires;
	e = respond_2xx(tx, 200, expires);
	if (e < 0) {
		mem_deref(sub);
		return e;
	}
	expiry_set(sub, expires);
	*ret = sub;
	return 0;
}

int sip_sub_notify(struct sip_sub *sub, const char *state, const char *ctype,
		   const char *body, sip_sub_done_h *done, void *arg)
{
	char hdr[160];
	long left;

	if (!sub->linked || sub->ending || !sub->notifier)
		return -ENOTCONN;
	left = (long)(sub->expires_at - now_of(sub->sip) + 0.5);
	if (state)
		snprintf(hdr, sizeof(hdr), "Subscription-State: %s", state);
	else
		snprintf(hdr, sizeof(hdr), "Subscription-State: active;expires=%ld",
			 left > 0 ? left : 0);
	return enqueue(sub, "NOTIFY", hdr, ctype, body,
		       state && strncasecmp(state, "terminated", 10) == 0, done, arg);
}

/* RFC 6665 4.2.2: a subscription that runs out gets a final NOTIFY. */
static void final_notify(struct sip_sub *sub, const char *reason)
{
	char hdr[80];

	snprintf(hdr, sizeof(hdr), "Subscription-State: terminated;reason=%s", reason);
	(void)enqueue(sub, "NOTIFY", hdr, NULL, NULL, true, NULL, NULL);
}

int sip_sub_answer(struct sip_sub *sub, struct sip_tx *tx, int status)
{
	unsigned expires;
	int e;

	if (!tx->req || strcmp(tx->req->sip_method, "SUBSCRIBE") != 0 || status < 200 ||
	    status >= 300)
		return sip_tx_respond(tx, status, NULL, NULL, NULL, NULL);
	if (!sub->linked || sub->ending) /* ended meanwhile: RFC 6665 4.2.1.2 */
		return sip_tx_respond(tx, 481, NULL, NULL, NULL, NULL);
	expires = expires_of(tx->req, sub->max_expires);
	if (expires > sub->max_expires)
		expires = sub->max_expires;
	e = respond_2xx(tx, status, expires);
	if (e < 0)
		return e;
	if (expires == 0) {
		/* RFC 6665 4.1.2.3: an unsubscription; the notifier's last NOTIFY follows */
		final_notify(sub, "timeout");
		sub->peer_ended = true;
		return 0;
	}
	expiry_set(sub, expires);
	return 0;
}

/* ---- requests in a subscription dialog ---------------------------------------------- */

/* RFC 6665 4.1.2.4: a NOTIFY before the 2xx makes the dialog (as its UAS). */
static int establish_by_notify(struct sip_sub *sub, const osip_message_t *req)
{
	sub->remote_tag = tag_of(req->from);
	if (!sub->remote_tag || take_target(sub, req) < 0 || take_routes(sub, req, false) < 0)
		return -EINVAL;
	sub->established = true;
	return 0;
}

/* Subscription-State of a NOTIFY: true for "terminated"; an active one's expires. */
static bool notify_state(struct sip_sub *sub, const osip_message_t *req)
{
	const char *st = header_of(req, "subscription-state", NULL);
	const char *ex;

	if (!st)
		return false;
	if (strncasecmp(st, "terminated", 10) == 0)
		return true;
	ex = strstr(st, "expires=");
	if (ex && sub->linked)
		expiry_set(sub, (unsigned)strtoul(ex + 8, NULL, 10) + SUB_GRACE);
	return false;
}

/* RFC 3261 12.2.2: the CSeq order check, and the target refresh. */
static int in_dialog_check(struct sip_sub *sub, const osip_message_t *req)
{
	unsigned cseq = (unsigned)strtoul(req->cseq->number, NULL, 10);
	bool notify = strcmp(req->sip_method, "NOTIFY") == 0;

	if (notify == sub->notifier)
		return 405;
	if (notify && !event_matches(header_of(req, "event", "o"), sub->event))
		return 489; /* RFC 6665 8.3.2 */
	if (sub->remote_cseq_set && cseq <= sub->remote_cseq)
		return 500;
	if (notify && !sub->established && establish_by_notify(sub, req) < 0)
		return 400;
	sub->remote_cseq = cseq;
	sub->remote_cseq_set = true;
	(void)take_target(sub, req);
	return 0;
}

static void request_in(struct sip_sub *sub, struct sip_tx *tx)
{
	bool notify = strcmp(tx->req->sip_method, "NOTIFY") == 0;
	int status = in_dialog_check(sub, tx->req);
	bool ended;

	if (status) {
		sip_tx_respond(tx, status, status == 500 ? "Out of Order" : NULL, NULL, NULL, NULL);
		return;
	}
	ended = notify && notify_state(sub, tx->req);
	mem_ref(sub);
	sub->peer_ended = false;
	if (sub->h)
		sub->h(sub, SIP_SUB_REQUEST, 0, tx, sub->arg);
	if (!tx->final_sent && tx->tr && !tx->dead)
		(void)sip_sub_answer(sub, tx, 200);
	if ((ended || sub->peer_ended) && sub->linked && !sub->ending)
		terminate(sub, 0);
	mem_deref(sub);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_sub *sub = w->data;

	mem_ref(sub);
	if (sub->notifier)
		final_notify(sub, "timeout");
	terminate(sub, 408);
	mem_deref(sub);
}

static bool sub_matches(const struct sip_sub *sub, const char *cid, const char *to_tag,
			const char *from_tag, bool notify)
{
	if (strcmp(sub->call_id, cid) != 0 || strcmp(sub->local_tag, to_tag) != 0)
		return false;
	/* before its 2xx, our subscription knows no remote tag: a NOTIFY sets it */
	return sub->remote_tag ? strcmp(sub->remote_tag, from_tag) == 0 : notify && !sub->notifier;
}

static struct sip_sub *sub_find(struct sip *s, const osip_message_t *req, const char *to_tag)
{
	char *cid = call_id_of(req), *from_tag = tag_of(req->from);
	bool notify = strcmp(req->sip_method, "NOTIFY") == 0;
	struct sip_sub *sub = NULL;

	if (cid && from_tag)
		for (sub = s->subs; sub; sub = sub->next)
			if (sub_matches(sub, cid, to_tag, from_tag, notify))
				break;
	free(cid);
	free(from_tag);
	return sub;
}

static bool new_subscribe(struct sip *s, struct sip_tx *tx)
{
	const char *ev = header_of(tx->req, "event", "o");
	char pkg[64], id[128];

	if (!ev) {
		sip_tx_respond(tx, 400, "Missing Event Header", NULL, NULL, NULL);
		return true;
	}
	event_split(ev, pkg, sizeof(pkg), id, sizeof(id));
	for (unsigned i = 0; i < s->n_sub_listens; i++)
		if (strcasecmp(s->sub_listens[i].package, pkg) == 0)
			return s->sub_listens[i].h(tx, id[0] ? id : NULL, s->sub_listens[i].arg);
	/* Not one of ours: Tunnel listeners may want it; else the SIP layer's 501.
	 * (RFC 6665 8.3.2's 489 would need to know every package a listener takes.) */
	return false;
}

static bool on_request(struct sip_tx *tx, void *arg)
{
	struct sip *s = arg;
	char *to_tag;
	struct sip_sub *sub;

	if (!tx->req || !tx->req->cseq)
		return false;
	to_tag = tag_of(tx->req->to);
	if (to_tag) {
		sub = sub_find(s, tx->req, to_tag);
		free(to_tag);
		if (!sub)
			return false; /* 481 from the SIP layer */
		request_in(sub, tx);
		return true;
	}
	if (strcmp(tx->req->sip_method, "SUBSCRIBE") != 0)
		return false;
	return new_subscribe(s, tx);
}

/* ---- listening and the rest of the API ------------------------------------------------- */

static int claim_once(struct sip *s)
{
	int r = sip_claim(s, "SUBSCRIBE", SIP_CLAIM_FEATURE, on_request, s);

	if (r == 0 || r == -EEXIST)
		r = sip_claim(s, "NOTIFY", SIP_CLAIM_FEATURE, on_request, s);
	return r == -EEXIST ? 0 : r;
}

int sip_sub_listen(struct sip *s, const char *package, sip_sub_new_h *h, void *arg)
{
	struct sip_sub_listen *l;
	int r;

	if (!package || !h || strlen(package) >= sizeof(l->package))
		return -EINVAL;
	if (s->n_sub_listens >= SIP_SUB_LISTENS_MAX)
		return -ENOSPC;
	r = claim_once(s);
	if (r < 0)
		return r;
	l = &s->sub_listens[s->n_sub_listens++];
	snprintf(l->package, sizeof(l->package), "%s", package);
	l->h = h;
	l->arg = arg;
	return 0;
}

void sip_sub_unlisten(struct sip *s, const char *package)
{
	for (unsigned i = 0; i < s->n_sub_listens; i++)
		if (strcasecmp(s->sub_listens[i].package, package) == 0) {
			s->sub_listens[i] = s->sub_listens[--s->n_sub_listens];
			break;
		}
	if (s->n_sub_listens == 0 && !s->subs)
		sip_unclaim(s, NULL, on_request, s);
}

const char *sip_sub_event(const struct sip_sub *sub)
{
	return sub->event;
}

bool sip_sub_alive(const struct sip_sub *sub)
{
	return sub && sub->linked && !sub->ending;
}

void sip_sub_free(struct sip_sub *sub)
{
	if (!sub)
		return;
	sub->h = NULL;
	sub->ending = true;
	unlink_sub(sub);
	queue_drop(sub);
	mem_deref(sub);
}

size_t sip_sub_count(const struct sip *s)
{
	return s->n_subs;
}

void sip_subs_free(struct sip *s)
{
	while (s->subs) {
		struct sip_sub *sub = s->subs;

		sub->ending = true;
		unlink_sub(sub);
		queue_drop(sub);
	}
	s->n_sub_listens = 0;
}
