#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Load: SIPp sends OPTIONS at 2,000/s over UDP and over TCP. Every transaction must
succeed, and the daemon's resident memory must not grow beyond a small bound after the
run. SIP_LOAD_SECONDS (default 10) sets the duration of each run; bench/sip/run uses 30."""

import os
import time

import siptest as t

RATE = int(os.environ.get("SIP_LOAD_RATE", "2000"))
SECONDS = int(os.environ.get("SIP_LOAD_SECONDS", "10"))
RSS_BOUND_KIB = 8 * 1024

d = t.Daemon()
# Warm up, so that buffers the daemon keeps anyway are counted in the baseline.
rc, out = t.sipp("options.xml", d.port, "u1", calls=1000, extra=["-r", "1000"])
t.check(rc == 0, "warm-up: 1,000 OPTIONS")
base = d.rss_kib()
for tr, name in (("u1", "UDP"), ("t1", "TCP")):
    start = time.time()
    rc, out = t.sipp("options.xml", d.port, tr, calls=RATE * SECONDS,
                     extra=["-r", str(RATE)], timeout=SECONDS + 60)
    took = time.time() - start
    if rc:
        print(out[-3000:])
    t.check(rc == 0, "%d OPTIONS at %d/s over %s in %.1f s: no failed transaction"
            % (RATE * SECONDS, RATE, name, took))
    rss = d.rss_kib()
    if os.environ.get("SIP_SANITIZERS") == "yes":
        print("skip RSS bound: AddressSanitizer's quarantine keeps freed memory (%d KiB)" % rss)
        continue
    t.check(rss - base < RSS_BOUND_KIB,
            "RSS after the %s run %d KiB, %d KiB before: grew less than %d KiB"
            % (name, rss, base, RSS_BOUND_KIB))
c = d.counts()
print("counts after the runs:", c)
t.check(int(c["sip-dropped"]) == 0, "nothing dropped")
rc, out = t.sipp("options.xml", d.port, "u1")
t.check(rc == 0, "still answers OPTIONS")
t.check(d.stop() == 0, "daemon exits 0 on SIGTERM")
