/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file worker.h
 * A small pool of threads for work that may block or take more than a millisecond
 * (hashing files, walking directories, large reads): DESIGN.md "Work off the event loop".
 *
 * A job's work function runs on a worker thread and must touch no loop state: it reads
 * its own argument and writes its own result. Its done function runs afterwards on the
 * loop thread, woken through an ev_async. Every submitted job gets exactly one done
 * call: status 0 after its work ran, -ECANCELED if the pool was freed first.
 */
#ifndef SIPSVC_CORE_WORKER_H
#define SIPSVC_CORE_WORKER_H

#include <stddef.h>

#include <ev.h>

struct worker_pool;

/** Runs on a worker thread. */
typedef void(worker_work_h)(void *arg);
/** Runs on the loop thread once the work ran (status 0) or was cancelled (-ECANCELED). */
typedef void(worker_done_h)(void *arg, int status);

/**
 * Start @p threads workers (1–64) with room for @p max_queued waiting jobs.
 * Returns 0 or -errno.
 */
int worker_pool_new(struct ev_loop *loop, unsigned threads, size_t max_queued,
		    struct worker_pool **ret);
/**
 * Stop: jobs not started are cancelled, running ones are waited for; every done
 * function has been called when this returns. Accepts NULL.
 */
void worker_pool_free(struct worker_pool *p);
/** Queue a job. Returns 0, -EAGAIN when the queue is full, or -ENOMEM. */
int worker_submit(struct worker_pool *p, worker_work_h *work, worker_done_h *done, void *arg);
/** Jobs queued or running (for Status and tests). */
size_t worker_pending(struct worker_pool *p);

#endif
