/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals of the control subsystem shared between its files. */
#ifndef SIPSVC_CONTROL_PRIVATE_H
#define SIPSVC_CONTROL_PRIVATE_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <libxml/xmlschemas.h>

#include "control/control.h"

/* ---- error.c: the closed list of error codes (PROTOCOL.md "Replies") --------- */

enum control_error {
	CONTROL_ERROR_NOT_WELL_FORMED,
	CONTROL_ERROR_INVALID,
	CONTROL_ERROR_UNKNOWN_REQUEST,
	CONTROL_ERROR_TOO_LARGE,
	CONTROL_ERROR_LIMIT,
	CONTROL_ERROR_NO_SUCH_DEVICE,
	CONTROL_ERROR_NO_DEVICES,
	CONTROL_ERROR_DEVICE_UNAVAILABLE,
	CONTROL_ERROR_NO_SUCH_CALL,
	CONTROL_ERROR_NO_ACTIVE_CALL,
	CONTROL_ERROR_NO_CONFERENCE_SERVER,
	CONTROL_ERROR_SIP_ERROR,
	CONTROL_ERROR_NOT_FOUND,
	CONTROL_ERROR_NOT_SHARED,
	CONTROL_ERROR_PERMISSION_DENIED,
	CONTROL_ERROR_DECLINED,
	CONTROL_ERROR_TIMEOUT,
	CONTROL_ERROR_BUSY,
	CONTROL_ERROR_INTERNAL,
	_CONTROL_ERROR_MAX,
	_CONTROL_ERROR_INVALID = -1,
};
const char *control_error_to_string(enum control_error e);
enum control_error control_error_from_string(const char *s);

/* ---- frame.c: splitting the byte stream into messages ---------------------- */

enum frame_state {
	FRAME_TOP,     /* between messages */
	FRAME_LT,      /* after '<' */
	FRAME_STAG,    /* inside a start or empty-element tag */
	FRAME_ETAG,    /* inside an end tag */
	FRAME_TEXT,    /* character data inside a message */
	FRAME_PI,      /* processing instruction */
	FRAME_BANG,    /* after "<!" */
	FRAME_COMMENT,
	FRAME_CDATA,
};

/** Why a stream was given up; the first two close without a reply. */
enum frame_result {
	FRAME_PAUSED = 1,          /* the handler asked for a pause: see frame_feed_some() */
	FRAME_OK = 0,
	FRAME_NOT_XML = -1,        /* cross-protocol: first byte is not '<' */
	FRAME_STOPPED = -2,        /* the message handler asked to stop */
	FRAME_NOT_WELL_FORMED = -3,
	FRAME_TOO_LARGE = -4,
	FRAME_TOO_DEEP = -5,
};

/** Called with each complete top-level element; return <0 to stop the stream, 1 to
 * pause it after this message (frame_feed_some()), 0 to go on. */
typedef int(frame_msg_h)(const char *msg, size_t len, void *arg);

/**
 * A byte-level scanner that finds where each top-level element ends. It refuses
 * markup declarations (<!DOCTYPE, <!ENTITY) outright and enforces the size and depth
 * limits before libxml2 sees a byte; each message is then parsed on its own, so no
 * parser state (or dictionary) grows over a connection's life.
 */
struct frame {
	const struct control_limits *lim;
	enum frame_state st;
	bool seen_any;    /* a non-blank byte has been seen */
	bool decl_ok;     /* an <?xml …?> declaration may still come */
	bool top_pi;      /* the current PI is at the top level */
	bool in_msg;
	char quote;       /* open quote inside a tag, or 0 */
	char prev;        /* previous byte inside a tag */
	unsigned depth;
	unsigned run;     /* dashes/brackets/'?' seen toward a terminator */
	char bang[8];     /* bytes after "<!" while deciding comment or CDATA */
	unsigned n_bang;
	char *buf;        /* the current message */
	size_t len, cap;
	char err[160];
};

/** Prepare @p f for a new stream. */
void frame_init(struct frame *f, const struct control_limits *lim);
/** Release the message buffer. */
void frame_done(struct frame *f);
/**
 * Scan @p len bytes, calling @p h for every complete message. Returns FRAME_OK or a
 * negative frame_result; f->err then says what was wrong.
 */
int frame_feed(struct frame *f, const char *data, size_t len, frame_msg_h *h, void *arg);
/**
 * The same, but a handler returning 1 stops the scan right after its message:
 * FRAME_PAUSED is returned and *@p used says how many bytes were taken; the caller
 * feeds the rest later. Otherwise *@p used is @p len.
 */
int frame_feed_some(struct frame *f, const char *data, size_t len, frame_msg_h *h, void *arg,
		    size_t *used);

/* ---- conn.c --------------------------------------------------------------- */

struct outmsg;

/** One control connection. */
struct conn {
	struct control *ctl;
	struct conn *next, *prev;
	uint64_t id;
	int fd;
	bool is_unix;
	bool closing;          /* flush what is queued, then close */
	bool doomed;           /* dropped: nothing more is sent, its owner frees it */
	bool read_paused;      /* back-pressure: too many replies queued */
	xmlNodePtr deferred;   /* a reply that waits for the roots' save (share.c) */
	uint64_t deferred_ver; /* ... of this version: share_roots_unsaved() */
	ev_io rio, wio;
	ev_timer reap;         /* frees a doomed connection on the next loop turn */
	ev_timer stall;        /* no byte written for CONN_STALL_SECS while replies wait */
	struct frame frame;
	char *held;            /* input not scanned yet: paused for a full reply queue */
	size_t held_len;
	struct outmsg *q_head, *q_tail;
	size_t q_len, q_off;   /* messages queued; bytes of the head already written */
	uint32_t subs;         /* bit per enum event_type */
	char peer[80];         /* for logs */
};

/* Input held back while the reply queue is full: one read's worth and a bit. */
#define CONN_HELD_MAX (128 * 1024)
/* A client that takes no byte of its replies for this long is not reading at all. */
#define CONN_STALL_SECS 10.0

/** Adopt an accepted socket. Returns 0 or -errno; the fd is closed on failure. */
int conn_new(struct control *ctl, int fd, bool is_unix, const char *peer, struct conn **ret);
/** Close and free; accepts NULL. */
void conn_free(struct conn *cn);
/**
 * Process bytes as if read from the socket (the read path and the fuzzer use it).
 * Returns 0, or <0 when the connection must be closed now: the caller frees it.
 */
int conn_input(struct conn *cn, const char *data, size_t len);
/**
 * Queue one message (serialised from @p node, which is freed). @p is_event: an event
 * that finds the queue full disconnects the client (PROTOCOL.md "Framing").
 * Returns 0, or <0 if the connection is doomed (-ENOBUFS for a full queue). A doomed
 * connection is never freed here: conn_input() returns <0 for it, or without a
 * conn_input() on the stack the loop frees it on its next turn.
 */
int conn_send(struct conn *cn, xmlNodePtr node, bool is_event);
/** Start a reply written as text (core/xml.h), with room for the queue's header. */
int conn_writer_init(struct xml_writer *w);
/** Queue the reply written in @p w (finished here, its buffer taken) as conn_send()
 * does; -ENOMEM or -EINVAL (unbalanced) when it cannot be finished. */
int conn_send_writer(struct conn *cn, struct xml_writer *w);
/**
 * Hold @p reply until conn_release() (it is freed with the connection if that
 * never comes). Nothing more of the client's input is handled meanwhile, so the
 * replies keep the order of the requests.
 */
void conn_defer(struct conn *cn, xmlNodePtr reply, uint64_t version);
/** Send the held reply and go on with the input that waited. Returns 0, or <0 when
 * the connection is dead: the caller frees it. */
int conn_release(struct conn *cn);

/* ---- peer.c: who is on the other end ---------------------------------------- */

/** Uid of the process at the other end of a Unix stream socket (SO_PEERCRED). */
int peer_uid_unix(int fd, uid_t *ret);
/** Uid owning the other end of a loopback TCP connection (NETLINK_SOCK_DIAG). */
int peer_uid_tcp(int diag_fd, int fd, uid_t *ret);
/** Open the NETLINK_SOCK_DIAG socket used by peer_uid_tcp(). */
int peer_diag_open(void);
/** "127.0.0.1:7060", "[::1]:7060" or the Unix path, for logs and Status. */
void peer_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);
/** True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool peer_is_loopback(const struct sockaddr *sa);

/* ---- listen.c ------------------------------------------------------------- */

#define CONTROL_MAX_LISTENERS 8

struct listener {
	struct control *ctl;
	int fd;
	bool is_unix;
	ev_io io;
	char addr[128];
};

/** Set up listeners from systemd's sockets or by binding. Returns 0 or -errno. */
int listen_start(struct control *ctl);
/** Close listeners and unlink the socket we created. */
void listen_stop(struct control *ctl);

/* ---- request.c ------------------------------------------------------------ */

/** One request being handled. */
struct request {
	struct control *ctl;
	struct conn *conn;
	xmlNodePtr node;      /* the request element */
	const char *name;     /* its element name */
	struct origin origin; /* connection id + ref */
	bool bare;            /* "<Name/>" known valid: built without parsing */
	bool deferred;        /* the handler holds its reply back: conn_defer() */
	bool replied;         /* the handler queued a written reply: reply_writer_send() */
	int reply_r;          /* ... with this result */
};

/** Handles one request; returns the reply (<Ok> or <Error>), NULL on out-of-memory
 * (or after conn_defer(), with req->deferred set). */
typedef xmlNodePtr(request_h)(struct request *req);

/** An <Ok request=… ref=…> for @p req. */
xmlNodePtr reply_ok(const struct request *req);
/**
 * The same <Ok> as text: for replies asked often, written without a tree. The handler
 * writes the content, calls reply_writer_send() and returns NULL.
 */
int reply_writer_ok(const struct request *req, struct xml_writer *w);
/** Close the <Ok> and queue it (an internal Error if it cannot be finished). */
void reply_writer_send(struct request *req, struct xml_writer *w);
/** An <Error> with @p code and a message saying what to do about it. */
xmlNodePtr reply_error(const struct request *req, enum control_error code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/**
 * Parse, validate and dispatch one message; queue the reply on @p cn.
 * Returns <0 if the connection must close.
 */
int request_handle(struct conn *cn, const char *msg, size_t len);

/* ---- handlers ------------------------------------------------------------- */

xmlNodePtr handle_status(struct request *req);
xmlNodePtr handle_devices(struct request *req);
xmlNodePtr handle_subscribe(struct request *req);
xmlNodePtr handle_unsubscribe(struct request *req);
xmlNodePtr handle_tunnel(struct request *req);
/** A connection closes: its Tunnel listens go, its inbound requests get 480. */
void control_tunnel_conn_gone(struct conn *cn);
xmlNodePtr handle_share(struct request *req);
xmlNodePtr handle_unshare(struct request *req);
xmlNodePtr handle_shares(struct request *req);
/** share_saved_h: send the Share/Unshare replies that waited for @p version. */
void control_share_saved(uint64_t version, void *arg);
xmlNodePtr handle_join(struct request *req);
xmlNodePtr handle_external_join(struct request *req);
xmlNodePtr handle_choose_device(struct request *req);
xmlNodePtr handle_hangup(struct request *req);
xmlNodePtr handle_calls(struct request *req);
xmlNodePtr handle_fetch(struct request *req);
xmlNodePtr handle_cancel(struct request *req);
xmlNodePtr handle_same_device_join(struct request *req);
xmlNodePtr handle_invite(struct request *req);
xmlNodePtr handle_search(struct request *req);

/* ---- search.c ------------------------------------------------------------------- */

/** Cancel the search started on connection @p conn by the request with @p ref. */
bool search_cancel_ref(struct control *ctl, uint64_t conn, const char *ref);

/* ---- control.c ------------------------------------------------------------ */

struct control {
	struct ev_loop *loop;
	const struct config *cfg;
	struct device_table *devices;
	struct tunnel *tunnel;
	struct share *share;
	struct transfer_mgr *transfers;
	struct call_mgr *calls;
	struct overlay_sip *overlay;
	unsigned overlay_ttl;
	struct csearch *searches; /* running Searches (search.c) */
	unsigned n_searches;
	uint64_t next_search;
	struct listener ls[CONTROL_MAX_LISTENERS];
	unsigned n_ls;
	char *unix_path;     /* the socket we bound, to unlink at exit */
	int tcp_port;
	int diag_fd;
	struct conn *conns;
	unsigned n_conns;
	uint64_t next_conn_id;
	xmlSchemaPtr schema;
	xmlSchemaValidCtxtPtr vctxt;
	struct {
		uint64_t requests, errors, refused_uid, refused_limit, dropped_slow;
	} stats;
};

/** Called by a listener for each accepted socket. */
void control_accept(struct control *ctl, struct listener *l, int fd);
/** True if a live connection is subscribed to events of type @p t. */
bool control_has_subscriber(struct control *ctl, enum event_type t);
/** Find a live connection by id (events routed to their origin). */
struct conn *control_find_conn(struct control *ctl, uint64_t id);

#endif
