/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <Share/>, <Unshare/> and <Shares/>: the share index (share/share.h) seen by clients. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "control/control-private.h"
#include "share/share.h"

/* Shares path=…: at most this many File children (sipsvc.xsd ShareInfo). */
#define MAX_LISTED 1000

static char *path_of(const struct request *req)
{
	return (char *)xmlGetProp(req->node, BAD_CAST "path");
}

static int add_root(xmlNodePtr ok, const struct share_root *r)
{
	xmlNodePtr n = xmlNewChild(ok, NULL, BAD_CAST "Share", NULL);
	struct share_root_info info;

	if (!n)
		return -ENOMEM;
	share_root_get_info(r, &info);
	xml_set_propf(n, "path", "%s", info.path);
	xml_set_propf(n, "files", "%zu", info.files);
	xml_set_propf(n, "hashed", "%zu", info.hashed_files);
	xml_set_propf(n, "size", "%llu", (unsigned long long)info.bytes);
	if (info.indexing)
		xml_set_propf(n, "indexing", "true");
	if (!info.is_dir && share_root_first(r) && share_entry_hashed(share_root_first(r))) {
		const struct share_entry *e = share_root_first(r);
		char id[80], hex[72];

		share_entry_file_id(e, id, sizeof(id));
		share_hex(share_entry_sha256(e), SHARE_SHA256_LEN, hex);
		xml_set_propf(n, "file", "%s", id);
		xml_set_propf(n, "sha256", "%s", hex);
		if (xmlCheckUTF8(BAD_CAST share_entry_name(e)))
			xml_set_propf(n, "name", "%s", share_entry_name(e));
	}
	return 0;
}

/* Names XML (or the schema's one-line types) cannot carry are left out of listings. */
static bool listable(const char *path)
{
	return xmlCheckUTF8(BAD_CAST path) && !strpbrk(path, "\r\n");
}

static void add_file(xmlNodePtr share, const struct share_entry *e)
{
	xmlNodePtr n = xmlNewChild(share, NULL, BAD_CAST "File", NULL);
	char id[80], hex[72];

	if (!n)
		return;
	xml_set_propf(n, "path", "%s", share_entry_path(e));
	xml_set_propf(n, "name", "%s", share_entry_name(e));
	xml_set_propf(n, "size", "%llu", (unsigned long long)share_entry_size(e));
	if (!share_entry_hashed(e))
		return;
	share_entry_file_id(e, id, sizeof(id));
	xml_set_propf(n, "file", "%s", id);
	share_hex(share_entry_sha256(e), SHARE_SHA256_LEN, hex);
	xml_set_propf(n, "sha256", "%s", hex);
	share_hex(share_entry_sha1(e), SHARE_SHA1_LEN, hex);
	xml_set_propf(n, "sha1", "%s", hex);
}

static xmlNodePtr share_error(struct request *req, const char *path, int r)
{
	switch (r) {
	case -EINVAL:
	case -ENAMETOOLONG:
		return reply_error(req, CONTROL_ERROR_INVALID,
				   "%s: give an absolute path of at "
				   "most 4095 bytes",
				   path);
	case -EBADFD:
		return reply_error(req, CONTROL_ERROR_INVALID,
				   "%s is neither a regular file nor a directory on a disk file "
				   "system (devices, FIFOs, /proc and /sys are never shared)",
				   path);
	case -EPERM:
		return reply_error(req, CONTROL_ERROR_PERMISSION_DENIED,
				   "%s is the daemon's state "
				   "or runtime directory or inside it; those are never shared",
				   path);
	case -EBUSY:
		return reply_error(req, CONTROL_ERROR_INVALID,
				   "%s overlaps a share; unshare that "
				   "one first (<Shares/> lists them)",
				   path);
	case -ENOSPC:
		return reply_error(req, CONTROL_ERROR_LIMIT, "too many shares; unshare one first");
	case -ENOMEM:
		return NULL;
	default:
		return reply_error(req, CONTROL_ERROR_NOT_FOUND, "%s: %s", path, strerror(-r));
	}
}

/* "Ok" to a Share or Unshare means it survives the daemon being killed right after:
 * the reply waits (a few milliseconds) until the roots are on disk. */
static xmlNodePtr once_saved(struct request *req, xmlNodePtr ok)
{
	uint64_t v = ok ? share_roots_unsaved(req->ctl->share) : 0;

	if (!v)
		return ok;
	conn_defer(req->conn, ok, v);
	req->deferred = true;
	return NULL;
}

void control_share_saved(uint64_t version, void *arg)
{
	struct control *ctl = arg;
	struct conn *cn, *next;

	for (cn = ctl->conns; cn; cn = next) {
		next = cn->next;
		if (cn->deferred && cn->deferred_ver <= version && conn_release(cn) < 0)
			conn_free(cn);
	}
}

xmlNodePtr handle_share(struct request *req)
{
	_cleanup_(freep) char *path = path_of(req);
	struct share_root *root = NULL;
	xmlNodePtr ok;
	int r;

	if (!req->ctl->share)
		return reply_error(req, CONTROL_ERROR_INTERNAL, "sharing is not running");
	r = share_add(req->ctl->share, path, &root);
	if (r < 0 && r != -EEXIST)
		return share_error(req, path, r);
	ok = reply_ok(req);
	if (ok && add_root(ok, root) < 0) {
		xmlFreeNode(ok);
		return NULL;
	}
	return once_saved(req, ok);
}

xmlNodePtr handle_unshare(struct request *req)
{
	_cleanup_(freep) char *path = path_of(req);

	if (!req->ctl->share || share_remove(req->ctl->share, path) < 0)
		return reply_error(req, CONTROL_ERROR_NOT_SHARED,
				   "%s is not shared (<Shares/> "
				   "lists what is)",
				   path);
	return once_saved(req, reply_ok(req));
}

static struct share_root *find_root(struct share *s, const char *path)
{
	for (size_t i = 0; i < share_root_count(s); i++) {
		struct share_root_info info;

		share_root_get_info(share_root_get(s, i), &info);
		if (strcmp(info.path, path) == 0)
			return share_root_get(s, i);
	}
	return NULL;
}

static xmlNodePtr list_one(struct request *req, const char *path)
{
	struct share_root *r = find_root(req->ctl->share, path);
	xmlNodePtr ok;
	size_t n = 0;

	if (!r)
		return reply_error(req, CONTROL_ERROR_NOT_SHARED,
				   "%s is not shared (<Shares/> "
				   "lists what is)",
				   path);
	ok = reply_ok(req);
	if (!ok || add_root(ok, r) < 0) {
		xmlFreeNode(ok);
		return NULL;
	}
	for (const struct share_entry *e = share_root_first(r); e && n < MAX_LISTED;
	     e = share_entry_next(e))
		if (listable(share_entry_path(e))) {
			add_file(ok->last, e);
			n++;
		}
	return ok;
}

xmlNodePtr handle_shares(struct request *req)
{
	_cleanup_(freep) char *path = path_of(req);
	struct share *s = req->ctl->share;
	xmlNodePtr ok;

	if (s && path)
		return list_one(req, path);
	ok = reply_ok(req);
	for (size_t i = 0; ok && s && i < share_root_count(s); i++)
		if (add_root(ok, share_root_get(s, i)) < 0) {
			xmlFreeNode(ok);
			return NULL;
		}
	return ok;
}
