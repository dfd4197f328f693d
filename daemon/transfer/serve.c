/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Serving a file (the holder's side of a Fetch): an INVITE whose SDP offers to receive
 * a file (RFC 5547 §8: m=message TCP/MSRP, a=recvonly, a=file-selector) is answered
 * here; every other INVITE goes on to the call subsystem. Only content of the share
 * index is served, found by its SHA-256 and opened by the index (re-checked against
 * what was hashed): no name or path from the network is ever opened.
 *
 * Refusals: 488 for an offer this side cannot serve (not recvonly, no sha-256, an MSRP
 * address other than the request's source, a bad range), 404 for content not shared,
 * 503 with Retry-After while a changed file is re-hashed, 486 over the upload bounds.
 * The answer is active (RFC 6135 §4.2 via transfer_sdp_answer()): we connect to the
 * receiver's a=path and send, so the receiver needs no reachable port of ours.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/xml.h"
#include "core/worker.h"
#include "share/share.h"
#include "sip/sip.h"
#include "transfer/transfer-private.h"

/* How long a sender that finished waits for the receiver's BYE before sending its own. */
#define LINGER_SECS 10.0

struct transfer_serve {
	struct transfer_serve *next;
	struct transfer_mgr *m;
	unsigned id;
	char tid[16];
	char peer[64]; /* the receiver's address: the per-peer bound counts it */
	char name[TRANSFER_NAME_MAX + 1];
	uint8_t sha256[TRANSFER_SHA256_LEN];
	uint64_t size;
	struct transfer_sender *tx;
	struct sip_dialog *dlg;
	bool acquired, sent_all, dlg_over, bye_sent;
	ev_timer linger, reap;
};

static void unlink_serve(struct transfer_serve *sv)
{
	for (struct transfer_serve **p = &sv->m->serves; *p; p = &(*p)->next)
		if (*p == sv) {
			*p = sv->next;
			return;
		}
}

static void serve_free(struct transfer_serve *sv)
{
	unlink_serve(sv);
	ev_timer_stop(sv->m->loop, &sv->linger);
	ev_timer_stop(sv->m->loop, &sv->reap);
	if (sv->tx) {
		sv->m->bytes_sent += transfer_sender_sent(sv->tx);
		transfer_sender_free(sv->tx);
	}
	if (sv->dlg) {
		sip_dialog_set_handler(sv->dlg, NULL, NULL);
		mem_deref(sv->dlg);
	}
	if (sv->acquired)
		transfer_limits_release(sv->m->up, sv->peer);
	free(sv);
}

void transfer_serve_free_all(struct transfer_mgr *m)
{
	struct transfer_serve *sv = m->serves, *next;

	m->serves = NULL;
	for (; sv; sv = next) {
		next = sv->next;
		serve_free(sv);
	}
}

static void on_reap(struct ev_loop *loop, ev_timer *w, int revents)
{
	serve_free(w->data);
}

static void maybe_reap(struct transfer_serve *sv)
{
	if (!sv->tx && (!sv->dlg || sv->dlg_over))
		ev_timer_start(sv->m->loop, &sv->reap);
}

static void bye(struct transfer_serve *sv)
{
	if (!sv->dlg || sv->dlg_over || sv->bye_sent)
		return;
	sv->bye_sent = true;
	if (sip_dialog_bye(sv->dlg) < 0)
		sv->dlg_over = true;
}

static void on_linger(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer_serve *sv = w->data;

	bye(sv);
	maybe_reap(sv);
}

static void on_sent(int status, const char *detail, void *arg)
{
	struct transfer_serve *sv = arg;

	sv->m->bytes_sent += transfer_sender_sent(sv->tx);
	log_info("transfer %s: %s: %s (%llu bytes sent)", sv->tid, sv->name,
		 status == 0 ? "delivered and verified by the receiver"
			     : detail ? detail : transfer_status_reason(status),
		 (unsigned long long)transfer_sender_sent(sv->tx));
	transfer_sender_free(sv->tx);
	sv->tx = NULL;
	if (sv->acquired) {
		transfer_limits_release(sv->m->up, sv->peer);
		sv->acquired = false;
	}
	/* RFC 5547 §9: the receiver closes a finished session; we do after a while */
	if (status == 0 && !sv->dlg_over)
		ev_timer_start(sv->m->loop, &sv->linger);
	else
		bye(sv);
	maybe_reap(sv);
}

static void on_dialog(struct sip_dialog *d, enum sip_dialog_event ev, int status,
		      struct sip_tx *tx, void *arg)
{
	struct transfer_serve *sv = arg;

	switch (ev) {
	case SIP_DIALOG_FAILED:     /* no ACK came for our 2xx */
	case SIP_DIALOG_TERMINATED: /* a BYE, either way */
		sv->dlg_over = true;
		ev_timer_stop(sv->m->loop, &sv->linger);
		if (sv->tx)
			transfer_sender_cancel(sv->tx); /* on_sent follows */
		else
			maybe_reap(sv);
		break;
	case SIP_DIALOG_REQUEST:
		sip_tx_reply(tx, 501, NULL);
		break;
	default:
		break;
	}
}

/* "udp:1.2.3.4:5060" or "tcp:[::1]:5060" → the address alone. */
static int source_addr(struct sip_tx *tx, char *buf, size_t size)
{
	char src[96], *p, *end;

	if (sip_tx_source(tx, src, sizeof(src)) < 0 || !(p = strchr(src, ':')))
		return -EINVAL;
	p++;
	end = strrchr(p, ':');
	if (!end)
		return -EINVAL;
	if (*p == '[') {
		p++;
		end--;
	}
	if (end <= p || (size_t)(end - p) >= size)
		return -EINVAL;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	return 0;
}

/* Whether @p body is an offer this subsystem should take at all. */
static bool is_file_offer(const char *body, const char *ctype, struct transfer_sdp *offer,
			  int *err)
{
	if (!body || (ctype && strncasecmp(ctype, "application/sdp", 15) != 0))
		return false;
	*err = transfer_sdp_parse(body, strlen(body), offer);
	if (*err == -ENOMSG)
		return false;
	if (*err < 0) /* broken: ours only if it says it is a file transfer */
		return strstr(body, "a=file-selector") != NULL;
	return offer->sel.has != 0;
}

struct serve_ctx {
	struct transfer_mgr *m;
	struct sip_tx *tx;
	const struct transfer_sdp *offer;
	char src[64];
};

static int refuse(struct serve_ctx *c, int status, const char *why)
{
	char sha[2 * TRANSFER_SHA256_LEN + 1] = "-";

	if (c->offer && (c->offer->sel.has & TRANSFER_SEL_SHA256))
		share_hex(c->offer->sel.sha256, TRANSFER_SHA256_LEN, sha);
	log_info("transfer: refusing %s a file (%s): %d %s", c->src, sha, status, why);
	if (status == 503)
		sip_tx_respond(c->tx, 503, NULL, "Retry-After: 5", NULL, NULL);
	else
		sip_tx_reply(c->tx, status, NULL);
	return status;
}

/* The offer against what we serve; an open fd of the content, or a SIP status. */
static int open_content(struct serve_ctx *c, const struct share_entry **ret)
{
	const struct transfer_sdp *o = c->offer;
	const struct share_entry *e;
	int fd;

	if (o->direction != TRANSFER_DIRECTION_RECVONLY)
		return -refuse(c, 488, "only offers to receive a file are served");
	if (!(o->sel.has & TRANSFER_SEL_SHA256))
		return -refuse(c, 488, "files are selected by sha-256");
	if (!transfer_same_addr(o->addr, c->src))
		return -refuse(c, 488, "the MSRP address is not the request's source");
	e = c->m->share ? share_find(c->m->share, o->sel.sha256) : NULL;
	if (!e || ((o->sel.has & TRANSFER_SEL_SIZE) && o->sel.size != share_entry_size(e)))
		return -refuse(c, 404, "not shared");
	fd = share_entry_open(c->m->share, e);
	if (fd == -ESTALE)
		return -refuse(c, 503, "changed since it was hashed: re-hashing");
	if (fd < 0)
		return -refuse(c, 404, "cannot open it");
	*ret = e;
	return fd;
}

static int answer_sdp(struct serve_ctx *c, const struct share_entry *e, const char *local,
		      const char *path, char *buf, size_t size)
{
	struct transfer_sdp a = { .session_id = (uint64_t)ev_now(c->m->loop), .port = 9 };
	struct transfer_file_selector *s = &a.sel;
	int r;

	snprintf(a.origin_user, sizeof(a.origin_user), "sipsvc");
	snprintf(a.addr, sizeof(a.addr), "%s", local);
	a.ipv6 = strchr(local, ':') != NULL;
	snprintf(a.path, sizeof(a.path), "%s", path);
	r = transfer_sdp_answer(c->offer, &a);
	if (r < 0)
		return r;
	/* RFC 5547 §8.2: the answer describes the file completely */
	s->has = TRANSFER_SEL_NAME | TRANSFER_SEL_TYPE | TRANSFER_SEL_SIZE | TRANSFER_SEL_SHA256 |
		 TRANSFER_SEL_SHA1;
	snprintf(s->name, sizeof(s->name), "%s", share_entry_name(e));
	snprintf(s->type, sizeof(s->type), "application/octet-stream");
	s->size = share_entry_size(e);
	memcpy(s->sha256, share_entry_sha256(e), TRANSFER_SHA256_LEN);
	memcpy(s->sha1, share_entry_sha1(e), TRANSFER_SHA1_LEN);
	return transfer_sdp_format(buf, size, &a);
}

static struct transfer_serve *serve_new(struct transfer_mgr *m, const char *src,
					const struct share_entry *e)
{
	struct transfer_serve *sv = calloc(1, sizeof(*sv));

	if (!sv)
		return NULL;
	sv->m = m;
	sv->id = transfer_mgr_id(m);
	transfer_id_format(sv->id, sv->tid, sizeof(sv->tid));
	snprintf(sv->peer, sizeof(sv->peer), "%s", src);
	snprintf(sv->name, sizeof(sv->name), "%s", share_entry_name(e));
	memcpy(sv->sha256, share_entry_sha256(e), TRANSFER_SHA256_LEN);
	sv->size = share_entry_size(e);
	ev_timer_init(&sv->linger, on_linger, LINGER_SECS, 0);
	ev_timer_init(&sv->reap, on_reap, 0, 0);
	sv->linger.data = sv->reap.data = sv;
	return sv;
}

/* Sender, socket and answer for an accepted offer; a SIP status on failure. */
static int start(struct serve_ctx *c, struct transfer_serve *sv, int fd)
{
	static const struct transfer_handlers h = { .done = on_sent };
	const struct transfer_sdp *o = c->offer;
	struct transfer_sender_params p = {
		.fd = fd, .size = sv->size, .to_path = o->path, .message_id = o->transfer_id,
		.bucket = c->m->bucket, .pool = c->m->pool,
		.start = o->has_range ? o->range_start : 0, .stop = o->has_range ? o->range_stop : 0,
	};
	char local[64], path[TRANSFER_PATH_MAX + 1], body[TRANSFER_SDP_MAX];
	const struct share_entry *e = share_find(c->m->share, o->sel.sha256);
	uint16_t lport;
	int sock, r;

	if (!o->transfer_id[0])
		p.message_id = sv->tid;
	sock = transfer_connect(o->addr, o->port, local, sizeof(local), &lport);
	if (sock < 0) {
		close(fd);
		return 488;
	}
	r = transfer_msrp_path_new(path, sizeof(path), local, lport);
	p.from_path = path;
	if (r < 0 || !e || answer_sdp(c, e, local, path, body, sizeof(body)) < 0) {
		close(fd);
		close(sock);
		return 488;
	}
	if (transfer_sender_new(c->m->loop, &p, &h, sv, &sv->tx) < 0) { /* closes fd */
		close(sock);
		return 488;
	}
	if (sip_dialog_accept(c->tx, "application/sdp", body, on_dialog, sv, &sv->dlg) < 0) {
		close(sock);
		return 500;
	}
	if (transfer_sender_attach(sv->tx, sock, TRANSFER_SOCK_CONNECTING) < 0)
		bye(sv); /* the sender reports the failure */
	log_info("transfer %s: serving %s to %s from byte %llu", sv->tid, sv->name, c->src,
		 (unsigned long long)(p.start ? p.start : 1));
	return 0;
}

bool transfer_serve_invite(struct sip_tx *tx, void *arg)
{
	struct transfer_mgr *m = arg;
	struct transfer_sdp offer;
	struct serve_ctx c = { .m = m, .tx = tx };
	const struct share_entry *e = NULL;
	struct transfer_serve *sv;
	char *ctype = NULL, *body = sip_tx_body(tx, &ctype);
	int err = 0, fd, r;
	bool mine = is_file_offer(body, ctype, &offer, &err);

	free(body);
	free(ctype);
	if (!mine)
		return false;
	if (source_addr(tx, c.src, sizeof(c.src)) < 0)
		snprintf(c.src, sizeof(c.src), "?");
	if (err < 0) {
		refuse(&c, 488, "the file-transfer SDP does not parse");
		return true;
	}
	c.offer = &offer;
	fd = open_content(&c, &e);
	if (fd < 0)
		return true;
	if (transfer_limits_acquire(m->up, c.src) < 0) {
		close(fd);
		refuse(&c, 486, "over the upload bounds");
		return true;
	}
	sv = serve_new(m, c.src, e);
	if (!sv) {
		close(fd);
		transfer_limits_release(m->up, c.src);
		sip_tx_reply(tx, 500, NULL);
		return true;
	}
	sv->acquired = true;
	r = start(&c, sv, fd);
	if (r != 0) {
		refuse(&c, r, "cannot set up the MSRP session");
		serve_free(sv);
		return true;
	}
	sv->next = m->serves;
	m->serves = sv;
	return true;
}

/* A local file name XML (and sipsvc.xsd TextLine) can carry: UTF-8, no controls. */
static bool listable(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return xmlCheckUTF8(BAD_CAST name);
}

void transfer_serve_status(struct transfer_mgr *m, struct xml_writer *w)
{
	for (struct transfer_serve *sv = m->serves; sv; sv = sv->next) {
		char hex[2 * TRANSFER_SHA256_LEN + 1];

		if (!sv->tx)
			continue;
		share_hex(sv->sha256, TRANSFER_SHA256_LEN, hex);
		xml_begin(w, "Transfer");
		xml_attr(w, "transfer", sv->tid);
		xml_attr(w, "direction", "up");
		xml_attr(w, "state", "progress");
		xml_attrf(w, "file", "sha256:%s", hex);
		if (listable(sv->name))
			xml_attr(w, "name", sv->name);
		xml_attrf(w, "bytes", "%llu", (unsigned long long)transfer_sender_sent(sv->tx));
		xml_attrf(w, "total", "%llu", (unsigned long long)sv->size);
		xml_end(w);
	}
}
