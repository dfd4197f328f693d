#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""<Status/> on every control endpoint (PROTOCOL.md "Endpoints", "Framing"): TCP
127.0.0.1, TCP [::1], the Unix socket, and `echo '<Status/>' | nc -q1 127.0.0.1 PORT`.
Each reply is checked against sipsvc.xsd and against facts the test knows itself."""

import signal
import subprocess
import time

from sipsvctest import (SLOW, Daemon, Skip, check, check_eq, have_ipv6_loopback, main,
                        need_program, parse_xml, status_of, test, wait_for, xsd_validate)

D = Daemon()  # one daemon for the whole file: one per test would buy nothing here


def controls(st):
    return sorted((c.get("transport"), c.get("address")) for c in st.findall("Control"))


def check_status(st, line, d):
    xsd_validate(line)
    check_eq(st.get("pid"), str(d.pid), "Status pid")
    check_eq(st.get("runtime-dir"), d.runtime_dir, "Status runtime-dir")
    check_eq(st.get("state-dir"), d.state_dir, "Status state-dir")
    check(float(st.get("uptime")) >= 0, "uptime is a number")
    want = [("tcp", "127.0.0.1:%d" % d.port), ("unix", d.socket_path)]
    if have_ipv6_loopback():
        want.append(("tcp", "[::1]:%d" % d.port))
    check_eq(controls(st), sorted(want), "Status Control endpoints")


@test
def status_over_tcp_ipv4():
    with D.tcp_client("127.0.0.1") as c:
        check_eq(c.sock.getpeername()[1], D.port, "connected port")
        st, line = status_of(c)
        check_status(st, line, D)
        check(("tcp", "127.0.0.1:%d" % c.sock.getpeername()[1]) in controls(st),
              "the port we connected to is a Control address")
        # The daemon may see the close of an earlier connection after this request.
        wait_for(lambda: status_of(c)[0].find("Counts").get("connections") == "1",
                 what="Counts connections=1 with only this connection open")


@test
def status_over_tcp_ipv6():
    if not have_ipv6_loopback():
        raise Skip("no IPv6 loopback on this host")
    with D.tcp_client("::1") as c:
        st, line = status_of(c)
        check_status(st, line, D)
        check(("tcp", "[::1]:%d" % c.sock.getpeername()[1]) in controls(st),
              "the [::1] port we connected to is a Control address")


@test
def status_over_unix_socket():
    with D.unix_client() as c:
        st, line = status_of(c)
        check_status(st, line, D)


@test
def status_with_ref_validates():
    with D.unix_client() as c:
        ok, line = c.request('<Status ref="r-42"/>')
        check_eq(ok.get("ref"), "r-42", "ref echoed")
        check_eq(ok.get("request"), "Status", "request named")
        xsd_validate(line)


@test
def devices_reply_validates():
    with D.unix_client() as c:
        ok, line = c.request("<Devices/>")
        check_eq(ok.tag, "Ok", "reply to <Devices/>")
        check_eq(len(ok.findall("Device")), 0, "no devices without a config")
        xsd_validate(line)


@test
def status_with_netcat():
    need_program("nc")
    p = subprocess.run("echo '<Status/>' | nc -q1 127.0.0.1 %d" % D.port, shell=True,
                       capture_output=True, timeout=10)
    check_eq(p.returncode, 0, "nc exit status (stderr %r)" % p.stderr)
    out = p.stdout.decode()
    check(out.endswith("\n"), "reply ends with a newline: %r" % out)
    lines = out.splitlines()
    check_eq(len(lines), 1, "one reply line")
    st = parse_xml(lines[0]).find("Status")
    check(st is not None, "a Status in %r" % out)
    check_eq(st.get("pid"), str(D.pid), "pid over nc")
    xsd_validate(lines[0])


@test
def many_clients_in_turn_share_one_daemon():
    # Connections are independent: what one sends never shows up on another.
    with D.unix_client() as a, D.tcp_client() as b:
        a.send('<Status ref="a"/>')
        b.send('<Status ref="b"/>')
        check_eq(b.recv_reply()[0].get("ref"), "b", "b's own reply")
        check_eq(a.recv_reply()[0].get("ref"), "a", "a's own reply")


@test
def pipelined_replies_are_not_delayed():
    # Nagle's algorithm on the daemon's side would hold every reply after the first
    # until our delayed ACK: 40 ms each, 0.8 s for this loop. Without it: milliseconds.
    with D.tcp_client() as c:
        t0 = time.monotonic()
        for i in range(20):
            c.send('<Status ref="a%d"/><Devices ref="b%d"/>' % (i, i))
            check_eq([c.recv_xml()[0].get("ref") for _ in range(2)], ["a%d" % i, "b%d" % i],
                     "replies in order")
        took = time.monotonic() - t0
        # Delayed ACKs are at least 40 ms: with Nagle this loop cannot finish in 0.6 s.
        check(took < 0.6 * SLOW, "20 pipelined exchanges took %.3f s" % took)


@test
def log_events_to_subscribers_only():
    with D.unix_client() as sub, D.tcp_client() as other:
        ok, line = sub.request('<Subscribe events="log" ref="s1"/>')
        check_eq((ok.tag, ok.get("ref"), ok.get("request")), ("Ok", "s1", "Subscribe"),
                 "Subscribe reply")
        xsd_validate(line)
        mark = D.log_mark()
        D.signal(signal.SIGHUP)  # logs one info line
        logged = D.wait_log(r"^<6>no config file at ", start=mark)
        ev, line = sub.recv_xml()
        check_eq((ev.tag, ev.get("type"), ev.get("level")), ("Event", "log", "info"),
                 "log event %r" % line)
        check_eq(ev.text, logged[len("<6>"):], "the event carries the log line")
        xsd_validate(line)
        # The unsubscribed connection got no event: its next line is its own reply.
        other.send('<Status ref="o"/>')
        ok, line = other.recv_xml()
        check_eq((ok.tag, ok.get("ref")), ("Ok", "o"), "first line on the other connection")
        ok, _ = sub.request('<Unsubscribe events="log" ref="u1"/>')
        check_eq((ok.tag, ok.get("ref")), ("Ok", "u1"), "Unsubscribe reply")
        mark = D.log_mark()
        D.signal(signal.SIGHUP)
        D.wait_log(r"^<6>configuration reloaded", start=mark)
        sub.send('<Status ref="after"/>')
        ok, line = sub.recv_xml()  # an event would come first: it was queued first
        check_eq((ok.tag, ok.get("ref")), ("Ok", "after"), "no event after Unsubscribe")


if __name__ == "__main__":
    main(fixture=D)
