/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's messages as JSON (clients/relay/README "From the relay"):
 *   <Ok ref="r1" request="Status"><Status …/></Ok>
 *     → {"reply":"Ok","request":"Status","ref":"r1","attrs":{},"children":[{"name":"Status",…}]}
 *   <Event type="call" call="c7" state="ringing"/>
 *     → {"event":"call","attrs":{"call":"c7","state":"ringing"}}
 * Every element keeps its attributes, its element children and its text, so nothing the
 * daemon adds later is lost on the way. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "relay.h"

/* The daemon refuses deeper requests; its answers are no deeper. */
#define DEPTH_MAX 32

static int add_string(json_object *o, const char *key, const char *value)
{
	json_object *s = json_object_new_string(value);

	if (!s)
		return -ENOMEM;
	return json_object_object_add(o, key, s) < 0 ? -ENOMEM : 0;
}

static bool promoted(const char *attr)
{
	return !strcmp(attr, "type") || !strcmp(attr, "request") || !strcmp(attr, "ref");
}

/* Attributes of @p n into @p o, except the ones promoted to the top (type, request, ref). */
static int add_attrs(json_object *o, xmlNodePtr n, bool top)
{
	json_object *attrs = json_object_new_object();

	if (!attrs)
		return -ENOMEM;
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		const char *name = (const char *)a->name;
		xmlChar *v;
		int r;

		if (top && promoted(name))
			continue;
		v = xmlNodeListGetString(n->doc, a->children, 1);
		r = add_string(attrs, name, v ? (const char *)v : "");
		xmlFree(v);
		if (r < 0)
			return json_object_put(attrs), r;
	}
	return json_object_object_add(o, "attrs", attrs) < 0 ? -ENOMEM : 0;
}

/* The text directly inside @p n (not its children's), when there is any besides whitespace. */
static int add_text(json_object *o, xmlNodePtr n)
{
	xmlChar *t = NULL;
	int r = 0;

	for (xmlNodePtr c = n->children; c; c = c->next)
		if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
			if (!(t = xmlStrcat(t, c->content)))
				return -ENOMEM;
	if (t && t[strspn((const char *)t, " \t\r\n")])
		r = add_string(o, "text", (const char *)t);
	xmlFree(t);
	return r;
}

static int element_to_json(xmlNodePtr n, int depth, json_object **ret);

static int add_children(json_object *o, xmlNodePtr n, int depth)
{
	json_object *list = NULL;

	for (xmlNodePtr c = n->children; c; c = c->next) {
		json_object *child;
		int r;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!list && !(list = json_object_new_array()))
			return -ENOMEM;
		r = element_to_json(c, depth + 1, &child);
		if (r == 0 && json_object_array_add(list, child) < 0)
			r = -ENOMEM, json_object_put(child);
		if (r < 0)
			return json_object_put(list), r;
	}
	if (list && json_object_object_add(o, "children", list) < 0)
		return -ENOMEM;
	return 0;
}

static int fill(json_object *o, xmlNodePtr n, int depth, bool top)
{
	int r;

	if (depth > DEPTH_MAX)
		return -EBADMSG;
	if ((r = add_attrs(o, n, top)) < 0 || (r = add_text(o, n)) < 0)
		return r;
	return add_children(o, n, depth);
}

static int element_to_json(xmlNodePtr n, int depth, json_object **ret)
{
	json_object *o = json_object_new_object();
	int r = o ? add_string(o, "name", (const char *)n->name) : -ENOMEM;

	if (r == 0)
		r = fill(o, n, depth, false);
	if (r < 0)
		return json_object_put(o), r;
	*ret = o;
	return 0;
}

/* {"reply":"Ok"|"Error","request":…,"ref":…} or {"event":TYPE,"ref":…}, then the rest. */
static int add_head(json_object *o, xmlNodePtr root)
{
	bool event = xmlStrEqual(root->name, BAD_CAST "Event");
	xmlChar *kind = event ? xmlGetProp(root, BAD_CAST "type") : xmlStrdup(root->name);
	xmlChar *request = xmlGetProp(root, BAD_CAST "request");
	xmlChar *ref = xmlGetProp(root, BAD_CAST "ref");
	int r = kind ? add_string(o, event ? "event" : "reply", (const char *)kind) : -EBADMSG;

	if (r == 0 && request && !event)
		r = add_string(o, "request", (const char *)request);
	if (r == 0 && ref)
		r = add_string(o, "ref", (const char *)ref);
	xmlFree(kind);
	xmlFree(request);
	xmlFree(ref);
	return r;
}

int relay_json_from_message(xmlDocPtr doc, json_object **ret)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	json_object *o;
	int r;

	if (!root || !(xmlStrEqual(root->name, BAD_CAST "Ok") ||
		       xmlStrEqual(root->name, BAD_CAST "Error") ||
		       xmlStrEqual(root->name, BAD_CAST "Event")))
		return -EBADMSG;
	if (!(o = json_object_new_object()))
		return -ENOMEM;
	if ((r = add_head(o, root)) < 0 || (r = fill(o, root, 0, true)) < 0)
		return json_object_put(o), r;
	*ret = o;
	return 0;
}

json_object *relay_json_error(const char *code, const char *msg, const struct request_meta *meta)
{
	json_object *o = json_object_new_object();

	if (!o || add_string(o, "error", code) < 0 || add_string(o, "message", msg) < 0 ||
	    (meta && meta->request[0] && add_string(o, "request", meta->request) < 0) ||
	    (meta && meta->ref[0] && add_string(o, "ref", meta->ref) < 0))
		return json_object_put(o), NULL;
	return o;
}
