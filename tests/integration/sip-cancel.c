/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CANCEL of our own INVITE (RFC 3261 9.1) against SIPp, through the dialog layer:
 *   sip-cancel URI [tcp]   calls URI (a numeric host, or a name located by the DNS
 *                          server in $SIP_DNS) and asks to cancel at once; the layer
 *                          must hold the CANCEL until a provisional response. Prints
 *                          "failed STATUS" when the INVITE ends unanswered (487), or
 *                          "established" then "terminated STATUS" when a 2xx crossed
 *                          the CANCEL: the layer ACKs it, and we hang up as the owner
 *                          must (call/leg.c does the same). Exits 0 if nothing leaked.
 *                          $SIP_CANCEL_ON_RING: cancel at the first provisional
 *                          response instead.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/time.h>
#include <time.h>

#include <osip2/osip.h>

#include "core/core.h"
#include "sip/sip.h"

static struct ev_loop *loop;
static int failures;

static void on_event(struct sip_dialog *d, enum sip_dialog_event ev, int status,
		     struct sip_tx *tx, void *arg)
{
	switch (ev) {
	case SIP_DIALOG_PROGRESS:
		if (arg && sip_dialog_cancel(d) < 0)
			failures++;
		break;
	case SIP_DIALOG_ESTABLISHED:
		printf("established\n");
		if (sip_dialog_bye(d) < 0)
			failures++;
		break;
	case SIP_DIALOG_FAILED:
		printf("failed %d\n", status);
		ev_break(loop, EVBREAK_ALL);
		break;
	case SIP_DIALOG_TERMINATED:
		printf("terminated %d\n", status);
		ev_break(loop, EVBREAK_ALL);
		break;
	case SIP_DIALOG_REQUEST:
		sip_tx_reply(tx, 481, NULL);
		break;
	default:
		break;
	}
	fflush(stdout);
}

static void on_deadline(struct ev_loop *l, ev_timer *w, int revents)
{
	fprintf(stderr, "sip-cancel: deadline reached\n");
	failures++;
	ev_break(l, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	struct config *cfg = config_new_defaults();
	struct sip *sip = NULL;
	struct sip_dialog *d = NULL;
	ev_timer deadline;
	bool on_ring = getenv("SIP_CANCEL_ON_RING") != NULL;
	bool tcp = argc > 2 && strcmp(argv[2], "tcp") == 0;

	loop = ev_default_loop(EVFLAG_AUTO);
	if (!cfg || argc < 2)
		return 64;
	log_set_level(getenv("SIP_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
	cfg->sip_port = 0;
	cfg->sip_addr = strdup("127.0.0.1");
	cfg->sip_dns_servers = getenv("SIP_DNS") ? strdup(getenv("SIP_DNS")) : NULL;
	if (!cfg->sip_addr || sip_new(loop, cfg, &sip) < 0)
		return 1;
	ev_timer_init(&deadline, on_deadline, 40., 0.);
	ev_timer_start(loop, &deadline);
	if (sip_dialog_invite(sip, "sip:alice@127.0.0.1", argv[1], NULL, NULL, tcp, on_event,
			      on_ring ? (void *)1 : NULL, &d) < 0 ||
	    (!on_ring && sip_dialog_cancel(d) < 0))
		failures++;
	else
		ev_run(loop, 0);
	mem_deref(d);
	sip_free(sip);
	config_free(cfg);
	ev_loop_destroy(loop);
	printf("failures %d live objects %zu\n", failures, mem_live_objects());
	return failures == 0 && mem_live_objects() == 0 ? 0 : 1;
}
