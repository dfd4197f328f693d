/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The worker pool: every job gets exactly one done call on the loop thread, the queue
 * is bounded, freeing the pool cancels what has not started. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include <check.h>

#include "core/worker.h"

struct item {
	atomic_int ran;
	int done_calls, status;
	pthread_t loop_thread, done_thread;
	unsigned long sum;
	sem_t *started, *go; /* optional: hold the worker until the test says go */
};

static int done_total;

static void work(void *arg)
{
	struct item *it = arg;

	if (it->started) {
		sem_post(it->started);
		sem_wait(it->go);
	}
	for (unsigned long i = 0; i < 100000; i++)
		it->sum += i;
	atomic_store(&it->ran, 1);
}

static void done(void *arg, int status)
{
	struct item *it = arg;

	it->done_calls++;
	it->status = status;
	it->done_thread = pthread_self();
	done_total++;
}

START_TEST(every_job_done_on_the_loop_thread)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct worker_pool *p;
	static struct item items[200];

	done_total = 0;
	ck_assert_int_eq(worker_pool_new(loop, 2, 1000, &p), 0);
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(worker_submit(p, work, done, &items[i]), 0);
	while (done_total < 200)
		ev_run(loop, EVRUN_ONCE);
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(items[i].done_calls, 1);
		ck_assert_int_eq(items[i].status, 0);
		ck_assert_int_eq(atomic_load(&items[i].ran), 1);
		ck_assert_uint_eq(items[i].sum, 4999950000UL);
		ck_assert(pthread_equal(items[i].done_thread, pthread_self()));
	}
	ck_assert_uint_eq(worker_pending(p), 0);
	worker_pool_free(p);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(bounded_queue_and_cancel_on_free)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct worker_pool *p;
	static struct item first, queued[2], extra;
	sem_t started, go;

	done_total = 0;
	sem_init(&started, 0, 0);
	sem_init(&go, 0, 0);
	first.started = &started;
	first.go = &go;
	ck_assert_int_eq(worker_pool_new(loop, 1, 2, &p), 0);
	ck_assert_int_eq(worker_submit(p, work, done, &first), 0);
	sem_wait(&started); /* the one worker is now busy */
	ck_assert_int_eq(worker_submit(p, work, done, &queued[0]), 0);
	ck_assert_int_eq(worker_submit(p, work, done, &queued[1]), 0);
	ck_assert_int_eq(worker_submit(p, work, done, &extra), -EAGAIN);
	ck_assert_uint_eq(worker_pending(p), 3);
	sem_post(&go);
	worker_pool_free(p); /* waits for `first`, cancels what did not start */
	ck_assert_int_eq(done_total, 3);
	ck_assert_int_eq(first.status, 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(queued[i].done_calls, 1);
		ck_assert(queued[i].status == 0 || queued[i].status == -ECANCELED);
		ck_assert_int_eq(atomic_load(&queued[i].ran), queued[i].status == 0);
	}
	ck_assert_int_eq(extra.done_calls, 0);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(bad_arguments)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct worker_pool *p = NULL;

	ck_assert_int_eq(worker_pool_new(loop, 0, 10, &p), -EINVAL);
	ck_assert_int_eq(worker_pool_new(loop, 65, 10, &p), -EINVAL);
	ck_assert_int_eq(worker_pool_new(loop, 1, 0, &p), -EINVAL);
	ck_assert_ptr_null(p);
	worker_pool_free(NULL);
	ev_loop_destroy(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("pool");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, every_job_done_on_the_loop_thread);
	tcase_add_test(tc, bounded_queue_and_cancel_on_free);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
