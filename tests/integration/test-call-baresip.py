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

import array
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
import wave

import calltest as callpeers
from sipsvctest import check, check_eq, main, need_program, running, test, Daemon


def start_baresip(tries=3, **kw):
    """A running Baresip; the free port it was given may be taken again by the time it
    binds (parallel tests), so it is tried again on another one."""
    for i in range(tries):
        try:
            return Baresip(**kw)
        except Exception:
            if i == tries - 1:
                raise


class Baresip:
    """baresip on a loopback port, auto-answering, from a private config dir."""

    def __init__(self, tone_hz=None):
        need_program("baresip")
        self.dir = tempfile.mkdtemp(prefix="sipsvc-baresip-")
        self.port = callpeers.free_udp()
        tone = os.path.join(self.dir, "tone.wav")
        with wave.open(tone, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            # baresip hangs up when its source ends: 20 s is longer than any test.
            w.writeframes(sine(tone_hz, 20) if tone_hz else b"\x00\x10" * RATE * 20)
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("sip_listen 127.0.0.1:%d\n"
                    "net_interface 127.0.0.1\n"
                    "module_path /usr/lib/baresip/modules\n"
                    "module account.so\n"
                    "module menu.so\n"  # acts on the REFER (UA_EVENT_CALL_TRANSFER)
                    "module g711.so\n"
                    "module aufile.so\n"
                    "module alsa.so\n"
                    # sndfile writes what the far end sent, decoded, to
                    # snd_path/dump-TIME-dec.wav; alsa's null device plays it.
                    "module sndfile.so\n"
                    "snd_path %s\n"
                    "audio_source aufile,%s\n"
                    "audio_player alsa,null\n"
                    % (self.port, self.dir, tone))
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write("<sip:dev@127.0.0.1:%d>;regint=0;answermode=auto\n" % self.port)
        self.log = open(os.path.join(self.dir, "baresip.log"), "w+")
        self.proc = subprocess.Popen(["baresip", "-s", "-f", self.dir], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        callpeers.wait_udp_bound(self.port, self.proc, "baresip")
        if self.proc.poll() is not None:
            print(self.output())
            self.close()
        check(self.proc.poll() is None, "baresip runs")

    @property
    def uri(self):
        return "sip:dev@127.0.0.1:%d" % self.port

    @property
    def received(self):
        """The WAV of what the far end sent (sndfile's "-dec" dump), or a path that does
        not exist yet."""
        dumps = [f for f in os.listdir(self.dir) if f.endswith("-dec.wav")]
        return os.path.join(self.dir, dumps[0] if dumps else "none-dec.wav")

    def stop(self):
        """End baresip, which closes (completes) its recording."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.stop()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-int(os.environ.get("BARESIP_LOG_TAIL", "3000")):]


RATE = 8000


def sine(hz, seconds):
    """16-bit little-endian mono samples of a sine at a third of full scale."""
    return array.array("h", (int(10000 * math.sin(2 * math.pi * hz * i / RATE))
                             for i in range(RATE * seconds))).tobytes()


def samples(path):
    """The PCM samples of a WAV baresip's aufile wrote, read up to the end of the file
    whatever its header says (the header is finished only when the player closes)."""
    with open(path, "rb") as f:
        data = f.read()
    at = data.find(b"data")
    check(at > 0, "%s is a WAV file" % path)
    pcm = data[at + 8:]
    return array.array("h", pcm[:len(pcm) // 2 * 2])


def power(xs, hz):
    """Goertzel: the signal's power at hz."""
    k = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for x in xs:
        s1, s2 = x + k * s1 - s2, s1
    return s1 * s1 + s2 * s2 - k * s1 * s2


def dominant_tone(path, candidates):
    """The candidate frequency with the most power over the loud part of the recording,
    and how many times it beats the next one."""
    xs = samples(path)
    loud = [x for x in xs if abs(x) > 500]
    check(len(loud) > RATE, "%s holds over a second of sound (%d loud samples of %d)"
          % (path, len(loud), len(xs)))
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
        dev = start_baresip(tone_hz=1000)
        tgt = start_baresip(tone_hz=600)
        cfg = callpeers.config([callpeers.sip_device(
            "soft", dev.uri, "loop", '<param name="auto-answer" value="true"/>')])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                ok, _ = c.request('<Subscribe events="call"/>')
                check_eq(ok.tag, "Ok", "subscribed to call events")
                call = callpeers.join(c, tgt.uri, "soft")
                # Three seconds of sound at both ends, whatever the scheduling.
                deadline = time.monotonic() + 20
                while not all(os.path.exists(p.received) and
                              os.path.getsize(p.received) > 3 * 2 * RATE
                              for p in (dev, tgt)):
                    check(time.monotonic() < deadline, "both ends record sound: %r" %
                          [os.listdir(p.dir) for p in (dev, tgt)])
                    time.sleep(0.1)
                ok, line = c.request('<Hangup call="%s"/>' % call)
                check_eq(ok.tag, "Ok", "Hangup answered Ok: %s" % line)
                evs = callpeers.events_until_end(c, timeout=15)
                check_eq(evs[-1]["state"], "ended", "the call ended: %r" % evs)
        dev.stop()
        tgt.stop()
        hz, margin = dominant_tone(tgt.received, (600, 1000, 1400))
        check_eq(hz, 1000, "the target hears the device's 1 kHz tone")
        check(margin > 10, "clearly (%.1f times the next frequency)" % margin)
        hz, margin = dominant_tone(dev.received, (600, 1000, 1400))
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
