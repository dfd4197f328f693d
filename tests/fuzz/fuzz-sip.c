/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for SIP intake: bytes → (TCP framing) → parse → validate →
 * transaction or stateless answer → response built and serialised, then the pump.
 * The first byte chooses UDP or TCP framing; nothing is sent (no sockets).
 * SUBSCRIBEs of the event package "fuzz" are accepted as subscriptions
 * (sip/subscription.c), so that requests in their dialogs reach that code too; they
 * are dropped before the next input.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "sip/sip-private.h"

static struct sip *sip;
static struct config cfg;
static struct sip_sub *subs[16];
static unsigned n_subs;

static bool on_subscribe(struct sip_tx *tx, const char *id, void *arg)
{
	struct sip_sub *sub;

	if (n_subs == sizeof(subs) / sizeof(subs[0]) || (id && strcmp(id, "no") == 0) ||
	    sip_sub_accept(tx, 60, NULL, NULL, &sub) < 0)
		return false;
	subs[n_subs++] = sub;
	(void)sip_sub_notify(sub, NULL, "text/plain", "x", NULL, NULL);
	return true;
}

static void feed_stream(const char *buf, size_t len, const struct sockaddr_in *peer)
{
	size_t skip;
	ssize_t n;

	while (len > 0) {
		n = sip_frame_find(buf, len, SIP_MAX_MESSAGE, &skip);
		buf += skip;
		len -= skip;
		if (n <= 0)
			return;
		sip_input(sip, true, -1, (const struct sockaddr *)peer, sizeof(*peer), buf, n);
		buf += n;
		len -= n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(5060) };

	if (!sip) {
		log_set_level(LOG_LEVEL_EMERG);
		if (sip_new(NULL, &cfg, &sip) < 0 || sip_sub_listen(sip, "fuzz", on_subscribe, NULL) < 0)
			return 0;
	}
	while (n_subs)
		sip_sub_free(subs[--n_subs]);
	if (size < 1 || size > SIP_MAX_MESSAGE + 1)
		return 0;
	peer.sin_addr.s_addr = htonl(0x7f000001);
	if (data[0] & 1)
		feed_stream((const char *)data + 1, size - 1, &peer);
	else
		sip_input(sip, false, -1, (const struct sockaddr *)&peer, sizeof(peer),
			  (const char *)data + 1, size - 1);
	sip_pump_run(sip, true);
	return 0;
}
