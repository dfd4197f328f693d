/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Validation of a parsed message before any state machine sees it. libosip2's parser
 * is lenient: it accepts a request without Via, or whose CSeq method differs from the
 * request method. Each check names what is wrong so that the 400 says it.
 * Pure code on untrusted input: no logging.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sip/sip-private.h"

/* RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
static bool is_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-.!%*_+`'~", *s)))
			return false;
	return true;
}

/* 1 to @p max_digits decimal digits with a value of at most @p max. */
static bool is_number(const char *s, size_t max_digits, unsigned long max)
{
	unsigned long v = 0;
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n == max_digits)
			return false;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	return n > 0 && v <= max;
}

#define REJECT(st, why)                                                                            \
	do {                                                                                       \
		*status = (st);                                                                    \
		*reason = (why);                                                                   \
		return SIP_VERDICT_REJECT;                                                         \
	} while (0)

/* The top Via is what a response is routed by (RFC 3261 18.2.2): without it, drop. */
static enum sip_verdict check_via(const osip_message_t *m, int *status, const char **reason)
{
	const osip_via_t *via = osip_list_get(&m->vias, 0);

	if (!via || !via->host || !*via->host || !via->protocol)
		return SIP_VERDICT_DROP;
	if (!via->version || strcmp(via->version, "2.0") != 0)
		REJECT(400, "Bad Via Version");
	if (via->port && !is_number(via->port, 5, 65535))
		REJECT(400, "Bad Via Port");
	if (osip_list_size(&m->vias) > SIP_MAX_VIAS)
		REJECT(400, "Too Many Via Headers");
	return SIP_VERDICT_OK;
}

/* RFC 3261 8.2.2.1: we take sip:, sips: and tel: URIs; others get 416. */
static enum sip_verdict check_uri(const osip_message_t *m, int *status, const char **reason)
{
	const char *sch = m->req_uri ? m->req_uri->scheme : NULL;

	if (!sch)
		REJECT(400, "Bad Request-URI");
	if (strcasecmp(sch, "sip") != 0 && strcasecmp(sch, "sips") != 0 &&
	    strcasecmp(sch, "tel") != 0)
		REJECT(416, NULL);
	if (strcasecmp(sch, "tel") != 0 && (!m->req_uri->host || !*m->req_uri->host))
		REJECT(400, "Bad Request-URI");
	return SIP_VERDICT_OK;
}

/* RFC 3261 8.1.1: To, From, Call-ID, CSeq, Max-Forwards and Via are mandatory. */
static enum sip_verdict check_headers(const osip_message_t *m, int *status, const char **reason)
{
	osip_header_t *mf = NULL;

	if (!m->from || !m->from->url)
		REJECT(400, "Missing From");
	if (!m->to || !m->to->url)
		REJECT(400, "Missing To");
	if (!m->call_id || !m->call_id->number || !*m->call_id->number)
		REJECT(400, "Missing Call-ID");
	if (!m->cseq || !m->cseq->number || !m->cseq->method)
		REJECT(400, "Missing CSeq");
	/* RFC 3261 8.1.1.5: a 32-bit unsigned integer below 2**31. */
	if (!is_number(m->cseq->number, 10, 2147483647UL))
		REJECT(400, "Bad CSeq");
	if (strcmp(m->cseq->method, m->sip_method) != 0)
		REJECT(400, "CSeq Method Mismatch");
	if (osip_message_get_max_forwards(m, 0, &mf) < 0 || !mf)
		REJECT(400, "Missing Max-Forwards");
	if (!is_number(mf->hvalue, 3, 255))
		REJECT(400, "Bad Max-Forwards");
	if (osip_message_get_max_forwards(m, 1, &mf) >= 0)
		REJECT(400, "Multiple Max-Forwards");
	return SIP_VERDICT_OK;
}

/* RFC 3261 18.3: a datagram shorter than its Content-Length is rejected. */
static enum sip_verdict check_length(const osip_message_t *m, size_t body_len, int *status,
				     const char **reason)
{
	const char *cl = m->content_length ? m->content_length->value : NULL;

	if (!cl)
		return SIP_VERDICT_OK;
	if (!is_number(cl, 7, SIP_MAX_MESSAGE))
		REJECT(400, "Bad Content-Length");
	if (strtoul(cl, NULL, 10) > body_len)
		REJECT(400, "Content-Length Too Large");
	return SIP_VERDICT_OK;
}

enum sip_verdict sip_validate_request(const osip_message_t *m, size_t body_len, int *status,
				      const char **reason)
{
	enum sip_verdict v;

	if (!m->sip_method || !m->sip_version)
		return SIP_VERDICT_DROP;
	v = check_via(m, status, reason);
	if (v != SIP_VERDICT_OK)
		return v;
	/* Everything after this point can be answered: the Vias are there. */
	v = check_headers(m, status, reason);
	if (v != SIP_VERDICT_OK)
		return v;
	if (strcmp(m->sip_version, "SIP/2.0") != 0)
		REJECT(505, NULL);
	if (!is_token(m->sip_method))
		REJECT(400, "Bad Method");
	v = check_uri(m, status, reason);
	if (v == SIP_VERDICT_OK)
		v = check_length(m, body_len, status, reason);
	return v;
}

enum sip_verdict sip_validate_response(const osip_message_t *m)
{
	const osip_via_t *via = osip_list_get(&m->vias, 0);

	if (!via || !via->host || !m->cseq || !m->cseq->method || !m->cseq->number ||
	    !m->call_id || !m->call_id->number || !m->from || !m->to)
		return SIP_VERDICT_DROP;
	if (m->status_code < 100 || m->status_code > 699)
		return SIP_VERDICT_DROP;
	return SIP_VERDICT_OK;
}
