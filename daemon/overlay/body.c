/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The overlay's bodies: application/sipsvc-peers+xml and application/sipsvc-query+xml
 * (xml-schema/sipsvc-peers.xsd, sipsvc-query.xsd). Input comes from any peer on the
 * network: size-checked before parsing, parsed with xml_parse_untrusted(), validated
 * against the embedded schema, then every field checked again in bytes. No logging. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/xml.h"
#include "overlay/overlay.h"

extern const char sipsvc_peers_xsd[];
extern const size_t sipsvc_peers_xsd_len;
extern const char sipsvc_query_xsd[];
extern const size_t sipsvc_query_xsd_len;

struct schema {
	xmlSchemaPtr schema;
	xmlSchemaValidCtxtPtr vctxt;
};

static struct schema peers_schema, query_schema;

static xmlSchemaValidCtxtPtr schema_get(struct schema *s, const char *xsd, size_t len)
{
	if (!s->vctxt) {
		xml_guard_init();
		s->schema = xml_schema_compile(xsd, len);
		if (!s->schema)
			return NULL;
		s->vctxt = xmlSchemaNewValidCtxt(s->schema);
	}
	return s->vctxt;
}

static void schema_free(struct schema *s)
{
	if (s->vctxt)
		xmlSchemaFreeValidCtxt(s->vctxt);
	if (s->schema)
		xmlSchemaFree(s->schema);
	*s = (struct schema){0};
}

void overlay_body_done(void)
{
	schema_free(&peers_schema);
	schema_free(&query_schema);
}

static void docp(xmlDocPtr *d)
{
	if (*d)
		xmlFreeDoc(*d);
}

/* libxml2 strings go back through xmlFree(), whatever allocator it was built with */
static void xmlcharp(char **s)
{
	if (*s)
		xmlFree(*s);
}

static void nodep(xmlNodePtr *n)
{
	if (*n)
		xmlFreeNode(*n);
}

/* Parse and validate; NULL for anything too big, malformed or off the schema. */
static xmlDocPtr body_parse(const char *buf, size_t len, struct schema *s, const char *xsd,
			    size_t xsd_len, int *ret_err)
{
	xmlSchemaValidCtxtPtr v;
	xmlDocPtr doc;
	char err[256];

	*ret_err = -EINVAL;
	if (len > OVERLAY_BODY_MAX) {
		*ret_err = -EMSGSIZE;
		return NULL;
	}
	v = schema_get(s, xsd, xsd_len);
	if (!v) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	doc = xml_parse_untrusted(buf, len, err, sizeof(err));
	if (doc && xml_schema_check(v, doc, err, sizeof(err)) < 0) {
		xmlFreeDoc(doc);
		doc = NULL;
	}
	return doc;
}

/* Copy attribute @p name into @p dst (@p size bytes); -EINVAL if absent or too long. */
static int attr_copy(xmlNodePtr n, const char *name, char *dst, size_t size)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST name);
	int r = 0;

	if (!v || strlen((const char *)v) >= size)
		r = -EINVAL;
	else
		memcpy(dst, v, strlen((const char *)v) + 1);
	xmlFree(v);
	return r;
}

static int attr_id(xmlNodePtr n, const char *name, struct overlay_id *id)
{
	char hex[OVERLAY_ID_HEX_LEN + 1];

	if (attr_copy(n, name, hex, sizeof(hex)) < 0)
		return -EINVAL;
	return overlay_id_from_hex(hex, id);
}

static int attr_u64(xmlNodePtr n, const char *name, uint64_t max, uint64_t *ret)
{
	char s[24], *end;
	unsigned long long v;

	if (attr_copy(n, name, s, sizeof(s)) < 0 || !s[0] || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int attr_contact(xmlNodePtr n, const char *name, char *dst)
{
	if (attr_copy(n, name, dst, OVERLAY_CONTACT_MAX + 1) < 0 || !overlay_contact_valid(dst))
		return -EINVAL;
	return 0;
}

static int peer_from_node(xmlNodePtr n, const char *id_attr, const char *contact_attr,
			  struct overlay_peer *p)
{
	if (attr_id(n, id_attr, &p->id) < 0 || overlay_id_is_zero(&p->id))
		return -EINVAL;
	return attr_contact(n, contact_attr, p->contact);
}

/* Serialise @p root (freed here) into a new buffer. */
static int finish(xmlNodePtr root, char **ret, size_t *ret_len)
{
	_cleanup_(nodep) xmlNodePtr n = root;

	if (!n)
		return -ENOMEM;
	return xml_serialise(n, 0, ret, ret_len);
}

static int set_id(xmlNodePtr n, const char *name, const struct overlay_id *id)
{
	char hex[OVERLAY_ID_HEX_LEN + 1];

	overlay_id_to_hex(id, hex);
	return xmlSetProp(n, BAD_CAST name, BAD_CAST hex) ? 0 : -ENOMEM;
}

static int set_str(xmlNodePtr n, const char *name, const char *v)
{
	return xmlSetProp(n, BAD_CAST name, BAD_CAST v) ? 0 : -ENOMEM;
}

/* ---- peer lists --------------------------------------------------------------------- */

static int peer_node(xmlNodePtr parent, const struct overlay_peer *p)
{
	xmlNodePtr c = xmlNewChild(parent, NULL, BAD_CAST "peer", NULL);

	if (!c || set_id(c, "id", &p->id) < 0 || set_str(c, "contact", p->contact) < 0)
		return -ENOMEM;
	return 0;
}

int overlay_peers_to_xml(const struct overlay_peers *m, char **ret, size_t *ret_len)
{
	xmlNodePtr n = xmlNewNode(NULL, BAD_CAST "peers");
	const char *kind = overlay_peers_kind_to_string(m->kind);
	int r = n ? 0 : -ENOMEM;

	if (!kind || m->n > OVERLAY_PEERLIST_MAX) {
		xmlFreeNode(n);
		return -EINVAL;
	}
	if (r == 0)
		r = set_str(n, "kind", kind);
	if (r == 0)
		r = set_id(n, "id", &m->from.id);
	if (r == 0)
		r = set_str(n, "contact", m->from.contact);
	if (r == 0)
		r = xml_set_propf(n, "expires", "%" PRIu32, m->expires_s);
	for (size_t i = 0; r == 0 && i < m->n; i++)
		r = peer_node(n, &m->peers[i]);
	if (r < 0) {
		xmlFreeNode(n);
		return r;
	}
	return finish(n, ret, ret_len);
}

static int peers_from_doc(xmlNodePtr root, struct overlay_peers *m)
{
	_cleanup_(xmlcharp) char *kind = NULL;
	uint64_t expires;

	kind = (char *)xmlGetProp(root, BAD_CAST "kind");
	m->kind = overlay_peers_kind_from_string(kind);
	if (m->kind == _OVERLAY_PEERS_KIND_INVALID ||
	    peer_from_node(root, "id", "contact", &m->from) < 0 ||
	    attr_u64(root, "expires", 86400, &expires) < 0)
		return -EINVAL;
	m->expires_s = (uint32_t)expires;
	m->n = 0;
	for (xmlNodePtr c = root->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (m->n == OVERLAY_PEERLIST_MAX ||
		    peer_from_node(c, "id", "contact", &m->peers[m->n]) < 0)
			return -EINVAL;
		m->n++;
	}
	return 0;
}

int overlay_peers_from_xml(const char *buf, size_t len, struct overlay_peers *m)
{
	_cleanup_(docp) xmlDocPtr doc = NULL;
	struct overlay_peers t;
	int r;

	doc = body_parse(buf, len, &peers_schema, sipsvc_peers_xsd, sipsvc_peers_xsd_len, &r);
	if (!doc)
		return r;
	memset(&t, 0, sizeof(t));
	r = peers_from_doc(xmlDocGetRootElement(doc), &t);
	if (r == 0)
		*m = t;
	return r;
}

/* ---- queries ------------------------------------------------------------------------ */

int overlay_query_to_xml(const struct overlay_query *q, char **ret, size_t *ret_len)
{
	xmlNodePtr n = xmlNewNode(NULL, BAD_CAST "query");
	int r = n ? 0 : -ENOMEM;

	if (r == 0)
		r = set_id(n, "id", &q->qid);
	if (r == 0)
		r = xml_set_propf(n, "ttl", "%u", (unsigned)q->ttl);
	if (r == 0)
		r = xml_set_propf(n, "hops", "%u", (unsigned)q->hops);
	if (r == 0)
		r = set_id(n, "origin-id", &q->origin.id);
	if (r == 0)
		r = set_str(n, "origin", q->origin.contact);
	if (r == 0 && !xmlNewTextChild(n, NULL, BAD_CAST "keywords", BAD_CAST q->keywords))
		r = -ENOMEM;
	if (r < 0) {
		xmlFreeNode(n);
		return r;
	}
	return finish(n, ret, ret_len);
}

static int query_from_doc(xmlNodePtr root, struct overlay_query *q)
{
	_cleanup_(xmlcharp) char *kw = NULL;
	xmlNodePtr k = root->children;
	uint64_t ttl, hops;

	if (strcmp((const char *)root->name, "query") != 0 || attr_id(root, "id", &q->qid) < 0 ||
	    overlay_id_is_zero(&q->qid) || attr_u64(root, "ttl", 255, &ttl) < 0 ||
	    attr_u64(root, "hops", 255, &hops) < 0 ||
	    peer_from_node(root, "origin-id", "origin", &q->origin) < 0)
		return -EINVAL;
	if (ttl == 0)
		return -EINVAL;
	/* DESIGN.md: capped at 7 whatever a peer sends */
	q->ttl = (uint8_t)(ttl > OVERLAY_TTL_MAX ? OVERLAY_TTL_MAX : ttl);
	q->hops = (uint8_t)hops;
	while (k && k->type != XML_ELEMENT_NODE)
		k = k->next;
	if (!k)
		return -EINVAL;
	kw = (char *)xmlNodeGetContent(k);
	if (!kw || !kw[0] || strlen(kw) > OVERLAY_KEYWORDS_MAX)
		return -EINVAL;
	memcpy(q->keywords, kw, strlen(kw) + 1);
	return 0;
}

int overlay_query_from_xml(const char *buf, size_t len, struct overlay_query *q)
{
	_cleanup_(docp) xmlDocPtr doc = NULL;
	struct overlay_query t;
	int r;

	doc = body_parse(buf, len, &query_schema, sipsvc_query_xsd, sipsvc_query_xsd_len, &r);
	if (!doc)
		return r;
	memset(&t, 0, sizeof(t));
	r = query_from_doc(xmlDocGetRootElement(doc), &t);
	if (r == 0)
		*q = t;
	return r;
}

/* ---- hits --------------------------------------------------------------------------- */

static int file_node(xmlNodePtr parent, const struct overlay_file *f)
{
	xmlNodePtr c = xmlNewChild(parent, NULL, BAD_CAST "file", NULL);

	char hex[2 * sizeof(f->sha256) + 1];

	if (!c || set_str(c, "name", f->name) < 0 ||
	    xml_set_propf(c, "size", "%" PRIu64, f->size) < 0)
		return -ENOMEM;
	if (!f->has_sha256)
		return 0;
	for (size_t i = 0; i < sizeof(f->sha256); i++)
		snprintf(hex + 2 * i, 3, "%02x", f->sha256[i]);
	return set_str(c, "sha256", hex);
}

int overlay_hit_to_xml(const struct overlay_hit *h, char **ret, size_t *ret_len)
{
	xmlNodePtr n;
	int r;

	if (h->n == 0 || h->n > OVERLAY_HIT_FILES_MAX)
		return -EINVAL;
	n = xmlNewNode(NULL, BAD_CAST "hits");
	r = n ? 0 : -ENOMEM;
	if (r == 0)
		r = set_id(n, "query", &h->qid);
	if (r == 0)
		r = xml_set_propf(n, "hops", "%u", (unsigned)h->hops);
	if (r == 0)
		r = set_id(n, "holder-id", &h->holder.id);
	if (r == 0)
		r = set_str(n, "holder", h->holder.contact);
	for (size_t i = 0; r == 0 && i < h->n; i++)
		r = file_node(n, &h->files[i]);
	if (r < 0) {
		xmlFreeNode(n);
		return r;
	}
	return finish(n, ret, ret_len);
}

/* The optional content hash: exactly 64 lower-case hex digits (the schema says so too). */
static int hit_sha256(xmlNodePtr c, struct overlay_file *f)
{
	char hex[2 * sizeof(f->sha256) + 1];

	f->has_sha256 = false;
	if (!xmlHasProp(c, BAD_CAST "sha256"))
		return 0;
	if (attr_copy(c, "sha256", hex, sizeof(hex)) < 0 || strlen(hex) != sizeof(hex) - 1)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(f->sha256); i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", hex[2 * i]) ||
		    !strchr("0123456789abcdef", hex[2 * i + 1]))
			return -EINVAL;
		f->sha256[i] = (uint8_t)v;
	}
	f->has_sha256 = true;
	return 0;
}

static int hit_file(xmlNodePtr c, struct overlay_file *f)
{
	if (attr_copy(c, "name", f->name, sizeof(f->name)) < 0 || !f->name[0] ||
	    attr_u64(c, "size", UINT64_MAX, &f->size) < 0)
		return -EINVAL;
	/* a name is a file name, not a path: no separator, no "." or ".." */
	if (strchr(f->name, '/') || strcmp(f->name, ".") == 0 || strcmp(f->name, "..") == 0)
		return -EINVAL;
	return hit_sha256(c, f);
}

static int hit_from_doc(xmlNodePtr root, struct overlay_hit *h)
{
	uint64_t hops;

	if (strcmp((const char *)root->name, "hits") != 0 || attr_id(root, "query", &h->qid) < 0 ||
	    overlay_id_is_zero(&h->qid) || attr_u64(root, "hops", 255, &hops) < 0 ||
	    peer_from_node(root, "holder-id", "holder", &h->holder) < 0)
		return -EINVAL;
	h->hops = (uint8_t)hops;
	h->n = 0;
	for (xmlNodePtr c = root->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (h->n == OVERLAY_HIT_FILES_MAX || hit_file(c, &h->files[h->n]) < 0)
			return -EINVAL;
		h->n++;
	}
	return h->n > 0 ? 0 : -EINVAL;
}

int overlay_hit_from_xml(const char *buf, size_t len, struct overlay_hit *h)
{
	_cleanup_(docp) xmlDocPtr doc = NULL;
	struct overlay_hit *t;
	int r;

	doc = body_parse(buf, len, &query_schema, sipsvc_query_xsd, sipsvc_query_xsd_len, &r);
	if (!doc)
		return r;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	r = hit_from_doc(xmlDocGetRootElement(doc), t);
	if (r == 0)
		*h = *t;
	free(t);
	return r;
}
