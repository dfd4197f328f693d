/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <Search query timeout-ms max-results/> (PROTOCOL.md): Ok at once with search="sN",
 * then one "search" event per result and one at the end (state="done", or
 * "cancelled" after a Cancel) with the counts. A client that goes away loses only
 * the events: the search runs to its end (PROTOCOL.md "Events").
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control-private.h"
#include "overlay/overlay.h"

#define SEARCH_TIMEOUT_DEFAULT 3000
#define SEARCH_RESULTS_DEFAULT 200
#define SEARCH_PEERS_MAX       256 /* distinct holders counted in peers= */

struct csearch {
	struct csearch *next, *prev;
	struct control *ctl;
	struct overlay_search *os;
	struct origin origin;
	uint64_t id;
	size_t results, n_peers;
	bool cancelled;
	struct overlay_id peers[SEARCH_PEERS_MAX];
};

static void csearch_unlink(struct csearch *cs)
{
	struct control *ctl = cs->ctl;

	if (cs->prev)
		cs->prev->next = cs->next;
	else
		ctl->searches = cs->next;
	if (cs->next)
		cs->next->prev = cs->prev;
	ctl->n_searches--;
}

static void peer_count(struct csearch *cs, const struct overlay_id *id)
{
	for (size_t i = 0; i < cs->n_peers; i++)
		if (overlay_id_cmp(&cs->peers[i], id) == 0)
			return;
	if (cs->n_peers < SEARCH_PEERS_MAX)
		cs->peers[cs->n_peers++] = *id;
}

/* A name from the network goes into an attribute only if XML and TextLine allow it. */
static bool name_ok(const char *name)
{
	if (!xmlCheckUTF8(BAD_CAST name))
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static void on_hit(struct overlay_search *s, const struct overlay_hit *h,
		   const struct overlay_file *f, void *arg)
{
	struct csearch *cs = arg;
	char peer[OVERLAY_ID_HEX_LEN + 1], sha[2 * sizeof(f->sha256) + 1];
	xmlNodePtr ev;

	if (!name_ok(f->name))
		return;
	ev = event_new(EVENT_SEARCH, &cs->origin);
	if (!ev)
		return;
	overlay_id_to_hex(&h->holder.id, peer);
	xml_set_propf(ev, "search", "s%llu", (unsigned long long)cs->id);
	xml_set_propf(ev, "peer", "%s", peer);
	if (f->has_sha256) {
		for (size_t i = 0; i < sizeof(f->sha256); i++)
			snprintf(sha + 2 * i, 3, "%02x", f->sha256[i]);
		xml_set_propf(ev, "file", "sha256:%s", sha);
	}
	xml_set_propf(ev, "name", "%s", f->name);
	xml_set_propf(ev, "size", "%llu", (unsigned long long)f->size);
	if (f->has_sha256)
		xml_set_propf(ev, "sha256", "%s", sha);
	cs->results++;
	peer_count(cs, &h->holder.id);
	event_emit(EVENT_SEARCH, &cs->origin, ev);
}

static void on_done(struct overlay_search *s, size_t results, void *arg)
{
	struct csearch *cs = arg;
	xmlNodePtr ev = event_new(EVENT_SEARCH, &cs->origin);

	if (ev) {
		xml_set_propf(ev, "search", "s%llu", (unsigned long long)cs->id);
		xml_set_propf(ev, "state", "%s", cs->cancelled ? "cancelled" : "done");
		xml_set_propf(ev, "results", "%zu", cs->results);
		xml_set_propf(ev, "peers", "%zu", cs->n_peers);
		event_emit(EVENT_SEARCH, &cs->origin, ev);
	}
	log_info("overlay: search s%llu %s: %zu results from %zu peers",
		 (unsigned long long)cs->id, cs->cancelled ? "cancelled" : "done", cs->results,
		 cs->n_peers);
	csearch_unlink(cs);
	free(cs);
}

static unsigned attr_uint(const struct request *req, const char *name, unsigned dflt)
{
	xmlChar *v = xmlGetProp(req->node, BAD_CAST name);
	unsigned long n = v ? strtoul((const char *)v, NULL, 10) : dflt;

	xmlFree(v);
	return (unsigned)n;
}

/* Words separated by single spaces; -E2BIG if they do not fit a query. */
static int keywords_of(const struct request *req, char *buf, size_t size)
{
	xmlChar *q = xmlGetProp(req->node, BAD_CAST "query");
	size_t n = 0;
	int r = 0;

	for (const char *p = (const char *)q; p && *p && r == 0;) {
		size_t w;

		p += strspn(p, " \t");
		w = strcspn(p, " \t");
		if (w == 0)
			break;
		if (n + (n ? 1 : 0) + w >= size)
			r = -E2BIG;
		else
			n += (size_t)snprintf(buf + n, size - n, "%s%.*s", n ? " " : "", (int)w, p);
		p += w;
	}
	xmlFree(q);
	return r;
}

static xmlNodePtr start_error(struct request *req, int r)
{
	switch (r) {
	case -ENOTCONN:
		return reply_error(req, CONTROL_ERROR_NOT_FOUND,
				   "this node has no overlay neighbours yet; start it with "
				   "--bootstrap sip:HOST:PORT of a running node, or wait for it "
				   "to join");
	case -ENOSPC:
		return reply_error(req, CONTROL_ERROR_LIMIT,
				   "%d searches are running; wait for one to end or Cancel it",
				   OVERLAY_SEARCHES_MAX);
	default:
		return reply_error(req, CONTROL_ERROR_INTERNAL, "cannot start the search: %s",
				   strerror(-r));
	}
}

xmlNodePtr handle_search(struct request *req)
{
	struct control *ctl = req->ctl;
	char kw[OVERLAY_KEYWORDS_MAX + 1];
	struct csearch *cs;
	xmlNodePtr ok;
	int r;

	if (!ctl->overlay)
		return reply_error(req, CONTROL_ERROR_INVALID,
				   "the overlay is off (--no-overlay or <overlay enable=\"false\">)");
	if (keywords_of(req, kw, sizeof(kw)) < 0)
		return reply_error(req, CONTROL_ERROR_TOO_LARGE,
				   "a query carries at most %d bytes of words; use fewer",
				   OVERLAY_KEYWORDS_MAX);
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	*cs = (struct csearch){ .ctl = ctl, .origin = req->origin, .id = ++ctl->next_search };
	r = overlay_search_start(overlay_sip_overlay(ctl->overlay), kw,
				 attr_uint(req, "ttl", ctl->overlay_ttl),
				 attr_uint(req, "timeout-ms", SEARCH_TIMEOUT_DEFAULT),
				 attr_uint(req, "max-results", SEARCH_RESULTS_DEFAULT), on_hit,
				 on_done, cs, &cs->os);
	if (r < 0) {
		free(cs);
		return start_error(req, r);
	}
	cs->next = ctl->searches;
	if (ctl->searches)
		ctl->searches->prev = cs;
	ctl->searches = cs;
	ctl->n_searches++;
	ok = reply_ok(req);
	if (ok)
		xml_set_propf(ok, "search", "s%llu", (unsigned long long)cs->id);
	return ok;
}

bool search_cancel_ref(struct control *ctl, uint64_t conn, const char *ref)
{
	for (struct csearch *cs = ctl->searches; cs; cs = cs->next)
		if (cs->origin.conn == conn && strcmp(cs->origin.ref, ref) == 0 &&
		    !cs->cancelled) {
			cs->cancelled = true;
			/* the end is reported from the overlay's timer, after our Ok */
			overlay_search_cancel(cs->os);
			return true;
		}
	return false;
}

void control_set_overlay(struct control *ctl, struct overlay_sip *ov, unsigned ttl)
{
	ctl->overlay = ov;
	ctl->overlay_ttl = ttl;
	if (ov)
		return;
	for (struct csearch *cs = ctl->searches, *next; cs; cs = next) {
		next = cs->next;
		free(cs);
	}
	ctl->searches = NULL;
	ctl->n_searches = 0;
}
