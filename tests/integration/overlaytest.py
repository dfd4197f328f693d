# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for overlay tests: start sipsvcd nodes that bootstrap from each other, read
their overlay state from <Status/>, share files and search."""

import os
import re
import time

from sipsvctest import Daemon, check, check_eq, parse_xml, wait_for, SLOW, TIMEOUT

# A short refresh so that a dead neighbour is noticed in seconds (1.5 intervals).
CONFIG = '<sipsvc><overlay refresh="%d" min-neighbours="%d" max-neighbours="%d"/></sipsvc>'


def node(bootstrap=(), refresh=2, lo=4, hi=8, addr="127.0.0.1", extra=(), tmp=None):
    """A Daemon (not started) in the overlay, SIP on @addr, bootstrapping from the
    SIP ports or "host:port" strings in @bootstrap. Under valgrind (SLOW) the refresh
    is longer: a daemon that slow would miss its neighbours' refreshes."""
    refresh *= SLOW
    args = ["--sip-addr", addr, "--log-level", os.environ.get("OVERLAY_TEST_LOG", "info")]
    for b in bootstrap:
        args += ["--bootstrap", "sip:%s" % (b if isinstance(b, str) else
                                             "%s:%d" % (addr, b))]
    return Daemon(config=CONFIG % (refresh, lo, hi), args=args + list(extra), tmp=tmp)


def sip_port(d):
    for s in d.status().findall("Sip"):
        m = re.match(r"^.*:(\d+)$", s.get("address", ""))
        if m and s.get("transport") == "udp":
            return int(m.group(1))
    raise AssertionError("no SIP port in Status")


def overlay(d):
    ov = d.status().find("Overlay")
    check(ov is not None, "Status has an <Overlay>")
    return ov


def neighbours(d):
    return {n.get("peer") for n in overlay(d).findall("Neighbour")}


def node_id(d):
    return overlay(d).get("node-id")


def counter(d, name):
    return int(overlay(d).get(name))


def share_file(d, name, content):
    """Share a directory holding file @name on @d; wait until it is hashed."""
    top = os.path.join(d.tmp, "shared")
    os.makedirs(top, exist_ok=True)
    with open(os.path.join(top, name), "w") as f:
        f.write(content)
    with d.unix_client() as c:
        ok, line = c.request('<Share path="%s"/>' % top)
        check(ok.tag == "Ok" or 'code="' in line, "Share answered: %s" % line)

    def hashed():
        with d.unix_client() as c:
            ok, line = c.request('<Shares path="%s"/>' % top)
            return any(f.get("name") == name and f.get("sha256")
                       for s in ok.findall("Share") for f in s.findall("File"))
    wait_for(hashed, what="%s hashed on %s" % (name, d.tmp))


def search(client, query, ref, timeout_ms=3000, ttl=None, extra=""):
    """Send a Search; return (Ok, [hit events], done event)."""
    t = ' ttl="%d"' % ttl if ttl else ""
    timeout_ms *= SLOW
    client.send(('<Search ref="%s" query="%s" timeout-ms="%d"%s%s/>'
                 % (ref, query, timeout_ms, t, extra)).encode())
    ok = parse_xml(client.recv_line())
    check_eq(ok.tag, "Ok", "reply to Search")
    check_eq(ok.get("ref"), ref, "Ok echoes the ref")
    check(re.match(r"^s\d+$", ok.get("search", "")), "Ok names the search: %r" % ok.attrib)
    hits = []
    deadline = timeout_ms / 1000.0 + TIMEOUT
    while True:
        ev = parse_xml(client.recv_line(timeout=deadline))
        check_eq(ev.tag, "Event", "search event")
        check_eq(ev.get("type"), "search", "event type")
        check_eq(ev.get("search"), ok.get("search"), "event names the search")
        check_eq(ev.get("ref"), ref, "event carries the ref")
        if ev.get("state"):
            return ok, hits, ev
        hits.append(ev)


def mesh(nodes, lo):
    """Wait until every running node has at least @lo neighbours."""
    def ready():
        return all(len(neighbours(d)) >= lo for d in nodes)
    wait_for(ready, timeout=60 * SLOW, what="every node with >= %d neighbours" % lo)
