/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The index file, STATE/shares.idx: a line format, one record per line, fields
 * separated by one space, paths percent-encoded (bytes ≤ 0x20, 0x7f and '%'):
 *
 *   sipsvc-shares 1
 *   root PATH
 *   file ROOT# SIZE MTIME-NS INODE DEVICE SHA256-HEX SHA1-HEX REL
 *
 * ROOT# counts the root lines before it from 0; REL is the path below the root, "."
 * for a root that is a file. Only hashed files are written. Parsing trusts nothing:
 * every line and field is bounded and checked, and REL may not climb out of its root.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "share/share-private.h"

#define HEADER	 "sipsvc-shares 1"
#define MAX_LINE (SHARE_MAX_PATH * 3 + 256)

/* ---- writing ----------------------------------------------------------------------- */

static void sb_reserve(struct sbuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->oom || b->len + n < b->cap)
		return;
	while (cap <= b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	sb_reserve(b, 256);
	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < b->cap - b->len)
		b->len += (size_t)n;
	else
		b->oom = true; /* lines are bounded well below 256 bytes here */
}

static void sb_escaped(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	sb_reserve(b, strlen(s) * 3 + 2);
	if (b->oom)
		return;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c <= 0x20 || *c == 0x7f || *c == '%') {
			b->p[b->len++] = '%';
			b->p[b->len++] = hex[*c >> 4];
			b->p[b->len++] = hex[*c & 15];
		} else {
			b->p[b->len++] = (char)*c;
		}
	}
	b->p[b->len++] = '\n';
}

static void format_entry(struct sbuf *b, size_t i, const struct share_root *r,
			 const struct share_entry *e)
{
	char h256[SHARE_SHA256_LEN * 2 + 1], h1[SHARE_SHA1_LEN * 2 + 1];
	const char *rel = e->path + strlen(r->real);

	share_hex(e->sha256, SHARE_SHA256_LEN, h256);
	share_hex(e->sha1, SHARE_SHA1_LEN, h1);
	sb_printf(b, "file %zu %" PRIu64 " %" PRId64 " %" PRIu64 " %" PRIu64 " %s %s ", i,
		  e->st.size, e->st.mtime_ns, e->st.ino, e->st.dev, h256, h1);
	sb_escaped(b, *rel ? rel + 1 : ".");
}

int share_store_format_begin(struct store_fmt *f, struct share_root *const *roots, size_t n_roots)
{
	*f = (struct store_fmt){0};
	f->roots = calloc(n_roots ? n_roots : 1, sizeof(*f->roots));
	if (!f->roots)
		return -ENOMEM;
	sb_printf(&f->b, HEADER "\n");
	for (size_t i = 0; i < n_roots; i++) {
		f->roots[f->n_roots++] = mem_ref(roots[i]);
		sb_printf(&f->b, "root ");
		sb_escaped(&f->b, roots[i]->path);
	}
	f->cursor = n_roots ? mem_ref(roots[0]->first) : NULL;
	return f->b.oom ? -ENOMEM : 0;
}

/* Move the cursor to @p e (or the next root's first entry), keeping a reference so
 * that we can tell, at the next step, whether it was removed meanwhile. */
static void advance(struct store_fmt *f, struct share_entry *e)
{
	while (!e && ++f->root_i < f->n_roots)
		e = f->roots[f->root_i]->first;
	mem_deref(f->cursor);
	f->cursor = mem_ref(e);
}

int share_store_format_step(struct store_fmt *f, size_t max)
{
	for (size_t n = 0; n < max && f->root_i < f->n_roots; n++) {
		struct share_root *r = f->roots[f->root_i];
		struct share_entry *e = f->cursor;

		if (r->removed || (e && e->removed))
			return -ESTALE; /* our place is gone: start again */
		if (e && e->hashed)
			format_entry(&f->b, f->root_i, r, e);
		advance(f, e ? e->rnext : NULL);
	}
	if (f->b.oom)
		return -ENOMEM;
	return f->root_i < f->n_roots ? 1 : 0;
}

void share_store_format_done(struct store_fmt *f)
{
	mem_deref(f->cursor);
	for (size_t i = 0; i < f->n_roots; i++)
		mem_deref(f->roots[i]);
	free(f->roots);
	free(f->b.p);
	*f = (struct store_fmt){0};
}

int share_store_format(struct share_root *const *roots, size_t n_roots, char **ret, size_t *ret_len)
{
	struct store_fmt f;
	int r = share_store_format_begin(&f, roots, n_roots);

	if (r == 0)
		r = share_store_format_step(&f, SIZE_MAX);
	if (r == 0) {
		*ret = f.b.p;
		*ret_len = f.b.len;
		f.b.p = NULL;
	}
	share_store_format_done(&f);
	return r;
}

/* ---- parsing ----------------------------------------------------------------------- */

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode @p n bytes; refuses NUL, raw blanks and bad escapes. */
static char *unescape(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (!out || n == 0 || n >= SHARE_MAX_PATH * 3)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			goto bad;
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n || (hi = unhex(s[i + 1])) < 0 || (lo = unhex(s[i + 2])) < 0 ||
		    (hi == 0 && lo == 0))
			goto bad;
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	if ((size_t)(o - out) >= SHARE_MAX_PATH)
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

/* A path below a root: relative, no empty, hidden, "." or ".." components. */
static bool rel_ok(const char *rel)
{
	if (strcmp(rel, ".") == 0)
		return true;
	for (const char *c = rel; *c;) {
		if (*c == '/' || *c == '.')
			return false;
		c = strchr(c, '/');
		if (!c)
			break;
		c++;
		if (!*c)
			return false;
	}
	return true;
}

static bool num(const char *s, size_t n, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (max - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return true;
}

static bool hexfield(const char *s, size_t n, uint8_t *out, size_t len)
{
	if (n != len * 2)
		return false;
	for (size_t i = 0; i < len; i++) {
		int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);

		/* Lowercase only, as we write it. */
		if (hi < 0 || lo < 0 || (s[2 * i] >= 'A' && s[2 * i] <= 'F') ||
		    (s[2 * i + 1] >= 'A' && s[2 * i + 1] <= 'F'))
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* Split a line into at most @p max fields on single spaces. */
static size_t split(const char *line, size_t len, const char **f, size_t *fl, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= len && n < max; i++)
		if (i == len || line[i] == ' ') {
			f[n] = line + start;
			fl[n++] = i - start;
			start = i + 1;
		}
	return n;
}

static const char *parse_file(struct store_data *d, const char **f, const size_t *fl)
{
	struct store_file *sf = &d->files[d->n_files];
	uint64_t root, mtime;

	*sf = (struct store_file){0};
	if (!num(f[1], fl[1], SIZE_MAX, &root) || root >= d->n_roots)
		return "no such root";
	sf->root = (size_t)root;
	if (!num(f[2], fl[2], INT64_MAX, &sf->st.size) || !num(f[3], fl[3], INT64_MAX, &mtime) ||
	    !num(f[4], fl[4], UINT64_MAX, &sf->st.ino) ||
	    !num(f[5], fl[5], UINT64_MAX, &sf->st.dev))
		return "bad number";
	sf->st.mtime_ns = (int64_t)mtime;
	if (!hexfield(f[6], fl[6], sf->sha256, SHARE_SHA256_LEN) ||
	    !hexfield(f[7], fl[7], sf->sha1, SHARE_SHA1_LEN))
		return "bad digest";
	sf->rel = unescape(f[8], fl[8]);
	if (!sf->rel || !rel_ok(sf->rel)) {
		free(sf->rel);
		return "bad path";
	}
	d->n_files++;
	return NULL;
}

static const char *parse_line(struct store_data *d, const char *line, size_t len, size_t max_roots,
			      size_t max_files)
{
	const char *f[10];
	size_t fl[10], n = split(line, len, f, fl, ARRAY_SIZE(f));
	char *path;

	if (n == 2 && fl[0] == 4 && memcmp(f[0], "root", 4) == 0) {
		if (d->n_files > 0)
			return "root after files";
		if (d->n_roots >= max_roots)
			return "too many roots";
		path = unescape(f[1], fl[1]);
		if (!path || path[0] != '/') {
			free(path);
			return "bad root path";
		}
		d->roots[d->n_roots++] = path;
		return NULL;
	}
	if (n == 9 && fl[0] == 4 && memcmp(f[0], "file", 4) == 0) {
		if (d->n_files >= max_files)
			return "too many files";
		return parse_file(d, f, fl);
	}
	return "unknown record";
}

static const char *parse_record(struct store_data *d, const char *line, size_t l, size_t max_roots,
				size_t max_files)
{
	if (l > MAX_LINE)
		return "line too long";
	if (d->n_files == d->cap_files) {
		size_t cap = d->cap_files ? d->cap_files * 2 : 256;
		struct store_file *v = realloc(d->files, cap * sizeof(*v));

		if (!v)
			return "out of memory";
		d->files = v;
		d->cap_files = cap;
	}
	return parse_line(d, line, l, max_roots, max_files);
}

int share_store_parse(const char *buf, size_t len, size_t max_roots, size_t max_files,
		      struct store_data *ret, char *err, size_t errlen)
{
	struct store_data d = {0};
	size_t hl = strlen(HEADER), line = 1, off = hl + 1;
	const char *why = NULL;

	d.roots = calloc(max_roots ? max_roots : 1, sizeof(*d.roots));
	if (!d.roots) {
		snprintf(err, errlen, "0: out of memory");
		*ret = d;
		return -ENOMEM;
	}
	if (len <= hl || memcmp(buf, HEADER "\n", hl + 1) != 0)
		why = "not a \"" HEADER "\" file";
	while (!why && off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);

		line++;
		if (!nl) {
			why = "unterminated last line";
			break;
		}
		why = parse_record(&d, buf + off, (size_t)(nl - (buf + off)), max_roots, max_files);
		off = (size_t)(nl - buf) + 1;
	}
	*ret = d;
	if (why) {
		snprintf(err, errlen, "%zu: %s", line, why);
		return -EINVAL;
	}
	return 0;
}

void share_store_data_done(struct store_data *d)
{
	for (size_t i = 0; i < d->n_roots; i++)
		free(d->roots[i]);
	for (size_t i = 0; i < d->n_files; i++)
		free(d->files[i].rel);
	free(d->roots);
	free(d->files);
	*d = (struct store_data){0};
}

/* ---- files ------------------------------------------------------------------------- */

int share_store_read(const char *dir, const char *name, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_(freep) char *path = NULL;
	struct stat sb;
	size_t got = 0;
	char *buf;
	int fd, r = 0;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0)
		r = -errno;
	else if (!S_ISREG(sb.st_mode))
		r = -EBADFD;
	else if ((uint64_t)sb.st_size > max)
		r = -EFBIG;
	if (r < 0) {
		close(fd);
		return r;
	}
	buf = malloc((size_t)sb.st_size + 1);
	while (buf && got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[got] = '\0';
	*ret = buf;
	*ret_len = got;
	return 0;
}
