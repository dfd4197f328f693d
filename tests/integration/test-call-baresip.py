#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""baresip as a real transfer-mode device (RFC 3515): the daemon INVITEs it (it
auto-answers), sends it an in-dialog REFER to a SIPp target, and baresip itself
INVITEs the target (SIPp checks that an offer arrives and answers); baresip's refer
NOTIFYs report the 200, so the call is transferred and the daemon BYEs its own dialog
(RFC 5589). The target then hangs up on baresip. An out-of-dialog REFER with
Refer-Sub: false (RFC 4488) is refused by baresip 1.0 (501): the call fails."""

import os
import shutil
import subprocess
import tempfile
import time
import wave

import calltest as callpeers
from sipsvctest import check, check_eq, main, need_program, running, test, Daemon


def start_baresip(tries=3):
    """A running Baresip; the free port it was given may be taken again by the time it
    binds (parallel tests), so it is tried again on another one."""
    for i in range(tries):
        try:
            return Baresip()
        except Exception:
            if i == tries - 1:
                raise


class Baresip:
    """baresip on a loopback port, auto-answering, from a private config dir."""

    def __init__(self):
        need_program("baresip")
        self.dir = tempfile.mkdtemp(prefix="sipsvc-baresip-")
        self.port = callpeers.free_udp()
        tone = os.path.join(self.dir, "tone.wav")
        with wave.open(tone, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\x00\x10" * 8000 * 20)  # baresip hangs up at its end
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("sip_listen 127.0.0.1:%d\n"
                    "net_interface 127.0.0.1\n"
                    "module_path /usr/lib/baresip/modules\n"
                    "module account.so\n"
                    "module menu.so\n"  # acts on the REFER (UA_EVENT_CALL_TRANSFER)
                    "module g711.so\n"
                    "module aufile.so\n"
                    "audio_source aufile,%s\n"
                    "audio_player aufile,%s\n"
                    % (self.port, tone, os.path.join(self.dir, "received.wav")))
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write("<sip:dev@127.0.0.1:%d>;regint=0;answermode=auto\n" % self.port)
        self.log = open(os.path.join(self.dir, "baresip.log"), "w+")
        self.proc = subprocess.Popen(["baresip", "-s", "-f", self.dir], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        time.sleep(1.0)
        if self.proc.poll() is not None:
            print(self.output())
            self.close()
        check(self.proc.poll() is None, "baresip runs")

    @property
    def uri(self):
        return "sip:dev@127.0.0.1:%d" % self.port

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-int(os.environ.get("BARESIP_LOG_TAIL", "3000")):]


def transfer_through_baresip(param):
    tgt = callpeers.Peer("call-target.xml", [("hangup", "yes")])
    bs = None
    try:
        bs = start_baresip()
        cfg = callpeers.config([callpeers.sip_device("soft", bs.uri, "transfer", param)])
        with running(Daemon(config=cfg, args=["--log-level", "debug"])) as d:
            with d.unix_client() as c:
                callpeers.join(c, tgt.uri, "soft")
                evs = callpeers.events_until_end(c, timeout=30)
            if evs[-1].get("reason") != "transferred":
                print(bs.output())
                print(d.log()[-5000:])
            check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "transferred"),
                     "the call was transferred: %r" % evs)
            rc = tgt.wait()
            if rc:
                print(bs.output())
            check_eq(rc, 0, "baresip INVITEd the SIPp target itself, with an offer")
            inv = tgt.received("INVITE")
            check(inv and "dev@127.0.0.1" in inv[0], "the target's INVITE comes from baresip")
    finally:
        tgt.close()
        if bs:
            bs.close()


@test
def baresip_transfers_to_the_target():
    """In-dialog REFER after baresip answered (RFC 3515)."""
    transfer_through_baresip('<param name="auto-answer" value="true"/>')


@test
def baresip_refuses_an_out_of_dialog_refer():
    """baresip 1.0 answers an out-of-dialog REFER (RFC 4488, Refer-Sub: false) with 501:
    the call fails with that status and the error says loop mode would work."""
    bs = start_baresip()
    try:
        cfg = callpeers.config([callpeers.sip_device(
            "soft", bs.uri, "transfer", '<param name="refer-nosub" value="true"/>')])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                callpeers.join(c, "sip:bob@127.0.0.1:9", "soft")
                evs = callpeers.events_until_end(c, timeout=30)
            check_eq((evs[-1]["state"], evs[-1].get("sip-status")), ("failed", "501"),
                     "baresip's 501 fails the call: %r" % evs)
            check("loop" in evs[-1].get("reason", ""), "the reason points to loop mode")
    finally:
        bs.close()


if __name__ == "__main__":
    main()
