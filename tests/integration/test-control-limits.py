#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Resource limits of the control protocol (PROTOCOL.md "Framing" limits): 64
simultaneous connections, and a client that does not read its events is disconnected
while the others keep being served."""

import resource
import socket
import time

from sipsvctest import (SLOW, Daemon, TestFailure, check, check_eq, main, parse_xml,
                        running, status_of, test, wait_for)

MAX_CONNECTIONS = 64


def connections(c):
    st, _ = status_of(c)
    return int(st.find("Counts").get("connections"))


@test
def sixty_four_connections_and_no_more():
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    check(soft >= 4 * MAX_CONNECTIONS, "open-files limit %d leaves room for the test" % soft)
    with running(Daemon()) as d:
        clients = []
        try:
            for i in range(MAX_CONNECTIONS):
                c = d.tcp_client() if i % 2 else d.unix_client()
                clients.append(c)
                if i == 0:  # the daemon has seen every earlier connection close
                    wait_for(lambda: connections(c) == 1, what="connections=1")
                st, _ = status_of(c)
                check_eq(st.get("pid"), str(d.pid), "Status on connection %d" % (i + 1))
            check_eq(connections(clients[0]), MAX_CONNECTIONS, "connections counted")
            for extra in (d.tcp_client, d.unix_client):
                mark = d.log_mark()
                c = extra()
                try:
                    c.send("<Status/>")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                got, how = c.read_to_eof()
                c.close()
                text = got.decode()
                check("<Status" not in text, "the 65th connection got no Status: %r" % text)
                if text:
                    el = parse_xml(text.splitlines()[0])
                    check_eq((el.tag, el.get("code")), ("Error", "limit"), "65th reply")
                d.wait_log(r"^<4>control: .* refused: %d connections already open"
                           % MAX_CONNECTIONS, start=mark)
            # Close one; once the daemon has seen it go, a new connection works.
            clients.pop().close()
            wait_for(lambda: connections(clients[0]) == MAX_CONNECTIONS - 1,
                     what="the daemon to count the closed connection")
            c = d.tcp_client()
            clients.append(c)
            st, _ = status_of(c)
            check_eq(st.find("Counts").get("connections"), str(MAX_CONNECTIONS),
                     "connections after replacing one")
        finally:
            for c in clients:
                c.close()


def slow_reader(d, rounds_limit, max_queue, unix=False):
    """A subscribes to log events and stops reading; B keeps sending requests (each logs
    a debug line, an event for A). A must be dropped, B must keep getting replies."""
    if unix:  # no TCP buffer autotuning: the daemon's queue fills after far fewer events
        a = d.unix_client()
        a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        who = "unix"
    else:
        a = d.tcp_client(rcvbuf=4096)
        who = "127.0.0.1:%d" % a.sock.getsockname()[1]
    ok, _ = a.request('<Subscribe events="log"/>')
    check_eq(ok.tag, "Ok", "Subscribe")
    b = d.tcp_client() if unix else d.unix_client()
    mark = d.log_mark()
    t0 = time.monotonic()
    dropped = None
    rounds = 0
    try:
        while dropped is None:
            if rounds >= rounds_limit or time.monotonic() - t0 > 20 * SLOW:
                raise TestFailure("A still connected after %d requests / %.1f s"
                                  % (rounds * 50, time.monotonic() - t0))
            # 50 requests per write, then all 50 replies: B reads everything it gets.
            b.send("".join('<Status ref="b%d"/>' % (rounds * 50 + i) for i in range(50)))
            for i in range(50):
                el, _ = b.recv_reply()
                check_eq(el.get("ref"), "b%d" % (rounds * 50 + i), "B's reply in order")
            rounds += 1
            with d.cond:
                dropped = next((l for l in d.lines[mark:]
                                if "does not read its events" in l), None)
        check_eq(dropped, "<4>control: %s does not read its events (%d queued); "
                 "disconnecting" % (who, max_queue), "the drop log line")
        # A drains what the kernel buffered, then sees the end of the stream.
        got, how = a.read_to_eof()
        check(len(got) > 0, "A had events queued before it was dropped")
        wait_for(lambda: connections(b) == 1, what="only B left")
        print("     A dropped after %d requests of B, %.2f s" % (rounds * 50,
                                                                time.monotonic() - t0))
    finally:
        a.close()
        b.close()


@test
def client_that_never_reads_is_dropped_small_queue():
    # A on the Unix socket: its kernel buffers are fixed, so max-queue="16" decides
    # within a few hundred requests of B.
    cfg = '<sipsvc><control max-queue="16"/></sipsvc>'
    with running(Daemon(config=cfg, args=["--log-level", "debug"])) as d:
        slow_reader(d, rounds_limit=2000, max_queue=16, unix=True)


@test
def client_that_never_reads_is_dropped_default_queue():
    # The default 1024 events: the kernel's socket buffers fill first, so this takes
    # more requests; still bounded.
    with running(Daemon(args=["--log-level", "debug"])) as d:
        slow_reader(d, rounds_limit=4000, max_queue=1024)


@test
def subscriber_that_sends_without_reading_is_dropped():
    # Its own requests cause log events too. The daemon stops reading its requests once
    # half its queue is used (its replies cannot grow without bound within one read),
    # and a connection that then takes none of its replies for 10 s is dropped.
    cfg = '<sipsvc><control max-queue="16"/></sipsvc>'
    with running(Daemon(config=cfg, args=["--log-level", "debug"])) as d:
        a = d.unix_client()
        a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ok, _ = a.request('<Subscribe events="log" ref="sub"/>')
        check_eq(ok.get("ref"), "sub", "Subscribe")
        mark = d.log_mark()
        try:
            a.send("<Status/>" * 3000)
        except (BrokenPipeError, ConnectionResetError):
            pass  # dropped while we were still writing: fine
        d.wait_log(r"^<4>control: unix has read none of its \d+ queued replies for 10 s; "
                   r"disconnecting", start=mark, timeout=30)
        got, how = a.read_to_eof()
        a.close()
        with d.unix_client() as b:
            st, _ = status_of(b)
            check_eq(st.get("pid"), str(d.pid), "the daemon survived")
            wait_for(lambda: connections(b) == 1, what="the dropped connection to go")


if __name__ == "__main__":
    main()
