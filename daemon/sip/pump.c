/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libosip2 driven by libev (notes/libraries.md, "A robust libev pump"). Before the loop
 * sleeps an ev_prepare watcher runs the events we queued on transactions; at most every
 * SIP_TICK it also runs libosip2's timer scans, which are linear in the live
 * transactions; then it frees the transactions that ended, which must not happen inside
 * the kill callback (the execute loop still reads their FIFO). One ev_timer wakes the
 * loop for the next timer scan.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "sip/sip-private.h"

#define MAX_SLEEP 10.0

/* libosip2 calls the send callback without a transaction for 2xx retransmissions. */
static struct sip *pump_sip;

static int on_send(osip_transaction_t *tr, osip_message_t *msg, char *host, int port, int sock)
{
	struct sip_tx *tx = tr ? osip_transaction_get_reserved1(tr) : NULL;

	if (!tx || !pump_sip)
		return -1;
	return sip_send_to(tx->sip, &tx->src, msg, host, port) < 0 ? -1 : 0;
}

static void on_kill(int type, osip_transaction_t *tr)
{
	struct sip_tx *tx = osip_transaction_get_reserved1(tr);
	struct sip *s = tx->sip;

	osip_remove_transaction(tx->osip, tr);
	sip_txindex_remove(&s->ix, tx);
	sip_tx_client_unlink(tx);
	tx->dead = true;
	tx->dnext = s->dead;
	s->dead = tx;
}

/* The one place a client transaction's handler is called: once per response, the
 * final one last (also a local 408/503), never again after it. */
static void deliver(struct sip_tx *tx, int status, const osip_message_t *resp)
{
	if (!tx->resp_h || tx->final_sent)
		return;
	/* RFC 3261 22.2: a challenge is answered here when we have credentials. */
	if (resp && (status == 401 || status == 407) && sip_client_retry_auth(tx, resp)) {
		tx->final_sent = true;
		return;
	}
	if (status >= 200)
		tx->final_sent = true;
	tx->resp_h(tx, status, resp, tx->resp_arg);
}

void sip_tx_transport_error(struct sip_tx *tx)
{
	/* RFC 3261 8.1.3.1; libosip2's transaction runs on to its timeout, unheard. */
	deliver(tx, 503, NULL);
}

void sip_tx_abandon(struct sip_tx *tx, int status)
{
	osip_event_t *evt;

	if (!tx->tr || tx->dead)
		return;
	deliver(tx, status, NULL);
	/* Events queued for it are never run: the transaction is gone before the pump
	 * drains its FIFO. */
	while ((evt = osip_fifo_tryget(tx->tr->transactionff)))
		osip_event_free(evt);
	on_kill(0, tx->tr);
}

static void on_response(int type, osip_transaction_t *tr, osip_message_t *msg)
{
	deliver(osip_transaction_get_reserved1(tr), msg->status_code, msg);
}

static void on_timeout(int type, osip_transaction_t *tr, osip_message_t *msg)
{
	/* RFC 3261 8.1.3.1: timer B or F fired; as if a 408 had come. */
	deliver(osip_transaction_get_reserved1(tr), 408, NULL);
}

static void on_transport_error(int type, osip_transaction_t *tr, int error)
{
	struct sip_tx *tx = osip_transaction_get_reserved1(tr);

	if (tx->client) {
		/* RFC 3261 8.1.3.1: a transport failure is treated as a 503. */
		deliver(tx, 503, NULL);
		return;
	}

	log_debug("sip: cannot send a response to %s:%d (%s transaction)", tx->src.ip,
		  tx->src.port, tx->req ? tx->req->sip_method : "?");
}

static void trace_drop(const char *fi, int li, osip_trace_level_t level, const char *chfr,
		       va_list ap)
{
	/* libosip2 traces to stdout by default; the daemon's stdout is not a log. */
}

void sip_pump_setup(struct sip *s, osip_t *osip)
{
	static const int kills[] = { OSIP_ICT_KILL_TRANSACTION, OSIP_IST_KILL_TRANSACTION,
				     OSIP_NICT_KILL_TRANSACTION, OSIP_NIST_KILL_TRANSACTION };
	static const int errs[] = { OSIP_ICT_TRANSPORT_ERROR, OSIP_IST_TRANSPORT_ERROR,
				    OSIP_NICT_TRANSPORT_ERROR, OSIP_NIST_TRANSPORT_ERROR };
	static const int resps[] = {
		OSIP_ICT_STATUS_1XX_RECEIVED,  OSIP_ICT_STATUS_2XX_RECEIVED,
		OSIP_ICT_STATUS_3XX_RECEIVED,  OSIP_ICT_STATUS_4XX_RECEIVED,
		OSIP_ICT_STATUS_5XX_RECEIVED,  OSIP_ICT_STATUS_6XX_RECEIVED,
		OSIP_NICT_STATUS_1XX_RECEIVED, OSIP_NICT_STATUS_2XX_RECEIVED,
		OSIP_NICT_STATUS_3XX_RECEIVED, OSIP_NICT_STATUS_4XX_RECEIVED,
		OSIP_NICT_STATUS_5XX_RECEIVED, OSIP_NICT_STATUS_6XX_RECEIVED,
	};

	osip_trace_initialize_func(TRACE_LEVEL0, trace_drop);
	for (int l = TRACE_LEVEL0; l < END_TRACE_LEVEL; l++)
		osip_trace_disable_level(l);
	pump_sip = s;
	osip_set_application_context(osip, s);
	osip_set_cb_send_message(osip, on_send);
	for (size_t i = 0; i < ARRAY_SIZE(kills); i++)
		osip_set_kill_transaction_callback(osip, kills[i], on_kill);
	for (size_t i = 0; i < ARRAY_SIZE(errs); i++)
		osip_set_transport_error_callback(osip, errs[i], on_transport_error);
	for (size_t i = 0; i < ARRAY_SIZE(resps); i++)
		osip_set_message_callback(osip, resps[i], on_response);
	osip_set_message_callback(osip, OSIP_ICT_STATUS_TIMEOUT, on_timeout);
	osip_set_message_callback(osip, OSIP_NICT_STATUS_TIMEOUT, on_timeout);
}

static void run_timers(struct sip *s)
{
	for (int i = 0; i < SIP_SHARDS; i++) {
		osip_timers_ict_execute(s->osip[i]);
		osip_timers_ist_execute(s->osip[i]);
		osip_timers_nict_execute(s->osip[i]);
		osip_timers_nist_execute(s->osip[i]);
	}
	/* The scans queued timer events in the transactions' FIFOs: run them. */
	for (int i = 0; i < SIP_SHARDS; i++) {
		osip_ict_execute(s->osip[i]);
		osip_ist_execute(s->osip[i]);
		osip_nict_execute(s->osip[i]);
		osip_nist_execute(s->osip[i]);
		osip_retransmissions_execute(s->osip[i]);
	}
}

/* Only the transactions we gave events to: O(events), not O(transactions). */
static void run_pending(struct sip *s)
{
	struct sip_tx *tx;
	osip_event_t *evt;

	while ((tx = s->pending_head)) {
		s->pending_head = tx->pnext;
		if (!s->pending_head)
			s->pending_tail = NULL;
		tx->pending = false;
		while ((evt = osip_fifo_tryget(tx->tr->transactionff)))
			osip_transaction_execute(tx->tr, evt);
	}
}

static void free_dead(struct sip *s)
{
	struct sip_tx *tx;

	while ((tx = s->dead)) {
		s->dead = tx->dnext;
		osip_transaction_free2(tx->tr);
		tx->tr = NULL;
		s->n_tx--;
		mem_deref(tx);
	}
}

void sip_pump_run(struct sip *s, bool timers)
{
	/* Our queue first: it keeps the order in which we answered (the 200 for a CANCEL
	 * before the 487 for its INVITE); the timer pass runs the FIFOs shard by shard. */
	run_pending(s);
	if (timers)
		run_timers(s);
	free_dead(s);
}

/* Sleep until the earliest libosip2 timer, but never less than a tick. */
static ev_tstamp next_sleep(struct sip *s)
{
	ev_tstamp best = MAX_SLEEP;

	for (int i = 0; i < SIP_SHARDS; i++) {
		struct timeval tv = { MAX_SLEEP, 0 };

		osip_timers_gettimeout(s->osip[i], &tv);
		if (tv.tv_sec + tv.tv_usec / 1e6 < best)
			best = tv.tv_sec + tv.tv_usec / 1e6;
	}
	return best < SIP_TICK ? SIP_TICK : best;
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct sip *s = w->data;
	ev_tstamp now = ev_now(loop);
	bool timers = now >= s->next_tick && s->n_tx > 0;

	if (!timers && !s->pending_head && !s->dead)
		return;
	sip_pump_run(s, timers);
	if (!timers)
		return;
	s->next_tick = now + SIP_TICK;
	ev_timer_stop(loop, &s->timer);
	if (s->n_tx > 0) {
		ev_timer_set(&s->timer, next_sleep(s), 0.);
		ev_timer_start(loop, &s->timer);
	}
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* Nothing to do here: the prepare watcher runs the timers on the way to sleep. */
}

void sip_pump_kick(struct sip *s)
{
	/* A new transaction may need its first timer (RFC 3261 timer G, E) sooner. */
	if (!s->loop || (ev_is_active(&s->timer) &&
			 ev_timer_remaining(s->loop, &s->timer) <= SIP_TICK))
		return;
	ev_timer_stop(s->loop, &s->timer);
	ev_timer_set(&s->timer, SIP_TICK, 0.);
	ev_timer_start(s->loop, &s->timer);
}

void sip_pump_start(struct sip *s)
{
	ev_prepare_init(&s->prepare, on_prepare);
	s->prepare.data = s;
	ev_prepare_start(s->loop, &s->prepare);
	ev_init(&s->timer, on_timer);
	s->timer.data = s;
}

void sip_pump_stop(struct sip *s)
{
	ev_prepare_stop(s->loop, &s->prepare);
	ev_timer_stop(s->loop, &s->timer);
}
