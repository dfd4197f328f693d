/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file transfer.h
 * File transfer (DESIGN.md "File transfer"): the RFC 5547 SDP that an INVITE carries,
 * MSRP framing (RFC 4975), and sender/receiver sessions over one TCP connection,
 * independent of SIP. The SIP layer negotiates with transfer_sdp_*() and hands the
 * connected (or listening) socket to a sender or receiver; the share index hands the
 * sender the file descriptor of content it serves by hash.
 *
 * Receivers hash in the worker pool (core/worker.h), never on the loop.
 *
 * Fetch, on the receiving side (the INVITE's offerer):
 *   1. transfer_limits_acquire(limits, peer), -EBUSY: refuse the Fetch.
 *   2. transfer_receiver_new(): opens or resumes NAME.part; ready(have) follows.
 *   3. Offer (transfer_sdp_format): recvonly, setup actpass with a listening socket's port
 *      in m=, our path (transfer_msrp_path_new()), the selector (name, type, size,
 *      sha-256, sha-1), a transfer id, and a=file-range:have+1-size when have > 0.
 *   4. Answer (transfer_sdp_parse): setup active → transfer_receiver_attach(listening
 *      socket, TRANSFER_SOCK_LISTENING, answer.path); passive → connect to the answer's
 *      c=/m= and attach the socket as TRANSFER_SOCK_CONNECTING.
 *   5. done(status, name): BYE, transfer_limits_release(), transfer_receiver_free().
 * Serving, on the holder's side (the answerer):
 *   1. transfer_sdp_parse() the offer; refuse unless it is recvonly with a sha-256
 *      selector the share index holds (it opens the file, re-hashed if it changed).
 *   2. transfer_limits_acquire(), transfer_sdp_answer() (addr, port, path filled in first),
 *      transfer_sender_new() with the fd, size, offer's range, offer's path as to_path,
 *      the transfer id as message id, the upload bucket.
 *   3. transfer_sender_attach(): answer active → a connecting socket; passive → listening.
 *   4. done(0) once the receiver's REPORT says the hash matched: BYE, release, free.
 */
#ifndef SIPSVC_TRANSFER_H
#define SIPSVC_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "core/core.h"

struct worker_pool;

/* ---- common --------------------------------------------------------------------- */

#define TRANSFER_SHA256_LEN 32
#define TRANSFER_SHA1_LEN 20
/** Bytes of a decoded file name (before ".part" or " (N)" are added). */
#define TRANSFER_NAME_MAX 200
#define TRANSFER_TYPE_MAX 127
/** An MSRP URI list (a=path, To-Path, From-Path). */
#define TRANSFER_PATH_MAX 511
#define TRANSFER_ID_MAX 64
/** A range end or total that is "*" (unknown). */
#define TRANSFER_RANGE_UNKNOWN UINT64_MAX

/* ---- sdp.c: RFC 5547 offer/answer ------------------------------------------------ */

/** Bound on an SDP body we parse: an INVITE body is never trusted to be small. */
#define TRANSFER_SDP_MAX 8192

/** RFC 4145 §4 a=setup. */
enum transfer_setup {
	TRANSFER_SETUP_ACTIVE,
	TRANSFER_SETUP_PASSIVE,
	TRANSFER_SETUP_ACTPASS,
	TRANSFER_SETUP_HOLDCONN,
	_TRANSFER_SETUP_MAX,
	_TRANSFER_SETUP_INVALID = -1,
};
const char *transfer_setup_to_string(enum transfer_setup s);
enum transfer_setup transfer_setup_from_string(const char *s, size_t n);

/** RFC 4566 §6 direction attributes; RFC 5547 §6 gives them the file's direction. */
enum transfer_direction {
	TRANSFER_DIRECTION_SENDRECV,
	TRANSFER_DIRECTION_SENDONLY,
	TRANSFER_DIRECTION_RECVONLY,
	TRANSFER_DIRECTION_INACTIVE,
	_TRANSFER_DIRECTION_MAX,
	_TRANSFER_DIRECTION_INVALID = -1,
};
const char *transfer_direction_to_string(enum transfer_direction d);

enum {
	TRANSFER_SEL_NAME = 1 << 0,
	TRANSFER_SEL_TYPE = 1 << 1,
	TRANSFER_SEL_SIZE = 1 << 2,
	TRANSFER_SEL_SHA256 = 1 << 3,
	TRANSFER_SEL_SHA1 = 1 << 4,
};

/** RFC 5547 §5 a=file-selector, decoded. @c has is a mask of TRANSFER_SEL_*. */
struct transfer_file_selector {
	unsigned has;
	char name[TRANSFER_NAME_MAX + 1]; /* percent-decoded bytes, no NUL inside */
	char type[TRANSFER_TYPE_MAX + 1];
	uint64_t size;
	uint8_t sha256[TRANSFER_SHA256_LEN];
	uint8_t sha1[TRANSFER_SHA1_LEN];
};

/** The one m=message stream of a file transfer offer or answer. */
struct transfer_sdp {
	char origin_user[32];
	uint64_t session_id, session_version;
	char addr[64]; /* c= address */
	bool ipv6;
	uint16_t port; /* 0: rejected stream (RFC 3264 §6) */
	char path[TRANSFER_PATH_MAX + 1];
	enum transfer_setup setup; /* ACTIVE when absent (RFC 4145 §4) */
	bool has_setup;
	enum transfer_direction direction;
	char accept_types[128];
	struct transfer_file_selector sel;
	char transfer_id[TRANSFER_ID_MAX + 1];
	bool has_range;
	uint64_t range_start, range_stop; /* 1-based, inclusive; stop may be UNKNOWN ("*") */
	char disposition[32];
};

/**
 * Parse a file-selector value (what follows "a=file-selector:"). Refuses unknown
 * hash lengths, malformed quoting or percent escapes, names with NUL/CR/LF.
 * Returns 0, -EBADMSG or -EMSGSIZE.
 */
int transfer_file_selector_parse(const char *s, size_t n, struct transfer_file_selector *ret);
/** Write a file-selector value; returns its length or -ENOSPC. */
int transfer_file_selector_format(char *buf, size_t size, const struct transfer_file_selector *sel);
/**
 * Parse an SDP body (at most TRANSFER_SDP_MAX bytes) holding an m=message TCP/MSRP
 * stream; the first such stream is taken. Returns 0, -EBADMSG, -EMSGSIZE or -ENOMSG
 * (no MSRP stream).
 */
int transfer_sdp_parse(const char *buf, size_t len, struct transfer_sdp *ret);
/** Write a complete SDP body for @p s; returns its length or -ENOSPC. */
int transfer_sdp_format(char *buf, size_t size, const struct transfer_sdp *s);
/**
 * Fill the answer's negotiated fields from @p offer (RFC 5547 §8: the selector and
 * transfer id are echoed, the direction reversed; RFC 4145 §4.1 as RFC 6135 uses it:
 * an actpass offer is answered active). The caller has filled addr, port, path and
 * origin of @p ans.
 * Returns 0 or -EPROTO when the setup roles cannot agree.
 */
int transfer_sdp_answer(const struct transfer_sdp *offer, struct transfer_sdp *ans);

/* ---- msrp.c: RFC 4975 framing ---------------------------------------------------- */

/** Bytes of start line and header fields a peer may send before its body. */
#define TRANSFER_MSRP_HEAD_MAX 4096
#define TRANSFER_MSRP_TXID_MAX 32
/** Length of the transaction ids we make. */
#define TRANSFER_TXID_LEN 16

/** A Byte-Range header; end and total may be TRANSFER_RANGE_UNKNOWN. */
struct transfer_byte_range {
	uint64_t start, end, total;
};

enum transfer_msrp_report {
	TRANSFER_MSRP_REPORT_DEFAULT, /* header absent */
	TRANSFER_MSRP_REPORT_YES,
	TRANSFER_MSRP_REPORT_NO,
	TRANSFER_MSRP_REPORT_PARTIAL,
};

/** Start line and the header fields this implementation uses. */
struct transfer_msrp_head {
	bool is_response, has_body, has_range;
	unsigned seen; /* header fields present (internal) */
	char txid[TRANSFER_MSRP_TXID_MAX + 1];
	char method[16];
	int status;	   /* responses */
	int report_status; /* REPORT's Status: 000 NNN */
	char to_path[TRANSFER_PATH_MAX + 1], from_path[TRANSFER_PATH_MAX + 1];
	char message_id[TRANSFER_ID_MAX + 1];
	char content_type[TRANSFER_TYPE_MAX + 1];
	struct transfer_byte_range range;
	enum transfer_msrp_report success_report, failure_report;
};

enum transfer_msrp_state {
	TRANSFER_MSRP_STATE_HEAD,
	TRANSFER_MSRP_STATE_BODY,
	TRANSFER_MSRP_STATE_END,
	TRANSFER_MSRP_STATE_DONE,
};

/** Incremental parser of one message after another; holds no bytes itself. */
struct transfer_msrp_parser {
	enum transfer_msrp_state state;
	struct transfer_msrp_head head;
	size_t head_bytes;
	unsigned lines;
	uint64_t body_len;
	char needle[2 + 7 + TRANSFER_MSRP_TXID_MAX + 1];
	size_t needle_len;
};

enum transfer_msrp_event_type {
	TRANSFER_MSRP_EV_NONE, /* nothing yet: give more bytes */
	TRANSFER_MSRP_EV_HEAD, /* parser.head is complete */
	TRANSFER_MSRP_EV_DATA, /* body bytes at data/len */
	TRANSFER_MSRP_EV_END,  /* end-line; flag is '$', '+' or '#' */
};

struct transfer_msrp_event {
	enum transfer_msrp_event_type type;
	const uint8_t *data;
	size_t len;
	char flag;
};

/** Reset @p p to expect a new message. */
void transfer_msrp_parser_init(struct transfer_msrp_parser *p);
/**
 * Feed @p len bytes; returns how many were consumed and at most one event in @p ev.
 * Unconsumed bytes must be offered again with more appended (a possible end-line
 * prefix at the edge of the buffer is held back this way). 0 consumed with no event:
 * more bytes are needed. -EBADMSG on a syntax error, -EMSGSIZE on oversize headers.
 */
ssize_t transfer_msrp_parse(struct transfer_msrp_parser *p, const uint8_t *data, size_t len,
			    struct transfer_msrp_event *ev);
/** Parse a Byte-Range value. Returns 0 or -EBADMSG. */
int transfer_msrp_parse_byte_range(const char *s, size_t n, struct transfer_byte_range *ret);
/** A new random transaction id of TRANSFER_TXID_LEN characters. Returns 0 or -errno. */
int transfer_msrp_txid_new(char txid[TRANSFER_MSRP_TXID_MAX + 1]);
/**
 * A new MSRP URI for a=path (RFC 4975 §6): msrp://HOST:PORT/SESSION;tcp with a random
 * session id. Returns its length, -ENOSPC or -errno.
 */
int transfer_msrp_path_new(char *buf, size_t size, const char *host, uint16_t port);
/** Whether an end-line for @p txid occurs in @p body (RFC 4975 §7.1 forbids it). */
bool transfer_msrp_txid_in(const char *txid, const void *body, size_t len);
/** Write a SEND start line and header fields up to the blank line; length or -ENOSPC. */
int transfer_msrp_format_send(char *buf, size_t size, const struct transfer_msrp_head *h);
/** Write CRLF and the end-line with @p flag; length or -ENOSPC. */
int transfer_msrp_format_endline(char *buf, size_t size, const char *txid, char flag);
/** Write a complete response; length or -ENOSPC. */
int transfer_msrp_format_response(char *buf, size_t size, const char *txid, int status,
				  const char *comment, const char *to_path, const char *from_path);
/** Write a complete REPORT request (RFC 4975 §7.1.2); length or -ENOSPC. */
int transfer_msrp_format_report(char *buf, size_t size, const char *txid,
				const char *to_path, const char *from_path,
				const char *message_id, const struct transfer_byte_range *br,
				int status, const char *reason);

/* ---- store.c ---------------------------------------------------------------------- */

/**
 * Make one safe file name of a name from the network: '/', '\\', control characters
 * and broken UTF-8 become '_', a leading '.' becomes '_' (no "..", no hidden files),
 * valid UTF-8 is kept, the length is bounded (TRANSFER_NAME_MAX, at a character
 * boundary). An empty result is "download". Returns 0 or -EINVAL (@p size < 16).
 */
int transfer_name_sanitize(const char *in, char *out, size_t size);

/* ---- session.c: limits shared by sessions ---------------------------------------- */

/** A token bucket (the upload rate limit), shared by the senders it is given to. */
struct transfer_bucket;

/**
 * A bucket of @p rate bytes per second holding at most @p burst bytes (full at start).
 * Refcounted (mem_deref). Returns 0, -EINVAL or -ENOMEM.
 */
int transfer_bucket_new(double rate, double burst, struct transfer_bucket **ret);
/** Change the rate (a reloaded config); 0 means unlimited. */
void transfer_bucket_set_rate(struct transfer_bucket *b, double rate, double burst);
/** Take up to @p want bytes at time @p now; returns how many were granted. */
size_t transfer_bucket_take(struct transfer_bucket *b, ev_tstamp now, size_t want);
/** Seconds until @p want bytes (at most the burst) will be available. */
ev_tstamp transfer_bucket_wait(const struct transfer_bucket *b, ev_tstamp now, size_t want);

/** Counts running transfers, in total and per peer (DESIGN.md: bounded everything). */
struct transfer_limits;

/** Allow @p max_total transfers, @p max_per_peer of them with one peer. Refcounted. */
int transfer_limits_new(unsigned max_total, unsigned max_per_peer, struct transfer_limits **ret);
/** Admit one transfer with @p peer (a node id or URI): 0, or -EBUSY over a limit. */
int transfer_limits_acquire(struct transfer_limits *l, const char *peer);
/** End a transfer admitted with transfer_limits_acquire(). */
void transfer_limits_release(struct transfer_limits *l, const char *peer);
/** Transfers running now. */
unsigned transfer_limits_running(const struct transfer_limits *l);

/* ---- sender.c and receiver.c: one transfer over one TCP connection --------------- */

/** What the socket handed to a session is (RFC 4145 §4: the a=setup outcome). */
enum transfer_sock {
	TRANSFER_SOCK_CONNECTED,  /* we are active, the connection is up */
	TRANSFER_SOCK_CONNECTING, /* we are active, a non-blocking connect() is under way */
	TRANSFER_SOCK_LISTENING,  /* we are passive: accept one connection, then close it */
};

/** Bytes moved so far of @p total (at most every 250 ms, and once at the end). */
typedef void(transfer_progress_h)(uint64_t done, uint64_t total, void *arg);
/**
 * The session ended: 0, or -ECANCELED, -ETIMEDOUT (stall), -ECONNRESET (peer went
 * away), -EPROTO (peer broke RFC 4975/5547), -EBADMSG (SHA-256 mismatch),
 * -ENOSPC/-EACCES/-EIO… (local file). @p detail: the final file name on a receiver's
 * success, else a short reason. Called once; the session may be freed in it.
 */
typedef void(transfer_done_h)(int status, const char *detail, void *arg);
/**
 * Receiver: @p have bytes of the part were re-hashed; offer a=file-range:have+1-size.
 * When @p have equals a non-zero size nothing is left to fetch: the receiver verifies
 * the part and reports done without a connection.
 */
typedef void(transfer_ready_h)(uint64_t have, void *arg);

struct transfer_handlers {
	transfer_ready_h *ready; /* receivers */
	transfer_progress_h *progress;
	transfer_done_h *done;
};

#define TRANSFER_CHUNK_DEFAULT (1024 * 1024)
#define TRANSFER_QUEUE_DEFAULT (8 * 1024 * 1024)
#define TRANSFER_TIMEOUT_DEFAULT 30.0

struct transfer_sender;

struct transfer_sender_params {
	int fd;		   /* the file; the sender owns it from now on */
	uint64_t size;	   /* of the file, as offered */
	uint64_t start;	   /* RFC 5547 §8 a=file-range: first byte, 1-based (0: 1) */
	uint64_t stop;	   /* last byte, inclusive (0 or UNKNOWN: the end) */
	const char *to_path, *from_path; /* the peer's and our a=path */
	const char *message_id;		 /* e.g. the file-transfer-id */
	const char *content_type;	 /* NULL: application/octet-stream */
	size_t chunk_size;		 /* 0: TRANSFER_CHUNK_DEFAULT */
	struct transfer_bucket *bucket;	 /* upload rate limit, or NULL */
	struct worker_pool *pool; /* NULL: chunks are scanned (and read) on the loop */
	ev_tstamp timeout;		 /* stall timeout, 0: TRANSFER_TIMEOUT_DEFAULT */
};

/**
 * A sender of @p p's file range. Nothing moves before transfer_sender_attach().
 * Returns 0, -EINVAL (bad range) or -ENOMEM; the fd is closed on failure too.
 */
int transfer_sender_new(struct ev_loop *loop, const struct transfer_sender_params *p,
			const struct transfer_handlers *h, void *arg,
			struct transfer_sender **ret);
/** Give it the TCP socket (ownership passes; made non-blocking). Returns 0 or -errno. */
int transfer_sender_attach(struct transfer_sender *s, int sock, enum transfer_sock how);
/** Stop now; the done handler gets -ECANCELED. */
void transfer_sender_cancel(struct transfer_sender *s);
/** Body bytes written to the socket by this sender. */
uint64_t transfer_sender_sent(const struct transfer_sender *s);
/** Release (mem_deref); a running sender stops without calling its handlers. */
void transfer_sender_free(struct transfer_sender *s);

struct transfer_receiver;

struct transfer_receiver_params {
	const char *download_dir;
	const char *name; /* as offered; sanitised here */
	uint64_t size;
	uint8_t sha256[TRANSFER_SHA256_LEN];
	const char *local_path;		       /* our a=path (MSRP URI) */
	struct worker_pool *pool;	       /* hashing and writing run here */
	size_t max_queued;  /* bytes waiting for the pool before reading stops; 0: default */
	ev_tstamp timeout;  /* stall timeout, 0: TRANSFER_TIMEOUT_DEFAULT */
};

/**
 * A receiver: opens or creates NAME.part and re-hashes what it holds in the pool; the
 * ready handler then says where to resume. Returns 0 or -errno (the download dir).
 */
int transfer_receiver_new(struct ev_loop *loop, const struct transfer_receiver_params *p,
			  const struct transfer_handlers *h, void *arg,
			  struct transfer_receiver **ret);
/**
 * Give it the TCP socket (ownership passes) and the peer's a=path from the answer,
 * which an active receiver's binding SEND is addressed to. Returns 0 or -errno.
 */
int transfer_receiver_attach(struct transfer_receiver *r, int sock, enum transfer_sock how,
			     const char *peer_path);
/** Stop; what was received is kept in the part; the done handler gets -ECANCELED. */
void transfer_receiver_cancel(struct transfer_receiver *r);
/** Body bytes received from the network by this receiver. */
uint64_t transfer_receiver_received(const struct transfer_receiver *r);
/** Release (mem_deref); a running receiver stops without calling its handlers. */
void transfer_receiver_free(struct transfer_receiver *r);

/* ---- event.c: what clients hear (PROTOCOL.md "Events") ---------------------------- */

/** PROTOCOL.md transfer states (xml-schema/sipsvc.xsd TransferState). */
enum transfer_state {
	TRANSFER_STATE_STARTED,
	TRANSFER_STATE_PROGRESS,
	TRANSFER_STATE_PAUSED,
	TRANSFER_STATE_DONE,
	TRANSFER_STATE_FAILED,
	TRANSFER_STATE_CANCELLED,
	_TRANSFER_STATE_MAX,
	_TRANSFER_STATE_INVALID = -1,
};
const char *transfer_state_to_string(enum transfer_state s);
/**
 * The state a session's done status stands for: 0 done, -ECANCELED cancelled; a peer
 * that went away or stalled leaves a resumable part: paused; anything else failed.
 */
enum transfer_state transfer_state_of(int status);
/** A short reason for a done status, for the event's reason= and the log. */
const char *transfer_status_reason(int status);

/** One transfer event; NULL/unset members are left out. */
struct transfer_event {
	const char *transfer; /* "tN", the daemon-wide id */
	enum transfer_state state;
	uint64_t bytes, total;
	const uint8_t *file;   /* content hash: file="sha256:…" */
	const char *peer;      /* overlay node id */
	const char *name;      /* the file's name in the download dir */
	const uint8_t *sha256; /* verified hash, on done */
	const char *reason;    /* on failed/paused/cancelled */
};

/** Build the <Event type="transfer"> element (NULL on out-of-memory or a bad event). */
xmlNodePtr transfer_event_new(const struct origin *o, const struct transfer_event *e);
/** Build and deliver it through the core event sink. Returns 0 or -ENOMEM. */
int transfer_event_emit(const struct origin *o, const struct transfer_event *e);

/* ---- mgr.c, fetch.c, serve.c: transfers in the daemon ----------------------------- */

struct sip;
struct share;
struct transfer_mgr;

/**
 * Find how to reach overlay node @p peer (32 hex digits): write its node URI
 * sip:ID@host:port into @p uri. Returns 0 or -ENOENT.
 */
typedef int(transfer_resolve_h)(const char *peer, char *uri, size_t size, void *arg);

/** Settings of the daemon's transfers (config <transfer>, <paths download-dir>). */
struct transfer_config {
	const char *download_dir; /* default target of a Fetch */
	const char *state_dir;	  /* paused transfers persist here (NULL: not at all) */
	const char *identity;	  /* From of our INVITEs (NULL: sip:sipsvc@ADDR) */
	unsigned max_total;	  /* transfers at once, each direction (0: default) */
	unsigned max_per_peer;	  /* of them with one peer (0: default) */
	double upload_rate;	  /* bytes per second, 0: unlimited */
	/* node URIs sip:ID@host:port the config names (<overlay><peer uri>) */
	const char *const *peers;
	size_t n_peers;
};

#define TRANSFER_MAX_TOTAL_DEFAULT 8
#define TRANSFER_MAX_PER_PEER_DEFAULT 2
/** The paused transfers, in the state dir. */
#define TRANSFER_STATE_FILE "transfers"

/**
 * Start the daemon's transfers: claim INVITEs that offer a file (RFC 5547) on @p sip,
 * serve content of @p share, register a status contributor, load the paused
 * transfers of the last run and resume them a second later. Returns 0 or -errno.
 */
int transfer_mgr_new(struct ev_loop *loop, struct worker_pool *pool, struct sip *sip,
		     struct share *share, const struct transfer_config *cfg,
		     struct transfer_mgr **ret);
/** Stop every transfer (parts are kept, running ones persist as paused); accepts NULL. */
void transfer_mgr_free(struct transfer_mgr *m);
/**
 * New settings (a reload): download dir, identity, peers and the upload rate take
 * effect at once; the bounds on concurrent transfers at the next start. 0 or -ENOMEM.
 */
int transfer_mgr_set_config(struct transfer_mgr *m, const struct transfer_config *cfg);
/** Ask @p h (the overlay) first when a Fetch names a peer; NULL removes it. */
void transfer_mgr_set_resolver(struct transfer_mgr *m, transfer_resolve_h *h, void *arg);

/**
 * Fetch content @p sha256 from overlay node @p peer into @p dir (NULL: the download
 * dir). Events go to @p o; the first comes after the caller's reply. The id of the new
 * transfer in *@p id; a download the daemon resumed on its own at start is handed to
 * @p o instead (its id, 0). Returns 0, -ENOENT (unknown peer), -EBUSY (over a limit),
 * -EALREADY (another client fetches this content: *@p id is that transfer), -ENOMEM.
 */
int transfer_fetch(struct transfer_mgr *m, const struct origin *o,
		   const uint8_t sha256[TRANSFER_SHA256_LEN], const char *peer, const char *dir,
		   unsigned *id);
/**
 * Cancel the Fetch that the request with ref @p ref on connection @p conn started.
 * Returns 0 or -ENOENT.
 */
int transfer_cancel_ref(struct transfer_mgr *m, uint64_t conn, const char *ref);

#endif
