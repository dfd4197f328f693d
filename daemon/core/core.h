/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file core.h
 * The daemon's core: logging, refcounted memory, configuration, the event sink
 * through which subsystems report to clients, status contributors, systemd glue.
 * Every other subsystem may include this header; it includes none of theirs.
 */
#ifndef SIPSVC_CORE_H
#define SIPSVC_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <libxml/tree.h>

#define _cleanup_(f)  __attribute__((cleanup(f)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- log.c ---------------------------------------------------------------- */

/** syslog(3) severities; the numbers are the `<N>` prefixes journald reads. */
enum log_level {
	LOG_LEVEL_EMERG,
	LOG_LEVEL_ALERT,
	LOG_LEVEL_CRIT,
	LOG_LEVEL_ERR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	_LOG_LEVEL_MAX,
	_LOG_LEVEL_INVALID = -1,
};

/** Name of @p l as used in the config and on the command line ("info"). */
const char *log_level_to_string(enum log_level l);
/** Parse a level name; _LOG_LEVEL_INVALID if unknown. */
enum log_level log_level_from_string(const char *s);
/** Set the most verbose level that is written. */
void log_set_level(enum log_level l);
/** The current level. */
enum log_level log_get_level(void);
/** Write one line "<N>text" to stderr if @p l is enabled, and pass it to the tap. */
void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** A second consumer of log lines (the control layer relays them as `log` events). */
typedef void(log_tap_h)(enum log_level l, const char *line, void *arg);
/** Install (or with NULL remove) the log tap. */
void log_set_tap(log_tap_h *h, void *arg);

#define log_err(...)	log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#define LOG_LIMIT_BURST	 10
#define LOG_LIMIT_PERIOD 60 /* seconds */

/** One call site's rate limit (log_limited). */
struct log_limit {
	double start;
	unsigned n, suppressed;
};
/** Whether one more line may go out at the call site @p l stands for. */
bool log_limit_pass(struct log_limit *l);
/** log_msg() for what outsiders can cause at will: at most LOG_LIMIT_BURST lines per
 * LOG_LIMIT_PERIOD from this call site, then a count of what was left out. */
#define log_limited(level, ...)                                                                    \
	do {                                                                                       \
		static struct log_limit log_limit_site_;                                           \
		if ((level) <= log_get_level() && log_limit_pass(&log_limit_site_))                \
			log_msg((level), __VA_ARGS__);                                             \
	} while (0)

/* ---- mem.c: reference-counted objects ------------------------------------- */

/** Destructor of a refcounted object; runs when the last reference goes. */
typedef void(mem_destroy_h)(void *data);
/** Allocate @p size zeroed bytes with one reference; NULL on out-of-memory. */
void *mem_zalloc(size_t size, mem_destroy_h *dh);
/** Take another reference; returns @p data. Accepts NULL. */
void *mem_ref(void *data);
/** Drop a reference, destroying the object on the last one. Accepts NULL; returns NULL. */
void *mem_deref(void *data);
/** Number of live refcounted objects (leak checks in tests and Status). */
size_t mem_live_objects(void);

/** Every few seconds, give glibc's free heap back to the kernel after a burst. */
void trim_start(struct ev_loop *loop, ev_timer *w);
void trim_stop(struct ev_loop *loop, ev_timer *w);

/** free() for _cleanup_: `_cleanup_(freep) char *s = NULL;` */
static inline void freep(void *p)
{
	extern void free(void *);
	free(*(void **)p);
}

/* ---- config.c ------------------------------------------------------------- */

enum device_mode {
	DEVICE_MODE_TRANSFER,
	DEVICE_MODE_LOOP,
	_DEVICE_MODE_MAX,
	_DEVICE_MODE_INVALID = -1,
};
const char *device_mode_to_string(enum device_mode m);
enum device_mode device_mode_from_string(const char *s);

/** A wrapper-specific <param name value/> of a device. */
struct config_param {
	char *name;
	char *value;
};

/** One <device> of the config. */
struct config_device {
	char *id;
	char *wrapper;
	char *uri; /* may be NULL */
	enum device_mode mode;
	bool is_default;
	struct config_param *params;
	size_t n_params;
};

/** Limits of the control protocol (PROTOCOL.md "Framing"). */
struct control_limits {
	size_t max_message; /* bytes per message */
	unsigned max_depth; /* element nesting */
	unsigned max_connections;
	unsigned max_queue; /* queued outgoing messages per connection */
};

/** The daemon's configuration: embedded defaults, then the file, then the command line. */
struct config {
	char *path; /* file it was read from, NULL if none */
	int control_port;
	struct control_limits limits;
	int sip_port;
	char *sip_addr;
	unsigned sip_source_rate; /* requests/s one source address may send; 0: no limit */
	char *sip_outbound_proxy;  /* <sip outbound-proxy>: a pre-loaded ;lr Route */
	char *sip_dns_servers;     /* <sip><dns server>: "ip[:port],..." (c-ares csv) */
	enum log_level log_level;
	char *state_dir;
	char *runtime_dir;
	char *download_dir;
	char *identity_uri;
	char *display_name;
	/* <registration>: REGISTER the identity (sip/register.c) */
	char *reg_registrar;
	char *reg_user;
	char *reg_password;
	char *reg_password_file;
	int reg_expires;
	bool reg_tcp;
	char *conference_server;
	char *conference_method;
	struct config_device *devices;
	size_t n_devices;
	unsigned long share_max_files; /* <share max-files>: files in the share index */
	unsigned share_max_roots;      /* <share max-roots>: shared roots */
	unsigned max_calls;	       /* <calls max>: concurrent calls */
	unsigned answer_timeout;       /* <calls answer-timeout>: seconds a leg may ring */
	char *chooser;		       /* <calls chooser>: ExternalJoin's chooser program */
	unsigned transfer_max;          /* <transfer max-concurrent>, each direction */
	unsigned transfer_max_per_peer; /* <transfer max-per-peer> */
	unsigned long transfer_upload_rate; /* <transfer upload-rate>: KiB/s, 0 unlimited */
	char **overlay_peer_uris;       /* <overlay><peer uri>: node URIs */
	size_t n_overlay_peer_uris;
	/* <overlay>: the peer-to-peer overlay (overlay/overlay.h) */
	bool overlay_enable;      /* enable: on unless "false" (or --no-overlay) */
	unsigned overlay_min, overlay_max; /* min-/max-neighbours */
	unsigned overlay_refresh; /* refresh: seconds between subscription refreshes */
	unsigned overlay_ttl;     /* ttl: hops a Search travels (1-7, default 4) */
	char *overlay_contact;    /* contact: "host:port" peers reach us at (else found) */
	char **overlay_bootstrap; /* <peer uri=…/> and --bootstrap: bootstrap peer URIs */
	size_t n_overlay_bootstrap;
};

#define CONFIG_OVERLAY_BOOTSTRAP_MAX 32
/** Add a bootstrap peer URI (config or --bootstrap). 0, -ENOSPC or -ENOMEM. */
int config_overlay_bootstrap_add(struct config *c, const char *uri);

#define CONFIG_DEFAULT_CONTROL_PORT    7060
#define CONFIG_DEFAULT_SIP_PORT	       5060
#define CONFIG_DEFAULT_SHARE_MAX_FILES 100000
#define CONFIG_DEFAULT_SHARE_MAX_ROOTS 64
#define CONFIG_DEFAULT_MAX_CALLS       16
/* A small share of the OPTIONS/s one daemon answers (bench/sip), above any honest
 * peer of a desktop service and the 2,000/s load test of issue 3. */
#define CONFIG_DEFAULT_SIP_SOURCE_RATE 2500
#define CONFIG_DEFAULT_ANSWER_TIMEOUT  60
#define CONFIG_DEFAULT_TRANSFER_MAX 8
#define CONFIG_DEFAULT_TRANSFER_MAX_PER_PEER 2

/** A config with the embedded defaults (no paths resolved); NULL on out-of-memory. */
struct config *config_new_defaults(void);
/**
 * Read and validate @p path against the embedded sipsvc-config.xsd into a new config.
 * On failure returns -EINVAL (invalid), -ENOENT or another -errno and writes
 * "FILE:LINE: problem" into @p err.
 */
int config_load(const char *path, struct config **ret, char *err, size_t errlen);
/** The same from memory (tests and fuzzing); @p name is used in messages. */
int config_load_buffer(const char *buf, size_t len, const char *name, struct config **ret,
		       char *err, size_t errlen);
/**
 * Without <identity uri>, give @p c the default identity sip:LOGIN@HOST (DESIGN.md):
 * the login name of our uid, the SIP address when one is set and not a wildcard,
 * else the host name. Call after the command line is applied. 0 or -ENOMEM.
 */
int config_default_identity(struct config *c);
/** Free a config; accepts NULL. */
void config_free(struct config *c);
/** The device marked default, else the only device, else NULL. */
const struct config_device *config_default_device(const struct config *c);
/** Find a device by id. */
const struct config_device *config_find_device(const struct config *c, const char *id);

/* ---- paths.c -------------------------------------------------------------- */

/** Default config path: $XDG_CONFIG_HOME/sipsvc/sipsvc.xml (or ~/.config/…); malloc'd. */
char *paths_default_config(void);
/**
 * Fill the unset state/runtime/download dirs of @p c from the XDG variables
 * (DESIGN.md "Files"). Returns 0 or -errno.
 */
int paths_resolve(struct config *c);
/**
 * Create @p dir (and parents) mode 0700 if missing; refuse (-EPERM) one owned by
 * another user or writable by group/others. Returns 0 or -errno.
 */
int paths_make_private_dir(const char *dir);

/**
 * Replace DIR/NAME with @p len bytes of @p buf so that a crash leaves the old file or
 * the new one, never a torn one (DESIGN.md "Security model"): a private temporary file
 * beside it, fsync, rename, fsync of the directory. Mode 0600. Returns 0 or -errno.
 */
int paths_write_atomic(const char *dir, const char *name, const char *buf, size_t len);

/* ---- event.c: the sink through which subsystems reach clients -------------- */

enum event_type {
	EVENT_CALL,
	EVENT_CONFERENCE,
	EVENT_INCOMING,
	EVENT_TUNNEL,
	EVENT_OVERLAY,
	EVENT_SEARCH,
	EVENT_TRANSFER,
	EVENT_DEVICE_CHOICE,
	EVENT_LOG,
	_EVENT_TYPE_MAX,
	_EVENT_TYPE_INVALID = -1,
};
const char *event_type_to_string(enum event_type t);
enum event_type event_type_from_string(const char *s);

#define ORIGIN_REF_MAX 64

/** Who asked for the work an event reports: a control connection and its request ref. */
struct origin {
	uint64_t conn; /* 0: nobody (unsolicited) */
	char ref[ORIGIN_REF_MAX + 1];
};

/** Receives every event; takes ownership of @p ev (an <Event> element). */
typedef void(event_sink_h)(enum event_type t, const struct origin *o, xmlNodePtr ev, void *arg);
/** Register the one sink (the control layer). */
void event_sink_set(event_sink_h *h, void *arg);
/**
 * Build an <Event type=…> element with ref= from @p o filled in, for the caller to
 * add attributes to and pass to event_emit(). NULL on out-of-memory.
 */
xmlNodePtr event_new(enum event_type t, const struct origin *o);
/** Deliver @p ev (ownership passes) to the sink; dropped if none. */
void event_emit(enum event_type t, const struct origin *o, xmlNodePtr ev);

/* ---- status.c: facts subsystems add to <Status/> ----------------------------- */

struct xml_writer;

/** The parts of <Status/>, in the order sipsvc.xsd fixes. */
enum status_part {
	STATUS_ATTRS,        /* attributes of <Status> itself */
	STATUS_CONTROL,      /* <Control> elements */
	STATUS_SIP,          /* <Sip> elements */
	STATUS_COUNTS,       /* attributes of the one <Counts> */
	STATUS_OVERLAY,      /* <Overlay> */
	STATUS_REGISTRATION, /* <Registration> elements */
	STATUS_TRANSFER,     /* <Transfer> elements */
	_STATUS_PARTS
};

/**
 * Writes a contributor's share of @p part (core/xml.h's writer: xml_attrf() for
 * STATUS_ATTRS and STATUS_COUNTS, whole elements for the others); called for every
 * part, it writes nothing for those it has no facts for.
 */
typedef void(status_h)(struct xml_writer *w, enum status_part part, void *arg);
/** Register a contributor; returns 0 or -ENOSPC. */
int status_register(status_h *h, void *arg);
/** Remove a contributor registered with the same @p h and @p arg. */
void status_unregister(status_h *h, void *arg);
/** Write the whole <Status> element, every contributor's facts in it. */
void status_write(struct xml_writer *w);

/** Set an attribute of a tree element from a printf format (core/xmlwrite.c); returns 0
 * or -ENOMEM. */
int xml_set_propf(xmlNodePtr n, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- sd.c: systemd glue --------------------------------------------------- */

/** Send a notification (READY=1, STATUS=…); a no-op without NOTIFY_SOCKET. */
void sd_notifyf_safe(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
