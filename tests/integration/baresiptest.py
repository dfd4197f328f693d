# SPDX-License-Identifier: LGPL-2.1-or-later
"""baresip as a real peer for the call tests: on a loopback port of its own, answering
by itself, playing a sound file and recording what it hears (the sndfile module writes
snd_path/dump-TIME-dec.wav; aubridge's sink is the player, there is no sound card)."""

import array
import math
import os
import shutil
import subprocess
import tempfile
import wave

import calltest
from sipsvctest import check, check_eq, need_program

RATE = 8000  # G.711


def sine(hz, seconds):
    """16-bit mono samples of a sine at a third of full scale."""
    return array.array("h", (int(10000 * math.sin(2 * math.pi * hz * i / RATE))
                             for i in range(RATE * seconds))).tobytes()


def level(value, seconds):
    """16-bit mono samples at a constant level."""
    return array.array("h", [value] * RATE * seconds).tobytes()


class Baresip:
    """baresip playing @pcm (16-bit mono at 8 kHz; it hangs up when the sound ends)."""

    def __init__(self, user="dev", pcm=None):
        need_program("baresip")
        self.dir = tempfile.mkdtemp(prefix="sipsvc-baresip-")
        self.port = calltest.free_udp()
        self.user = user
        tone = os.path.join(self.dir, "tone.wav")
        with wave.open(tone, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm if pcm is not None else level(0x1000, 20))
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("sip_listen 127.0.0.1:%d\n"
                    "net_interface 127.0.0.1\n"
                    "module_path /usr/lib/baresip/modules\n"
                    "module account.so\n"
                    "module menu.so\n"  # acts on a REFER (UA_EVENT_CALL_TRANSFER)
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
        calltest.wait_udp_bound(self.port, self.proc, "baresip")
        if self.proc.poll() is not None:
            out = self.output()
            self.close()
            check(False, "baresip runs: %s" % out)

    @property
    def uri(self):
        return "sip:%s@127.0.0.1:%d" % (self.user, self.port)

    def dumps(self):
        """The sndfile module's recordings of what the calls decoded."""
        return sorted(os.path.join(self.dir, f) for f in os.listdir(self.dir)
                      if f.startswith("dump-") and f.endswith("-dec.wav"))

    def recorded_bytes(self):
        return sum(os.path.getsize(f) for f in self.dumps())

    def samples(self):
        """Everything recorded; stops baresip first, which finishes the WAV headers."""
        self.stop()
        out = array.array("h")
        for f in self.dumps():
            with wave.open(f, "rb") as w:
                check_eq((w.getsampwidth(), w.getnchannels()), (2, 1), "16-bit mono dump")
                out.frombytes(w.readframes(w.getnframes()))
        return out

    def stop(self):
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


def start_baresip(tries=3, **kw):
    """A running Baresip; the free port it was given may be taken by a parallel test
    before it binds: then another one is tried."""
    for i in range(tries):
        try:
            return Baresip(**kw)
        except Exception:
            if i == tries - 1:
                raise
    return None
