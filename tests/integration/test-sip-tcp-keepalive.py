#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""TCP flows the daemon holds have TCP keep-alive on (30 s idle, 10 s interval, 3
probes), as the kernel reports it for the daemon's end of a connection (ss -o)."""

import re
import socket
import subprocess

from sipsvctest import Daemon, check, check_eq, main, running, status_of, test, wait_for


def sip_tcp_port(c):
    st, _ = status_of(c)
    for e in st.iter("Sip"):
        if e.get("transport") == "tcp" and e.get("address").startswith("0.0.0.0:"):
            return int(e.get("address").rsplit(":", 1)[1])
    raise AssertionError("no <Sip transport=tcp> on 0.0.0.0 in Status")


OPTIONS = ("OPTIONS sip:x@127.0.0.1:{port} SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:{me};branch=z9hG4bKka1\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
           "Call-ID: keepalive-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


def daemon_side_timer(port, peer_port):
    """The timer ss shows on the daemon's end (local port @port, peer @peer_port)."""
    out = subprocess.run(["ss", "-tnoH", "state", "established", "( sport = :%d )" % port],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if ":%d " % peer_port in line + " ":
            m = re.search(r"timer:\((\w+),([^,]+),", line)
            return m.groups() if m else ("none", line)
    return None


@test
def an_accepted_sip_flow_has_keepalive():
    with running(Daemon()) as d, d.unix_client() as c:
        port = sip_tcp_port(c)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            me = s.getsockname()[1]
            s.sendall(OPTIONS.format(port=port, me=me).encode())
            check(s.recv(4096).startswith(b"SIP/2.0 200"), "OPTIONS answered over TCP")
            timer = wait_for(lambda: daemon_side_timer(port, me), what="the daemon's end in ss")
            check_eq(timer[0], "keepalive", "timer on the daemon's end (%s)" % (timer,))
            # 30 s idle: the first probe is due within 30 s, not the kernel's 2 hours.
            secs = re.match(r"(?:(\d+)min)?(?:([\d.]+)sec)?", timer[1])
            due = int(secs.group(1) or 0) * 60 + float(secs.group(2) or 0)
            check(0 < due <= 30, "first probe due in %s" % timer[1])


if __name__ == "__main__":
    main()
