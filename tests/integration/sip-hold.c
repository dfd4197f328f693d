/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in for the future call subsystem: the SIP layer on a free loopback port with an
 * INVITE handler that keeps every INVITE pending (it never answers), so that tests can
 * CANCEL them (RFC 3261 9.2). Prints the UDP port, then runs until SIGTERM.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "sip/sip.h"

#define MAX_HELD 1024

static struct sip_tx *held[MAX_HELD];
static size_t n_held;

static void on_invite(struct sip_tx *tx, void *arg)
{
	if (n_held == MAX_HELD) {
		sip_tx_reply(tx, 486, NULL);
		return;
	}
	held[n_held++] = mem_ref(tx);
	sip_tx_reply(tx, 180, NULL);
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	struct config *cfg = config_new_defaults();
	struct sip *s = NULL;
	ev_signal sigterm;

	if (!cfg)
		return 1;
	log_set_level(argc > 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
	cfg->sip_port = 0;
	cfg->sip_addr = strdup("127.0.0.1");
	if (!cfg->sip_addr || sip_new(loop, cfg, &s) < 0)
		return 1;
	sip_set_invite_handler(s, on_invite, NULL);
	ev_signal_init(&sigterm, on_stop, SIGTERM);
	ev_signal_start(loop, &sigterm);
	printf("%d\n", sip_port(s));
	fflush(stdout);
	ev_run(loop, 0);
	for (size_t i = 0; i < n_held; i++)
		mem_deref(held[i]);
	sip_free(s);
	config_free(cfg);
	ev_loop_destroy(loop);
	return mem_live_objects() == 0 ? 0 : 2;
}
