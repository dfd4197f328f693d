/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file sip.h
 * The SIP stack every other subsystem uses: UDP and TCP transports (IPv4 and IPv6),
 * libosip2's transaction state machines driven by the libev loop, validation of every
 * message before a state machine sees it, and the service's built-in answers (OPTIONS,
 * 405, 420, 481, 482, 483, 480 for INVITE while nobody takes calls).
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
 * Answer a server transaction with @p status and @p reason (NULL: the RFC 3261 phrase).
 * Returns 0, -ENOENT when the transaction has ended, -EALREADY after a final
 * response, -ENOMEM.
 */
int sip_tx_reply(struct sip_tx *tx, int status, const char *reason);
/** The request's method ("INVITE"), or NULL once the transaction has ended. */
const char *sip_tx_method(const struct sip_tx *tx);

#endif
