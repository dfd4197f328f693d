#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""systemd integration without systemd (DESIGN.md "systemd"): sd_notify messages on a
NOTIFY_SOCKET we bind, and socket activation through systemd-socket-activate."""

import os
import re
import select
import signal
import socket
import time

from sipsvctest import (Client, Daemon, EX_OSERR, Skip, check, check_eq, free_port,
                        have_ipv6_loopback, main, running, status_of, test)


@test
def ready_and_stopping_notifications():
    d = Daemon()
    with running(d, start=False):
        d.spawn()
        msg = d.wait_notify("READY=1")
        check("MAINPID=%d" % d.pid in msg, "READY=1 names the main pid: %r" % msg)
        check("STATUS=running" in msg, "READY=1 carries a STATUS: %r" % msg)
        # READY=1 means the sockets are there: no polling needed.
        with d.unix_client() as c:
            st, _ = status_of(c)
            check_eq(st.get("pid"), str(d.pid), "Status pid right after READY=1")
        d.signal(signal.SIGTERM)
        d.wait_notify("STOPPING=1")
        d.check_exit(0)


@test
def watchdog_pings():
    # No WATCHDOG_PID: sd_watchdog_enabled() then trusts WATCHDOG_USEC for any pid.
    d = Daemon(env={"WATCHDOG_USEC": "200000"}, args=["--log-level", "debug"])
    with running(d):
        d.wait_log(r"^<7>watchdog: pinging every 0\.1 s")
        for _ in range(3):
            d.wait_notify("WATCHDOG=1", timeout=2)


def pings_within(d, seconds):
    """The WATCHDOG=1 datagrams that arrive within @seconds (none queued before)."""
    got, deadline = 0, time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([d.notify_sock], [], [], left)[0]:
            return got
        got += "WATCHDOG=1" in d.notify_sock.recv(4096).decode().split("\n")


def stat_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def drain_notify(d):
    d.notifications.clear()
    while select.select([d.notify_sock], [], [], 0)[0]:
        d.notify_sock.recv(4096)


@test
def watchdog_sees_a_stopped_daemon():
    """What WatchdogSec= relies on (no user systemd runs here): a daemon stopped with
    SIGSTOP sends no WATCHDOG=1, so the manager would send WatchdogSignal and, the unit
    being Restart=on-failure, start it again; continued, it pings again."""
    with open(os.environ["SIPSVC_SERVICE_UNIT"]) as f:
        unit = f.read()
    check(re.search(r"^WatchdogSec=\d+", unit, re.M), "the unit sets WatchdogSec=")
    check(re.search(r"^Restart=on-failure$", unit, re.M),
          "a watchdog timeout restarts the unit (Restart=on-failure)")
    d = Daemon(env={"WATCHDOG_USEC": "200000"})
    with running(d):
        d.wait_notify("WATCHDOG=1", timeout=2)
        d.signal(signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while stat_state(d.pid) != "T":  # stopped: nothing more can be in flight
            check(time.monotonic() < deadline, "the daemon stops")
            time.sleep(0.01)
        drain_notify(d)
        # Five watchdog periods of silence: systemd would act after one.
        check_eq(pings_within(d, 1.0), 0, "no WATCHDOG=1 while stopped")
        d.signal(signal.SIGCONT)
        d.wait_notify("WATCHDOG=1", timeout=2)
        check_eq(d.status().get("pid"), str(d.pid), "the same daemon answers again")


@test
def sighup_reloading_then_ready():
    d = Daemon(config="<sipsvc/>")
    with running(d):
        for _ in range(2):
            mark = d.log_mark()
            d.signal(signal.SIGHUP)
            msg = d.wait_notify("RELOADING=1")
            check(any(l.startswith("MONOTONIC_USEC=") for l in msg),
                  "RELOADING=1 carries MONOTONIC_USEC (Type=notify-reload): %r" % msg)
            d.wait_notify("READY=1")
            d.wait_log(r"^<6>configuration reloaded \(0 devices\)", start=mark)
        check_eq(d.status().get("pid"), str(d.pid), "still the same daemon")


def activate(d, port):
    """systemd-socket-activate execs the daemon at the first connection: wait until it
    listens on everything, then connect to 127.0.0.1:@port. Returns that client."""
    for a in d.activate:
        d.wait_log(r"^Listening on %s as \d+\.$" % re.escape(a))
    return Client.tcp(port)


@test
def socket_activation_tcp_and_unix():
    port = free_port()
    tmp_d = Daemon(control_port=None)
    os.mkdir(tmp_d.runtime_dir, 0o700)
    tmp_d.activate = ["127.0.0.1:%d" % port, tmp_d.socket_path]
    with running(tmp_d, start=False) as d:
        d.spawn(notify=True)
        first = activate(d, port)
        d.wait_notify("READY=1")
        for c in (first, d.unix_client(), Client.tcp(port)):
            with c:
                st, _ = status_of(c)
                check_eq(st.get("pid"), str(d.pid), "Status pid (exec'd in place)")
                controls = sorted((x.get("transport"), x.get("address"))
                                  for x in st.findall("Control"))
                check_eq(controls, sorted([("tcp", "127.0.0.1:%d" % port),
                                           ("unix", d.socket_path)]),
                         "Control addresses are exactly the inherited sockets")
        d.stop()
        # An inherited socket belongs to systemd: the daemon must not delete it.
        check(os.path.exists(d.socket_path), "inherited Unix socket left in place")


@test
def socket_activation_refuses_non_loopback():
    port = free_port()
    d = Daemon(control_port=None, allow_errors=[r"refusing inherited socket 0\.0\.0\.0:%d"
                                                % port, r"none of the 1 inherited sockets"])
    d.activate = ["0.0.0.0:%d" % port]
    with running(d, start=False):
        d.spawn()
        trigger = activate(d, port)
        code = d.wait_exit()
        got, how = trigger.read_to_eof()
        trigger.close()
        check_eq(got, b"", "bytes to the connection on the refused socket")
        check(code != 0, "exit status with no usable socket: %r" % code)
        d.wait_log(r"^<3>control: refusing inherited socket 0\.0\.0\.0:%d: not a loopback"
                   % port)
        d.check_exit(EX_OSERR)  # and no error lines but the two expected


@test
def socket_activation_non_loopback_dropped_others_kept():
    port, port2 = free_port(), free_port()
    d = Daemon(control_port=None, allow_errors=[r"refusing inherited socket 0\.0\.0\.0:%d"
                                                % port])
    os.mkdir(d.runtime_dir, 0o700)
    d.activate = ["0.0.0.0:%d" % port, "127.0.0.1:%d" % port2, d.socket_path]
    with running(d, start=False):
        d.spawn()
        activate(d, port2).close()
        d.wait_notify("READY=1")
        d.wait_log(r"^<3>control: refusing inherited socket 0\.0\.0\.0:%d" % port)
        st = d.status()
        addrs = sorted(x.get("address") for x in st.findall("Control"))
        check_eq(addrs, sorted(["127.0.0.1:%d" % port2, d.socket_path]), "Control addresses")
        # The refused socket is closed: nothing listens on that port any more.
        s = socket.socket()
        try:
            r = s.connect_ex(("127.0.0.1", port))
        finally:
            s.close()
        check_eq(r, 111, "connect to the refused 0.0.0.0 port (ECONNREFUSED)")
        d.stop()


@test
def socket_activation_ipv6_loopback_only():
    if not have_ipv6_loopback():
        raise Skip("no IPv6 loopback on this host")
    port, wild = free_port("::1"), free_port("::1")
    d = Daemon(control_port=None, allow_errors=[r"refusing inherited socket \[::\]:%d"
                                                % wild])
    os.mkdir(d.runtime_dir, 0o700)
    d.activate = ["[::1]:%d" % port, "[::]:%d" % wild, d.socket_path]
    with running(d, start=False):
        d.spawn()
        for a in d.activate:
            d.wait_log(r"^Listening on %s as \d+\.$" % re.escape(a))
        with Client.tcp(port, "::1") as c:
            d.wait_notify("READY=1")
            st, _ = status_of(c)
            addrs = sorted(x.get("address") for x in st.findall("Control"))
            check_eq(addrs, sorted(["[::1]:%d" % port, d.socket_path]), "Control addresses")
        d.wait_log(r"^<3>control: refusing inherited socket \[::\]:%d: not a loopback" % wild)
        d.stop()


if __name__ == "__main__":
    main()
