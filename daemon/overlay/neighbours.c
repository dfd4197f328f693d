/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Neighbours and known peers: SIPshare-style discovery over sipsvc-peers subscriptions
 * (DESIGN.md "Peer discovery"). Links are kept between min and max; a link not heard
 * from within its refresh interval is dropped and replaced from the known peers. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "overlay/overlay-private.h"

#define KNOWN_FILE	   "overlay-known-peers"
#define KNOWN_HEADER	   "# sipsvc overlay known peers v1\n"
#define RETRY_FAILED_MS	   30000 /* a peer that did not answer: not again before */
#define RETRY_REFUSED_MS   10000 /* a full peer */
#define CONNECT_IDLE_MS	   1000	 /* below min with nobody to try: look again */
#define LIST_COALESCE_MS   200	 /* changes within this go out in one NOTIFY */
#define SAVE_INTERVAL_MS   60000
#define REJECT_EXTRA_KNOWN 8 /* a refusal also names known peers, to spread joiners */
/* Every list also names a few random known peers: without it a node learns only its
 * neighbours' neighbours, and an overlay grown from a bootstrap chain stays a chain
 * (its diameter beyond any TTL). */
#define GOSSIP_KNOWN 3

static const char *const peers_kind_table[_OVERLAY_PEERS_KIND_MAX] = {
    [OVERLAY_PEERS_SUBSCRIBE] = "subscribe",
    [OVERLAY_PEERS_NOTIFY] = "notify",
    [OVERLAY_PEERS_REJECT] = "reject",
    [OVERLAY_PEERS_LEAVE] = "leave",
};

const char *overlay_peers_kind_to_string(enum overlay_peers_kind k)
{
	return k >= 0 && k < _OVERLAY_PEERS_KIND_MAX ? peers_kind_table[k] : NULL;
}

enum overlay_peers_kind overlay_peers_kind_from_string(const char *s)
{
	for (int i = 0; s && i < _OVERLAY_PEERS_KIND_MAX; i++)
		if (strcmp(s, peers_kind_table[i]) == 0)
			return (enum overlay_peers_kind)i;
	return _OVERLAY_PEERS_KIND_INVALID;
}

static bool same_peer(const struct overlay_peer *p, const struct overlay_id *id,
		      const char *contact)
{
	if (id && !id_zero(id) && !id_zero(&p->id))
		return id_eq(&p->id, id);
	/* A bootstrap peer is known by contact until its first message names it. */
	return contact && strcmp(p->contact, contact) == 0;
}

struct link *link_find(struct overlay *ov, const struct overlay_id *id, const char *contact)
{
	for (unsigned i = 0; i < ov->cfg.max_neighbours; i++)
		if (ov->links[i].state != LINK_FREE && same_peer(&ov->links[i].peer, id, contact))
			return &ov->links[i];
	return NULL;
}

size_t links_count(const struct overlay *ov, enum link_state s)
{
	size_t n = 0;

	for (unsigned i = 0; i < ov->cfg.max_neighbours; i++)
		n += ov->links[i].state == s;
	return n;
}

size_t overlay_neighbour_count(const struct overlay *ov)
{
	return ov->links ? links_count(ov, LINK_UP) : 0;
}

const struct overlay_peer *overlay_neighbour(const struct overlay *ov, size_t i)
{
	for (unsigned j = 0; ov->links && j < ov->cfg.max_neighbours; j++)
		if (ov->links[j].state == LINK_UP && i-- == 0)
			return &ov->links[j].peer;
	return NULL;
}

size_t overlay_known_count(const struct overlay *ov)
{
	return ov->n_known;
}

void overlay_set_neighbour_handler(struct overlay *ov, overlay_neighbour_h *h, void *arg)
{
	ov->nh = h;
	ov->nh_arg = arg;
}

int overlay_peer_find(const struct overlay *ov, const struct overlay_id *id,
		      struct overlay_peer *ret)
{
	for (unsigned i = 0; ov->links && i < ov->cfg.max_neighbours; i++)
		if (ov->links[i].state == LINK_UP && id_eq(&ov->links[i].peer.id, id)) {
			*ret = ov->links[i].peer;
			return 0;
		}
	for (size_t i = 0; i < ov->n_known; i++)
		if (id_eq(&ov->known[i].peer.id, id)) {
			*ret = ov->known[i].peer;
			return 0;
		}
	return -ENOENT;
}

/* ---- known peers ------------------------------------------------------------------ */

static struct known *known_find(struct overlay *ov, const struct overlay_id *id,
				const char *contact)
{
	for (size_t i = 0; i < ov->n_known; i++)
		if (same_peer(&ov->known[i].peer, id, contact))
			return &ov->known[i];
	return NULL;
}

void known_add(struct overlay *ov, const struct overlay_peer *p, bool bootstrap)
{
	struct known *k;

	if (!overlay_contact_valid(p->contact) || overlay_id_cmp(&p->id, &ov->id) == 0 ||
	    strcmp(p->contact, ov->contact) == 0)
		return;
	k = known_find(ov, &p->id, p->contact);
	if (k) {
		/* learn the id of a peer known by contact; a new contact for an id wins */
		if (overlay_id_is_zero(&k->peer.id) || strcmp(k->peer.contact, p->contact) != 0) {
			if (!overlay_id_is_zero(&p->id))
				k->peer = *p;
			ov->known_dirty = true;
		}
		k->bootstrap |= bootstrap;
		return;
	}
	if (ov->n_known < ov->cfg.known_max) {
		k = &ov->known[ov->n_known++];
	} else {
		/* Full: replace a random entry, never a bootstrap peer (the way back in). */
		k = &ov->known[ov_random(ov) % ov->n_known];
		if (k->bootstrap)
			return;
	}
	*k = (struct known){.peer = *p, .bootstrap = bootstrap};
	ov->known_dirty = true;
}

static void known_remove(struct overlay *ov, struct known *k)
{
	if (k->bootstrap) {
		k->retry_ms = ov_now(ov) + RETRY_FAILED_MS;
		return;
	}
	*k = ov->known[--ov->n_known];
	ov->known_dirty = true;
}

static void known_backoff(struct overlay *ov, const struct overlay_peer *p, uint64_t ms)
{
	struct known *k = known_find(ov, &p->id, p->contact);

	if (k)
		k->retry_ms = ov_now(ov) + ms;
}

int overlay_bootstrap_add(struct overlay *ov, const struct overlay_peer *p)
{
	if (!overlay_contact_valid(p->contact))
		return -EINVAL;
	known_add(ov, p, true);
	ov_arm_at(ov, ov_now(ov));
	return 0;
}

/* clang-analyzer does not model the cleanup attribute that frees buf. */
// NOLINTBEGIN(clang-analyzer-unix.Malloc)
int known_save(struct overlay *ov)
{
	size_t max =
	    sizeof(KNOWN_HEADER) + ov->n_known * (OVERLAY_ID_HEX_LEN + OVERLAY_CONTACT_MAX + 3);
	_cleanup_(freep) char *buf = malloc(max);
	size_t len = 0;
	int r;

	if (!buf)
		return -ENOMEM;
	len += (size_t)snprintf(buf, max, "%s", KNOWN_HEADER);
	for (size_t i = 0; i < ov->n_known; i++) {
		char hex[OVERLAY_ID_HEX_LEN + 1];

		if (overlay_id_is_zero(&ov->known[i].peer.id))
			continue; /* bootstrap-only peers come from the config again */
		overlay_id_to_hex(&ov->known[i].peer.id, hex);
		len += (size_t)snprintf(buf + len, max - len, "%s %s\n", hex,
					ov->known[i].peer.contact);
	}
	r = paths_write_atomic(ov->state_dir, KNOWN_FILE, buf, len);
	if (r == 0)
		ov->known_dirty = false;
	return r;
}
// NOLINTEND(clang-analyzer-unix.Malloc)

/* One line "HEXID CONTACT"; -EBADMSG if it is anything else. */
static int known_parse_line(char *line, struct overlay_peer *p)
{
	char *sp = strchr(line, ' ');

	if (!sp)
		return -EBADMSG;
	*sp = '\0';
	if (overlay_id_from_hex(line, &p->id) < 0 || overlay_id_is_zero(&p->id) ||
	    !overlay_contact_valid(sp + 1))
		return -EBADMSG;
	snprintf(p->contact, sizeof(p->contact), "%s", sp + 1);
	return 0;
}

static int known_parse(struct overlay *ov, char *buf)
{
	struct overlay_peer tmp[OVERLAY_KNOWN_MAX];
	size_t n = 0;
	char *line, *save = NULL;

	if (strncmp(buf, KNOWN_HEADER, strlen(KNOWN_HEADER)) != 0)
		return -EBADMSG;
	for (line = strtok_r(buf + strlen(KNOWN_HEADER), "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (n == ov->cfg.known_max || known_parse_line(line, &tmp[n]) < 0)
			return -EBADMSG;
		n++;
	}
	/* all or nothing: a damaged file must not feed half-read peers */
	for (size_t i = 0; i < n; i++)
		known_add(ov, &tmp[i], false);
	return 0;
}

/* clang-analyzer does not model the cleanup attribute that frees buf. */
// NOLINTBEGIN(clang-analyzer-unix.Malloc)
int known_load(struct overlay *ov)
{
	size_t max = sizeof(KNOWN_HEADER) +
		     ov->cfg.known_max * (OVERLAY_ID_HEX_LEN + OVERLAY_CONTACT_MAX + 3);
	_cleanup_(freep) char *path = NULL, *buf = malloc(max + 1);
	FILE *f;
	size_t len;
	int r;

	if (!buf || asprintf(&path, "%s/%s", ov->state_dir, KNOWN_FILE) < 0)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f)
		// cppcheck-suppress memleak ; buf has a cleanup attribute
		return -errno;
	len = fread(buf, 1, max + 1, f);
	r = ferror(f) ? -EIO : 0;
	fclose(f);
	if (r < 0)
		// cppcheck-suppress memleak ; buf has a cleanup attribute
		return r;
	if (len > max || memchr(buf, '\0', len))
		// cppcheck-suppress memleak ; buf has a cleanup attribute
		return -EBADMSG;
	buf[len] = '\0';
	r = known_parse(ov, buf);
	ov->known_dirty = false;
	return r;
}
// NOLINTEND(clang-analyzer-unix.Malloc)

/* ---- sending peer lists ------------------------------------------------------------- */

struct send_ctx {
	struct overlay *ov; /* a reference: the overlay may be freed before done */
	struct overlay_peer to;
};

static void link_drop(struct overlay *ov, struct link *l, uint64_t backoff_ms)
{
	if (l->state == LINK_UP) {
		ov->list_dirty = true;
		ov->list_at_ms = ov_now(ov) + LIST_COALESCE_MS;
		if (ov->nh)
			ov->nh(&l->peer, false, ov->nh_arg);
	}
	known_backoff(ov, &l->peer, backoff_ms);
	l->state = LINK_FREE;
	ov_arm_at(ov, ov_now(ov));
}

static void send_done(int err, void *arg)
{
	struct send_ctx *c = arg;
	struct overlay *ov = c->ov;
	struct link *l;

	/* RFC 6665 4.1.2.2/4.2.2: a failed SUBSCRIBE or NOTIFY ends the subscription. */
	if (err < 0 && !ov->dead) {
		l = link_find(ov, &c->to.id, c->to.contact);
		if (l) {
			ov->st.neighbours_dropped += l->state == LINK_UP;
			link_drop(ov, l, RETRY_FAILED_MS);
		}
	}
	mem_deref(ov);
	free(c);
}

static void peers_fill(struct overlay *ov, enum overlay_peers_kind kind, struct overlay_peers *m)
{
	unsigned extra;

	m->kind = kind;
	m->from.id = ov->id;
	snprintf(m->from.contact, sizeof(m->from.contact), "%s", ov->contact);
	m->expires_s = kind == OVERLAY_PEERS_LEAVE ? 0 : ov->cfg.refresh_s;
	m->n = 0;
	if (kind == OVERLAY_PEERS_LEAVE)
		return;
	for (unsigned i = 0; i < ov->cfg.max_neighbours && m->n < OVERLAY_PEERLIST_MAX; i++)
		if (ov->links[i].state == LINK_UP && !overlay_id_is_zero(&ov->links[i].peer.id))
			m->peers[m->n++] = ov->links[i].peer;
	extra = kind == OVERLAY_PEERS_REJECT ? REJECT_EXTRA_KNOWN : GOSSIP_KNOWN;
	for (unsigned i = 0; i < extra && ov->n_known && m->n < OVERLAY_PEERLIST_MAX; i++) {
		const struct known *k = &ov->known[ov_random(ov) % ov->n_known];

		if (!overlay_id_is_zero(&k->peer.id))
			m->peers[m->n++] = k->peer;
	}
}

static int peers_send(struct overlay *ov, const struct overlay_peer *to,
		      enum overlay_peers_kind kind)
{
	struct overlay_peers m;
	struct send_ctx *c = malloc(sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	peers_fill(ov, kind, &m);
	c->ov = mem_ref(ov);
	c->to = *to;
	r = ov->tp.send_peers(ov->tp.ctx, to, &m, send_done, c);
	if (r < 0) {
		mem_deref(ov);
		free(c);
		return r;
	}
	ov->st.peers_sent++;
	return 0;
}

static void list_changed(struct overlay *ov)
{
	if (!ov->list_dirty) {
		ov->list_dirty = true;
		ov->list_at_ms = ov_now(ov) + LIST_COALESCE_MS;
	}
	ov_arm_at(ov, ov->list_at_ms);
}

/* ---- receiving peer lists ----------------------------------------------------------- */

static void learn(struct overlay *ov, const struct overlay_peers *m)
{
	known_add(ov, &m->from, false);
	for (size_t i = 0; i < m->n && i < OVERLAY_PEERLIST_MAX; i++)
		if (!overlay_id_is_zero(&m->peers[i].id))
			known_add(ov, &m->peers[i], false);
}

static struct link *link_free_slot(struct overlay *ov)
{
	for (unsigned i = 0; i < ov->cfg.max_neighbours; i++)
		if (ov->links[i].state == LINK_FREE)
			return &ov->links[i];
	return NULL;
}

static void link_up(struct overlay *ov, struct link *l, const struct overlay_peer *from)
{
	uint64_t now = ov_now(ov);

	l->peer = *from; /* the id of a bootstrap peer becomes known here */
	l->heard_ms = now;
	if (l->state != LINK_UP) {
		l->state = LINK_UP;
		l->tokens = (uint64_t)ov->cfg.query_burst * 1000;
		l->tokens_ms = now;
		l->refresh_ms = now + (uint64_t)ov->cfg.refresh_s * 1000;
		list_changed(ov);
		if (ov->nh)
			ov->nh(&l->peer, true, ov->nh_arg);
	}
}

static int on_subscribe(struct overlay *ov, const struct overlay_peers *m)
{
	struct link *l = link_find(ov, &m->from.id, m->from.contact);

	if (!l) {
		l = link_free_slot(ov);
		if (!l) /* full: say no, and name others to try */
			return peers_send(ov, &m->from, OVERLAY_PEERS_REJECT);
		l->state = LINK_FREE;
		l->we_subscribe = false;
	} else if (l->state == LINK_PENDING) {
		/* Both asked at once: one dialog is enough, the smaller id refreshes it. */
		l->we_subscribe = overlay_id_cmp(&ov->id, &m->from.id) < 0;
	}
	link_up(ov, l, &m->from);
	/* RFC 6665 4.2.2: every accepted SUBSCRIBE, refreshes included, gets a NOTIFY */
	return peers_send(ov, &m->from, OVERLAY_PEERS_NOTIFY);
}

static int on_notify(struct overlay *ov, const struct overlay_peers *m)
{
	struct link *l = link_find(ov, &m->from.id, m->from.contact);

	if (!l) /* RFC 6665 4.1.3: a NOTIFY for no subscription of ours: 481 */
		return -ENOENT;
	link_up(ov, l, &m->from);
	return 0;
}

static int on_end(struct overlay *ov, const struct overlay_peers *m)
{
	struct link *l = link_find(ov, &m->from.id, m->from.contact);
	struct known *k;

	if (l)
		link_drop(ov, l,
			  m->kind == OVERLAY_PEERS_REJECT ? RETRY_REFUSED_MS : RETRY_FAILED_MS);
	if (m->kind == OVERLAY_PEERS_LEAVE) {
		k = known_find(ov, &m->from.id, m->from.contact);
		if (k)
			known_remove(ov, k);
	}
	return 0;
}

int overlay_recv_peers(struct overlay *ov, const struct overlay_peers *m)
{
	if (ov->dead || !m || m->n > OVERLAY_PEERLIST_MAX || overlay_id_is_zero(&m->from.id) ||
	    !overlay_contact_valid(m->from.contact) || overlay_id_cmp(&m->from.id, &ov->id) == 0)
		return -EINVAL;
	if (m->kind != OVERLAY_PEERS_LEAVE)
		learn(ov, m);
	switch (m->kind) {
	case OVERLAY_PEERS_SUBSCRIBE:
		return on_subscribe(ov, m);
	case OVERLAY_PEERS_NOTIFY:
		return on_notify(ov, m);
	case OVERLAY_PEERS_REJECT:
	case OVERLAY_PEERS_LEAVE:
		return on_end(ov, m);
	default:
		return -EINVAL;
	}
}

/* ---- the timer's part --------------------------------------------------------------- */

static bool link_candidate(struct overlay *ov, const struct known *k, uint64_t now)
{
	return k->retry_ms <= now && !link_find(ov, &k->peer.id, k->peer.contact);
}

/* The links to aim for: min at once; then, one new link per refresh interval, up to
 * halfway to max. Links to random known peers are what keep the overlay a random
 * graph of small diameter; stopping halfway leaves room for newcomers. */
static size_t links_wanted(struct overlay *ov, size_t have, uint64_t now, uint64_t *next)
{
	size_t grow = (ov->cfg.min_neighbours + ov->cfg.max_neighbours) / 2;

	if (have < ov->cfg.min_neighbours || have >= grow)
		return ov->cfg.min_neighbours;
	if (now < ov->grow_ms) {
		if (ov->grow_ms < *next)
			*next = ov->grow_ms;
		return ov->cfg.min_neighbours;
	}
	ov->grow_ms = now + (uint64_t)ov->cfg.refresh_s * 1000;
	return have + 1;
}

/* Below what we want: SUBSCRIBE to random known peers not linked or resting. */
static void connect_more(struct overlay *ov, uint64_t now, uint64_t *next)
{
	size_t have = links_count(ov, LINK_UP) + links_count(ov, LINK_PENDING);
	size_t want = links_wanted(ov, have, now, next);
	unsigned tries = 0;

	while (have < want && ov->n_known > 0 && tries++ < 4 * ov->cfg.min_neighbours + 4) {
		struct known *k = &ov->known[ov_random(ov) % ov->n_known];
		struct link *l;

		if (!link_candidate(ov, k, now))
			continue;
		l = link_free_slot(ov);
		if (!l)
			break;
		*l = (struct link){
		    .peer = k->peer, .state = LINK_PENDING, .we_subscribe = true, .since_ms = now};
		/* no retry before the answer or the timeout decides */
		k->retry_ms = now + ov->cfg.connect_timeout_ms;
		if (peers_send(ov, &k->peer, OVERLAY_PEERS_SUBSCRIBE) < 0)
			l->state = LINK_FREE;
		else
			have++;
	}
	if (have < ov->cfg.min_neighbours && now + CONNECT_IDLE_MS < *next)
		*next = now + CONNECT_IDLE_MS;
}

static void min_at(uint64_t *next, uint64_t t)
{
	if (t < *next)
		*next = t;
}

static void link_tick(struct overlay *ov, struct link *l, uint64_t now, uint64_t *next)
{
	uint64_t refresh = (uint64_t)ov->cfg.refresh_s * 1000;
	/* Half an interval of grace: the refresh may cross a slow link. */
	uint64_t dead_at = l->heard_ms + refresh + refresh / 2;

	if (l->state == LINK_PENDING) {
		if (now >= l->since_ms + ov->cfg.connect_timeout_ms)
			link_drop(ov, l, RETRY_FAILED_MS);
		else
			min_at(next, l->since_ms + ov->cfg.connect_timeout_ms);
		return;
	}
	if (now >= dead_at) {
		ov->st.neighbours_dropped++;
		link_drop(ov, l, RETRY_FAILED_MS);
		return;
	}
	if (l->we_subscribe && now >= l->refresh_ms) {
		l->refresh_ms = now + refresh;
		(void)peers_send(ov, &l->peer, OVERLAY_PEERS_SUBSCRIBE);
	}
	min_at(next, dead_at);
	if (l->we_subscribe)
		min_at(next, l->refresh_ms);
}

/* NOTIFY again on change: our list goes to every neighbour, each on its dialog. */
static void list_send(struct overlay *ov, uint64_t now)
{
	ov->list_dirty = false;
	for (unsigned i = 0; i < ov->cfg.max_neighbours; i++) {
		struct link *l = &ov->links[i];

		if (l->state != LINK_UP)
			continue;
		if (l->we_subscribe)
			l->refresh_ms = now + (uint64_t)ov->cfg.refresh_s * 1000;
		(void)peers_send(ov, &l->peer,
				 l->we_subscribe ? OVERLAY_PEERS_SUBSCRIBE : OVERLAY_PEERS_NOTIFY);
	}
}

void neighbours_tick(struct overlay *ov, uint64_t now, uint64_t *next)
{
	for (unsigned i = 0; i < ov->cfg.max_neighbours; i++)
		if (ov->links[i].state != LINK_FREE)
			link_tick(ov, &ov->links[i], now, next);
	if (ov->list_dirty && now >= ov->list_at_ms)
		list_send(ov, now);
	else if (ov->list_dirty)
		min_at(next, ov->list_at_ms);
	connect_more(ov, now, next);
	if (ov->state_dir && ov->known_dirty && now >= ov->save_ms) {
		(void)known_save(ov);
		ov->save_ms = now + SAVE_INTERVAL_MS;
	}
	if (ov->state_dir && ov->known_dirty)
		min_at(next, ov->save_ms);
}

void neighbours_leave(struct overlay *ov)
{
	for (unsigned i = 0; ov->links && i < ov->cfg.max_neighbours; i++) {
		struct link *l = &ov->links[i];

		if (l->state == LINK_UP)
			(void)peers_send(ov, &l->peer, OVERLAY_PEERS_LEAVE);
		l->state = LINK_FREE;
	}
}
