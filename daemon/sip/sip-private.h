/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals of the SIP subsystem shared between its files. */
#ifndef SIPSVC_SIP_PRIVATE_H
#define SIPSVC_SIP_PRIVATE_H

#include <stdbool.h>
#include <netinet/in.h>
#include <sys/socket.h>
/* libosip2 needs these before its own headers (notes/libraries.md). */
#include <sys/time.h>
#include <time.h>

#include <osip2/osip.h>
#include <osip2/osip_dialog.h>

#include "sip/sip.h"

/* ---- limits ------------------------------------------------------------------ */

/* Transactions live in SIP_SHARDS osip_t instances: libosip2 appends a new transaction
 * by walking its whole list (osip_list_add(..., -1)), so sharding keeps that walk to
 * 1/SIP_SHARDS of the live transactions (a UDP NIST lives 32 s, RFC 3261 17.2.2). */
#define SIP_SHARDS 32
/* How often libosip2's timer scans run: they are linear in the live transactions. */
#define SIP_TICK 0.02
/* Live transactions; beyond it new requests get 503 (RFC 3261 21.5.4). Each costs
 * about 20 KiB (osip_transaction_t alone is 15 KiB): this bounds them to ~200 MB. */
#define SIP_MAX_TRANSACTIONS 10000
#define SIP_MAX_MESSAGE 65536      /* bytes per message, UDP or TCP */
#define SIP_MAX_TCP_CONNS 256
#define SIP_TCP_IDLE 120.0         /* seconds without a byte before a flow is closed */
#define SIP_TCP_MAX_QUEUE (256 * 1024) /* unsent bytes per connection */
#define SIP_TCP_KEEPIDLE 30        /* TCP keep-alive: first probe after 30 s of quiet, */
#define SIP_TCP_KEEPINTVL 10       /* then every 10 s, */
#define SIP_TCP_KEEPCNT 3          /* and the flow is dead after 3 unanswered */
#define SIP_UDP_BURST 64           /* datagrams read per wake-up, for fairness */
#define SIP_MAX_VIAS 32
#define SIP_MAX_DIALOGS 4096       /* 2 per call at the calls limit, plus the rest */
#define SIP_DIALOG_BUCKETS 1024    /* dialogs hashed by Call-ID */
#define SIP_T1 0.5                 /* RFC 3261 17.1.1.1 */
#define SIP_T2 4.0

#define SIP_ALLOW "INVITE, ACK, CANCEL, OPTIONS, BYE"

/* ---- addresses ---------------------------------------------------------------- */

union sip_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

/** Where a message came from, enough to answer it (RFC 3261 18.2.2). */
struct sip_src {
	bool is_tcp;
	int fd;                     /* UDP socket or TCP connection it arrived on */
	union sip_sockaddr peer;
	socklen_t peer_len;
	char ip[INET6_ADDRSTRLEN];  /* numeric source address */
	int port;
};

/** "1.2.3.4:5060" or "[::1]:5060". */
void sip_addr_format(const struct sockaddr *sa, char *buf, size_t size);
/** Numeric @p host (v4 or v6, brackets allowed) and @p port into @p ret. 0 or -EINVAL. */
int sip_addr_parse(const char *host, int port, union sip_sockaddr *ret, socklen_t *ret_len);
/** Same family, address and port? */
bool sip_addr_same(const union sip_sockaddr *a, const union sip_sockaddr *b);
/** Numeric address and port of @p sa. */
void sip_addr_split(const struct sockaddr *sa, char *ip, size_t size, int *port);

/* ---- resolve.c: DNS with c-ares on the loop (RFC 3263 lookups) ------------------- */

#define SIP_DNS_MAX_SOCKS 16    /* resolver sockets watched (c-ares: one per server) */
#define SIP_DNS_CACHE 64        /* names cached */
#define SIP_DNS_MAX_ANSWERS 8   /* records kept per name */
#define SIP_DNS_MAX_PENDING 64  /* queries in flight */
#define SIP_DNS_MAX_TTL 3600    /* seconds an answer is kept at most */
#define SIP_DNS_NEG_TTL 30      /* seconds "no such record" is kept (RFC 2308) */
#define SIP_DNS_NAME_MAX 256
#define SIP_DNS_MAX_PACKET 65535

/** One record of an answer: SRV (priority...target) or A/AAAA (addr, port 0). */
struct sip_dns_rr {
	uint16_t priority, weight, port;
	char target[SIP_DNS_NAME_MAX];
	union sip_sockaddr addr;
	socklen_t addr_len;
};

/** The records of one name and type, valid until @p expires (loop time). */
struct sip_dns_entry {
	int type;                /* T_SRV, T_A, T_AAAA; 0: unused */
	char name[SIP_DNS_NAME_MAX];
	uint32_t ttl;
	ev_tstamp expires;
	unsigned n;
	struct sip_dns_rr rr[SIP_DNS_MAX_ANSWERS];
};

/**
 * The answer to a query: @p err 0 (@p n may be 0: no such name or record), or
 * -ETIMEDOUT, -EHOSTUNREACH (server failure), -ECANCELED (shutdown), -ENOMEM. @p rr is
 * only valid during the call.
 */
typedef void(sip_dns_h)(int err, const struct sip_dns_rr *rr, unsigned n, void *arg);

/** Start the resolver: servers from the config, else /etc/resolv.conf. 0 or -errno. */
int sip_dns_start(struct sip *s);
/** A reload: use the servers of @p cfg if they changed from @p old. */
void sip_dns_set_config(struct sip *s, const struct config *old, const struct config *cfg);
/** Stop it; pending queries are answered -ECANCELED. Accepts a stopped one. */
void sip_dns_stop(struct sip *s);
/**
 * Look up @p type (T_SRV, T_A, T_AAAA) of @p name; @p h gets the answer, at once when
 * it is cached. 0, or -EBUSY (too many queries in flight), -ECANCELED, -ENAMETOOLONG,
 * -ENOMEM (then @p h is not called).
 */
int sip_dns_query(struct sip *s, int type, const char *name, sip_dns_h *h, void *arg);
/** Queries in flight, cache hits and misses (tests, Status). */
void sip_dns_counts(const struct sip *s, unsigned *pending, unsigned *hits, unsigned *misses);
/** The smallest TTL of a DNS answer's records (0 without records). 0 or -EBADMSG. */
int sip_dns_answer_ttl(const unsigned char *abuf, size_t alen, uint32_t *ret_ttl);
/** Parse an answer of @p type into @p e (n, rr, ttl capped). 0 or -EBADMSG. */
int sip_dns_parse(int type, const unsigned char *abuf, size_t alen, struct sip_dns_entry *e);
/** The live cache entry for @p type and @p name, or NULL. */
struct sip_dns_entry *sip_dns_cache_find(struct sip_dns_entry *cache, size_t n, int type,
					 const char *name, ev_tstamp now);
/** The entry to store @p name in: its own, a free or expired one, else the oldest. */
struct sip_dns_entry *sip_dns_cache_slot(struct sip_dns_entry *cache, size_t n, int type,
					 const char *name, ev_tstamp now);

/* ---- locate.c: RFC 3263 server location and failover ------------------------------ */

#define SIP_LOCATE_MAX 64          /* requests being located or failing over at once */
#define SIP_LOCATE_MAX_SRV 4       /* SRV targets used per request */
#define SIP_LOCATE_PER_FAMILY 2    /* addresses used per target and address family */
#define SIP_LOCATE_MAX_TARGETS 8   /* addresses tried per request */

/** Random number in [0, @p bound] for the RFC 2782 weighted choice. */
typedef unsigned(sip_random_h)(unsigned bound, void *arg);
/**
 * Order SRV records as RFC 2782 says: by priority, then within one priority by a
 * weighted random choice (@p rnd) made again for each position.
 */
void sip_srv_order(struct sip_dns_rr *rr, unsigned n, sip_random_h *rnd, void *arg);
/** Send flags. */
#define SIP_SEND_CONTACT 1u        /* add our Contact (toward the target chosen) */
/**
 * Locate the servers for @p req's target (first Route, else Request-URI: a host name)
 * and send it in a client transaction to each in turn until one answers with
 * something else than 503 or a local 408/503 (RFC 3263 4.3). @p req is taken. @p h sees
 * the responses of the last attempt only; with tx NULL when nothing could be sent.
 */
int sip_locate_start(struct sip *s, osip_message_t *req, bool tcp, unsigned flags,
		     sip_response_h *h, void *arg);
/**
 * The sender of the request located for (@p h, @p arg) gave up before any answer (an
 * INVITE cancelled early): no further attempt is made, and if none was made yet the
 * request ends with a local 487.
 */
void sip_locate_cancel(struct sip *s, sip_response_h *h, void *arg);
/** Forget requests still being located (shutdown; after sip_dns_stop()). */
void sip_locates_free(struct sip *s);

/* ---- transport-udp.c / transport-tcp.c ------------------------------------------ */

struct udp_sock {
	struct sip *sip;
	int fd;
	int family;
	ev_io io;
	char name[64];
};

struct tcp_listener {
	struct sip *sip;
	int fd;
	int family;
	ev_io io;
	char name[64];
};

/** One TCP connection, accepted or opened by us; refcounted. */
struct tcp_conn {
	struct sip *sip;
	struct tcp_conn *next, *prev;
	int fd;
	bool connecting, closed;
	union sip_sockaddr peer;
	socklen_t peer_len;
	ev_io rio, wio;
	ev_timer idle;
	char *in;                /* bytes not yet framed */
	size_t in_len;
	char *out;               /* bytes not yet written */
	size_t out_len, out_off;
	char name[64];
};

#define SIP_MAX_SOCKS 2      /* one per family */

/** Bind UDP sockets per the config. Returns 0 or -errno. */
int udp_start(struct sip *s);
/** Close them. */
void udp_stop(struct sip *s);
/** Send a datagram from socket @p fd. 0 or -errno. */
int udp_send(struct sip *s, int fd, const union sip_sockaddr *to, socklen_t len,
	     const char *buf, size_t n);

/** Listen on TCP at the UDP port. 0 or -errno. */
int tcp_start(struct sip *s);
/** Close listeners and connections. */
void tcp_stop(struct sip *s);
/**
 * Send over the connection with socket @p fd if it still leads to @p flow (the peer a
 * request came from); else over any connection to @p to, else over a new one
 * (RFC 3261 18.2.2). 0 or -errno.
 */
int tcp_send(struct sip *s, int fd, const union sip_sockaddr *flow, const union sip_sockaddr *to,
	     socklen_t len, const char *buf, size_t n);

/* ---- tcpframe.c: stream framing --------------------------------------------------- */

/**
 * Find the end of the first message in @p buf (RFC 3261 18.3: the Content-Length
 * header delimits a message on a stream). Leading CRLFs (RFC 5626 3.5.1 keep-alives)
 * are skipped: *ret_skip tells how many. Returns the message length (>0), 0 when more
 * bytes are needed, -EMSGSIZE when the message would exceed @p max, -EBADMSG when
 * the Content-Length header is unreadable.
 */
ssize_t sip_frame_find(const char *buf, size_t len, size_t max, size_t *ret_skip);

/* ---- txindex.c: our own transaction table ----------------------------------------- */

/** Our wrapper of a libosip2 transaction; refcounted (holders may outlive it). */
struct sip_tx {
	struct sip *sip;
	osip_transaction_t *tr;    /* NULL once ended */
	osip_t *osip;              /* the shard it lives in */
	struct sip_tx *hnext;      /* chain in the branch index */
	struct sip_tx *mnext;      /* chain in the merge index (RFC 3261 8.2.2.2) */
	struct sip_tx *pnext;      /* queue of transactions with pending events */
	struct sip_tx *dnext;      /* queue of ended transactions to free */
	struct sip_tx *cnext, *cprev; /* client: the list of live client transactions */
	uint64_t hash, mhash;
	char *key, *mkey;
	bool pending, dead, final_sent;
	bool client;               /* ICT/NICT */
	sip_response_h *resp_h;    /* client: who gets the responses */
	sip_cancel_h *cancel_h;    /* server INVITE: who is told of a CANCEL */
	void *cancel_arg;
	void *resp_arg;
	unsigned auth_tries;       /* client: challenges answered so far (RFC 3261 22.2) */
	bool merged;               /* RFC 3261 8.2.2.2: a merged request, answered 482 */
	char tag[17];              /* our To tag, the same in every response */
	const osip_message_t *req; /* the request; owned by the transaction */
	struct sip_src src;        /* where the request came from */
};

struct sip_txindex {
	struct sip_tx **b;         /* branch index buckets */
	struct sip_tx **m;         /* merge index buckets */
	size_t n_buckets;          /* power of two */
	size_t n, n_merge;
	uint64_t seed;
};

int sip_txindex_init(struct sip_txindex *ix);
void sip_txindex_done(struct sip_txindex *ix);
/**
 * Build the matching key of @p req (RFC 3261 17.2.3): top Via branch, sent-by and
 * method (ACK matches INVITE), or for a branch without the magic cookie the RFC 2543
 * fields. malloc'd; NULL on out-of-memory or a request without Via.
 */
char *sip_txkey_server(const osip_message_t *req, const char *method);
/** Key of RFC 3261 8.2.2.2 (From tag, Call-ID, CSeq) for requests without To tag. */
char *sip_txkey_merge(const osip_message_t *req);
/** Find a transaction by key. */
struct sip_tx *sip_txindex_find(struct sip_txindex *ix, const char *key);
/** Find a transaction by merge key. */
struct sip_tx *sip_txindex_find_merge(struct sip_txindex *ix, const char *mkey);
/** Add @p tx (its key and mkey set; the index takes no reference). 0 or -ENOMEM. */
int sip_txindex_add(struct sip_txindex *ix, struct sip_tx *tx);
/** Remove @p tx if present. */
void sip_txindex_remove(struct sip_txindex *ix, struct sip_tx *tx);
/** A To tag derived from @p key: the same request always gets the same tag. */
void sip_txindex_tag(const struct sip_txindex *ix, const char *key, char tag[17]);

/* ---- transaction.c / pump.c ----------------------------------------------------- */

/**
 * Create a server transaction (IST for INVITE, NIST otherwise) for @p evt's request,
 * which it takes; feed it the request. 0 or -errno (then @p evt is freed).
 */
int sip_tx_new_server(struct sip *s, osip_event_t *evt, const struct sip_src *src,
		      char *key, char *mkey, struct sip_tx **ret);
/** Take a client transaction off the list of live ones (it ended). */
void sip_tx_client_unlink(struct sip_tx *tx);
/** Send response @p resp (taken) on server transaction @p tx. 0 or -errno. */
int sip_tx_send(struct sip_tx *tx, osip_message_t *resp);
/** Queue @p evt (taken) on @p tx; the pump runs it before the loop sleeps. */
int sip_tx_event(struct sip_tx *tx, osip_event_t *evt);
/** Install osip callbacks on a new shard. */
void sip_pump_setup(struct sip *s, osip_t *osip);
/** Start the prepare/timer watchers. */
void sip_pump_start(struct sip *s);
/** Stop them. */
void sip_pump_stop(struct sip *s);
/** Make sure the timer fires within one tick (new transaction, new timers). */
void sip_pump_kick(struct sip *s);

/* ---- client.c ----------------------------------------------------------------- */

/** Host and port a request goes to: first Route (loose routing assumed), else R-URI. */
int sip_request_target(const osip_message_t *req, char *host, size_t size, int *port);
/** Our address as seen from @p to (the --sip-addr if set). 0 or -errno. */
int sip_local_ip(struct sip *s, const union sip_sockaddr *to, socklen_t len, char *ip,
		 size_t size);
/** Key of a client transaction (RFC 3261 17.1.3): branch and CSeq method. */
char *sip_txkey_client(const char *branch, const char *method);
/**
 * Add our Via (and with SIP_SEND_CONTACT our Contact) to @p req (taken) and send it in
 * a new client transaction to @p to over UDP or TCP. 0 or -errno.
 */
int sip_client_send(struct sip *s, osip_message_t *req, const union sip_sockaddr *to,
		    socklen_t len, bool tcp, unsigned flags, sip_response_h *h, void *arg,
		    struct sip_tx **ret);
/** sip_request_send() with SIP_SEND_* @p flags. */
int sip_request_send_flags(struct sip *s, osip_message_t *req, bool tcp, unsigned flags,
			   sip_response_h *h, void *arg, struct sip_tx **ret);
/** The RFC 3261 18.1.1 rule: is @p req too big for UDP? */
bool sip_request_too_big(osip_message_t *req);
/** Add our Contact for a request to @p to, reachable at @p ip. 0 or -errno. */
int sip_message_add_contact_ip(struct sip *s, osip_message_t *m, const char *ip, bool tcp);
/** Send @p req (not taken) outside any transaction (ACK for a 2xx), adding a Via. */
int sip_send_direct(struct sip *s, osip_message_t *req, bool tcp);
/**
 * A 401/407 for @p tx: if credentials are set and the challenge is one we answer (not
 * already answered once), send the request again with them; its handler moves to the
 * new transaction. True if that happened.
 */
bool sip_client_retry_auth(struct sip_tx *tx, const osip_message_t *resp);
/**
 * A TCP connection to @p peer failed, or (@p tcp false) an ICMP error came for a
 * datagram to it: its client transactions get a local 503 (RFC 3261 18.4).
 */
void sip_client_flow_failed(struct sip *s, const union sip_sockaddr *peer, bool tcp);
/** Report a transport error (local 503) on client transaction @p tx (pump.c). */
void sip_tx_transport_error(struct sip_tx *tx);
/**
 * End client transaction @p tx that will never see its final response: its handler
 * gets a local @p status as the final one, and libosip2's transaction is destroyed
 * (pump.c). For an INVITE still without a final response 64*T1 after its CANCEL
 * (RFC 3261 9.1), which libosip2's ICT would otherwise wait for in Proceeding for ever.
 */
void sip_tx_abandon(struct sip_tx *tx, int status);
/** Route a received response (taken) to its client transaction. */
void sip_client_response(struct sip *s, osip_event_t *evt);
/** Create the ICT/NICT for @p req (taken) towards @p host:@p port. */
int sip_tx_new_client(struct sip *s, osip_message_t *req, const struct sip_src *dst, char *key,
		      const char *host, int port, sip_response_h *h, void *arg,
		      struct sip_tx **ret);

/* ---- dialog.c ---------------------------------------------------------------------- */

/** A 2xx for an INVITE that no transaction wants: ACK it again (RFC 3261 13.2.2.4). */
void sip_dialog_stray_2xx(struct sip *s, const osip_message_t *resp);
/** The dialog an in-dialog request belongs to, or NULL (RFC 3261 12.2.2). */
struct sip_dialog *sip_dialog_find_uas(struct sip *s, const osip_message_t *req);
/** An INVITE retransmission after our 2xx (RFC 6026 7.1): 2xx again; true if so. */
bool sip_dialog_absorb_invite(struct sip *s, const osip_message_t *invite, const char *key);
/** An ACK without transaction: the ACK for a 2xx we sent (RFC 3261 13.3.1.4). */
bool sip_dialog_ack(struct sip *s, const osip_message_t *ack);
/** An in-dialog request on its new server transaction. */
void sip_dialog_request_in(struct sip_dialog *d, struct sip_tx *tx);
/** End every dialog (shutdown). */
void sip_dialogs_free(struct sip *s);

/* ---- auth.c: digest as a UAC (RFC 8760) ------------------------------------------------ */

enum sip_auth_alg {
	SIP_AUTH_MD5,
	SIP_AUTH_MD5_SESS,
	SIP_AUTH_SHA256,
	SIP_AUTH_SHA256_SESS,
	_SIP_AUTH_ALG_MAX,
	_SIP_AUTH_ALG_INVALID = -1,
};
#define SIP_AUTH_HEX_MAX 65

/** Inputs of one digest response (RFC 7616 3.4.1). */
struct sip_auth_params {
	enum sip_auth_alg alg;
	const char *user, *realm, *password, *method, *uri, *nonce, *cnonce;
	unsigned nc;
	const char *qop;   /* "auth" or NULL */
};

/** One challenge we can answer; strings are osip-allocated. */
struct sip_auth_challenge {
	enum sip_auth_alg alg;
	bool qop_auth, stale;
	char *realm, *nonce, *opaque;
};

enum sip_auth_alg sip_auth_alg_from_string(const char *s);
const char *sip_auth_alg_to_string(enum sip_auth_alg a);
/** The request-digest in hex. 0 or -errno. */
int sip_auth_digest(const struct sip_auth_params *p, char out[SIP_AUTH_HEX_MAX]);
/** The topmost Digest challenge of a 401/407 that we support. 0 or -ENOTSUP. */
int sip_auth_challenge_pick(const osip_message_t *resp, struct sip_auth_challenge *ret);
/** Free the strings of @p c. */
void sip_auth_challenge_clear(struct sip_auth_challenge *c);
/** The Authorization value answering @p c (malloc'd), NULL on failure. */
char *sip_auth_header(const struct sip_auth_challenge *c, const char *user, const char *password,
		      const char *method, const char *uri);

/* ---- register.c ------------------------------------------------------------------------ */

#define SIP_MAX_REGS 8
/* Methods features may claim, and the longest method name we take for a claim. */
#define SIP_MAX_CLAIMS 32
#define SIP_FLOOD_SOURCES 1024

/* flood.c: one source's token bucket. */
struct sip_flood_slot {
	uint8_t key[16], len;
	double tokens;
	ev_tstamp last, logged;
};

/** Whether a message from @p src may go on: responses always, requests within the
 * source's budget (flood.c). */
bool sip_flood_admit(struct sip *s, const struct sip_src *src, const char *buf, size_t len);
#define SIP_METHOD_MAX 32

struct sip_claim {
	char method[SIP_METHOD_MAX + 1];
	enum sip_claim_order order;
	sip_request_h *h;
	void *arg;
};

/** Whether @p method is one the service handles itself (RFC 3261 core methods). */
bool sip_builtin_method(const char *method);
/** Whether some feature claims @p method. */
bool sip_claimed(const struct sip *s, const char *method);
/**
 * Offer @p tx to the claimers of its method, in order; true when one took it (or it
 * ended meanwhile).
 */
bool sip_claims_offer(struct sip *s, struct sip_tx *tx);
/** "Name: value" lines (CRLF or LF separated) into @p m. 0, -EINVAL or -ENOMEM. */
int sip_message_add_headers(osip_message_t *m, const char *headers);
/** Body and Content-Type/Length (@p ctype NULL: Content-Length 0). 0 or -ENOMEM. */
int sip_message_set_body(osip_message_t *m, const char *ctype, const char *body);

struct sip_reg {
	struct sip *sip;
	char *registrar, *aor;
	bool tcp, busy;
	enum sip_reg_state state;
	int expires, granted, last_status;
	unsigned cseq;
	char call_id[17], tag[17];
	double backoff;
	ev_timer timer;
};

const char *sip_reg_state_to_string(enum sip_reg_state st);
/** Unregister every binding (Expires: 0); the answers may come before the loop ends. */
void sip_register_stop(struct sip *s);
/** Start the <registration> of the config, if any (errors are logged). */
void sip_register_from_config(struct sip *s);
/** Drop the registrations (shutdown). */
void sip_registrations_free(struct sip *s);
/** <Registration> children of <Status>. */
void sip_registrations_status(struct sip *s, struct xml_writer *w);
/** Add our Contact (address toward the request's target). 0 or -errno. */
int sip_message_add_contact(struct sip *s, osip_message_t *m, bool tcp);
/** A request with Request-URI @p uri and Max-Forwards, nothing else; NULL on failure. */
osip_message_t *sip_request_skeleton(const char *method, const char *uri);
/**
 * A request that starts a dialog or stands alone (RFC 3261 8.1.1): new From tag and
 * Call-ID, CSeq 1, our Contact, Allow. NULL on failure.
 */
osip_message_t *sip_request_new(struct sip *s, const char *method, const char *from,
				const char *to, bool tcp);

/* ---- subscription.c: RFC 6665 subscription dialogs ---------------------------------- */

#define SIP_MAX_SUBS	    1024 /* subscription dialogs, either side */
#define SIP_SUB_QUEUE_MAX   64	 /* requests waiting in one dialog (one is out at a time) */
#define SIP_SUB_ROUTES_MAX  8	 /* Record-Route entries kept */
#define SIP_SUB_LISTENS_MAX 8	 /* event packages with a listener */

/** End every subscription without sending (shutdown). */
void sip_subs_free(struct sip *s);

/* ---- validate.c ---------------------------------------------------------------- */

enum sip_verdict {
	SIP_VERDICT_OK,
	SIP_VERDICT_REJECT,   /* answer with *status and *reason */
	SIP_VERDICT_DROP,     /* cannot be answered */
};

/**
 * Check a parsed request before any state machine sees it (RFC 3261 8.1.1, 8.2,
 * 18.3, 20): the required headers present, well formed and consistent. @p body_len is
 * the number of body bytes actually received. On SIP_VERDICT_REJECT *status and
 * *reason say what to answer ("Missing Call-ID").
 */
enum sip_verdict sip_validate_request(const osip_message_t *m, size_t body_len, int *status,
				      const char **reason);
/** The same for a response: only what matching it needs. */
enum sip_verdict sip_validate_response(const osip_message_t *m);

/* ---- response.c ---------------------------------------------------------------- */

/**
 * A response to @p req per RFC 3261 8.2.6.2: Vias, From, To (with @p tag added unless
 * @p status is 100 or To has one), Call-ID and CSeq copied, a reason phrase (NULL: the
 * RFC's), Server and Content-Length. NULL on out-of-memory.
 */
osip_message_t *sip_response_new(const osip_message_t *req, int status, const char *reason,
				 const char *tag);
/** Add a header; 0 or -ENOMEM. */
int sip_response_add(osip_message_t *resp, const char *name, const char *value);
/** A new random token of 16 hex digits (tags). */
void sip_token(char buf[17]);
/**
 * Send @p resp (freed) for @p src without a transaction (RFC 3261 8.2.7: a stateless
 * answer; used for requests that cannot have a transaction). 0 or -errno.
 */
int sip_send_stateless(struct sip *s, const struct sip_src *src, osip_message_t *resp);
/**
 * Serialise and send @p msg to @p host:@p port over @p src's transport (on TCP first
 * over the connection @p src names). 0 or -errno.
 */
int sip_send_to(struct sip *s, const struct sip_src *src, osip_message_t *msg, const char *host,
		int port);

/* ---- server.c ---------------------------------------------------------------------- */

/**
 * Answer @p req statelessly (RFC 3261 8.2.7) if the service's answer is fixed (a
 * non-INVITE, non-CANCEL request); @p key is its transaction key. Returns false when
 * the request needs a transaction.
 */
bool sip_server_stateless(struct sip *s, const struct sip_src *src, const osip_message_t *req,
			  const char *key);
/** The built-in UAS behaviour for a new, valid request on new transaction @p tx. */
void sip_server_request(struct sip *s, struct sip_tx *tx);
/** A CANCEL (RFC 3261 9.2) on its own transaction @p tx. */
void sip_server_cancel(struct sip *s, struct sip_tx *tx);

/* ---- sip.c ------------------------------------------------------------------------ */

struct sip {
	struct ev_loop *loop;
	const struct config *cfg;
	osip_t *osip[SIP_SHARDS];
	struct sip_txindex ix;
	struct sip_tx *pending_head, *pending_tail;
	struct sip_tx *dead;
	struct sip_tx *clients;       /* live client transactions (few: we send little) */
	size_t n_tx;
	ev_prepare prepare;
	ev_timer timer;
	ev_tstamp next_tick;
	struct udp_sock udp[SIP_MAX_SOCKS];
	unsigned n_udp;
	struct tcp_listener tcp[SIP_MAX_SOCKS];
	unsigned n_tcp;
	struct tcp_conn *conns;
	unsigned n_conns;
	int port;
	char *rxbuf;             /* one datagram */
	sip_invite_h *invite_h;
	void *invite_arg;
	struct sip_flood_slot flood[SIP_FLOOD_SOURCES];
	struct sip_claim claims[SIP_MAX_CLAIMS];
	unsigned n_claims;
	char allow[SIP_MAX_CLAIMS * (SIP_METHOD_MAX + 2) + 64];
	struct sip_dialog *dialogs[SIP_DIALOG_BUCKETS];
	unsigned n_dialogs;
	bool closing;
	char *auth_user, *auth_password;
	struct sip_reg *regs[SIP_MAX_REGS];
	unsigned n_regs;
	struct sip_dns *dns;          /* NULL without a loop */
	struct sip_locate *locates;   /* requests being located (locate.c) */
	unsigned n_locates;
	struct sip_sub *subs; /* subscription dialogs (subscription.c) */
	unsigned n_subs;
	struct sip_sub_listen {
		char package[64];
		sip_sub_new_h *h;
		void *arg;
	} sub_listens[SIP_SUB_LISTENS_MAX];
	unsigned n_sub_listens;
	struct sip_stats stats;
};

#endif
