/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sipsvcd links no wrapper: each is loaded from the wrapper directory when used. */
#include "config.h"

#include "device/device.h"

const struct sipsvc_wrapper *const device_builtin_wrappers[] = { NULL };
