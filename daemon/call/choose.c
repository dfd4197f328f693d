/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device choice for ExternalJoin (PROTOCOL.md "Device choice"), the first that
 * applies: a prompt to clients subscribed to device-choice, answered by ChooseDevice
 * within CALL_PROMPT_TIMEOUT; a chooser program (<calls chooser>, else zenity on a
 * desktop), run without a shell, whose first output line names the device, within
 * the same time; the default device; otherwise declined.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "call/call-private.h"
#include "device/device.h"

static int add_device(xmlNodePtr ev, const struct device *d)
{
	xmlNodePtr n = xmlNewChild(ev, NULL, BAD_CAST "Device", NULL);

	if (!n || !xmlNewProp(n, BAD_CAST "id", BAD_CAST device_id(d)) ||
	    !xmlNewProp(n, BAD_CAST "mode", BAD_CAST device_mode_to_string(device_mode(d))) ||
	    !xmlNewProp(n, BAD_CAST "default",
			BAD_CAST(device_is_default(d) ? "true" : "false")))
		return -ENOMEM;
	return 0;
}

/* The prompt goes to subscribers only: it is not an answer to the requester. */
static int send_prompt(struct call *c)
{
	struct device_table *t = c->mgr->devs;
	struct origin none = { 0 };
	xmlNodePtr ev = event_new(EVENT_DEVICE_CHOICE, &none);

	if (!ev || xml_set_propf(ev, "prompt", "p%u", c->prompt) < 0 ||
	    !xmlNewProp(ev, BAD_CAST "target", BAD_CAST c->target)) {
		xmlFreeNode(ev);
		return -ENOMEM;
	}
	for (size_t i = 0; i < device_table_count(t); i++)
		if (device_available(device_table_get(t, i)) != 0 &&
		    add_device(ev, device_table_get(t, i)) < 0) {
			xmlFreeNode(ev);
			return -ENOMEM;
		}
	event_emit(EVENT_DEVICE_CHOICE, &none, ev);
	return 0;
}

/* Steps 3 and 4: the default device, else nothing. */
static int use_default(struct call *c, char *err, size_t errlen)
{
	struct device *d = device_default(c->mgr->devs);

	if (!d) {
		snprintf(err, errlen, "nobody chose a device and there is no default device; "
			 "mark one default=\"true\" in sipsvc.xml");
		return -ECANCELED;
	}
	return call_use_device(c, device_id(d), _DEVICE_MODE_INVALID, err, errlen);
}

/* Steps 3 and 4, after the prompt and the chooser program gave nothing. */
static void fall_back(struct call *c)
{
	char err[256];

	mem_ref(c);
	if (use_default(c, err, sizeof(err)) < 0)
		call_finish(c, CALL_STATE_FAILED, "declined", 0);
	else
		call_begin(c);
	mem_deref(c);
}

/* ---- step 2: the chooser program -------------------------------------------------- */

#define CHOOSER_MAX_ARGS 64

/* argv: the configured program with the target and the devices, or zenity's list. */
static int chooser_argv(struct call *c, const char **argv, char *title, size_t tlen)
{
	struct device_table *t = c->mgr->devs;
	const char *prog = c->mgr->cfg->chooser;
	size_t n = 0;

	if (!prog && (getenv("DISPLAY") || getenv("WAYLAND_DISPLAY")) &&
	    access("/usr/bin/zenity", X_OK) == 0) {
		snprintf(title, tlen, "Call %s with", c->target);
		argv[n++] = "/usr/bin/zenity";
		argv[n++] = "--list";
		argv[n++] = "--title";
		argv[n++] = title;
		argv[n++] = "--column=Device";
	} else if (prog) {
		argv[n++] = prog;
		argv[n++] = c->target;
	} else {
		return -ENOENT;
	}
	for (size_t i = 0; i < device_table_count(t) && n < CHOOSER_MAX_ARGS - 1; i++)
		if (device_available(device_table_get(t, i)) != 0)
			argv[n++] = device_id(device_table_get(t, i));
	argv[n] = NULL;
	return 0;
}

/* Stop reading and reap. The program was killed if still running, so the wait is
 * immediate; the call may be freed right after, with nothing left watching. */
static void chooser_stop(struct call *c)
{
	struct ev_loop *loop = c->mgr ? c->mgr->loop : NULL;
	int st;

	if (!c->chooser.pid)
		return;
	if (loop) {
		ev_io_stop(loop, &c->chooser.io);
		ev_child_stop(loop, &c->chooser.child);
	}
	close(c->chooser.fd);
	if (kill(c->chooser.pid, SIGKILL) == 0 || errno != ESRCH)
		waitpid(c->chooser.pid, &st, 0);
	c->chooser.pid = 0;
}

static void chooser_read(struct call *c)
{
	ssize_t n;

	while (c->chooser.len < sizeof(c->chooser.out) - 1 &&
	       (n = read(c->chooser.fd, c->chooser.out + c->chooser.len,
			 sizeof(c->chooser.out) - 1 - c->chooser.len)) > 0)
		c->chooser.len += (size_t)n;
	c->chooser.out[c->chooser.len] = '\0';
}

static void on_chooser_output(struct ev_loop *loop, ev_io *w, int revents)
{
	struct call *c = w->data;

	chooser_read(c);
	/* Output beyond one line's worth is not read: the program's exit decides. */
	if (c->chooser.len >= sizeof(c->chooser.out) - 1)
		ev_io_stop(loop, w);
}

static void on_chooser_exit(struct ev_loop *loop, ev_child *w, int revents)
{
	struct call *c = w->data;
	char err[256], *dev = c->chooser.out;

	ev_child_stop(loop, w);
	ev_timer_stop(loop, &c->prompt_timer);
	chooser_read(c);
	ev_io_stop(loop, &c->chooser.io);
	close(c->chooser.fd);
	c->chooser.pid = 0;
	dev[strcspn(dev, "\r\n")] = '\0';
	mem_ref(c);
	if (WIFEXITED(w->rstatus) && WEXITSTATUS(w->rstatus) == 0 && dev[0] &&
	    call_use_device(c, dev, _DEVICE_MODE_INVALID, err, sizeof(err)) == 0) {
		log_info("call c%u: the chooser program picked %s", c->id, dev);
		call_begin(c);
	} else {
		log_info("call c%u: the chooser program picked no device", c->id);
		fall_back(c);
	}
	mem_deref(c);
}

static void on_chooser_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;

	log_info("call c%u: the chooser program did not answer in %.0f s", c->id,
		 CALL_PROMPT_TIMEOUT);
	mem_ref(c);
	chooser_stop(c);
	fall_back(c);
	mem_deref(c);
}

/* The program's stdout is a pipe whose read end alone is non-blocking; stdin is
 * /dev/null, stderr goes to our log. No shell is involved (PROTOCOL.md). */
static int chooser_spawn(struct call *c, const char **argv)
{
	posix_spawn_file_actions_t fa;
	int fds[2], r;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	r = posix_spawn_file_actions_init(&fa);
	if (r == 0) {
		r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		if (r == 0)
			r = posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
		if (r == 0)
			r = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(fds[1]);
	if (r != 0) {
		close(fds[0]);
		return -r;
	}
	c->chooser.pid = pid;
	c->chooser.fd = fds[0];
	c->chooser.len = 0;
	return 0;
}

/* Step 2; -ENOENT when there is no chooser program to run. */
static int chooser_start(struct call *c)
{
	const char *argv[CHOOSER_MAX_ARGS];
	char title[CALL_URI_MAX + 16];
	struct ev_loop *loop = c->mgr->loop;
	int r = chooser_argv(c, argv, title, sizeof(title));

	if (r == 0)
		r = chooser_spawn(c, argv);
	if (r < 0) {
		if (r != -ENOENT)
			log_warn("call c%u: cannot run the chooser %s: %s", c->id, argv[0],
				 strerror(-r));
		return r;
	}
	ev_io_init(&c->chooser.io, on_chooser_output, c->chooser.fd, EV_READ);
	c->chooser.io.data = c;
	ev_io_start(loop, &c->chooser.io);
	ev_child_init(&c->chooser.child, on_chooser_exit, c->chooser.pid, 0);
	c->chooser.child.data = c;
	ev_child_start(loop, &c->chooser.child);
	ev_timer_init(&c->prompt_timer, on_chooser_timeout, CALL_PROMPT_TIMEOUT, 0.);
	c->prompt_timer.data = c;
	ev_timer_start(loop, &c->prompt_timer);
	log_info("call c%u: asking the chooser program %s (pid %d)", c->id, argv[0],
		 (int)c->chooser.pid);
	return 0;
}

/* ---- step 1: the prompt ---------------------------------------------------------- */

static void on_prompt_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;

	log_info("call c%u: no answer to prompt p%u in %.0f s", c->id, c->prompt,
		 CALL_PROMPT_TIMEOUT);
	c->prompt = 0;
	if (chooser_start(c) < 0)
		fall_back(c);
}

void call_prompt_send(struct call *c)
{
	struct call_mgr *m = c->mgr;

	if (send_prompt(c) < 0)
		log_err("call c%u: out of memory sending prompt p%u", c->id, c->prompt);
	ev_timer_init(&c->prompt_timer, on_prompt_timeout, CALL_PROMPT_TIMEOUT, 0.);
	c->prompt_timer.data = c;
	ev_timer_start(m->loop, &c->prompt_timer);
}

int call_choose_start(struct call *c, bool prompt, char *err, size_t errlen)
{
	int r;

	if (prompt) {
		c->prompt = ++c->mgr->next_prompt;
		call_begin(c); /* sends the prompt after the reply */
		return 0;
	}
	if (chooser_start(c) == 0)
		return 0;
	r = use_default(c, err, errlen);
	if (r < 0)
		return r;
	call_begin(c);
	return 0;
}

void call_choose_stop(struct call *c)
{
	if (c->mgr)
		ev_timer_stop(c->mgr->loop, &c->prompt_timer);
	chooser_stop(c);
	c->prompt = 0;
}

int call_choose(struct call_mgr *m, unsigned prompt, const char *dev, char *err, size_t errlen)
{
	struct call *c = m->calls;
	int r;

	while (c && (c->ended || c->prompt != prompt || prompt == 0))
		c = c->next;
	if (!c) {
		snprintf(err, errlen, "no prompt p%u is waiting (answered, timed out, or never "
			 "sent)", prompt);
		return -ENOENT;
	}
	if (!dev[0]) {
		call_finish(c, CALL_STATE_FAILED, "declined", 0);
		return 0;
	}
	r = call_use_device(c, dev, _DEVICE_MODE_INVALID, err, errlen);
	if (r < 0)
		return r;
	call_choose_stop(c);
	call_begin(c);
	return 0;
}
