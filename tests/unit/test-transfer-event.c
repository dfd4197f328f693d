/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Transfer events are valid by the protocol schema (xml-schema/sipsvc.xsd, embedded),
 * match PROTOCOL.md's examples, and end statuses map to the documented states. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <check.h>

#include "core/xml.h"
#include "testutil.h"
#include "transfer/transfer.h"

static const uint8_t empty_sha[32] = { 0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
				       0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
				       0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
				       0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55 };

/* The event as one line, and checked against the schema. */
static char *check_valid(xmlNodePtr ev)
{
	xmlSchemaPtr schema = xml_schema_compile(sipsvc_xsd, sipsvc_xsd_len);
	xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	char err[512] = "", *line;
	size_t len;

	ck_assert_ptr_nonnull(ev);
	xmlDocSetRootElement(doc, ev);
	ck_assert_msg(xml_schema_check(v, doc, err, sizeof(err)) == 0, "invalid: %s", err);
	ck_assert_int_eq(xml_serialise(ev, 0, &line, &len), 0);
	line[len - 1] = '\0';
	xmlFreeDoc(doc);
	xmlSchemaFreeValidCtxt(v);
	xmlSchemaFree(schema);
	return line;
}

START_TEST(protocol_examples)
{
	struct origin o = { .conn = 1, .ref = "r5" };
	struct transfer_event e = { .transfer = "t2", .state = TRANSFER_STATE_PROGRESS,
				    .bytes = 1048576, .total = 658505728 };
	char *line, *want, *path;
	size_t n;

	xml_guard_init();
	line = check_valid(transfer_event_new(&o, &e));
	path = tu_data_path("control/replies/event-transfer-progress.xml");
	want = tu_read(path, &n);
	free(path);
	want[strcspn(want, "\n")] = '\0';
	ck_assert_str_eq(line, want);
	free(line);
	free(want);
	e = (struct transfer_event){ .transfer = "t2", .state = TRANSFER_STATE_DONE,
				     .bytes = 658505728, .total = 658505728, .sha256 = empty_sha };
	line = check_valid(transfer_event_new(&o, &e));
	path = tu_data_path("control/replies/event-transfer-done.xml");
	want = tu_read(path, &n);
	free(path);
	want[strcspn(want, "\n")] = '\0';
	ck_assert_str_eq(line, want);
	free(line);
	free(want);
}
END_TEST

START_TEST(every_state_valid)
{
	for (int s = 0; s < _TRANSFER_STATE_MAX; s++) {
		struct transfer_event e = {
			.transfer = "t99", .state = s, .bytes = 5, .total = 10, .file = empty_sha,
			.peer = "0123456789abcdef0123456789abcdef", .name = "my file \xc3\xa9.txt",
			.sha256 = empty_sha, .reason = transfer_status_reason(-ENOSPC),
		};

		free(check_valid(transfer_event_new(NULL, &e)));
	}
	ck_assert_ptr_null(transfer_event_new(NULL, &(struct transfer_event){ .state = 99 }));
}
END_TEST

START_TEST(status_to_state)
{
	ck_assert_int_eq(transfer_state_of(0), TRANSFER_STATE_DONE);
	ck_assert_int_eq(transfer_state_of(-ECANCELED), TRANSFER_STATE_CANCELLED);
	ck_assert_int_eq(transfer_state_of(-ECONNRESET), TRANSFER_STATE_PAUSED);
	ck_assert_int_eq(transfer_state_of(-ETIMEDOUT), TRANSFER_STATE_PAUSED);
	ck_assert_int_eq(transfer_state_of(-EBADMSG), TRANSFER_STATE_FAILED);
	ck_assert_int_eq(transfer_state_of(-ENOSPC), TRANSFER_STATE_FAILED);
	ck_assert_str_eq(transfer_status_reason(-ENOSPC), "the download dir is full");
	ck_assert_str_eq(transfer_state_to_string(TRANSFER_STATE_CANCELLED), "cancelled");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transfer-event");
	TCase *tc = tcase_create("event");

	tcase_add_test(tc, protocol_examples);
	tcase_add_test(tc, every_state_valid);
	tcase_add_test(tc, status_to_state);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
