/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The overlay in sipsvcd: the daemon's config turned into an overlay_config, our
 * contact found, the bootstrap peers added, queries answered from the share index,
 * <Status/> and "overlay" events. Everything else is sipbind.c and the logic.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/xml.h"
#include "core/core.h"
#include "overlay/overlay.h"
#include "share/share.h"
#include "sip/sip.h"

struct overlay_service {
	struct sip *sip;
	struct overlay_sip *b;
	struct share *share;
};

/* ---- matching: the share index answers ------------------------------------------------ */

static int match(const char *keywords, struct overlay_file *files, size_t max, void *arg)
{
	struct overlay_service *svc = arg;
	const struct share_entry *e[OVERLAY_HIT_FILES_MAX];
	size_t n, k = 0;

	if (!svc->share)
		return 0;
	n = share_search(svc->share, keywords, e, max < OVERLAY_HIT_FILES_MAX ? max : OVERLAY_HIT_FILES_MAX);
	for (size_t i = 0; i < n; i++) {
		const char *name = share_entry_name(e[i]);

		/* only what a hit body can carry (overlay_hit_from_xml() checks the same) */
		if (!share_entry_hashed(e[i]) || strlen(name) > OVERLAY_NAME_MAX || !name[0])
			continue;
		snprintf(files[k].name, sizeof(files[k].name), "%s", name);
		files[k].size = share_entry_size(e[i]);
		files[k].has_sha256 = true;
		memcpy(files[k].sha256, share_entry_sha256(e[i]), sizeof(files[k].sha256));
		k++;
	}
	return (int)k;
}

/* ---- our contact ------------------------------------------------------------------------ */

/* The address the kernel would send from towards @p p (no packet leaves). */
static int ip_towards(const struct overlay_peer *p, char *ip, size_t size)
{
	char host[OVERLAY_CONTACT_MAX + 1];
	const char *colon = strrchr(p->contact, ':');
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(5060) };
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	int fd, r = -EINVAL;

	if (!colon)
		return -EINVAL;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - p->contact), p->contact);
	if (inet_pton(AF_INET, host, &to.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&me, &len) == 0 &&
	    inet_ntop(AF_INET, &me.sin_addr, ip, (socklen_t)size))
		r = 0;
	close(fd);
	return r;
}

/* The first IPv4 address of an interface that is up and not loopback. */
static int ip_first(char *ip, size_t size)
{
	struct ifaddrs *ifs, *i;
	int r = -ENOENT;

	if (getifaddrs(&ifs) < 0)
		return -errno;
	for (i = ifs; i && r < 0; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_UP) &&
		    !(i->ifa_flags & IFF_LOOPBACK) &&
		    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip,
			      (socklen_t)size))
			r = 0;
	freeifaddrs(ifs);
	return r;
}

static bool wildcard(const char *a)
{
	return !a || !a[0] || strcmp(a, "0.0.0.0") == 0 || strcmp(a, "::") == 0;
}

/* The config's contact; else the SIP address; else the one towards the first
 * bootstrap peer; else the first interface's; else loopback. */
static void contact_find(const struct config *cfg, int port, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "127.0.0.1";
	struct overlay_peer p;

	if (cfg->overlay_contact) {
		snprintf(buf, size, "%s", cfg->overlay_contact);
		return;
	}
	if (!wildcard(cfg->sip_addr)) {
		bool v6 = strchr(cfg->sip_addr, ':') && cfg->sip_addr[0] != '[';

		snprintf(buf, size, v6 ? "[%s]:%d" : "%s:%d", cfg->sip_addr, port);
		return;
	}
	if (!(cfg->n_overlay_bootstrap &&
	      overlay_peer_from_uri(cfg->overlay_bootstrap[0], &p) == 0 &&
	      ip_towards(&p, ip, sizeof(ip)) == 0) &&
	    ip_first(ip, sizeof(ip)) < 0)
		snprintf(ip, sizeof(ip), "127.0.0.1");
	snprintf(buf, size, "%s:%d", ip, port);
}

/* ---- events ------------------------------------------------------------------------- */

static void on_neighbour(const struct overlay_peer *p, bool up, void *arg)
{
	xmlNodePtr ev = event_new(EVENT_OVERLAY, NULL);
	char hex[OVERLAY_ID_HEX_LEN + 1];

	if (!ev)
		return;
	overlay_id_to_hex(&p->id, hex);
	log_info("overlay: neighbour %s (%s) %s", hex, p->contact, up ? "joined" : "left");
	xmlSetProp(ev, BAD_CAST "peer", BAD_CAST hex);
	xmlSetProp(ev, BAD_CAST "action", BAD_CAST(up ? "joined" : "left"));
	xml_set_propf(ev, "uri", "sip:%s@%s", hex, p->contact);
	event_emit(EVENT_OVERLAY, NULL, ev);
}

/* <Overlay> of <Status/>: the overlay's facts, and the dialogs that carry them. */
static void on_status(struct xml_writer *w, enum status_part part, void *arg)
{
	struct overlay_service *svc = arg;

	if (part == STATUS_OVERLAY)
		overlay_status(w, overlay_sip_overlay(svc->b), overlay_sip_dialogs(svc->b));
}

/* ---- the object ------------------------------------------------------------------------ */

static void bootstrap(struct overlay *ov, const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_overlay_bootstrap; i++) {
		struct overlay_peer p;

		if (overlay_peer_from_uri(cfg->overlay_bootstrap[i], &p) < 0 ||
		    overlay_bootstrap_add(ov, &p) < 0)
			log_warn("overlay: bootstrap peer %s is not sip:HOST:PORT (numeric "
				    "host); ignored",
				    cfg->overlay_bootstrap[i]);
	}
}

int overlay_service_new(struct ev_loop *loop, struct sip *sip, struct share *share,
			const struct config *cfg, struct overlay_service **ret)
{
	struct overlay_service *svc = calloc(1, sizeof(*svc));
	struct overlay_config oc;
	char contact[OVERLAY_CONTACT_MAX + 1], uri[128];
	int r;

	if (!svc)
		return -ENOMEM;
	svc->share = share;
	svc->sip = sip;
	contact_find(cfg, sip_port(sip), contact, sizeof(contact));
	overlay_config_defaults(&oc);
	oc.min_neighbours = cfg->overlay_min;
	oc.max_neighbours = cfg->overlay_max;
	oc.refresh_s = cfg->overlay_refresh;
	oc.state_dir = cfg->state_dir;
	oc.contact = contact;
	r = overlay_sip_new(sip, loop, &oc, match, svc, &svc->b);
	if (r < 0) {
		log_err("overlay: cannot start (contact %s): %s", contact, strerror(-r));
		free(svc);
		return r;
	}
	overlay_sip_set_neighbour_handler(svc->b, on_neighbour, svc);
	bootstrap(overlay_sip_overlay(svc->b), cfg);
	status_register(on_status, svc);
	overlay_start(overlay_sip_overlay(svc->b));
	(void)overlay_node_uri(overlay_sip_overlay(svc->b), uri, sizeof(uri));
	log_notice("overlay: node %s, %zu known peers, %zu bootstrap peers", uri,
		   overlay_known_count(overlay_sip_overlay(svc->b)), cfg->n_overlay_bootstrap);
	*ret = svc;
	return 0;
}

int overlay_service_resolve(const char *peer, char *uri, size_t size, void *arg)
{
	struct overlay_service *svc = arg;
	struct overlay_peer p;
	struct overlay_id id;
	int n;

	if (!svc || overlay_id_from_hex(peer, &id) < 0 || overlay_sip_peer_find(svc->b, &id, &p) < 0)
		return -ENOENT;
	n = snprintf(uri, size, "sip:%s@%s", peer, p.contact);
	return n < 0 || (size_t)n >= size ? -ENOENT : 0;
}

struct overlay_sip *overlay_service_binding(const struct overlay_service *svc)
{
	return svc ? svc->b : NULL;
}

void overlay_service_free(struct overlay_service *svc)
{
	if (!svc)
		return;
	status_unregister(on_status, svc);
	/* a goodbye to each neighbour, so they replace us at once rather than after
	 * their refresh interval */
	overlay_leave(overlay_sip_overlay(svc->b));
	sip_pump_run(svc->sip, false);
	overlay_sip_free(svc->b);
	free(svc);
}
