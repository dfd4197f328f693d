#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The service's built-in SIP answers against SIPp and raw sockets, over UDP and TCP,
IPv4 and IPv6; CANCEL against the SIP layer with a pending-INVITE handler; OPTIONS
retransmissions under 10 % loss."""

import os
import re
import signal
import socket
import subprocess
import time

import siptest as t

d = t.Daemon()
p = d.port

# ---- sockets in Status (sipsvc.xsd), SIGHUP keeps them ---------------------------------
socks = sorted(d.sip)
want = [("tcp", "0.0.0.0:%d" % p), ("udp", "0.0.0.0:%d" % p)]
if t.have_ipv6():
    want += [("tcp", "[::]:%d" % p), ("udp", "[::]:%d" % p)]
t.check(socks == sorted(want), "Status lists %s" % socks)
t.check(d.status_valid(), "Status validates against sipsvc.xsd")
d.proc.send_signal(signal.SIGHUP)
time.sleep(0.3)
rc, out = t.sipp("options.xml", p, "u1", timeout=10)
t.check(rc == 0 and d.alive(), "after SIGHUP the same socket answers")

# ---- SIPp scenarios over both transports -----------------------------------------
for sc in ["options.xml", "method-405.xml", "bye-481.xml", "require-420.xml",
           "invite-483.xml", "invite-480.xml", "invite-replaces-481.xml"]:
    for tr in ["u1", "t1"]:
        rc, out = t.sipp(sc, p, tr, timeout=10)
        if rc:
            print(out[-2000:])
        t.check(rc == 0, "sipp %s over %s" % (sc, "UDP" if tr == "u1" else "TCP"))
if t.have_ipv6():
    for tr in ["u1", "t1"]:
        rc, out = t.sipp("options.xml", p, tr, host="::1", timeout=10)
        t.check(rc == 0, "sipp options.xml over IPv6 %s" % tr)

# ---- raw requests: what SIPp cannot send -------------------------------------------
cases = lambda tr: [
    ("missing Call-ID", t.request(transport=tr, port=p, method="OPTIONS", omit=("Call-ID",)), 400, "Missing Call-ID"),
    ("missing From", t.request(transport=tr, port=p, method="OPTIONS", omit=("From",)), 400, "Missing From"),
    ("missing To", t.request(transport=tr, port=p, method="OPTIONS", omit=("To",)), 400, "Missing To"),
    ("missing CSeq", t.request(transport=tr, port=p, method="OPTIONS", omit=("CSeq",)), 400, "Missing CSeq"),
    ("missing Max-Forwards", t.request(transport=tr, port=p, method="OPTIONS", omit=("Max-Forwards",)), 400,
     "Missing Max-Forwards"),
    ("CSeq method mismatch", t.request(transport=tr, port=p, method="OPTIONS").replace(b"1 OPTIONS", b"1 INVITE"),
     400, "CSeq Method Mismatch"),
    ("CSeq too big", t.request(transport=tr, port=p, method="OPTIONS").replace(b"CSeq: 1 ", b"CSeq: 2147483648 "),
     400, "Bad CSeq"),
    ("Max-Forwards 0 on OPTIONS is answered (RFC 3261 16.3, 11)",
     t.request(transport=tr, port=p, method="OPTIONS").replace(b"Max-Forwards: 70", b"Max-Forwards: 0"), 200, None),
    ("Max-Forwards 0 on BYE", t.request(transport=tr, port=p, method="BYE").replace(b"Max-Forwards: 70",
                                                           b"Max-Forwards: 0"), 483, None),
    ("unsupported URI scheme", t.request(transport=tr, port=p, method="OPTIONS").replace(b"sip:service@", b"http://"),
     416, None),
    ("Content-Length larger than the datagram",
     t.request(transport=tr, port=p, method="OPTIONS").replace(b"Content-Length: 0", b"Content-Length: 50"), 400,
     "Content-Length Too Large"),
    ("non-SDP INVITE body", t.request(transport=tr, port=p, method="INVITE", extra="Content-Type: text/plain",
                                      body="hello"), 415, None),
    ("in-dialog INFO", t.request(transport=tr, port=p, method="INFO", to_tag="x"), 405, None),
]
for tr, fn in (("UDP", t.udp_exchange), ("TCP", t.tcp_exchange)):
    for name, data, code, reason in cases(tr):
        if tr == "TCP" and "Content-Length larger" in name:
            continue  # on a stream the framer waits for the rest (RFC 3261 18.3)
        rs = [r for r in fn(data, p, count=3, timeout=1.0) if t.status_line(r)[0] != 100]
        got = t.status_line(rs[0]) if rs else (None, None)
        ok = got[0] == code and (reason is None or got[1] == reason)
        t.check(ok, "%s over %s: %s %s (got %s %s)" % (name, tr, code, reason or "", *got))

# RFC 3261 8.2.2.2: same From tag, Call-ID, CSeq, new branch, no To tag: 482.
first = t.request("INVITE", p, call_id="merge@test", branch="z9hG4bKmerge1")
tag = t.header(first, "From").split("tag=")[1]
second = t.request("INVITE", p, call_id="merge@test", branch="z9hG4bKmerge2")
second = second.replace(t.header(second, "From").split("tag=")[1].encode(), tag.encode())
t.udp_exchange(first, p, count=2, timeout=0.3)
rs = [r for r in t.udp_exchange(second, p, count=2, timeout=1.0) if t.status_line(r)[0] != 100]
t.check(rs and t.status_line(rs[0])[0] == 482, "merged request: 482")

# RFC 3261 18.2.2 without rport: the answer goes to the Via's sent-by port, not the source.
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listen_sock:
    listen_sock.bind(("127.0.0.1", 0))
    listen_sock.settimeout(2)
    lp = listen_sock.getsockname()[1]
    req = t.request("OPTIONS", p, lport=lp).replace(b";rport", b"").replace(
        b"SIP/2.0/UDP 127.0.0.1:", b"SIP/2.0/UDP client.invalid:")
    rs = t.udp_exchange(req, p, timeout=0.5)
    t.check(not rs, "no rport: nothing comes back to the source port")
    resp = listen_sock.recv(65536)
    t.check(t.status_line(resp)[0] == 200 and b"received=127.0.0.1" in resp,
            "no rport: 200 goes to received= (the source address) and the Via port")
rs = t.udp_exchange(t.request("OPTIONS", p), p)
t.check(rs and re.search(rb"rport=\d+", rs[0]), "rport filled in (RFC 3581)")

# RFC 5626 4.4.1: a double-CRLF ping on a TCP flow gets a CRLF pong.
with socket.create_connection(("127.0.0.1", p), timeout=2) as c:
    c.sendall(b"\r\n\r\n")
    t.check(c.recv(16) == b"\r\n", "TCP keep-alive ping answered with CRLF")
    c.sendall(t.request("OPTIONS", p, transport="TCP"))
    t.check(t.status_line(c.recv(65536))[0] == 200, "and the flow still carries requests")

# No Via: nobody to answer. Dropped and counted.
before = int(d.counts()["sip-dropped"])
t.check(not t.udp_exchange(t.request("OPTIONS", p, omit=("Via",)), p, timeout=0.5),
        "request without Via: no answer")
t.check(int(d.counts()["sip-dropped"]) == before + 1, "request without Via: counted")

# ---- retransmissions under loss: every transaction completes ------------------------
rc, out = t.sipp("options.xml", p, "u1", calls=200, extra=["-r", "50", "-lost", "10"],
                 timeout=60)
if rc:
    print(out[-2000:])
t.check(rc == 0, "200 OPTIONS with 10 % loss in SIPp: all succeed")

t.check(d.alive(), "daemon still running")
t.check(d.stop() == 0, "daemon exits 0 on SIGTERM")

# ---- --sip-addr binds one address only ------------------------------------------------
for addr, fmt in (("127.0.0.1", "%s:%d"), ("::1", "[%s]:%d")):
    if ":" in addr and not t.have_ipv6():
        continue
    d = t.Daemon("--sip-addr", addr)
    t.check(sorted(d.sip) == [("tcp", fmt % (addr, d.port)), ("udp", fmt % (addr, d.port))],
            "--sip-addr %s: Status lists %s" % (addr, sorted(d.sip)))
    rc, out = t.sipp("options.xml", d.port, "u1", host=addr, timeout=10)
    t.check(rc == 0, "--sip-addr %s answers OPTIONS" % addr)
    t.check(d.stop() == 0, "--sip-addr %s: clean exit" % addr)

# ---- CANCEL (RFC 3261 9.2) against the SIP layer holding INVITEs ----------------------
hold = os.path.join(t.TOP_BUILDDIR, "tests", "integration", "sip-hold")
h = t.reap(subprocess.Popen([hold], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL))
hport = int(h.stdout.readline())
for tr in ["u1", "t1"]:
    rc, out = t.sipp("invite-cancel.xml", hport, tr, calls=5, extra=["-r", "5"], timeout=20)
    if rc:
        print(out[-2000:])
    t.check(rc == 0, "INVITE, CANCEL: 200, 487, ACK over %s" % tr)
rs = t.udp_exchange(t.request("CANCEL", hport), hport)
t.check(rs and t.status_line(rs[0])[0] == 481, "CANCEL matching no INVITE: 481")
h.terminate()
t.check(h.wait(10) == 0, "SIP layer freed every object (no leak)")
