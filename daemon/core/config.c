/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The config file: XML validated against sipsvc-config.xsd, then copied into struct config. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "xml.h"

/* A config is small; refuse anything that would take real memory to read. */
#define CONFIG_MAX_BYTES (1024 * 1024)

static const char *const mode_names[_DEVICE_MODE_MAX] = {
	[DEVICE_MODE_TRANSFER] = "transfer",
	[DEVICE_MODE_LOOP] = "loop",
};

const char *device_mode_to_string(enum device_mode m)
{
	return m >= 0 && m < _DEVICE_MODE_MAX ? mode_names[m] : NULL;
}

enum device_mode device_mode_from_string(const char *s)
{
	for (int i = 0; s && i < _DEVICE_MODE_MAX; i++)
		if (strcmp(s, mode_names[i]) == 0)
			return i;
	return _DEVICE_MODE_INVALID;
}

struct config *config_new_defaults(void)
{
	struct config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->control_port = CONFIG_DEFAULT_CONTROL_PORT;
	c->max_calls = CONFIG_DEFAULT_MAX_CALLS;
	c->answer_timeout = CONFIG_DEFAULT_ANSWER_TIMEOUT;
	c->limits = (struct control_limits){
		.max_message = 64 * 1024,
		.max_depth = 32,
		.max_connections = 64,
		.max_queue = 1024,
	};
	c->sip_port = CONFIG_DEFAULT_SIP_PORT;
	c->sip_source_rate = CONFIG_DEFAULT_SIP_SOURCE_RATE;
	c->log_level = LOG_LEVEL_INFO;
	c->share_max_files = CONFIG_DEFAULT_SHARE_MAX_FILES;
	c->share_max_roots = CONFIG_DEFAULT_SHARE_MAX_ROOTS;
	c->overlay_enable = true;
	c->overlay_min = 4;
	c->overlay_max = 8;
	c->overlay_refresh = 60;
	c->overlay_ttl = 4;
	c->transfer_max = CONFIG_DEFAULT_TRANSFER_MAX;
	c->transfer_max_per_peer = CONFIG_DEFAULT_TRANSFER_MAX_PER_PEER;
	return c;
}

static void device_clear(struct config_device *d)
{
	free(d->id);
	free(d->wrapper);
	free(d->uri);
	for (size_t i = 0; i < d->n_params; i++) {
		free(d->params[i].name);
		free(d->params[i].value);
	}
	free(d->params);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_devices; i++)
		device_clear(&c->devices[i]);
	free(c->devices);
	free(c->path);
	free(c->sip_addr);
	free(c->sip_outbound_proxy);
	free(c->sip_dns_servers);
	free(c->state_dir);
	free(c->runtime_dir);
	free(c->download_dir);
	free(c->identity_uri);
	free(c->display_name);
	free(c->reg_registrar);
	free(c->reg_user);
	free(c->reg_password);
	free(c->reg_password_file);
	free(c->chooser);
	free(c->conference_server);
	free(c->conference_method);
	free(c->overlay_contact);
	for (size_t i = 0; i < c->n_overlay_bootstrap; i++)
		free(c->overlay_bootstrap[i]);
	free(c->overlay_bootstrap);
	for (size_t i = 0; i < c->n_overlay_peer_uris; i++)
		free(c->overlay_peer_uris[i]);
	free(c->overlay_peer_uris);
	free(c);
}

/* A user part (RFC 3261 25.1 "user"): unreserved characters only, else "user". */
static const char *login_name(void)
{
	struct passwd *pw = getpwuid(getuid());
	const char *n = pw && pw->pw_name ? pw->pw_name : "";

	if (!*n || strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			     "0123456789-_.!~*'()") != strlen(n))
		return "user";
	return n;
}

int config_default_identity(struct config *c)
{
	const char *a = c->sip_addr;
	char host[HOST_NAME_MAX + 1] = "localhost";
	bool wildcard = !a || !*a || strcmp(a, "0.0.0.0") == 0 || strcmp(a, "::") == 0 ||
			strcmp(a, "[::]") == 0;

	if (c->identity_uri)
		return 0;
	/* The FQDN would need a (blocking) lookup; the host name as set is what we have. */
	if (wildcard && gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "localhost");
	if (!wildcard && strchr(a, ':') && a[0] != '[')
		snprintf(host, sizeof(host), "[%s]", a);
	else if (!wildcard)
		snprintf(host, sizeof(host), "%s", a);
	return asprintf(&c->identity_uri, "sip:%s@%s", login_name(), host) < 0 ? -ENOMEM : 0;
}

const struct config_device *config_find_device(const struct config *c, const char *id)
{
	for (size_t i = 0; i < c->n_devices; i++)
		if (strcmp(c->devices[i].id, id) == 0)
			return &c->devices[i];
	return NULL;
}

const struct config_device *config_default_device(const struct config *c)
{
	for (size_t i = 0; i < c->n_devices; i++)
		if (c->devices[i].is_default)
			return &c->devices[i];
	return c->n_devices == 1 ? &c->devices[0] : NULL;
}

/* Replace *dst with a copy of attribute @name if present. */
static int take_str(xmlNodePtr n, const char *name, char **dst)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

	if (!v)
		return 0;
	free(*dst);
	*dst = strdup((const char *)v);
	xmlFree(v);
	return *dst ? 0 : -ENOMEM;
}

static bool is_xml_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* xs:token whitespace rule, in place: trim, and runs of blanks become one space. */
static void collapse(char *s)
{
	char *out = s;

	for (const char *p = s; *p; p++) {
		if (!is_xml_blank(*p))
			*out++ = *p;
		else if (out > s && !is_xml_blank(p[1]) && p[1])
			*out++ = ' ';
	}
	*out = '\0';
}

/*
 * An xs:token (or xs:boolean) attribute as the schema understood it: the schema
 * collapses whitespace before it checks, so mode=" loop " is valid, but it does not
 * hand the collapsed value back. Compared as written, it became an invalid mode.
 */
static int take_token(xmlNodePtr n, const char *name, char **dst)
{
	int r = take_str(n, name, dst);

	if (r == 0 && *dst)
		collapse(*dst);
	return r;
}

/* The schema has already checked ranges; this only converts. */
static void take_num(xmlNodePtr n, const char *name, long *dst)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

	if (v)
		*dst = strtol((const char *)v, NULL, 10);
	xmlFree(v);
}

static int take_bool(xmlNodePtr n, const char *name, bool *dst)
{
	char *v = NULL;
	int r = take_token(n, name, &v);

	if (v)
		*dst = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
	free(v);
	return r;
}

static void read_control(struct config *c, xmlNodePtr n)
{
	long port = c->control_port, msg = (long)c->limits.max_message;
	long depth = c->limits.max_depth, conns = c->limits.max_connections;
	long queue = c->limits.max_queue;

	take_num(n, "port", &port);
	take_num(n, "max-message", &msg);
	take_num(n, "max-depth", &depth);
	take_num(n, "max-connections", &conns);
	take_num(n, "max-queue", &queue);
	c->control_port = (int)port;
	c->limits.max_message = (size_t)msg;
	c->limits.max_depth = (unsigned)depth;
	c->limits.max_connections = (unsigned)conns;
	c->limits.max_queue = (unsigned)queue;
}

static int read_params(struct config_device *d, xmlNodePtr dev)
{
	for (xmlNodePtr p = dev->children; p; p = p->next) {
		struct config_param *np;

		if (p->type != XML_ELEMENT_NODE || !xmlStrEqual(p->name, BAD_CAST "param"))
			continue;
		np = realloc(d->params, (d->n_params + 1) * sizeof(*np));
		if (!np)
			return -ENOMEM;
		d->params = np;
		np = &d->params[d->n_params++];
		*np = (struct config_param){ 0 };
		if (take_str(p, "name", &np->name) < 0 || take_str(p, "value", &np->value) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int read_device(struct config *c, xmlNodePtr n, char *err, size_t errlen)
{
	struct config_device *d, *nd;
	char *mode = NULL;
	int r;

	nd = realloc(c->devices, (c->n_devices + 1) * sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	c->devices = nd;
	d = &c->devices[c->n_devices++];
	*d = (struct config_device){ .mode = DEVICE_MODE_TRANSFER };
	if (take_str(n, "id", &d->id) < 0 || take_str(n, "wrapper", &d->wrapper) < 0 ||
	    take_str(n, "uri", &d->uri) < 0 || take_token(n, "mode", &mode) < 0 ||
	    take_bool(n, "default", &d->is_default) < 0) {
		free(mode);
		return -ENOMEM;
	}
	if (mode)
		d->mode = device_mode_from_string(mode);
	free(mode);
	/* Never store _INVALID, whatever the schema let through: it reaches replies. */
	if (d->mode < 0) {
		snprintf(err, errlen, "%ld: unknown device mode", xmlGetLineNo(n));
		return -EINVAL;
	}
	r = read_params(d, n);
	if (r < 0)
		return r;
	/* Uniqueness is not expressible per attribute in the schema without keys; check here. */
	for (size_t i = 0; i + 1 < c->n_devices; i++)
		if (strcmp(c->devices[i].id, d->id) == 0) {
			snprintf(err, errlen, "%ld: device id \"%s\" is used twice", xmlGetLineNo(n), d->id);
			return -EINVAL;
		}
	return 0;
}

static int read_log(struct config *c, xmlNodePtr n, char *err, size_t errlen)
{
	char *level = NULL;

	if (take_token(n, "level", &level) < 0)
		return -ENOMEM;
	if (level)
		c->log_level = log_level_from_string(level);
	free(level);
	/* Never store _INVALID, whatever the schema let through. */
	if (c->log_level < 0) {
		snprintf(err, errlen, "%ld: unknown log level", xmlGetLineNo(n));
		return -EINVAL;
	}
	return 0;
}

static int read_registration(struct config *c, xmlNodePtr n)
{
	long expires = 3600;
	char *tp = NULL;
	int r;

	take_num(n, "expires", &expires);
	c->reg_expires = (int)expires;
	r = take_str(n, "registrar", &c->reg_registrar) < 0 || take_str(n, "user", &c->reg_user) < 0 ||
	    take_str(n, "password", &c->reg_password) < 0 ||
	    take_str(n, "password-file", &c->reg_password_file) < 0 ||
	    take_str(n, "transport", &tp) < 0 ? -ENOMEM : 0;
	c->reg_tcp = tp && strcmp(tp, "tcp") == 0;
	free(tp);
	return r;
}

/* <sip port addr source-rate outbound-proxy><dns server/></sip> */
static int read_sip(struct config *c, xmlNodePtr n)
{
	long port = c->sip_port, rate = c->sip_source_rate;

	take_num(n, "port", &port);
	take_num(n, "source-rate", &rate);
	c->sip_port = (int)port;
	c->sip_source_rate = (unsigned)rate;
	if (take_str(n, "addr", &c->sip_addr) < 0 ||
	    take_str(n, "outbound-proxy", &c->sip_outbound_proxy) < 0)
		return -ENOMEM;
	for (xmlNodePtr d = n->children; d; d = d->next)
		if (d->type == XML_ELEMENT_NODE && xmlStrEqual(d->name, BAD_CAST "dns") &&
		    take_str(d, "server", &c->sip_dns_servers) < 0)
			return -ENOMEM;
	return 0;
}

int config_overlay_bootstrap_add(struct config *c, const char *uri)
{
	char **v;

	if (c->n_overlay_bootstrap >= CONFIG_OVERLAY_BOOTSTRAP_MAX)
		return -ENOSPC;
	v = realloc(c->overlay_bootstrap, (c->n_overlay_bootstrap + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->overlay_bootstrap = v;
	v[c->n_overlay_bootstrap] = strdup(uri);
	if (!v[c->n_overlay_bootstrap])
		return -ENOMEM;
	c->n_overlay_bootstrap++;
	return 0;
}

static int read_overlay(struct config *c, xmlNodePtr n, char *err, size_t errlen)
{
	long min = c->overlay_min, max = c->overlay_max, refresh = c->overlay_refresh;
	long ttl = c->overlay_ttl;

	take_num(n, "min-neighbours", &min);
	take_num(n, "max-neighbours", &max);
	take_num(n, "refresh", &refresh);
	take_num(n, "ttl", &ttl);
	c->overlay_ttl = (unsigned)ttl;
	if (min > max) {
		snprintf(err, errlen, "%ld: overlay min-neighbours is above max-neighbours",
			 xmlGetLineNo(n));
		return -EINVAL;
	}
	c->overlay_min = (unsigned)min;
	c->overlay_max = (unsigned)max;
	c->overlay_refresh = (unsigned)refresh;
	if (take_bool(n, "enable", &c->overlay_enable) < 0 ||
	    take_str(n, "contact", &c->overlay_contact) < 0)
		return -ENOMEM;
	for (xmlNodePtr p = n->children; p; p = p->next) {
		xmlChar *uri;
		int r;

		if (p->type != XML_ELEMENT_NODE)
			continue;
		uri = xmlGetProp(p, BAD_CAST "uri");
		r = uri ? config_overlay_bootstrap_add(c, (const char *)uri) : 0;
		xmlFree(uri);
		if (r < 0)
			return r;
	}
	return 0;
}

/* <transfer> limits and the node URIs of <overlay><peer>, which a Fetch may name. */
static int read_transfer(struct config *c, xmlNodePtr n)
{
	long max = c->transfer_max, per = c->transfer_max_per_peer;
	long rate = (long)c->transfer_upload_rate;

	take_num(n, "max-concurrent", &max);
	take_num(n, "max-per-peer", &per);
	take_num(n, "upload-rate", &rate);
	c->transfer_max = (unsigned)max;
	c->transfer_max_per_peer = (unsigned)per;
	c->transfer_upload_rate = (unsigned long)rate;
	return 0;
}

static int read_overlay_peers(struct config *c, xmlNodePtr n)
{
	for (xmlNodePtr p = n->children; p; p = p->next) {
		char *uri = NULL, **v;

		if (p->type != XML_ELEMENT_NODE || take_str(p, "uri", &uri) < 0 || !uri)
			continue;
		v = realloc(c->overlay_peer_uris, (c->n_overlay_peer_uris + 1) * sizeof(*v));
		if (!v) {
			free(uri);
			return -ENOMEM;
		}
		c->overlay_peer_uris = v;
		v[c->n_overlay_peer_uris++] = uri;
	}
	return 0;
}

static int read_element(struct config *c, xmlNodePtr n, char *err, size_t errlen)
{
	const char *name = (const char *)n->name;

	if (strcmp(name, "control") == 0) {
		read_control(c, n);
	} else if (strcmp(name, "sip") == 0) {
		return read_sip(c, n);
	} else if (strcmp(name, "log") == 0) {
		return read_log(c, n, err, errlen);
	} else if (strcmp(name, "paths") == 0) {
		if (take_str(n, "state-dir", &c->state_dir) < 0 ||
		    take_str(n, "runtime-dir", &c->runtime_dir) < 0 ||
		    take_str(n, "download-dir", &c->download_dir) < 0)
			return -ENOMEM;
	} else if (strcmp(name, "identity") == 0) {
		if (take_str(n, "uri", &c->identity_uri) < 0 ||
		    take_str(n, "display-name", &c->display_name) < 0)
			return -ENOMEM;
	} else if (strcmp(name, "registration") == 0) {
		return read_registration(c, n);
	} else if (strcmp(name, "device") == 0) {
		return read_device(c, n, err, errlen);
	} else if (strcmp(name, "share") == 0) {
		long files = (long)c->share_max_files, roots = c->share_max_roots;

		take_num(n, "max-files", &files);
		take_num(n, "max-roots", &roots);
		c->share_max_files = (unsigned long)files;
		c->share_max_roots = (unsigned)roots;
	} else if (strcmp(name, "calls") == 0) {
		long max = c->max_calls, timeout = c->answer_timeout;

		take_num(n, "max", &max);
		take_num(n, "answer-timeout", &timeout);
		c->max_calls = (unsigned)max;
		c->answer_timeout = (unsigned)timeout;
		return take_str(n, "chooser", &c->chooser);
	} else if (strcmp(name, "overlay") == 0) {
		/* the overlay's settings, and the node URIs a Fetch may name */
		int r = read_overlay(c, n, err, errlen);

		return r < 0 ? r : read_overlay_peers(c, n);
	} else if (strcmp(name, "conference") == 0) {
		if (take_str(n, "server", &c->conference_server) < 0 ||
		    take_token(n, "method", &c->conference_method) < 0)
			return -ENOMEM;
	} else if (strcmp(name, "transfer") == 0) {
		return read_transfer(c, n);
	}
	/* Other elements the schema admits belong to later subsystems. */
	return 0;
}

static int check_defaults(const struct config *c, char *err, size_t errlen)
{
	unsigned n = 0;

	for (size_t i = 0; i < c->n_devices; i++)
		n += c->devices[i].is_default;
	if (n > 1) {
		snprintf(err, errlen, "0: %u devices are marked default; mark one", n);
		return -EINVAL;
	}
	return 0;
}

static xmlSchemaPtr config_schema(void)
{
	static xmlSchemaPtr schema;

	if (!schema)
		schema = xml_schema_compile(sipsvc_config_xsd, sipsvc_config_xsd_len);
	return schema;
}

static int validate(xmlDocPtr doc, char *err, size_t errlen)
{
	xmlSchemaPtr schema = config_schema();
	xmlSchemaValidCtxtPtr v;
	int r;

	if (!schema) {
		snprintf(err, errlen, "0: the embedded config schema does not compile");
		return -EINVAL;
	}
	v = xmlSchemaNewValidCtxt(schema);
	if (!v)
		return -ENOMEM;
	r = xml_schema_check(v, doc, err, errlen);
	xmlSchemaFreeValidCtxt(v);
	return r;
}

/*
 * XSD 1.0 cannot say "any order, at most once" next to the repeatable <device>, so
 * sipsvc-config.xsd leaves it to us: a second <control> would otherwise silently
 * override the first.
 */
static int check_once(xmlNodePtr n, char *err, size_t errlen)
{
	if (xmlStrEqual(n->name, BAD_CAST "device"))
		return 0;
	for (xmlNodePtr p = n->prev; p; p = p->prev)
		if (p->type == XML_ELEMENT_NODE && xmlStrEqual(p->name, n->name)) {
			snprintf(err, errlen, "%ld: <%s> appears twice (first on line %ld); merge them",
				 xmlGetLineNo(n), (const char *)n->name, xmlGetLineNo(p));
			return -EINVAL;
		}
	return 0;
}

static int config_from_doc(xmlDocPtr doc, struct config *c, char *err, size_t errlen)
{
	int r = validate(doc, err, errlen);

	if (r < 0)
		return r;
	for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		r = check_once(n, err, errlen);
		if (r == 0)
			r = read_element(c, n, err, errlen);
		if (r < 0)
			return r;
	}
	return check_defaults(c, err, errlen);
}

int config_load_buffer(const char *buf, size_t len, const char *name, struct config **ret,
		       char *err, size_t errlen)
{
	char msg[512];
	struct config *c;
	xmlDocPtr doc;
	int r;

	doc = xml_parse_untrusted(buf, len, msg, sizeof(msg));
	if (!doc) {
		snprintf(err, errlen, "%s:%s", name, msg);
		return -EINVAL;
	}
	c = config_new_defaults();
	if (!c) {
		xmlFreeDoc(doc);
		return -ENOMEM;
	}
	r = config_from_doc(doc, c, msg, sizeof(msg));
	xmlFreeDoc(doc);
	if (r == 0)
		c->path = strdup(name);
	if (r == 0 && !c->path)
		r = -ENOMEM;
	if (r < 0) {
		snprintf(err, errlen, "%s:%s", name, r == -ENOMEM ? "0: out of memory" : msg);
		config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

static int read_file(const char *path, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if (st.st_size > CONFIG_MAX_BYTES)
		r = -EFBIG;
	if (r < 0) {
		close(fd);
		return r;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, (size_t)st.st_size);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

int config_load(const char *path, struct config **ret, char *err, size_t errlen)
{
	_cleanup_(freep) char *buf = NULL;
	size_t len = 0;
	int r;

	r = read_file(path, &buf, &len);
	if (r < 0) {
		snprintf(err, errlen, "%s:0: cannot read: %s", path,
			 r == -EFBIG ? "larger than 1 MiB" :
			 r == -EINVAL ? "not a regular file" : strerror(-r));
		return r;
	}
	return config_load_buffer(buf, len, path, ret, err, errlen);
}
