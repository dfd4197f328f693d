/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Building and sending responses: libosip2 has no response builder (notes/libraries.md). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "sip/sip-private.h"

/* xorshift64*: tags need to be unique, not secret (RFC 3261 19.3: 32 bits of randomness). */
static uint64_t next_random(void)
{
	static uint64_t x;

	if (x == 0 && (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x) || x == 0))
		x = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL | 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return x * 0x2545F4914F6CDD1DULL;
}

void sip_token(char buf[17])
{
	snprintf(buf, 17, "%016llx", (unsigned long long)next_random());
}

/* A 400 may answer a request that lacks some of these: copy what is there. */
static int copy_dialog_headers(const osip_message_t *req, osip_message_t *r)
{
	if (osip_list_clone(&req->vias, &r->vias, (int (*)(void *, void **))osip_via_clone) < 0 ||
	    (req->from && osip_from_clone(req->from, &r->from) < 0) ||
	    (req->to && osip_to_clone(req->to, &r->to) < 0) ||
	    (req->call_id && osip_call_id_clone(req->call_id, &r->call_id) < 0) ||
	    (req->cseq && osip_cseq_clone(req->cseq, &r->cseq) < 0))
		return -ENOMEM;
	return 0;
}

osip_message_t *sip_response_new(const osip_message_t *req, int status, const char *reason,
				 const char *tag)
{
	osip_message_t *r = NULL;
	osip_generic_param_t *t = NULL;
	const char *phrase = reason ? reason : osip_message_get_reason(status);

	if (osip_message_init(&r) < 0)
		return NULL;
	osip_message_set_version(r, osip_strdup("SIP/2.0"));
	osip_message_set_status_code(r, status);
	osip_message_set_reason_phrase(r, osip_strdup(phrase ? phrase : "Unknown"));
	if (!r->sip_version || !r->reason_phrase || copy_dialog_headers(req, r) < 0)
		goto fail;
	/* RFC 3261 8.2.6.2: a UAS adds a To tag to every response but 100 (Trying). */
	if (r->to)
		osip_to_get_tag(r->to, &t);
	if (r->to && status != 100 && tag && !t && osip_to_set_tag(r->to, osip_strdup(tag)) < 0)
		goto fail;
	if (osip_message_set_header(r, "Server", "sipsvcd/" PACKAGE_VERSION) < 0 ||
	    osip_message_set_content_length(r, "0") < 0)
		goto fail;
	return r;
fail:
	osip_message_free(r);
	return NULL;
}

int sip_response_add(osip_message_t *resp, const char *name, const char *value)
{
	return osip_message_set_header(resp, name, value) < 0 ? -ENOMEM : 0;
}

int sip_send_to(struct sip *s, const struct sip_src *src, osip_message_t *msg, const char *host,
		int port)
{
	union sip_sockaddr to;
	socklen_t len;
	char *buf = NULL;
	size_t n;
	int r;

	if (osip_message_to_str(msg, &buf, &n) < 0)
		return -ENOMEM;
	if (!s->loop) {
		/* No sockets (fuzzing, unit tests): serialised, counted, not sent. */
		osip_free(buf);
		s->stats.tx_messages++;
		return 0;
	}
	r = sip_addr_parse(host, port, &to, &len);
	if (r < 0 && src->is_tcp) {
		/* No numeric destination: only the connection it came on can carry it. */
		to = src->peer;
		len = src->peer_len;
		r = 0;
	}
	if (r == 0)
		r = src->is_tcp ? tcp_send(s, src->fd, &src->peer, &to, len, buf, n)
				: udp_send(s, src->fd, &to, len, buf, n);
	osip_free(buf);
	if (r < 0)
		s->stats.tx_errors++;
	else
		s->stats.tx_messages++;
	return r;
}

int sip_send_stateless(struct sip *s, const struct sip_src *src, osip_message_t *resp)
{
	char *host = NULL;
	int port = 5060, r;

	/* RFC 3261 18.2.2 with RFC 3581: received, then rport, from the top Via. */
	osip_response_get_destination(resp, &host, &port);
	r = host ? sip_send_to(s, src, resp, host, port) : -EINVAL;
	osip_free(host);
	osip_message_free(resp);
	return r;
}
