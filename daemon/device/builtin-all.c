/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests link every stock wrapper into the program (libwrappers-static). */
#include "config.h"

#include "device/device.h"

extern const struct sipsvc_wrapper sipsvc_wrapper_sip, sipsvc_wrapper_softphone,
	sipsvc_wrapper_http;

const struct sipsvc_wrapper *const device_builtin_wrappers[] = {
	&sipsvc_wrapper_sip,
	&sipsvc_wrapper_softphone,
	&sipsvc_wrapper_http,
	NULL,
};
