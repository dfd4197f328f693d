/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The conference event package's bodies (RFC 4575, application/conference-info+xml):
 * a bounded parser of the parts we use (conference-info's version and state, users
 * and their endpoints with their status) and the roster they build up, which turns
 * each notification into "joined" and "left" per user.
 *
 * The body comes from the focus, untrusted: it is parsed with the shared guards
 * (core/xml.h: no DTD, no entities, no network), at most CONFINFO_BODY_MAX bytes, at
 * most CONFINFO_USERS_MAX users and CONFINFO_ENDPOINTS_MAX endpoints per user (the
 * rest is ignored and the result marked truncated), URIs longer than CONFINFO_URI_MAX
 * skipped. The parser does not log; its caller does.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call-private.h"
#include "core/xml.h"

#define CONFINFO_NS "urn:ietf:params:xml:ns:conference-info"

static bool is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       xmlStrEqual(n->ns->href, BAD_CAST CONFINFO_NS) &&
	       xmlStrEqual(n->name, BAD_CAST name);
}

/* RFC 4575 5.1: state="full|partial|deleted", full when absent. */
static int state_of(xmlNode *n, enum confinfo_state *ret)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST "state");
	int r = 0;

	if (!v || xmlStrEqual(v, BAD_CAST "full"))
		*ret = CONFINFO_FULL;
	else if (xmlStrEqual(v, BAD_CAST "partial"))
		*ret = CONFINFO_PARTIAL;
	else if (xmlStrEqual(v, BAD_CAST "deleted"))
		*ret = CONFINFO_DELETED;
	else
		r = -EINVAL;
	xmlFree(v);
	return r;
}

/* The entity attribute into @p buf; -E2BIG when it does not fit, -EINVAL without. */
static int entity_of(xmlNode *n, char *buf, size_t len)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST "entity");
	int r = 0;

	if (!v || !v[0])
		r = -EINVAL;
	else if ((size_t)snprintf(buf, len, "%s", (const char *)v) >= len)
		r = -E2BIG;
	xmlFree(v);
	return r;
}

/* RFC 4575 5.7.1 endpoint status: in the conference (connected, on-hold,
 * muted-via-focus) or not (disconnected, pending, alerting, dialing-*, disconnecting). */
static int status_of(xmlNode *ep)
{
	static const char *const in[] = { "connected", "on-hold", "muted-via-focus" };
	int r = CONFINFO_STATUS_UNKNOWN;

	for (xmlNode *n = ep->children; n; n = n->next) {
		xmlChar *t;

		if (!is_elem(n, "status"))
			continue;
		t = xmlNodeGetContent(n);
		r = CONFINFO_STATUS_OUT;
		for (size_t i = 0; t && i < ARRAY_SIZE(in); i++)
			if (xmlStrEqual(t, BAD_CAST in[i]))
				r = CONFINFO_STATUS_IN;
		xmlFree(t);
	}
	return r;
}

static void parse_endpoints(xmlNode *user, struct confinfo_user *u, bool *truncated)
{
	for (xmlNode *n = user->children; n; n = n->next) {
		struct confinfo_endpoint *e;

		if (!is_elem(n, "endpoint"))
			continue;
		if (u->n_endpoints == CONFINFO_ENDPOINTS_MAX) {
			*truncated = true;
			return;
		}
		e = &u->ep[u->n_endpoints];
		if (entity_of(n, e->entity, sizeof(e->entity)) < 0 || state_of(n, &e->state) < 0)
			continue;
		e->status = status_of(n);
		u->n_endpoints++;
	}
}

static void parse_users(xmlNode *users, struct confinfo *ci)
{
	for (xmlNode *n = users->children; n; n = n->next) {
		struct confinfo_user *u;

		if (!is_elem(n, "user"))
			continue;
		if (ci->n_users == CONFINFO_USERS_MAX) {
			ci->truncated = true;
			return;
		}
		u = &ci->users[ci->n_users];
		memset(u, 0, sizeof(*u));
		if (entity_of(n, u->entity, sizeof(u->entity)) < 0 || state_of(n, &u->state) < 0)
			continue;
		parse_endpoints(n, u, &ci->truncated);
		ci->n_users++;
	}
}

/* RFC 4575 5.1: version is an unsigned int, required. */
static int version_of(xmlNode *root, uint32_t *ret)
{
	xmlChar *v = xmlGetProp(root, BAD_CAST "version");
	char *end = NULL;
	unsigned long n = v && v[0] >= '0' && v[0] <= '9'
				  ? strtoul((const char *)v, &end, 10) : 0;
	int r = v && end && !*end && n <= UINT32_MAX ? 0 : -EINVAL;

	xmlFree(v);
	if (r == 0)
		*ret = (uint32_t)n;
	return r;
}

int call_confinfo_parse(const char *body, size_t len, struct confinfo **ret)
{
	char err[128];
	xmlDocPtr doc;
	xmlNode *root;
	struct confinfo *ci;
	int r = -EINVAL;

	if (len > CONFINFO_BODY_MAX)
		return -E2BIG;
	doc = xml_parse_untrusted(body, len, err, sizeof(err));
	if (!doc)
		return -EINVAL;
	ci = calloc(1, sizeof(*ci));
	root = xmlDocGetRootElement(doc);
	if (!ci) {
		r = -ENOMEM;
	} else if (root && is_elem(root, "conference-info") && version_of(root, &ci->version) == 0 &&
		   state_of(root, &ci->state) == 0 &&
		   entity_of(root, ci->entity, sizeof(ci->entity)) == 0) {
		for (xmlNode *n = root->children; n; n = n->next)
			if (is_elem(n, "users"))
				parse_users(n, ci);
		r = 0;
	}
	xmlFreeDoc(doc);
	if (r < 0) {
		free(ci);
		return r;
	}
	*ret = ci;
	return 0;
}

/* ---- the roster ----------------------------------------------------------------------- */

static struct confinfo_user *find_user(struct confinfo *ci, const char *entity)
{
	for (size_t i = 0; i < ci->n_users; i++)
		if (strcmp(ci->users[i].entity, entity) == 0)
			return &ci->users[i];
	return NULL;
}

/* In the conference: an endpoint says so, or there is no endpoint to say otherwise
 * (a focus may list users only). */
static bool user_in(const struct confinfo_user *u)
{
	bool known = false;

	for (size_t i = 0; i < u->n_endpoints; i++) {
		if (u->ep[i].status == CONFINFO_STATUS_IN)
			return true;
		known = known || u->ep[i].status != CONFINFO_STATUS_UNKNOWN;
	}
	return !known;
}

static void remove_user(struct confinfo *ci, struct confinfo_user *u)
{
	size_t i = (size_t)(u - ci->users);

	memmove(u, u + 1, (ci->n_users - i - 1) * sizeof(*u));
	ci->n_users--;
}

/* RFC 4575 4.6: a partial endpoint element changes only what it carries. */
static void merge_endpoint(struct confinfo_user *u, const struct confinfo_endpoint *e)
{
	for (size_t i = 0; i < u->n_endpoints; i++) {
		if (strcmp(u->ep[i].entity, e->entity) != 0)
			continue;
		if (e->state == CONFINFO_DELETED) {
			memmove(&u->ep[i], &u->ep[i + 1], (u->n_endpoints - i - 1) * sizeof(*e));
			u->n_endpoints--;
		} else if (e->state == CONFINFO_FULL || e->status != CONFINFO_STATUS_UNKNOWN) {
			u->ep[i].status = e->status;
		}
		return;
	}
	if (e->state != CONFINFO_DELETED && u->n_endpoints < CONFINFO_ENDPOINTS_MAX)
		u->ep[u->n_endpoints++] = *e;
}

static void merge_user(struct confinfo *roster, const struct confinfo_user *nu)
{
	struct confinfo_user *u = find_user(roster, nu->entity);

	if (nu->state == CONFINFO_DELETED) {
		if (u)
			remove_user(roster, u);
		return;
	}
	if (!u) {
		if (roster->n_users == CONFINFO_USERS_MAX) {
			roster->truncated = true;
			return;
		}
		u = &roster->users[roster->n_users++];
		*u = *nu;
		return;
	}
	if (nu->state == CONFINFO_FULL) {
		*u = *nu;
		return;
	}
	for (size_t i = 0; i < nu->n_endpoints; i++)
		merge_endpoint(u, &nu->ep[i]);
}

/* Who changed between @p before and @p after: left first, then joined. */
static void report(const struct confinfo *before, struct confinfo *after,
		   confinfo_change_h *h, void *arg)
{
	for (size_t i = 0; i < before->n_users; i++) {
		const struct confinfo_user *b = &before->users[i];
		const struct confinfo_user *a = find_user(after, b->entity);

		if (user_in(b) && (!a || !user_in(a)))
			h(b->entity, false, arg);
	}
	for (size_t i = 0; i < after->n_users; i++) {
		struct confinfo_user *a = &after->users[i];
		const struct confinfo_user *b = find_user((struct confinfo *)before, a->entity);

		if (user_in(a) && (!b || !user_in(b)))
			h(a->entity, true, arg);
	}
}

int call_confinfo_apply(struct confinfo *roster, const struct confinfo *doc,
			confinfo_change_h *h, void *arg)
{
	struct confinfo *before;

	/* RFC 4575 4.6: versions only grow; an old or repeated one is ignored. A partial
	 * one needs the state it is relative to: the one just before it. */
	if (roster->known && doc->version <= roster->version)
		return -ESTALE;
	if (doc->state == CONFINFO_PARTIAL &&
	    (!roster->known || doc->version != roster->version + 1))
		return -EAGAIN;
	before = malloc(sizeof(*before));
	if (!before)
		return -ENOMEM;
	memcpy(before, roster, sizeof(*before));
	if (doc->state == CONFINFO_FULL)
		roster->n_users = 0;
	if (doc->state == CONFINFO_DELETED) {
		roster->n_users = 0;
	} else {
		for (size_t i = 0; i < doc->n_users; i++)
			merge_user(roster, &doc->users[i]);
	}
	roster->known = true;
	roster->version = doc->version;
	roster->truncated = roster->truncated || doc->truncated;
	report(before, roster, h, arg);
	free(before);
	return 0;
}
