/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the files of daemon/transfer/ only: the part file, the MSRP connection. */
#ifndef SIPSVC_TRANSFER_PRIVATE_H
#define SIPSVC_TRANSFER_PRIVATE_H

#include "transfer/transfer.h"

/* ---- store.c ---------------------------------------------------------------------- */

/** NAME.part in the download dir, opened through the directory's fd. */
struct transfer_part {
	int dirfd, fd;
	uint64_t have; /* bytes in the part when opened */
	char name[TRANSFER_NAME_MAX + 1];
	char part_name[TRANSFER_NAME_MAX + 32];
};

/** Open (resume) or create the part file for content @p sha256 named @p offered. */
int transfer_part_open(const char *dir, const char *offered, const uint8_t *sha256,
		       struct transfer_part *p);
/** Rename the verified part to a name that replaces nothing; the name in @p final. */
int transfer_part_commit(struct transfer_part *p, char *final, size_t size);
/** Unlink the part file. */
int transfer_part_remove(struct transfer_part *p);
/** Close its descriptors; accepts a closed part. */
void transfer_part_close(struct transfer_part *p);

/* ---- conn.c: one MSRP connection on the loop ----------------------------------------- */

/** Bytes read per read(2) and kept for the parser: bounds every connection's memory. */
#define TRANSFER_RBUF_SIZE (256 * 1024)
/** Queued small messages (responses, REPORTs, the binding SEND). */
#define TRANSFER_OUT_MAX 16384

struct transfer_conn_ops {
	/** The TCP connection exists (accepted or connected). */
	void (*established)(void *arg);
	/** One parser event; a negative return fails the connection with it. */
	int (*event)(void *arg, const struct transfer_msrp_event *ev,
		     const struct transfer_msrp_head *h);
	/** The socket has room and no small message waits (senders only). */
	void (*writable)(void *arg);
	/** EOF (-ECONNRESET), a socket error, a parse error or a stall (-ETIMEDOUT). */
	void (*error)(void *arg, int err);
};

struct transfer_conn {
	struct ev_loop *loop;
	int fd, lfd;
	bool established, paused, want_write, mid_message, closed;
	ev_io rio, wio, lio;
	ev_timer stall;
	ev_tstamp timeout, last;
	uint8_t *rbuf;
	size_t rfill;
	struct transfer_msrp_parser parser;
	char out[TRANSFER_OUT_MAX];
	size_t out_len, out_off;
	const struct transfer_conn_ops *ops;
	void *arg;
};

int transfer_conn_init(struct transfer_conn *c, struct ev_loop *loop, int fd,
		       enum transfer_sock how, ev_tstamp timeout,
		       const struct transfer_conn_ops *ops, void *arg);
/** Stop every watcher and close the sockets; accepts a closed or never-opened conn. */
void transfer_conn_close(struct transfer_conn *c);
/** Queue a small message and try to send it now; -ENOBUFS when the queue is full. */
int transfer_conn_queue(struct transfer_conn *c, const char *msg, size_t len);
/** Stop (or resume) reading: back-pressure. */
void transfer_conn_pause(struct transfer_conn *c, bool pause);
/** Ask for (or stop asking for) writable notifications. */
void transfer_conn_want_write(struct transfer_conn *c, bool want);
/** Note progress that was not on the socket (a write job finished): not a stall. */
void transfer_conn_touch(struct transfer_conn *c);

/* ---- session.c ---------------------------------------------------------------------- */

/** Return tokens taken but not used (a short write). */
void transfer_bucket_put_back(struct transfer_bucket *b, size_t n);

#endif
