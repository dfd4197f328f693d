/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What each softphone needs to run headless on a loopback port and answer the
 * service's calls by itself: a config written into the device's private directory. */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wrappers/softphone/softphone.h"

#define BARESIP_MODULES "/usr/lib/baresip/modules"

void softphone_free_argv(char *argv[8])
{
	for (int i = 0; i < 8; i++) {
		free(argv[i]);
		argv[i] = NULL;
	}
}

/* Replace @p path's content (mode 0600), written in one go; never through a link. */
static int write_at(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t len = strlen(text);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		r = -EIO;
	close(fd);
	return r;
}

/* Replace DIR/NAME's content (mode 0600), written in one go; never through a link. */
static int write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	return write_at(path, text);
}

/* mkdir -p DIR/REL (REL starts with '/'), mode 0700. */
static int make_dirs(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	size_t base = strlen(dir);

	if ((size_t)snprintf(path, sizeof(path), "%s%s", dir, rel) >= sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + base + 1; ; p++) {
		bool end = *p == '\0';

		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (end)
			return 0;
		*p = '/';
	}
}

static int fill_argv(char *argv[8], const char *const src[])
{
	for (int i = 0; src[i]; i++)
		if (!(argv[i] = strdup(src[i]))) {
			softphone_free_argv(argv);
			return -ENOMEM;
		}
	return 0;
}

/* The module that provides an audio driver: "aufile,/x.wav" → "aufile.so". */
static void driver_module(const char *spec, char *buf, size_t size)
{
	snprintf(buf, size, "%.*s.so", (int)strcspn(spec, ","), spec);
}

static int baresip_config(struct softphone *sp, const char *cfgdir)
{
	char text[2048], src_mod[48], play_mod[48], extra[64] = "";
	int r;

	driver_module(sp->audio_source, src_mod, sizeof(src_mod));
	driver_module(sp->audio_player, play_mod, sizeof(play_mod));
	if (strcmp(src_mod, play_mod) != 0)
		snprintf(extra, sizeof(extra), "module\t%s\n", play_mod);
	snprintf(text, sizeof(text),
		 "# written by sipsvcd for device %s; replaced at every start\n"
		 "sip_listen\t127.0.0.1:%d\n"
		 "net_interface\t127.0.0.1\n"
		 "module_path\t" BARESIP_MODULES "\n"
		 "module\tg711.so\n"
		 "module\t%s\n%s"
		 "module\taccount.so\n"
		 "module\tmenu.so\n"
		 "audio_source\t%s\n"
		 "audio_player\t%s\n",
		 sp->api->id(sp->h), sp->port, src_mod, extra, sp->audio_source, sp->audio_player);
	r = write_file(cfgdir, "config", text);
	if (r < 0)
		return r;
	/* answermode=auto: the service's INVITEs are answered without a human. */
	snprintf(text, sizeof(text), "<sip:sipsvc@127.0.0.1:%d>;regint=0;answermode=auto\n",
		 sp->port);
	return write_file(cfgdir, "accounts", text);
}

int baresip_setup(struct softphone *sp, const char *dir, char *argv[8])
{
	char cmd[PATH_MAX], cfgdir[PATH_MAX];
	int r = softphone_command_path(sp, cmd, sizeof(cmd));

	if (r < 0)
		return r;
	if ((size_t)snprintf(cfgdir, sizeof(cfgdir), "%s/baresip", dir) >= sizeof(cfgdir))
		return -ENAMETOOLONG;
	if (mkdir(cfgdir, 0700) < 0 && errno != EEXIST)
		return -errno;
	r = baresip_config(sp, cfgdir);
	if (r < 0)
		return r;
	return fill_argv(argv, (const char *const[]){ cmd, "-f", cfgdir, NULL });
}

/* linphonec: -a answers calls by itself; --pipe keeps it from waiting on a terminal
 * before its SIP stack starts (its command socket is /tmp/linphonec-UID, so one
 * linphonec device per user). Its HOME is the device directory, for its database. */
int linphonec_setup(struct softphone *sp, const char *dir, char *argv[8])
{
	char cmd[PATH_MAX], rc[PATH_MAX], text[1024];
	size_t n;
	int r = softphone_command_path(sp, cmd, sizeof(cmd));

	if (r < 0)
		return r;
	snprintf(text, sizeof(text),
		 "# written by sipsvcd for device %s; replaced at every start\n"
		 "[sip]\nsip_port=%d\nsip_tcp_port=%d\nsip_tls_port=-1\nbind_address=127.0.0.1\n"
		 "default_proxy=-1\nguess_hostname=0\ncontact=sip:sipsvc@127.0.0.1:%d\n"
		 "[net]\nipv6=0\n[video]\nenabled=0\ncapture=0\ndisplay=0\n",
		 sp->api->id(sp->h), sp->port, sp->port, sp->port);
	n = (size_t)snprintf(rc, sizeof(rc), "%s/linphonerc", dir);
	r = n < sizeof(rc) ? write_at(rc, text) : -ENAMETOOLONG;
	if (r == 0)
		r = make_dirs(dir, "/.local/share/linphone");
	if (r < 0)
		return r;
	return fill_argv(argv, (const char *const[]){ cmd, "--pipe", "-c", rc, "-a", "-d", "0",
						      NULL });
}
