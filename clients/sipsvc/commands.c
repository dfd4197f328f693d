/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One builder per subcommand: arguments → a request element (PROTOCOL.md "Requests"). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Builders return 0, or -EINVAL after printing what is wrong. */
static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "sipsvc: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	return -EINVAL;
}

static int new_req(const char *name, xmlNodePtr *ret)
{
	*ret = sipsvc_request_new(name);
	return *ret ? 0 : -ENOMEM;
}

static int set(xmlNodePtr n, const char *name, const char *v)
{
	return sipsvc_request_set(n, name, v);
}

static int b_plain(const char *name, int argc, char **argv, xmlNodePtr *ret)
{
	if (argc > 1)
		return usage_error("this command takes no arguments", NULL);
	return new_req(name, ret);
}

/* NAME URI [--call CALL]: ExternalJoin and SameDeviceJoin. */
static int b_target(const char *name, int argc, char **argv, xmlNodePtr *ret)
{
	static const struct option o[] = { { "call", required_argument, NULL, 'c' }, { 0 } };
	const char *call = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (c != 'c')
			return -EINVAL;
		call = optarg;
	}
	if (optind + 1 != argc)
		return usage_error("give exactly one URI", NULL);
	if (new_req(name, ret) < 0 || set(*ret, "id", argv[optind]) < 0 ||
	    (call && set(*ret, "call", call) < 0))
		return -ENOMEM;
	return 0;
}

static int b_join(const char *name, int argc, char **argv, xmlNodePtr *ret)
{
	static const struct option o[] = { { "dev", required_argument, NULL, 'd' },
					   { "mode", required_argument, NULL, 'm' }, { 0 } };
	const char *dev = NULL, *mode = NULL;
	xmlNodePtr use;
	int c;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (c == 'd')
			dev = optarg;
		else if (c == 'm')
			mode = optarg;
		else
			return -EINVAL;
	}
	if (optind + 1 != argc)
		return usage_error("give exactly one URI", NULL);
	if (mode && strcmp(mode, "loop") != 0 && strcmp(mode, "transfer") != 0)
		return usage_error("--mode is loop or transfer", mode);
	if (new_req(name, ret) < 0 || set(*ret, "id", argv[optind]) < 0)
		return -ENOMEM;
	use = xmlNewChild(*ret, NULL, BAD_CAST "Use", NULL);
	if (!use || (dev && set(use, "dev", dev) < 0) || (mode && set(use, "mode", mode) < 0))
		return -ENOMEM;
	return 0;
}

static int b_invite(const char *name, int argc, char **argv, xmlNodePtr *ret)
{
	static const struct option o[] = { { "call", required_argument, NULL, 'c' }, { 0 } };
	const char *call = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (c != 'c')
			return -EINVAL;
		call = optarg;
	}
	if (optind >= argc)
		return usage_error("give at least one URI to invite", NULL);
	if (new_req(name, ret) < 0 || (call && set(*ret, "call", call) < 0))
		return -ENOMEM;
	for (int i = optind; i < argc; i++) {
		xmlNodePtr add = xmlNewChild(*ret, NULL, BAD_CAST "Add", NULL);

		if (!add || set(add, "id", argv[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int b_hangup(const char *name, int argc, char **argv, xmlNodePtr *ret)
{
	if (argc > 2)
		return usage_error("give at most one call id", NULL);
	if (new_req(name, ret) < 0 || (argc == 2 && set(*ret, "call", argv[1]) < 0))
		return -ENOMEM;
	return 0;
}

/* The daemon wants absolute paths; resolve relative ones against our cwd. */
static int b_path(const char *name, int argc, char **argv, xmlNodePtr *ret)
{
	char abs[PATH_MAX];

	if (argc != 2)
		return usage_error("give exactly one path", NULL);
	if (!realpath(argv[1], abs))
		return usage_error(strerror(errno), argv[1]);
	if (new_req(name, ret) < 0 || set(*ret, "path", abs) < 0)
		return -ENOMEM;
	return 0;
}

/* Join the remaining arguments with spaces. */
static int join_words(int argc, char **argv, int from, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = from; i < argc; i++) {
		int n = snprintf(buf + o, size - o, "%s%s", o ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= size - o)
			return -E2BIG;
		o += (size_t)n;
	}
	return o ? 0 : -EINVAL;
}

static int b_search(const char *name, int argc, char **argv, xmlNodePtr *ret)
{
	static const struct option o[] = { { "timeout", required_argument, NULL, 't' },
					   { "max", required_argument, NULL, 'm' }, { 0 } };
	const char *timeout = NULL, *max = NULL;
	char words[1025];
	int c;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (c == 't')
			timeout = optarg;
		else if (c == 'm')
			max = optarg;
		else
			return -EINVAL;
	}
	if (join_words(argc, argv, optind, words, sizeof(words)) < 0)
		return usage_error("give the words to search for (at most 1024 characters)", NULL);
	if (new_req(name, ret) < 0 || set(*ret, "query", words) < 0 ||
	    (timeout && set(*ret, "timeout-ms", timeout) < 0) ||
	    (max && set(*ret, "max-results", max) < 0))
		return -ENOMEM;
	return 0;
}

static int b_fetch(const char *name, int argc, char **argv, xmlNodePtr *ret)
{
	static const struct option o[] = { { "from", required_argument, NULL, 'f' },
					   { "to", required_argument, NULL, 't' }, { 0 } };
	const char *from = NULL, *to = NULL;
	char abs[PATH_MAX];
	int c;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (c == 'f')
			from = optarg;
		else if (c == 't')
			to = optarg;
		else
			return -EINVAL;
	}
	if (optind + 1 != argc || !from)
		return usage_error("usage: fetch FILE-ID --from PEER [--to DIR]", NULL);
	if (to && !realpath(to, abs))
		return usage_error(strerror(errno), to);
	if (new_req(name, ret) < 0 || set(*ret, "file", argv[optind]) < 0 ||
	    set(*ret, "from", from) < 0 || (to && set(*ret, "to", abs) < 0))
		return -ENOMEM;
	return 0;
}

/* --header "Name: value" → <Header name value/> */
static int add_header(xmlNodePtr r, const char *arg)
{
	const char *colon = strchr(arg, ':');
	xmlNodePtr h;
	char name[128];

	if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof(name))
		return usage_error("--header wants \"Name: value\"", arg);
	memcpy(name, arg, (size_t)(colon - arg));
	name[colon - arg] = '\0';
	for (colon++; *colon == ' '; colon++)
		;
	h = xmlNewChild(r, NULL, BAD_CAST "Header", NULL);
	if (!h || set(h, "name", name) < 0 || set(h, "value", colon) < 0)
		return -ENOMEM;
	return 0;
}

static int b_tunnel(const char *name, int argc, char **argv, xmlNodePtr *ret)
{
	static const struct option o[] = { { "header", required_argument, NULL, 'H' },
					   { "body-type", required_argument, NULL, 't' },
					   { "body", required_argument, NULL, 'b' },
					   { "call", required_argument, NULL, 'c' },
					   { "leg", required_argument, NULL, 'l' }, { 0 } };
	const char *type = "text/plain", *body = NULL, *call = NULL, *leg = NULL;
	xmlNodePtr rq;
	int c, r;

	if (new_req(name, ret) < 0 || !(rq = xmlNewChild(*ret, NULL, BAD_CAST "Request", NULL)))
		return -ENOMEM;
	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (c == 'H' && (r = add_header(rq, optarg)) < 0)
			return r;
		if (c == 't')
			type = optarg;
		else if (c == 'b')
			body = optarg;
		else if (c == 'c')
			call = optarg;
		else if (c == 'l')
			leg = optarg;
		else if (c != 'H')
			return -EINVAL;
	}
	if (optind + 2 != argc)
		return usage_error("usage: tunnel METHOD URI [--header 'N: V']… [--body TEXT]", NULL);
	if (set(rq, "method", argv[optind]) < 0 || set(rq, "uri", argv[optind + 1]) < 0 ||
	    (call && set(rq, "call", call) < 0) || (leg && set(rq, "leg", leg) < 0))
		return -ENOMEM;
	if (body) {
		xmlNodePtr b = xmlNewTextChild(rq, NULL, BAD_CAST "Body", BAD_CAST body);

		if (!b || set(b, "type", type) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int b_events(const char *name, int argc, char **argv, xmlNodePtr *ret)
{
	char types[512];

	if (join_words(argc, argv, 1, types, sizeof(types)) < 0)
		return usage_error("name the event types: call conference incoming tunnel "
				   "overlay search transfer device-choice log", NULL);
	if (new_req(name, ret) < 0 || set(*ret, "events", types) < 0)
		return -ENOMEM;
	return 0;
}

const struct command commands[] = {
	{ "status", "Status", "", "daemon facts: version, endpoints, counts", b_plain, FOLLOW_NONE,
	  print_status },
	{ "devices", "Devices", "", "the configured devices", b_plain, FOLLOW_NONE, print_devices },
	{ "join", "Join", "URI [--dev DEV] [--mode loop|transfer]", "call URI with a device",
	  b_join, FOLLOW_CALL, print_children },
	{ "call", "ExternalJoin", "URI", "call URI on a device chosen now (ExternalJoin)",
	  b_target, FOLLOW_CALL, print_children },
	{ "switch", "SameDeviceJoin", "URI [--call CALL]",
	  "switch the live device to URI (SameDeviceJoin)", b_target, FOLLOW_CALL, print_children },
	{ "invite", "Invite", "URI… [--call CALL]", "invite people into the conference", b_invite,
	  FOLLOW_NONE, print_children },
	{ "hangup", "Hangup", "[CALL]", "end a call, or all calls", b_hangup, FOLLOW_NONE,
	  print_children },
	{ "calls", "Calls", "", "the active calls", b_plain, FOLLOW_NONE, print_children },
	{ "share", "Share", "PATH", "offer a file or directory to the overlay", b_path,
	  FOLLOW_NONE, print_children },
	{ "unshare", "Unshare", "PATH", "withdraw a share", b_path, FOLLOW_NONE, print_children },
	{ "shares", "Shares", "", "list the shares", b_plain, FOLLOW_NONE, print_children },
	{ "search", "Search", "WORDS… [--timeout MS] [--max N]", "search the overlay", b_search,
	  FOLLOW_SEARCH, print_children },
	{ "fetch", "Fetch", "FILE-ID --from PEER [--to DIR]", "download a search result", b_fetch,
	  FOLLOW_TRANSFER, print_children },
	{ "tunnel", "Tunnel", "METHOD URI [--header 'N: V']… [--body TEXT [--body-type T]]",
	  "send a raw SIP request", b_tunnel, FOLLOW_TUNNEL, print_children },
	{ "events", "Subscribe", "TYPE…", "print events of these types until interrupted",
	  b_events, FOLLOW_FOREVER, print_children },
	{ .name = NULL },
};
