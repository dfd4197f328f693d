/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's transfers (DESIGN.md "File transfer"): the downloads Fetch starts
 * (fetch.c), the uploads INVITEs ask for (serve.c), their bounds (per peer and in
 * total, each direction), the upload rate limit, <Status/> and the paused downloads
 * kept across restarts (record.c).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xml.h"
#include "overlay/overlay.h"
#include "sip/sip.h"
#include "transfer/transfer-private.h"

/* Seconds after the start: the overlay (and the user's clients) come up first. */
#define RESUME_DELAY 1.0

unsigned transfer_mgr_id(struct transfer_mgr *m)
{
	return ++m->next_id;
}

void transfer_id_format(unsigned id, char *buf, size_t size)
{
	snprintf(buf, size, "t%u", id);
}

static void mgr_status(struct xml_writer *w, enum status_part part, void *arg)
{
	struct transfer_mgr *m = arg;

	if (part == STATUS_COUNTS) {
		xml_attrf(w, "transfers", "%u",
			  transfer_limits_running(m->down) + transfer_limits_running(m->up));
		xml_attrf(w, "transfer-bytes-sent", "%llu", (unsigned long long)m->bytes_sent);
		xml_attrf(w, "transfer-bytes-received", "%llu",
			  (unsigned long long)m->bytes_received);
	} else if (part == STATUS_TRANSFER) {
		transfer_fetch_status(m, w);
		transfer_serve_status(m, w);
	}
}

static void free_peers(struct transfer_mgr *m)
{
	for (size_t i = 0; i < m->n_peers; i++)
		free(m->peers[i]);
	free(m->peers);
	m->peers = NULL;
	m->n_peers = 0;
}

static int set_str(char **dst, const char *v)
{
	char *s = v ? strdup(v) : NULL;

	if (v && !s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int transfer_mgr_set_config(struct transfer_mgr *m, const struct transfer_config *cfg)
{
	if (set_str(&m->download_dir, cfg->download_dir) < 0 ||
	    set_str(&m->identity, cfg->identity) < 0)
		return -ENOMEM;
	free_peers(m);
	m->peers = calloc(cfg->n_peers + 1, sizeof(*m->peers));
	if (!m->peers)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_peers; i++) {
		m->peers[i] = strdup(cfg->peers[i]);
		if (!m->peers[i])
			return -ENOMEM;
		m->n_peers++;
	}
	if (m->bucket)
		transfer_bucket_set_rate(m->bucket, cfg->upload_rate,
					 cfg->upload_rate > 0 ? cfg->upload_rate / 4 + 65536 : 0);
	return 0;
}

/* The config's node URIs, then the overlay (if it told us how to ask it). */
static int resolve_config(struct transfer_mgr *m, const char *peer, char *uri, size_t size)
{
	for (size_t i = 0; i < m->n_peers; i++) {
		struct overlay_peer p;
		char hex[OVERLAY_ID_HEX_LEN + 1];

		if (overlay_peer_from_uri(m->peers[i], &p) < 0 || overlay_id_is_zero(&p.id))
			continue;
		overlay_id_to_hex(&p.id, hex);
		if (strcmp(hex, peer) != 0)
			continue;
		snprintf(uri, size, "sip:%s@%s", hex, p.contact);
		return 0;
	}
	return -ENOENT;
}

int transfer_mgr_resolve(struct transfer_mgr *m, const char *peer, char *uri, size_t size)
{
	if (m->resolve && m->resolve(peer, uri, size, m->resolve_arg) == 0)
		return 0;
	return resolve_config(m, peer, uri, size);
}

void transfer_mgr_set_resolver(struct transfer_mgr *m, transfer_resolve_h *h, void *arg)
{
	m->resolve = h;
	m->resolve_arg = arg;
}

/* Resume what the last run left paused (issue 7), once: a holder still away leaves it
 * paused, listed in <Status/>, for a later Fetch. Events go to transfer subscribers. */
static void on_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer_mgr *m = w->data;
	const struct origin nobody = { 0 };

	for (struct transfer_record *r = m->records; r; r = r->next) {
		unsigned id;
		int e;

		if (r->active || r->hidden || !r->peer[0])
			continue;
		e = transfer_fetch(m, &nobody, r->sha256, r->peer, r->dir, &id);
		if (e < 0)
			log_info("transfer t%u: %s stays paused: %s", r->id, r->name,
				 e == -ENOENT ? "its peer is not known now" : strerror(-e));
	}
}

int transfer_mgr_new(struct ev_loop *loop, struct worker_pool *pool, struct sip *sip,
		     struct share *share, const struct transfer_config *cfg,
		     struct transfer_mgr **ret)
{
	struct transfer_mgr *m = calloc(1, sizeof(*m));
	unsigned total = cfg->max_total ? cfg->max_total : TRANSFER_MAX_TOTAL_DEFAULT;
	unsigned per = cfg->max_per_peer ? cfg->max_per_peer : TRANSFER_MAX_PER_PEER_DEFAULT;
	int r;

	if (!m)
		return -ENOMEM;
	*m = (struct transfer_mgr){ .loop = loop, .pool = pool, .sip = sip, .share = share,
				    .max_total = total, .max_per_peer = per };
	ev_timer_init(&m->resume, on_resume, RESUME_DELAY, 0);
	m->resume.data = m;
	r = transfer_limits_new(total, per, &m->down);
	if (r == 0)
		r = transfer_limits_new(total, per, &m->up);
	if (r == 0)
		r = transfer_bucket_new(cfg->upload_rate, cfg->upload_rate / 4 + 65536, &m->bucket);
	if (r == 0)
		r = transfer_mgr_set_config(m, cfg);
	if (r == 0 && cfg->state_dir && !(m->state_dir = strdup(cfg->state_dir)))
		r = -ENOMEM;
	if (r == 0 && sip)
		r = sip_claim(sip, "INVITE", SIP_CLAIM_FEATURE, transfer_serve_invite, m);
	if (r == 0)
		r = status_register(mgr_status, m);
	if (r < 0) {
		log_err("transfer: cannot start: %s", strerror(-r));
		transfer_mgr_free(m);
		return r;
	}
	if (transfer_record_load(m) == 0 && m->records && sip) {
		log_info("transfer: resuming the paused downloads of the last run");
		ev_timer_start(loop, &m->resume);
	}
	*ret = m;
	return 0;
}

void transfer_mgr_free(struct transfer_mgr *m)
{
	if (!m)
		return;
	ev_timer_stop(m->loop, &m->resume);
	status_unregister(mgr_status, m);
	if (m->sip)
		sip_unclaim(m->sip, "INVITE", transfer_serve_invite, m);
	transfer_fetch_free_all(m);
	transfer_serve_free_all(m);
	transfer_record_flush(m);
	transfer_record_free_all(m);
	mem_deref(m->down);
	mem_deref(m->up);
	mem_deref(m->bucket);
	free_peers(m);
	free(m->download_dir);
	free(m->state_dir);
	free(m->identity);
	free(m);
}
