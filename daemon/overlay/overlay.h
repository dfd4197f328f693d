/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file overlay.h
 * The peer-to-peer overlay (DESIGN.md "Peer-to-peer overlay", SIPshare style): node
 * identity, neighbour management through peer lists, and Gnutella-style flooded
 * searches whose hits travel back along the query's path.
 *
 * The logic here knows nothing of SIP or sockets. It talks to the network through a
 * struct overlay_transport and tells time through a struct overlay_clock, so the same
 * code runs in sipsvcd (SIP binding, libev clock) and, thousands of nodes at once, in
 * bench/overlay-sim (simulated links, discrete-event clock).
 *
 * Intended SIP binding (RFC 6665 throughout; the binding lives in sip/, not here):
 *
 * - A neighbour link is ONE subscription dialog of the event package "sipsvc-peers".
 *   The node that asked for the link is the subscriber; the other is the notifier.
 *   Both sides' neighbour lists travel in it (application/sipsvc-peers+xml): the
 *   subscriber's in the SUBSCRIBE body (RFC 6665 3.1.1 lets a package define a
 *   SUBSCRIBE body), the notifier's in every NOTIFY. Liveness is the refresh: the
 *   subscriber re-SUBSCRIBEs every refresh interval (RFC 6665 4.1.2.1), the notifier
 *   NOTIFYs on every accepted SUBSCRIBE (RFC 6665 4.2.2), so each side hears from the
 *   other once per interval or drops the link.
 * - A query is a SUBSCRIBE of the event package "sipsvc-query" with
 *   "Event: sipsvc-query;id=QID" (RFC 6665 7.2.3 "id") and Expires = the time the
 *   originator still waits, body application/sipsvc-query+xml <query>. Each hit is a
 *   NOTIFY in that dialog with a <hits> body, so every result arrives inside a dialog
 *   (RFC 6665 4.1.3) and a relay forwards a hit as a NOTIFY in the dialog that brought
 *   it the query: the path is the chain of dialogs.
 * - Bodies over a UDP datagram go over TCP (RFC 3261 18.1.1): the binding's business.
 * - Receiving: the binding parses the body (overlay_*_from_xml()), takes the sender's
 *   id and contact from the From URI sip:ID@host:port, and answers the request by what
 *   overlay_recv_*() returns: 0 -> 200 (202 is deprecated, RFC 6665 8.3.1);
 *   -EINVAL -> 400; -EMSGSIZE -> 413; -EPERM (a query from a non-neighbour) -> 403;
 *   -EALREADY (a query seen before) -> 482 Loop Detected (RFC 3261 8.2.2.2);
 *   -EBUSY (a query over the rate limit, or hits over the relay bound) -> 503 with
 *   Retry-After; -ENOENT (no such subscription) -> 481; -EHOSTUNREACH (a hit whose
 *   way back is gone) -> 200, the holder did its part.
 *   The sipsvc-query dialog needs no NOTIFY of its own besides the hits: the
 *   binding sends the initial NOTIFY RFC 6665 4.2.1 requires with no body, and a
 *   final "terminated;reason=timeout" one when Expires runs out.
 *   A peer-list SUBSCRIBE that overlay_recv_peers() answers with a REJECT still gets
 *   its 200: the refusal is the NOTIFY "terminated;reason=rejected" that follows,
 *   carrying the list of peers to try instead.
 */
#ifndef SIPSVC_OVERLAY_H
#define SIPSVC_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <libxml/tree.h>

struct xml_writer;

/* ---- limits: every table is bounded ------------------------------------------------ */

#define OVERLAY_ID_LEN		   16 /* 128 bits */
#define OVERLAY_ID_HEX_LEN	   32
#define OVERLAY_CONTACT_MAX	   63	 /* "host:port"; [v6]:port fits (47) */
#define OVERLAY_PEERLIST_MAX	   32	 /* peers in one peer-list body */
#define OVERLAY_KEYWORDS_MAX	   127	 /* bytes of keywords in a query */
#define OVERLAY_NAME_MAX	   255	 /* bytes of a file name in a hit */
#define OVERLAY_HIT_FILES_MAX	   16	 /* files in one hit body */
#define OVERLAY_BODY_MAX	   16384 /* bytes of any body we parse */
#define OVERLAY_TTL_DEFAULT	   4
#define OVERLAY_TTL_MAX		   7 /* DESIGN.md: hard cap whatever a peer sends */
#define OVERLAY_NEIGHBOURS_MAX	   64
#define OVERLAY_KNOWN_MAX	   1024
#define OVERLAY_SEARCHES_MAX	   64
#define OVERLAY_SEARCH_RESULTS_MAX 1000
#define OVERLAY_HITS_PER_QUERY_MAX 256 /* hit messages a node relays for one query */

/** A node id: 128 random bits (getrandom(2)); all zero means "not known yet". */
struct overlay_id {
	uint8_t b[OVERLAY_ID_LEN];
};

/** A node as others reach it: its id and contact "host:port" (node URI sip:ID@host:port). */
struct overlay_peer {
	struct overlay_id id;
	char contact[OVERLAY_CONTACT_MAX + 1];
};

/** What a peer-list message is, and so which SIP message carries it. */
enum overlay_peers_kind {
	OVERLAY_PEERS_SUBSCRIBE, /* SUBSCRIBE Event: sipsvc-peers, Expires: expires_s */
	OVERLAY_PEERS_NOTIFY,	 /* NOTIFY, Subscription-State: active;expires=… */
	OVERLAY_PEERS_REJECT,	 /* NOTIFY, Subscription-State: terminated;reason=rejected (full) */
	OVERLAY_PEERS_LEAVE,	 /* SUBSCRIBE Expires: 0, or NOTIFY terminated;reason=deactivated */
	_OVERLAY_PEERS_KIND_MAX,
	_OVERLAY_PEERS_KIND_INVALID = -1,
};
/** The body's kind="" value ("subscribe", …); NULL if out of range. */
const char *overlay_peers_kind_to_string(enum overlay_peers_kind k);
/** Parse a kind="" value; _OVERLAY_PEERS_KIND_INVALID if unknown. */
enum overlay_peers_kind overlay_peers_kind_from_string(const char *s);

/** A peer-list message: the sender's neighbours (application/sipsvc-peers+xml). */
struct overlay_peers {
	enum overlay_peers_kind kind;
	struct overlay_peer from;
	uint32_t expires_s; /* refresh interval the sender asks for / grants */
	size_t n;
	struct overlay_peer peers[OVERLAY_PEERLIST_MAX];
};

/** A query (application/sipsvc-query+xml <query>). */
struct overlay_query {
	struct overlay_id qid;
	struct overlay_peer origin; /* informative: hits never go to it directly */
	uint8_t ttl;		    /* hops it may still travel; capped at OVERLAY_TTL_MAX */
	uint8_t hops;		    /* hops it travelled */
	/* Seconds the originator still waits: the SUBSCRIBE's Expires, not in the body.
	 * A relay keeps the way back no longer than this (nor than route_ttl_s). */
	uint32_t expires_s;
	char keywords[OVERLAY_KEYWORDS_MAX + 1];
};

/** One matching file. */
struct overlay_file {
	char name[OVERLAY_NAME_MAX + 1];
	uint64_t size;
	bool has_sha256; /* the holder's index hashed it: its content id (PROTOCOL.md) */
	uint8_t sha256[32];
};

/** A hit (application/sipsvc-query+xml <hits>): files one holder has for a query. */
struct overlay_hit {
	struct overlay_id qid;
	struct overlay_peer holder; /* where the files are (for the transfer's INVITE) */
	uint8_t hops;		    /* hops the query took to the holder */
	size_t n;
	struct overlay_file files[OVERLAY_HIT_FILES_MAX];
};

/* ---- the transport and the clock ------------------------------------------------- */

/**
 * Outcome of one send: 0 when the peer took it (SIP: a 2xx to the SUBSCRIBE or
 * NOTIFY), else -errno (-ETIMEDOUT: transaction timeout, RFC 3261 17.1.2.2 Timer F;
 * -ECONNREFUSED: ICMP or TCP refusal; -ENOENT: 481, the dialog is gone). Called once,
 * later, never from inside the send call.
 */
typedef void(overlay_send_done_h)(int err, void *arg);

/**
 * How the overlay reaches its peers. Each send returns 0 if the message is on its way
 * (then @p done, if not NULL, is called exactly once) or -errno if it could not even be
 * queued (then @p done is not called). The receiving side hands the message to
 * overlay_recv_peers(), overlay_recv_query() or overlay_recv_hit() of its overlay,
 * with the sender's node id and contact as the SIP From/Contact carried them.
 */
struct overlay_transport {
	/**
	 * Send a peer list to @p to (id may be all zero: a bootstrap peer known by
	 * contact only). SIP: by @p m->kind, see enum overlay_peers_kind; SUBSCRIBE goes to
	 * sip:ID@CONTACT (or sip:CONTACT) and makes or refreshes the dialog, NOTIFY/LEAVE
	 * go in the dialog with @p to; body application/sipsvc-peers+xml.
	 */
	int (*send_peers)(void *ctx, const struct overlay_peer *to, const struct overlay_peers *m,
			  overlay_send_done_h *done, void *arg);
	/**
	 * Send a query to the neighbour @p to. SIP: SUBSCRIBE sip:ID@CONTACT,
	 * "Event: sipsvc-query;id=QIDHEX", Expires: q->expires_s, body <query>. The
	 * receiving side fills expires_s from that header before overlay_recv_query().
	 */
	int (*send_query)(void *ctx, const struct overlay_peer *to, const struct overlay_query *q,
			  overlay_send_done_h *done, void *arg);
	/**
	 * Send a hit to @p to, the hop the query came from. SIP: NOTIFY in the
	 * sipsvc-query dialog for h->qid that @p to created, body <hits>.
	 */
	int (*send_hit)(void *ctx, const struct overlay_peer *to, const struct overlay_hit *h,
			overlay_send_done_h *done, void *arg);
	void *ctx;
};

struct overlay;

/**
 * Time, in milliseconds of a monotonic clock. The overlay keeps one deadline and asks
 * the clock to call overlay_timers_run() once it is reached.
 */
struct overlay_clock {
	uint64_t (*now_ms)(void *ctx);
	/** Call overlay_timers_run(@p ov) at @p at_ms or later; replaces the previous arming. */
	void (*arm)(void *ctx, struct overlay *ov, uint64_t at_ms);
	void *ctx;
};

/** The real clock: ev_now() and one ev_timer. Embed it in what owns the overlay. */
struct overlay_ev_clock {
	struct overlay_clock clock;
	struct ev_loop *loop;
	ev_timer timer;
	struct overlay *ov;
};
/** Set up @p c on @p loop; c->clock is then ready to pass to overlay_new(). */
void overlay_ev_clock_init(struct overlay_ev_clock *c, struct ev_loop *loop);
/** Stop its timer (call before freeing the overlay's owner). */
void overlay_ev_clock_stop(struct overlay_ev_clock *c);

/**
 * The share index as the overlay sees it: fill up to @p max files matching @p keywords
 * (space-separated) into @p files; return how many (0..max), or -errno.
 */
typedef int(overlay_match_h)(const char *keywords, struct overlay_file *files, size_t max,
			     void *arg);

/* ---- configuration, creation ----------------------------------------------------- */

/** Knobs; overlay_config_defaults() fills the documented defaults. */
struct overlay_config {
	unsigned min_neighbours;     /* 4: below it, connect to known peers */
	unsigned max_neighbours;     /* 8: above it, refuse new links */
	unsigned refresh_s;	     /* 60: subscription refresh = liveness interval */
	unsigned connect_timeout_ms; /* 5000: a pending link that hears nothing is dropped */
	unsigned known_max;	     /* 256 known peers kept (<= OVERLAY_KNOWN_MAX) */
	unsigned qcache_max;	     /* 4096 query ids remembered */
	unsigned route_ttl_s;	     /* 120: how long a query's way back is kept */
	unsigned query_rate;	     /* 10 queries/s per neighbour (token bucket rate) */
	unsigned query_burst;	     /* 20 (token bucket depth) */
	unsigned max_files_per_hit;  /* OVERLAY_HIT_FILES_MAX */
	const char *state_dir;	     /* node id and known peers; NULL: nothing persisted */
	const char *contact;	     /* our own "host:port" */
	const struct overlay_id *id; /* NULL: load or make one (tests and the simulator set it) */
	uint64_t seed;		     /* 0: from getrandom(2); else a reproducible run */
};
/** Fill @p c with the defaults. */
void overlay_config_defaults(struct overlay_config *c);

/** Counters for <Status/> and the simulator. */
struct overlay_stats {
	uint64_t queries_seen;	     /* distinct query ids handled */
	uint64_t queries_dup;	     /* deliveries of an id already handled (dropped) */
	uint64_t queries_forwarded;  /* query messages sent on */
	uint64_t queries_answered;   /* queries that matched our index */
	uint64_t queries_limited;    /* dropped by a neighbour's rate limit */
	uint64_t hits_routed;	     /* hit messages relayed towards an originator */
	uint64_t hits_unroutable;    /* hits whose way back was unknown or gone */
	uint64_t hits_dropped;	     /* over OVERLAY_HITS_PER_QUERY_MAX for one query */
	uint64_t peers_sent;	     /* peer-list messages sent */
	uint64_t neighbours_dropped; /* links lost to silence or send failure */
};

/**
 * Create an overlay. Loads (or makes and stores) the node id and the known peers from
 * cfg->state_dir if set. @p tp and @p clk are copied; @p match answers queries.
 * Returns 0 or -errno (-EINVAL for bad limits, -EBADMSG for a corrupt node-id file).
 */
int overlay_new(const struct overlay_config *cfg, const struct overlay_transport *tp,
		const struct overlay_clock *clk, overlay_match_h *match, void *match_arg,
		struct overlay **ret);
/**
 * Free @p ov without sending anything; accepts NULL. Persists the known peers.
 * Sends still out keep a reference to what is left of it: their done callbacks
 * may come later (the transport must call each exactly once, even -ECANCELED).
 */
void overlay_free(struct overlay *ov);
/** Leave politely: a LEAVE to every neighbour (the caller then frees). */
void overlay_leave(struct overlay *ov);
/** Add a bootstrap peer (its id may be unknown: all zero). Returns 0 or -errno. */
int overlay_bootstrap_add(struct overlay *ov, const struct overlay_peer *p);
/** Start: connect towards min_neighbours and arm the timers. */
void overlay_start(struct overlay *ov);
/** The clock says a deadline passed: refresh, expire, reconnect, time searches out. */
void overlay_timers_run(struct overlay *ov);

/* ---- receiving ------------------------------------------------------------------- */

/** A peer-list message arrived from @p m->from. Returns 0 or -errno (-EINVAL: bad). */
int overlay_recv_peers(struct overlay *ov, const struct overlay_peers *m);
/**
 * A query arrived from neighbour @p from. Handled once per id: answered from the
 * index, forwarded with TTL-1, its way back remembered. Returns 0, -EALREADY (seen),
 * -EBUSY (rate limit), -EPERM (not a neighbour) or -errno.
 */
int overlay_recv_query(struct overlay *ov, const struct overlay_peer *from,
		       const struct overlay_query *q);
/** A hit arrived from @p from: ours (a search's result) or relayed back. 0 or -errno. */
int overlay_recv_hit(struct overlay *ov, const struct overlay_peer *from,
		     const struct overlay_hit *h);

/* ---- searching (originator side) -------------------------------------------------- */

struct overlay_search;
/** A new result (already deduplicated by holder and file name). */
typedef void(overlay_search_hit_h)(struct overlay_search *s, const struct overlay_hit *h,
				   const struct overlay_file *f, void *arg);
/** The search ended (timeout, max results or cancel); @p results counts what hit_h saw. */
typedef void(overlay_search_done_h)(struct overlay_search *s, size_t results, void *arg);

/**
 * Flood a query for @p keywords with @p ttl (0: default; capped at OVERLAY_TTL_MAX)
 * to every neighbour. Results come through @p hh until @p timeout_ms passes or
 * @p max_results arrive, then @p dh once; the search is freed after dh returns.
 * Returns 0 or -errno (-ENOSPC: too many searches, -ENOTCONN: no neighbour).
 */
int overlay_search_start(struct overlay *ov, const char *keywords, unsigned ttl,
			 unsigned timeout_ms, unsigned max_results, overlay_search_hit_h *hh,
			 overlay_search_done_h *dh, void *arg, struct overlay_search **ret);
/** Stop a search: dh is called (results so far), then it is freed. */
void overlay_search_cancel(struct overlay_search *s);
/** The query id of a search. */
const struct overlay_id *overlay_search_qid(const struct overlay_search *s);

/* ---- looking in ------------------------------------------------------------------ */

/** Our node id. */
const struct overlay_id *overlay_node_id(const struct overlay *ov);
/** Our node URI sip:ID@CONTACT into @p buf; returns 0 or -ENOSPC. */
int overlay_node_uri(const struct overlay *ov, char *buf, size_t size);
/** Number of live (not pending) neighbours. */
size_t overlay_neighbour_count(const struct overlay *ov);
/** The @p i-th live neighbour, or NULL. */
const struct overlay_peer *overlay_neighbour(const struct overlay *ov, size_t i);
/** Number of known peers. */
size_t overlay_known_count(const struct overlay *ov);
/** Counters. */
const struct overlay_stats *overlay_stats(const struct overlay *ov);
/** A neighbour link came up (@p up) or went down. */
typedef void(overlay_neighbour_h)(const struct overlay_peer *p, bool up, void *arg);
/** Hear of neighbour changes (the daemon's "overlay" events); NULL stops. */
void overlay_set_neighbour_handler(struct overlay *ov, overlay_neighbour_h *h, void *arg);
/**
 * The contact of node @p id if it is a neighbour or a known peer. 0 or -ENOENT.
 */
int overlay_peer_find(const struct overlay *ov, const struct overlay_id *id,
		      struct overlay_peer *ret);
/** Bytes this overlay holds on the heap (memory per node in the simulator). */
size_t overlay_memory(const struct overlay *ov);
/**
 * Write the <Overlay> element of <Status>: node id and URI, neighbours, known peers,
 * query counters, the SIP dialogs (@p dialogs) the overlay holds, a <Neighbour> each.
 */
void overlay_status(struct xml_writer *w, const struct overlay *ov, size_t dialogs);

/* ---- the SIP binding (sipbind.c) ------------------------------------------------- */

struct sip;
struct overlay_sip;
/**
 * Make an overlay (overlay_new() with @p cfg) that talks SIP through @p s as the header
 * comment above describes, on @p loop's clock, and listen for the "sipsvc-peers" and
 * "sipsvc-query" event packages. Start it with overlay_start(overlay_sip_overlay()).
 * Returns 0 or -errno.
 */
int overlay_sip_new(struct sip *s, struct ev_loop *loop, const struct overlay_config *cfg,
		    overlay_match_h *match, void *match_arg, struct overlay_sip **ret);
/** Free the overlay and every subscription dialog (nothing is sent); accepts NULL. */
void overlay_sip_free(struct overlay_sip *b);
/** The overlay it runs. */
struct overlay *overlay_sip_overlay(const struct overlay_sip *b);
/** Subscription dialogs it keeps (links and queries, both sides). */
size_t overlay_sip_dialogs(const struct overlay_sip *b);
/** Hear of neighbour changes. */
void overlay_sip_set_neighbour_handler(struct overlay_sip *b, overlay_neighbour_h *h, void *arg);
/**
 * Where node @p id is: a neighbour, a known peer, or the holder of a recent hit (what
 * a Fetch from="PEER" needs). 0 or -ENOENT.
 */
int overlay_sip_peer_find(const struct overlay_sip *b, const struct overlay_id *id,
			  struct overlay_peer *ret);

/* ---- in the daemon (service.c) --------------------------------------------------- */

struct config;
struct share;
struct overlay_service;
/**
 * The daemon's overlay: @p cfg's <overlay> settings and bootstrap peers, the node id
 * and known peers in cfg->state_dir, queries answered from @p share, a <Status/>
 * contributor and "overlay" events for neighbour changes. Started at once. 0 or -errno.
 */
int overlay_service_new(struct ev_loop *loop, struct sip *sip, struct share *share,
			const struct config *cfg, struct overlay_service **ret);
/** Say goodbye to the neighbours and free; accepts NULL. */
void overlay_service_free(struct overlay_service *svc);
/**
 * Where node @p peer (32 hex digits) is, as its node URI sip:ID@host:port in @p uri:
 * a neighbour, a known peer or a recent search hit's holder (a Fetch's from=). The
 * transfers' resolver (transfer_resolve_h). 0 or -ENOENT.
 */
int overlay_service_resolve(const char *peer, char *uri, size_t size, void *arg);
/** Its SIP binding (searches, peer lookups); NULL for NULL. */
struct overlay_sip *overlay_service_binding(const struct overlay_service *svc);

/* ---- node ids (node.c) ----------------------------------------------------------- */

/** 128 random bits from getrandom(2). Returns 0 or -errno. */
int overlay_id_random(struct overlay_id *id);
/** True if all zero (unknown). */
bool overlay_id_is_zero(const struct overlay_id *id);
/** Compare like memcmp. */
int overlay_id_cmp(const struct overlay_id *a, const struct overlay_id *b);
/** 32 lowercase hex digits and a NUL into @p buf (OVERLAY_ID_HEX_LEN + 1 bytes). */
void overlay_id_to_hex(const struct overlay_id *id, char *buf);
/** Parse exactly 32 hex digits. Returns 0 or -EINVAL. */
int overlay_id_from_hex(const char *s, struct overlay_id *id);
/**
 * Load the node id from DIR/overlay-node-id, or make one and store it (atomic write:
 * temporary file, fsync, rename). Returns 0, -EBADMSG for a corrupt file (refused,
 * not replaced: the node's identity must not change silently), or -errno.
 */
int overlay_node_id_load(const char *dir, struct overlay_id *id);
/**
 * Parse a node URI "sip:ID@host:port" or a bootstrap URI "sip:host[:port]" (as given
 * to `sipsvcd --bootstrap`; the id is then all zero, port 5060 by default, RFC 3261
 * 19.1.2); URI parameters are ignored. Returns 0 or -EINVAL.
 */
int overlay_peer_from_uri(const char *uri, struct overlay_peer *p);
/** True if @p s is a usable contact "host:port" (bounded, printable, no spaces). */
bool overlay_contact_valid(const char *s);

/* ---- bodies (body.c) -------------------------------------------------------------- */

/** Media types of the bodies. */
#define OVERLAY_PEERS_MEDIA_TYPE "application/sipsvc-peers+xml"
#define OVERLAY_QUERY_MEDIA_TYPE "application/sipsvc-query+xml"

/** Serialise @p m into a new malloc'd buffer. Returns 0 or -errno. */
int overlay_peers_to_xml(const struct overlay_peers *m, char **ret, size_t *ret_len);
/** Parse and validate (sipsvc-peers.xsd) a peer-list body. Returns 0 or -EINVAL/-EMSGSIZE. */
int overlay_peers_from_xml(const char *buf, size_t len, struct overlay_peers *m);
/** Serialise a query. Returns 0 or -errno. */
int overlay_query_to_xml(const struct overlay_query *q, char **ret, size_t *ret_len);
/** Parse a query body; a TTL above OVERLAY_TTL_MAX is capped, not refused. 0 or -errno. */
int overlay_query_from_xml(const char *buf, size_t len, struct overlay_query *q);
/** Serialise a hit. Returns 0 or -errno. */
int overlay_hit_to_xml(const struct overlay_hit *h, char **ret, size_t *ret_len);
/** Parse a hit body. Returns 0 or -errno. */
int overlay_hit_from_xml(const char *buf, size_t len, struct overlay_hit *h);
/** Free the compiled schemas (at exit, for leak checkers). */
void overlay_body_done(void);

#endif
