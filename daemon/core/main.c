/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sipsvcd: parse arguments → load config → start subsystems → READY=1 → loop.
 * SIGTERM/SIGINT stop cleanly, SIGHUP reloads the config (keeping the old one if the
 * new one is invalid).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <systemd/sd-daemon.h>

#include "control/control.h"
#include "device/device.h"
#include "share/share.h"
#include "core/core.h"
#include "core/worker.h"
#include "core/xml.h"
#include "call/call.h"
#include "overlay/overlay.h"
#include "sip/sip.h"
#include "transfer/transfer.h"
#include "tunnel/tunnel.h"

/* Command-line settings; they win over the config file, also after a reload. */
struct options {
	const char *config;
	bool config_given;
	const char *state_dir, *runtime_dir, *sip_addr, *download_dir;
	int control_port, sip_port;
	enum log_level log_level;
	const char *bootstrap[CONFIG_OVERLAY_BOOTSTRAP_MAX]; /* --bootstrap, repeatable */
	unsigned n_bootstrap;
	bool no_overlay;
};

struct daemon {
	struct ev_loop *loop;
	struct options opt;
	struct config *cfg;
	struct control *control;
	struct device_table *devices;
	struct share *share;
	struct worker_pool *workers; /* blocking work: hashing, directory walks */
	struct sip *sip;
	struct tunnel *tunnel;
	struct call_mgr *calls;
	struct transfer_mgr *transfers;
	struct overlay_service *overlay; /* NULL when off */
	ev_tstamp started;
	long pid;        /* getpid() is a system call; Status asks for it every time */
	ev_signal sigterm, sigint, sighup;
	ev_timer watchdog;
	ev_timer trim;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sipsvcd [OPTIONS]\n"
		"The per-user SIP service; clients speak XML to it on 127.0.0.1:7060.\n\n"
		"  --config FILE        config file (default $XDG_CONFIG_HOME/sipsvc/sipsvc.xml;\n"
		"                       optional: embedded defaults without it)\n"
		"  --state-dir DIR      state (default $XDG_STATE_HOME/sipsvc)\n"
		"  --runtime-dir DIR    runtime dir; the control socket is DIR/control\n"
		"                       (default $XDG_RUNTIME_DIR/sipsvc, else /tmp/sipsvc-UID)\n"
		"  --control-port N     control TCP port on loopback (default 7060, 0 = any free)\n"
		"  --sip-port N         SIP port (default 5060, 0 = any free)\n"
		"  --sip-addr ADDR      SIP address to bind (default all)\n"
		"  --download-dir DIR   where Fetch puts files (default $XDG_DOWNLOAD_DIR,\n"
		"                       else ~/Downloads)\n"
		"  --bootstrap URI      overlay bootstrap peer sip:HOST:PORT (repeatable)\n"
		"  --no-overlay         do not join the peer-to-peer overlay\n"
		"  --log-level LEVEL    emerg alert crit err warning notice info debug\n"
		"  --version            print the version and exit\n"
		"  --help               print this help and exit\n");
}

static int parse_port(const char *s, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end || v < 0 || v > 65535)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

/* Returns 0 to run, 1 to exit 0 (--help/--version), or an EX_ code. */
static int parse_args(int argc, char **argv, struct options *o)
{
	enum { O_CONFIG = 256, O_STATE, O_RUNTIME, O_CPORT, O_SPORT, O_SADDR, O_LEVEL, O_VER, O_DL,
	       O_BOOT, O_NOOV };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "runtime-dir", required_argument, NULL, O_RUNTIME },
		{ "control-port", required_argument, NULL, O_CPORT },
		{ "sip-port", required_argument, NULL, O_SPORT },
		{ "sip-addr", required_argument, NULL, O_SADDR },
		{ "download-dir", required_argument, NULL, O_DL },
		{ "log-level", required_argument, NULL, O_LEVEL },
		{ "version", no_argument, NULL, O_VER },
		{ "bootstrap", required_argument, NULL, O_BOOT },
		{ "no-overlay", no_argument, NULL, O_NOOV },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	*o = (struct options){ .control_port = -1, .sip_port = -1,
			       .log_level = _LOG_LEVEL_INVALID };
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: o->config = optarg; o->config_given = true; break;
		case O_STATE: o->state_dir = optarg; break;
		case O_RUNTIME: o->runtime_dir = optarg; break;
		case O_SADDR: o->sip_addr = optarg; break;
		case O_DL: o->download_dir = optarg; break;
		case O_CPORT:
		case O_SPORT:
			if (parse_port(optarg, c == O_CPORT ? &o->control_port : &o->sip_port) < 0) {
				fprintf(stderr, "sipsvcd: invalid port \"%s\" (0-65535)\n", optarg);
				return EX_USAGE;
			}
			break;
		case O_LEVEL:
			o->log_level = log_level_from_string(optarg);
			if (o->log_level < 0) {
				fprintf(stderr, "sipsvcd: unknown log level \"%s\"\n", optarg);
				return EX_USAGE;
			}
			break;
		case O_VER: printf("sipsvcd %s\n", PACKAGE_VERSION); return 1;
		case O_NOOV: o->no_overlay = true; break;
		case O_BOOT:
			if (o->n_bootstrap == CONFIG_OVERLAY_BOOTSTRAP_MAX ||
			    strncasecmp(optarg, "sip:", 4) != 0) {
				fprintf(stderr, "sipsvcd: --bootstrap wants sip:HOST:PORT (at most "
					"%d)\n", CONFIG_OVERLAY_BOOTSTRAP_MAX);
				return EX_USAGE;
			}
			o->bootstrap[o->n_bootstrap++] = optarg;
			break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sipsvcd: unexpected argument \"%s\"\n", argv[optind]);
		return EX_USAGE;
	}
	return 0;
}

static int set_path(char **dst, const char *v)
{
	char *s;

	if (!v)
		return 0;
	s = strdup(v);
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int apply_options(struct config *c, const struct options *o)
{
	if (o->control_port >= 0)
		c->control_port = o->control_port;
	if (o->sip_port >= 0)
		c->sip_port = o->sip_port;
	if (o->log_level >= 0)
		c->log_level = o->log_level;
	if (o->no_overlay)
		c->overlay_enable = false;
	for (unsigned i = 0; i < o->n_bootstrap; i++)
		if (config_overlay_bootstrap_add(c, o->bootstrap[i]) < 0)
			return -ENOSPC;
	if (set_path(&c->state_dir, o->state_dir) < 0 ||
	    set_path(&c->runtime_dir, o->runtime_dir) < 0 ||
	    set_path(&c->sip_addr, o->sip_addr) < 0 ||
	    set_path(&c->download_dir, o->download_dir) < 0 || config_default_identity(c) < 0)
		return -ENOMEM;
	return paths_resolve(c);
}

/* The file named by --config must exist; the default one is optional. */
static int load_config(const struct options *o, struct config **ret)
{
	char err[1024];
	struct config *c = NULL;
	int r = config_load(o->config, &c, err, sizeof(err));

	if (r == -ENOENT && !o->config_given) {
		c = config_new_defaults();
		r = c ? 0 : -ENOMEM;
		if (c)
			log_info("no config file at %s; using the embedded defaults", o->config);
	} else if (r < 0) {
		log_err("invalid config %s", err);
		return r;
	}
	if (r == 0)
		r = apply_options(c, o);
	if (r < 0) {
		log_err("config: %s", strerror(-r));
		config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* Transfers serve the share index and answer file INVITEs: after share, before calls
 * (whose INVITE handler gets what transfers do not claim). */
static int transfers_configure(struct daemon *d, const struct config *c, bool reload)
{
	struct transfer_config tc = {
		.download_dir = c->download_dir,
		.state_dir = c->state_dir,
		.identity = c->identity_uri,
		.max_total = c->transfer_max,
		.max_per_peer = c->transfer_max_per_peer,
		.upload_rate = (double)c->transfer_upload_rate * 1024,
		.peers = (const char *const *)c->overlay_peer_uris,
		.n_peers = c->n_overlay_peer_uris,
	};

	if (reload)
		return transfer_mgr_set_config(d->transfers, &tc);
	if (transfer_mgr_new(d->loop, d->workers, d->sip, d->share, &tc, &d->transfers) < 0)
		return -1;
	control_set_transfers(d->control, d->transfers);
	return 0;
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("signal %d: shutting down", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void on_reload(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	struct config *c;

	sd_notifyf_safe("RELOADING=1\nMONOTONIC_USEC=%llu",
			(unsigned long long)(ev_time() * 1e6));
	if (load_config(&d->opt, &c) < 0) {
		log_err("reload failed; keeping the running configuration");
	} else {
		log_set_level(c->log_level);
		if (device_table_reload(d->devices, c) < 0)
			log_err("reload: out of memory reopening devices");
		control_set_config(d->control, c);
		sip_set_config(d->sip, c);
		tunnel_set_config(d->tunnel, c);
		if (share_set_limits(d->share, c->share_max_files, c->share_max_roots) < 0)
			log_err("reload: out of memory applying the share limits");
		call_mgr_set_config(d->calls, c);
		if (transfers_configure(d, c, true) < 0)
			log_err("reload: out of memory applying the transfer settings");
		config_free(d->cfg);
		d->cfg = c;
		log_info("configuration reloaded (%zu devices)", c->n_devices);
	}
	sd_notifyf_safe("READY=1\nSTATUS=running");
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	sd_notifyf_safe("WATCHDOG=1");
}

static void on_status(struct xml_writer *w, enum status_part part, void *arg)
{
	struct daemon *d = arg;

	if (part != STATUS_ATTRS)
		return;
	xml_attrf(w, "version", "%s", PACKAGE_VERSION);
	xml_attrf(w, "pid", "%ld", d->pid);
	xml_attrf(w, "uptime", "%.3f", ev_now(d->loop) - d->started);
	xml_attrf(w, "log-level", "%s", log_level_to_string(log_get_level()));
	if (d->cfg->path)
		xml_attrf(w, "config", "%s", d->cfg->path);
	xml_attrf(w, "state-dir", "%s", d->cfg->state_dir);
	xml_attrf(w, "runtime-dir", "%s", d->cfg->runtime_dir);
}

/* $SIPSVC_WRAPPER_DIR lets a build tree (make run, tests) use its own wrappers. */
static const char *wrapper_dir(void)
{
	const char *v = getenv("SIPSVC_WRAPPER_DIR");

	return v && v[0] == '/' ? v : WRAPPERDIR;
}

static void signals_start(struct daemon *d)
{
	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&d->sigterm, on_stop, SIGTERM);
	ev_signal_init(&d->sigint, on_stop, SIGINT);
	ev_signal_init(&d->sighup, on_reload, SIGHUP);
	d->sighup.data = d;
	ev_signal_start(d->loop, &d->sigterm);
	ev_signal_start(d->loop, &d->sigint);
	ev_signal_start(d->loop, &d->sighup);
	trim_start(d->loop, &d->trim);
}

static void watchdog_start(struct daemon *d)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	ev_timer_init(&d->watchdog, on_watchdog, 0., usec / 2e6);
	ev_timer_again(d->loop, &d->watchdog);
	log_debug("watchdog: pinging every %.1f s", usec / 2e6);
}

static int share_start(struct daemon *d)
{
	struct share_config sc = {
		.state_dir = d->cfg->state_dir,
		.runtime_dir = d->cfg->runtime_dir,
		.max_files = d->cfg->share_max_files,
		.max_roots = d->cfg->share_max_roots,
	};
	int r = share_new(d->loop, d->workers, &sc, &d->share);

	if (r < 0) {
		log_err("share: cannot start: %s", strerror(-r));
		return r;
	}
	control_set_share(d->control, d->share);
	return 0;
}

static void daemon_stop(struct daemon *d)
{
	sd_notifyf_safe("STOPPING=1");
	ev_signal_stop(d->loop, &d->sigterm);
	ev_signal_stop(d->loop, &d->sigint);
	trim_stop(d->loop, &d->trim);
	ev_signal_stop(d->loop, &d->sighup);
	ev_timer_stop(d->loop, &d->watchdog);
	status_unregister(on_status, d);
	if (d->control) {
		control_set_calls(d->control, NULL);
		control_set_tunnel(d->control, NULL); /* its connections close after it */
	}
	if (d->transfers)
		transfer_mgr_set_resolver(d->transfers, NULL, NULL);
	overlay_service_free(d->overlay); /* before sip and share, which it uses */
	if (d->control)
		control_set_overlay(d->control, NULL, 0);
	call_mgr_free(d->calls);
	if (d->control)
		control_set_transfers(d->control, NULL);
	transfer_mgr_free(d->transfers); /* before the SIP stack and the share index */
	tunnel_free(d->tunnel); /* before the SIP stack, which answers what it left */
	sip_free(d->sip);
	control_free(d->control);
	share_free(d->share); /* before the pool: its jobs' done calls only let go */
	device_table_free(d->devices);
	worker_pool_free(d->workers);
	config_free(d->cfg);
	ev_loop_destroy(d->loop);
	xml_guard_done();
	xmlCleanupParser();
}

static int run(int argc, char **argv)
{
	_cleanup_(freep) char *dflt = NULL;
	struct daemon d = { 0 };
	int r;

	r = parse_args(argc, argv, &d.opt);
	if (r != 0)
		return r == 1 ? EX_OK : r;
	/* dflt is freed by its cleanup attribute, which clang-analyzer does not see. */
	if (!d.opt.config && !(d.opt.config = dflt = paths_default_config())) /* NOLINT */
		return EX_OSERR;
	if (d.opt.log_level >= 0)
		log_set_level(d.opt.log_level);
	if (load_config(&d.opt, &d.cfg) < 0 || !d.cfg)
		return EX_CONFIG;
	log_set_level(d.cfg->log_level);
	d.loop = ev_default_loop(EVFLAG_AUTO | EVFLAG_NOENV);
	if (!d.loop)
		return EX_OSERR;
	d.started = ev_now(d.loop);
	d.pid = (long)getpid();
	if (worker_pool_new(d.loop, 2, 4096, &d.workers) < 0) {
		log_err("cannot start the worker threads");
		daemon_stop(&d);
		return EX_OSERR;
	}
	signals_start(&d);
	status_register(on_status, &d);
	r = control_new(d.loop, d.cfg, &d.control);
	if (r == 0)
		r = sip_new(d.loop, d.cfg, &d.sip);
	if (r < 0) {
		daemon_stop(&d);
		return r == -EADDRINUSE ? EX_UNAVAILABLE : EX_OSERR;
	}
	if (device_table_new(d.loop, d.cfg, wrapper_dir(), &d.devices) < 0) {
		daemon_stop(&d);
		return EX_OSERR;
	}
	control_set_devices(d.control, d.devices);
	if (tunnel_new(d.sip, d.cfg, &d.tunnel) < 0) {
		daemon_stop(&d);
		return EX_OSERR;
	}
	control_set_tunnel(d.control, d.tunnel);
	if (share_start(&d) < 0) {
		daemon_stop(&d);
		return EX_OSERR;
	}
	if (transfers_configure(&d, d.cfg, false) < 0) {
		daemon_stop(&d);
		return EX_OSERR;
	}
	if (call_mgr_new(d.loop, d.cfg, d.sip, d.devices, &d.calls) < 0) {
		daemon_stop(&d);
		return EX_OSERR;
	}
	control_set_calls(d.control, d.calls);
	/* the overlay after sip and share: it claims SIP methods and searches the index */
	if (d.cfg->overlay_enable &&
	    overlay_service_new(d.loop, d.sip, d.share, d.cfg, &d.overlay) < 0) {
		daemon_stop(&d);
		return EX_OSERR;
	}
	control_set_overlay(d.control, overlay_service_binding(d.overlay), d.cfg->overlay_ttl);
	if (d.overlay) /* a Fetch from= a search result's peer */
		transfer_mgr_set_resolver(d.transfers, overlay_service_resolve, d.overlay);
	watchdog_start(&d);
	log_notice("sipsvcd %s ready (control port %d, pid %ld)", PACKAGE_VERSION,
		   control_tcp_port(d.control), (long)getpid());
	sd_notifyf_safe("READY=1\nSTATUS=running\nMAINPID=%ld", (long)getpid());
	ev_run(d.loop, 0);
	daemon_stop(&d);
	return EX_OK;
}

int main(int argc, char **argv)
{
	return run(argc, argv);
}
