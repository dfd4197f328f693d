/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Client transactions (RFC 3261 17.1): a request gets our top Via with a fresh branch
 * and goes to its first loose Route or its Request-URI (8.1.2); responses are matched by
 * branch and CSeq method (17.1.3) in our index and passed to the sender's handler, a
 * timeout (timer B/F) or a transport error as a local 408 or 503 (8.1.3.1).
 * A numeric host is sent to at once; a name is located first (locate.c, RFC 3263).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sip/sip-private.h"

int sip_request_target(const osip_message_t *req, char *host, size_t size, int *port)
{
	const osip_route_t *rt = osip_list_get(&req->routes, 0);
	const osip_uri_t *u = rt && rt->url ? rt->url : req->req_uri;

	if (!u || !u->host)
		return -EINVAL;
	snprintf(host, size, "%s", u->host);
	*port = u->port ? atoi(u->port) : 5060;
	return 0;
}

int sip_local_ip(struct sip *s, const union sip_sockaddr *to, socklen_t len, char *ip,
		 size_t size)
{
	union sip_sockaddr l;
	socklen_t ll = sizeof(l);
	int fd, port, r = 0;

	if (s->cfg->sip_addr) {
		snprintf(ip, size, "%s", s->cfg->sip_addr);
		return 0;
	}
	/* A connected UDP socket shows the source address routing picks; nothing is sent. */
	fd = socket(to->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, &to->sa, len) < 0 || getsockname(fd, &l.sa, &ll) < 0)
		r = -errno;
	close(fd);
	if (r == 0)
		sip_addr_split(&l.sa, ip, size, &port);
	return r;
}

/* RFC 3261 8.1.1.7: our Via, branch with the magic cookie, rport (RFC 3581). */
static int add_via(struct sip *s, osip_message_t *req, bool tcp, const char *ip, char *branch)
{
	char via[256], token[17];
	bool v6 = strchr(ip, ':') != NULL;

	sip_token(token);
	snprintf(branch, 32, "z9hG4bK%s", token);
	snprintf(via, sizeof(via), "SIP/2.0/%s %s%s%s:%d;branch=%s;rport", tcp ? "TCP" : "UDP",
		 v6 ? "[" : "", ip, v6 ? "]" : "", s->port, branch);
	return osip_message_set_via(req, via) < 0 ? -ENOMEM : 0;
}

char *sip_txkey_client(const char *branch, const char *method)
{
	char *k;

	return asprintf(&k, "c|%s|%s", branch, method) < 0 ? NULL : k;
}

static int make_src(struct sip *s, const osip_message_t *req, bool tcp, struct sip_src *src,
		    char *host, size_t hsize, int *port)
{
	int r = sip_request_target(req, host, hsize, port);

	if (r == 0)
		r = sip_addr_parse(host, *port, &src->peer, &src->peer_len);
	if (r < 0)
		return -EHOSTUNREACH; /* no name lookups here: sip_request_send() locates */
	src->is_tcp = tcp;
	src->fd = -1;
	sip_addr_split(&src->peer.sa, src->ip, sizeof(src->ip), &src->port);
	return 0;
}

/*
 * RFC 3261 18.1.1: a request larger than 1300 bytes (the path MTU being unknown) goes
 * over a congestion-controlled transport; our Via adds about 100 bytes.
 */
bool sip_request_too_big(osip_message_t *req)
{
	char *buf = NULL;
	size_t n = 0;

	if (osip_message_to_str(req, &buf, &n) < 0)
		return false;
	osip_free(buf);
	return n + 100 > 1300;
}

/* RFC 3261 8.1.1.8 (and RFC 6665 3.1.1, RFC 3515 2.4.2): a request that can make a
 * dialog carries a Contact. Ours goes in, toward the address chosen, unless the
 * sender set one: no caller has to remember it. */
static bool needs_contact(const osip_message_t *req)
{
	const char *m = req->sip_method;

	return osip_list_size(&req->contacts) == 0 &&
	       (strcmp(m, "INVITE") == 0 || strcmp(m, "SUBSCRIBE") == 0 ||
		strcmp(m, "REFER") == 0);
}

int sip_client_send(struct sip *s, osip_message_t *req, const union sip_sockaddr *to,
		    socklen_t len, bool tcp, unsigned flags, sip_response_h *h, void *arg,
		    struct sip_tx **ret)
{
	struct sip_src src = { .is_tcp = tcp, .fd = -1, .peer_len = len };
	char ip[INET6_ADDRSTRLEN], branch[32];
	int r;

	memcpy(&src.peer, to, len);
	sip_addr_split(&src.peer.sa, src.ip, sizeof(src.ip), &src.port);
	r = sip_local_ip(s, &src.peer, src.peer_len, ip, sizeof(ip));
	if (r == 0)
		r = add_via(s, req, tcp, ip, branch);
	if (r == 0 && ((flags & SIP_SEND_CONTACT) || needs_contact(req)))
		r = sip_message_add_contact_ip(s, req, ip, tcp);
	if (r == 0 && s->n_tx >= SIP_MAX_TRANSACTIONS)
		r = -EBUSY;
	if (r == 0 && s->closing)
		r = -ESHUTDOWN;
	if (r < 0) {
		osip_message_free(req);
		return r;
	}
	return sip_tx_new_client(s, req, &src, sip_txkey_client(branch, req->sip_method),
				 src.ip, src.port, h, arg, ret);
}

/* RFC 3261 8.1.2: an outbound proxy is a pre-loaded Route of requests outside a
 * dialog (no To tag); it must be a loose router (;lr, 16.12.1.1). */
static int preload_route(struct sip *s, osip_message_t *req)
{
	const char *proxy = s->cfg->sip_outbound_proxy;
	osip_generic_param_t *tag = NULL;
	char buf[1100];

	if (!proxy || osip_list_size(&req->routes) > 0 || !req->to ||
	    (osip_to_get_tag(req->to, &tag) == 0 && tag))
		return 0;
	snprintf(buf, sizeof(buf), "<%s%s>", proxy, strstr(proxy, ";lr") ? "" : ";lr");
	return osip_message_set_route(req, buf) < 0 ? -ENOMEM : 0;
}

int sip_request_send_flags(struct sip *s, osip_message_t *req, bool tcp, unsigned flags,
			   sip_response_h *h, void *arg, struct sip_tx **ret)
{
	struct sip_src src = { 0 };
	char host[256];
	int port, r;

	if (ret)
		*ret = NULL;
	r = preload_route(s, req);
	if (r == 0 && !tcp && sip_request_too_big(req))
		tcp = true;
	if (r == 0 && s->closing)
		r = -ESHUTDOWN;
	if (r < 0) {
		osip_message_free(req);
		return r;
	}
	if (make_src(s, req, tcp, &src, host, sizeof(host), &port) < 0)
		return sip_locate_start(s, req, tcp, flags, h, arg); /* a name: RFC 3263 */
	return sip_client_send(s, req, &src.peer, src.peer_len, tcp, flags, h, arg, ret);
}

int sip_request_send(struct sip *s, osip_message_t *req, bool tcp, sip_response_h *h, void *arg,
		     struct sip_tx **ret)
{
	return sip_request_send_flags(s, req, tcp, 0, h, arg, ret);
}

int sip_send_direct(struct sip *s, osip_message_t *req, bool tcp)
{
	struct sip_src src = { 0 };
	char host[256], ip[INET6_ADDRSTRLEN], branch[32];
	int port, r;

	r = make_src(s, req, tcp, &src, host, sizeof(host), &port);
	if (r == 0)
		r = sip_local_ip(s, &src.peer, src.peer_len, ip, sizeof(ip));
	if (r == 0 && !osip_list_get(&req->vias, 0))
		r = add_via(s, req, tcp, ip, branch);
	if (r == 0)
		r = sip_send_to(s, &src, req, host, port);
	return r;
}

void sip_client_flow_failed(struct sip *s, const union sip_sockaddr *peer, bool tcp)
{
	struct sip_tx *failed[16];
	size_t n = 0;

	/* Handlers may send (failover), which changes the list: collect first, bounded,
	 * then report. */
	for (struct sip_tx *tx = s->clients; tx && n < ARRAY_SIZE(failed); tx = tx->cnext)
		if (tx->src.is_tcp == tcp && !tx->final_sent && !tx->dead &&
		    sip_addr_same(&tx->src.peer, peer))
			failed[n++] = mem_ref(tx);
	for (size_t i = 0; i < n; i++) {
		sip_tx_transport_error(failed[i]);
		mem_deref(failed[i]);
	}
}

/* A response for one of our client transactions, or a stray one. */
void sip_client_response(struct sip *s, osip_event_t *evt)
{
	const osip_message_t *m = evt->sip;
	osip_via_t *via = osip_list_get(&m->vias, 0);
	osip_generic_param_t *b = NULL;
	struct sip_tx *tx = NULL;
	char *key;

	osip_via_param_get_byname(via, "branch", &b);
	key = b && b->gvalue ? sip_txkey_client(b->gvalue, m->cseq->method) : NULL;
	if (key)
		tx = sip_txindex_find(&s->ix, key);
	free(key);
	if (tx) {
		sip_tx_event(tx, evt);
		return;
	}
	/* RFC 3261 13.2.2.4: the ICT ends at the first 2xx; retransmissions get the ACK
	 * again from the dialog. */
	if (MSG_IS_STATUS_2XX(m) && strcmp(m->cseq->method, "INVITE") == 0)
		sip_dialog_stray_2xx(s, m);
	else
		s->stats.rx_stray++;
	osip_event_free(evt);
}

/* The request again for a challenge: new Via (new transaction), CSeq one higher
 * (RFC 3261 22.2), the credentials of this kind replaced. */
static int prepare_retry(osip_message_t *m, int status, const char *cred)
{
	osip_list_t *l = status == 407 ? &m->proxy_authorizations : &m->authorizations;
	char num[16];

	osip_list_special_free(&m->vias, (void (*)(void *))osip_via_free);
	osip_list_special_free(l, (void (*)(void *))osip_authorization_free);
	snprintf(num, sizeof(num), "%d", atoi(m->cseq->number) + 1);
	osip_free(m->cseq->number);
	m->cseq->number = osip_strdup(num);
	if (!m->cseq->number)
		return -ENOMEM;
	if ((status == 407 ? osip_message_set_proxy_authorization(m, cred)
			   : osip_message_set_authorization(m, cred)) < 0)
		return -ENOMEM;
	osip_message_force_update(m);
	return 0;
}

bool sip_client_retry_auth(struct sip_tx *tx, const osip_message_t *resp)
{
	struct sip *s = tx->sip;
	struct sip_auth_challenge c;
	struct sip_tx *ntx = NULL;
	osip_message_t *m = NULL;
	char *uri = NULL, *cred = NULL;
	bool done = false;

	if (!s->auth_user || s->closing || sip_auth_challenge_pick(resp, &c) < 0)
		return false;
	/* RFC 3261 22.2: answer a challenge once; a stale nonce (RFC 7616 3.3) means the
	 * credentials were right, so a new nonce is tried again, a bounded number of times. */
	if (tx->auth_tries < (c.stale ? 3 : 1) && osip_message_clone(tx->req, &m) == 0 &&
	    osip_uri_to_str(m->req_uri, &uri) == 0 &&
	    (cred = sip_auth_header(&c, s->auth_user, s->auth_password, m->sip_method, uri)) &&
	    prepare_retry(m, resp->status_code, cred) == 0) {
		/* The server that challenged gets the answer (its nonce), wherever it was
		 * located; our Contact is in the copy already. */
		done = sip_client_send(s, m, &tx->src.peer, tx->src.peer_len, tx->src.is_tcp, 0,
				       tx->resp_h, tx->resp_arg, &ntx) == 0;
		m = NULL; /* taken either way */
		if (done)
			ntx->auth_tries = tx->auth_tries + 1;
	}
	osip_message_free(m);
	osip_free(uri);
	free(cred);
	sip_auth_challenge_clear(&c);
	return done;
}
