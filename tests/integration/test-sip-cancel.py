#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""CANCEL of our own INVITE (RFC 3261 9.1) through the dialog layer
(tests/integration/sip-cancel, linking the SIP layer) against SIPp: asked at once, the
CANCEL waits for the first provisional response; the INVITE then ends with 487 (ACKed);
a 200 that crosses the CANCEL is ACKed and the call hung up with BYE. Also with the
callee located by DNS (dnsmasq, RFC 3263), where the INVITE's transaction exists only
once the target is known. Nothing may leak."""

import os
import shutil
import socket
import subprocess

import dnstest as locate
from sipsvctest import check_eq, main, test

BUILDDIR = os.environ.get("BUILDDIR", ".")
PROG = os.path.join(BUILDDIR, "tests", "integration", "sip-cancel")
WRAP = []
if shutil.which("valgrind") and os.environ.get("SIP_SANITIZERS") != "yes":
    WRAP = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite"]


def run_cancel(uri, scenario, port, transport="u1", env=None, args=None):
    """Run sip-cancel on @uri against SIPp's @scenario; @args: its options (default
    "tcp" for a TCP SIPp)."""
    uas = locate.Sipp(scenario, port, transport)
    if args is None:
        args = ["tcp"] if transport == "t1" else []
    try:
        me = subprocess.run(WRAP + [PROG, uri] + args,
                            capture_output=True, text=True, timeout=90,
                            env=dict(os.environ, **(env or {})))
        check_eq(me.returncode, 0, "sip-cancel (%s%s)" % (me.stdout, me.stderr[-800:]))
        uas.finished_ok(scenario)
        return me.stdout.split("\n")
    finally:
        uas.kill()


@test
def a_cancel_waits_for_the_provisional_and_the_invite_ends_487():
    for transport in ("u1", "t1"):
        port = locate.unused_port()
        out = run_cancel("sip:bob@127.0.0.1:%d" % port, "uas-cancel-487.xml", port, transport)
        check_eq(out[0], "failed 487", "the INVITE's end over %s" % transport)


@test
def a_200_crossing_the_cancel_is_acked_and_hung_up():
    port = locate.unused_port()
    out = run_cancel("sip:bob@127.0.0.1:%d" % port, "uas-cancel-race.xml", port)
    check_eq(out[:2], ["established", "terminated 200"], "ACK then BYE answered")


@test
def a_located_invite_is_cancelled_at_its_located_address():
    """The CANCEL is asked for at the first provisional response, the first moment the
    located INVITE's transaction is known to the dialog."""
    port = locate.unused_port()
    with locate.Dnsmasq([locate.srv("_sip._udp.cancel.example", "callee.cancel.example",
                                    port, 1),
                         "--host-record=callee.cancel.example,127.0.0.1"]) as dns:
        out = run_cancel("sip:bob@cancel.example", "uas-cancel-487.xml", port,
                         env={"SIP_DNS": "127.0.0.1:%d" % dns.port, "SIP_CANCEL_ON_RING": "1"})
    check_eq(out[0], "failed 487", "the located INVITE's end")


@test
def a_located_invite_over_tcp_keeps_tcp_for_ack_and_bye():
    """The callee has only _sip._tcp records: the INVITE goes over TCP although the
    caller did not ask for it, and so must the ACK and BYE of the 200 crossing the
    CANCEL (SIPp listens on TCP only)."""
    port = locate.unused_port()
    with locate.Dnsmasq([locate.srv("_sip._tcp.tcponly.example", "callee.tcponly.example",
                                    port, 1),
                         "--host-record=callee.tcponly.example,127.0.0.1"]) as dns:
        out = run_cancel("sip:bob@tcponly.example", "uas-cancel-race.xml", port, "t1",
                         env={"SIP_DNS": "127.0.0.1:%d" % dns.port, "SIP_CANCEL_ON_RING": "1"},
                         args=[])
    check_eq(out[:2], ["established", "terminated 200"], "ACK then BYE answered over TCP")


@test
def an_invite_cancelled_while_located_is_never_sent():
    """Cancelled before its target is known: no server gets it, none after a failure
    either; it ends with 487 at once."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.5)
        records = [locate.srv("_sip._udp.early.example", "t%d.early.example" % i,
                              s.getsockname()[1], i) for i, s in enumerate(socks)]
        records += ["--host-record=t%d.early.example,127.0.0.1" % i for i in range(2)]
        with locate.Dnsmasq(records) as dns:
            me = subprocess.run(WRAP + [PROG, "sip:bob@early.example"], capture_output=True,
                                text=True, timeout=60,
                                env=dict(os.environ, SIP_DNS="127.0.0.1:%d" % dns.port))
        check_eq(me.returncode, 0, "sip-cancel (%s%s)" % (me.stdout, me.stderr[-800:]))
        check_eq(me.stdout.split("\n")[0], "failed 487", "the INVITE's end")
        for i, s in enumerate(socks):
            try:
                data = s.recv(65536)
            except socket.timeout:
                data = None
            check_eq(data, None, "what target %d got" % i)
    finally:
        for s in socks:
            s.close()


if __name__ == "__main__":
    main()
