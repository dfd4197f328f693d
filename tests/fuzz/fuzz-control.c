/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the control input path: framer, libxml2 parse, schema check,
 * request table and handlers, reply queue, event routing through the log tap.
 *
 * One control object (the schema compiles once) lives for the whole run. Every input
 * gets a fresh connection on a fresh socketpair, so a finding always reproduces from
 * its own input file. The first byte chooses how the rest is cut into conn_input()
 * calls, so the fuzzer explores split points as well as content.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/control-private.h"
#include "core/xml.h"

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
	if (control_new(NULL, cfg, &ctl) < 0)
		abort();
	return 0;
}

/* Read and discard what the daemon wrote; the replies are not judged here. */
static void drain(int fd)
{
	char buf[65536];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
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
	if (conn_alive(id))
		conn_free(cn);
	close(peer);
	return 0;
}
