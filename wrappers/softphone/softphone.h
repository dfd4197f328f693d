/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The softphone wrapper's internals. */
#ifndef SIPSVC_SOFTPHONE_H
#define SIPSVC_SOFTPHONE_H

#include <sys/types.h>

#include "wrappers/wrapper-util.h"

#define SOFTPHONE_MAX_WAITERS 16

enum softphone_program { SOFTPHONE_BARESIP, SOFTPHONE_LINPHONEC };

enum softphone_state {
	SOFTPHONE_STOPPED,  /* not running (never started, or waiting to restart) */
	SOFTPHONE_STARTING, /* spawned, its SIP port not listening yet */
	SOFTPHONE_READY,
};

struct softphone {
	const struct sipsvc_host_api *api;
	struct sipsvc_host *h;
	struct ev_loop *loop;
	enum softphone_program prog;
	char *command;
	char *audio_source, *audio_player;
	int conf_port, port;
	double start_timeout;
	enum softphone_state state;
	pid_t pid;
	int stdin_fd;
	ev_tstamp started;
	unsigned failures;
	ev_child child;
	ev_timer poll, restart;
	struct {
		sipsvc_done_h *done;
		void *arg;
	} waiters[SOFTPHONE_MAX_WAITERS];
	unsigned n_waiters;
};

/* params.c */
int softphone_read_params(struct softphone *sp);
/** 0 if the command can be executed (searched in PATH when it has no '/'). */
int softphone_find_command(const struct softphone *sp);
/** Resolve the command to an absolute path into @p buf. */
int softphone_command_path(const struct softphone *sp, char *buf, size_t size);

/* programs.c: write the program's config under @p dir and fill its argv (malloc'd). */
int baresip_setup(struct softphone *sp, const char *dir, char *argv[8]);
int linphonec_setup(struct softphone *sp, const char *dir, char *argv[8]);
void softphone_free_argv(char *argv[8]);

/* reap.c */
/** Stop @p pid without waiting: SIGTERM now, SIGKILL after 3 s, reaped by the loop. */
void softphone_reap(struct ev_loop *loop, pid_t pid, const char *name);
/** The wrapper's shutdown(): finish stopping every softphone. */
void softphone_shutdown(struct ev_loop *loop);

#endif
