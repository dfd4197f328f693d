/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon side of transfers below SIP: node URIs split into host and port, peers
 * resolved from the config or a resolver, and the paused-download records surviving a
 * restart byte for byte while a damaged state file costs only its bad lines. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "core/worker.h"
#include "testutil.h"
#include "transfer/transfer-private.h"

#define PEER "0123456789abcdef0123456789abcdef"

START_TEST(uri_host)
{
	char host[64];
	uint16_t port;

	ck_assert_int_eq(transfer_uri_host("sip:" PEER "@127.0.0.1:5070", host, sizeof(host),
					   &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 5070);
	ck_assert_int_eq(transfer_uri_host("sip:[::1]:5062;transport=udp", host, sizeof(host),
					   &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 5062);
	ck_assert_int_eq(transfer_uri_host("sip:192.0.2.1", host, sizeof(host), &port), 0);
	ck_assert_uint_eq(port, 5060);
	ck_assert_int_eq(transfer_uri_host("sip:a@host.example:5060", host, sizeof(host), &port),
			 -EINVAL); /* numeric hosts only */
	ck_assert_int_eq(transfer_uri_host("sip:1.2.3.4:0", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(transfer_uri_host("sip:1.2.3.4:99999", host, sizeof(host), &port),
			 -EINVAL);
	ck_assert_int_eq(transfer_uri_host("sip:1.2.3.4:50x", host, sizeof(host), &port),
			 -EINVAL);
	ck_assert_int_eq(transfer_uri_host("sip:[::1", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(transfer_uri_host("http://1.2.3.4/", host, sizeof(host), &port),
			 -EINVAL);
	ck_assert_int_eq(transfer_uri_host("sip:1.2.3.4", host, 4, &port), -EINVAL);
	ck_assert(transfer_same_addr("::1", "0:0::1"));
	ck_assert(!transfer_same_addr("127.0.0.1", "127.0.0.2"));
	ck_assert(!transfer_same_addr("127.0.0.1", "::ffff:127.0.0.2"));
	ck_assert(!transfer_same_addr("127.0.0.1", "localhost"));
}
END_TEST

static struct ev_loop *loop;
static struct worker_pool *pool;
static char *state;

/* The state file is written in the pool: let it finish. */
static void drain(void)
{
	while (worker_pending(pool) > 0)
		ev_run(loop, EVRUN_ONCE);
}

static struct transfer_mgr *mgr_new(const struct transfer_config *cfg)
{
	struct transfer_mgr *m;

	ck_assert_int_eq(transfer_mgr_new(loop, pool, NULL, NULL, cfg, &m), 0);
	return m;
}

static int resolve_other(const char *peer, char *uri, size_t size, void *arg)
{
	if (strcmp(peer, arg) != 0)
		return -ENOENT;
	snprintf(uri, size, "sip:%s@192.0.2.9:5999", peer);
	return 0;
}

START_TEST(peers_resolved)
{
	static const char *const peers[] = { "sip:" PEER "@127.0.0.1:5070", "sip:192.0.2.1",
					     "sip:nonsense" };
	struct transfer_config cfg = { .download_dir = "/tmp", .peers = peers, .n_peers = 3 };
	struct transfer_mgr *m = mgr_new(&cfg);
	char uri[TRANSFER_URI_MAX];

	ck_assert_int_eq(transfer_mgr_resolve(m, PEER, uri, sizeof(uri)), 0);
	ck_assert_str_eq(uri, "sip:" PEER "@127.0.0.1:5070");
	ck_assert_int_eq(transfer_mgr_resolve(m, "ffffffffffffffffffffffffffffffff", uri,
					      sizeof(uri)), -ENOENT);
	transfer_mgr_set_resolver(m, resolve_other, "ffffffffffffffffffffffffffffffff");
	ck_assert_int_eq(transfer_mgr_resolve(m, "ffffffffffffffffffffffffffffffff", uri,
					      sizeof(uri)), 0);
	ck_assert_str_eq(uri, "sip:ffffffffffffffffffffffffffffffff@192.0.2.9:5999");
	ck_assert_int_eq(transfer_mgr_resolve(m, PEER, uri, sizeof(uri)), 0); /* the config */
	transfer_mgr_free(m);
}
END_TEST

static void fill(uint8_t *sha, uint8_t v)
{
	memset(sha, v, TRANSFER_SHA256_LEN);
}

START_TEST(records_survive_a_restart)
{
	struct transfer_config cfg = { .download_dir = "/tmp", .state_dir = state };
	struct transfer_mgr *m = mgr_new(&cfg);
	struct transfer_record *r;
	uint8_t a[TRANSFER_SHA256_LEN], b[TRANSFER_SHA256_LEN], c[TRANSFER_SHA256_LEN];

	fill(a, 0xaa);
	fill(b, 0xbb);
	fill(c, 0xcc);
	ck_assert_ptr_nonnull(transfer_record_put(m, 0, a, 12345, PEER, "name with spaces é",
						  "/dir with spaces/x"));
	ck_assert_ptr_nonnull(transfer_record_put(m, 0, b, 0, "", "line\nbreak", "/d"));
	r = transfer_record_put(m, 0, c, UINT64_MAX - 1, PEER, "hidden", "/d");
	ck_assert_ptr_nonnull(r);
	r->hidden = true; /* cancelled: not saved */
	transfer_record_save(m);
	transfer_record_drop(m, b);
	ck_assert_ptr_null(transfer_record_find(m, b));
	ck_assert_ptr_nonnull(transfer_record_put(m, 0, b, 7, PEER, "again", "/d"));
	transfer_mgr_free(m); /* its last state is written after the write under way */
	drain();

	m = mgr_new(&cfg);
	r = transfer_record_find(m, a);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->size, 12345);
	ck_assert_str_eq(r->peer, PEER);
	ck_assert_str_eq(r->name, "name with spaces é");
	ck_assert_str_eq(r->dir, "/dir with spaces/x");
	r = transfer_record_find(m, b);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->name, "again");
	ck_assert_ptr_null(transfer_record_find(m, c));
	transfer_mgr_free(m);
}
END_TEST

static void write_state(const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", state, TRANSFER_STATE_FILE);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(damaged_state_file)
{
	struct transfer_config cfg = { .download_dir = "/tmp", .state_dir = state };
	struct transfer_mgr *m;
	uint8_t a[TRANSFER_SHA256_LEN];
	char good[2048];

	fill(a, 0xaa);
	/* dir "/d" = 2f64, name "x" = 78 */
	snprintf(good, sizeof(good), "sipsvc-transfers 1\n%s 10 %s 2f64 78\n",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", PEER);
	strcat(good, "zz 10 - 2f64 78\n");				  /* bad hash */
	strcat(good, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb -1 - 2f64 78\n");
	strcat(good, "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc 1 - 64 78\n");
	strcat(good, "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd 1 - 2f0064 78\n");
	strcat(good, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee 1 xyz 2f64 78\n");
	strcat(good, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff 1 - 2f64\n");
	write_state(good);
	m = mgr_new(&cfg);
	ck_assert_ptr_nonnull(transfer_record_find(m, a));
	ck_assert_ptr_null(m->records->next); /* every damaged line was skipped */
	transfer_mgr_free(m);

	write_state("something else\n");
	m = mgr_new(&cfg);
	ck_assert_ptr_null(m->records);
	transfer_mgr_free(m);
}
END_TEST

static void setup(void)
{
	char tmpl[] = "/tmp/test-transfer-mgr-XXXXXX";

	loop = ev_loop_new(0);
	ck_assert_int_eq(worker_pool_new(loop, 1, 16, &pool), 0);
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	state = strdup(tmpl);
}

static void teardown(void)
{
	char cmd[256];

	worker_pool_free(pool);
	ev_loop_destroy(loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
	ck_assert_int_eq(system(cmd), 0);
	free(state);
}

int main(void)
{
	Suite *s = suite_create("transfer-mgr");
	TCase *tc = tcase_create("mgr");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, uri_host);
	tcase_add_test(tc, peers_resolved);
	tcase_add_test(tc, records_survive_a_restart);
	tcase_add_test(tc, damaged_state_file);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
