/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading and checking the softphone's <param>s. */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "wrappers/softphone/softphone.h"

/* "driver,device": a driver name that is a baresip module, no path tricks. */
static bool audio_ok(const char *v)
{
	size_t n = strcspn(v, ",");

	if (n == 0 || n > 32 || !v[n])
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '_'))
			return false;
	return !strpbrk(v, "\n\r");
}

static int read_num(struct softphone *sp, const char *name, long lo, long hi, long dflt,
		    long *ret)
{
	const char *v = sp->api->param(sp->h, name);
	char *end;

	*ret = dflt;
	if (!v)
		return 0;
	*ret = strtol(v, &end, 10);
	if (*v == '\0' || *end || *ret < lo || *ret > hi) {
		sp->api->log(sp->h, SIPSVC_LOG_ERR, "%s must be a number from %ld to %ld", name,
			     lo, hi);
		return -EINVAL;
	}
	return 0;
}

static int read_program(struct softphone *sp)
{
	const char *prog = sp->api->param(sp->h, "program");
	const char *cmd = sp->api->param(sp->h, "command");

	if (!prog || !strcmp(prog, "baresip"))
		sp->prog = SOFTPHONE_BARESIP;
	else if (!strcmp(prog, "linphonec"))
		sp->prog = SOFTPHONE_LINPHONEC;
	else {
		sp->api->log(sp->h, SIPSVC_LOG_ERR, "program is baresip or linphonec, not \"%s\"",
			     prog);
		return -EINVAL;
	}
	sp->command = strdup(cmd ? cmd : sp->prog == SOFTPHONE_BARESIP ? "baresip" : "linphonec");
	return sp->command ? 0 : -ENOMEM;
}

static int read_audio(struct softphone *sp)
{
	const char *src = sp->api->param(sp->h, "audio-source");
	const char *play = sp->api->param(sp->h, "audio-player");

	src = src ? src : "pulse,";
	play = play ? play : "pulse,";
	if (!audio_ok(src) || !audio_ok(play)) {
		sp->api->log(sp->h, SIPSVC_LOG_ERR, "audio-source and audio-player are "
			     "\"driver,device\" (e.g. \"pulse,\" or \"aufile,/path/tone.wav\")");
		return -EINVAL;
	}
	sp->audio_source = strdup(src);
	sp->audio_player = strdup(play);
	return sp->audio_source && sp->audio_player ? 0 : -ENOMEM;
}

int softphone_read_params(struct softphone *sp)
{
	long port, timeout;
	int r = read_program(sp);

	if (r == 0)
		r = read_audio(sp);
	if (r == 0)
		r = read_num(sp, "port", 0, 65535, 0, &port);
	if (r == 0)
		r = read_num(sp, "start-timeout-ms", 100, 600000, 10000, &timeout);
	if (r < 0) {
		free(sp->command);
		free(sp->audio_source);
		free(sp->audio_player);
		return r;
	}
	sp->conf_port = sp->port = (int)port;
	sp->start_timeout = (double)timeout / 1000.0;
	return 0;
}

int softphone_command_path(const struct softphone *sp, char *buf, size_t size)
{
	const char *path = getenv("PATH");

	if (strchr(sp->command, '/'))
		return (size_t)snprintf(buf, size, "%s", sp->command) < size ? 0 : -ENAMETOOLONG;
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		if ((size_t)snprintf(buf, size, "%.*s/%s", (int)n, p, sp->command) < size &&
		    n > 0 && access(buf, X_OK) == 0)
			return 0;
		p += n + (p[n] == ':');
	}
	return -ENOENT;
}

int softphone_find_command(const struct softphone *sp)
{
	char path[PATH_MAX];
	int r = softphone_command_path(sp, path, sizeof(path));

	return r < 0 ? r : access(path, X_OK) == 0 ? 0 : -errno;
}
