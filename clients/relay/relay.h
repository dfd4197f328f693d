/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sipsvc-relay: the browser extension's native-messaging host (clients/relay/README). */
#ifndef SIPSVC_RELAY_H
#define SIPSVC_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libxml/tree.h>

#define RELAY_HOST_NAME "org.sipsvc.relay"
/* Chrome accepts at most 1 MiB from a host; the browser side is capped far lower because
 * nothing the extension sends needs more than a URI or two. */
#define RELAY_IN_MAX (64 * 1024)
#define RELAY_OUT_MAX (1024 * 1024)

/* frame.c: native messaging framing, a 32-bit native-endian length and UTF-8 JSON. */
struct frame_reader {
	size_t start, len;                     /* unconsumed bytes are buf[start, len) */
	unsigned char buf[4 + RELAY_IN_MAX];   /* never more: a hostile length allocates nothing */
};

/** Read what @p fd has into @p fr: 1 if bytes came, 0 at end of file, -errno. */
int frame_read(struct frame_reader *fr, int fd);
/**
 * The next complete message: 1 with *ret and *ret_len pointing into @p fr (valid until the
 * next frame_read), 0 if incomplete, -EMSGSIZE if its length is over RELAY_IN_MAX.
 */
int frame_next(struct frame_reader *fr, const char **ret, size_t *ret_len);
/** Write @p json as one message; -EMSGSIZE over RELAY_OUT_MAX, -errno. */
int frame_write(int fd, const char *json, size_t len);
/** Serialise @p o and write it as one message; consumes @p o. */
int frame_write_json(int fd, json_object *o);

/* request.c: validated JSON from the browser → a control request. */
struct request_meta {
	char request[32]; /* the request name, when it was a known one */
	char ref[65];     /* the ref, when it was a valid one */
	char origin[256]; /* SameDeviceJoin: the page that asked */
};

/**
 * Parse and validate one message from the browser and build its request element.
 * Returns 0 with *ret set, or -EINVAL with a reason in @p err (and what could be
 * trusted of the message in @p meta, to answer it). -ENOMEM on out-of-memory.
 */
int relay_request_parse(const char *json, size_t len, struct request_meta *meta, xmlNodePtr *ret,
			char *err, size_t errsize);

/* reply.c: the daemon's messages → JSON for the browser. */
/** Turn an Ok, Error or Event document into its JSON object; -EBADMSG for anything else. */
int relay_json_from_message(xmlDocPtr doc, json_object **ret);
/** {"error": code, "message": msg} with the request and ref of @p meta when known. */
json_object *relay_json_error(const char *code, const char *msg, const struct request_meta *meta);

/* manifest.c */
struct manifest_opts {
	const char *path;         /* the host binary; NULL: this program */
	const char *extension_id; /* Chromium/Chrome extension id */
	const char *gecko_id;     /* Firefox add-on id */
};

/** Write the per-user host manifests for Chromium, Chrome and Firefox. */
int relay_install_manifests(const struct manifest_opts *o);

#endif
