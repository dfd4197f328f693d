/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The softphone wrapper: starts a local softphone on demand (baresip or linphonec) on
 * its own loopback SIP port, set to answer the service's calls automatically, restarts
 * it if it dies, and stops it when the device is closed. Parameters:
 *   program        baresip (default) or linphonec
 *   command        the executable (default: the program's name, found in PATH)
 *   port           its SIP port on 127.0.0.1 (default: a free one)
 *   audio-source   baresip audio source "driver,device" (default "pulse,")
 *   audio-player   baresip audio player "driver,device" (default "pulse,")
 *   start-timeout-ms  how long it may take to listen (default 10000)
 */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wrappers/softphone/softphone.h"

extern char **environ;

static const char *const params[] = { "program", "command", "port", "audio-source",
				      "audio-player", "start-timeout-ms", NULL };

static void on_child(struct ev_loop *loop, ev_child *w, int revents);
static void on_poll(struct ev_loop *loop, ev_timer *w, int revents);
static void on_restart(struct ev_loop *loop, ev_timer *w, int revents);

/* ---- waiting for prepare() ----------------------------------------------------- */

static int add_waiter(struct softphone *sp, sipsvc_done_h *done, void *arg)
{
	if (sp->n_waiters == SOFTPHONE_MAX_WAITERS)
		return -EBUSY;
	sp->waiters[sp->n_waiters].done = done;
	sp->waiters[sp->n_waiters].arg = arg;
	sp->n_waiters++;
	return 0;
}

static void finish_waiters(struct softphone *sp, int err, const char *why)
{
	unsigned n = sp->n_waiters;

	sp->n_waiters = 0;
	for (unsigned i = 0; i < n; i++)
		sp->waiters[i].done(sp->waiters[i].arg, err, why);
}

/* ---- the process ------------------------------------------------------------------- */

static bool port_free(int type, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* A loopback port free for UDP and TCP, with the next one free for TCP too: baresip
 * also listens for SIP over TLS on port + 1. Another program may still take it before
 * the softphone binds; a start that fails is retried on another port. */
static int pick_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

		if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
			port = ntohs(sa.sin_port);
		if (fd >= 0)
			close(fd);
		if (port > 0 && port < 65535 && port_free(SOCK_DGRAM, port) &&
		    port_free(SOCK_STREAM, port + 1))
			return port;
	}
	return -EADDRNOTAVAIL;
}

/* The environment with HOME replaced (linphonec keeps its files under HOME). */
static char **env_with_home(const char *home)
{
	size_t n = 0, o = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "HOME=", 5) != 0)
			env[o++] = environ[i];
	if (asprintf(&env[o], "HOME=%s", home) < 0) {
		free(env);
		return NULL;
	}
	return env;
}

static void env_free(char **env)
{
	size_t n = 0;

	if (!env)
		return;
	while (env[n + 1])
		n++;
	free(env[n]); /* the HOME= we made, always last */
	free(env);
}

static int spawn(struct softphone *sp, char *const argv[], const char *dir, const char *log)
{
	posix_spawn_file_actions_t fa;
	char **env = sp->prog == SOFTPHONE_LINPHONEC ? env_with_home(dir) : NULL;
	int pipefd[2], r;

	/* posix_spawn() may report a missing program only through the child's exit (it
	 * does under valgrind): check first, so prepare() fails at once, everywhere. */
	if (access(argv[0], X_OK) < 0) {
		env_free(env);
		return -errno;
	}
	if (sp->prog == SOFTPHONE_LINPHONEC && !env)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		env_free(env);
		return -errno;
	}
	posix_spawn_file_actions_init(&fa);
	/* stdin: a pipe we hold open; linphonec quits at EOF, which is how it is stopped. */
	posix_spawn_file_actions_adddup2(&fa, pipefd[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	r = posix_spawn(&sp->pid, argv[0], &fa, NULL, argv, env ? env : environ);
	posix_spawn_file_actions_destroy(&fa);
	env_free(env);
	close(pipefd[0]);
	if (r != 0) {
		close(pipefd[1]);
		return -r;
	}
	sp->stdin_fd = pipefd[1];
	return 0;
}

static int start(struct softphone *sp)
{
	const char *dir = sp->api->dir(sp->h);
	char *argv[8] = { NULL };
	char log[4200];
	int r;

	if (!dir)
		return -EACCES;
	if (sp->conf_port == 0 && (sp->port = pick_port()) < 0)
		return sp->port;
	r = sp->prog == SOFTPHONE_BARESIP ? baresip_setup(sp, dir, argv) :
					    linphonec_setup(sp, dir, argv);
	if (r < 0)
		return r;
	snprintf(log, sizeof(log), "%s/softphone.log", dir);
	r = spawn(sp, argv, dir, log);
	softphone_free_argv(argv);
	if (r < 0) {
		sp->api->log(sp->h, SIPSVC_LOG_ERR, "cannot start %s: %s", sp->command,
			     strerror(-r));
		return r;
	}
	sp->api->log(sp->h, SIPSVC_LOG_INFO, "started %s (pid %d) on 127.0.0.1:%d", sp->command,
		     (int)sp->pid, sp->port);
	sp->state = SOFTPHONE_STARTING;
	sp->started = ev_now(sp->loop);
	ev_child_set(&sp->child, sp->pid, 0);
	ev_child_start(sp->loop, &sp->child);
	ev_timer_set(&sp->poll, 0.02, 0.05);
	ev_timer_again(sp->loop, &sp->poll);
	return 0;
}

/* Ready when its SIP port accepts a TCP connection. On loopback the handshake is done
 * by the time connect() returns EINPROGRESS, so a zero-timeout poll tells; a listener
 * not there yet is refused at once. Nothing here waits. */
static bool listening(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(err);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (!ok && errno == EINPROGRESS && poll(&p, 1, 0) == 1 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0)
		ok = err == 0;
	close(fd);
	return ok;
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct softphone *sp = w->data;

	if (listening(sp->port)) {
		ev_timer_stop(loop, w);
		sp->state = SOFTPHONE_READY;
		sp->failures = 0;
		sp->api->availability(sp->h, 1, "softphone listening");
		finish_waiters(sp, 0, NULL);
		return;
	}
	if (ev_now(loop) - sp->started < sp->start_timeout)
		return;
	ev_timer_stop(loop, w);
	sp->api->log(sp->h, SIPSVC_LOG_ERR, "%s did not listen on 127.0.0.1:%d within %.1f s",
		     sp->command, sp->port, sp->start_timeout);
	kill(sp->pid, SIGKILL); /* on_child reports and schedules the restart */
	finish_waiters(sp, -ETIMEDOUT, "the softphone did not start");
}

/* Back-off between restarts: 1, 2, 4 … 30 s, so a broken install does not spin. */
static void schedule_restart(struct softphone *sp)
{
	double delay = 1.0;

	for (unsigned i = 1; i < sp->failures && delay < 30.0; i++)
		delay *= 2;
	if (delay > 30.0)
		delay = 30.0;
	ev_timer_set(&sp->restart, delay, 0.);
	ev_timer_start(sp->loop, &sp->restart);
	sp->api->log(sp->h, SIPSVC_LOG_INFO, "restarting %s in %.0f s", sp->command, delay);
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct softphone *sp = w->data;
	char why[96];
	bool starting;

	ev_child_stop(loop, w);
	ev_timer_stop(loop, &sp->poll);
	if (sp->stdin_fd >= 0)
		close(sp->stdin_fd);
	sp->stdin_fd = -1;
	sp->pid = 0;
	if (WIFSIGNALED(w->rstatus))
		snprintf(why, sizeof(why), "%s killed by signal %d", sp->command,
			 WTERMSIG(w->rstatus));
	else
		snprintf(why, sizeof(why), "%s exited with status %d", sp->command,
			 WEXITSTATUS(w->rstatus));
	sp->api->log(sp->h, SIPSVC_LOG_WARNING, "%s", why);
	sp->api->availability(sp->h, 0, why);
	starting = sp->state == SOFTPHONE_STARTING;
	sp->state = SOFTPHONE_STOPPED;
	sp->failures++;
	/* Dying while starting is often a port someone took meanwhile: try again at once
	 * (on a new port) a few times before the callers are told. */
	if (starting && sp->n_waiters && sp->failures < 3 && start(sp) == 0)
		return;
	finish_waiters(sp, -ECHILD, "the softphone exited while starting");
	schedule_restart(sp);
}

static void on_restart(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct softphone *sp = w->data;

	if (sp->state == SOFTPHONE_STOPPED && start(sp) < 0) {
		sp->failures++;
		schedule_restart(sp);
	}
}

/* ---- the wrapper operations -------------------------------------------------------- */

static int sp_open(const struct sipsvc_host_api *api, struct sipsvc_host *h, void **ret)
{
	struct softphone *sp = calloc(1, sizeof(*sp));
	int r;

	if (!sp)
		return -ENOMEM;
	sp->api = api;
	sp->h = h;
	sp->loop = api->loop(h);
	sp->stdin_fd = -1;
	r = softphone_read_params(sp);
	if (r < 0) {
		free(sp);
		return r;
	}
	ev_child_init(&sp->child, on_child, 0, 0);
	ev_timer_init(&sp->poll, on_poll, 0., 0.05);
	ev_timer_init(&sp->restart, on_restart, 1., 0.);
	sp->child.data = sp->poll.data = sp->restart.data = sp;
	*ret = sp;
	return 0;
}

static void sp_close(void *state)
{
	struct softphone *sp = state;

	if (!sp)
		return;
	ev_timer_stop(sp->loop, &sp->poll);
	ev_timer_stop(sp->loop, &sp->restart);
	ev_child_stop(sp->loop, &sp->child);
	finish_waiters(sp, -ECANCELED, "the device was closed");
	if (sp->pid > 0)
		softphone_reap(sp->loop, sp->pid, sp->command);
	if (sp->stdin_fd >= 0)
		close(sp->stdin_fd);
	free(sp->command);
	free(sp->audio_source);
	free(sp->audio_player);
	free(sp);
}

static int sp_prepare(void *state, sipsvc_done_h *done, void *arg)
{
	struct softphone *sp = state;
	int r;

	if (sp->state == SOFTPHONE_READY)
		return wrapper_defer(sp->loop, done, arg, 0, NULL);
	if (sp->state == SOFTPHONE_STOPPED) {
		ev_timer_stop(sp->loop, &sp->restart);
		r = start(sp);
		if (r < 0)
			return r;
	}
	return add_waiter(sp, done, arg);
}

static int sp_contact(void *state, char *buf, size_t size)
{
	struct softphone *sp = state;

	if (sp->state != SOFTPHONE_READY)
		return -ENOTCONN;
	return (size_t)snprintf(buf, size, "sip:sipsvc@127.0.0.1:%d", sp->port) < size ?
		       0 : -ENAMETOOLONG;
}

static unsigned sp_caps(void *state)
{
	return SIPSVC_CAP_AUTO_ANSWER | SIPSVC_CAP_REFER | SIPSVC_CAP_LOOP;
}

/* Available when its program exists: it is started on demand. */
static int sp_available(void *state)
{
	struct softphone *sp = state;

	if (sp->state == SOFTPHONE_READY || sp->state == SOFTPHONE_STARTING)
		return 1;
	return softphone_find_command(sp) == 0 && sp->failures < 3;
}

SIPSVC_WRAPPER(softphone) = {
	.abi = SIPSVC_WRAPPER_ABI,
	.name = "softphone",
	.params = params,
	.open = sp_open,
	.close = sp_close,
	.prepare = sp_prepare,
	.contact = sp_contact,
	.caps = sp_caps,
	.available = sp_available,
	.shutdown = softphone_shutdown,
};
