/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Registration (RFC 3261 10.2): one REGISTER binding kept fresh at 90 % of the
 * granted expiry, a back-off after failures, 423 answered with the Min-Expires asked
 * for (10.2.8), and an unregistration (Expires: 0) at stop. Digest challenges are
 * answered by the client transaction layer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xml.h"
#include "sip/sip-private.h"

#define BACKOFF_MIN 5.0
#define BACKOFF_MAX 600.0

static const char *const state_names[] = {
	[SIP_REG_REGISTERING] = "registering", [SIP_REG_REGISTERED] = "registered",
	[SIP_REG_FAILED] = "failed",           [SIP_REG_UNREGISTERING] = "unregistering",
	[SIP_REG_UNREGISTERED] = "unregistered",
};

const char *sip_reg_state_to_string(enum sip_reg_state st)
{
	return st >= 0 && st < _SIP_REG_STATE_MAX ? state_names[st] : NULL;
}

static void reg_destroy(void *data)
{
	struct sip_reg *r = data;

	if (r->sip && r->sip->loop)
		ev_timer_stop(r->sip->loop, &r->timer);
	free(r->registrar);
	free(r->aor);
}

static osip_message_t *register_new(struct sip_reg *r, int expires)
{
	char text[1024], exp[16];
	osip_event_t *e;
	osip_message_t *m;

	/* RFC 3261 10.2: the same Call-ID for every REGISTER of this binding, CSeq up. */
	snprintf(exp, sizeof(exp), "%d", expires);
	snprintf(text, sizeof(text),
		 "REGISTER %s SIP/2.0\r\nMax-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>\r\n"
		 "Call-ID: %s\r\nCSeq: %u REGISTER\r\nExpires: %s\r\nContent-Length: 0\r\n\r\n",
		 r->registrar, r->aor, r->tag, r->aor, r->call_id, ++r->cseq, exp);
	e = osip_parse(text, strlen(text));
	if (!e)
		return NULL;
	m = e->sip;
	e->sip = NULL;
	osip_event_free(e);
	return m; /* our Contact is added toward the registrar's address (SIP_SEND_CONTACT) */
}

/* RFC 3261 10.2.4: our Contact's expires parameter, else Expires, else what we asked. */
static int granted_expiry(const struct sip_reg *r, const osip_message_t *resp)
{
	osip_header_t *h = NULL;

	for (int i = 0; i < osip_list_size(&resp->contacts); i++) {
		osip_contact_t *c = osip_list_get(&resp->contacts, i);
		osip_generic_param_t *p = NULL;

		osip_contact_param_get_byname(c, "expires", &p);
		if (p && p->gvalue && c->url && c->url->port && atoi(c->url->port) == r->sip->port)
			return atoi(p->gvalue);
	}
	osip_message_get_expires(resp, 0, &h);
	return h && h->hvalue ? atoi(h->hvalue) : r->expires;
}

static void schedule(struct sip_reg *r, double after)
{
	if (!r->sip->loop)
		return;
	ev_timer_stop(r->sip->loop, &r->timer);
	ev_timer_set(&r->timer, after, 0.);
	ev_timer_start(r->sip->loop, &r->timer);
}

static int send_register(struct sip_reg *r, int expires);

static void on_success(struct sip_reg *r, const osip_message_t *resp)
{
	r->granted = granted_expiry(r, resp);
	r->backoff = BACKOFF_MIN;
	r->state = SIP_REG_REGISTERED;
	if (r->granted > 0)
		schedule(r, r->granted * 0.9);
	log_info("sip: registered %s at %s for %d s", r->aor, r->registrar, r->granted);
}

static void on_failure(struct sip_reg *r, int status, const osip_message_t *resp)
{
	osip_header_t *min = NULL;

	/* RFC 3261 10.2.8: 423 tells the shortest expiry the registrar takes. */
	if (status == 423 && resp && osip_message_header_get_byname(resp, "min-expires", 0, &min) >= 0 &&
	    min && atoi(min->hvalue) > r->expires) {
		r->expires = atoi(min->hvalue);
		send_register(r, r->expires);
		return;
	}
	r->state = SIP_REG_FAILED;
	schedule(r, r->backoff);
	log_warn("sip: registration of %s at %s failed (%d); again in %.0f s", r->aor,
		 r->registrar, status, r->backoff);
	r->backoff = r->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : r->backoff * 2;
}

static void on_response(struct sip_tx *tx, int status, const osip_message_t *resp, void *arg)
{
	struct sip_reg *r = arg;

	if (status < 200)
		return;
	r->busy = false;
	r->last_status = status;
	/* The auth layer may have sent it again with a higher CSeq. */
	if (resp && resp->cseq && (unsigned)atoi(resp->cseq->number) > r->cseq)
		r->cseq = (unsigned)atoi(resp->cseq->number);
	if (r->state == SIP_REG_UNREGISTERING)
		r->state = SIP_REG_UNREGISTERED;
	else if (status < 300)
		on_success(r, resp);
	else
		on_failure(r, status, resp);
	mem_deref(r);
}

static int send_register(struct sip_reg *r, int expires)
{
	osip_message_t *m = register_new(r, expires);
	int e;

	if (!m)
		return -ENOMEM;
	e = sip_request_send_flags(r->sip, m, r->tcp, SIP_SEND_CONTACT, on_response, mem_ref(r),
				   NULL);
	if (e < 0) {
		mem_deref(r);
		return e;
	}
	r->busy = true;
	if (r->state != SIP_REG_UNREGISTERING)
		r->state = r->state == SIP_REG_REGISTERED ? SIP_REG_REGISTERED : SIP_REG_REGISTERING;
	return 0;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_reg *r = w->data;

	if (!r->busy && send_register(r, r->expires) < 0)
		schedule(r, r->backoff);
}

int sip_register_start(struct sip *s, const char *registrar, const char *aor, int expires,
		       bool tcp, struct sip_reg **ret)
{
	struct sip_reg *r;
	int e;

	if (s->n_regs >= SIP_MAX_REGS)
		return -ENOSPC;
	r = mem_zalloc(sizeof(*r), reg_destroy);
	if (!r || !(r->registrar = strdup(registrar)) || !(r->aor = strdup(aor))) {
		mem_deref(r);
		return -ENOMEM;
	}
	r->sip = s;
	r->tcp = tcp;
	r->expires = expires > 0 ? expires : 3600;
	r->backoff = BACKOFF_MIN;
	sip_token(r->tag);
	sip_token(r->call_id);
	ev_init(&r->timer, on_timer);
	r->timer.data = r;
	e = send_register(r, r->expires);
	if (e < 0) {
		mem_deref(r);
		return e;
	}
	s->regs[s->n_regs++] = r;
	if (ret)
		*ret = r;
	return 0;
}

void sip_register_stop(struct sip *s)
{
	for (unsigned i = 0; i < s->n_regs; i++) {
		struct sip_reg *r = s->regs[i];

		if (s->loop)
			ev_timer_stop(s->loop, &r->timer);
		/* RFC 3261 10.2.2: Expires 0 removes our binding. */
		if (r->state == SIP_REG_REGISTERED || r->busy) {
			r->state = SIP_REG_UNREGISTERING;
			send_register(r, 0);
		}
	}
}

void sip_registrations_free(struct sip *s)
{
	for (unsigned i = 0; i < s->n_regs; i++)
		mem_deref(s->regs[i]);
	s->n_regs = 0;
}

void sip_registrations_status(struct sip *s, struct xml_writer *w)
{
	for (unsigned i = 0; i < s->n_regs; i++) {
		struct sip_reg *r = s->regs[i];

		xml_begin(w, "Registration");
		xml_attr(w, "aor", r->aor);
		xml_attr(w, "registrar", r->registrar);
		xml_attr(w, "state", sip_reg_state_to_string(r->state));
		if (r->state == SIP_REG_REGISTERED)
			xml_attrf(w, "expires", "%d", r->granted);
		if (r->last_status)
			xml_attrf(w, "sip-status", "%d", r->last_status);
		xml_end(w);
	}
}

void sip_unregister_all(struct sip *s)
{
	sip_register_stop(s);
}

enum sip_reg_state sip_reg_state(const struct sip_reg *r)
{
	return r->state;
}

/* A password file must be ours and unreadable by others (like an ssh key). */
static int read_password_file(const char *path, char **ret)
{
	char line[512];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (st.st_uid != getuid() || (st.st_mode & 077))
		r = -EPERM;
	n = r == 0 ? read(fd, line, sizeof(line) - 1) : 0;
	close(fd);
	if (r == 0 && n < 0)
		r = -EIO;
	if (r < 0)
		return r;
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	*ret = strdup(line);
	explicit_bzero(line, sizeof(line));
	return *ret ? 0 : -ENOMEM;
}

void sip_register_from_config(struct sip *s)
{
	const struct config *c = s->cfg;
	char *pw = NULL;
	int r;

	if (!c->reg_registrar)
		return;
	if (!c->identity_uri) {
		log_err("sip: <registration> needs <identity uri=…> to register");
		return;
	}
	if (c->reg_password_file) {
		r = read_password_file(c->reg_password_file, &pw);
		if (r < 0)
			log_err("sip: password file %s: %s", c->reg_password_file,
				r == -EPERM ? "must be ours and not readable by others (chmod 600)"
					    : strerror(-r));
	}
	if (c->reg_user)
		sip_set_credentials(s, c->reg_user, pw ? pw : c->reg_password);
	if (pw) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	r = sip_register_start(s, c->reg_registrar, c->identity_uri, c->reg_expires, c->reg_tcp,
			       NULL);
	if (r < 0)
		log_err("sip: cannot register %s at %s: %s", c->identity_uri, c->reg_registrar,
			strerror(-r));
}
