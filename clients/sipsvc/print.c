/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Human-readable output of replies and events; --xml prints the messages as they are. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *attr(xmlNodePtr n, const char *name)
{
	xmlAttrPtr a = xmlHasProp(n, BAD_CAST name);

	return a && a->children ? (const char *)a->children->content : NULL;
}

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

void print_message(const struct cli *cli, xmlDocPtr d)
{
	xmlBufferPtr b = xmlBufferCreate();

	if (!b)
		return;
	xmlNodeDump(b, d, xmlDocGetRootElement(d), 0, 0);
	printf("%s\n", (const char *)xmlBufferContent(b));
	xmlBufferFree(b);
}

void print_request(xmlNodePtr req)
{
	xmlBufferPtr b = xmlBufferCreate();

	if (!b)
		return;
	xmlNodeDump(b, NULL, req, 0, 0);
	printf("%s\n", (const char *)xmlBufferContent(b));
	xmlBufferFree(b);
	xmlFreeNode(req);
}

/* "name=value name=value …" of every attribute, then the text content. */
static void print_attrs(xmlNodePtr n, const char *skip)
{
	xmlChar *text;

	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		if (skip && strcmp((const char *)a->name, skip) == 0)
			continue;
		printf(" %s=%s", (const char *)a->name,
		       a->children ? (const char *)a->children->content : "");
	}
	text = xmlNodeGetContent(n);
	if (text && *text && !n->children->next && n->children->type == XML_TEXT_NODE)
		printf(" %s", (const char *)text);
	xmlFree(text);
	printf("\n");
}

static void print_uptime(const char *s)
{
	double up = s ? atof(s) : 0;
	long t = (long)up;

	if (t >= 86400)
		printf("%ldd %ldh %ldm", t / 86400, t % 86400 / 3600, t % 3600 / 60);
	else if (t >= 3600)
		printf("%ldh %ldm %lds", t / 3600, t % 3600 / 60, t % 60);
	else
		printf("%ldm %lds", t / 60, t % 60);
}

void print_status(xmlDocPtr ok)
{
	xmlNodePtr st = xmlDocGetRootElement(ok)->children;

	for (; st && st->type != XML_ELEMENT_NODE; st = st->next)
		;
	if (!st)
		return;
	printf("sipsvcd %s (pid %s), up ", or_dash(attr(st, "version")), or_dash(attr(st, "pid")));
	print_uptime(attr(st, "uptime"));
	printf(", log level %s\n", or_dash(attr(st, "log-level")));
	printf("  config       %s\n", attr(st, "config") ? attr(st, "config") : "(embedded defaults)");
	printf("  state dir    %s\n", or_dash(attr(st, "state-dir")));
	printf("  runtime dir  %s\n", or_dash(attr(st, "runtime-dir")));
	for (xmlNodePtr c = st->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrEqual(c->name, BAD_CAST "Control") || xmlStrEqual(c->name, BAD_CAST "Sip"))
			printf("  %-12s %s %s%s%s\n",
			       xmlStrEqual(c->name, BAD_CAST "Sip") ? "sip" : "control",
			       or_dash(attr(c, "transport")), or_dash(attr(c, "address")),
			       attr(c, "contact") ? " contact " : "", attr(c, "contact") ? attr(c, "contact") : "");
		else {
			printf("  %-12s", (const char *)c->name);
			print_attrs(c, NULL);
		}
	}
}

void print_devices(xmlDocPtr ok)
{
	bool any = false;

	for (xmlNodePtr d = xmlDocGetRootElement(ok)->children; d; d = d->next) {
		if (d->type != XML_ELEMENT_NODE)
			continue;
		if (!any)
			printf("%-16s %-10s %-8s %-7s %-9s %s\n", "ID", "WRAPPER", "MODE", "DEFAULT",
			       "AVAILABLE", "URI");
		any = true;
		printf("%-16s %-10s %-8s %-7s %-9s %s\n", or_dash(attr(d, "id")),
		       or_dash(attr(d, "wrapper")), or_dash(attr(d, "mode")),
		       strcmp(or_dash(attr(d, "default")), "true") == 0 ? "yes" : "no",
		       or_dash(attr(d, "available")), or_dash(attr(d, "uri")));
	}
	if (!any)
		printf("no devices configured (add <device> elements to sipsvc.xml)\n");
}

void print_children(xmlDocPtr ok)
{
	xmlNodePtr root = xmlDocGetRootElement(ok);
	bool any = false;

	for (xmlNodePtr c = root->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		any = true;
		printf("%s", (const char *)c->name);
		print_attrs(c, NULL);
	}
	if (!any && (attr(root, "call") || attr(root, "search") || attr(root, "transfer"))) {
		printf("ok");
		print_attrs(root, "request");
	}
}

void print_event(xmlDocPtr ev)
{
	xmlNodePtr root = xmlDocGetRootElement(ev);

	printf("%s", or_dash(attr(root, "type")));
	print_attrs(root, "type");
	fflush(stdout);
}

int print_error(xmlDocPtr err)
{
	static const struct {
		const char *code;
		int exit;
	} map[] = {
		{ "no-such-device", EXIT_NOT_FOUND }, { "no-devices", EXIT_NOT_FOUND },
		{ "no-such-call", EXIT_NOT_FOUND },   { "no-active-call", EXIT_NOT_FOUND },
		{ "not-found", EXIT_NOT_FOUND },      { "not-shared", EXIT_NOT_FOUND },
		{ "no-conference-server", EXIT_NOT_FOUND },
		{ "invalid", EXIT_REQUEST },          { "unknown-request", EXIT_REQUEST },
		{ "too-large", EXIT_REQUEST },        { "limit", EXIT_REQUEST },
		{ "not-well-formed", EXIT_REQUEST },  { "sip-error", EXIT_REMOTE },
		{ "busy", EXIT_REMOTE },              { "declined", EXIT_REMOTE },
		{ "timeout", EXIT_REMOTE },           { "device-unavailable", EXIT_REMOTE },
		{ "permission-denied", EXIT_PERMISSION },
	};
	const char *code = or_dash(sipsvc_msg_attr(err, "code"));
	xmlChar *text = xmlNodeGetContent(xmlDocGetRootElement(err));

	fprintf(stderr, "sipsvc: %s: %s\n", code, text ? (const char *)text : "");
	xmlFree(text);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].code, code) == 0)
			return map[i].exit;
	return EXIT_ERROR;
}
