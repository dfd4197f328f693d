#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The dialog layer (tests/integration/sip-dialog, linking the SIP layer) against SIPp
in both roles, over UDP and TCP: INVITE/200/ACK/BYE/200. Then with SIPp losing 10 %
of the 200s and ACKs over UDP (tests/sipp/u*-lossy.xml): 2xx retransmission and ACK
matching (RFC 3261 13.3.1.4), re-ACK of retransmitted 2xx (13.2.2.4). No object may
leak."""

import os
import shutil
import socket
import subprocess
import time

import siptest as t

PROG = os.path.join(t.TOP_BUILDDIR, "tests", "integration", "sip-dialog")
# Under valgrind when possible: memory errors and definite leaks fail the run.
WRAP = []
if shutil.which("valgrind") and os.environ.get("SIP_SANITIZERS") != "yes":
    WRAP = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite"]
SCEN_TMP = "/tmp"


def sipp_builtin(scen, port_or_target, transport, calls, extra=()):
    """-sn SCEN for a built-in scenario, or tests/sipp/SCEN.xml if it exists."""
    path = os.path.join(t.SCENARIOS, scen + ".xml")
    args = [t.SIPP] + (["-sf", path] if os.path.exists(path) else ["-sn", scen]) + [ "-t", transport, "-i", "127.0.0.1", "-m", str(calls),
            "-nostdin", "-timeout", "90", "-timeout_error", "-trace_err"] + list(extra)
    return args + ([port_or_target] if isinstance(port_or_target, str) else
                   ["-p", str(port_or_target)])


def uac_role(transport, calls, extra=(), scen="uas"):
    kind = socket.SOCK_DGRAM if transport == "u1" else socket.SOCK_STREAM
    port = t.free_port(kind=kind)
    peer = t.reap(subprocess.Popen(sipp_builtin(scen, port, transport, calls, extra),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=SCEN_TMP))
    time.sleep(0.5)
    me = subprocess.run(WRAP + [PROG, "uac", str(port), str(calls)] +
                        (["tcp"] if transport == "t1" else []),
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    try:
        out, _ = peer.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        peer.kill()
        out, _ = peer.communicate()
    print(me.stdout.decode().strip())
    if me.returncode or peer.returncode:
        print(out.decode(errors="replace")[-2000:])
    return me.returncode == 0 and peer.returncode == 0


def uas_role(transport, calls, extra=(), scen="uac"):
    me = t.reap(subprocess.Popen(WRAP + [PROG, "uas"] + (["tcp"] if transport == "t1" else []),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    port = int(me.stdout.readline())
    peer = subprocess.run(sipp_builtin(scen, "127.0.0.1:%d" % port, transport, calls,
                                       ["-r", "10", "-p", str(t.free_port(
                                           kind=socket.SOCK_DGRAM if transport == "u1"
                                           else socket.SOCK_STREAM))] + list(extra)),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=150,
                          cwd=SCEN_TMP)
    time.sleep(0.5)
    me.terminate()
    out, _ = me.communicate(timeout=30)
    print(out.decode().strip())
    if me.returncode or peer.returncode:
        print(peer.stdout.decode(errors="replace")[-2000:])
    return me.returncode == 0 and peer.returncode == 0


if not os.path.exists(PROG):
    t.fail("sip-dialog not built (make check builds it)")
for tr, name in (("u1", "UDP"), ("t1", "TCP")):
    t.check(uac_role(tr, 5), "UAC: 5 calls to SIPp's uas over %s (INVITE, ACK, BYE)" % name)
    t.check(uas_role(tr, 5), "UAS: 5 calls from SIPp's uac over %s (200, ACK, BYE)" % name)
t.check(uas_role("u1", 20, scen="uac-lossy"),
        "UAS: 20 calls from SIPp losing 10 % of our 200s and of its ACKs over UDP")
t.check(uac_role("u1", 20, scen="uas-lossy"),
        "UAC: 20 calls to SIPp losing 10 % of its 200s and of our ACKs over UDP")
