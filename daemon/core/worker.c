/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The worker pool: a bounded job queue guarded by a mutex, N threads, and a finished
 * list handed back to the loop thread through an ev_async. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/worker.h"

struct job {
	struct job *next;
	worker_work_h *work;
	worker_done_h *done;
	void *arg;
	int status;
};

struct list {
	struct job *head, *tail;
	size_t n;
};

struct worker_pool {
	struct ev_loop *loop;
	ev_async wake;
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct list queued, finished;
	size_t running, max_queued;
	bool stopping;
	unsigned n_threads;
	pthread_t threads[];
};

static void push(struct list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	l->n++;
}

static struct job *pop(struct list *l)
{
	struct job *j = l->head;

	if (!j)
		return NULL;
	l->head = j->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	return j;
}

static void *worker_main(void *arg)
{
	struct worker_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct job *j;

		while (!p->queued.head && !p->stopping)
			pthread_cond_wait(&p->more, &p->lock);
		j = pop(&p->queued);
		if (!j)
			break; /* stopping with nothing left that may run */
		p->running++;
		pthread_mutex_unlock(&p->lock);
		j->work(j->arg);
		pthread_mutex_lock(&p->lock);
		p->running--;
		push(&p->finished, j);
		ev_async_send(p->loop, &p->wake);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* On the loop thread: run the done functions of finished jobs, outside the lock. */
static void deliver(struct worker_pool *p)
{
	struct list done;

	pthread_mutex_lock(&p->lock);
	done = p->finished;
	p->finished = (struct list){ 0 };
	pthread_mutex_unlock(&p->lock);
	for (struct job *j; (j = pop(&done));) {
		j->done(j->arg, j->status);
		free(j);
	}
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	deliver(w->data);
}

int worker_pool_new(struct ev_loop *loop, unsigned threads, size_t max_queued,
		    struct worker_pool **ret)
{
	struct worker_pool *p;
	int r = 0;

	if (threads == 0 || threads > 64 || max_queued == 0)
		return -EINVAL;
	p = calloc(1, sizeof(*p) + threads * sizeof(pthread_t));
	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->max_queued = max_queued;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	ev_async_init(&p->wake, on_wake);
	p->wake.data = p;
	ev_async_start(loop, &p->wake);
	for (; p->n_threads < threads && r == 0; p->n_threads++)
		r = -pthread_create(&p->threads[p->n_threads], NULL, worker_main, p);
	if (r < 0) {
		p->n_threads--;
		worker_pool_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void worker_pool_free(struct worker_pool *p)
{
	struct job *j;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	while ((j = pop(&p->queued))) {
		j->status = -ECANCELED;
		push(&p->finished, j);
	}
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	deliver(p);
	ev_async_stop(p->loop, &p->wake);
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int worker_submit(struct worker_pool *p, worker_work_h *work, worker_done_h *done, void *arg)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	*j = (struct job){ .work = work, .done = done, .arg = arg };
	pthread_mutex_lock(&p->lock);
	if (p->queued.n >= p->max_queued || p->stopping) {
		pthread_mutex_unlock(&p->lock);
		free(j);
		return -EAGAIN;
	}
	push(&p->queued, j);
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

size_t worker_pending(struct worker_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->queued.n + p->running + p->finished.n;
	pthread_mutex_unlock(&p->lock);
	return n;
}
