/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Digest authentication as a UAC (RFC 3261 22.2, RFC 8760): the response to a 401/407
 * challenge with MD5 or SHA-256 (and their -sess forms), qop=auth with a nonce count
 * and a client nonce. Hashes come from OpenSSL's libcrypto: libosip2 has none we can
 * rely on. Pure code: no logging.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "sip/sip-private.h"

static const struct {
	const char *name;
	bool sha256, sess;
} algs[] = {
	[SIP_AUTH_MD5] = { "MD5", false, false },
	[SIP_AUTH_MD5_SESS] = { "MD5-sess", false, true },
	[SIP_AUTH_SHA256] = { "SHA-256", true, false },
	[SIP_AUTH_SHA256_SESS] = { "SHA-256-sess", true, true },
};

enum sip_auth_alg sip_auth_alg_from_string(const char *s)
{
	/* RFC 7616 3.3: no algorithm means MD5. */
	if (!s || !*s)
		return SIP_AUTH_MD5;
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
		if (strcasecmp(s, algs[i].name) == 0)
			return (enum sip_auth_alg)i;
	return _SIP_AUTH_ALG_INVALID;
}

const char *sip_auth_alg_to_string(enum sip_auth_alg a)
{
	return a >= 0 && a < _SIP_AUTH_ALG_MAX ? algs[a].name : NULL;
}

/* H(data) in lower-case hex (RFC 7616 3.4). */
static int hash_hex(enum sip_auth_alg a, const char *data, char out[SIP_AUTH_HEX_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(data, strlen(data), md, &n, algs[a].sha256 ? EVP_sha256() : EVP_md5(),
			NULL))
		return -EIO;
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static int hash_join(enum sip_auth_alg a, char out[SIP_AUTH_HEX_MAX], const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int hash_join(enum sip_auth_alg a, char out[SIP_AUTH_HEX_MAX], const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	r = hash_hex(a, s, out);
	free(s);
	return r;
}

int sip_auth_digest(const struct sip_auth_params *p, char out[SIP_AUTH_HEX_MAX])
{
	char ha1[SIP_AUTH_HEX_MAX], ha2[SIP_AUTH_HEX_MAX], nc[9];
	enum sip_auth_alg a = p->alg;
	int r;

	if (a < 0 || a >= _SIP_AUTH_ALG_MAX)
		return -EINVAL;
	/* RFC 7616 3.4.2: A1 = user:realm:password, for -sess hashed with the nonces. */
	r = hash_join(a, ha1, "%s:%s:%s", p->user, p->realm, p->password);
	if (r == 0 && algs[a].sess)
		r = hash_join(a, ha1, "%s:%s:%s", ha1, p->nonce, p->cnonce);
	/* RFC 7616 3.4.3: A2 = method:digest-uri for qop=auth or none. */
	if (r == 0)
		r = hash_join(a, ha2, "%s:%s", p->method, p->uri);
	if (r < 0)
		return r;
	snprintf(nc, sizeof(nc), "%08x", p->nc);
	if (p->qop)
		return hash_join(a, out, "%s:%s:%s:%s:%s:%s", ha1, p->nonce, nc, p->cnonce, p->qop,
				 ha2);
	/* RFC 2617 3.2.2.1: without qop, the RFC 2069 form. */
	return hash_join(a, out, "%s:%s:%s", ha1, p->nonce, ha2);
}

/* "auth" among the qop options ("auth,auth-int")? */
static bool offers_auth(const char *qop)
{
	const char *p = qop;

	while (p && *p) {
		size_t n = strcspn(p, ", \t");

		if (n == 4 && strncasecmp(p, "auth", 4) == 0)
			return true;
		p += n;
		p += strspn(p, ", \t");
	}
	return false;
}

static char *unquote(const char *s)
{
	return s ? osip_strdup_without_quote(s) : NULL;
}

void sip_auth_challenge_clear(struct sip_auth_challenge *c)
{
	osip_free(c->realm);
	osip_free(c->nonce);
	osip_free(c->opaque);
	memset(c, 0, sizeof(*c));
}

/* One WWW-/Proxy-Authenticate value; -ENOTSUP if not a Digest we can answer. */
static int take_challenge(osip_www_authenticate_t *w, struct sip_auth_challenge *c)
{
	char *alg = unquote(osip_www_authenticate_get_algorithm(w));
	char *qop = unquote(osip_www_authenticate_get_qop_options(w));
	char *stale = unquote(osip_www_authenticate_get_stale(w));
	const char *type = osip_www_authenticate_get_auth_type(w);
	int r = -ENOTSUP;

	memset(c, 0, sizeof(*c));
	c->alg = sip_auth_alg_from_string(alg);
	/* RFC 7616 3.3: a qop we do not support (only auth-int) cannot be answered. */
	if (type && strcasecmp(type, "Digest") == 0 && c->alg >= 0 && (!qop || offers_auth(qop))) {
		c->qop_auth = qop != NULL;
		c->stale = stale && strcasecmp(stale, "true") == 0;
		c->realm = unquote(osip_www_authenticate_get_realm(w));
		c->nonce = unquote(osip_www_authenticate_get_nonce(w));
		c->opaque = unquote(osip_www_authenticate_get_opaque(w));
		r = c->realm && c->nonce ? 0 : -EINVAL;
	}
	osip_free(alg);
	osip_free(qop);
	osip_free(stale);
	if (r < 0)
		sip_auth_challenge_clear(c);
	return r;
}

int sip_auth_challenge_pick(const osip_message_t *resp, struct sip_auth_challenge *ret)
{
	const osip_list_t *l = resp->status_code == 407 ? &resp->proxy_authenticates
							 : &resp->www_authenticates;

	/* RFC 8760: take the topmost challenge whose algorithm we support. */
	for (int i = 0; i < osip_list_size(l); i++)
		if (take_challenge(osip_list_get(l, i), ret) == 0)
			return 0;
	return -ENOTSUP;
}

char *sip_auth_header(const struct sip_auth_challenge *c, const char *user, const char *password,
		      const char *method, const char *uri)
{
	struct sip_auth_params p = { .alg = c->alg, .user = user, .realm = c->realm,
				     .password = password, .method = method, .uri = uri,
				     .nonce = c->nonce, .nc = 1,
				     .qop = c->qop_auth ? "auth" : NULL };
	char resp[SIP_AUTH_HEX_MAX], cnonce[17], *h = NULL, opaque[300] = "";

	sip_token(cnonce);
	p.cnonce = cnonce;
	if (sip_auth_digest(&p, resp) < 0)
		return NULL;
	if (c->opaque)
		snprintf(opaque, sizeof(opaque), ", opaque=\"%s\"", c->opaque);
	if (asprintf(&h,
		     "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
		     "response=\"%s\", algorithm=%s%s%s%s%s",
		     user, c->realm, c->nonce, uri, resp, algs[c->alg].name, opaque,
		     c->qop_auth ? ", qop=auth, nc=00000001, cnonce=\"" : "",
		     c->qop_auth ? cnonce : "", c->qop_auth ? "\"" : "") < 0)
		return NULL;
	return h;
}
