/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dialogs (RFC 3261 12) on top of libosip2's osip_dialog_t: the UAC side of an INVITE
 * (ACK for the 2xx, sent again when the 2xx is retransmitted, 13.2.2.4), the UAS side
 * (2xx resent until the ACK, 13.3.1.4), matching of in-dialog requests (12.2.2, with
 * the CSeq order check and target refresh) and the in-dialog request builder
 * (12.2.1.1: remote target, route set, tags, Call-ID, CSeq).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip-private.h"

struct sip_dialog {
	struct sip *sip;
	struct sip_dialog *next, *prev; /* in the bucket of its Call-ID */
	unsigned bucket;
	osip_dialog_t *od;       /* NULL until the 2xx (UAC) */
	bool uac, tcp, linked, acked, ended;
	sip_dialog_h *h;
	void *arg;
	osip_message_t *ack;     /* UAC: the ACK of the 2xx, resent on retransmissions */
	osip_message_t *ok;      /* UAS: our 2xx, resent until the ACK */
	struct sip_src src;      /* UAS: where the INVITE came from */
	char *invite_key;        /* UAS: the INVITE's transaction key (RFC 6026) */
	char ok_host[INET6_ADDRSTRLEN + 2];
	int ok_port;
	ev_timer retx;
	ev_tstamp retx_interval, retx_start;
	ev_timer accepted;       /* UAS: RFC 6026 "Accepted" lifetime, 64*T1 */
	bool held;               /* the subsystem's own reference for that time */
	bool defer_ack;          /* UAC: the 2xx is ACKed by sip_dialog_send_ack() */
	bool cancel_wanted;      /* UAC: CANCEL once a provisional response came */
	bool provisional;        /* UAC: a provisional response came (RFC 3261 9.1) */
	ev_timer cancelled;      /* UAC: 64*T1 after the CANCEL, the INVITE is given up */
	struct sip_tx *itx;      /* UAC: our INVITE's transaction until its final response */
	int ack_cseq;            /* UAC: CSeq of the 2xx a deferred ACK answers */
	char *rctype, *rbody;    /* the body of the 2xx to our INVITE (the peer's SDP) */
	bool reack_wait;         /* our 2xx to a re-INVITE waits for its ACK */
	bool reack_deferred;     /* the 2xx to our re-INVITE waits for sip_dialog_send_ack() */
	int reack_cseq;          /* ... and this is its CSeq */
	char *sub_callid;        /* SUBSCRIBE/REFER before its 2xx: Call-ID and our tag, */
	char *sub_tag;           /* so that an early NOTIFY finds it (RFC 6665 4.1.2.4) */
};

static int send_ack(struct sip_dialog *d, int cseq, const char *ctype, const char *body);

static void emit(struct sip_dialog *d, enum sip_dialog_event ev, int status, struct sip_tx *tx)
{
	if (d->h)
		d->h(d, ev, status, tx, d->arg);
}

static void unlink_dialog(struct sip_dialog *d)
{
	struct sip *s = d->sip;

	if (!d->linked)
		return;
	if (s->loop) {
		ev_timer_stop(s->loop, &d->retx);
		ev_timer_stop(s->loop, &d->accepted);
		ev_timer_stop(s->loop, &d->cancelled);
	}
	if (d->prev)
		d->prev->next = d->next;
	else
		s->dialogs[d->bucket] = d->next;
	if (d->next)
		d->next->prev = d->prev;
	s->n_dialogs--;
	d->linked = false;
}

static void dialog_destroy(void *data)
{
	struct sip_dialog *d = data;

	unlink_dialog(d);
	if (d->od)
		osip_dialog_free(d->od);
	osip_message_free(d->ack);
	osip_message_free(d->ok);
	free(d->invite_key);
	free(d->rctype);
	free(d->rbody);
	free(d->sub_callid);
	free(d->sub_tag);
	mem_deref(d->itx);
}

/*
 * Every way of matching a message to a dialog (RFC 3261 12.2.1.2, 12.2.2, 13.2.2.4)
 * requires the same Call-ID, so dialogs are hashed by it (FNV-1a): a message costs a
 * walk of one short bucket however many calls are up.
 */
static unsigned call_id_bucket(const osip_call_id_t *cid)
{
	uint32_t h = 2166136261u;

	for (const char *p = cid && cid->number ? cid->number : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ '@') * 16777619u;
	for (const char *p = cid && cid->host ? cid->host : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % SIP_DIALOG_BUCKETS;
}

static struct sip_dialog *dialog_alloc(struct sip *s, const osip_message_t *m, bool uac,
				       sip_dialog_h *h, void *arg)
{
	struct sip_dialog *d;
	unsigned b = call_id_bucket(m->call_id);

	if (s->n_dialogs >= SIP_MAX_DIALOGS)
		return NULL;
	d = mem_zalloc(sizeof(*d), dialog_destroy);
	if (!d)
		return NULL;
	d->sip = s;
	d->uac = uac;
	d->h = h;
	d->arg = arg;
	d->linked = true;
	d->bucket = b;
	d->next = s->dialogs[b];
	if (s->dialogs[b])
		s->dialogs[b]->prev = d;
	s->dialogs[b] = d;
	s->n_dialogs++;
	return d;
}

void sip_dialog_set_handler(struct sip_dialog *d, sip_dialog_h *h, void *arg)
{
	d->h = h;
	d->arg = arg;
}

const char *sip_dialog_call_id(const struct sip_dialog *d)
{
	return d->od ? d->od->call_id : NULL;
}

/* ---- building requests -------------------------------------------------------------- */

int sip_message_add_contact_ip(struct sip *s, osip_message_t *m, const char *ip, bool tcp)
{
	char buf[320];
	bool v6 = strchr(ip, ':') != NULL;

	snprintf(buf, sizeof(buf), "<sip:sipsvc@%s%s%s:%d;transport=%s>", v6 ? "[" : "", ip,
		 v6 ? "]" : "", s->port, tcp ? "tcp" : "udp");
	return osip_message_set_contact(m, buf) < 0 ? -ENOMEM : 0;
}

int sip_message_add_contact(struct sip *s, osip_message_t *m, bool tcp)
{
	char host[256], ip[INET6_ADDRSTRLEN] = "";
	union sip_sockaddr to;
	socklen_t len;
	int port, r;

	r = sip_request_target(m, host, sizeof(host), &port);
	if (r == 0)
		r = sip_addr_parse(host, port, &to, &len);
	if (r == 0)
		r = sip_local_ip(s, &to, len, ip, sizeof(ip));
	return r < 0 ? r : sip_message_add_contact_ip(s, m, ip, tcp);
}

int sip_message_set_body(osip_message_t *m, const char *ctype, const char *body)
{
	char len[24];

	if (!ctype)
		return osip_message_set_content_length(m, "0") < 0 ? -ENOMEM : 0;
	snprintf(len, sizeof(len), "%zu", strlen(body));
	if (osip_message_set_content_type(m, ctype) < 0 ||
	    osip_message_set_body(m, body, strlen(body)) < 0 ||
	    osip_message_set_content_length(m, len) < 0)
		return -ENOMEM;
	return 0;
}

osip_message_t *sip_request_skeleton(const char *method, const char *uri)
{
	osip_message_t *m = NULL;
	osip_uri_t *u = NULL;

	if (osip_message_init(&m) < 0)
		return NULL;
	osip_message_set_method(m, osip_strdup(method));
	osip_message_set_version(m, osip_strdup("SIP/2.0"));
	if (osip_uri_init(&u) < 0 || osip_uri_parse(u, uri) < 0) {
		osip_uri_free(u);
		osip_message_free(m);
		return NULL;
	}
	osip_message_set_uri(m, u);
	if (osip_message_set_max_forwards(m, "70") < 0) {
		osip_message_free(m);
		return NULL;
	}
	return m;
}

static bool route_is_loose(const osip_route_t *rt)
{
	osip_uri_param_t *lr = NULL;

	osip_uri_uparam_get_byname(rt->url, "lr", &lr);
	return lr != NULL;
}

static int add_route(osip_message_t *m, const osip_route_t *rt)
{
	char *str = NULL;
	int r = osip_from_to_str((const osip_from_t *)rt, &str);

	if (r == 0)
		r = osip_message_set_route(m, str);
	osip_free(str);
	return r < 0 ? -ENOMEM : 0;
}

/* RFC 3261 12.2.1.1: loose routing keeps the remote target in the R-URI; a strict
 * first route takes its place and the remote target goes last in Route. */
static osip_message_t *in_dialog_skeleton(osip_dialog_t *od, const char *method)
{
	const osip_route_t *first = osip_list_get(&od->route_set, 0);
	bool strict = first && !route_is_loose(first);
	char *target = NULL;
	osip_message_t *m = NULL;
	int r = osip_uri_to_str(strict ? first->url : od->remote_contact_uri->url, &target);

	if (r == 0)
		m = sip_request_skeleton(method, target);
	osip_free(target);
	for (int i = strict ? 1 : 0; m && i < osip_list_size(&od->route_set); i++)
		if (add_route(m, osip_list_get(&od->route_set, i)) < 0) {
			osip_message_free(m);
			m = NULL;
		}
	if (m && strict && add_route(m, (const osip_route_t *)od->remote_contact_uri) < 0) {
		osip_message_free(m);
		m = NULL;
	}
	return m;
}

static osip_message_t *in_dialog_request(struct sip_dialog *d, const char *method, int cseq)
{
	osip_dialog_t *od = d->od;
	osip_message_t *m = od && od->remote_contact_uri ? in_dialog_skeleton(od, method) : NULL;
	char num[48];

	if (!m)
		return NULL;
	snprintf(num, sizeof(num), "%d %s", cseq, method);
	/* remote_uri and local_uri carry the tags (libosip2 clones the whole header). */
	if (osip_to_clone(od->remote_uri, &m->to) < 0 ||
	    osip_from_clone(od->local_uri, &m->from) < 0 ||
	    osip_message_set_call_id(m, od->call_id) < 0 || osip_message_set_cseq(m, num) < 0) {
		osip_message_free(m);
		return NULL;
	}
	return m;
}

/* @p headers: "Name: value" lines separated by CRLF (or LF), as callers write them. */
int sip_message_add_headers(osip_message_t *m, const char *headers)
{
	char line[1024];

	for (const char *p = headers; p && *p;) {
		size_t n = strcspn(p, "\r\n");
		char *colon;

		if (n > 0 && n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			colon = strchr(line, ':');
			if (!colon)
				return -EINVAL;
			*colon = '\0';
			colon += strspn(colon + 1, " \t") + 1;
			if (osip_message_set_header(m, line, colon) < 0)
				return -ENOMEM;
		} else if (n > 0) {
			return -EINVAL;
		}
		p += n;
		p += strspn(p, "\r\n");
	}
	return 0;
}

int sip_dialog_request(struct sip_dialog *d, const char *method, const char *ctype,
		       const char *body, sip_response_h *h, void *arg)
{
	return sip_dialog_request_with(d, method, NULL, ctype, body, h, arg);
}

/* A re-INVITE we sent: its 2xx is ACKed here like the first one, or by the owner. */
struct reinvite {
	struct sip_dialog *d;
	bool defer_ack;
	sip_response_h *h;
	void *arg;
};

static void on_reinvite_response(struct sip_tx *tx, int status, const osip_message_t *resp,
				  void *arg)
{
	struct reinvite *ri = arg;

	/* RFC 3261 13.2.2.4: the UAC core ACKs each 2xx to an INVITE, a re-INVITE too; the
	 * ACK is kept to answer retransmissions of this 2xx. */
	if (status >= 200 && status < 300 && resp && ri->d->linked && ri->d->od) {
		if (ri->defer_ack) {
			ri->d->reack_deferred = true;
			ri->d->reack_cseq = atoi(resp->cseq->number);
		} else {
			send_ack(ri->d, atoi(resp->cseq->number), NULL, NULL);
		}
	}
	if (ri->h)
		ri->h(tx, status, resp, ri->arg);
	if (status >= 200) {
		mem_deref(ri->d);
		free(ri);
	}
}

static int send_reinvite(struct sip_dialog *d, osip_message_t *m, bool defer_ack,
			 sip_response_h *h, void *arg)
{
	struct reinvite *ri = malloc(sizeof(*ri));
	int r;

	if (!ri) {
		osip_message_free(m);
		return -ENOMEM;
	}
	*ri = (struct reinvite){ .d = mem_ref(d), .defer_ack = defer_ack, .h = h, .arg = arg };
	r = sip_request_send(d->sip, m, d->tcp, on_reinvite_response, ri, NULL);
	if (r < 0) {
		mem_deref(d);
		free(ri);
	}
	return r;
}

static int dialog_request(struct sip_dialog *d, const char *method, const char *headers,
			  bool defer_ack, const char *ctype, const char *body, sip_response_h *h,
			  void *arg)
{
	osip_message_t *m;
	/* RFC 6665 4.1.2.1: a SUBSCRIBE carries a Contact too (a target refresh). */
	bool refresh = strcmp(method, "INVITE") == 0 || strcmp(method, "UPDATE") == 0 ||
		       strcmp(method, "SUBSCRIBE") == 0;

	if (!d->linked || !d->od || d->ended)
		return -ENOTCONN;
	/* RFC 3261 12.2.1.1: CSeq one higher than the last we sent. */
	m = in_dialog_request(d, method, ++d->od->local_cseq);
	if (!m || (refresh && sip_message_add_contact(d->sip, m, d->tcp) < 0) ||
	    sip_message_add_headers(m, headers) < 0 || sip_message_set_body(m, ctype, body) < 0) {
		osip_message_free(m);
		return -ENOMEM;
	}
	if (strcmp(method, "INVITE") == 0)
		return send_reinvite(d, m, defer_ack, h, arg);
	return sip_request_send(d->sip, m, d->tcp, h, arg, NULL);
}

int sip_dialog_request_with(struct sip_dialog *d, const char *method, const char *headers,
			    const char *ctype, const char *body, sip_response_h *h, void *arg)
{
	return dialog_request(d, method, headers, false, ctype, body, h, arg);
}

int sip_dialog_reinvite(struct sip_dialog *d, const char *ctype, const char *body,
			sip_response_h *h, void *arg)
{
	if (d->reack_deferred)
		return -EBUSY; /* RFC 3261 14.1: the last re-INVITE is not done */
	return dialog_request(d, "INVITE", NULL, ctype == NULL, ctype, body, h, arg);
}

/* ---- UAC ------------------------------------------------------------------------------ */

static int send_ack(struct sip_dialog *d, int cseq, const char *ctype, const char *body)
{
	osip_message_t *ack = in_dialog_request(d, "ACK", cseq);

	/* RFC 3261 13.2.2.4: the ACK carries the INVITE's CSeq number; its own branch. */
	if (!ack || sip_message_set_body(ack, ctype, body) < 0 || sip_send_direct(d->sip, ack, d->tcp) < 0) {
		log_warn("sip: cannot send the ACK in dialog %s", d->od->call_id);
		osip_message_free(ack);
		return -EIO;
	}
	osip_message_free(d->ack);
	d->ack = ack;
	return 0;
}

int sip_dialog_send_ack(struct sip_dialog *d, const char *ctype, const char *body)
{
	if (d->reack_deferred && d->od) {
		d->reack_deferred = false;
		return send_ack(d, d->reack_cseq, ctype, body);
	}
	if (!d->uac || !d->od || !d->defer_ack || d->acked)
		return -EALREADY;
	d->acked = true;
	return send_ack(d, d->ack_cseq, ctype, body);
}

const char *sip_dialog_remote_body(const struct sip_dialog *d, const char **ret_ctype)
{
	if (ret_ctype)
		*ret_ctype = d->rctype;
	return d->rbody;
}

/* Keep the 2xx's body: in RFC 3264 terms the peer's offer (offerless INVITE) or answer;
 * on our side of an offerless INVITE, the answer in the peer's ACK. */
static void keep_body(struct sip_dialog *d, const osip_message_t *resp)
{
	osip_body_t *b = osip_list_get(&resp->bodies, 0);
	char *ct = NULL;

	if (!b || !b->body || !resp->content_type ||
	    osip_content_type_to_str(resp->content_type, &ct) < 0)
		return;
	free(d->rctype);
	free(d->rbody);
	d->rctype = strdup(ct);
	d->rbody = strndup(b->body, b->length);
	osip_free(ct);
}

/* RFC 3261 9.1: CANCEL has the INVITE's Request-URI, Call-ID, To, From, CSeq number
 * and its one Via (same branch), so that it matches the INVITE's server transaction. */
static bool send_cancel(struct sip_dialog *d)
{
	struct sip_tx *it = d->itx;
	osip_message_t *c = NULL;
	osip_via_t *via;
	osip_generic_param_t *b = NULL;

	if (!it || !it->tr || it->dead || osip_message_clone(it->req, &c) < 0)
		return false;
	osip_free(c->sip_method);
	c->sip_method = osip_strdup("CANCEL");
	osip_free(c->cseq->method);
	c->cseq->method = osip_strdup("CANCEL");
	/* Only Via, From, To, Call-ID, CSeq, Route, Max-Forwards matter: drop the body. */
	osip_list_special_free(&c->bodies, (void (*)(void *))osip_body_free);
	osip_content_type_free(c->content_type);
	c->content_type = NULL;
	osip_content_length_free(c->content_length);
	c->content_length = NULL;
	osip_message_set_content_length(c, "0");
	osip_message_force_update(c);
	via = osip_list_get(&c->vias, 0);
	osip_via_param_get_byname(via, "branch", &b);
	if (!b || !b->gvalue) {
		osip_message_free(c);
		return false;
	}
	/* RFC 3261 9.1: the CANCEL goes where the INVITE went (its located address). */
	if (sip_tx_new_client(d->sip, c, &it->src, sip_txkey_client(b->gvalue, "CANCEL"),
			      it->src.ip, it->src.port, NULL, NULL, NULL) < 0) {
		log_warn("sip: cannot send CANCEL to %s", it->src.ip);
		return false;
	}
	return true;
}

/*
 * RFC 3261 9.1: an INVITE without a final response 64*T1 after its CANCEL is considered
 * cancelled and its client transaction destroyed. A UAS should have answered 487; one
 * that answered only the CANCEL would otherwise hold the transaction and the dialog
 * for ever (libosip2's ICT has no timer in Proceeding).
 */
static void on_cancel_expired(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_dialog *d = w->data;
	struct sip_tx *tx = d->itx;

	if (!tx)
		return;
	log_info("sip: no final response to the INVITE of call %s %.0f s after its CANCEL; "
		 "giving it up (RFC 3261 9.1)", osip_call_id_get_number(tx->req->call_id),
		 64 * SIP_T1);
	mem_ref(tx);
	sip_tx_abandon(tx, 408); /* the handler's final response: d may be gone now */
	mem_deref(tx);
}

static void send_cancel_timed(struct sip_dialog *d)
{
	if (!send_cancel(d) || !d->sip->loop)
		return;
	ev_timer_init(&d->cancelled, on_cancel_expired, 64 * SIP_T1, 0.);
	d->cancelled.data = d;
	ev_timer_start(d->sip->loop, &d->cancelled);
}

static void on_invite_response(struct sip_tx *tx, int status, const osip_message_t *resp,
			       void *arg);

int sip_dialog_cancel(struct sip_dialog *d)
{
	if (!d->uac || d->od || d->ended)
		return -EALREADY;
	/* RFC 3261 9.1: not before a provisional response; the first one sends it. */
	if (d->cancel_wanted)
		return 0;
	d->cancel_wanted = true;
	if (d->provisional)
		send_cancel_timed(d);
	else if (!d->itx) /* still being located (RFC 3263): no other server either */
		sip_locate_cancel(d->sip, on_invite_response, d);
	return 0;
}

static void on_invite_response(struct sip_tx *tx, int status, const osip_message_t *resp,
			       void *arg)
{
	struct sip_dialog *d = arg;

	if (status < 200) {
		if (!d->provisional) {
			d->provisional = true;
			if (tx && tx != d->itx) {
				mem_deref(d->itx);
				d->itx = mem_ref(tx);
			}
			if (d->cancel_wanted)
				send_cancel_timed(d);
		}
		emit(d, SIP_DIALOG_PROGRESS, status, NULL);
		return;
	}
	d->itx = mem_deref(d->itx);
	if (d->sip->loop)
		ev_timer_stop(d->sip->loop, &d->cancelled);
	if (status < 300 && d->linked &&
	    osip_dialog_init_as_uac(&d->od, (osip_message_t *)resp) == 0) {
		keep_body(d, resp);
		/* The dialog keeps the transport the INVITE took, which RFC 3263 may have
		 * chosen (only _sip._tcp records, or the size rule). */
		if (tx)
			d->tcp = tx->src.is_tcp;
		d->ack_cseq = atoi(resp->cseq->number);
		if (!d->defer_ack) {
			send_ack(d, d->ack_cseq, NULL, NULL);
			d->acked = true;
		}
		emit(d, SIP_DIALOG_ESTABLISHED, status, NULL);
	} else {
		d->ended = true;
		emit(d, SIP_DIALOG_FAILED, status < 300 ? 500 : status, NULL);
	}
	mem_deref(d); /* the transaction's reference */
}

/* A request that starts a dialog or stands alone (RFC 3261 8.1.1): new From tag and
 * Call-ID, CSeq 1, our Contact. */
osip_message_t *sip_request_new(struct sip *s, const char *method, const char *from,
				const char *to, bool tcp)
{
	osip_message_t *m = sip_request_skeleton(method, to);
	char tag[17], cid[17], buf[512];

	if (!m)
		return NULL;
	sip_token(tag);
	sip_token(cid);
	snprintf(buf, sizeof(buf), "<%s>;tag=%s", from, tag);
	if (osip_message_set_from(m, buf) < 0)
		goto fail;
	snprintf(buf, sizeof(buf), "<%s>", to);
	if (osip_message_set_to(m, buf) < 0 || osip_message_set_call_id(m, cid) < 0)
		goto fail;
	snprintf(buf, sizeof(buf), "1 %s", method);
	/* Our Contact is added when the target's address is known (sip_client_send()). */
	if (osip_message_set_cseq(m, buf) < 0 ||
	    osip_message_set_header(m, "Allow", sip_allow(s)) < 0)
		goto fail;
	return m;
fail:
	osip_message_free(m);
	return NULL;
}

int sip_dialog_invite(struct sip *s, const char *from, const char *to, const char *ctype,
		      const char *body, bool tcp, sip_dialog_h *h, void *arg,
		      struct sip_dialog **ret)
{
	return sip_dialog_invite_with(s, from, to, NULL, false, ctype, body, tcp, h, arg, ret);
}

/* The request that makes a dialog as UAC, and the dialog: -EINVAL (bad headers),
 * -EBUSY (SIP_MAX_DIALOGS) or -ENOMEM; both or nothing. */
static int uac_begin(struct sip *s, const char *method, const char *from, const char *to,
		     const char *headers, const char *ctype, const char *body, bool tcp,
		     sip_dialog_h *h, void *arg, osip_message_t **ret_m,
		     struct sip_dialog **ret_d)
{
	osip_message_t *m = sip_request_new(s, method, from, to, tcp);
	struct sip_dialog *d;

	if (!m || sip_message_add_headers(m, headers) < 0 ||
	    sip_message_set_body(m, ctype, body) < 0) {
		osip_message_free(m);
		return -EINVAL;
	}
	d = dialog_alloc(s, m, true, h, arg);
	if (!d) {
		osip_message_free(m);
		return -EBUSY;
	}
	d->tcp = tcp;
	*ret_m = m;
	*ret_d = d;
	return 0;
}

int sip_dialog_invite_with(struct sip *s, const char *from, const char *to,
			   const char *headers, bool defer_ack, const char *ctype,
			   const char *body, bool tcp, sip_dialog_h *h, void *arg,
			   struct sip_dialog **ret)
{
	osip_message_t *m;
	struct sip_dialog *d;
	struct sip_tx *tx = NULL;
	int r = uac_begin(s, "INVITE", from, to, headers, ctype, body, tcp, h, arg, &m, &d);

	if (r < 0)
		return r;
	d->defer_ack = defer_ack;
	r = sip_request_send(s, m, tcp, on_invite_response, mem_ref(d), &tx);
	if (r < 0) {
		mem_deref(d);
		mem_deref(d);
		return r;
	}
	/* A name is located first (RFC 3263): the transaction comes with its first
	 * provisional response, which is also when a CANCEL may go (RFC 3261 9.1). */
	d->itx = tx ? mem_ref(tx) : NULL;
	*ret = d;
	return 0;
}

/* The answer to a request that makes a subscription dialog (SUBSCRIBE, REFER): a 2xx
 * makes the dialog (RFC 6665 4.1.2.1; RFC 3515 2.4.4: the REFER's implicit
 * subscription), anything else fails it. No ACK: not an INVITE. */
static void on_usage_response(struct sip_tx *tx, int status, const osip_message_t *resp,
			      void *arg)
{
	struct sip_dialog *d = arg;

	if (status < 200)
		return;
	if (status < 300 && resp && d->linked &&
	    (d->od || osip_dialog_init_as_uac(&d->od, (osip_message_t *)resp) == 0)) {
		d->acked = true;
		emit(d, SIP_DIALOG_ESTABLISHED, status, NULL);
	} else if (!d->od) {
		d->ended = true;
		emit(d, SIP_DIALOG_FAILED, status < 300 ? 500 : status, NULL);
	}
	mem_deref(d); /* the transaction's reference */
}

static int remember_sub(struct sip_dialog *d, const osip_message_t *m)
{
	osip_generic_param_t *tag = NULL;

	osip_from_param_get_byname(m->from, "tag", &tag);
	if (!m->call_id || !tag || !tag->gvalue)
		return -EINVAL;
	d->sub_callid = osip_call_id_get_number(m->call_id)
				? strdup(osip_call_id_get_number(m->call_id)) : NULL;
	d->sub_tag = strdup(tag->gvalue);
	return d->sub_callid && d->sub_tag ? 0 : -ENOMEM;
}

int sip_dialog_subscribe(struct sip *s, const char *method, const char *from, const char *to,
			 const char *headers, bool tcp, sip_dialog_h *h, void *arg,
			 struct sip_dialog **ret)
{
	osip_message_t *m;
	struct sip_dialog *d;
	int r = uac_begin(s, method, from, to, headers, NULL, NULL, tcp, h, arg, &m, &d);

	if (r < 0)
		return r;
	if (remember_sub(d, m) < 0) {
		osip_message_free(m);
		mem_deref(d);
		return -ENOMEM;
	}
	r = sip_request_send(s, m, tcp, on_usage_response, mem_ref(d), NULL);
	if (r < 0) {
		mem_deref(d);
		mem_deref(d);
		return r;
	}
	*ret = d;
	return 0;
}

int sip_dialog_local_cseq(const struct sip_dialog *d)
{
	return d->od ? d->od->local_cseq : 0;
}

int sip_request_out(struct sip *s, const char *method, const char *from, const char *to,
		    const char *headers, const char *ctype, const char *body, bool tcp,
		    sip_response_h *h, void *arg)
{
	osip_message_t *m = sip_request_new(s, method, from, to, tcp);

	if (!m || sip_message_add_headers(m, headers) < 0 || sip_message_set_body(m, ctype, body) < 0) {
		osip_message_free(m);
		return -EINVAL;
	}
	return sip_request_send_flags(s, m, tcp, SIP_SEND_CONTACT, h, arg, NULL);
}

void sip_dialog_stray_2xx(struct sip *s, const osip_message_t *resp)
{
	for (struct sip_dialog *d = s->dialogs[call_id_bucket(resp->call_id)]; d; d = d->next)
		if (d->uac && d->od && d->ack &&
		    osip_dialog_match_as_uac(d->od, (osip_message_t *)resp) == 0) {
			sip_send_direct(s, d->ack, d->tcp);
			return;
		}
	s->stats.rx_stray++;
}

/* ---- UAS ------------------------------------------------------------------------------ */

static void on_retx(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_dialog *d = w->data;

	/* RFC 3261 13.3.1.4: no ACK within 64*T1: confirmed, but the session ends. */
	if (ev_now(loop) - d->retx_start >= 64 * SIP_T1) {
		ev_timer_stop(loop, w);
		emit(d, SIP_DIALOG_FAILED, 408, NULL);
		sip_dialog_bye(d);
		return;
	}
	sip_send_to(d->sip, &d->src, d->ok, d->ok_host, d->ok_port);
	d->retx_interval = d->retx_interval * 2 > SIP_T2 ? SIP_T2 : d->retx_interval * 2;
	w->repeat = d->retx_interval;
	ev_timer_again(loop, w);
}

/* Our 200: Contact (RFC 3261 12.1.1 requires it), Allow, the body. */
static osip_message_t *accept_response(struct sip_tx *tx, const char *ctype, const char *body)
{
	osip_message_t *r = sip_response_new(tx->req, 200, NULL, tx->tag);
	char ip[INET6_ADDRSTRLEN], buf[320];
	bool v6;

	if (!r || sip_local_ip(tx->sip, &tx->src.peer, tx->src.peer_len, ip, sizeof(ip)) < 0)
		goto fail;
	v6 = strchr(ip, ':') != NULL;
	snprintf(buf, sizeof(buf), "<sip:sipsvc@%s%s%s:%d;transport=%s>", v6 ? "[" : "", ip,
		 v6 ? "]" : "", tx->sip->port, tx->src.is_tcp ? "tcp" : "udp");
	if (osip_message_set_contact(r, buf) < 0 ||
	    osip_message_set_header(r, "Allow", sip_allow(tx->sip)) < 0)
		goto fail;
	if (ctype) {
		osip_content_length_free(r->content_length);
		r->content_length = NULL;
		if (sip_message_set_body(r, ctype, body) < 0)
			goto fail;
	}
	return r;
fail:
	osip_message_free(r);
	return NULL;
}

static void on_accepted(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_dialog *d = w->data;

	d->held = false;
	mem_deref(d);
}

int sip_dialog_accept(struct sip_tx *tx, const char *ctype, const char *body, sip_dialog_h *h,
		      void *arg, struct sip_dialog **ret)
{
	struct sip *s = tx->sip;
	osip_message_t *r;
	struct sip_dialog *d;
	char *host = NULL;

	if (!tx->tr || tx->dead || tx->final_sent)
		return -ENOENT;
	r = accept_response(tx, ctype, body);
	d = r ? dialog_alloc(s, tx->req, false, h, arg) : NULL;
	if (!d || osip_dialog_init_as_uas(&d->od, (osip_message_t *)tx->req, r) < 0 ||
	    osip_message_clone(r, &d->ok) < 0) {
		osip_message_free(r);
		mem_deref(d);
		return -ENOMEM;
	}
	d->src = tx->src;
	d->tcp = tx->src.is_tcp;
	d->invite_key = strdup(tx->key);
	osip_response_get_destination(r, &host, &d->ok_port);
	snprintf(d->ok_host, sizeof(d->ok_host), "%s", host ? host : tx->src.ip);
	osip_free(host);
	sip_tx_send(tx, r);
	/* RFC 3261 13.3.1.4: the TU resends the 2xx, T1 doubling up to T2, until the ACK. */
	d->retx_interval = SIP_T1;
	d->retx_start = s->loop ? ev_now(s->loop) : 0;
	ev_init(&d->retx, on_retx);
	d->retx.data = d;
	d->retx.repeat = SIP_T1;
	if (s->loop)
		ev_timer_again(s->loop, &d->retx);
	/* RFC 6026 7.1: INVITE retransmissions must find the 2xx for 64*T1, even if the
	 * owner drops the dialog sooner: the subsystem keeps it that long. */
	ev_timer_init(&d->accepted, on_accepted, 64 * SIP_T1, 0.);
	d->accepted.data = d;
	if (s->loop) {
		d->held = true;
		mem_ref(d);
		ev_timer_start(s->loop, &d->accepted);
	}
	*ret = d;
	return 0;
}

/* Resend @p r (our 2xx to an INVITE on @p tx) until its ACK (RFC 3261 13.3.1.4). */
static int start_2xx_retx(struct sip_dialog *d, struct sip_tx *tx, osip_message_t *r)
{
	struct sip *s = d->sip;
	char *host = NULL;

	osip_message_free(d->ok);
	d->ok = NULL;
	free(d->invite_key);
	d->invite_key = strdup(tx->key);
	if (osip_message_clone(r, &d->ok) < 0 || !d->invite_key)
		return -ENOMEM;
	d->src = tx->src;
	osip_response_get_destination(r, &host, &d->ok_port);
	snprintf(d->ok_host, sizeof(d->ok_host), "%s", host ? host : tx->src.ip);
	osip_free(host);
	d->reack_wait = true;
	d->retx_interval = SIP_T1;
	d->retx_start = s->loop ? ev_now(s->loop) : 0;
	if (!d->linked || !s->loop)
		return 0;
	ev_timer_stop(s->loop, &d->retx);
	ev_init(&d->retx, on_retx);
	d->retx.data = d;
	d->retx.repeat = SIP_T1;
	ev_timer_again(s->loop, &d->retx);
	return 0;
}

int sip_dialog_answer(struct sip_dialog *d, struct sip_tx *tx, const char *ctype,
		      const char *body)
{
	bool invite = tx->req && strcmp(tx->req->sip_method, "INVITE") == 0;
	osip_message_t *r;

	if (!tx->tr || tx->dead || tx->final_sent)
		return -ENOENT;
	r = accept_response(tx, ctype, body);
	if (!r)
		return -ENOMEM;
	if (invite && start_2xx_retx(d, tx, r) < 0) {
		osip_message_free(r);
		return -ENOMEM;
	}
	return sip_tx_send(tx, r);
}

bool sip_dialog_ack(struct sip *s, const osip_message_t *ack)
{
	for (struct sip_dialog *d = s->dialogs[call_id_bucket(ack->call_id)]; d; d = d->next) {
		if ((d->uac && !d->reack_wait) || !d->od ||
		    osip_dialog_match_as_uas(d->od, (osip_message_t *)ack) != 0)
			continue;
		if (d->reack_wait) {
			/* The ACK of our 2xx to a re-INVITE; after an offerless one it has the
			 * answer (RFC 3264 5), which replaces the peer's last body. */
			d->reack_wait = false;
			if (s->loop)
				ev_timer_stop(s->loop, &d->retx);
			free(d->rctype);
			free(d->rbody);
			d->rctype = d->rbody = NULL;
			keep_body(d, ack);
			emit(d, SIP_DIALOG_ACKED, 200, NULL);
		} else if (!d->acked) {
			d->acked = true;
			if (s->loop)
				ev_timer_stop(s->loop, &d->retx);
			/* RFC 3264 5: after an offerless INVITE the ACK has the answer. */
			keep_body(d, ack);
			emit(d, SIP_DIALOG_ESTABLISHED, 200, NULL);
		}
		return true;
	}
	return false;
}

bool sip_dialog_absorb_invite(struct sip *s, const osip_message_t *invite, const char *key)
{
	/* RFC 6026 7.1: libosip2's IST ends with the 2xx; its retransmissions belong to
	 * the dialog (the "Accepted" state) and get the 2xx again, for 64*T1. */
	for (struct sip_dialog *d = s->dialogs[call_id_bucket(invite->call_id)]; d; d = d->next) {
		if ((d->uac && !d->reack_wait) || !d->invite_key || strcmp(d->invite_key, key) != 0)
			continue;
		if (d->ok && s->loop && ev_now(s->loop) - d->retx_start < 64 * SIP_T1)
			sip_send_to(s, &d->src, d->ok, d->ok_host, d->ok_port);
		return true;
	}
	return false;
}

/* RFC 6665 4.1.2.4: a NOTIFY may come before the 2xx of the SUBSCRIBE (or REFER) it
 * belongs to: it matches by Call-ID and our From tag, and makes the dialog itself. */
static bool adopt_early_notify(struct sip_dialog *d, const osip_message_t *req)
{
	osip_generic_param_t *tag = NULL;
	const char *cid = req->call_id ? osip_call_id_get_number(req->call_id) : NULL;

	if (d->od || d->ended || !d->sub_callid || !cid || strcmp(d->sub_callid, cid) != 0 ||
	    strcmp(req->sip_method, "NOTIFY") != 0)
		return false;
	osip_to_param_get_byname(req->to, "tag", &tag);
	if (!tag || !tag->gvalue || strcmp(tag->gvalue, d->sub_tag) != 0)
		return false;
	return osip_dialog_init_as_uac_with_remote_request(&d->od, (osip_message_t *)req, 1) == 0;
}

struct sip_dialog *sip_dialog_find_uas(struct sip *s, const osip_message_t *req)
{
	for (struct sip_dialog *d = s->dialogs[call_id_bucket(req->call_id)]; d; d = d->next)
		if ((d->od && !d->ended &&
		     osip_dialog_match_as_uas(d->od, (osip_message_t *)req) == 0) ||
		    adopt_early_notify(d, req))
			return d;
	return NULL;
}

/* RFC 3261 12.2.2: a target refresh request replaces the remote target. */
static void refresh_target(struct sip_dialog *d, const osip_message_t *req)
{
	osip_contact_t *c = osip_list_get(&req->contacts, 0), *copy = NULL;

	if (!c || osip_contact_clone(c, &copy) < 0)
		return;
	osip_contact_free(d->od->remote_contact_uri);
	d->od->remote_contact_uri = copy;
}

void sip_dialog_request_in(struct sip_dialog *d, struct sip_tx *tx)
{
	const char *m = tx->req->sip_method;
	int cseq = atoi(tx->req->cseq->number);

	/* RFC 3261 12.2.2: lower than the last remote CSeq is out of order. */
	if (d->od->remote_cseq > 0 && cseq < d->od->remote_cseq) {
		sip_tx_reply(tx, 500, "CSeq Out of Order");
		return;
	}
	d->od->remote_cseq = cseq;
	if (strcmp(m, "BYE") == 0) {
		sip_tx_reply(tx, 200, NULL);
		/* A BYE before the ACK (lost) also ends the 2xx retransmissions. */
		if (d->sip->loop)
			ev_timer_stop(d->sip->loop, &d->retx);
		d->ended = true;
		emit(d, SIP_DIALOG_TERMINATED, 0, NULL);
		return;
	}
	if (strcmp(m, "INVITE") == 0 || strcmp(m, "UPDATE") == 0)
		refresh_target(d, tx->req);
	if (d->h)
		emit(d, SIP_DIALOG_REQUEST, 0, tx);
	else
		sip_tx_reply(tx, 501, NULL);
}

static void on_bye_response(struct sip_tx *tx, int status, const osip_message_t *resp,
			    void *arg)
{
	struct sip_dialog *d = arg;

	if (status < 200)
		return;
	d->ended = true;
	emit(d, SIP_DIALOG_TERMINATED, status, NULL);
	mem_deref(d);
}

int sip_dialog_bye(struct sip_dialog *d)
{
	int r;

	if (d->ended)
		return -EALREADY;
	if (d->linked && d->sip->loop)
		ev_timer_stop(d->sip->loop, &d->retx);
	r = sip_dialog_request(d, "BYE", NULL, NULL, on_bye_response, mem_ref(d));
	if (r < 0)
		mem_deref(d);
	else
		d->ended = true; /* no new requests; the answer is reported */
	return r;
}

void sip_dialogs_free(struct sip *s)
{
	/* Owners keep their references; the dialogs leave the subsystem, which drops its
	 * own (RFC 6026 lifetime) references. */
	for (unsigned b = 0; b < SIP_DIALOG_BUCKETS; b++)
		while (s->dialogs[b]) {
			struct sip_dialog *d = s->dialogs[b];

			unlink_dialog(d);
			if (d->held) {
				d->held = false;
				mem_deref(d);
			}
		}
}
