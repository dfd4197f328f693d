/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file sipsvc-wrapper.h
 * The device wrapper ABI of sipsvcd: the only daemon header that is installed.
 *
 * A wrapper drives one kind of device (a SIP phone, a softphone it starts itself, a
 * phone with an HTTP click-to-dial API). It is a shared object in
 * $(pkglibdir)/wrappers/NAME.so exporting one descriptor, `sipsvc_wrapper_export`, whose
 * `abi` must equal SIPSVC_WRAPPER_ABI. It never links against daemon internals: all it
 * may use of the daemon comes through the host table passed to open().
 *
 * Everything runs on the daemon's one libev loop: no operation may block. Long work
 * (starting a program, an HTTP request) completes through a callback.
 */
#ifndef SIPSVC_WRAPPER_H
#define SIPSVC_WRAPPER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bumped on every incompatible change of the structures below. */
#define SIPSVC_WRAPPER_ABI 1

struct ev_loop;
struct sipsvc_host; /* the daemon's side of one device; opaque */

/** What a device can do; the call logic picks its SIP flow from these. */
enum sipsvc_cap {
	SIPSVC_CAP_AUTO_ANSWER = 1 << 0, /* honours Answer-Mode: Auto (RFC 5373) */
	SIPSVC_CAP_REFER = 1 << 1,       /* accepts an in-dialog REFER (RFC 3515) */
	SIPSVC_CAP_REFER_NOSUB = 1 << 2, /* out-of-dialog REFER, Refer-Sub: false (RFC 4488) */
	SIPSVC_CAP_DIALS = 1 << 3,       /* dials a target itself: dial() (transfer mode only) */
	SIPSVC_CAP_LOOP = 1 << 4,        /* can be a leg of a loop-mode (3pcc) call */
};

/** Log levels (syslog severities). */
enum sipsvc_log { SIPSVC_LOG_ERR = 3, SIPSVC_LOG_WARNING = 4, SIPSVC_LOG_INFO = 6,
		  SIPSVC_LOG_DEBUG = 7 };

/** Completion of prepare() or dial(): 0, or -errno with @p why for the user. */
typedef void(sipsvc_done_h)(void *arg, int err, const char *why);

/** What the daemon offers a wrapper, for one device. */
struct sipsvc_host_api {
	unsigned abi;
	/** Log a line, prefixed with the device id. */
	void (*log)(struct sipsvc_host *h, enum sipsvc_log level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	/** The daemon's event loop, for the wrapper's own watchers. */
	struct ev_loop *(*loop)(struct sipsvc_host *h);
	/** A <param name value/> of the device's config, or NULL. */
	const char *(*param)(struct sipsvc_host *h, const char *name);
	/** The device's id and its configured uri= (NULL if none). */
	const char *(*id)(struct sipsvc_host *h);
	const char *(*uri)(struct sipsvc_host *h);
	/** A private directory for the wrapper's files (0700, under the runtime dir). */
	const char *(*dir)(struct sipsvc_host *h);
	/** Tell the daemon that availability changed (1 up, 0 down), with a reason. */
	void (*availability)(struct sipsvc_host *h, int up, const char *why);
};

/** A wrapper: one per kind of device, exported as `sipsvc_wrapper_export`. */
struct sipsvc_wrapper {
	unsigned abi;            /* SIPSVC_WRAPPER_ABI */
	const char *name;        /* the wrapper= value in the config */
	const char *const *params; /* the <param> names it reads, NULL-terminated */
	/** Start driving a device; *ret_state is passed to every other operation. */
	int (*open)(const struct sipsvc_host_api *api, struct sipsvc_host *h, void **ret_state);
	/** Stop: release everything (stop a started program); accepts NULL. */
	void (*close)(void *state);
	/**
	 * Make the device ready to take a call (start a softphone). @p done runs later,
	 * never from inside prepare(); returns 0 if it will run, -errno otherwise.
	 */
	int (*prepare)(void *state, sipsvc_done_h *done, void *arg);
	/** The SIP URI to call the device at, once prepared; -ENOENT if it has none. */
	int (*contact)(void *state, char *buf, size_t size);
	/** A mask of enum sipsvc_cap. */
	unsigned (*caps)(void *state);
	/** 1 available, 0 not, -1 cannot tell without trying. */
	int (*available)(void *state);
	/**
	 * SIPSVC_CAP_DIALS devices: make the device call @p target itself (click-to-dial).
	 * @p done runs when the device has accepted or refused. NULL for other wrappers.
	 */
	int (*dial)(void *state, const char *target, sipsvc_done_h *done, void *arg);
	/**
	 * Optional: the daemon is stopping. Called once, after every close(), while the
	 * loop still exists; the only place a wrapper may wait (briefly) for what it
	 * started to finish, such as a program it asked to stop.
	 */
	void (*shutdown)(struct ev_loop *loop);
};

/**
 * Define a wrapper: `SIPSVC_WRAPPER(sip) = { … };` names it `sipsvc_wrapper_sip` and,
 * in the loadable module (built with -DSIPSVC_WRAPPER_MODULE), also exports it as
 * `sipsvc_wrapper_export`, so tests can link every wrapper statically.
 */
#ifdef SIPSVC_WRAPPER_MODULE
#define SIPSVC_WRAPPER(n)                                                                   \
	extern const struct sipsvc_wrapper sipsvc_wrapper_##n;                              \
	extern const struct sipsvc_wrapper sipsvc_wrapper_export                            \
		__attribute__((alias("sipsvc_wrapper_" #n)));                               \
	const struct sipsvc_wrapper sipsvc_wrapper_##n
#else
#define SIPSVC_WRAPPER(n) const struct sipsvc_wrapper sipsvc_wrapper_##n
#endif

#ifdef __cplusplus
}
#endif

#endif
