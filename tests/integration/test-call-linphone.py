#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""linphonec as a device driven by the softphone wrapper: the daemon starts linphonec
on demand on its own loopback port, calls it in loop mode (it answers by itself, -a),
carries its SDP to a SIPp target and the target's answer back (RFC 3725), and the
target's BYE ends both legs. At shutdown the wrapper stops linphonec."""

import os
import re
import time

import calltest as callpeers
from sipsvctest import check, check_eq, main, need_program, running, test, Daemon

CONFIG = ("<sipsvc><identity uri=\"sip:me@127.0.0.1\"/><calls answer-timeout=\"20\"/>"
          "<device id=\"lin\" wrapper=\"softphone\" mode=\"loop\" default=\"true\">"
          "<param name=\"program\" value=\"linphonec\"/></device></sipsvc>")


def linphonec_pids(parent):
    """Pids of linphonec processes whose parent is @parent."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if name.startswith("linphonec") and ppid == parent:
            out.append(int(pid))
    return out


@test
def linphonec_answers_a_loop_mode_call():
    need_program("linphonec")
    tgt = callpeers.Peer("call-target.xml", [("hangup", "yes")])
    try:
        d = Daemon(config=CONFIG)
        with running(d):
            with d.unix_client() as c:
                ok, _ = c.request('<Subscribe events="call"/>')
                check_eq(ok.tag, "Ok", "subscribed")
                callpeers.join(c, tgt.uri, "lin")
                evs = callpeers.events_until_end(c, timeout=40)
            if evs[-1].get("reason") != "remote-bye":
                print(d.log()[-5000:])
            check(["trying", "connected"] == [s for s in callpeers.legs(evs, "device")
                                               if s in ("trying", "connected")],
                  "linphonec answered: %r" % evs)
            check("connected" in callpeers.legs(evs, "remote"), "the target answered")
            check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "remote-bye"),
                     "the target's BYE ended the call")
            check_eq(tgt.wait(), 0, "the SIPp target saw the whole call")
            inv = tgt.received("INVITE")
            check(inv and callpeers.media_port(inv[0]), "the target got linphonec's offer")
            pids = linphonec_pids(d.proc.pid)
            check_eq(len(pids), 1, "the wrapper started one linphonec")
        deadline = time.monotonic() + 10
        while any(os.path.exists("/proc/%d" % p) and
                  not re.search(r"^State:\s+Z", open("/proc/%d/status" % p).read(), re.M)
                  for p in pids):
            check(time.monotonic() < deadline, "linphonec stopped with the daemon")
            time.sleep(0.05)
    finally:
        tgt.close()


if __name__ == "__main__":
    main()
