/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sipsvc-open: the desktop's handler for sip:, sips: and tel: links. It checks the
 * URI, sends an ExternalJoin (the daemon asks which device to use), and starts the
 * daemon through systemd if it is not running.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sipsvc-client.h"

extern char **environ;

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 64, EXIT_UNREACHABLE = 69 };

/* Run a program without a shell and with its output discarded (our own message says
 * what went wrong); its exit status, or -errno. */
static int run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -ECHILD;
}

/* Socket activation starts the daemon on our connect; the service unit if no socket. */
static int start_daemon(void)
{
	char *socket_unit[] = { "systemctl", "--user", "start", "sipsvcd.socket", NULL };
	char *service_unit[] = { "systemctl", "--user", "start", "sipsvcd.service", NULL };

	if (run(socket_unit) == 0)
		return 0;
	return run(service_unit) == 0 ? 0 : -ESRCH;
}

static int connect_retry(struct sipsvc_client **c)
{
	int r = sipsvc_client_connect(NULL, c);

	if (r != -ECONNREFUSED && r != -ENOENT)
		return r;
	if (start_daemon() < 0)
		return r;
	/* The unit reports started once the socket listens; give the daemon 5 s at most. */
	for (int i = 0; i < 50; i++) {
		r = sipsvc_client_connect(NULL, c);
		if (r == 0)
			return 0;
		poll(NULL, 0, 100);
	}
	return r;
}

static int open_uri(const char *uri)
{
	struct sipsvc_client *c;
	xmlNodePtr req;
	xmlDocPtr reply = NULL;
	int r = connect_retry(&c);

	if (r < 0) {
		fprintf(stderr, "sipsvc-open: the SIP service is not running and could not be "
				"started (%s); start it with: systemctl --user start sipsvcd\n",
			strerror(-r));
		return EXIT_UNREACHABLE;
	}
	req = sipsvc_request_new("ExternalJoin");
	if (!req || sipsvc_request_set(req, "id", uri) < 0)
		r = -ENOMEM;
	else
		r = sipsvc_client_call(c, req, 10000, &reply);
	if (r == 0 && strcmp(sipsvc_msg_name(reply), "Ok") != 0) {
		xmlChar *text = xmlNodeGetContent(xmlDocGetRootElement(reply));

		fprintf(stderr, "sipsvc-open: %s: %s\n", sipsvc_msg_attr(reply, "code"),
			text ? (const char *)text : "");
		xmlFree(text);
		r = -EPROTO;
	} else if (r < 0) {
		fprintf(stderr, "sipsvc-open: no answer from the SIP service: %s\n", strerror(-r));
	}
	if (r == 0 || r == -EPROTO)
		xmlFreeDoc(reply);
	sipsvc_client_free(c);
	return r == 0 ? EXIT_OK : EXIT_FAILED;
}

int main(int argc, char **argv)
{
	bool dry_run = argc == 3 && strcmp(argv[1], "--dry-run") == 0;
	char uri[1100];
	int r;

	if (dry_run)
		argv++, argc--;
	if (argc != 2 || strcmp(argv[1], "--help") == 0) {
		fprintf(argc == 2 ? stdout : stderr,
			"Usage: sipsvc-open [--dry-run] URI\nCall a sip:, sips: or tel: URI with "
			"the device you choose (the desktop's handler for these links).\n"
			"--dry-run prints the URI as it would be sent.\n");
		return argc == 2 ? EXIT_OK : EXIT_USAGE;
	}
	r = sipsvc_uri_normalise(argv[1], uri, sizeof(uri));
	if (r < 0) {
		fprintf(stderr, "sipsvc-open: \"%s\" is not a %s\n", argv[1],
			r == -EPROTONOSUPPORT ? "sip:, sips: or tel: URI" : "valid URI");
		return EXIT_USAGE;
	}
	if (dry_run) {
		printf("%s\n", uri);
		return EXIT_OK;
	}
	return open_uri(uri);
}
