/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file control.h
 * The control protocol endpoints (PROTOCOL.md): loopback TCP and a Unix socket,
 * same-uid check, XML framing, schema validation, the request table, replies and
 * event routing. The only subsystem that knows about clients.
 */
#ifndef SIPSVC_CONTROL_H
#define SIPSVC_CONTROL_H

#include <ev.h>

#include "core/core.h"

struct control;

/**
 * Start listening: sockets passed by systemd if any, else 127.0.0.1 and ::1 on the
 * configured port and the Unix socket in the runtime dir. Registers as the event sink,
 * the log tap and a status contributor. Returns 0 or -errno (the reason is logged).
 */
int control_new(struct ev_loop *loop, const struct config *cfg, struct control **ret);
/** Close every connection and listener, unlink our socket; accepts NULL. */
void control_free(struct control *c);
/**
 * Use @p cfg from now on (after a reload): new limits and devices apply to new
 * messages. Endpoint changes need a restart and are logged as such.
 */
void control_set_config(struct control *c, const struct config *cfg);
struct device_table;
/** The devices <Devices/> lists and requests use (NULL: none). */
void control_set_devices(struct control *c, struct device_table *t);
struct tunnel;
/** The tunnel <Tunnel> requests use (NULL: none). */
void control_set_tunnel(struct control *c, struct tunnel *t);
struct share;
/** The share index Share/Unshare/Shares use (NULL: none). */
void control_set_share(struct control *c, struct share *s);
struct transfer_mgr;
/** The transfers Fetch and Cancel use (NULL: none). */
void control_set_transfers(struct control *c, struct transfer_mgr *m);
struct call_mgr;
/** The call subsystem Join, ExternalJoin, Hangup and Calls use (NULL: none). */
void control_set_calls(struct control *c, struct call_mgr *m);
struct overlay_sip;
/**
 * The overlay Search uses, with @p ttl for its queries (NULL: none; running searches
 * are forgotten, so set NULL only after the overlay is freed).
 */
void control_set_overlay(struct control *c, struct overlay_sip *ov, unsigned ttl);
/** The TCP port actually bound (for --control-port 0), or -1. */
int control_tcp_port(const struct control *c);

#endif
