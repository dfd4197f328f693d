/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The service's own answers as a UAS (RFC 3261 8.2), in the order of that section:
 * method (405), merged requests (482), Require (420), then the method itself. Requests
 * inside dialogs we do not have get 481 (RFC 3261 12.2.2); INVITE goes to the call
 * subsystem when one is registered, else 480.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip/sip-private.h"

static const char *const allowed[] = { "INVITE", "ACK", "CANCEL", "OPTIONS", "BYE" };

static bool method_allowed(const char *m)
{
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
		if (strcmp(m, allowed[i]) == 0)
			return true;
	return false;
}

static bool has_to_tag(const osip_message_t *m)
{
	osip_generic_param_t *t = NULL;

	osip_to_get_tag(m->to, &t);
	return t != NULL;
}

static int max_forwards(const osip_message_t *m)
{
	osip_header_t *h = NULL;

	osip_message_get_max_forwards(m, 0, &h);
	return h && h->hvalue ? atoi(h->hvalue) : 70;
}

/* Answer @p tx with @p status and one extra header (NULL: none). */
static void reply(struct sip_tx *tx, int status, const char *reason, const char *name,
		  const char *value)
{
	osip_message_t *r = sip_response_new(tx->req, status, reason, tx->tag);

	if (r && name && sip_response_add(r, name, value) < 0) {
		osip_message_free(r);
		r = NULL;
	}
	if (r)
		sip_tx_send(tx, r);
}

/*
 * RFC 3261 8.2.2.3: every option tag in Require that we do not support is listed in
 * Unsupported of a 420. We support no extension yet, so every tag is unknown.
 * Returns true if the request was rejected.
 */
static bool check_require(struct sip_tx *tx)
{
	char list[512] = "";
	osip_header_t *h = NULL;
	size_t n = 0;

	for (int i = 0; osip_message_get_require(tx->req, i, &h) >= 0 && h; i++) {
		if (h->hvalue && *h->hvalue && n < sizeof(list) - 1)
			n += snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "",
				      h->hvalue);
		h = NULL;
	}
	if (n == 0)
		return false;
	if (n >= sizeof(list))
		n = sizeof(list) - 1;
	reply(tx, 420, NULL, "Unsupported", list);
	return true;
}

/* RFC 3261 11.2: what we accept and support. */
static void reply_options(struct sip_tx *tx)
{
	osip_message_t *r = sip_response_new(tx->req, 200, NULL, tx->tag);

	if (r && (sip_response_add(r, "Allow", SIP_ALLOW) < 0 ||
		  sip_response_add(r, "Accept", "application/sdp") < 0 ||
		  sip_response_add(r, "Accept-Encoding", "identity") < 0 ||
		  sip_response_add(r, "Accept-Language", "en") < 0 ||
		  sip_response_add(r, "Supported", "") < 0)) {
		osip_message_free(r);
		r = NULL;
	}
	if (r)
		sip_tx_send(tx, r);
}

/* RFC 3261 8.2.3: an INVITE body we cannot read gets 415 with what we accept. */
static bool check_content(struct sip_tx *tx)
{
	const osip_content_type_t *ct = tx->req->content_type;
	const char *cl = tx->req->content_length ? tx->req->content_length->value : NULL;

	if (!cl || strcmp(cl, "0") == 0)
		return false;
	if (ct && ct->type && ct->subtype && strcasecmp(ct->type, "application") == 0 &&
	    strcasecmp(ct->subtype, "sdp") == 0)
		return false;
	reply(tx, 415, NULL, "Accept", "application/sdp");
	return true;
}

static void on_invite(struct sip *s, struct sip_tx *tx)
{
	if (check_content(tx))
		return;
	/* RFC 3261 17.2.1: 100 Trying at once, as the answer may take longer than 200 ms. */
	reply(tx, 100, NULL, NULL, NULL);
	if (s->invite_h) {
		s->invite_h(tx, s->invite_arg);
		return;
	}
	reply(tx, 480, "No Call Handling Yet", NULL, NULL);
}

void sip_server_request(struct sip *s, struct sip_tx *tx)
{
	const char *m = tx->req->sip_method;

	/* RFC 3261 16.3 step 3: the service relays requests for the user's devices, so
	 * Max-Forwards 0 ends here, except OPTIONS, which it may answer itself (11). */
	if (max_forwards(tx->req) == 0 && strcmp(m, "OPTIONS") != 0)
		reply(tx, 483, NULL, NULL, NULL);
	else if (!method_allowed(m))
		reply(tx, 405, NULL, "Allow", SIP_ALLOW);
	else if (tx->merged)
		reply(tx, 482, "Loop Detected (Merged Request)", NULL, NULL);
	else if (check_require(tx))
		return;
	/* RFC 3261 12.2.2 and 15.1.2: no dialog exists yet, so none can match. */
	else if (has_to_tag(tx->req) || strcmp(m, "BYE") == 0)
		reply(tx, 481, NULL, NULL, NULL);
	else if (strcmp(m, "OPTIONS") == 0)
		reply_options(tx);
	else if (strcmp(m, "INVITE") == 0)
		on_invite(s, tx);
	else
		reply(tx, 500, "Unhandled Method", NULL, NULL);
}

void sip_server_cancel(struct sip *s, struct sip_tx *tx)
{
	char *key = sip_txkey_server(tx->req, "INVITE");
	struct sip_tx *inv = key ? sip_txindex_find(&s->ix, key) : NULL;

	free(key);
	/* RFC 3261 9.2: a CANCEL matching no transaction gets 481; one whose INVITE has
	 * already a final response gets 200 and changes nothing. */
	if (!inv || inv->dead) {
		reply(tx, 481, NULL, NULL, NULL);
		return;
	}
	reply(tx, 200, NULL, NULL, NULL);
	if (!inv->final_sent)
		sip_tx_reply(inv, 487, NULL);
}
