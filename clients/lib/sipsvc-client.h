/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file sipsvc-client.h
 * A small client library for the sipsvcd control protocol (PROTOCOL.md).
 *
 * Connects the way every sipsvc client does, builds requests as libxml2 elements (no
 * string pasting), and reads replies and events incrementally, so it fits any event
 * loop: watch sipsvc_client_fd() for input, call sipsvc_client_process(), then take
 * messages with sipsvc_client_next(). The blocking helpers suit simple tools.
 *
 * Functions return 0 (or a count) on success and -errno on failure.
 */
#ifndef SIPSVC_CLIENT_H
#define SIPSVC_CLIENT_H

#include <stddef.h>

#include <libxml/tree.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sipsvc_client;

/** Where to connect; zero-initialised means "discover". */
struct sipsvc_client_opts {
	const char *socket_path; /* a Unix socket, or NULL */
	int port;                /* a TCP port on 127.0.0.1, or 0 */
};

/**
 * Connect: @p o's socket or port if given; else $SIPSVC_RUNTIME_DIR/control,
 * $XDG_RUNTIME_DIR/sipsvc/control, then TCP 127.0.0.1:$SIPSVC_CONTROL_PORT (7060).
 */
int sipsvc_client_connect(const struct sipsvc_client_opts *o, struct sipsvc_client **ret);
/**
 * Use an already connected socket @p fd (inherited, or one end of a socketpair);
 * it is made non-blocking and closed by sipsvc_client_free().
 */
int sipsvc_client_new_fd(int fd, struct sipsvc_client **ret);
/** Close and free; accepts NULL. */
void sipsvc_client_free(struct sipsvc_client *c);
/** The connected socket (non-blocking), to watch for input in an event loop. */
int sipsvc_client_fd(const struct sipsvc_client *c);
/** "unix:/path" or "tcp:127.0.0.1:7060", for messages. */
const char *sipsvc_client_endpoint(const struct sipsvc_client *c);

/** A new request element @p name (e.g. "Status"); NULL on out-of-memory. */
xmlNodePtr sipsvc_request_new(const char *name);
/** Set attribute @p name of @p n; returns 0 or -ENOMEM. */
int sipsvc_request_set(xmlNodePtr n, const char *name, const char *value);

/**
 * Send @p req (freed here). If it has no ref, one is generated; its ref is copied to
 * @p ret_ref when that is not NULL (65 bytes suffice). Waits while the socket is full.
 */
int sipsvc_client_send(struct sipsvc_client *c, xmlNodePtr req, char *ret_ref, size_t size);
/** Send raw bytes as they are (the CLI's `send`). */
int sipsvc_client_send_raw(struct sipsvc_client *c, const char *buf, size_t len);
/** Tell the daemon nothing more will be sent; it still answers what it has. */
int sipsvc_client_shutdown(struct sipsvc_client *c);

/**
 * Read what has arrived without blocking. Returns the number of complete messages
 * waiting, -EPIPE once the daemon has closed and nothing is left, or -errno.
 */
int sipsvc_client_process(struct sipsvc_client *c);
/** The next complete message (an Ok, Error or Event document), or NULL. Free it with xmlFreeDoc(). */
xmlDocPtr sipsvc_client_next(struct sipsvc_client *c);
/**
 * Block up to @p timeout_ms (<0: for ever) for the next message. Returns 0 with
 * *ret set, -ETIMEDOUT, -EPIPE when the daemon closed, or -errno.
 */
int sipsvc_client_wait(struct sipsvc_client *c, int timeout_ms, xmlDocPtr *ret);
/**
 * Send @p req and wait for its reply; events that arrive first stay queued for
 * sipsvc_client_next(). *ret is the Ok or Error document.
 */
int sipsvc_client_call(struct sipsvc_client *c, xmlNodePtr req, int timeout_ms, xmlDocPtr *ret);

/** Attribute @p name of the root of @p doc, or NULL (valid while @p doc lives). */
const char *sipsvc_msg_attr(xmlDocPtr doc, const char *name);
/** The root element's name ("Ok", "Error", "Event"). */
const char *sipsvc_msg_name(xmlDocPtr doc);

/**
 * Check a sip:, sips: or tel: URI from an untrusted source and write its normal form
 * to @p out: scheme in lower case, surrounding blanks removed, URI headers (?…) of
 * sip: URIs dropped, tel: numbers without visual separators (RFC 3966 §5.1.1).
 * Returns 0, -EINVAL (malformed), -EPROTONOSUPPORT (another scheme) or -ENAMETOOLONG.
 */
int sipsvc_uri_normalise(const char *in, char *out, size_t size);

#ifdef __cplusplus
}
#endif

#endif
