/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file sip.h
 * The SIP stack every other subsystem uses: UDP and TCP transports (IPv4 and IPv6),
 * libosip2's transaction state machines driven by the libev loop, validation of every
 * message before a state machine sees it, and the service's built-in answers (OPTIONS,
 * 405, 420, 481, 482, 483, 480 for INVITE while nobody takes calls). For the
 * subsystems to come: client transactions, dialogs as UAC and UAS with in-dialog
 * requests, digest answers to 401/407 and REGISTER bindings.
 *
 * Everything runs on the loop thread. Requests that a subsystem wants (INVITE today)
 * reach it as a server transaction (struct sip_tx) that it answers with
 * sip_tx_reply(); a transaction is refcounted so that a holder may keep it past its
 * end: replies then fail with -ENOENT.
 */
#ifndef SIPSVC_SIP_H
#define SIPSVC_SIP_H

#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "core/core.h"

struct sip;
struct sip_tx;
struct sip_dialog;
/* libosip2's message, for handlers that read headers. */
struct osip_message;

/** Counters shown in logs and benchmarks; they only grow. */
struct sip_stats {
	uint64_t rx_messages;   /* parsed messages taken in */
	uint64_t rx_garbage;    /* bytes that did not parse: dropped */
	uint64_t rx_invalid;    /* parsed but invalid requests (answered 400 when possible) */
	uint64_t rx_dropped;    /* invalid messages nobody can be answered for */
	uint64_t rx_retrans;    /* requests absorbed by their transaction */
	uint64_t rx_stray;      /* responses and ACKs matching nothing */
	uint64_t tx_messages;   /* messages handed to a transport */
	uint64_t tx_errors;     /* transport errors on send */
	uint64_t overload;      /* requests refused with 503: transaction table full */
	uint64_t tcp_refused;   /* connections refused: too many open */
	uint64_t tcp_oversize;  /* connections closed: message over the size limit */
	uint64_t rx_flood;      /* requests dropped: their source was over its budget */
};

/**
 * Start the SIP service on cfg->sip_addr/cfg->sip_port (UDP and TCP; without an
 * address IPv4 0.0.0.0 and IPv6 :: are bound, with the port chosen for UDP over IPv4
 * reused for the others). A NULL @p loop starts no sockets (fuzzing, unit tests).
 * Registers a status contributor. Returns 0 or -errno (the reason is logged).
 */
int sip_new(struct ev_loop *loop, const struct config *cfg, struct sip **ret);
/** Close every socket and free every transaction; accepts NULL. */
void sip_free(struct sip *s);
/** Use @p cfg after a reload; sockets stay as they are (a restart changes them). */
void sip_set_config(struct sip *s, const struct config *cfg);
/** The UDP port bound (useful with --sip-port 0), or -1 when nothing is bound. */
int sip_port(const struct sip *s);
/** The counters. */
const struct sip_stats *sip_stats_get(const struct sip *s);
/** Live server and client transactions. */
size_t sip_transactions_count(const struct sip *s);

/**
 * Take bytes as if received from @p peer over UDP (@p is_tcp false) or as one framed
 * TCP message: parse, validate, match or create a transaction, answer. The fuzzer and
 * unit tests use it; the transports call it for each datagram or framed message.
 */
void sip_input(struct sip *s, bool is_tcp, int fd, const struct sockaddr *peer,
	       socklen_t peer_len, const char *buf, size_t len);
/**
 * Run the transaction state machines now (what the loop's prepare watcher does before
 * it sleeps): queued events, due timers (@p timers), then free ended transactions.
 */
void sip_pump_run(struct sip *s, bool timers);

/** Called with each new INVITE server transaction (after 100 Trying was sent). */
typedef void(sip_invite_h)(struct sip_tx *tx, void *arg);
/**
 * Install (or with NULL remove) the receiver of incoming INVITEs. Without one the
 * service answers 480 Temporarily Unavailable.
 */
void sip_set_invite_handler(struct sip *s, sip_invite_h *h, void *arg);
/**
 * Receives a request of a method it claimed that no dialog of the SIP layer owns: out
 * of dialog, or with a To tag the claimer may own itself (a NOTIFY of a subscription
 * it keeps). Returns true when it takes the transaction: it then answers it, now or
 * later, with sip_tx_reply() or sip_tx_respond(). False passes it on to the next
 * claimer and in the end to the service's own answer (481 with a To tag, else 501).
 */
typedef bool(sip_request_h)(struct sip_tx *tx, void *arg);

/** Who is asked first: features, then Tunnel listeners (PROTOCOL.md "Listen"). */
enum sip_claim_order { SIP_CLAIM_FEATURE, SIP_CLAIM_LISTENER };

/**
 * Ask @p h about every request of @p method (an RFC 3261 token; not ACK, CANCEL, BYE
 * or OPTIONS, which the SIP layer answers itself). INVITEs are offered to claimers
 * before the invite handler. The method joins the Allow header. 0, -EINVAL, -EEXIST
 * (the same claim twice) or -ENOSPC (SIP_MAX_CLAIMS claims).
 */
int sip_claim(struct sip *s, const char *method, enum sip_claim_order order, sip_request_h *h,
	      void *arg);
/** Drop the claims of @p h/@p arg on @p method (NULL: on every method). */
void sip_unclaim(struct sip *s, const char *method, sip_request_h *h, void *arg);
/** The Allow header value: the service's methods and the claimed ones. */
const char *sip_allow(const struct sip *s);

/**
 * Answer a server transaction with @p status, @p reason (NULL: the RFC's), extra
 * @p headers ("Name: value" lines separated by CRLF, may be NULL) and a body if
 * @p ctype is set. A 2xx to a request that may create a dialog should carry a Contact
 * (the caller's headers). 0, -ENOENT, -EALREADY, -EINVAL (bad headers), -ENOMEM.
 */
int sip_tx_respond(struct sip_tx *tx, int status, const char *reason, const char *headers,
		   const char *ctype, const char *body);
/** Where a server transaction's request came from: "udp:IP:PORT" or "tcp:[IP6]:PORT". */
int sip_tx_source(const struct sip_tx *tx, char *buf, size_t size);

/**
 * Answer a server transaction with @p status and @p reason (NULL: the RFC 3261 phrase).
 * Returns 0, -ENOENT when the transaction has ended, -EALREADY after a final
 * response, -ENOMEM.
 */
int sip_tx_reply(struct sip_tx *tx, int status, const char *reason);
/** Told that the caller CANCELled an INVITE; its 487 has been sent (RFC 3261 9.2). */
typedef void(sip_cancel_h)(struct sip_tx *tx, void *arg);
/**
 * Be told when a CANCEL ends the INVITE server transaction @p tx before its final
 * response; NULL @p h stops it. The owner must stop it before it lets @p tx go.
 */
void sip_tx_on_cancel(struct sip_tx *tx, sip_cancel_h *h, void *arg);
/** The request's method ("INVITE"), or NULL once the transaction has ended. */
const char *sip_tx_method(const struct sip_tx *tx);
/**
 * The body of a server transaction's request and (in *@p ret_ctype, if given) its
 * Content-Type, both malloc'd; NULL when there is none or the transaction has ended.
 */
char *sip_tx_body(const struct sip_tx *tx, char **ret_ctype);
/**
 * The value of the first header @p name of a server transaction's request, malloc'd;
 * NULL when absent or the transaction has ended.
 */
char *sip_tx_header(const struct sip_tx *tx, const char *name);

/** The URI of the request's From (or with @p to, To), malloc'd; NULL once ended. */
char *sip_tx_party(const struct sip_tx *tx, bool to);
/**
 * The whole request of a server transaction (Request-URI, every header, body), for a
 * claimer that relays it (Tunnel listeners); NULL once the transaction has ended.
 * Valid until the transaction ends; read only.
 */
const struct osip_message *sip_tx_request(const struct sip_tx *tx);

/* ---- client transactions -------------------------------------------------------- */

/**
 * Receives each response of a client transaction: @p resp is NULL for a local 408
 * (timer B/F fired) or 503 (transport error), RFC 3261 8.1.3.1. @p status >= 200 is
 * the last call. For a request to a host name (RFC 3263) only the attempt that counts
 * is reported (503s and timeouts of the servers tried before it are not), and @p tx
 * is NULL when no server could be found or tried (local 503) or the request was
 * cancelled before it was sent (local 487).
 */
typedef void(sip_response_h)(struct sip_tx *tx, int status, const struct osip_message *resp,
			     void *arg);
/**
 * Send @p req (libosip2 message, taken) in a new client transaction (ICT for INVITE,
 * NICT otherwise) over UDP or TCP to its first Route or its Request-URI; a request
 * outside a dialog first gets the configured outbound proxy as its Route. A numeric
 * host is sent to at once; a host name is located (RFC 3263: SRV, then A/AAAA, without
 * blocking) and the request fails over between its servers. Our Via is added. Returns
 * 0 (*@p ret, if given, is a weak handle valid until the last response, NULL while a
 * host name is being located) or -errno (-EHOSTUNREACH: no host to send to).
 */
int sip_request_send(struct sip *s, struct osip_message *req, bool tcp, sip_response_h *h,
		     void *arg, struct sip_tx **ret);

/**
 * Send @p method from @p from to @p to (sip: URIs) outside any dialog:
 * new tag and Call-ID, CSeq 1, our Contact, extra @p headers ("Name: value" lines
 * separated by CRLF) and a body if @p ctype is set; @p h gets the responses (a
 * REFER with Refer-Sub: false, RFC 4488). 0 or -errno.
 */
int sip_request_out(struct sip *s, const char *method, const char *from, const char *to,
		    const char *headers, const char *ctype, const char *body, bool tcp,
		    sip_response_h *h, void *arg);

/**
 * Credentials for digest challenges (RFC 8760: MD5, SHA-256) to any request we send:
 * a 401/407 is answered once per challenge, again on stale=true. NULL user: none.
 * 0 or -ENOMEM.
 */
int sip_set_credentials(struct sip *s, const char *user, const char *password);

/* ---- registration (RFC 3261 10) ----------------------------------------------------- */

enum sip_reg_state {
	SIP_REG_REGISTERING,
	SIP_REG_REGISTERED,
	SIP_REG_FAILED,
	SIP_REG_UNREGISTERING,
	SIP_REG_UNREGISTERED,
	_SIP_REG_STATE_MAX,
	_SIP_REG_STATE_INVALID = -1,
};

struct sip_reg;

/**
 * Register @p aor at @p registrar (a sip: URI) for @p expires seconds,
 * refreshed at 90 % of what the registrar grants, retried with back-off after a
 * failure, removed by sip_unregister_all(). Shown in <Status/> as <Registration>.
 * At most 8. 0 or -errno.
 */
int sip_register_start(struct sip *s, const char *registrar, const char *aor, int expires,
		       bool tcp, struct sip_reg **ret);
/** Send Expires: 0 for every binding (before shutdown); run the loop briefly after. */
void sip_unregister_all(struct sip *s);
/** The state of @p r. */
enum sip_reg_state sip_reg_state(const struct sip_reg *r);

/* ---- dialogs (RFC 3261 12) --------------------------------------------------------- */

enum sip_dialog_event {
	SIP_DIALOG_PROGRESS,    /* a provisional response to our INVITE (status) */
	SIP_DIALOG_ESTABLISHED, /* 2xx and ACK exchanged */
	SIP_DIALOG_FAILED,      /* our INVITE failed (status), or no ACK came for our 2xx */
	SIP_DIALOG_REQUEST,     /* a request inside the dialog; answer it with the tx */
	SIP_DIALOG_TERMINATED,  /* BYE received, or our BYE answered */
	SIP_DIALOG_ACKED,       /* the ACK of our 2xx to a re-INVITE (its body, if any:
				 * sip_dialog_remote_body()) */
	_SIP_DIALOG_EVENT_MAX,
};

/** What happens to a dialog; @p tx is set for SIP_DIALOG_REQUEST only. */
typedef void(sip_dialog_h)(struct sip_dialog *d, enum sip_dialog_event ev, int status,
			   struct sip_tx *tx, void *arg);

/**
 * Call @p to (a sip: URI) from @p from as a UAC: an INVITE with
 * the body if @p ctype is set, the ACK for the 2xx (resent for retransmitted 2xx),
 * events to @p h. The caller owns *@p ret (mem_deref) from the start. 0 or -errno.
 */
int sip_dialog_invite(struct sip *s, const char *from, const char *to, const char *ctype,
		      const char *body, bool tcp, sip_dialog_h *h, void *arg,
		      struct sip_dialog **ret);
/**
 * Answer INVITE server transaction @p tx with 200 and a body as a UAS, creating the
 * dialog; the 200 is resent until the ACK comes (RFC 3261 13.3.1.4). 0 or -errno.
 */
int sip_dialog_accept(struct sip_tx *tx, const char *ctype, const char *body, sip_dialog_h *h,
		      void *arg, struct sip_dialog **ret);
/**
 * Send @p method (BYE, INFO, re-INVITE, UPDATE, REFER, NOTIFY...) inside @p d with the
 * dialog's Request-URI, Route set, tags, Call-ID and next CSeq (RFC 3261 12.2.1.1).
 * @p h (may be NULL) gets the responses. 0 or -errno.
 */
int sip_dialog_request(struct sip_dialog *d, const char *method, const char *ctype,
		       const char *body, sip_response_h *h, void *arg);
/**
 * sip_dialog_invite() with extra @p headers ("Name: value" lines separated by CRLF,
 * e.g. Answer-Mode, RFC 5373) and, with @p defer_ack, no automatic ACK: the 2xx is
 * reported as SIP_DIALOG_ESTABLISHED, its body is read with sip_dialog_remote_body(),
 * and the caller sends the ACK with sip_dialog_send_ack() — with the answer when the
 * INVITE had no offer (RFC 3264 5; RFC 3725 4.1). 0 or -errno.
 */
int sip_dialog_invite_with(struct sip *s, const char *from, const char *to,
			   const char *headers, bool defer_ack, const char *ctype,
			   const char *body, bool tcp, sip_dialog_h *h, void *arg,
			   struct sip_dialog **ret);
/**
 * The deferred ACK of a dialog made with defer_ack, or of the 2xx to an offerless
 * sip_dialog_reinvite(), with a body if @p ctype is set; resent for retransmitted
 * 2xx. 0, -EALREADY (not deferred, or sent), -errno.
 */
int sip_dialog_send_ack(struct sip_dialog *d, const char *ctype, const char *body);
/**
 * The body of the 2xx to our INVITE, or of the ACK to our 2xx (the answer to the offer
 * in it), and its type; NULL if none (valid while @p d lives).
 */
const char *sip_dialog_remote_body(const struct sip_dialog *d, const char **ret_ctype);
/**
 * Cancel our INVITE before its final response (RFC 3261 9.1): the CANCEL goes once a
 * provisional response has come, where the INVITE went; the INVITE then ends with 487
 * (SIP_DIALOG_FAILED), or with a 2xx that crossed the CANCEL (SIP_DIALOG_ESTABLISHED:
 * it is ACKed; the owner sends BYE). An INVITE not yet sent (its host being located)
 * is not sent, nor tried at another server after a failure. 0 or -EALREADY (answered
 * already).
 */
int sip_dialog_cancel(struct sip_dialog *d);
/**
 * Answer an in-dialog request @p tx of @p d (a re-INVITE or UPDATE) with 200, our
 * Contact and a body (the SDP answer); a 2xx to a re-INVITE is resent until its ACK
 * (RFC 3261 13.3.1.4), which is absorbed. 0 or -errno.
 */
int sip_dialog_answer(struct sip_dialog *d, struct sip_tx *tx, const char *ctype,
		      const char *body);
/**
 * The body of a message a handler got (a response) and, in *@p ret_ctype if given,
 * its Content-Type; both malloc'd, NULL when there is none.
 */
char *sip_message_body(const struct osip_message *m, char **ret_ctype);
/**
 * sip_dialog_request() with extra @p headers (Refer-To, Event...). A re-INVITE's 2xx
 * is ACKed by the dialog (RFC 3261 13.2.2.4). 0 or -errno.
 */
int sip_dialog_request_with(struct sip_dialog *d, const char *method, const char *headers,
			    const char *ctype, const char *body, sip_response_h *h, void *arg);
/**
 * A re-INVITE in @p d; without an offer (@p ctype NULL) its 2xx, which must then carry
 * one, is not ACKed here: the owner sends the ACK with the answer through
 * sip_dialog_send_ack() (RFC 3264 5; RFC 3725 5). 0, -EBUSY (such an ACK is still
 * owed), -errno.
 */
int sip_dialog_reinvite(struct sip_dialog *d, const char *ctype, const char *body,
			sip_response_h *h, void *arg);
/**
 * Send @p method (SUBSCRIBE, or REFER outside a dialog) from @p from to @p to with
 * extra @p headers (Event, Expires, Refer-To...), making a dialog for the subscription
 * it creates: its 2xx reports SIP_DIALOG_ESTABLISHED, a failure SIP_DIALOG_FAILED, and
 * the NOTIFYs come as SIP_DIALOG_REQUEST (a NOTIFY before the 2xx gets 481 and comes
 * again). No BYE ends such a dialog: the owner drops it when the subscription ends
 * (RFC 6665 4.1.2.3, 4.4.1). The caller owns *@p ret. 0 or -errno.
 */
int sip_dialog_subscribe(struct sip *s, const char *method, const char *from, const char *to,
			 const char *headers, bool tcp, sip_dialog_h *h, void *arg,
			 struct sip_dialog **ret);
/** The CSeq number of the last request sent in @p d (RFC 3515 2.4.6: a REFER's id). */
int sip_dialog_local_cseq(const struct sip_dialog *d);
/** Send BYE; SIP_DIALOG_TERMINATED follows its answer. 0 or -errno. */
int sip_dialog_bye(struct sip_dialog *d);
/**
 * Change who gets the events of @p d; NULL detaches (an owner that goes away while
 * the dialog lingers: later in-dialog requests are answered 501).
 */
void sip_dialog_set_handler(struct sip_dialog *d, sip_dialog_h *h, void *arg);
/** Call-ID of the dialog (logs, tests). */
const char *sip_dialog_call_id(const struct sip_dialog *d);

/* ---- subscriptions (RFC 6665) ------------------------------------------------------ */

/*
 * One subscription dialog, subscriber or notifier side: the dialog state (Call-ID,
 * tags, CSeq both ways, remote target, route set), one request of ours out at a time
 * (the others wait, in order, so CSeqs arrive in order), the NOTIFY that may come
 * before the 2xx to our SUBSCRIBE (RFC 6665 4.1.2.4), expiry, and the final NOTIFY a
 * notifier owes when the subscription runs out (RFC 6665 4.2.2). Refreshes are the
 * owner's: it knows what its package puts in them. The module claims SUBSCRIBE and
 * NOTIFY once a package listens or a subscription exists.
 */
struct sip_sub;

enum sip_sub_event {
	/* A request in the dialog: a NOTIFY (subscriber) or a refreshing SUBSCRIBE
	 * (notifier), @p tx. Answer it with sip_sub_answer() or sip_tx_respond();
	 * unanswered, it gets 200. */
	SIP_SUB_REQUEST,
	/* The subscription ended: it expired (408), the other side terminated it (a
	 * NOTIFY with "terminated", or a SUBSCRIBE with Expires: 0: status 0), a request
	 * of ours in it failed (its status), or the owner's own last request (an
	 * unsubscribe, a terminating NOTIFY) was answered (its status). Once, and the
	 * last event; the owner still drops its reference with sip_sub_free(). */
	SIP_SUB_TERMINATED,
	_SIP_SUB_EVENT_MAX,
};

/** What happens to a subscription; @p tx only for SIP_SUB_REQUEST. */
typedef void(sip_sub_h)(struct sip_sub *sub, enum sip_sub_event ev, int status,
			struct sip_tx *tx, void *arg);
/**
 * The final status of one request we sent in a subscription: the response's, 408
 * (timeout) or 503 (transport) from the SIP layer, or 0 when it was never sent (the
 * subscription ended first). Called exactly once per accepted request, never from
 * inside the call that queued it.
 */
typedef void(sip_sub_done_h)(struct sip_sub *sub, int status, void *arg);
/**
 * A SUBSCRIBE outside any dialog for a listened package; @p event_id is the Event
 * header's id parameter or NULL. Return true when taking it: answer it with
 * sip_sub_accept() (a new subscription) or sip_tx_respond() (a refusal).
 */
typedef bool(sip_sub_new_h)(struct sip_tx *tx, const char *event_id, void *arg);

/** Receive new SUBSCRIBEs of event package @p package (others get 489). 0 or -errno. */
int sip_sub_listen(struct sip *s, const char *package, sip_sub_new_h *h, void *arg);
/** Stop receiving them. */
void sip_sub_unlisten(struct sip *s, const char *package);
/**
 * Subscribe from @p from to @p to (sip: URIs, numeric host) for @p event ("pkg" or
 * "pkg;id=X") with @p expires seconds and an optional body. @p h (with @p arg) gets
 * the subscription's events, @p done (with @p done_arg) the initial SUBSCRIBE's final
 * status. *@p ret is the owner's
 * reference from the start. 0, -EBUSY (SIP_MAX_SUBS), -EINVAL or -errno.
 */
int sip_sub_subscribe(struct sip *s, const char *from, const char *to, const char *event,
		      unsigned expires, const char *ctype, const char *body, sip_sub_h *h,
		      void *arg, sip_sub_done_h *done, void *done_arg, struct sip_sub **ret);
/**
 * Accept SUBSCRIBE @p tx as a notifier: 200 with Expires (the request's, at most
 * @p max_expires) and our Contact. Send the first NOTIFY at once (RFC 6665 4.2.1).
 * 0, -EBUSY, -ENOENT (transaction gone) or -errno.
 */
int sip_sub_accept(struct sip_tx *tx, unsigned max_expires, sip_sub_h *h, void *arg,
		   struct sip_sub **ret);
/**
 * Answer the in-dialog request @p tx of @p sub; a 2xx to a refreshing SUBSCRIBE
 * carries the granted Expires (capped as at accept) and restarts the expiry; Expires
 * 0 ends the subscription after a final NOTIFY. 0 or -errno.
 */
int sip_sub_answer(struct sip_sub *sub, struct sip_tx *tx, int status);
/**
 * Subscriber: refresh with @p expires (0: unsubscribe, the subscription ends once it
 * is answered) and an optional body. Queued behind earlier requests. 0, -ENOTCONN
 * (ended), -ENOBUFS (queue full), -errno.
 */
int sip_sub_refresh(struct sip_sub *sub, unsigned expires, const char *ctype,
		    const char *body, sip_sub_done_h *done, void *arg);
/**
 * Notifier: NOTIFY with Subscription-State @p state (NULL: "active;expires=" the time
 * left; "terminated;reason=…" ends the subscription once it is answered). Errors as
 * sip_sub_refresh().
 */
int sip_sub_notify(struct sip_sub *sub, const char *state, const char *ctype,
		   const char *body, sip_sub_done_h *done, void *arg);
/** The Event header value ("pkg;id=X"). */
const char *sip_sub_event(const struct sip_sub *sub);
/** True while the subscription lives (not ended, not being ended). */
bool sip_sub_alive(const struct sip_sub *sub);
/**
 * Drop the owner's reference: no more events; nothing is sent; queued requests get
 * done(0), the one out gets its answer. Accepts NULL.
 */
void sip_sub_free(struct sip_sub *sub);
/** Live subscriptions (tests, Status). */
size_t sip_sub_count(const struct sip *s);

#endif
