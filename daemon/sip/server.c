/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The service's own answers as a UAS (RFC 3261 8.2), in the order of that section:
 * method (405), merged requests (482), Require (420), then the method itself. Requests
 * inside dialogs we do not have get 481 (RFC 3261 12.2.2); methods features claimed
 * (claim.c) go to them; INVITE goes to its claimers, then to the call subsystem when
 * one is registered, else 480.
 *
 * Non-INVITE requests that get a fixed answer are answered statelessly (RFC 3261
 * 8.2.7): a libosip2 transaction costs 15 KiB (osip_transaction_t embeds an SRV
 * record) and a UDP one lives 32 s (timer J), so at 2,000 OPTIONS/s transactions
 * would hold about 1 GB. A retransmission is simply answered again, with the same To
 * tag because the tag is derived from the request's transaction key.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip/sip-private.h"

/* What to answer: status, reason (NULL: the RFC's), one extra header. */
struct answer {
	int status;
	const char *reason;
	const char *name;
	const char *value;
	char buf[512];
};

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

static void set(struct answer *a, int status, const char *reason, const char *name,
		const char *value)
{
	a->status = status;
	a->reason = reason;
	a->name = name;
	a->value = value;
}

/*
 * RFC 3261 8.2.2.3: every option tag in Require that we do not support is listed in
 * Unsupported of a 420. We support no extension yet, so every tag is unknown.
 */
static bool check_require(const osip_message_t *req, struct answer *a)
{
	osip_header_t *h = NULL;
	size_t n = 0;

	a->buf[0] = '\0';
	for (int i = 0; osip_message_get_require(req, i, &h) >= 0 && h; i++, h = NULL)
		if (h->hvalue && *h->hvalue && n < sizeof(a->buf) - 1)
			n += snprintf(a->buf + n, sizeof(a->buf) - n, "%s%s", n ? ", " : "",
				      h->hvalue);
	if (n == 0)
		return false;
	set(a, 420, NULL, "Unsupported", a->buf);
	return true;
}

/*
 * RFC 3891 3: an INVITE whose Replaces matches no dialog gets 481. We replace no
 * dialog (Supported does not list "replaces"), so none ever matches: a peer cannot
 * take over a call this way, nor have its INVITE ring the user's device as if new.
 */
static bool has_replaces(const osip_message_t *req)
{
	osip_header_t *h = NULL;

	return osip_message_header_get_byname(req, "Replaces", 0, &h) >= 0 && h;
}

/* RFC 3261 8.2.3: an INVITE body we cannot read gets 415 with what we accept. */
static bool check_content(const osip_message_t *req, struct answer *a)
{
	const osip_content_type_t *ct = req->content_type;
	const char *cl = req->content_length ? req->content_length->value : NULL;

	if (!cl || strcmp(cl, "0") == 0)
		return false;
	if (ct && ct->type && ct->subtype && strcasecmp(ct->type, "application") == 0 &&
	    strcasecmp(ct->subtype, "sdp") == 0)
		return false;
	set(a, 415, NULL, "Accept", "application/sdp");
	return true;
}

/*
 * The answer the service gives by itself; status 0: the method's own handling, or the
 * claimers' when @p claimed (they also see requests with a To tag that match none of
 * our dialogs: subscriptions they keep themselves).
 */
static void decide(const struct sip *s, const osip_message_t *req, bool merged,
		   struct answer *a)
{
	const char *m = req->sip_method;
	bool claimed = sip_claimed(s, m);

	set(a, 0, NULL, NULL, NULL);
	/* RFC 3261 16.3 step 3: the service relays requests for the user's devices, so
	 * Max-Forwards 0 ends here, except OPTIONS, which it may answer itself (11). */
	if (max_forwards(req) == 0 && strcmp(m, "OPTIONS") != 0)
		set(a, 483, NULL, NULL, NULL);
	else if (!sip_builtin_method(m) && !claimed)
		set(a, 405, NULL, "Allow", sip_allow(s));
	else if (merged)
		set(a, 482, "Loop Detected (Merged Request)", NULL, NULL);
	else if (check_require(req, a))
		return;
	/* RFC 3261 12.2.2 and 15.1.2: no dialog exists yet, so none can match. */
	else if (claimed && strcmp(m, "INVITE") != 0)
		return;
	else if (has_to_tag(req) || strcmp(m, "BYE") == 0)
		set(a, 481, NULL, NULL, NULL);
	else if (strcmp(m, "OPTIONS") == 0)
		set(a, 200, NULL, NULL, NULL);
	else if (strcmp(m, "INVITE") == 0 && has_replaces(req))
		set(a, 481, "Replaces Matches No Dialog", NULL, NULL);
	else if (strcmp(m, "INVITE") == 0)
		check_content(req, a);
	else
		set(a, 500, "Unhandled Method", NULL, NULL);
}

/* RFC 3261 11.2: what we accept and support. */
static int add_capabilities(const struct sip *s, osip_message_t *r)
{
	if (sip_response_add(r, "Allow", sip_allow(s)) < 0 ||
	    sip_response_add(r, "Accept", "application/sdp") < 0 ||
	    sip_response_add(r, "Accept-Encoding", "identity") < 0 ||
	    sip_response_add(r, "Accept-Language", "en") < 0 ||
	    sip_response_add(r, "Supported", "") < 0)
		return -ENOMEM;
	return 0;
}

static osip_message_t *build(const struct sip *s, const osip_message_t *req,
			     const struct answer *a, const char *tag)
{
	osip_message_t *r = sip_response_new(req, a->status, a->reason, tag);
	int k = 0;

	if (r && a->name)
		k = sip_response_add(r, a->name, a->value);
	if (r && k == 0 && a->status == 200 && strcmp(req->sip_method, "OPTIONS") == 0)
		k = add_capabilities(s, r);
	if (r && k < 0) {
		osip_message_free(r);
		r = NULL;
	}
	return r;
}

static void reply(struct sip_tx *tx, const struct answer *a)
{
	osip_message_t *r = build(tx->sip, tx->req, a, tx->tag);

	if (r)
		sip_tx_send(tx, r);
}

bool sip_server_stateless(struct sip *s, const struct sip_src *src, const osip_message_t *req,
			  const char *key)
{
	struct answer a;
	osip_message_t *r;
	char tag[17];

	if (strcmp(req->sip_method, "INVITE") == 0 || strcmp(req->sip_method, "CANCEL") == 0)
		return false;
	/* Requests inside our dialogs go to their owners, on a transaction. */
	if (has_to_tag(req) && sip_dialog_find_uas(s, req))
		return false;
	decide(s, req, false, &a);
	if (a.status == 0)
		return false;
	/* RFC 3261 8.2.7: the same request always gets the same tag. */
	sip_txindex_tag(&s->ix, key, tag);
	r = build(s, req, &a, tag);
	if (r)
		sip_send_stateless(s, src, r);
	return true;
}

static void on_invite(struct sip *s, struct sip_tx *tx)
{
	static const struct answer trying = { .status = 100 };
	static const struct answer unavailable = { .status = 480,
						   .reason = "No Call Handling Yet" };

	/* RFC 3261 17.2.1: 100 Trying at once, as the answer may take longer than 200 ms. */
	reply(tx, &trying);
	if (sip_claims_offer(s, tx))
		return;
	if (s->invite_h)
		s->invite_h(tx, s->invite_arg);
	else
		reply(tx, &unavailable);
}

/* A claimed method nobody took: RFC 3261 12.2.2 with a To tag, else 21.5.2. */
static const struct answer unclaimed[] = {
	{ .status = 481 },
	{ .status = 501, .reason = "Not Implemented Here" },
};

void sip_server_request(struct sip *s, struct sip_tx *tx)
{
	struct sip_dialog *d = has_to_tag(tx->req) ? sip_dialog_find_uas(s, tx->req) : NULL;
	struct answer a;

	/* RFC 3261 12.2.2: a request inside one of our dialogs. */
	if (d && max_forwards(tx->req) > 0) {
		sip_dialog_request_in(d, tx);
		return;
	}

	decide(s, tx->req, tx->merged, &a);
	if (a.status)
		reply(tx, &a);
	else if (strcmp(tx->req->sip_method, "INVITE") == 0)
		on_invite(s, tx);
	else if (!sip_claims_offer(s, tx))
		reply(tx, &unclaimed[!has_to_tag(tx->req)]);
}

void sip_server_cancel(struct sip *s, struct sip_tx *tx)
{
	static const struct answer ok = { .status = 200 }, none = { .status = 481 };
	char *key = sip_txkey_server(tx->req, "INVITE");
	struct sip_tx *inv = key ? sip_txindex_find(&s->ix, key) : NULL;

	free(key);
	/* RFC 3261 9.2: a CANCEL matching no transaction gets 481; one whose INVITE has
	 * already a final response gets 200 and changes nothing. */
	if (!inv || inv->dead) {
		reply(tx, &none);
		return;
	}
	reply(tx, &ok);
	if (!inv->final_sent && sip_tx_reply(inv, 487, NULL) == 0 && inv->cancel_h)
		inv->cancel_h(inv, inv->cancel_arg);
}
