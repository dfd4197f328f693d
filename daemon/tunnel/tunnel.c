/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pending tunnelled requests: each waits for its final response, which the SIP core
 * always delivers (sip_free() answers what is left with a local 503). */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sip/sip.h"
#include "tunnel/tunnel-private.h"

struct pending {
	struct tunnel *t; /* NULL once the tunnel is gone: the response is dropped */
	struct origin o;
	struct pending *next, *prev;
	char call[24], leg[8]; /* in-dialog: the leg the events name */
};

/* The identity of the config, else the login name at this host (DESIGN.md). */
static char *identity(const struct config *cfg)
{
	struct passwd *pw = getpwuid(getuid());
	char host[256] = "localhost", *s = NULL;

	if (cfg->identity_uri)
		return strdup(cfg->identity_uri);
	gethostname(host, sizeof(host) - 1);
	if (asprintf(&s, "sip:%s@%s", pw && pw->pw_name ? pw->pw_name : "user", host) < 0)
		return NULL;
	return s;
}

int tunnel_new(struct sip *sip, const struct config *cfg, struct tunnel **ret)
{
	struct tunnel *t = calloc(1, sizeof(*t));

	if (!t || !(t->from = identity(cfg))) {
		free(t);
		return -ENOMEM;
	}
	t->sip = sip;
	*ret = t;
	return 0;
}

void tunnel_set_config(struct tunnel *t, const struct config *cfg)
{
	char *from = identity(cfg);

	if (!from)
		return; /* keep the old identity rather than none */
	free(t->from);
	t->from = from;
}

static void unlink_pending(struct pending *p)
{
	struct tunnel *t = p->t;

	if (!t)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		t->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	t->n--;
	p->t = NULL;
}

void tunnel_free(struct tunnel *t)
{
	if (!t)
		return;
	while (t->head)
		unlink_pending(t->head); /* freed by their final response */
	tunnel_listen_stop(t);
	free(t->from);
	free(t);
}

size_t tunnel_pending(const struct tunnel *t)
{
	return t->n;
}

static void on_response(struct sip_tx *tx, int status, const struct osip_message *resp,
			void *arg)
{
	struct pending *p = arg;

	if (p->t)
		event_emit(EVENT_TUNNEL, &p->o,
			   tunnel_response_event(&p->o, status, resp, p->call[0] ? p->call : NULL,
						 p->leg));
	if (status < 200)
		return;
	unlink_pending(p);
	free(p);
}

static void link_pending(struct tunnel *t, struct pending *p)
{
	p->t = t;
	p->next = t->head;
	if (t->head)
		t->head->prev = p;
	t->head = p;
	t->n++;
}

/* Out of dialog: our own From/To/Call-ID, the stack's routing to the Request-URI. */
static int send_dialogless(struct tunnel *t, const struct tunnel_request *rq,
			   struct pending *p, char *err, size_t errlen)
{
	osip_message_t *m = NULL;
	int r = tunnel_build(rq, t->from, &m, err, errlen);

	if (r < 0)
		return r;
	r = sip_request_send(t->sip, m, rq->tcp, on_response, p, NULL); /* takes m */
	if (r < 0)
		snprintf(err, errlen, "cannot send to %s: %s", rq->uri, strerror(-r));
	return r;
}

/* RFC 3261 12.2.1.1: the dialog's remote target, Route set, tags, Call-ID and CSeq;
 * rq->uri is not used. */
static int send_in_dialog(const struct tunnel_request *rq, struct pending *p, char *err,
			  size_t errlen)
{
	_cleanup_(freep) char *headers = NULL;
	int r = tunnel_header_lines(rq->headers, rq->n_headers, &headers);

	if (r == 0)
		r = sip_dialog_request_with(rq->dialog, rq->method, headers, rq->body_type,
					    rq->body_type ? rq->body : NULL, on_response, p);
	if (r == -ENOTCONN)
		snprintf(err, errlen, "the %s leg of %s has no dialog any more", rq->leg, rq->call);
	else if (r < 0)
		snprintf(err, errlen, "cannot send %s in the %s leg of %s: %s", rq->method,
			 rq->leg, rq->call, strerror(-r));
	return r;
}

int tunnel_send(struct tunnel *t, const struct origin *o, const struct tunnel_request *rq,
		char *err, size_t errlen)
{
	struct pending *p;
	int r;

	if (t->n >= TUNNEL_MAX_PENDING) {
		snprintf(err, errlen, "%d tunnelled requests are waiting for answers; retry later",
			 TUNNEL_MAX_PENDING);
		return -EBUSY;
	}
	r = tunnel_check(rq, err, errlen);
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->o = *o;
	if (rq->dialog) {
		snprintf(p->call, sizeof(p->call), "%s", rq->call);
		snprintf(p->leg, sizeof(p->leg), "%s", rq->leg);
	}
	r = rq->dialog ? send_in_dialog(rq, p, err, errlen)
		       : send_dialogless(t, rq, p, err, errlen);
	if (r < 0) {
		free(p);
		return r;
	}
	link_pending(t, p);
	return 0;
}
