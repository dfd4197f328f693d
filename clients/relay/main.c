/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sipsvc-relay: started by the browser for the sipsvc extension, it turns the extension's
 * JSON messages into control requests and the daemon's replies and events back into JSON.
 * One poll loop over stdin and the daemon's socket; stdout is the browser's. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"
#include "sipsvc-client.h"

struct relay {
	struct sipsvc_client_opts opts;
	struct sipsvc_client *client; /* connected at the first request, again after a loss */
	struct frame_reader in;
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: sipsvc-relay [--socket PATH | --port N] ORIGIN...\n"
		   "       sipsvc-relay --install-manifests [--path BIN] [--extension-id ID] "
		   "[--gecko-id ID]\n"
		   "The native messaging host " RELAY_HOST_NAME " of the sipsvc extension: the\n"
		   "browser starts it with the extension's origin and talks JSON on stdin/stdout.\n"
		   "--install-manifests writes the per-user host manifests for Chromium, Chrome\n"
		   "and Firefox naming BIN (default: this program).\n");
}

static int send_error(const char *code, const char *msg, const struct request_meta *meta)
{
	return frame_write_json(STDOUT_FILENO, relay_json_error(code, msg, meta));
}

static void drop_client(struct relay *rl)
{
	sipsvc_client_free(rl->client);
	rl->client = NULL;
}

/* One message of the daemon to the browser. One that cannot go as it is (over 1 MiB as
 * JSON, nested too deep) becomes an error that still names its request and ref, so the
 * extension is not left waiting for a reply. */
static int forward(xmlDocPtr d)
{
	const char *request = sipsvc_msg_attr(d, "request"), *ref = sipsvc_msg_attr(d, "ref");
	struct request_meta meta = { 0 };
	json_object *o;
	int r = relay_json_from_message(d, &o);

	if (r == 0)
		r = frame_write_json(STDOUT_FILENO, o);
	if (r != -EMSGSIZE && r != -EBADMSG)
		return r;
	fprintf(stderr, "sipsvc-relay: a <%s> from sipsvcd cannot go to the browser: %s\n",
		sipsvc_msg_name(d) ? sipsvc_msg_name(d) : "?", strerror(-r));
	if (request && strlen(request) < sizeof(meta.request))
		snprintf(meta.request, sizeof(meta.request), "%s", request);
	if (ref && strlen(ref) < sizeof(meta.ref))
		snprintf(meta.ref, sizeof(meta.ref), "%s", ref);
	return send_error(r == -EMSGSIZE ? "too-large" : "internal",
			  r == -EMSGSIZE ? "the answer of sipsvcd is over 1 MiB as JSON"
					 : "sipsvcd sent a message the relay cannot convert", &meta);
}

/* Forward everything the daemon has sent; on a lost connection tell the browser, whose
 * subscriptions are gone with it. */
static int drain_daemon(struct relay *rl)
{
	int r = rl->client ? sipsvc_client_process(rl->client) : 0, w = 0;
	xmlDocPtr d;

	while (rl->client && w >= 0 && (d = sipsvc_client_next(rl->client))) {
		w = forward(d);
		xmlFreeDoc(d);
	}
	if (w < 0)
		return w;
	if (rl->client && r < 0) {
		fprintf(stderr, "sipsvc-relay: lost sipsvcd: %s\n", strerror(-r));
		drop_client(rl);
		return send_error("disconnected", "sipsvcd closed the connection; "
				  "subscriptions must be made again", NULL);
	}
	return 0;
}

static int ensure_client(struct relay *rl)
{
	int r;

	if (rl->client)
		return 0;
	r = sipsvc_client_connect(&rl->opts, &rl->client);
	if (r < 0)
		fprintf(stderr, "sipsvc-relay: cannot reach sipsvcd: %s\n", strerror(-r));
	return r;
}

static int handle_message(struct relay *rl, const char *json, size_t len)
{
	struct request_meta meta;
	xmlNodePtr req = NULL;
	char err[256];
	int r = relay_request_parse(json, len, &meta, &req, err, sizeof(err));

	if (r == -EINVAL)
		return send_error("invalid", err, &meta);
	if (r < 0)
		return send_error("internal", strerror(-r), &meta);
	if (meta.origin[0])
		fprintf(stderr, "sipsvc-relay: %s asked for %s\n", meta.origin, meta.request);
	if (ensure_client(rl) < 0) {
		xmlFreeNode(req);
		return send_error("unreachable", "sipsvcd is not running (systemctl --user start "
				  "sipsvcd)", &meta);
	}
	r = sipsvc_client_send(rl->client, req, NULL, 0);
	if (r < 0) {
		drop_client(rl);
		return send_error("disconnected", "sipsvcd closed the connection", &meta);
	}
	return 0;
}

/* 1: go on, 0: the browser closed stdin, <0: stop with an error. */
static int drain_browser(struct relay *rl)
{
	int r = frame_read(&rl->in, STDIN_FILENO), eof = r == 0;
	const char *msg;
	size_t len;

	if (r < 0)
		return r;
	while ((r = frame_next(&rl->in, &msg, &len)) > 0)
		if ((r = handle_message(rl, msg, len)) < 0)
			return r;
	if (r == -EMSGSIZE) {
		/* The stream cannot be resynchronised; whoever sends this is not our extension. */
		send_error("too-large", "a message from the browser is over 64 KiB", NULL);
		return r;
	}
	return r < 0 ? r : !eof;
}

static int run(struct relay *rl)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
				       { .fd = rl->client ? sipsvc_client_fd(rl->client) : -1,
					 .events = POLLIN } };
		int r = poll(p, 2, -1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (p[1].revents && (r = drain_daemon(rl)) < 0)
			return r;
		if (p[0].revents && (r = drain_browser(rl)) <= 0)
			return r;
		/* Sending may have read replies while it waited for room. */
		if ((r = drain_daemon(rl)) < 0)
			return r;
	}
}

/* Chromium passes "chrome-extension://ID/", Firefox the manifest path and the add-on id. */
static int check_caller(int argc, char **argv)
{
	if (argc < 1) {
		usage(stderr);
		return -EINVAL;
	}
	fprintf(stderr, "sipsvc-relay: started for %s%s%s\n", argv[0], argc > 1 ? " " : "",
		argc > 1 ? argv[1] : "");
	return 0;
}

static int relay_main(struct relay *rl, int argc, char **argv)
{
	int r = check_caller(argc, argv);

	if (r < 0)
		return 64;
	signal(SIGPIPE, SIG_IGN);
	r = run(rl);
	drop_client(rl);
	if (r < 0 && r != -EPIPE)
		fprintf(stderr, "sipsvc-relay: stopping: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option o[] = { { "socket", required_argument, NULL, 's' },
					   { "port", required_argument, NULL, 'p' },
					   { "install-manifests", no_argument, NULL, 'i' },
					   { "path", required_argument, NULL, 'P' },
					   { "extension-id", required_argument, NULL, 'e' },
					   { "gecko-id", required_argument, NULL, 'g' },
					   { "version", no_argument, NULL, 'V' },
					   { "help", no_argument, NULL, 'h' }, { 0 } };
	struct manifest_opts m = { .extension_id = RELAY_EXTENSION_ID, .gecko_id = RELAY_GECKO_ID };
	static struct relay rl; /* holds the 64 KiB input buffer: not on the stack */
	bool install = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", o, NULL)) != -1) {
		switch (c) {
		case 's': rl.opts.socket_path = optarg; break;
		case 'p': rl.opts.port = atoi(optarg); break;
		case 'i': install = true; break;
		case 'P': m.path = optarg; break;
		case 'e': m.extension_id = optarg; break;
		case 'g': m.gecko_id = optarg; break;
		case 'V': printf("sipsvc-relay %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
	}
	if (install)
		return relay_install_manifests(&m) < 0 ? 1 : 0;
	return relay_main(&rl, argc - optind, argv + optind);
}
