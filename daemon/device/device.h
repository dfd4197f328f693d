/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file device.h
 * The user's devices: the table built from the config, each device driven by its
 * wrapper (sipsvc-wrapper.h), loaded from the wrapper directory with its ABI checked.
 */
#ifndef SIPSVC_DEVICE_H
#define SIPSVC_DEVICE_H

#include <stdbool.h>

#include "core/core.h"
#include "device/sipsvc-wrapper.h"

struct device;
struct device_table;

/** Wrappers linked into the program (tests); looked up before the wrapper directory. */
extern const struct sipsvc_wrapper *const device_builtin_wrappers[];

/**
 * Open every device of @p cfg. A device whose wrapper cannot be loaded or opened is
 * kept, unavailable, with the reason logged (one bad device must not stop the rest).
 * @p wrapper_dir: where NAME.so files are. Returns 0 or -ENOMEM.
 */
int device_table_new(struct ev_loop *loop, const struct config *cfg, const char *wrapper_dir,
		     struct device_table **ret);
/** Close every device (stopping programs wrappers started) and unload; accepts NULL. */
void device_table_free(struct device_table *t);
/**
 * Apply a reloaded config: devices whose settings are unchanged keep running, others
 * are closed and reopened. Returns 0 or -ENOMEM.
 */
int device_table_reload(struct device_table *t, const struct config *cfg);
/** Number of devices. */
size_t device_table_count(const struct device_table *t);
/** The @p i-th device in config order. */
struct device *device_table_get(const struct device_table *t, size_t i);
/** A device by id, or NULL. */
struct device *device_find(const struct device_table *t, const char *id);
/**
 * Hold @p d (NULL passes through): a device a reload removes or changes stays open
 * for whoever holds it (a call in progress) until the last device_unref().
 */
struct device *device_ref(struct device *d);
/** Let go of @p d (NULL: nothing); returns NULL. */
struct device *device_unref(struct device *d);
/** The default device (marked default="true", or the only one), or NULL. */
struct device *device_default(const struct device_table *t);

const char *device_id(const struct device *d);
const char *device_wrapper(const struct device *d);
const char *device_uri(const struct device *d);
enum device_mode device_mode(const struct device *d);
bool device_is_default(const struct device *d);
/** 1 available, 0 not (no wrapper, or the wrapper says so), -1 unknown. */
int device_available(const struct device *d);
/** enum sipsvc_cap mask; 0 without a wrapper. */
unsigned device_caps(const struct device *d);
/** Make the device ready for a call; see sipsvc_wrapper.prepare. */
int device_prepare(struct device *d, sipsvc_done_h *done, void *arg);
/** The SIP URI to call the device at. */
int device_contact(struct device *d, char *buf, size_t size);
/** Click-to-dial devices: make the device call @p target itself. */
int device_dial(struct device *d, const char *target, sipsvc_done_h *done, void *arg);

#endif
