/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the control input path: framer, libxml2 parse, schema check,
 * request table and handlers, reply queue, event routing through the log tap.
 *
 * One control object (the schema compiles once) lives for the whole run. Every input
 * gets a fresh connection on a fresh socketpair, so a finding always reproduces from
 * its own input file. The first byte chooses how the rest is cut into conn_input()
 * calls, so the fuzzer explores split points as well as content. Every reply read
 * back must be well-formed XML that matches sipsvc.xsd: that makes wrong output a
 * finding, not only crashes.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "control/control-private.h"
#include "core/xml.h"
#include "tests/unit/status-facts.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *cfg;
static struct control *ctl;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	cfg = config_new_defaults();
	if (!cfg || !(cfg->runtime_dir = strdup("/nonexistent")))
		abort();
	/* A short queue makes the "client does not read" paths reachable by small inputs. */
	cfg->limits.max_queue = 8;
	/* Debug logging runs every log line through the tap into `log` events. */
	log_set_level(LOG_LEVEL_DEBUG);
	if (control_new(NULL, cfg, &ctl) < 0 || status_register(status_facts, cfg) < 0)
		abort();
	return 0;
}

/* What the daemon wrote, up to the last complete line not yet checked. */
static char out[1 << 20];
static size_t out_len;

/* The oracle: whatever the input, every reply line is well-formed XML for the client. */
static void check_lines(void)
{
	char *p = out, *nl;

	while ((nl = memchr(p, '\n', out_len - (size_t)(p - out)))) {
		xmlDocPtr doc = xmlReadMemory(p, (int)(nl - p), NULL, "UTF-8",
					      XML_PARSE_NONET | XML_PARSE_NOERROR |
						      XML_PARSE_NOWARNING);

		char err[512];

		if (!doc) {
			fprintf(stderr, "reply is not well-formed XML: %.*s\n", (int)(nl - p), p);
			abort();
		}
		if (xml_schema_check(ctl->vctxt, doc, err, sizeof(err)) < 0) {
			fprintf(stderr, "reply does not match sipsvc.xsd (%s): %.*s\n", err,
				(int)(nl - p), p);
			abort();
		}
		xmlFreeDoc(doc);
		p = nl + 1;
	}
	out_len -= (size_t)(p - out);
	memmove(out, p, out_len);
}

static void drain(int fd)
{
	ssize_t n;

	while ((n = recv(fd, out + out_len, sizeof(out) - out_len, MSG_DONTWAIT)) > 0) {
		out_len += (size_t)n;
		check_lines();
		if (out_len == sizeof(out)) /* a 1 MiB line: no reply is that long */
			abort();
	}
}

static struct conn *open_conn(int *peer_fd)
{
	struct conn *cn;
	int sv[2], small = 4096;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* A small buffer fills quickly, so the outgoing queue is exercised too. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (conn_new(ctl, sv[0], true, "fuzz", &cn) < 0)
		abort();
	*peer_fd = sv[1];
	return cn;
}

/* The conn may have been freed by the daemon itself (an event to a full queue). */
static bool conn_alive(uint64_t id)
{
	return control_find_conn(ctl, id) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	size_t len, first, piece;
	struct conn *cn;
	uint64_t id;
	int peer;

	if (size < 1)
		return 0;
	len = size - 1;
	/* Low nibble: where the first cut is (in sixteenths); high nibble: 2^n-byte pieces. */
	first = len * (data[0] & 0x0f) / 16;
	piece = (size_t)1 << (data[0] >> 4);
	cn = open_conn(&peer);
	id = cn->id;
	for (size_t off = 0, n = first; off < len; off += n, n = piece) {
		if (n > len - off)
			n = len - off;
		if (n == 0)
			continue;
		if (conn_input(cn, p + off, n) < 0 || !conn_alive(id))
			break;
		drain(peer);
	}
	drain(peer);
	if (conn_alive(id))
		conn_free(cn);
	close(peer);
	/* A message cut off by the close is not a reply the client could read. */
	out_len = 0;
	return 0;
}
