#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""SameDeviceJoin with real audio: three baresip instances on loopback, each playing a
file and recording what it hears (aufile as the source, the sndfile module recording). The device (loop mode) calls target A; once
A has recorded a second of the device's tone, SameDeviceJoin moves the call to target
B (INVITEd without an offer; the device gets a re-INVITE with B's SDP). B must then
record the device's tone as well, while the device's call stays up until the Hangup:
its only dialog ends with the Hangup's BYE."""

import array
import os
import shutil
import subprocess
import tempfile
import time
import wave

import calltest as callpeers
from sipsvctest import (Daemon, check, check_eq, main, need_program, running, test,
                        wait_for, xsd_validate)

RATE = 8000
DEVICE_LEVEL = 0x1000  # the device's tone: a constant level, easy to find again


class Baresip:
    """baresip on a loopback port, auto-answering, playing @level; the sndfile module
    records what it decodes."""

    def __init__(self, user, level):
        need_program("baresip")
        self.dir = tempfile.mkdtemp(prefix="sipsvc-baresip-")
        self.port = callpeers.free_udp()
        self.user = user
        tone = os.path.join(self.dir, "tone.wav")
        with wave.open(tone, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(array.array("h", [level] * RATE * 60).tobytes())
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("sip_listen 127.0.0.1:%d\n"
                    "net_interface 127.0.0.1\n"
                    "module_path /usr/lib/baresip/modules\n"
                    "module account.so\n"
                    "module g711.so\n"
                    "module aufile.so\n"
                    "module aubridge.so\n"
                    "module sndfile.so\n"
                    "snd_path %s\n"
                    "audio_source aufile,%s\n"
                    "audio_player aubridge,sink\n" % (self.port, self.dir, tone))
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write("<sip:%s@127.0.0.1:%d>;regint=0;answermode=auto\n" % (user, self.port))
        self.log = open(os.path.join(self.dir, "baresip.log"), "w+")
        self.proc = subprocess.Popen(["baresip", "-f", self.dir], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.listening() or self.proc.poll() is not None, 10,
                 "baresip listening")
        if self.proc.poll() is not None:
            out = self.output()
            self.close()
            check(False, "baresip runs: %s" % out)

    def listening(self):
        port = "%04X" % self.port
        with open("/proc/net/udp") as f:
            return any(line.split()[1].endswith(":" + port) for line in f.readlines()[1:])

    @property
    def uri(self):
        return "sip:%s@127.0.0.1:%d" % (self.user, self.port)

    def dumps(self):
        """The sndfile module's recordings of what the call decoded (one per stream)."""
        return sorted(os.path.join(self.dir, f) for f in os.listdir(self.dir)
                      if f.startswith("dump-") and f.endswith("-dec.wav"))

    def recorded_bytes(self):
        return sum(os.path.getsize(f) for f in self.dumps())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def samples(self):
        """The recorded samples (the wav headers are finished when baresip stops)."""
        self.stop()
        out = array.array("h")
        for f in self.dumps():
            with wave.open(f, "rb") as w:
                check_eq((w.getsampwidth(), w.getnchannels()), (2, 1), "16-bit mono dump")
                out.frombytes(w.readframes(w.getnframes()))
        return out

    def close(self):
        self.stop()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]


def start_baresip(user, level, tries=3):
    """A running Baresip; the free port it was given (and the TCP and TLS ones next to
    it) may be taken by a parallel test before it binds: then another one is tried."""
    for i in range(tries):
        try:
            return Baresip(user, level)
        except Exception:
            if i == tries - 1:
                raise


def tone_seconds(samples):
    """Seconds of the device's tone in @samples (G.711 keeps the level within 3 %)."""
    near = [s for s in samples if abs(s - DEVICE_LEVEL) < DEVICE_LEVEL * 0.03]
    return len(near) / RATE


def wait_call(c, pred, timeout=20):
    while True:
        el, line = c.recv_xml(timeout)
        xsd_validate(line)
        if el.tag == "Event" and el.get("type") == "call":
            check(not (el.get("leg") == "device" and el.get("state") in ("ended", "failed")),
                  "the device leg stays up: %s" % line)
            if pred(el.attrib):
                return


@test
def device_audio_moves_from_a_to_b():
    peers = []
    try:
        dev = start_baresip("dev", DEVICE_LEVEL)
        peers.append(dev)
        a = start_baresip("a", 0)
        peers.append(a)
        b = start_baresip("b", 0)
        peers.append(b)
        second = 44 + RATE * 2  # one second of 16-bit mono after the header
        cfg = callpeers.config([callpeers.sip_device("soft", dev.uri, "loop")])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                call = callpeers.join(c, a.uri, "soft")
                wait_call(c, lambda e: e.get("leg") is None and e["state"] == "connected")
                wait_for(lambda: a.recorded_bytes() > 2 * second, 15, "A hears the device")
                t0 = time.monotonic()
                ok, line = c.request('<SameDeviceJoin ref="s" id="%s"/>' % b.uri)
                check_eq((ok.tag, ok.get("call")), ("Ok", call), "switch: %s" % line)
                wait_call(c, lambda e: e.get("reason") == "switched" and
                          e["state"] == "connected")
                print("switch: %.0f ms from the request to the new far end connected"
                      % ((time.monotonic() - t0) * 1000))
                wait_for(lambda: b.recorded_bytes() > 2 * second, 15, "B hears the device")
                ok, line = c.request("<Calls/>")
                legs = {l.get("leg"): l for l in ok.find("Call").findall("Leg")}
                check_eq((legs["device"].get("state"), legs["remote"].get("uri")),
                         ("connected", b.uri), "the device is still on the call, with B")
                c.request("<Hangup/>")
                evs = callpeers.events_until_end(c)
                check_eq(evs[-1].get("reason"), "hangup", "the Hangup ended the call")
            at_a, at_b = tone_seconds(a.samples()), tone_seconds(b.samples())
            print("device tone recorded: %.1f s at A, %.1f s at B" % (at_a, at_b))
            check(at_a >= 1.0, "A recorded the device before the switch (%.1f s)" % at_a)
            check(at_b >= 1.0, "B recorded the device after the switch (%.1f s)" % at_b)
    finally:
        for p in peers:
            p.close()


if __name__ == "__main__":
    main()
