/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The closed list of error codes; xml-schema/sipsvc.xsd enumerates the same names. */
#include "config.h"

#include <string.h>

#include "control/control-private.h"

static const char *const error_names[_CONTROL_ERROR_MAX] = {
	[CONTROL_ERROR_NOT_WELL_FORMED] = "not-well-formed",
	[CONTROL_ERROR_INVALID] = "invalid",
	[CONTROL_ERROR_UNKNOWN_REQUEST] = "unknown-request",
	[CONTROL_ERROR_TOO_LARGE] = "too-large",
	[CONTROL_ERROR_LIMIT] = "limit",
	[CONTROL_ERROR_NO_SUCH_DEVICE] = "no-such-device",
	[CONTROL_ERROR_NO_DEVICES] = "no-devices",
	[CONTROL_ERROR_DEVICE_UNAVAILABLE] = "device-unavailable",
	[CONTROL_ERROR_NO_SUCH_CALL] = "no-such-call",
	[CONTROL_ERROR_NO_ACTIVE_CALL] = "no-active-call",
	[CONTROL_ERROR_NO_CONFERENCE_SERVER] = "no-conference-server",
	[CONTROL_ERROR_SIP_ERROR] = "sip-error",
	[CONTROL_ERROR_NOT_FOUND] = "not-found",
	[CONTROL_ERROR_NOT_SHARED] = "not-shared",
	[CONTROL_ERROR_PERMISSION_DENIED] = "permission-denied",
	[CONTROL_ERROR_DECLINED] = "declined",
	[CONTROL_ERROR_TIMEOUT] = "timeout",
	[CONTROL_ERROR_BUSY] = "busy",
	[CONTROL_ERROR_INTERNAL] = "internal",
};

const char *control_error_to_string(enum control_error e)
{
	return e >= 0 && e < _CONTROL_ERROR_MAX ? error_names[e] : NULL;
}

enum control_error control_error_from_string(const char *s)
{
	for (int i = 0; s && i < _CONTROL_ERROR_MAX; i++)
		if (strcmp(s, error_names[i]) == 0)
			return i;
	return _CONTROL_ERROR_INVALID;
}
