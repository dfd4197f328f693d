/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A download (PROTOCOL.md Fetch): an INVITE to the holder whose SDP asks for the file
 * by its hash (RFC 5547 §8: the offerer receives, a=recvonly), MSRP over the TCP
 * connection the answer sets up (RFC 4145/6135: we offer actpass and listen, the
 * holder answers active and connects), the receiver of receiver.c writing and hashing
 * NAME.part, BYE once it is verified (or failed).
 *
 * Resume (RFC 5547 §8 a=file-range): a download whose name and size are known (the
 * record of an earlier attempt, record.c) first re-hashes its part, then offers
 * file-range:HAVE+1-SIZE. A first attempt knows neither: its offer selects by hash
 * alone and the holder's answer names the file; if a part of it turns up then, the
 * session is ended and a new INVITE asks for the rest.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xml.h"
#include "share/share.h"
#include "core/worker.h"
#include "sip/sip.h"
#include "transfer/transfer-private.h"

/* After a 503, the INVITE is sent again this much later (serve.c says Retry-After: 5). */
#define RETRY_SECS 5.0

enum fetch_state {
	F_START,     /* waiting for the caller's reply to go out */
	F_REHASH,    /* the part is re-hashed before an offer with a range */
	F_INVITING,  /* INVITE sent */
	F_WAIT_READY, /* answered; the part is re-hashed before bytes are taken */
	F_RECEIVING, /* the receiver has the socket */
};

struct transfer_fetch {
	struct transfer_fetch *next;
	struct transfer_mgr *m;
	unsigned id;
	char tid[16];
	struct origin origin;
	enum fetch_state st;
	uint8_t sha256[TRANSFER_SHA256_LEN];
	char peer[TRANSFER_PEER_HEX + 1];
	char uri[TRANSFER_URI_MAX];
	char host[64], local[64];
	bool ipv6;
	char *dir;
	char name[TRANSFER_NAME_MAX + 1];
	char final_name[TRANSFER_NAME_MAX + 32];
	uint64_t size;
	bool known; /* name and size */
	struct transfer_receiver *rx;
	struct sip_dialog *dlg;
	bool dlg_up, dlg_over;
	int lfd;
	char local_path[TRANSFER_PATH_MAX + 1];
	struct transfer_sdp ans;
	bool ranged, acquired, peer_bye, cancelled, finished, started_sent;
	unsigned restarts;
	uint64_t bytes; /* in the part, as last reported */
	bool retried;
	ev_timer start, reap, grace, retry;
};

static void finish(struct transfer_fetch *f, int status, const char *detail);
static void send_invite(struct transfer_fetch *f, uint64_t have);

/* ---- life ------------------------------------------------------------------------- */

static void unlink_fetch(struct transfer_fetch *f)
{
	for (struct transfer_fetch **p = &f->m->fetches; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			return;
		}
}

static void drop_dialog(struct transfer_fetch *f)
{
	if (!f->dlg)
		return;
	sip_dialog_set_handler(f->dlg, NULL, NULL);
	f->dlg = mem_deref(f->dlg);
}

static void fetch_free(struct transfer_fetch *f)
{
	struct transfer_record *rec = transfer_record_find(f->m, f->sha256);

	if (rec && !f->finished && f->acquired)
		rec->active = false; /* finish() did it for the others */
	unlink_fetch(f);
	ev_timer_stop(f->m->loop, &f->start);
	ev_timer_stop(f->m->loop, &f->reap);
	ev_timer_stop(f->m->loop, &f->grace);
	ev_timer_stop(f->m->loop, &f->retry);
	transfer_receiver_free(f->rx);
	if (f->lfd >= 0)
		close(f->lfd);
	drop_dialog(f);
	if (f->acquired)
		transfer_limits_release(f->m->down, f->peer);
	free(f->dir);
	free(f);
}

static void on_reap(struct ev_loop *loop, ev_timer *w, int revents)
{
	fetch_free(w->data);
}

/* Freed on the next loop turn: callers up the stack (the SIP layer) still use it. */
static void reap(struct transfer_fetch *f)
{
	ev_timer_start(f->m->loop, &f->reap);
}

void transfer_fetch_free_all(struct transfer_mgr *m)
{
	struct transfer_fetch *f = m->fetches, *next;

	m->fetches = NULL; /* fetch_free() unlinks nothing now */
	for (; f; f = next) {
		next = f->next;
		if (!f->finished && f->rx)
			m->bytes_received += transfer_receiver_received(f->rx);
		fetch_free(f);
	}
}

/* ---- events ------------------------------------------------------------------------- */

static void emit(struct transfer_fetch *f, enum transfer_state st, const char *reason)
{
	struct transfer_event e = {
		.transfer = f->tid, .state = st, .bytes = f->bytes, .total = f->size,
		.file = f->sha256, .peer = f->peer[0] ? f->peer : NULL,
		.name = st == TRANSFER_STATE_DONE ? f->final_name : f->known ? f->name : NULL,
		.sha256 = st == TRANSFER_STATE_DONE ? f->sha256 : NULL, .reason = reason,
	};

	if (e.name && !xmlCheckUTF8(BAD_CAST e.name))
		e.name = NULL;
	transfer_event_emit(&f->origin, &e);
}

static void emit_started(struct transfer_fetch *f)
{
	if (f->started_sent)
		return;
	f->started_sent = true;
	emit(f, TRANSFER_STATE_STARTED, NULL);
}

static void on_progress(uint64_t done, uint64_t total, void *arg)
{
	struct transfer_fetch *f = arg;

	/* the receiver calls this at most every 250 ms (PROTOCOL.md) and once at the end */
	f->bytes = done;
	if (!f->finished && f->st == F_RECEIVING)
		emit(f, TRANSFER_STATE_PROGRESS, NULL);
}

static void on_done(int status, const char *detail, void *arg)
{
	finish(arg, status, detail);
}

/* ---- the receiver and its socket ---------------------------------------------------- */

static int prepare_listener(struct transfer_fetch *f)
{
	uint16_t port;
	int r;

	if (f->lfd >= 0)
		close(f->lfd);
	f->lfd = -1;
	r = transfer_local_addr(f->host, f->local, sizeof(f->local), &f->ipv6);
	if (r < 0)
		return r;
	f->lfd = transfer_listen(f->local, &port);
	if (f->lfd < 0)
		return f->lfd;
	r = transfer_msrp_path_new(f->local_path, sizeof(f->local_path), f->local, port);
	return r < 0 ? r : 0;
}

static void on_ready(uint64_t have, void *arg);

static int receiver_start(struct transfer_fetch *f)
{
	static const struct transfer_handlers h = {
		.ready = on_ready, .progress = on_progress, .done = on_done,
	};
	struct transfer_receiver_params p = {
		.download_dir = f->dir, .name = f->name, .size = f->size,
		.local_path = f->local_path, .pool = f->m->pool,
	};

	memcpy(p.sha256, f->sha256, TRANSFER_SHA256_LEN);
	return transfer_receiver_new(f->m->loop, &p, &h, f, &f->rx);
}

/* Hand the socket of the answer's a=setup to the receiver (RFC 4145 §4.1). */
static void attach(struct transfer_fetch *f)
{
	int r, sock;

	if (f->ans.setup == TRANSFER_SETUP_PASSIVE) {
		char local[64];
		uint16_t lport;

		sock = transfer_connect(f->ans.addr, f->ans.port, local, sizeof(local), &lport);
		if (sock < 0) {
			finish(f, -ECONNRESET, "cannot connect to the holder's MSRP address");
			return;
		}
		r = transfer_receiver_attach(f->rx, sock, TRANSFER_SOCK_CONNECTING, f->ans.path);
		close(f->lfd); /* the holder listens: ours is not needed */
		f->lfd = -1;
	} else {
		r = transfer_receiver_attach(f->rx, f->lfd, TRANSFER_SOCK_LISTENING, f->ans.path);
		f->lfd = -1;
	}
	f->st = F_RECEIVING;
	if (r < 0)
		finish(f, r, "cannot take the MSRP connection");
}

/* A part turned up that the first offer did not know: ask again, with its range. */
static void restart(struct transfer_fetch *f)
{
	int r;

	f->restarts++;
	if (f->dlg && !f->dlg_over) {
		sip_dialog_set_handler(f->dlg, NULL, NULL);
		sip_dialog_bye(f->dlg);
	}
	drop_dialog(f);
	f->dlg_up = f->dlg_over = false;
	transfer_receiver_free(f->rx);
	f->rx = NULL;
	r = prepare_listener(f);
	if (r == 0)
		r = receiver_start(f);
	if (r < 0)
		finish(f, r, "cannot resume from the part file");
	else
		f->st = F_REHASH;
}

static void on_ready(uint64_t have, void *arg)
{
	struct transfer_fetch *f = arg;

	f->bytes = have;
	if (f->finished)
		return;
	if (have > 0)
		log_info("transfer %s: %llu of %llu bytes already in the part", f->tid,
			 (unsigned long long)have, (unsigned long long)f->size);
	if (f->st == F_REHASH) {
		if (have == f->size && f->size > 0) {
			f->st = F_RECEIVING; /* the receiver verifies the part on its own */
			return;
		}
		send_invite(f, have);
		return;
	}
	/* F_WAIT_READY: the answer came; the offer had a range only if ranged */
	if (have > 0 && !f->ranged) {
		if (have == f->size) {
			f->st = F_RECEIVING;
			if (f->dlg && !f->dlg_over && sip_dialog_bye(f->dlg) == 0)
				f->dlg_up = false;
			return;
		}
		if (f->restarts == 0) {
			restart(f);
			return;
		}
		finish(f, -EPROTO, "the holder does not resume from the part");
		return;
	}
	attach(f);
}

/* ---- SIP ------------------------------------------------------------------------------ */

static const char *sip_reason(int status)
{
	switch (status) {
	case 404:
		return "the peer does not share this file (404)";
	case 408:
		return "the peer did not answer (408)";
	case 486:
	case 600:
		return "the peer is busy (486)";
	case 488:
	case 606:
		return "the peer refused the file-transfer offer (488)";
	case 503:
		return "the peer cannot serve it now (503)";
	case 603:
		return "the peer declined (603)";
	default:
		return "the peer refused the transfer";
	}
}

/* Read the answer (RFC 5547 §8): the holder names the file and where to connect. */
static int take_answer(struct transfer_fetch *f)
{
	const char *ct = NULL;
	const char *body = sip_dialog_remote_body(f->dlg, &ct);
	struct transfer_sdp *a = &f->ans;

	if (!body || transfer_sdp_parse(body, strlen(body), a) < 0 || a->port == 0)
		return -EPROTO;
	if ((a->sel.has & TRANSFER_SEL_SHA256) &&
	    memcmp(a->sel.sha256, f->sha256, TRANSFER_SHA256_LEN) != 0)
		return -EPROTO;
	if (a->setup != TRANSFER_SETUP_ACTIVE && a->setup != TRANSFER_SETUP_PASSIVE)
		return -EPROTO;
	if (f->known)
		return a->sel.has & TRANSFER_SEL_SIZE && a->sel.size != f->size ? -EPROTO : 0;
	if (!(a->sel.has & TRANSFER_SEL_SIZE) || a->sel.size == TRANSFER_RANGE_UNKNOWN)
		return -EPROTO;
	f->size = a->sel.size;
	transfer_name_sanitize(a->sel.has & TRANSFER_SEL_NAME ? a->sel.name : "", f->name,
			       sizeof(f->name));
	f->known = true;
	return 0;
}

static void on_answer(struct transfer_fetch *f)
{
	bool fresh = !f->known;
	int r = take_answer(f);

	if (r < 0) {
		finish(f, r, "the holder's SDP answer is not a usable file transfer");
		return;
	}
	emit_started(f);
	if (fresh) {
		struct transfer_record *rec = transfer_record_put(f->m, f->id, f->sha256, f->size,
								  f->peer, f->name, f->dir);

		if (rec)
			rec->active = true;
		r = receiver_start(f);
		if (r < 0) {
			finish(f, r, transfer_status_reason(r));
			return;
		}
		f->st = F_WAIT_READY;
		return;
	}
	f->st = F_WAIT_READY;
	on_ready(f->bytes, f); /* re-hashed before the offer */
}

static void on_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer_fetch *f = w->data;

	if (f->finished)
		return;
	if (f->rx)
		transfer_receiver_cancel(f->rx);
	else
		finish(f, -ECONNABORTED, "the holder ended the session");
}

static void on_dialog(struct sip_dialog *d, enum sip_dialog_event ev, int status,
		      struct sip_tx *tx, void *arg)
{
	struct transfer_fetch *f = arg;

	switch (ev) {
	case SIP_DIALOG_ESTABLISHED:
		f->dlg_up = true;
		if (f->finished)
			sip_dialog_bye(d); /* a 2xx that crossed our CANCEL (RFC 3261 9.1) */
		else
			on_answer(f);
		break;
	case SIP_DIALOG_FAILED:
		f->dlg_over = true;
		if (f->finished)
			reap(f);
		else if (status == 503 && !f->retried)
			ev_timer_start(f->m->loop, &f->retry); /* the holder re-hashes the file */
		else
			finish(f, status == 408 ? -ETIMEDOUT : -EREMOTEIO, sip_reason(status));
		break;
	case SIP_DIALOG_TERMINATED:
		f->dlg_over = true;
		if (f->finished) {
			reap(f);
			break;
		}
		/* the holder hung up: the connection says how far it got; give it a moment */
		f->peer_bye = true;
		ev_timer_start(f->m->loop, &f->grace);
		break;
	case SIP_DIALOG_REQUEST:
		sip_tx_reply(tx, 501, NULL);
		break;
	default:
		break;
	}
}

static int from_uri(struct transfer_fetch *f, char *buf, size_t size)
{
	int n;

	if (f->m->identity)
		n = snprintf(buf, size, "%s", f->m->identity);
	else
		n = snprintf(buf, size, f->ipv6 ? "sip:sipsvc@[%s]" : "sip:sipsvc@%s", f->local);
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

/* RFC 5547 §8.1: recvonly, the file by its hash, a=file-range when resuming. */
static int format_offer(struct transfer_fetch *f, uint64_t have, char *buf, size_t size)
{
	struct transfer_sdp o = {
		.session_id = (uint64_t)ev_now(f->m->loop), .session_version = f->restarts,
		.ipv6 = f->ipv6, .port = 0, .setup = TRANSFER_SETUP_ACTPASS, .has_setup = true,
		.direction = TRANSFER_DIRECTION_RECVONLY,
		.sel = { .has = TRANSFER_SEL_SHA256 },
	};
	char txid[TRANSFER_MSRP_TXID_MAX + 1];
	const char *colon = strrchr(f->local_path, ':');

	snprintf(o.origin_user, sizeof(o.origin_user), "sipsvc");
	snprintf(o.addr, sizeof(o.addr), "%s", f->local);
	snprintf(o.path, sizeof(o.path), "%s", f->local_path);
	snprintf(o.accept_types, sizeof(o.accept_types), "*");
	o.port = colon ? (uint16_t)strtoul(colon + 1, NULL, 10) : 0;
	memcpy(o.sel.sha256, f->sha256, TRANSFER_SHA256_LEN);
	if (f->known) {
		o.sel.has |= TRANSFER_SEL_SIZE;
		o.sel.size = f->size;
	}
	if (transfer_msrp_txid_new(txid) < 0)
		return -EIO;
	snprintf(o.transfer_id, sizeof(o.transfer_id), "%s", txid);
	if (have > 0) {
		o.has_range = true;
		o.range_start = have + 1;
		o.range_stop = f->size;
	}
	return transfer_sdp_format(buf, size, &o);
}

static void send_invite(struct transfer_fetch *f, uint64_t have)
{
	char body[TRANSFER_SDP_MAX], from[TRANSFER_URI_MAX + 64];
	int r;

	r = format_offer(f, have, body, sizeof(body));
	if (r >= 0)
		r = from_uri(f, from, sizeof(from));
	if (r >= 0)
		r = sip_dialog_invite(f->m->sip, from, f->uri, "application/sdp", body, false,
				      on_dialog, f, &f->dlg);
	if (r < 0) {
		finish(f, r, "cannot send the INVITE");
		return;
	}
	f->ranged = have > 0;
	f->st = F_INVITING;
	log_info("transfer %s: INVITE %s for %s%s", f->tid, f->uri, f->known ? f->name : "a file",
		 have ? " (resuming)" : "");
}

/* A 503 (serve.c: a changed file is being re-hashed; RFC 3261 21.5.4): ask once more. */
static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer_fetch *f = w->data;

	f->retried = true;
	drop_dialog(f);
	f->dlg_up = f->dlg_over = false;
	send_invite(f, f->ranged ? f->bytes : 0);
}

static void on_start(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer_fetch *f = w->data;
	int r = prepare_listener(f);

	if (r < 0) {
		finish(f, r, "cannot listen for the MSRP connection");
		return;
	}
	if (!f->known) {
		send_invite(f, 0);
		return;
	}
	emit_started(f);
	r = receiver_start(f);
	if (r < 0)
		finish(f, r, transfer_status_reason(r));
	else
		f->st = F_REHASH;
}

/* ---- the end ---------------------------------------------------------------------------- */

static enum transfer_state end_state(const struct transfer_fetch *f, int status)
{
	if (f->cancelled)
		return TRANSFER_STATE_CANCELLED;
	if (status == -ECANCELED && f->peer_bye)
		return TRANSFER_STATE_PAUSED;
	if (status == -ETIMEDOUT && f->st == F_INVITING)
		return TRANSFER_STATE_PAUSED; /* the holder is away: try again later */
	return transfer_state_of(status);
}

static void finish(struct transfer_fetch *f, int status, const char *detail)
{
	enum transfer_state st = end_state(f, status);
	struct transfer_record *rec;

	if (f->finished)
		return;
	f->finished = true;
	if (f->rx)
		f->m->bytes_received += transfer_receiver_received(f->rx);
	if (status == 0) {
		snprintf(f->final_name, sizeof(f->final_name), "%s", detail ? detail : f->name);
		f->bytes = f->size;
		log_info("transfer %s: %s verified (%llu bytes)", f->tid, f->final_name,
			 (unsigned long long)f->size);
	} else {
		log_info("transfer %s: %s: %s", f->tid, transfer_state_to_string(st),
			 detail ? detail : transfer_status_reason(status));
	}
	emit(f, st, status == 0 ? NULL : detail ? detail : transfer_status_reason(status));
	rec = transfer_record_find(f->m, f->sha256);
	if (rec && st == TRANSFER_STATE_CANCELLED) {
		/* the part is kept (PROTOCOL.md Cancel): a new Fetch of it resumes */
		rec->active = false;
		rec->hidden = true;
		transfer_record_save(f->m);
	} else if (st != TRANSFER_STATE_PAUSED) {
		transfer_record_drop(f->m, f->sha256);
	} else if (rec) {
		rec->active = false; /* listed as paused from now on */
	}
	if (f->acquired) {
		transfer_limits_release(f->m->down, f->peer);
		f->acquired = false;
	}
	if (f->dlg && !f->dlg_over) {
		int r = f->dlg_up ? sip_dialog_bye(f->dlg) : sip_dialog_cancel(f->dlg);

		if (r == 0)
			return; /* reaped once the dialog ends */
	}
	reap(f);
}

/* ---- the interface ---------------------------------------------------------------------- */

static struct transfer_fetch *find_running(struct transfer_mgr *m, const uint8_t *sha256)
{
	for (struct transfer_fetch *f = m->fetches; f; f = f->next)
		if (!f->finished && memcmp(f->sha256, sha256, TRANSFER_SHA256_LEN) == 0)
			return f;
	return NULL;
}

static struct transfer_fetch *fetch_new(struct transfer_mgr *m, const struct origin *o,
					const uint8_t *sha256, const char *peer, const char *dir)
{
	struct transfer_fetch *f = calloc(1, sizeof(*f));

	if (!f || !(f->dir = strdup(dir))) {
		free(f);
		return NULL;
	}
	f->m = m;
	f->lfd = -1;
	f->origin = *o;
	memcpy(f->sha256, sha256, TRANSFER_SHA256_LEN);
	snprintf(f->peer, sizeof(f->peer), "%s", peer);
	ev_timer_init(&f->start, on_start, 0, 0);
	ev_timer_init(&f->reap, on_reap, 0, 0);
	ev_timer_init(&f->grace, on_grace, 3.0, 0);
	ev_timer_init(&f->retry, on_retry, RETRY_SECS, 0);
	f->start.data = f->reap.data = f->grace.data = f->retry.data = f;
	return f;
}

/* The default download dir is made if missing (~/Downloads may not exist yet). */
static void make_download_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0 && errno == ENOENT && paths_make_private_dir(dir) == 0)
		log_info("transfer: created the download dir %s", dir);
}

/* A paused (or cancelled) download of the same file into the same dir: its name and
 * size are known, its part is resumed, and it keeps its id. */
static bool take_record(struct transfer_fetch *f)
{
	struct transfer_record *rec = transfer_record_find(f->m, f->sha256);

	if (!rec || strcmp(rec->dir, f->dir) != 0)
		return false;
	f->id = rec->id;
	rec->active = true;
	if (rec->hidden) {
		rec->hidden = false;
		transfer_record_save(f->m);
	}
	snprintf(f->name, sizeof(f->name), "%s", rec->name);
	f->size = rec->size;
	f->known = true;
	return true;
}

int transfer_fetch(struct transfer_mgr *m, const struct origin *o,
		   const uint8_t sha256[TRANSFER_SHA256_LEN], const char *peer, const char *dir,
		   unsigned *id)
{
	struct transfer_fetch *f = find_running(m, sha256);
	char uri[TRANSFER_URI_MAX];
	uint16_t port;
	int r;

	if (f) {
		*id = f->id;
		if (f->origin.conn != 0)
			return -EALREADY;
		/* resumed on its own at start: the first client to ask gets its events */
		f->origin = *o;
		return 0;
	}
	if (transfer_mgr_resolve(m, peer, uri, sizeof(uri)) < 0)
		return -ENOENT;
	if (!dir) {
		dir = m->download_dir;
		make_download_dir(dir);
	}
	f = fetch_new(m, o, sha256, peer, dir);
	if (!f)
		return -ENOMEM;
	snprintf(f->uri, sizeof(f->uri), "%s", uri);
	r = transfer_uri_host(f->uri, f->host, sizeof(f->host), &port);
	if (r == 0)
		r = transfer_limits_acquire(m->down, peer);
	if (r < 0) {
		fetch_free(f);
		return r == -EBUSY ? -EBUSY : -ENOENT;
	}
	f->acquired = true;
	if (!take_record(f))
		f->id = transfer_mgr_id(m);
	transfer_id_format(f->id, f->tid, sizeof(f->tid));
	f->next = m->fetches;
	m->fetches = f;
	/* the reply goes before any event of its request (PROTOCOL.md "Replies") */
	ev_timer_start(m->loop, &f->start);
	*id = f->id;
	return 0;
}

int transfer_cancel_ref(struct transfer_mgr *m, uint64_t conn, const char *ref)
{
	for (struct transfer_fetch *f = m->fetches; f; f = f->next) {
		if (f->finished || f->origin.conn != conn || strcmp(f->origin.ref, ref) != 0)
			continue;
		f->cancelled = true;
		if (f->rx && f->st == F_RECEIVING)
			transfer_receiver_cancel(f->rx);
		else
			finish(f, -ECANCELED, "cancelled");
		return 0;
	}
	return -ENOENT;
}

/* ---- <Status/> ---------------------------------------------------------------------------- */

static void add_transfer(struct xml_writer *w, unsigned id, const char *state,
			 const uint8_t *sha, const char *peer, const char *name, uint64_t bytes,
			 uint64_t total)
{
	char tid[16], hex[2 * TRANSFER_SHA256_LEN + 1];

	transfer_id_format(id, tid, sizeof(tid));
	share_hex(sha, TRANSFER_SHA256_LEN, hex);
	xml_begin(w, "Transfer");
	xml_attr(w, "transfer", tid);
	xml_attr(w, "direction", "down");
	xml_attr(w, "state", state);
	xml_attrf(w, "file", "sha256:%s", hex);
	if (peer && peer[0])
		xml_attr(w, "peer", peer);
	if (name && name[0] && xmlCheckUTF8(BAD_CAST name))
		xml_attr(w, "name", name);
	xml_attrf(w, "bytes", "%llu", (unsigned long long)bytes);
	xml_attrf(w, "total", "%llu", (unsigned long long)total);
	xml_end(w);
}

/* What the part of a paused download holds (its bytes are checked when it resumes). */
static uint64_t part_bytes(const struct transfer_record *r)
{
	char path[PATH_MAX];
	struct stat st;
	int n = snprintf(path, sizeof(path), "%s/%s.part", r->dir, r->name);

	if (n < 0 || (size_t)n >= sizeof(path) || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return (uint64_t)st.st_size;
}

void transfer_fetch_status(struct transfer_mgr *m, struct xml_writer *w)
{
	for (struct transfer_fetch *f = m->fetches; f; f = f->next)
		if (!f->finished)
			add_transfer(w, f->id, f->st == F_RECEIVING ? "progress" : "started",
				     f->sha256, f->peer, f->known ? f->name : NULL, f->bytes,
				     f->size);
	for (struct transfer_record *r = m->records; r; r = r->next)
		if (!r->active && !r->hidden)
			add_transfer(w, r->id, "paused", r->sha256, r->peer, r->name,
				     part_bytes(r), r->size);
}
