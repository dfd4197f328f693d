#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every bound of the SIP transports and transaction table, hit: 256 TCP connections
(the next one is closed at once), 64 KiB per message (a bigger one closes its
connection), 10,000 live transactions (the next request gets 503 with Retry-After,
RFC 3261 21.5.4). The daemon stays healthy after each."""

import socket
import time

import siptest as t

# One source sends everything here: no per-source budget.
d = t.Daemon(config='<sipsvc><sip source-rate="0"/></sipsvc>')
p = d.port

# ---- connections ---------------------------------------------------------------------
conns = []
for i in range(256):
    conns.append(socket.create_connection(("127.0.0.1", p), timeout=2))
time.sleep(0.3)
t.check(int(d.counts()["sip-connections"]) == 256, "256 TCP connections open")
extra = socket.create_connection(("127.0.0.1", p), timeout=2)
try:
    closed = extra.recv(1) == b""
except ConnectionResetError:
    closed = True
t.check(closed, "the 257th connection is closed at once")
extra.close()
rs = t.tcp_exchange(t.request("OPTIONS", p, transport="TCP"), p)
t.check(not rs, "no room for another TCP client while 256 are open")
for c in conns:
    c.close()
time.sleep(0.3)
t.check(int(d.counts()["sip-connections"]) == 0, "all connections gone after the clients close")
rs = t.tcp_exchange(t.request("OPTIONS", p, transport="TCP"), p)
t.check(rs and t.status_line(rs[0])[0] == 200, "TCP answers again")

# ---- bytes per message -------------------------------------------------------------------
big = t.request("OPTIONS", p, transport="TCP", extra="X-Big: " + "a" * 70000)
with socket.create_connection(("127.0.0.1", p), timeout=2) as c:
    try:
        c.sendall(big)
        closed = c.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        closed = True
t.check(closed, "a 70 KB message over TCP closes its connection, unanswered")
fits = t.request("OPTIONS", p, transport="TCP", extra="X-Big: " + "a" * 60000)
rs = t.tcp_exchange(fits, p, timeout=3)
t.check(rs and t.status_line(rs[0])[0] == 200, "a 60 KB message over TCP is answered")
rs = t.udp_exchange(t.request("OPTIONS", p, extra="X-Big: " + "a" * 60000), p)
t.check(rs and t.status_line(rs[0])[0] == 200, "a 60 KB datagram is answered")

# ---- live transactions ---------------------------------------------------------------------
# INVITEs without ACK keep their server transactions for timer H (32 s).
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind(("127.0.0.1", 0))
# Datagrams may be dropped by a slow (sanitizer) build: send until the table is full.
sent = 0
while sent < 30000 and int(d.counts()["sip-transactions"]) < 10000:
    for i in range(500):
        s.sendto(t.request("INVITE", p), ("127.0.0.1", p))
    sent += 500
    time.sleep(0.1)
deadline = time.time() + 20
while time.time() < deadline and int(d.counts()["sip-transactions"]) < 10000:
    time.sleep(0.2)
t.check(int(d.counts()["sip-transactions"]) == 10000, "10,000 live INVITE transactions")
s.close()
# A fresh socket, so that the 480 retransmissions of 10,000 transactions stay elsewhere.
resp = None
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
    c.bind(("127.0.0.1", 0))
    c.settimeout(3)
    for attempt in range(5):  # the daemon's queue may still overflow with the flood
        c.sendto(t.request("INVITE", p), ("127.0.0.1", p))
        try:
            resp = c.recv(65536)
            break
        except socket.timeout:
            continue
t.check(t.status_line(resp)[0] == 503 and t.header(resp, "Retry-After") == "5",
        "the next INVITE gets 503 with Retry-After (got %s)" % (t.status_line(resp),))
# The daemon is busy retransmitting 10,000 480s (timer G); give it time.
rs = []
for attempt in range(3):
    rs = t.udp_exchange(t.request("OPTIONS", p), p, timeout=3)
    if rs:
        break
t.check(rs and t.status_line(rs[0])[0] == 200, "OPTIONS (stateless) still answered")
t.check(d.status_valid(), "Status still valid")
t.check(d.stop() == 0, "daemon frees 10,000 transactions and exits 0")
