/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Neighbours: bounds, lists sent again on change, dead peers replaced; the node id and
 * the known peers persisted with atomic writes, and corrupt files refused. */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "core/xml.h"
#include "overlay-testnet.h"
#include "testutil.h"

START_TEST(neighbours_stay_within_bounds)
{
	tn_setup();
	tn_node_new(0, 0, 4);
	for (int i = 1; i < 10; i++) {
		tn_node_new(i, 2, 8);
		tn_bootstrap(i, 0);
	}
	tn_pump();
	tn_advance(30000, 500);
	/* 0 took 4 and refused the rest, naming its neighbours; they found each other */
	ck_assert_uint_eq(overlay_neighbour_count(tn[0].ov), 4);
	for (int i = 1; i < 10; i++) {
		ck_assert_uint_ge(overlay_neighbour_count(tn[i].ov), 2);
		ck_assert_uint_le(overlay_neighbour_count(tn[i].ov), 8);
		ck_assert_uint_ge(overlay_known_count(tn[i].ov), 2);
	}
	tn_teardown();
}
END_TEST

START_TEST(list_sent_again_on_change)
{
	tn_setup();
	tn_node_new(0, 0, 8);
	tn_node_new(1, 1, 8);
	tn_bootstrap(1, 0);
	tn_pump();
	ck_assert_uint_eq(overlay_known_count(tn[1].ov), 1);
	/* 2 links to 0: 0's new list reaches 1 without 1 asking */
	tn_node_new(2, 1, 8);
	tn_bootstrap(2, 0);
	tn_pump();
	tn_advance(1000, 100);
	ck_assert(tn_linked(0, 2));
	ck_assert_uint_eq(overlay_known_count(tn[1].ov), 2);
	tn_teardown();
}
END_TEST

/* 0 wants 2 neighbours among 1..4; one of them dies: 0 notices and replaces it. */
START_TEST(dead_neighbour_replaced)
{
	int victim = -1;

	tn_setup();
	tn_node_new(0, 2, 3);
	for (int i = 1; i <= 4; i++) {
		tn_node_new(i, 0, 8);
		tn_bootstrap(0, i);
	}
	tn_pump();
	ck_assert_uint_eq(overlay_neighbour_count(tn[0].ov), 2);
	for (int i = 1; i <= 4 && victim < 0; i++)
		if (tn_linked(0, i))
			victim = i;
	tn[victim].dead = true;
	/* the refresh (60 s) fails, the link goes, another known peer takes its place */
	tn_advance(120000, 1000);
	ck_assert(!tn_linked(0, victim));
	ck_assert_uint_eq(overlay_neighbour_count(tn[0].ov), 2);
	ck_assert_uint_ge(overlay_stats(tn[0].ov)->neighbours_dropped, 1);
	tn_teardown();
}
END_TEST

/* The notifier side: a subscriber that stops refreshing is dropped after 1.5 intervals. */
START_TEST(silent_subscriber_dropped)
{
	tn_setup();
	tn_node_new(0, 0, 8);
	tn_node_new(1, 1, 8);
	tn_bootstrap(1, 0);
	tn_pump();
	tn_advance(2000, 100); /* the NOTIFY for 0's changed list: delivered */
	ck_assert(tn_linked(0, 1));
	tn[1].dead = true;
	tn_advance(80000, 1000);
	ck_assert(tn_linked(0, 1));
	tn_advance(20000, 1000);
	ck_assert(!tn_linked(0, 1));
	tn_teardown();
}
END_TEST

START_TEST(leave_is_heard)
{
	tn_setup();
	tn_node_new(0, 0, 8);
	tn_node_new(1, 1, 8);
	tn_bootstrap(1, 0);
	tn_pump();
	ck_assert(tn_linked(0, 1));
	overlay_leave(tn[1].ov);
	tn_pump();
	ck_assert(!tn_linked(0, 1));
	ck_assert_uint_eq(overlay_neighbour_count(tn[0].ov), 0);
	tn_teardown();
}
END_TEST

static char *tmpdir(void)
{
	char *d = strdup("/tmp/sipsvc-overlay-XXXXXX");

	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

static void write_file(const char *dir, const char *name, const char *s)
{
	char *p;
	FILE *f;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(s, f);
	fclose(f);
	free(p);
}

static void rm_dir(char *d)
{
	char *cmd;

	ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", d), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	free(d);
}

static size_t dir_entries(const char *d)
{
	DIR *dir = opendir(d);
	struct dirent *e;
	size_t n = 0;

	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.' || strncmp(e->d_name, ".overlay", 8) == 0;
	closedir(dir);
	return n;
}

START_TEST(node_id_persisted)
{
	char *d = tmpdir();
	struct overlay_id a, b;
	struct overlay_config c;
	struct overlay *ov = NULL;

	ck_assert_int_eq(overlay_node_id_load(d, &a), 0);
	ck_assert(!overlay_id_is_zero(&a));
	ck_assert_int_eq(overlay_node_id_load(d, &b), 0);
	ck_assert_int_eq(overlay_id_cmp(&a, &b), 0);
	ck_assert_uint_eq(dir_entries(d), 1); /* the file, no temporary left */
	/* a damaged identity is refused, not silently replaced */
	write_file(d, "overlay-node-id", "0123456789abcdef0123456789abcdeg\n");
	ck_assert_int_eq(overlay_node_id_load(d, &b), -EBADMSG);
	write_file(d, "overlay-node-id", "0123456789abcdef");
	ck_assert_int_eq(overlay_node_id_load(d, &b), -EBADMSG);
	write_file(d, "overlay-node-id", "00000000000000000000000000000000\n");
	ck_assert_int_eq(overlay_node_id_load(d, &b), -EBADMSG);
	tn_setup();
	tn_node_cfg(0, &c, 0, 8);
	c.id = NULL;
	c.state_dir = d;
	ck_assert_int_eq(
	    overlay_new(
		&c, &(struct overlay_transport){tn_send_peers, tn_send_query, tn_send_hit, NULL},
		&(struct overlay_clock){tn_clock_now, tn_clock_arm, NULL}, NULL, NULL, &ov),
	    -EBADMSG);
	ck_assert_ptr_null(ov);
	tn_teardown();
	rm_dir(d);
}
END_TEST

START_TEST(known_peers_persisted)
{
	char *d = tmpdir();
	struct overlay_config c;

	tn_setup();
	tn_node_cfg(0, &c, 2, 8);
	c.state_dir = d;
	tn_node_new_cfg(0, &c);
	tn_node_new(1, 0, 8);
	tn_node_new(2, 0, 8);
	tn_bootstrap(0, 1);
	tn_bootstrap(0, 2);
	tn_pump();
	ck_assert_uint_eq(overlay_neighbour_count(tn[0].ov), 2);
	/* leaving writes the known peers; a restart rejoins without bootstrap peers */
	overlay_free(tn[0].ov);
	tn[0].ov = NULL;
	tn_pump();
	tn_node_new_cfg(0, &c);
	ck_assert_uint_eq(overlay_known_count(tn[0].ov), 2);
	tn_pump();
	tn_advance(60000, 1000);
	ck_assert(tn_linked(0, 1) && tn_linked(0, 2));
	overlay_free(tn[0].ov);
	tn[0].ov = NULL;
	/* a damaged file is refused whole: no half-read peers */
	write_file(d, "overlay-known-peers",
		   "# sipsvc overlay known peers v1\n"
		   "00000000000000000000000000000002 t1:5060\n"
		   "zz t2:5060\n");
	tn_node_new_cfg(0, &c);
	ck_assert_uint_eq(overlay_known_count(tn[0].ov), 0);
	overlay_free(tn[0].ov);
	tn[0].ov = NULL;
	write_file(d, "overlay-known-peers", "garbage\n");
	tn_node_new_cfg(0, &c);
	ck_assert_uint_eq(overlay_known_count(tn[0].ov), 0);
	tn_teardown();
	rm_dir(d);
}
END_TEST

START_TEST(known_peers_bounded)
{
	struct overlay_config c;
	struct overlay_peers m = {.kind = OVERLAY_PEERS_NOTIFY, .expires_s = 60};

	tn_setup();
	tn_node_cfg(0, &c, 0, 8);
	c.known_max = 16;
	tn_node_new_cfg(0, &c);
	for (unsigned k = 0; k < 10; k++) {
		m.from.id.b[0] = (uint8_t)(100 + k);
		snprintf(m.from.contact, sizeof(m.from.contact), "x%u:1", k);
		m.n = OVERLAY_PEERLIST_MAX;
		for (unsigned i = 0; i < m.n; i++) {
			m.peers[i].id.b[1] = (uint8_t)k;
			m.peers[i].id.b[2] = (uint8_t)(i + 1);
			snprintf(m.peers[i].contact, sizeof(m.peers[i].contact), "y%u-%u:1", k, i);
		}
		overlay_recv_peers(tn[0].ov, &m); /* no subscription: -ENOENT, but learnt */
	}
	ck_assert_uint_eq(overlay_known_count(tn[0].ov), 16);
	tn_teardown();
}
END_TEST

START_TEST(contacts_and_ids)
{
	struct overlay_id id;
	char hex[OVERLAY_ID_HEX_LEN + 1];

	ck_assert(overlay_contact_valid("127.0.0.1:5060"));
	ck_assert(overlay_contact_valid("[::1]:5060"));
	ck_assert(overlay_contact_valid("host.example:1"));
	ck_assert(!overlay_contact_valid("host"));
	ck_assert(!overlay_contact_valid("host:0"));
	ck_assert(!overlay_contact_valid("host:65536"));
	ck_assert(!overlay_contact_valid("a b:5060"));
	ck_assert(!overlay_contact_valid("user@host:5060"));
	ck_assert(!overlay_contact_valid(":5060"));
	ck_assert(!overlay_contact_valid(
	    "a-very-long-host-name-that-goes-on-and-on-and-on-past-the-limit.example:5060"));
	ck_assert_int_eq(overlay_id_random(&id), 0);
	overlay_id_to_hex(&id, hex);
	ck_assert_uint_eq(strlen(hex), 32);
	struct overlay_id back;
	ck_assert_int_eq(overlay_id_from_hex(hex, &back), 0);
	ck_assert_int_eq(overlay_id_cmp(&id, &back), 0);
	ck_assert_int_eq(overlay_id_from_hex("abc", &back), -EINVAL);
}
END_TEST

START_TEST(uris_parsed)
{
	struct overlay_peer p;

	ck_assert_int_eq(
	    overlay_peer_from_uri("sip:0123456789abcdef0123456789ABCDEF@10.0.0.1:5070", &p), 0);
	ck_assert_uint_eq(p.id.b[0], 0x01);
	ck_assert_uint_eq(p.id.b[15], 0xef);
	ck_assert_str_eq(p.contact, "10.0.0.1:5070");
	ck_assert_int_eq(overlay_peer_from_uri("sip:boot.example", &p), 0);
	ck_assert(overlay_id_is_zero(&p.id));
	ck_assert_str_eq(p.contact, "boot.example:5060");
	ck_assert_int_eq(overlay_peer_from_uri("SIP:[::1];transport=tcp", &p), 0);
	ck_assert_str_eq(p.contact, "[::1]:5060");
	ck_assert_int_eq(overlay_peer_from_uri("sip:[::1]:5062", &p), 0);
	ck_assert_str_eq(p.contact, "[::1]:5062");
	ck_assert_int_eq(overlay_peer_from_uri("sips:h:1", &p), -EINVAL);
	ck_assert_int_eq(overlay_peer_from_uri("sip:alice@h:1", &p), -EINVAL);
	ck_assert_int_eq(overlay_peer_from_uri("sip:00000000000000000000000000000000@h:1", &p),
			 -EINVAL);
	ck_assert_int_eq(overlay_peer_from_uri("sip:", &p), -EINVAL);
	ck_assert_int_eq(overlay_peer_from_uri("sip:h:99999", &p), -EINVAL);
	ck_assert_int_eq(overlay_peer_from_uri(NULL, &p), -EINVAL);
}
END_TEST

START_TEST(node_uri_and_status)
{
	char uri[128], *out;
	struct xml_writer w;
	size_t len;

	tn_setup();
	tn_node_new(0, 0, 8);
	ck_assert_int_eq(overlay_node_uri(tn[0].ov, uri, sizeof(uri)), 0);
	ck_assert_str_eq(uri, "sip:00000000000000000000000000000001@t0:5060");
	ck_assert_int_eq(overlay_node_uri(tn[0].ov, uri, 10), -ENOSPC);
	{
		struct overlay_peer p;

		ck_assert_int_eq(overlay_node_uri(tn[0].ov, uri, sizeof(uri)), 0);
		ck_assert_int_eq(overlay_peer_from_uri(uri, &p), 0);
		ck_assert_int_eq(overlay_id_cmp(&p.id, overlay_node_id(tn[0].ov)), 0);
		ck_assert_str_eq(p.contact, "t0:5060");
	}
	ck_assert_int_eq(xml_writer_init(&w, 0), 0);
	overlay_status(&w, tn[0].ov, 3);
	ck_assert_int_eq(xml_writer_finish(&w, 0, &out, &len), 0);
	ck_assert_str_eq(out, "<Overlay node-id=\"00000000000000000000000000000001\" "
			      "node-uri=\"sip:00000000000000000000000000000001@t0:5060\" "
			      "neighbours=\"0\" known-peers=\"0\" queries-seen=\"0\" "
			      "queries-forwarded=\"0\" queries-answered=\"0\" dialogs=\"3\"/>\n");
	ck_assert_uint_eq(len, strlen(out));
	free(out);
	tn_teardown();
}
END_TEST

START_TEST(bad_config_refused)
{
	struct overlay_config c;
	struct overlay *ov = NULL;
	struct overlay_transport t = {tn_send_peers, tn_send_query, tn_send_hit, NULL};
	struct overlay_clock k = {tn_clock_now, tn_clock_arm, NULL};

	tn_setup();
	tn_node_cfg(0, &c, 9, 8);
	ck_assert_int_eq(overlay_new(&c, &t, &k, NULL, NULL, &ov), -EINVAL);
	tn_node_cfg(0, &c, 4, OVERLAY_NEIGHBOURS_MAX + 1);
	ck_assert_int_eq(overlay_new(&c, &t, &k, NULL, NULL, &ov), -EINVAL);
	tn_node_cfg(0, &c, 4, 8);
	c.contact = "nope";
	ck_assert_int_eq(overlay_new(&c, &t, &k, NULL, NULL, &ov), -EINVAL);
	ck_assert_ptr_null(ov);
	tn_teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("overlay-neighbours");
	TCase *tc = tcase_create("neighbours");

	tcase_add_test(tc, neighbours_stay_within_bounds);
	tcase_add_test(tc, list_sent_again_on_change);
	tcase_add_test(tc, dead_neighbour_replaced);
	tcase_add_test(tc, silent_subscriber_dropped);
	tcase_add_test(tc, leave_is_heard);
	tcase_add_test(tc, node_id_persisted);
	tcase_add_test(tc, known_peers_persisted);
	tcase_add_test(tc, known_peers_bounded);
	tcase_add_test(tc, contacts_and_ids);
	tcase_add_test(tc, uris_parsed);
	tcase_add_test(tc, node_uri_and_status);
	tcase_add_test(tc, bad_config_refused);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
