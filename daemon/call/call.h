/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file call.h
 * Calls the user places through a device (PROTOCOL.md Join, ExternalJoin, Hangup,
 * Calls): loop mode, where the service stays in both dialogs as an RFC 3725 third-party
 * call controller, and transfer mode, where it makes the device call the target with
 * an in-dialog REFER (RFC 3515) and leaves. Progress is reported as `call` events to
 * the requesting connection and to subscribers.
 *
 * Errors are -errno, which the control layer maps to the protocol's codes:
 * -EBUSY limit, -ENODEV no-such-device, -EHOSTDOWN device-unavailable, -ENOENT
 * no-such-call, -ENXIO no-devices, -ECANCELED declined, -EINVAL invalid, -ENOTCONN
 * no-active-call, -EDESTADDRREQ no-conference-server, -ENOMEM internal.
 */
#ifndef SIPSVC_CALL_H
#define SIPSVC_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>
#include <libxml/tree.h>

#include "core/core.h"

struct call_mgr;
struct sip;
struct device_table;

/**
 * Start the call subsystem on @p sip with the devices of @p devs (may be NULL);
 * registers a status contributor (Counts calls=). 0 or -ENOMEM.
 */
int call_mgr_new(struct ev_loop *loop, const struct config *cfg, struct sip *sip,
		 struct device_table *devs, struct call_mgr **ret);
/** End every call at once (no BYE waits) and free everything; accepts NULL. */
void call_mgr_free(struct call_mgr *m);
/** Use @p cfg (limits, identity) for new calls. */
void call_mgr_set_config(struct call_mgr *m, const struct config *cfg);
/** Calls not yet ended. */
size_t call_mgr_count(const struct call_mgr *m);

/**
 * Join: call @p target with device @p dev (a device id, or a sip:/sips:/tel: URI used
 * as an ad-hoc SIP device) in @p mode (_DEVICE_MODE_INVALID: the device's own). The
 * call starts at once; *@p ret_id is its number (c7 → 7). On failure @p err says why
 * in words for the user. 0 or -errno.
 */
int call_join(struct call_mgr *m, const char *target, const char *dev, enum device_mode mode,
	      const struct origin *o, unsigned *ret_id, char *err, size_t errlen);
/**
 * ExternalJoin: call @p target on a device the user picks now (PROTOCOL.md "Device
 * choice"); @p prompt: a client subscribed to device-choice can be asked. The call
 * exists from now on (*@p ret_id); a failed choice ends it with a `failed` event.
 * 0 or -errno (-ENXIO: no devices at all).
 */
int call_external_join(struct call_mgr *m, const char *target, bool prompt,
		       const struct origin *o, unsigned *ret_id, char *err, size_t errlen);
/**
 * ChooseDevice: the answer to prompt number @p prompt; @p dev "" declines. 0, -ENOENT
 * (no such prompt, or answered already), -ENODEV (no such device).
 */
int call_choose(struct call_mgr *m, unsigned prompt, const char *dev, char *err, size_t errlen);
/**
 * SameDeviceJoin: switch the far end of loop-mode call @p id (0: the most recent
 * connected one) to @p target; the device's dialog stays. With no such call and @p id
 * 0, an ExternalJoin (@p prompt as there). *@p ret_id: the call. 0 or -errno (-ENOENT
 * no call @p id, -ENOTCONN call @p id is not a connected loop-mode call).
 */
int call_same_device_join(struct call_mgr *m, const char *target, unsigned id, bool prompt,
			  const struct origin *o, unsigned *ret_id, char *err, size_t errlen);
/**
 * Invite: REFER each of the @p n URIs @p uris into conference call @p id (0: the most
 * recent conference call; none: a new ad-hoc conference on the configured server,
 * joined with the default device in loop mode). Per-invitee `conference` events go to
 * @p o. *@p ret_id: the conference call. 0 or -errno (-EDESTADDRREQ no conference
 * server, -ENOENT no call @p id, -ENOTCONN not a loop-mode call, -ENXIO no default
 * device, -EBUSY limits).
 */
int call_invite(struct call_mgr *m, unsigned id, const char *const *uris, size_t n,
		const struct origin *o, unsigned *ret_id, char *err, size_t errlen);
/** Hangup: end call @p id, or every call with 0. 0 or -ENOENT. */
int call_hangup(struct call_mgr *m, unsigned id);
/** Add a <Call> (sipsvc.xsd CallInfo) with its <Leg>s to @p parent per active call. */
int call_mgr_list(struct call_mgr *m, xmlNodePtr parent);
struct sip_dialog;
/**
 * The SIP dialog of leg @p leg ("device" or "remote") of active call @p id, for
 * requests sent inside it (Tunnel call= leg=). The pointer is valid until the loop
 * runs again. 0, -ENOENT (no such call), -EINVAL (no such leg name), -ENOTCONN (the
 * leg has no established dialog, or it has ended).
 */
int call_leg_dialog(struct call_mgr *m, unsigned id, const char *leg,
		    struct sip_dialog **ret);

#endif
