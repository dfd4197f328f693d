/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sip wrapper: any device reachable by SIP at a fixed URI (a desk phone, a mobile
 * behind a gateway, a softphone the user runs). Nothing to start; what the device can
 * do is said in the config, because a phone does not advertise it reliably:
 *   <param name="auto-answer" value="true"/>  it honours Answer-Mode: Auto (RFC 5373)
 *   <param name="refer" value="false"/>       it refuses REFER (use loop mode)
 *   <param name="refer-nosub" value="true"/>  it takes REFER with Refer-Sub: false (RFC 4488)
 */
#include "config.h"

#include <stdio.h>

#include "wrappers/wrapper-util.h"

struct sip_dev {
	const struct sipsvc_host_api *api;
	struct sipsvc_host *h;
	unsigned caps;
};

static const char *const params[] = { "auto-answer", "refer", "refer-nosub", NULL };

static int read_caps(struct sip_dev *s)
{
	bool aa, refer, nosub;

	if (wrapper_bool(s->api->param(s->h, "auto-answer"), false, &aa) < 0 ||
	    wrapper_bool(s->api->param(s->h, "refer"), true, &refer) < 0 ||
	    wrapper_bool(s->api->param(s->h, "refer-nosub"), false, &nosub) < 0) {
		s->api->log(s->h, SIPSVC_LOG_ERR, "auto-answer, refer and refer-nosub are "
			    "true or false");
		return -EINVAL;
	}
	s->caps = SIPSVC_CAP_LOOP | (aa ? SIPSVC_CAP_AUTO_ANSWER : 0) |
		  (refer ? SIPSVC_CAP_REFER : 0) | (nosub ? SIPSVC_CAP_REFER_NOSUB : 0);
	return 0;
}

static int sip_open(const struct sipsvc_host_api *api, struct sipsvc_host *h, void **ret)
{
	struct sip_dev *s;
	int r;

	if (!api->uri(h)) {
		api->log(h, SIPSVC_LOG_ERR, "a sip device needs uri=\"sip:…\"");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->api = api;
	s->h = h;
	r = read_caps(s);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

static void sip_close(void *state)
{
	free(state);
}

static int sip_prepare(void *state, sipsvc_done_h *done, void *arg)
{
	struct sip_dev *s = state;

	return wrapper_defer(s->api->loop(s->h), done, arg, 0, NULL);
}

static int sip_contact(void *state, char *buf, size_t size)
{
	struct sip_dev *s = state;

	return (size_t)snprintf(buf, size, "%s", s->api->uri(s->h)) < size ? 0 : -ENAMETOOLONG;
}

static unsigned sip_caps(void *state)
{
	return ((struct sip_dev *)state)->caps;
}

/* Whether a phone is up shows only when it is called (or OPTIONS-pinged by the SIP
 * layer); the wrapper alone cannot tell. */
static int sip_available(void *state)
{
	return -1;
}

SIPSVC_WRAPPER(sip) = {
	.abi = SIPSVC_WRAPPER_ABI,
	.name = "sip",
	.params = params,
	.open = sip_open,
	.close = sip_close,
	.prepare = sip_prepare,
	.contact = sip_contact,
	.caps = sip_caps,
	.available = sip_available,
};
