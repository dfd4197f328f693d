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
import subprocess

import dnstest as locate
from sipsvctest import check, check_eq, main, test

BUILDDIR = os.environ.get("BUILDDIR", ".")
PROG = os.path.join(BUILDDIR, "tests", "integration", "sip-cancel")
WRAP = []
if shutil.which("valgrind") and os.environ.get("SIP_SANITIZERS") != "yes":
    WRAP = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite"]


def run_cancel(uri, scenario, port, transport="u1", env=None):
    uas = locate.Sipp(scenario, port, transport)
    try:
        me = subprocess.run(WRAP + [PROG, uri] + (["tcp"] if transport == "t1" else []),
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
    port = locate.unused_port()
    with locate.Dnsmasq([locate.srv("_sip._udp.cancel.example", "callee.cancel.example",
                                    port, 1),
                         "--host-record=callee.cancel.example,127.0.0.1"]) as dns:
        out = run_cancel("sip:bob@cancel.example", "uas-cancel-487.xml", port,
                         env={"SIP_DNS": "127.0.0.1:%d" % dns.port})
    check_eq(out[0], "failed 487", "the located INVITE's end")
    check(out, "output")


if __name__ == "__main__":
    main()
