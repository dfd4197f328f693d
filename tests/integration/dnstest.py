# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures for RFC 3263 tests: dnsmasq serving given records on a loopback port, SIPp
UASs on loopback ports, and free ports found in the kernel's tables."""

import os
import random
import shutil
import subprocess
import time

from sipsvctest import check_eq

SRCDIR = os.environ.get("SRCDIR", ".")
SIPP_DIR = os.path.abspath(os.path.join(SRCDIR, "tests", "sipp"))
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def table_has(port, udp=True, v6=False):
    """Is loopback @port bound, per the kernel's table (binding to find out races)?"""
    table = "/proc/net/%s%s" % ("udp" if udp else "tcp", "6" if v6 else "")
    want = ("00000000000000000000000001000000:%04X" if v6 else "0100007F:%04X") % port
    with open(table) as f:
        return any(line.split()[1] == want for line in list(f)[1:])


def unused_port():
    """A port nothing has bound on loopback, UDP or TCP, v4 or v6, right now."""
    while True:
        port = random.randint(20000, 59000)
        if not any(table_has(port, udp, v6) for udp in (True, False) for v6 in (False, True)):
            return port


class Dnsmasq:
    """dnsmasq on 127.0.0.1:port serving only the records given (no upstream)."""

    def __init__(self, records):
        self.records = records
        self.proc = None

    def __enter__(self):
        if not os.path.exists(DNSMASQ):
            raise AssertionError("dnsmasq not installed: ./autogen.sh installs dnsmasq-base")
        for _ in range(5):
            self.port = unused_port()
            cmd = [DNSMASQ, "-k", "--port=%d" % self.port, "--listen-address=127.0.0.1",
                   "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                   "--pid-file=", "--log-facility=-"] + self.records
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            deadline = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < deadline:
                if table_has(self.port):
                    return self
                time.sleep(0.02)
            self.proc.kill()
            err = self.proc.communicate()[1].decode(errors="replace")
        raise AssertionError("dnsmasq did not start: " + err[-400:])

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


class Sipp:
    """A SIPp UAS for one call on loopback."""

    def __init__(self, scenario, port, transport="u1", host="127.0.0.1"):
        if not shutil.which("sipp"):
            raise AssertionError("sipp not installed: ./autogen.sh installs sip-tester")
        self.port = port
        self.tcp = transport == "t1"
        self.v6 = ":" in host
        self.proc = subprocess.Popen(
            ["sipp", "-sf", os.path.join(SIPP_DIR, scenario), "-i", host, "-p", str(port),
             "-t", transport, "-m", "1", "-timeout", "30", "-timeout_error", "-nostdin",
             "-trace_err"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/tmp")
        deadline = time.monotonic() + 10
        while not table_has(port, not self.tcp, self.v6):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError("sipp did not bind %d: %s" % (
                    port, self.proc.communicate()[1].decode(errors="replace")[-400:]))
            time.sleep(0.02)

    def finished_ok(self, what):
        _, err = self.proc.communicate(timeout=30)
        check_eq(self.proc.returncode, 0,
                 "%s: sipp's checks (%s)" % (what, err.decode(errors="replace")[-400:]))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def srv(name, target, port, prio, weight=50):
    return "--srv-host=%s,%s,%d,%d,%d" % (name, target, port, prio, weight)
