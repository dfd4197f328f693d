/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control subsystem: accepting connections, routing events, Status facts. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/control-private.h"
#include "core/xml.h"
#include "device/device.h"
#include "share/share.h"

struct conn *control_find_conn(struct control *ctl, uint64_t id)
{
	for (struct conn *cn = ctl->conns; cn; cn = cn->next)
		if (cn->id == id)
			return cn;
	return NULL;
}

/* Same uid only, root included (PROTOCOL.md "Who may connect"). Fails closed. */
static bool peer_allowed(struct control *ctl, struct listener *l, int fd, uid_t *uid)
{
	int r = l->is_unix ? peer_uid_unix(fd, uid) : peer_uid_tcp(ctl->diag_fd, fd, uid);

	if (r < 0) {
		log_limited(LOG_LEVEL_WARNING,
			    "control: cannot tell who is connecting on %s (%s); refused", l->addr,
			    strerror(-r));
		return false;
	}
	return *uid == getuid();
}

static void peer_name(struct listener *l, int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (l->is_unix || getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		snprintf(buf, size, "unix");
	else
		peer_format((struct sockaddr *)&ss, len, buf, size);
}

static void refuse_limit(struct control *ctl, int fd, const char *peer)
{
	static const char msg[] = "<Error code=\"limit\">too many control connections; "
				  "close one and retry</Error>\n";

	ctl->stats.refused_limit++;
	log_limited(LOG_LEVEL_WARNING, "control: %s refused: %u connections already open", peer,
		    ctl->n_conns);
	/* Best effort on a fresh socket: the small message fits its buffer. */
	(void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

void control_accept(struct control *ctl, struct listener *l, int fd)
{
	struct conn *cn;
	char peer[80];
	uid_t uid = (uid_t)-1;

	peer_name(l, fd, peer, sizeof(peer));
	if (!peer_allowed(ctl, l, fd, &uid)) {
		ctl->stats.refused_uid++;
		if (uid != (uid_t)-1)
			log_limited(LOG_LEVEL_WARNING,
				    "control: %s refused: peer uid %u is not ours", peer,
				    (unsigned)uid);
		close(fd);
		return;
	}
	if (ctl->n_conns >= ctl->cfg->limits.max_connections) {
		refuse_limit(ctl, fd, peer);
		return;
	}
	if (conn_new(ctl, fd, l->is_unix, peer, &cn) < 0)
		log_err("control: out of memory accepting %s", peer);
	else
		log_debug("control: connection %llu from %s", (unsigned long long)cn->id, peer);
}

/* An event goes to the connection whose request caused it and to every connection
 * subscribed to its type, at most once each (PROTOCOL.md "Events"). */
static void on_event(enum event_type t, const struct origin *o, xmlNodePtr ev, void *arg)
{
	struct control *ctl = arg;
	struct conn *cn, *next;

	for (cn = ctl->conns; cn; cn = next) {
		xmlNodePtr copy;

		next = cn->next;
		if (cn->closing || (!(cn->subs & (1u << t)) && !(o && o->conn == cn->id)))
			continue;
		copy = xmlCopyNode(ev, 1);
		/* A full queue dooms the connection; it is freed where that is safe. */
		if (copy)
			(void)conn_send(cn, copy, true);
	}
	xmlFreeNode(ev);
}

static void on_log(enum log_level l, const char *line, void *arg)
{
	xmlNodePtr ev = event_new(EVENT_LOG, NULL);

	if (!ev)
		return;
	xmlNewProp(ev, BAD_CAST "level", BAD_CAST log_level_to_string(l));
	xmlNodeAddContent(ev, BAD_CAST line);
	event_emit(EVENT_LOG, NULL, ev);
}

static void on_status(struct xml_writer *w, enum status_part part, void *arg)
{
	struct control *ctl = arg;

	if (part == STATUS_CONTROL) {
		for (unsigned i = 0; i < ctl->n_ls; i++) {
			xml_begin(w, "Control");
			xml_attr(w, "transport", ctl->ls[i].is_unix ? "unix" : "tcp");
			xml_attr(w, "address", ctl->ls[i].addr);
			xml_end(w);
		}
	} else if (part == STATUS_COUNTS) {
		xml_attrf(w, "connections", "%u", ctl->n_conns);
		xml_attrf(w, "devices", "%zu", ctl->devices ? device_table_count(ctl->devices) : 0);
	}
}

static int schema_load(struct control *ctl)
{
	ctl->schema = xml_schema_compile(sipsvc_xsd, sipsvc_xsd_len);
	if (!ctl->schema) {
		log_err("control: the embedded sipsvc.xsd does not compile");
		return -EINVAL;
	}
	ctl->vctxt = xmlSchemaNewValidCtxt(ctl->schema);
	return ctl->vctxt ? 0 : -ENOMEM;
}

int control_new(struct ev_loop *loop, const struct config *cfg, struct control **ret)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int r;

	if (!ctl)
		return -ENOMEM;
	ctl->loop = loop;
	ctl->cfg = cfg;
	ctl->diag_fd = peer_diag_open();
	r = ctl->diag_fd < 0 ? ctl->diag_fd : schema_load(ctl);
	if (r == 0 && loop)
		r = listen_start(ctl);
	if (r < 0) {
		if (ctl->diag_fd == r)
			log_err("control: NETLINK_SOCK_DIAG: %s", strerror(-r));
		control_free(ctl);
		return r;
	}
	event_sink_set(on_event, ctl);
	log_set_tap(on_log, ctl);
	status_register(on_status, ctl);
	*ret = ctl;
	return 0;
}

void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	status_unregister(on_status, ctl);
	control_set_share(ctl, NULL);
	log_set_tap(NULL, NULL);
	event_sink_set(NULL, NULL);
	while (ctl->conns)
		conn_free(ctl->conns);
	listen_stop(ctl);
	if (ctl->diag_fd >= 0)
		close(ctl->diag_fd);
	xmlSchemaFreeValidCtxt(ctl->vctxt);
	xmlSchemaFree(ctl->schema);
	free(ctl);
}

void control_set_config(struct control *ctl, const struct config *cfg)
{
	const struct config *old = ctl->cfg;

	if (cfg->control_port != old->control_port ||
	    strcmp(cfg->runtime_dir, old->runtime_dir) != 0)
		log_notice("control: new control endpoints take effect at the next start");
	ctl->cfg = cfg;
	/* Each framer points at the limits it enforces. */
	for (struct conn *cn = ctl->conns; cn; cn = cn->next)
		cn->frame.lim = &cfg->limits;
}

void control_set_devices(struct control *ctl, struct device_table *t)
{
	ctl->devices = t;
}

void control_set_tunnel(struct control *ctl, struct tunnel *t)
{
	ctl->tunnel = t;
}

void control_set_share(struct control *ctl, struct share *s)
{
	if (ctl->share)
		share_set_saved_handler(ctl->share, NULL, NULL);
	ctl->share = s;
	if (s)
		share_set_saved_handler(s, control_share_saved, ctl);
}

void control_set_transfers(struct control *ctl, struct transfer_mgr *m)
{
	ctl->transfers = m;
}

void control_set_calls(struct control *ctl, struct call_mgr *m)
{
	ctl->calls = m;
}

bool control_has_subscriber(struct control *ctl, enum event_type t)
{
	for (struct conn *cn = ctl->conns; cn; cn = cn->next)
		if (!cn->doomed && (cn->subs & (1u << t)))
			return true;
	return false;
}

int control_tcp_port(const struct control *ctl)
{
	return ctl->tcp_port;
}
