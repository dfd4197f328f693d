/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A wrapper module built for another ABI version: the loader must refuse it. */
#include "config.h"

#include "device/sipsvc-wrapper.h"

const struct sipsvc_wrapper sipsvc_wrapper_export = {
	.abi = SIPSVC_WRAPPER_ABI + 1,
	.name = "badabi",
};
