/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dialog layer against SIPp, in both roles:
 *   sip-dialog uas [tcp]          prints its port; answers every INVITE with 200 and an
 *                                 SDP body, expects the ACK and the peer's BYE; runs
 *                                 until SIGTERM; exits 0 if every dialog ended cleanly
 *                                 and nothing leaked
 *   sip-dialog uac PORT N [tcp]   calls sip:service@127.0.0.1:PORT N times in a row:
 *                                 INVITE, ACK, BYE after 200 ms; exits 0 if all ended
 *                                 with a 200 for the BYE and nothing leaked
 *   sip-dialog register PORT EXPIRES SECONDS [tcp]
 *                                 registers sip:alice@127.0.0.1 at sip:127.0.0.1:PORT,
 *                                 keeps it SECONDS, unregisters; exits 0 if the last
 *                                 state is "unregistered"
 *   sip-dialog request METHOD PORT [tcp]
 *                                 one out-of-dialog request; prints the final status;
 *                                 exits 0 on 200
 * SIP_USER and SIP_PASSWORD set credentials for digest challenges (RFC 8760).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/time.h>
#include <time.h>

#include <osip2/osip.h>

#include "core/core.h"
#include "sip/sip.h"

static const char sdp[] = "v=0\r\no=sipsvc 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
			  "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n";

static struct ev_loop *loop;
static struct sip *sip;
static bool tcp;
static int port, calls_left, failures, established, terminated;
static struct sip_dialog *current;
static ev_timer bye_timer, deadline, linger;

static void next_call(void);

#define MAX_OPEN 64
static struct sip_dialog *open_uas[MAX_OPEN]; /* UAS dialogs not ended yet */

static void on_event(struct sip_dialog *d, enum sip_dialog_event ev, int status,
		     struct sip_tx *tx, void *arg)
{
	switch (ev) {
	case SIP_DIALOG_PROGRESS:
		break;
	case SIP_DIALOG_ESTABLISHED:
		established++;
		if (arg) /* UAC: hang up shortly */
			ev_timer_start(loop, &bye_timer);
		break;
	case SIP_DIALOG_FAILED:
		fprintf(stderr, "dialog %s failed: %d\n", sip_dialog_call_id(d) ?: "-", status);
		failures++;
		break;
	case SIP_DIALOG_REQUEST:
		sip_tx_reply(tx, 200, NULL);
		break;
	case SIP_DIALOG_TERMINATED:
		terminated++;
		if (arg && status != 200)
			failures++;
		break;
	default:
		break;
	}
	for (int i = 0; i < MAX_OPEN && !arg; i++)
		if (open_uas[i] == d && (ev == SIP_DIALOG_TERMINATED || ev == SIP_DIALOG_FAILED))
			open_uas[i] = NULL;
	if ((ev == SIP_DIALOG_TERMINATED || ev == SIP_DIALOG_FAILED) && d == current) {
		current = NULL;
		mem_deref(d);
		if (arg)
			next_call();
	} else if (ev == SIP_DIALOG_TERMINATED || ev == SIP_DIALOG_FAILED) {
		mem_deref(d);
	}
}

static void on_bye_timer(struct ev_loop *l, ev_timer *w, int revents)
{
	if (current && sip_dialog_bye(current) < 0)
		failures++;
}

static void next_call(void)
{
	char to[64];

	if (calls_left-- <= 0) {
		/* SIPp's uas pauses 4 s after each call; over TCP our exit would cut it. */
		ev_timer_start(loop, &linger);
		return;
	}
	snprintf(to, sizeof(to), "sip:service@127.0.0.1:%d", port);
	if (sip_dialog_invite(sip, "sip:sipsvc@127.0.0.1", to, "application/sdp", sdp, tcp,
			      on_event, (void *)1, &current) < 0) {
		failures++;
		ev_break(loop, EVBREAK_ALL);
	}
}

static void on_invite(struct sip_tx *tx, void *arg)
{
	struct sip_dialog *d;

	if (sip_dialog_accept(tx, "application/sdp", sdp, on_event, NULL, &d) < 0) {
		failures++;
		return;
	}
	for (int i = 0; i < MAX_OPEN; i++)
		if (!open_uas[i]) {
			open_uas[i] = d;
			break;
		}
}

/* UAS dialogs still open at exit: say which (a leak or a lost BYE), then drop them. */
static void report_open(void)
{
	for (int i = 0; i < MAX_OPEN; i++)
		if (open_uas[i]) {
			fprintf(stderr, "dialog %s still open\n", sip_dialog_call_id(open_uas[i]));
			failures++;
			mem_deref(open_uas[i]);
		}
}

static int final_status;

static void on_response(struct sip_tx *tx, int status, const struct osip_message *resp,
			void *arg)
{
	if (status < 200)
		return;
	final_status = status;
	ev_break(loop, EVBREAK_ALL);
}

static int send_request(const char *method)
{
	/* SIP_BIG: a request over 1300 bytes, which must go over TCP (RFC 3261 18.1.1). */
	size_t nbig = getenv("SIP_BIG") ? 1500 : 1;
	char text[4096], big[1501];
	osip_event_t *e;
	osip_message_t *m;

	memset(big, 'x', nbig);
	big[nbig] = '\0';
	snprintf(text, sizeof(text),
		 "%s sip:service@127.0.0.1:%d SIP/2.0\r\nMax-Forwards: 70\r\n"
		 "From: <sip:alice@127.0.0.1>;tag=%d\r\nTo: <sip:alice@127.0.0.1>\r\n"
		 "Call-ID: req-%d@127.0.0.1\r\nCSeq: 1 %s\r\n"
		 "Contact: <sip:alice@127.0.0.1:%d>\r\nExpires: 60\r\nX-Big: %s\r\n"
		 "Content-Length: 0\r\n\r\n",
		 method, port, rand(), rand(), method, sip_port(sip), big);
	e = osip_parse(text, strlen(text));
	if (!e)
		return -1;
	m = e->sip;
	e->sip = NULL;
	osip_event_free(e);
	return sip_request_send(sip, m, tcp, on_response, NULL, NULL);
}

static void on_linger(struct ev_loop *l, ev_timer *w, int revents)
{
	ev_break(l, EVBREAK_ALL);
}

static void on_stop(struct ev_loop *l, ev_signal *w, int revents)
{
	ev_break(l, EVBREAK_ALL);
}

static void on_deadline(struct ev_loop *l, ev_timer *w, int revents)
{
	fprintf(stderr, "sip-dialog: deadline reached\n");
	failures++;
	ev_break(l, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	struct config *cfg = config_new_defaults();
	bool uac = argc > 1 && strcmp(argv[1], "uac") == 0;
	bool req = argc > 3 && strcmp(argv[1], "request") == 0;
	bool reg = argc > 4 && strcmp(argv[1], "register") == 0;
	ev_signal sigterm;
	int r;

	loop = ev_default_loop(EVFLAG_AUTO);
	if (!cfg || argc < 2 || (uac && argc < 4))
		return 64;
	tcp = strcmp(argv[argc - 1], "tcp") == 0;
	log_set_level(getenv("SIP_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
	cfg->sip_port = 0;
	cfg->sip_addr = strdup("127.0.0.1");
	if (!cfg->sip_addr || sip_new(loop, cfg, &sip) < 0)
		return 1;
	if (getenv("SIP_USER"))
		sip_set_credentials(sip, getenv("SIP_USER"), getenv("SIP_PASSWORD"));
	ev_signal_init(&sigterm, on_stop, SIGTERM);
	ev_signal_start(loop, &sigterm);
	ev_timer_init(&bye_timer, on_bye_timer, 0.2, 0.);
	ev_timer_init(&linger, on_linger, tcp ? 4.5 : 0., 0.);
	ev_timer_init(&deadline, on_deadline, 60., 0.);
	if (reg) {
		char registrar[64];
		struct sip_reg *binding = NULL;

		snprintf(registrar, sizeof(registrar), "sip:127.0.0.1:%s", argv[2]);
		if (sip_register_start(sip, registrar, "sip:alice@127.0.0.1", atoi(argv[3]), tcp,
				       &binding) < 0)
			return 1;
		ev_timer_set(&linger, atof(argv[4]), 0.);
		ev_timer_start(loop, &linger);
		ev_run(loop, 0);
		sip_unregister_all(sip);
		ev_timer_set(&linger, 1.0, 0.);
		ev_timer_start(loop, &linger);
		ev_run(loop, 0);
		failures += sip_reg_state(binding) != SIP_REG_UNREGISTERED;
		printf("state %s\n", failures ? "other" : "unregistered");
		sip_free(sip);
		config_free(cfg);
		ev_loop_destroy(loop);
		return failures == 0 && mem_live_objects() == 0 ? 0 : 1;
	}
	if (req) {
		srand((unsigned)getpid() ^ (unsigned)time(NULL));
		port = atoi(argv[3]);
		ev_timer_init(&deadline, on_deadline, 60., 0.);
		ev_timer_start(loop, &deadline);
		if (send_request(argv[2]) < 0)
			failures++;
		else
			ev_run(loop, 0);
		/* Keep a TCP flow open while the peer lingers on the transaction. */
		ev_timer_set(&linger, tcp ? 1.0 : 0., 0.);
		ev_timer_start(loop, &linger);
		ev_run(loop, 0);
		printf("final %d\n", final_status);
		if (final_status != 200)
			failures++;
		sip_free(sip);
		config_free(cfg);
		ev_loop_destroy(loop);
		return failures == 0 && mem_live_objects() == 0 ? 0 : 1;
	}
	if (uac) {
		port = atoi(argv[2]);
		calls_left = atoi(argv[3]);
		ev_timer_init(&deadline, on_deadline, 60., 0.);
		ev_timer_start(loop, &deadline);
		next_call();
	} else {
		sip_set_invite_handler(sip, on_invite, NULL);
		printf("%d\n", sip_port(sip));
		fflush(stdout);
	}
	ev_run(loop, 0);
	report_open();
	mem_deref(current);
	sip_free(sip);
	config_free(cfg);
	ev_loop_destroy(loop);
	printf("established %d terminated %d failures %d live objects %zu\n", established,
	       terminated, failures, mem_live_objects());
	r = failures == 0 && mem_live_objects() == 0 ? 0 : 1;
	return r;
}
