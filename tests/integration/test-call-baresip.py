#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""baresip as a real device. Transfer mode (RFC 3515): the daemon INVITEs it (it
auto-answers), sends it an in-dialog REFER to a SIPp target, and baresip itself
INVITEs the target (SIPp checks that an offer arrives and answers); baresip's refer
NOTIFYs report the 200, so the call is transferred and the daemon BYEs its own dialog
(RFC 5589). The target then hangs up on baresip. An out-of-dialog REFER with
Refer-Sub: false (RFC 4488) is refused by baresip 1.0 (501): the call fails.
Loop mode (RFC 3725): one baresip as the device, another as the target, each playing
its own tone and recording what it hears; each recording holds the other's tone, so
media flows end to end on the SDP the service carried."""

import math
import os
import signal
import time

import calltest as callpeers
from baresiptest import RATE, sine, start_baresip
from sipsvctest import check, check_eq, main, need_program, running, test, Daemon


def power(xs, hz):
    """Goertzel: the signal's power at hz."""
    k = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for x in xs:
        s1, s2 = x + k * s1 - s2, s1
    return s1 * s1 + s2 * s2 - k * s1 * s2


def dominant_tone(xs, candidates):
    """The candidate frequency with the most power over the loud part of a recording,
    and how many times it beats the next one."""
    loud = [x for x in xs if abs(x) > 500]
    check(len(loud) > RATE, "the recording holds over a second of sound (%d loud samples "
          "of %d)" % (len(loud), len(xs)))
    first = xs.tolist().index(loud[0])
    window = xs[first:first + 2 * RATE]
    p = sorted(((power(window, hz), hz) for hz in candidates), reverse=True)
    return p[0][1], p[0][0] / max(p[1][0], 1.0)


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


@test
def audio_flows_in_loop_mode():
    """RFC 3725 flow I with an auto-answering device: the device's offer reaches the
    target, the target's answer reaches the device, and RTP flows between them."""
    dev = tgt = None
    try:
        dev = start_baresip(pcm=sine(1000, 20))
        tgt = start_baresip(user="tgt", pcm=sine(600, 20))
        cfg = callpeers.config([callpeers.sip_device(
            "soft", dev.uri, "loop", '<param name="auto-answer" value="true"/>')])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                ok, _ = c.request('<Subscribe events="call"/>')
                check_eq(ok.tag, "Ok", "subscribed to call events")
                call = callpeers.join(c, tgt.uri, "soft")
                # Three seconds of sound at both ends, whatever the scheduling.
                deadline = time.monotonic() + 20
                while not all(p.recorded_bytes() > 3 * 2 * RATE for p in (dev, tgt)):
                    check(time.monotonic() < deadline, "both ends record sound: %r" %
                          [os.listdir(p.dir) for p in (dev, tgt)])
                    time.sleep(0.1)
                ok, line = c.request('<Hangup call="%s"/>' % call)
                check_eq(ok.tag, "Ok", "Hangup answered Ok: %s" % line)
                evs = callpeers.events_until_end(c, timeout=15)
                check_eq(evs[-1]["state"], "ended", "the call ended: %r" % evs)
        hz, margin = dominant_tone(tgt.samples(), (600, 1000, 1400))
        check_eq(hz, 1000, "the target hears the device's 1 kHz tone")
        check(margin > 10, "clearly (%.1f times the next frequency)" % margin)
        hz, margin = dominant_tone(dev.samples(), (600, 1000, 1400))
        check_eq(hz, 600, "the device hears the target's 600 Hz tone")
        check(margin > 10, "clearly (%.1f times the next frequency)" % margin)
    finally:
        for p in (dev, tgt):
            if p:
                p.close()


@test
def reload_removing_the_device_of_a_starting_call():
    """SIGHUP with a config that no longer has the call's device, while the softphone
    wrapper is still starting baresip for it: the call keeps its device until it
    ends (no use of a closed device), then the device is closed and baresip stopped."""
    need_program("baresip")
    tgt = callpeers.Peer("call-target.xml", [("hangup", "yes")])
    try:
        cfg = ('<sipsvc><identity uri="sip:me@127.0.0.1"/><calls answer-timeout="20"/>'
               '<device id="soft" wrapper="softphone" mode="loop" default="true">'
               '<param name="audio-source" value="alsa,null"/>'
               '<param name="audio-player" value="alsa,null"/></device></sipsvc>')
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                ok, _ = c.request('<Subscribe events="call"/>')
                check_eq(ok.tag, "Ok", "subscribed")
                callpeers.join(c, tgt.uri, "soft")
                d.write_config('<sipsvc><identity uri="sip:me@127.0.0.1"/></sipsvc>')
                mark = d.log_mark()
                d.signal(signal.SIGHUP)
                d.wait_log(r"configuration reloaded \(0 devices\)", start=mark)
                evs = callpeers.events_until_end(c, timeout=40)
            if evs[-1].get("reason") != "remote-bye":
                for root, _, files in os.walk(d.tmp):
                    for f in files:
                        if f == "softphone.log":
                            print(open(os.path.join(root, f), errors="replace").read()[-3000:])
            check("connected" in callpeers.legs(evs, "device"),
                  "the removed device still took the call: %r" % evs)
            check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "remote-bye"),
                     "the call ended normally")
            deadline = time.monotonic() + 10
            while any(p for p in os.listdir("/proc") if p.isdigit() and
                      is_child_baresip(int(p), d.proc.pid)):
                check(time.monotonic() < deadline, "baresip stopped with the call")
                time.sleep(0.05)
    finally:
        tgt.close()


def is_child_baresip(pid, parent):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2:].split()
    return stat[stat.index("(") + 1:stat.rindex(")")] == "baresip" and \
        int(fields[1]) == parent and fields[0] != "Z"


if __name__ == "__main__":
    main()
