#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One source flooding OPTIONS (issue 9): with <sip source-rate="500"> the daemon
answers that source about 500 requests a second and drops the rest unread, logs the
source once, and still answers every request from another address (127.0.0.2,
retransmitting as RFC 3261 17.1.2.2 has any UAC do). The daemon stays healthy."""

import re
import select
import socket
import time

import siptest as t

RATE, FLOOD = 500, 4000

d = t.Daemon(config='<sipsvc><sip source-rate="%d"/></sipsvc>' % RATE)
p = d.port


def options(sock, branch):
    host, port = sock.getsockname()
    return ("OPTIONS sip:service@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\n"
            "From: <sip:f@%s>;tag=%s\r\nTo: <sip:service@127.0.0.1>\r\n"
            "Call-ID: %s@flood\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            % (p, host, port, branch, host, branch, branch)).encode()


def drain(sock, got):
    while select.select([sock], [], [], 0)[0]:
        data = sock.recv(65536)
        m = re.search(rb"branch=z9hG4bK(\w+)", data)
        if data.startswith(b"SIP/2.0 200") and m:
            got.add(m.group(1))


flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flooder.bind(("127.0.0.1", 0))
flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
other.bind(("127.0.0.2", 0))

flood_ok, other_ok = set(), set()
start = time.monotonic()
for i in range(FLOOD):
    flooder.sendto(options(flooder, "f%d" % i), ("127.0.0.1", p))
    if i % 100 == 99:  # 100 at a time, so the kernel's buffer holds them
        drain(flooder, flood_ok)
        time.sleep(0.005)
    if i % 80 == 0:  # the other peer, in the middle of it
        n = "o%d" % i
        for _ in range(8):
            other.sendto(options(other, n), ("127.0.0.1", p))
            deadline = time.monotonic() + 0.5
            while n.encode() not in other_ok and time.monotonic() < deadline:
                if select.select([other], [], [], 0.05)[0]:
                    drain(other, other_ok)
            if n.encode() in other_ok:
                break
elapsed = time.monotonic() - start
deadline = time.monotonic() + 2
while time.monotonic() < deadline:
    drain(flooder, flood_ok)
    time.sleep(0.05)

bound = RATE + RATE * elapsed + 50  # the first second's bucket, the refill, slack
print("  flooder: %d OPTIONS in %.2f s, %d answered (at most %.0f)"
      % (FLOOD, elapsed, len(flood_ok), bound))
t.check(len(flood_ok) >= RATE, "the flooder's budget is answered (%d)" % len(flood_ok))
t.check(len(flood_ok) <= bound, "the excess is dropped (%d answered)" % len(flood_ok))
t.check(len(other_ok) == FLOOD // 80, "the other source is answered every time (%d of %d)"
        % (len(other_ok), FLOOD // 80))
dropped = int(d.counts()["sip-dropped"])
t.check(dropped >= FLOOD - len(flood_ok) - 50, "Status counts the drops (%d)" % dropped)
d.log.flush()
d.log.seek(0)
warnings = re.findall(r"sip: 127\.0\.0\.1 sends more than %d requests/s" % RATE, d.log.read())
t.check(len(warnings) == 1, "logged once, not per request (%d lines)" % len(warnings))
rc, out = t.sipp("options.xml", p, timeout=10)
t.check(rc == 0, "the daemon answers after the flood")
t.check(d.stop() == 0, "daemon exits 0")
