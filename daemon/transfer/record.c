/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Downloads that are not finished, kept in STATE/transfers so that a restarted daemon
 * lists them as paused and resumes them (issue 7 "a transfer persists across a daemon
 * restart"): content hash, size, holder, name and target dir. The bytes themselves
 * are in NAME.part, checked again (re-hashed) before a resume.
 *
 * One line per download: "SHA256HEX SIZE PEER DIRHEX NAMEHEX"; the dir and the name
 * are hex so that no byte of them can break the format. The file is read bounded and
 * a line that does not parse is skipped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/worker.h"
#include "transfer/transfer-private.h"

#define HEADER "sipsvc-transfers 1\n"
#define RECORDS_MAX 256
#define FILE_MAX (RECORDS_MAX * (2 * (PATH_MAX + TRANSFER_NAME_MAX) + 160))

struct transfer_record *transfer_record_find(struct transfer_mgr *m,
					     const uint8_t sha256[TRANSFER_SHA256_LEN])
{
	for (struct transfer_record *r = m->records; r; r = r->next)
		if (memcmp(r->sha256, sha256, TRANSFER_SHA256_LEN) == 0)
			return r;
	return NULL;
}

static void record_free(struct transfer_record *r)
{
	free(r->dir);
	free(r);
}

static size_t count(const struct transfer_mgr *m)
{
	size_t n = 0;

	for (const struct transfer_record *r = m->records; r; r = r->next)
		n++;
	return n;
}

static struct transfer_record *record_new(struct transfer_mgr *m, const uint8_t *sha256,
					  uint64_t size, const char *peer, const char *name,
					  const char *dir)
{
	struct transfer_record *r;

	if (count(m) >= RECORDS_MAX || strlen(peer) > TRANSFER_PEER_HEX ||
	    strlen(name) > TRANSFER_NAME_MAX || strlen(dir) >= PATH_MAX)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->dir = strdup(dir))) {
		free(r);
		return NULL;
	}
	memcpy(r->sha256, sha256, TRANSFER_SHA256_LEN);
	r->size = size;
	strcpy(r->peer, peer);
	strcpy(r->name, name);
	r->next = m->records;
	m->records = r;
	return r;
}

struct transfer_record *transfer_record_put(struct transfer_mgr *m, unsigned id,
					    const uint8_t sha256[TRANSFER_SHA256_LEN],
					    uint64_t size, const char *peer, const char *name,
					    const char *dir)
{
	struct transfer_record *r = transfer_record_find(m, sha256);

	if (r && (strlen(name) > TRANSFER_NAME_MAX || strlen(peer) > TRANSFER_PEER_HEX))
		return NULL;
	if (r && strcmp(r->dir, dir) != 0) {
		char *d = strdup(dir);

		if (!d)
			return NULL;
		free(r->dir);
		r->dir = d;
	}
	if (r) {
		r->hidden = false;
		r->size = size;
		strcpy(r->peer, peer);
		strcpy(r->name, name);
	} else {
		r = record_new(m, sha256, size, peer, name, dir);
		if (!r)
			return NULL;
		r->id = id ? id : transfer_mgr_id(m);
	}
	transfer_record_save(m);
	return r;
}

void transfer_record_drop(struct transfer_mgr *m, const uint8_t sha256[TRANSFER_SHA256_LEN])
{
	for (struct transfer_record **p = &m->records; *p; p = &(*p)->next) {
		struct transfer_record *r = *p;

		if (memcmp(r->sha256, sha256, TRANSFER_SHA256_LEN) != 0)
			continue;
		*p = r->next;
		record_free(r);
		transfer_record_save(m);
		return;
	}
}

void transfer_record_free_all(struct transfer_mgr *m)
{
	while (m->records) {
		struct transfer_record *r = m->records;

		m->records = r->next;
		record_free(r);
	}
}

static void hex_of(const void *in, size_t n, char *out)
{
	const uint8_t *b = in;

	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

/* The whole file as text; NULL on ENOMEM. */
static char *format(const struct transfer_mgr *m, size_t *ret_len)
{
	size_t cap = sizeof(HEADER), len;
	char *buf;

	for (const struct transfer_record *t = m->records; t; t = t->next)
		cap += 2 * (strlen(t->dir) + strlen(t->name)) + 2 * TRANSFER_SHA256_LEN + 80;
	buf = malloc(cap);
	if (!buf)
		return NULL;
	len = (size_t)sprintf(buf, "%s", HEADER);
	for (const struct transfer_record *t = m->records; t; t = t->next) {
		char sha[2 * TRANSFER_SHA256_LEN + 1];

		if (t->hidden)
			continue;
		hex_of(t->sha256, TRANSFER_SHA256_LEN, sha);
		len += (size_t)sprintf(buf + len, "%s %llu %s ", sha, (unsigned long long)t->size,
				       t->peer[0] ? t->peer : "-");
		hex_of(t->dir, strlen(t->dir), buf + len);
		len += 2 * strlen(t->dir);
		buf[len++] = ' ';
		hex_of(t->name, strlen(t->name), buf + len);
		len += 2 * strlen(t->name);
		buf[len++] = '\n';
	}
	*ret_len = len;
	return buf;
}

/* One write in the pool at a time, so that an older one never lands after a newer. */
struct save_job {
	struct transfer_mgr *m; /* NULL once the manager is gone */
	char *dir, *buf, *final; /* final: the last state, written once the job is done */
	size_t len, final_len;
	int r;
};

static int write_now(const char *dir, const char *buf, size_t len)
{
	int r = paths_write_atomic(dir, TRANSFER_STATE_FILE, buf, len);

	if (r < 0)
		log_warn("transfer: cannot save %s/%s: %s", dir, TRANSFER_STATE_FILE,
			 strerror(-r));
	return r;
}

static void save_work(void *arg)
{
	struct save_job *j = arg;

	/* fsync: DESIGN.md "Work off the event loop" */
	j->r = paths_write_atomic(j->dir, TRANSFER_STATE_FILE, j->buf, j->len);
}

static void save_done(void *arg, int status)
{
	struct save_job *j = arg;

	if (status == 0 && j->r < 0)
		log_warn("transfer: cannot save %s/%s: %s", j->dir, TRANSFER_STATE_FILE,
			 strerror(-j->r));
	if (status < 0 && !j->final) /* the pool stopped before it ran: write it here */
		write_now(j->dir, j->buf, j->len);
	if (j->final) /* the manager stopped meanwhile: its last word, in order */
		write_now(j->dir, j->final, j->final_len);
	if (j->m) {
		j->m->saving = NULL;
		if (j->m->save_again) {
			j->m->save_again = false;
			transfer_record_save(j->m);
		}
	}
	free(j->dir);
	free(j->buf);
	free(j->final);
	free(j);
}

int transfer_record_save(struct transfer_mgr *m)
{
	struct save_job *j;
	size_t len;
	char *buf;
	int r;

	if (!m->state_dir)
		return 0;
	if (m->saving) {
		m->save_again = true;
		return 0;
	}
	buf = format(m, &len);
	if (!buf)
		return -ENOMEM;
	j = calloc(1, sizeof(*j));
	if (j) {
		*j = (struct save_job){ .m = m, .dir = strdup(m->state_dir), .buf = buf,
					.len = len };
		if (j->dir && m->pool && worker_submit(m->pool, save_work, save_done, j) == 0) {
			m->saving = j;
			return 0;
		}
		free(j->dir);
	}
	free(j);
	r = write_now(m->state_dir, buf, len); /* no pool, or it is full: here, then */
	free(buf);
	return r;
}

void transfer_record_flush(struct transfer_mgr *m)
{
	struct save_job *j = m->saving;

	if (!j)
		return;
	/* a write is under way: it writes the latest state after its own */
	j->m = NULL;
	if (m->save_again)
		j->final = format(m, &j->final_len);
	m->saving = NULL;
}

static int unhex(const char *s, size_t n, uint8_t *out, size_t max)
{
	if (n % 2 || n / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static bool is_hex(const char *s, size_t n)
{
	return strspn(s, "0123456789abcdef") >= n;
}

/* "SHA SIZE PEER DIRHEX NAMEHEX"; 0 or -EINVAL. */
static int parse_line(struct transfer_mgr *m, char *line)
{
	char *f[5], *save = NULL, *end;
	uint8_t sha[TRANSFER_SHA256_LEN];
	char dir[PATH_MAX], name[TRANSFER_NAME_MAX + 1];
	unsigned long long size;
	int n = 0, dl, nl;

	for (char *t = strtok_r(line, " ", &save); t && n < 5; t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	if (n != 5 || strlen(f[0]) != 2 * TRANSFER_SHA256_LEN || !is_hex(f[0], strlen(f[0])) ||
	    unhex(f[0], strlen(f[0]), sha, sizeof(sha)) < 0)
		return -EINVAL;
	errno = 0;
	size = strtoull(f[1], &end, 10);
	if (errno || *end || f[1][0] == '-')
		return -EINVAL;
	if (strcmp(f[2], "-") != 0 &&
	    (strlen(f[2]) != TRANSFER_PEER_HEX || !is_hex(f[2], TRANSFER_PEER_HEX)))
		return -EINVAL;
	dl = unhex(f[3], strlen(f[3]), (uint8_t *)dir, sizeof(dir) - 1);
	nl = unhex(f[4], strlen(f[4]), (uint8_t *)name, sizeof(name) - 1);
	if (dl <= 0 || nl <= 0)
		return -EINVAL;
	dir[dl] = name[nl] = '\0';
	if (strlen(dir) != (size_t)dl || strlen(name) != (size_t)nl || dir[0] != '/' ||
	    transfer_record_find(m, sha))
		return -EINVAL;
	if (!record_new(m, sha, size, strcmp(f[2], "-") ? f[2] : "", name, dir))
		return -ENOMEM;
	m->records->id = transfer_mgr_id(m);
	return 0;
}

int transfer_record_load(struct transfer_mgr *m)
{
	char path[PATH_MAX], *buf, *line, *save = NULL;
	ssize_t n;
	int fd;

	if (!m->state_dir)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", m->state_dir, TRANSFER_STATE_FILE);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	buf = malloc(FILE_MAX + 1);
	n = buf ? read(fd, buf, FILE_MAX) : -1;
	close(fd);
	if (n < 0) {
		free(buf);
		return -errno;
	}
	buf[n] = '\0';
	if (strncmp(buf, HEADER, strlen(HEADER)) != 0) {
		log_warn("transfer: %s is not a transfer list; ignored", path);
		free(buf);
		return -EBADMSG;
	}
	for (line = strtok_r(buf + strlen(HEADER), "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (parse_line(m, line) < 0)
			log_warn("transfer: %s: a line that does not parse is skipped", path);
	free(buf);
	return 0;
}
