/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sipsvc: one subcommand per request of the control protocol. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: sipsvc [--socket PATH | --port N] [--xml] [--dry-run] [--timeout MS] "
		   "COMMAND [ARGS]\n"
		   "Talk to sipsvcd, the SIP service.\n\nCommands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(f, "  %-8s %-44s %s\n", c->name, c->args, c->help);
	fprintf(f, "  %-8s %-44s %s\n", "send", "[XML]",
		"send raw XML (argument or stdin) and print every answer");
	fprintf(f, "\n'sipsvc COMMAND --help' shows one command. Exit codes: 0 ok, 1 error,\n"
		   "2 not found, 3 bad request, 4 remote failure, 5 permission denied, 64 usage,\n"
		   "69 daemon unreachable, 76 protocol error.\n");
}

static const struct command *find_command(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* Is @p ev the last event of the work the request started? Sets *code for failures. */
static bool follow_done(enum follow f, xmlDocPtr ev, int *code)
{
	const char *state = sipsvc_msg_attr(ev, "state"), *status = sipsvc_msg_attr(ev, "status");
	const char *leg = sipsvc_msg_attr(ev, "leg");

	state = state ? state : "";
	switch (f) {
	case FOLLOW_CALL:
		*code = strcmp(state, "failed") == 0 ? EXIT_REMOTE : EXIT_OK;
		return !leg && (!strcmp(state, "ended") || !strcmp(state, "failed") ||
				!strcmp(state, "transferred"));
	case FOLLOW_SEARCH:
		return strcmp(state, "done") == 0;
	case FOLLOW_TRANSFER:
		*code = strcmp(state, "done") == 0 ? EXIT_OK : EXIT_REMOTE;
		return !strcmp(state, "done") || !strcmp(state, "failed") ||
		       !strcmp(state, "cancelled");
	case FOLLOW_TUNNEL:
		*code = status && atoi(status) >= 300 ? EXIT_REMOTE : EXIT_OK;
		return status && atoi(status) >= 200;
	default:
		return false;
	}
}

/* A transfer progress event, drawn as a progress line when stdout is a terminal. */
static bool draw_progress(struct progress *p, enum follow f, xmlDocPtr ev)
{
	const char *state = sipsvc_msg_attr(ev, "state");
	const char *bytes = sipsvc_msg_attr(ev, "bytes"), *total = sipsvc_msg_attr(ev, "total");

	if (f != FOLLOW_TRANSFER || !isatty(STDOUT_FILENO) || !state ||
	    strcmp(state, "progress") != 0 || !bytes || !total)
		return false;
	progress_show(p, stdout, strtoull(bytes, NULL, 10), strtoull(total, NULL, 10));
	return true;
}

static int follow(const struct cli *cli, struct sipsvc_client *c, enum follow f)
{
	struct progress prog;
	int code = EXIT_OK, r;
	xmlDocPtr ev;

	progress_init(&prog);
	while ((r = sipsvc_client_wait(c, -1, &ev)) == 0) {
		bool done = follow_done(f, ev, &code);

		if (cli->xml) {
			print_message(cli, ev);
		} else if (!draw_progress(&prog, f, ev)) {
			progress_end(&prog, stdout);
			print_event(ev);
		}
		xmlFreeDoc(ev);
		if (done)
			return code;
	}
	progress_end(&prog, stdout);
	fprintf(stderr, "sipsvc: the daemon went away: %s\n", strerror(-r));
	return EXIT_PROTOCOL;
}

static int run_command(const struct cli *cli, struct sipsvc_client *c, const struct command *cmd,
		       xmlNodePtr req)
{
	xmlDocPtr reply;
	int r = sipsvc_client_call(c, req, cli->timeout_ms, &reply);

	if (r < 0) {
		fprintf(stderr, "sipsvc: no reply from %s: %s\n", sipsvc_client_endpoint(c),
			strerror(-r));
		return EXIT_PROTOCOL;
	}
	if (cli->xml)
		print_message(cli, reply);
	if (strcmp(sipsvc_msg_name(reply), "Error") == 0) {
		r = print_error(reply);
		xmlFreeDoc(reply);
		return r;
	}
	if (!cli->xml)
		cmd->print_ok(reply);
	xmlFreeDoc(reply);
	return cmd->follow == FOLLOW_NONE ? EXIT_OK : follow(cli, c, cmd->follow);
}

static int read_all(FILE *f, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;

	for (;;) {
		if (cap - len < 4096) {
			char *b = realloc(buf, cap + 65536);

			if (!b)
				return free(buf), -ENOMEM;
			buf = b;
			cap += 65536;
		}
		size_t n = fread(buf + len, 1, cap - len, f);

		len += n;
		if (n == 0)
			break;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* send: the bytes go as they are; everything the daemon answers is printed. */
static int run_send(const struct cli *cli, struct sipsvc_client *c, int argc, char **argv)
{
	char *buf = NULL;
	size_t len;
	xmlDocPtr d;
	int r, code = EXIT_OK;

	if (argc > 1) {
		buf = strdup(argv[1]);
		len = buf ? strlen(buf) : 0;
		r = buf ? 0 : -ENOMEM;
	} else {
		r = read_all(stdin, &buf, &len);
	}
	if (r == 0)
		r = sipsvc_client_send_raw(c, buf, len);
	free(buf);
	if (r == 0)
		r = sipsvc_client_shutdown(c);
	while (r == 0 && (r = sipsvc_client_wait(c, -1, &d)) == 0) {
		print_message(cli, d);
		if (strcmp(sipsvc_msg_name(d), "Error") == 0)
			code = EXIT_REQUEST;
		xmlFreeDoc(d);
	}
	return r == -EPIPE ? code : EXIT_PROTOCOL;
}

static int parse_global(int argc, char **argv, struct cli *cli)
{
	static const struct option o[] = { { "socket", required_argument, NULL, 's' },
					   { "port", required_argument, NULL, 'p' },
					   { "xml", no_argument, NULL, 'x' },
					   { "dry-run", no_argument, NULL, 'n' },
					   { "timeout", required_argument, NULL, 't' },
					   { "version", no_argument, NULL, 'V' },
					   { "help", no_argument, NULL, 'h' }, { 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "+h", o, NULL)) != -1) {
		switch (c) {
		case 's': cli->opts.socket_path = optarg; break;
		case 'p': cli->opts.port = atoi(optarg); break;
		case 'x': cli->xml = true; break;
		case 'n': cli->dry_run = true; break;
		case 't': cli->timeout_ms = atoi(optarg); break;
		case 'V': printf("sipsvc %s\n", PACKAGE_VERSION); exit(EXIT_OK);
		case 'h': usage(stdout); exit(EXIT_OK);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return -EINVAL;
	}
	return optind;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct cli cli = { .timeout_ms = 10000 };
	const struct command *cmd = NULL;
	struct sipsvc_client *c;
	xmlNodePtr req = NULL;
	int first = parse_global(argc, argv, &cli), r;

	if (first < 0)
		return EXIT_USAGE;
	argc -= first;
	argv += first;
	optind = 0; /* subcommand options: argv[0] is the command name */
	if (strcmp(argv[0], "send") != 0 && !(cmd = find_command(argv[0]))) {
		fprintf(stderr, "sipsvc: unknown command \"%s\" (see sipsvc --help)\n", argv[0]);
		return EXIT_USAGE;
	}
	if (wants_help(argc, argv)) {
		printf("Usage: sipsvc %s %s\n  %s\n", argv[0], cmd ? cmd->args : "[XML]",
		       cmd ? cmd->help : "send raw XML (argument or stdin), print every answer");
		return EXIT_OK;
	}
	if (cmd && (r = cmd->build(cmd->request, argc, argv, &req)) < 0) {
		xmlFreeNode(req);
		return r == -ENOMEM ? EXIT_ERROR : EXIT_USAGE;
	}
	if (cli.dry_run && cmd) {
		print_request(req);
		return EXIT_OK;
	}
	signal(SIGPIPE, SIG_IGN);
	r = sipsvc_client_connect(&cli.opts, &c);
	if (r < 0) {
		fprintf(stderr, "sipsvc: cannot reach sipsvcd: %s (is it running? "
				"try: systemctl --user start sipsvcd)\n", strerror(-r));
		xmlFreeNode(req);
		return EXIT_UNREACHABLE;
	}
	r = cmd ? run_command(&cli, c, cmd, req) : run_send(&cli, c, argc, argv);
	sipsvc_client_free(c);
	return r;
}
