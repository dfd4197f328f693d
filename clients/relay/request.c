/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the browser may ask, and nothing else: a fixed table of requests, each with its
 * fields, their types and their syntax, checked before any byte goes to the daemon. The
 * syntax follows sipsvc.xsd (SipUri, Ref, CallId), so the daemon never sees input that
 * only its schema would have refused. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "relay.h"
#include "sipsvc-client.h"

#define URI_MAX 1024
#define REF_MAX 64
#define ORIGIN_MAX 255
#define FIELDS_MAX 4

enum field_kind {
	FIELD_URI,    /* sip:, sips: or tel: */
	FIELD_ORIGIN, /* a web origin, http(s)://host[:port] */
	FIELD_REF,    /* the client token */
	FIELD_CALL,   /* c<digits> */
	FIELD_EVENTS, /* event types the browser may subscribe to */
};

struct field {
	const char *name;
	enum field_kind kind;
	bool required;
	bool to_xml; /* sent as the attribute of the same name */
};

struct request_def {
	const char *name;
	struct field fields[FIELDS_MAX];
};

#define REF_FIELD { "ref", FIELD_REF, false, true }

static const struct request_def defs[] = {
	{ "ExternalJoin", { { "id", FIELD_URI, true, true }, REF_FIELD } },
	/* The origin is the page that asked; the protocol has no place for it, so the relay
	 * checks it and logs it but does not forward it. */
	{ "SameDeviceJoin", { { "id", FIELD_URI, true, true },
			      { "origin", FIELD_ORIGIN, true, false },
			      { "call", FIELD_CALL, false, true }, REF_FIELD } },
	{ "Status", { REF_FIELD } },
	{ "Calls", { REF_FIELD } },
	{ "Hangup", { { "call", FIELD_CALL, false, true }, REF_FIELD } },
	{ "Subscribe", { { "events", FIELD_EVENTS, true, true }, REF_FIELD } },
};

/* Only the events the extension shows; log, tunnel or device-choice would hand the browser
 * more than it needs. */
static const char *const browser_events[] = { "call", "conference" };

static int fail(char *err, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A name from the browser, fit to quote in a message: short and printable. */
static const char *quote(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size && i < 32; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* RFC 3261 25.1 and RFC 3966: URIs are ASCII, anything else is escaped. Stricter than
 * the schema's SipUri, which it implies. */
static bool valid_uri(const char *s, size_t len)
{
	size_t skip = strncmp(s, "sip:", 4) == 0 ? 4 : strncmp(s, "sips:", 5) == 0 ? 5
		      : strncmp(s, "tel:", 4) == 0 ? 4 : 0;

	if (skip == 0 || len <= skip || len > URI_MAX)
		return false;
	for (size_t i = skip; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || strchr("<>\"", s[i]))
			return false;
	return true;
}

static bool valid_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr(".-[]:", c);
}

/* A serialised origin (HTML "origin"): scheme://host[:port], no path, no user info. */
static bool valid_origin(const char *s, size_t len)
{
	size_t skip = strncmp(s, "https://", 8) == 0 ? 8 : strncmp(s, "http://", 7) == 0 ? 7 : 0;

	if (skip == 0 || len <= skip || len > ORIGIN_MAX)
		return false;
	for (size_t i = skip; i < len; i++)
		if (!s[i] || !valid_host_char(s[i]))
			return false;
	return true;
}

static bool valid_ref(const char *s, size_t len)
{
	if (len < 1 || len > REF_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '!' || s[i] > '~')
			return false;
	return true;
}

static bool valid_call(const char *s, size_t len)
{
	if (len < 2 || len > 21 || s[0] != 'c')
		return false;
	for (size_t i = 1; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool known_event(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(browser_events) / sizeof(*browser_events); i++)
		if (strlen(browser_events[i]) == len && memcmp(browser_events[i], s, len) == 0)
			return true;
	return false;
}

/* A space-separated list of event types, each one the browser may have. */
static bool valid_events(const char *s, size_t len)
{
	const char *end = s + len;

	if (len == 0 || len > 64)
		return false;
	for (;;) {
		const char *sp = memchr(s, ' ', (size_t)(end - s));
		size_t n = sp ? (size_t)(sp - s) : (size_t)(end - s);

		/* An empty name too: no leading, trailing or double space. */
		if (!known_event(s, n))
			return false;
		if (!sp)
			return true;
		s = sp + 1;
	}
}

static bool valid_value(enum field_kind kind, const char *s, size_t len)
{
	switch (kind) {
	case FIELD_URI: return valid_uri(s, len);
	case FIELD_ORIGIN: return valid_origin(s, len);
	case FIELD_REF: return valid_ref(s, len);
	case FIELD_CALL: return valid_call(s, len);
	case FIELD_EVENTS: return valid_events(s, len);
	}
	return false;
}

static const struct request_def *find_def(const char *name)
{
	for (size_t i = 0; i < sizeof(defs) / sizeof(*defs); i++)
		if (strcmp(defs[i].name, name) == 0)
			return &defs[i];
	return NULL;
}

static const struct field *find_field(const struct request_def *def, const char *name)
{
	for (size_t i = 0; i < FIELDS_MAX && def->fields[i].name; i++)
		if (strcmp(def->fields[i].name, name) == 0)
			return &def->fields[i];
	return NULL;
}

/* The string value of @p v, or NULL if it is not a string or holds a NUL. */
static const char *string_of(json_object *v, size_t *ret_len)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	*ret_len = (size_t)json_object_get_string_len(v);
	return strlen(s) == *ret_len ? s : NULL;
}

/* Remember what can be trusted of the message, to answer it even if it is refused. */
static void note_meta(json_object *o, struct request_meta *meta)
{
	json_object *v;
	const char *s;
	size_t len;

	if (json_object_object_get_ex(o, "ref", &v) && (s = string_of(v, &len)) &&
	    valid_ref(s, len))
		snprintf(meta->ref, sizeof(meta->ref), "%s", s);
	if (json_object_object_get_ex(o, "request", &v) && (s = string_of(v, &len)) && find_def(s))
		snprintf(meta->request, sizeof(meta->request), "%s", s);
}

static int check_fields(json_object *o, const struct request_def *def, struct request_meta *meta,
			char *err, size_t size)
{
	char q[40];

	json_object_object_foreach(o, key, v) {
		const struct field *f = find_field(def, key);
		const char *s;
		size_t len;

		if (strcmp(key, "request") == 0)
			continue;
		if (!f)
			return fail(err, size, "%s has no field \"%s\"", def->name,
				    quote(key, q, sizeof(q)));
		if (!(s = string_of(v, &len)))
			return fail(err, size, "%s: \"%s\" must be a string", def->name, key);
		if (!valid_value(f->kind, s, len))
			return fail(err, size, "%s: \"%s\" is not a valid %s", def->name, key,
				    f->kind == FIELD_URI ? "sip:, sips: or tel: URI" : "value");
		if (f->kind == FIELD_ORIGIN)
			snprintf(meta->origin, sizeof(meta->origin), "%s", s);
	}
	for (size_t i = 0; i < FIELDS_MAX && def->fields[i].name; i++) {
		const struct field *f = &def->fields[i];

		if (f->required && !json_object_object_get_ex(o, f->name, NULL))
			return fail(err, size, "%s needs \"%s\"", def->name, f->name);
	}
	return 0;
}

static int build(json_object *o, const struct request_def *def, xmlNodePtr *ret)
{
	xmlNodePtr n = sipsvc_request_new(def->name);

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < FIELDS_MAX && def->fields[i].name; i++) {
		const struct field *f = &def->fields[i];
		json_object *v;

		if (!f->to_xml || !json_object_object_get_ex(o, f->name, &v))
			continue;
		if (sipsvc_request_set(n, f->name, json_object_get_string(v)) < 0) {
			xmlFreeNode(n);
			return -ENOMEM;
		}
	}
	*ret = n;
	return 0;
}

/* Strict JSON, valid UTF-8, one object of plain values: depth 2 stops nesting at once. */
static int parse_object(const char *json, size_t len, json_object **ret, char *err, size_t size)
{
	struct json_tokener *tok = json_tokener_new_ex(2);
	enum json_tokener_error e;
	json_object *o;

	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, json, (int)len);
	e = json_tokener_get_error(tok);
	if (e == json_tokener_success && json_tokener_get_parse_end(tok) != len)
		e = json_tokener_error_parse_unexpected;
	json_tokener_free(tok);
	if (e != json_tokener_success || !o) {
		json_object_put(o);
		return fail(err, size, "not JSON: %s", e == json_tokener_continue
			    ? "the message ends early" : json_tokener_error_desc(e));
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return fail(err, size, "a message must be a JSON object");
	}
	*ret = o;
	return 0;
}

int relay_request_parse(const char *json, size_t len, struct request_meta *meta, xmlNodePtr *ret,
			char *err, size_t errsize)
{
	const struct request_def *def;
	json_object *o = NULL, *v;
	const char *name;
	size_t n;
	char q[40];
	int r;

	memset(meta, 0, sizeof(*meta));
	if ((r = parse_object(json, len, &o, err, errsize)) < 0)
		return r;
	note_meta(o, meta);
	if (!json_object_object_get_ex(o, "request", &v) || !(name = string_of(v, &n)))
		r = fail(err, errsize, "\"request\" must be a string naming the request");
	else if (!(def = find_def(name)))
		r = fail(err, errsize, "\"%s\" is not a request the browser may send",
			 quote(name, q, sizeof(q)));
	else if ((r = check_fields(o, def, meta, err, errsize)) == 0)
		r = build(o, def, ret);
	json_object_put(o);
	return r;
}
