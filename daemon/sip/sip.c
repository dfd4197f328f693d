/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SIP subsystem's life: libosip2 shards, sockets, the pump, Status facts. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xml.h"
#include "sip/sip-private.h"

static void add_socket(struct xml_writer *w, const char *transport, const char *name)
{
	xml_begin(w, "Sip");
	xml_attr(w, "transport", transport);
	xml_attr(w, "address", name);
	xml_end(w);
}

static void on_status(struct xml_writer *w, enum status_part part, void *arg)
{
	struct sip *s = arg;

	switch (part) {
	case STATUS_SIP:
		for (unsigned i = 0; i < s->n_udp; i++)
			add_socket(w, "udp", s->udp[i].name);
		for (unsigned i = 0; i < s->n_tcp; i++)
			add_socket(w, "tcp", s->tcp[i].name);
		break;
	case STATUS_COUNTS:
		xml_attrf(w, "sip-transactions", "%zu", s->n_tx);
		xml_attrf(w, "sip-connections", "%u", s->n_conns);
		xml_attrf(w, "sip-dialogs", "%u", s->n_dialogs);
		xml_attrf(w, "sip-messages", "%llu", (unsigned long long)s->stats.rx_messages);
		xml_attrf(w, "sip-dropped", "%llu",
			  (unsigned long long)(s->stats.rx_garbage + s->stats.rx_dropped +
					       s->stats.rx_flood));
		break;
	case STATUS_REGISTRATION:
		sip_registrations_status(s, w);
		break;
	default:
		break;
	}
}

static int shards_init(struct sip *s)
{
	for (int i = 0; i < SIP_SHARDS; i++) {
		if (osip_init(&s->osip[i]) != 0)
			return -ENOMEM;
		sip_pump_setup(s, s->osip[i]);
	}
	return 0;
}

static int sockets_start(struct sip *s)
{
	int r;

	/* With port 0 the kernel picks a free UDP port, which TCP may have in use: then
	 * let it pick again. */
	for (int attempt = 0;; attempt++) {
		r = udp_start(s);
		if (r == 0)
			r = tcp_start(s);
		if (r != -EADDRINUSE || s->cfg->sip_port != 0 || attempt == 8)
			break;
		tcp_stop(s);
		udp_stop(s);
	}
	/* Without a resolver (its error is logged) numeric hosts still work. */
	if (r == 0 && sip_dns_start(s) == -ENOMEM)
		r = -ENOMEM;
	if (r == 0)
		sip_pump_start(s);
	return r;
}

int sip_new(struct ev_loop *loop, const struct config *cfg, struct sip **ret)
{
	struct sip *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->cfg = cfg;
	s->port = -1;
	s->rxbuf = malloc(SIP_MAX_MESSAGE + 1);
	r = s->rxbuf ? sip_txindex_init(&s->ix) : -ENOMEM;
	if (r == 0)
		r = shards_init(s);
	if (r == 0 && loop)
		r = sockets_start(s);
	if (r < 0) {
		if (r == -ENOMEM)
			log_err("sip: out of memory");
		sip_free(s);
		return r;
	}
	status_register(on_status, s);
	log_notice("sip: ready on port %d (udp and tcp)", s->port);
	if (loop)
		sip_register_from_config(s);
	*ret = s;
	return 0;
}

/* Every transaction ends with the service: free them as the pump would. A client
 * transaction still waiting gets a local 503 so that its sender releases what it
 * holds; senders must not send from that handler (sip_request_send fails now). */
static void free_transactions(struct sip *s)
{
	for (size_t i = 0; i < s->ix.n_buckets && s->ix.b; i++)
		while (s->ix.b[i]) {
			struct sip_tx *tx = s->ix.b[i];

			osip_remove_transaction(tx->osip, tx->tr);
			sip_txindex_remove(&s->ix, tx);
			sip_tx_client_unlink(tx);
			tx->dead = true;
			tx->dnext = s->dead;
			s->dead = tx;
		}
	for (struct sip_tx *tx = s->dead; tx; tx = tx->dnext)
		if (tx->client && !tx->final_sent && tx->resp_h) {
			tx->final_sent = true;
			tx->resp_h(tx, 503, NULL, tx->resp_arg);
		}
	s->pending_head = s->pending_tail = NULL;
	sip_pump_run(s, false);
}

void sip_free(struct sip *s)
{
	if (!s)
		return;
	status_unregister(on_status, s);
	/* RFC 3261 10.2.2: remove our bindings; the REGISTERs leave now, unanswered. */
	if (s->n_regs && s->loop) {
		sip_register_stop(s);
		sip_pump_run(s, false);
	}
	if (s->loop) {
		sip_pump_stop(s);
		tcp_stop(s);
		udp_stop(s);
	}
	s->closing = true;
	/* Lookups in flight end (their requests get a local 503), then the attempts. */
	sip_dns_stop(s);
	free_transactions(s);
	sip_locates_free(s);
	sip_subs_free(s);
	sip_registrations_free(s);
	sip_dialogs_free(s);
	for (int i = 0; i < SIP_SHARDS; i++)
		if (s->osip[i])
			osip_release(s->osip[i]);
	sip_txindex_done(&s->ix);
	free(s->auth_user);
	free(s->auth_password);
	free(s->rxbuf);
	free(s);
}

void sip_set_config(struct sip *s, const struct config *cfg)
{
	const struct config *old = s->cfg;

	if (cfg->sip_port != old->sip_port ||
	    (cfg->sip_addr ? !old->sip_addr || strcmp(cfg->sip_addr, old->sip_addr) != 0
			   : old->sip_addr != NULL))
		log_notice("sip: a new SIP address or port takes effect at the next start");
	sip_dns_set_config(s, old, cfg);
	s->cfg = cfg;
}

int sip_port(const struct sip *s)
{
	return s->port;
}

const struct sip_stats *sip_stats_get(const struct sip *s)
{
	return &s->stats;
}

size_t sip_transactions_count(const struct sip *s)
{
	return s->n_tx;
}

void sip_set_invite_handler(struct sip *s, sip_invite_h *h, void *arg)
{
	s->invite_h = h;
	s->invite_arg = arg;
}

int sip_set_credentials(struct sip *s, const char *user, const char *password)
{
	char *u = user ? strdup(user) : NULL, *p = password ? strdup(password) : NULL;

	if ((user && !u) || (password && !p)) {
		free(u);
		free(p);
		return -ENOMEM;
	}
	free(s->auth_user);
	if (s->auth_password)
		explicit_bzero(s->auth_password, strlen(s->auth_password));
	free(s->auth_password);
	s->auth_user = u;
	s->auth_password = p;
	return 0;
}
