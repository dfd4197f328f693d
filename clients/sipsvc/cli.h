/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sipsvc command-line client: shared declarations. */
#ifndef SIPSVC_CLI_H
#define SIPSVC_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "sipsvc-client.h"

/* Exit codes (documented in sipsvc(1) and the README). */
enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,        /* the daemon answered with an error not listed below */
	EXIT_NOT_FOUND = 2,    /* no-such-device/-call, not-found, not-shared, no-devices … */
	EXIT_REQUEST = 3,      /* invalid, unknown-request, too-large, limit, not-well-formed */
	EXIT_REMOTE = 4,       /* sip-error, busy, declined, timeout, device-unavailable, a failed call */
	EXIT_PERMISSION = 5,   /* permission-denied */
	EXIT_USAGE = 64,       /* bad command line */
	EXIT_UNREACHABLE = 69, /* no daemon to talk to */
	EXIT_PROTOCOL = 76,    /* the daemon said something unexpected or went away */
};

/** What to wait for after the Ok of a long request. */
enum follow {
	FOLLOW_NONE,
	FOLLOW_CALL,     /* call events until ended/failed/transferred */
	FOLLOW_SEARCH,   /* search events until state="done" */
	FOLLOW_TRANSFER, /* transfer events until done/failed/cancelled */
	FOLLOW_TUNNEL,   /* tunnel events until a final response */
	FOLLOW_FOREVER,  /* `events`: until interrupted */
};

struct cli {
	struct sipsvc_client_opts opts;
	bool xml;       /* print the raw messages */
	bool dry_run;   /* print the request instead of sending it */
	int timeout_ms; /* for the reply */
};

/** A subcommand: builds one request from its arguments. */
struct command {
	const char *name;
	const char *request; /* the element it sends */
	const char *args;
	const char *help;
	int (*build)(const char *request, int argc, char **argv, xmlNodePtr *ret);
	enum follow follow;
	void (*print_ok)(xmlDocPtr ok);
};

/** The table of subcommands, NULL-terminated. */
extern const struct command commands[];

/* progress.c: the progress line of fetch on a terminal */
struct progress {
	double t0;
	unsigned long long start;
	bool started, drawn;
};
void progress_init(struct progress *p);
void progress_show(struct progress *p, FILE *f, unsigned long long bytes,
		   unsigned long long total);
void progress_end(struct progress *p, FILE *f);

/* print.c */
void print_message(const struct cli *cli, xmlDocPtr d);
/** --dry-run: print the request (freed here) as it would be sent. */
void print_request(xmlNodePtr req);
void print_status(xmlDocPtr ok);
void print_devices(xmlDocPtr ok);
void print_children(xmlDocPtr ok);
void print_event(xmlDocPtr ev);
/** Exit code for an <Error> reply, after printing it on stderr. */
int print_error(xmlDocPtr err);

#endif
