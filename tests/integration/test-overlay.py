#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The overlay with 20 real daemons on loopback (issue 6): joined by a bootstrap chain,
every node ends with neighbours within bounds; a file shared on the last node is
found from the first; each node handles a query once; a small TTL finds nothing far
away; Cancel stops a search; killed neighbours are replaced and survivors' files are
still found; a restarted node rejoins from its persisted peers alone."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipsvctest import (check, check_eq, main, parse_xml, test, wait_for,
                        xsd_validate, SLOW, TIMEOUT)
from overlaytest import (counter, mesh, neighbours, node, node_id, overlay, search,
                         share_file, sip_port)

N = 20
LO, HI = 4, 8
nodes = []
ports = []
node_id_cache = {}  # ids of nodes that may be dead by the time we ask


def alive():
    return [d for d in nodes if d.proc and d.proc.poll() is None]


def dump():
    for i, d in enumerate(nodes):
        print("--- node %d %s log (tail) ---\n%s" % (i, node_id_cache.get(d), "\n".join(
            l for l in d.log().split("\n")[-300:] if "control:" not in l)))


@test
def t01_chain_forms_an_overlay():
    # node i bootstraps from node i-1 only: the rest is peer discovery
    for i in range(N):
        d = node(bootstrap=ports[-1:], lo=LO, hi=HI)
        d.start()
        node_id_cache[d] = node_id(d)
        nodes.append(d)
        ports.append(sip_port(d))
        if i == 0:  # alone, a node has nobody to ask
            with d.unix_client() as c:
                err, line = c.request('<Search query="anything"/>')
                check_eq((err.tag, err.get("code")), ("Error", "not-found"), line)
    try:
        mesh(nodes, LO)
    except Exception:
        dump()
        raise
    for i, d in enumerate(nodes):
        n = len(neighbours(d))
        check(LO <= n <= HI, "node %d has %d neighbours, want %d..%d" % (i, n, LO, HI))
    # links are symmetric: each is one subscription dialog both ends count
    ids = {node_id(d): d for d in nodes}
    for d in nodes:
        for p in neighbours(d):
            check(p in ids, "neighbour %s is one of ours" % p)


def hops_from(origin):
    """Breadth-first hop counts over the neighbour lists: {node id: hops}."""
    graph = {node_id(d): neighbours(d) for d in alive()}
    start = node_id(origin)
    dist, todo = {start: 0}, [start]
    while todo:
        cur = todo.pop(0)
        for p in graph.get(cur, ()):
            if p not in dist:
                dist[p] = dist[cur] + 1
                todo.append(p)
    return dist


@test
def t02_status_validates():
    with nodes[0].unix_client() as c:
        c.send(b"<Status/>")
        xsd_validate(c.recv_line())


@test
def t03_far_file_found_once_per_node():
    share_file(nodes[-1], "Report Quarterly 2026.pdf", "numbers " * 100)
    dist = hops_from(nodes[0])
    print("hops from the first node: %s" % sorted(dist.values()))
    before = [counter(d, "queries-seen") for d in nodes]
    with nodes[0].unix_client() as c:
        ok, hits, done = search(c, "quarterly report", "r1", timeout_ms=3000, ttl=7)
    if len(hits) != 1:
        dump()
    check_eq(len(hits), 1, "one result: %r" % [h.attrib for h in hits])
    h = hits[0].attrib
    check_eq(h["peer"], node_id(nodes[-1]), "the holder is the last node")
    check_eq(h["name"], "Report Quarterly 2026.pdf", "name")
    check_eq(h["size"], str(len("numbers " * 100)), "size")
    check(h["file"] == "sha256:" + h["sha256"] and len(h["sha256"]) == 64, "file id %r" % h)
    check_eq((done.get("state"), done.get("results"), done.get("peers")), ("done", "1", "1"),
             "done counts")
    after = [counter(d, "queries-seen") for d in nodes]
    deltas = [a - b for a, b in zip(after, before)]
    check(all(x in (0, 1) for x in deltas), "each node handled the query at most once: %r"
          % deltas)
    check_eq(deltas[0], 0, "the originator does not count its own query as seen")
    check_eq(len(dist), N, "the overlay is connected")
    if max(dist.values()) <= 5:  # slack: a copy that came the long way has less TTL
        check_eq(sum(deltas), N - 1, "with TTL 7 every other node saw it once: %r" % deltas)


@test
def t03b_fetch_a_search_result():
    # the result names its holder by node id only; the overlay tells the transfer
    # where that node is (no <overlay><peer> in any config)
    with nodes[0].unix_client() as c:
        ok, hits, done = search(c, "quarterly report", "f1", timeout_ms=2000, ttl=7)
        check_eq(len(hits), 1, "found again")
        h = hits[0]
        to = os.path.join(nodes[0].tmp, "downloads")
        os.makedirs(to)
        c.send(('<Fetch ref="f2" file="%s" from="%s" to="%s"/>'
                % (h.get("file"), h.get("peer"), to)).encode())
        ok = parse_xml(c.recv_line())
        check_eq((ok.tag, ok.get("ref")), ("Ok", "f2"), "Fetch accepted")
        while True:
            ev = parse_xml(c.recv_line(timeout=30 * SLOW))
            if ev.get("type") == "transfer" and ev.get("state") in ("done", "failed",
                                                                     "paused", "cancelled"):
                break
        check_eq((ev.get("state"), ev.get("sha256")), ("done", h.get("sha256")),
                 "downloaded and verified: %r" % ev.attrib)
    with open(os.path.join(to, h.get("name"))) as f:
        check_eq(f.read(), "numbers " * 100, "the content")


@test
def t04_small_ttl_finds_nothing_beyond():
    holder = node_id(nodes[-1])
    dist = hops_from(nodes[-1])
    check_eq(len(dist), N, "the overlay is connected")
    far = max(nodes[:-1], key=lambda d: dist[node_id(d)])
    hops = dist[node_id(far)]
    check(hops >= 2, "some node is 2 hops or more from the holder: %r" % dist)
    with far.unix_client() as c:
        ok, hits, done = search(c, "quarterly", "r2", timeout_ms=1000, ttl=hops - 1)
    check_eq(len(hits), 0, "TTL %d from a node %d hops away finds nothing" % (hops - 1, hops))
    check_eq((done.get("results"), done.get("peers")), ("0", "0"), "done says 0")
    # and TTL 1 from a neighbour of the holder finds it
    near = next(i for i, d in enumerate(nodes[:-1]) if holder in neighbours(d))
    with nodes[near].unix_client() as c:
        ok, hits, done = search(c, "quarterly", "r3", timeout_ms=1000, ttl=1)
    check_eq(len(hits), 1, "TTL 1 from a neighbour of the holder finds it")


@test
def t05_cancel_stops_a_search():
    with nodes[0].unix_client() as c:
        c.send(b'<Search ref="long" query="nothing-matches-this" timeout-ms="60000"/>')
        ok = parse_xml(c.recv_line())
        check_eq(ok.tag, "Ok", "Search accepted")
        t = time.monotonic()
        c.send(b'<Cancel ref="long"/>')
        reply = parse_xml(c.recv_line())
        check_eq((reply.tag, reply.get("request"), reply.get("ref")), ("Ok", "Cancel", "long"),
                 "Cancel answered Ok")
        ev = parse_xml(c.recv_line())
        check_eq((ev.get("type"), ev.get("state"), ev.get("ref")),
                 ("search", "cancelled", "long"), "the search ends at once")
        check(time.monotonic() - t < 5 * SLOW, "well before its 60 s timeout")
        c.send(b'<Cancel ref="long"/>')
        err = parse_xml(c.recv_line())
        check_eq((err.tag, err.get("code")), ("Error", "not-found"), "nothing left to cancel")
    # a search of another connection cannot be cancelled from here
    with nodes[0].unix_client() as a, nodes[0].unix_client() as b:
        a.send(b'<Search ref="mine" query="zzz" timeout-ms="2000"/>')
        check_eq(parse_xml(a.recv_line()).tag, "Ok", "Search accepted")
        b.send(b'<Cancel ref="mine"/>')
        check_eq(parse_xml(b.recv_line()).get("code"), "not-found", "not b's search")
        ev = parse_xml(a.recv_line(timeout=TIMEOUT))
        check_eq(ev.get("state"), "done", "a's search ran to its end")
    # a client that goes away loses its events, not its search (PROTOCOL.md "Events")
    mark = nodes[0].log_mark()
    c = nodes[0].unix_client()
    c.send(b'<Search ref="gone" query="quarterly" ttl="7" timeout-ms="1500"/>')
    ok = parse_xml(c.recv_line())
    c.close()
    nodes[0].wait_log(r"overlay: search %s done: 1 results" % ok.get("search"), start=mark)


@test
def t06_killed_neighbours_are_replaced():
    first = nodes[0]
    events = first.unix_client()
    ok, line = events.request('<Subscribe events="overlay"/>')
    check_eq(ok.tag, "Ok", line)
    before = neighbours(first)
    # two of them, never the holder of the file the survivors must still find
    victims_ids = sorted(before - {node_id_cache[nodes[-1]]})[:2]
    # Below LO neighbours the node looks for new ones; with more left it need not.
    must_join = len(before) - len(victims_ids) < LO
    victims = [d for d in nodes[1:-1] if node_id(d) in victims_ids]
    check_eq(len(victims), 2, "two neighbours to kill among %r" % sorted(before))
    # three more, away from the first and the holder: 5 killed in all
    others = [d for d in nodes[1:-1] if d not in victims][:3]
    for d in victims + others:
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
    dead = {node_id_cache[d] for d in victims + others}

    def replaced():
        n = neighbours(first)
        return not (n & dead) and len(n) >= LO
    wait_for(replaced, timeout=30 * SLOW, what="the first node's dead neighbours replaced")
    # and its client heard of it: each dead neighbour left, others joined
    left, joined = set(), set()
    while not (set(victims_ids) <= left and (len(joined) >= 1 or not must_join)):
        ev = parse_xml(events.recv_line())
        check_eq(ev.get("type"), "overlay", "only overlay events: %r" % ev.attrib)
        (left if ev.get("action") == "left" else joined).add(ev.get("peer"))
        check(ev.get("uri", "").startswith("sip:%s@127.0.0.1:" % ev.get("peer")),
              "event names the node URI: %r" % ev.attrib)
    events.close()
    mesh(alive(), 1)
    with first.unix_client() as c:
        ok, hits, done = search(c, "quarterly", "r4", timeout_ms=3000, ttl=7)
    check_eq([h.get("peer") for h in hits], [node_id_cache[nodes[-1]]],
             "the survivor's file is still found")


@test
def t07_restart_rejoins_from_known_peers():
    d = alive()[1]
    i = nodes.index(d)
    d.stop()
    d.own_tmp = False  # keep its state dir
    d.cleanup()
    os.unlink(os.path.join(d.tmp, "notify"))
    # same state dir, no --bootstrap at all
    again = node(tmp=d.tmp, lo=LO, hi=HI)
    again.own_tmp = True
    nodes[i] = again
    again.start()
    node_id_cache[again] = node_id(again)
    check_eq(node_id(again), node_id_cache[d], "the node id survived the restart")
    wait_for(lambda: len(neighbours(again)) >= 1, timeout=30 * SLOW,
             what="the restarted node back in the overlay")
    with again.unix_client() as c:
        ok, hits, done = search(c, "quarterly", "r5", timeout_ms=3000, ttl=7)
    check_eq(len(hits), 1, "and it can search")


@test
def t08_no_overlay():
    d = node(extra=["--no-overlay"])
    try:
        d.start()
        check(d.status().find("Overlay") is None, "no <Overlay> in Status")
        with d.unix_client() as c:
            err, line = c.request('<Search ref="x" query="anything"/>')
            check_eq((err.tag, err.get("code")), ("Error", "invalid"), line)
        d.stop()
    finally:
        d.cleanup()


@test
def t09_dialogs_freed_then_stop_all():
    # searches over, dead neighbours gone: one subscription dialog per link is left on
    # every node (query dialogs end with their Expires, lapsed links with theirs)
    def settled():
        for d in alive():
            ov = overlay(d)
            if int(ov.get("dialogs")) != int(ov.get("neighbours")):
                return False
        return True
    wait_for(settled, timeout=60 * SLOW, what="one dialog per neighbour on every node (at the start: %r)"
             % [(overlay(d).get("dialogs"), overlay(d).get("neighbours")) for d in alive()])
    for d in alive():
        d.stop()


if __name__ == "__main__":
    try:
        main()
    finally:
        for d in nodes:
            d.cleanup()
