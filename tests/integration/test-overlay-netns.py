#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Five daemons, one per network namespace, linked in a line by veth pairs
(ns0 - ns1 - ns2 - ns3 - ns4). Each node's SIP address is reachable from its two
neighbours only (host routes; no namespace forwards), so the originator (ns0) and the
holder (ns4) cannot talk directly: the hit must come back along the path of the query.
One link is slowed with tbf. Needs root (the tests run as root here)."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipsvctest import Daemon, check, check_eq, main, need_program, need_root, test, wait_for
from overlaytest import neighbours, node_id, search, share_file, CONFIG

N = 5
TAG = "ovt%d" % os.getpid()
NS = ["%s-%d" % (TAG, i) for i in range(N)]
nodes = []


def addr(i):
    return "10.78.0.%d" % (i + 1)


def sh(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise AssertionError("%s failed: %s" % (" ".join(cmd), p.stderr.strip()))
    return p.stdout


def nsrun(i, *cmd):
    return subprocess.run(["ip", "netns", "exec", NS[i]] + list(cmd), capture_output=True,
                          text=True)


def topology():
    for ns in NS:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    for i in range(N):
        sh("ip", "-n", NS[i], "addr", "add", addr(i) + "/32", "dev", "lo")
    for i in range(N - 1):
        a, b = "%sa%d" % (TAG[-6:], i), "%sb%d" % (TAG[-6:], i)
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        sh("ip", "link", "set", a, "netns", NS[i])
        sh("ip", "link", "set", b, "netns", NS[i + 1])
        sh("ip", "-n", NS[i], "addr", "add", "10.77.%d.1/30" % i, "dev", a)
        sh("ip", "-n", NS[i + 1], "addr", "add", "10.77.%d.2/30" % i, "dev", b)
        sh("ip", "-n", NS[i], "link", "set", a, "up")
        sh("ip", "-n", NS[i + 1], "link", "set", b, "up")
        # each end reaches the other's node address, and nothing beyond
        sh("ip", "-n", NS[i], "route", "add", addr(i + 1) + "/32", "via", "10.77.%d.2" % i)
        sh("ip", "-n", NS[i + 1], "route", "add", addr(i) + "/32", "via", "10.77.%d.1" % i)
        if i == 2:  # a slow link in the middle
            sh("ip", "netns", "exec", NS[i], "tc", "qdisc", "add", "dev", a, "root", "tbf",
               "rate", "512kbit", "burst", "16kb", "latency", "100ms")
    for ns in NS:
        sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0")


def teardown():
    for d in nodes:
        d.cleanup()
    for ns in NS:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class NsDaemon(Daemon):
    def __init__(self, i, **kw):
        self.ns = NS[i]
        super().__init__(**kw)

    def command(self):
        return ["ip", "netns", "exec", self.ns] + super().command()


@test
def t01_topology_isolates_the_ends():
    need_root("create network namespaces")
    need_program("ip")
    need_program("tc")
    topology()
    check_eq(nsrun(0, "ip", "route", "get", addr(1)).returncode, 0, "ns0 has a way to ns1")
    check(nsrun(0, "ip", "route", "get", addr(4)).returncode != 0, "ns0 has none to ns4")
    check(nsrun(0, "ip", "route", "get", addr(2)).returncode != 0, "nor to ns2")
    for i in range(N):
        check_eq(nsrun(i, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip(), "0",
                 "ns%d forwards nothing" % i)


@test
def t02_line_of_daemons():
    port = 5070  # one port for all: each namespace has its own port space
    for i in range(N):
        args = ["--sip-addr", addr(i), "--log-level", "info"]
        if i:
            args += ["--bootstrap", "sip:%s:%d" % (addr(i - 1), port)]
        d = NsDaemon(i, config=CONFIG % (2, 1, 4), args=args + ["--sip-port", str(port)])
        d.start()
        nodes.append(d)
    ids = [node_id(d) for d in nodes]

    def line():
        return all(neighbours(d) == {ids[j] for j in (i - 1, i + 1) if 0 <= j < N}
                   for i, d in enumerate(nodes))
    wait_for(line, timeout=60, what="each node linked to exactly its two reachable neighbours")


@test
def t03_hit_comes_back_along_the_path():
    share_file(nodes[4], "far away.ogg", "music " * 1000)
    with nodes[0].unix_client() as c:
        ok, hits, done = search(c, "far away", "r1", timeout_ms=5000, ttl=4)
    check_eq([h.get("peer") for h in hits], [node_id(nodes[4])], "the holder's hit arrived")
    check_eq(hits[0].get("name"), "far away.ogg", "name")
    check_eq((done.get("results"), done.get("peers")), ("1", "1"), "done counts")
    with nodes[0].unix_client() as c:
        ok, hits, done = search(c, "far away", "r2", timeout_ms=2000, ttl=3)
    check_eq(len(hits), 0, "TTL 3 does not reach 4 hops")


@test
def t04_stop():
    for d in nodes:
        d.stop()


if __name__ == "__main__":
    try:
        main()
    finally:
        teardown()
