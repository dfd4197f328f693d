#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The overlay's SIP face against a lying peer: SIPp plays a node that sends peer lists
over the limit, malformed ones, queries from outside and TTL 255 (tests/sipp/
overlay-liar.xml); raw datagrams add a body over the 16 KiB bound (413) and a hit for
no subscription (481). The daemon answers each with its mapped status and stays
healthy."""

import re
import time
import xml.etree.ElementTree as ET

import siptest as t

d = t.Daemon()
p = d.port

for tr, liar, qid in [("u1", "1" * 32, "2" * 32), ("t1", "7" * 32, "8" * 32)]:
    before = d.status().find("Overlay").attrib
    rc, out = t.sipp("overlay-liar.xml", p, tr, timeout=20, extra=["-key", "liar", liar, "-key", "qid", qid])
    if rc:
        print(out[-3000:])
        d.dump_log()
    t.check(rc == 0, "sipp overlay-liar.xml over %s" % ("UDP" if tr == "u1" else "TCP"))
    ov = d.status().find("Overlay").attrib
    t.check(int(ov["queries-seen"]) == int(before["queries-seen"]) + 1,
            "one query taken, the refused and the looping one not: %r" % ov)
    t.check(any(n.get("peer") == liar for n in d.status().find("Overlay").findall("Neighbour")),
            "the liar became a neighbour by its subscription")

# a body over the bound the overlay parses (OVERLAY_BODY_MAX, 16 KiB): 413, over TCP
big = '<peers kind="subscribe" id="%s" contact="127.0.0.1:5999" expires="60">%s</peers>' % (
    "4" * 32, "<!--" + "x" * 17000 + "-->")
req = t.request("SUBSCRIBE", p, transport="TCP", body=big,
                extra="Event: sipsvc-peers\nExpires: 60\nContact: <sip:x@127.0.0.1:5999>\n"
                      "Content-Type: application/sipsvc-peers+xml")
resp = t.tcp_exchange(req, p)
t.check(t.status_line(resp[0] if resp else None)[0] == 413, "17 KB peer list: 413 (%r)"
        % (resp[:1],))

# a hit NOTIFY in no dialog of ours: 481 (RFC 6665 4.1.3)
req = t.request("NOTIFY", p, to_tag="nosuchtag", extra="Event: sipsvc-query;id=" + "5" * 32 +
                "\nSubscription-State: active\nContent-Type: application/sipsvc-query+xml",
                body='<hits query="%s" hops="1" holder-id="%s" holder="127.0.0.1:5999">'
                     '<file name="x" size="1"/></hits>' % ("5" * 32, "6" * 32))
resp = t.udp_exchange(req, p)
t.check(t.status_line(resp[0] if resp else None)[0] == 481, "stray hit: 481 (%r)" % (resp[:1],))

# a neighbour (the TCP liar: the UDP one is gone, its link dropped when a NOTIFY to it
# failed) flooding queries: its token bucket (20 deep) runs dry, then 503 with
# Retry-After (RFC 3261 21.5.4), one status per query, none dropped
statuses = []
for i in range(30):
    qid = "%032x" % (0xabc000 + i)
    q = ('<query id="%s" ttl="3" hops="0" origin-id="%s" origin="127.0.0.1:5999">'
         '<keywords>flood</keywords></query>' % (qid, "7" * 32))
    req = t.request("SUBSCRIBE", p, body=q,
                    extra="Event: sipsvc-query;id=%s\nExpires: 1\nContact: <sip:x@127.0.0.1:5999>\n"
                          "Content-Type: application/sipsvc-query+xml" % qid)
    req = req.replace(b"<sip:test@127.0.0.1>", ("<sip:%s@127.0.0.1:5999>" % ("7" * 32)).encode())
    resp = t.udp_exchange(req, p)
    statuses.append(t.status_line(resp[0] if resp else None)[0])
    if statuses[-1] == 503:
        t.check(t.header(resp[0], "Retry-After") is not None, "503 says when to retry")
t.check(statuses.count(200) >= 15 and statuses.count(503) >= 5 and
        set(statuses) <= {200, 503}, "flood: 200s then 503s: %r" % statuses)

# every dialog of all that ends: queries time out (their last NOTIFYs go nowhere and
# fail), and a liar gone away loses its link when a NOTIFY to it fails; what is left
# is one dialog per remaining neighbour


def left():
    ov = d.status().find("Overlay")
    return int(ov.get("dialogs")), int(ov.get("neighbours"))


deadline = time.time() + 90
while time.time() < deadline and left()[0] > left()[1]:
    time.sleep(0.5)
t.check(left()[0] == left()[1] <= 2, "one dialog per neighbour, every query dialog freed: "
        "%d dialogs, %d neighbours" % left())

t.check(d.alive(), "the daemon is alive")
t.check(d.status_valid(), "Status validates")
t.check(d.stop() == 0, "clean exit")
print("ok")
