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

/* ---- mgr.c, fetch.c, serve.c, record.c, net.c: transfers in the daemon --------------- */

struct sip_tx;
struct sip_dialog;
struct save_job;

#define TRANSFER_PEER_HEX 32
#define TRANSFER_URI_MAX 160

/** A paused (or running) download, as the state file keeps it. */
struct transfer_record {
	struct transfer_record *next;
	uint8_t sha256[TRANSFER_SHA256_LEN];
	uint64_t size;
	char peer[TRANSFER_PEER_HEX + 1];
	char name[TRANSFER_NAME_MAX + 1];
	char *dir;
	unsigned id; /* the transfer id Status shows for it while paused */
	bool active; /* a fetch runs for it */
	bool hidden; /* cancelled: neither listed nor saved, but a new Fetch resumes it */
};

struct transfer_fetch;
struct transfer_serve;

struct transfer_mgr {
	struct ev_loop *loop;
	struct worker_pool *pool;
	struct sip *sip;
	struct share *share;
	char *download_dir, *state_dir, *identity;
	char **peers;
	size_t n_peers;
	unsigned max_total, max_per_peer;
	struct transfer_limits *down, *up;
	struct transfer_bucket *bucket;
	transfer_resolve_h *resolve;
	void *resolve_arg;
	struct transfer_fetch *fetches;
	struct transfer_serve *serves;
	struct transfer_record *records;
	unsigned next_id;
	uint64_t bytes_sent, bytes_received; /* over the network since the start */
	ev_timer resume; /* paused downloads of the last run are resumed once, at start */
	struct save_job *saving; /* the state file write in the pool */
	bool save_again;	 /* records changed while it ran */
};

/** Next transfer id (tN), unique for the daemon's lifetime. */
unsigned transfer_mgr_id(struct transfer_mgr *m);
/** "tN" into @p buf. */
void transfer_id_format(unsigned id, char *buf, size_t size);

/* fetch.c */
void transfer_fetch_free_all(struct transfer_mgr *m);
void transfer_fetch_status(struct transfer_mgr *m, struct xml_writer *w);
/* serve.c */
bool transfer_serve_invite(struct sip_tx *tx, void *arg);
void transfer_serve_free_all(struct transfer_mgr *m);
void transfer_serve_status(struct transfer_mgr *m, struct xml_writer *w);

/* record.c */
struct transfer_record *transfer_record_find(struct transfer_mgr *m,
					     const uint8_t sha256[TRANSFER_SHA256_LEN]);
/**
 * Add or update the record of download @p id (0: a new id); saves the state file.
 * NULL on ENOMEM or over the bound.
 */
struct transfer_record *transfer_record_put(struct transfer_mgr *m, unsigned id,
					    const uint8_t sha256[TRANSFER_SHA256_LEN],
					    uint64_t size, const char *peer, const char *name,
					    const char *dir);
/** Drop the record of @p sha256 (done, failed for good, cancelled); saves. */
void transfer_record_drop(struct transfer_mgr *m, const uint8_t sha256[TRANSFER_SHA256_LEN]);
int transfer_record_load(struct transfer_mgr *m);
/** Write the state file in the worker pool (one write at a time). 0 or -errno. */
int transfer_record_save(struct transfer_mgr *m);
/** The manager stops: a write under way is left to finish, then writes the last state. */
void transfer_record_flush(struct transfer_mgr *m);
void transfer_record_free_all(struct transfer_mgr *m);

/** The node URI of @p peer (the resolver, then the config). 0 or -ENOENT. */
int transfer_mgr_resolve(struct transfer_mgr *m, const char *peer, char *uri, size_t size);

/* net.c */
/** Split sip:[USER@]HOST[:PORT][;params] into a numeric host and a port (5060). */
int transfer_uri_host(const char *uri, char *host, size_t size, uint16_t *port);
/** The local address the kernel would use to reach @p host (UDP connect, no packet). */
int transfer_local_addr(const char *host, char *buf, size_t size, bool *ipv6);
/** A non-blocking listening TCP socket on @p addr, any port: the fd, port in *@p port. */
int transfer_listen(const char *addr, uint16_t *port);
/** A non-blocking connect to @p addr:@p port; our address and port in @p local/@p lport. */
int transfer_connect(const char *addr, uint16_t port, char *local, size_t size,
		     uint16_t *lport);
/** Whether @p a and @p b are the same numeric address. */
bool transfer_same_addr(const char *a, const char *b);

#endif
