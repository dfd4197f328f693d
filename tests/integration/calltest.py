# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers of the call tests: SIPp UAS peers on loopback with their message traces,
configs with devices, Join and its events."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from sipsvctest import check, check_eq, need_program, xsd_validate

SIPP = shutil.which("sipp") or "sipp"
SCENARIOS = os.path.join(os.environ.get("top_srcdir", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "sipp")


def free_udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_bound(port):
    """Whether some socket is bound to UDP 127.0.0.1:port (/proc/net/udp: hex ip:port)."""
    want = ":%04X" % port
    with open("/proc/net/udp") as f:
        return any(line.split()[1].endswith(want) for line in list(f)[1:])


def wait_udp_bound(port, proc, what, timeout=10):
    """Wait until @proc listens on UDP @port; fails if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not udp_bound(port):
        check(time.monotonic() < deadline, "%s listens on %d" % (what, port))
        time.sleep(0.02)


def udp_bound_by(pid, port):
    """Whether process @pid holds a UDP socket bound to @port (/proc/net/udp and the
    process's fds: another process on the same port does not count)."""
    inodes = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add("socket:[%s]" % fields[9])
        except OSError:
            pass
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) in inodes:
                return True
        except OSError:
            pass
    return False


class Peer:
    """One SIPp UAS on loopback, with its message trace."""

    def __init__(self, scenario, sets=(), calls=1, tries=3):
        need_program("sipp")
        self.tmp = tempfile.mkdtemp(prefix="sipsvc-call-")
        self.trace = os.path.join(self.tmp, "messages.log")
        for attempt in range(tries):
            # The ports were free a moment ago; a parallel test may take one first, and
            # SIPp then exits: another pair is tried.
            self.port, self.mp = free_udp(), free_udp()
            args = [SIPP, "-sf", os.path.join(SCENARIOS, scenario), "-t", "u1",
                    "-i", "127.0.0.1", "-p", str(self.port), "-mp", str(self.mp),
                    "-nostdin", "-timeout", "40", "-timeout_error", "-trace_msg",
                    "-trace_err", "-message_file", self.trace]
            if calls:
                args += ["-m", str(calls)]
            for k, v in sets:
                args += ["-set", k, v]
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.tmp)
            deadline = time.monotonic() + 10
            while (self.proc.poll() is None and not udp_bound_by(self.proc.pid, self.port)
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            if self.proc.poll() is None:
                return
            if attempt == tries - 1:
                check(False, "SIPp %s did not start: %s" % (
                    scenario, self.proc.stdout.read().decode(errors="replace")[-2000:]))

    @property
    def uri(self):
        return "sip:%s@127.0.0.1:%d" % ("peer", self.port)

    def wait(self, timeout=45):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        if self.proc.returncode != 0:
            print(out.decode(errors="replace")[-3000:])
            print(self.messages()[-6000:])
            for f in os.listdir(self.tmp):
                if f.endswith("_errors.log"):
                    print(open(os.path.join(self.tmp, f), errors="replace").read()[-2000:])
        return self.proc.returncode

    def messages(self):
        try:
            with open(self.trace, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def received(self, method):
        """The texts of the requests of @method SIPp received."""
        parts = re.split(r"-{10,}.*\n", self.messages())
        return [p for p in parts if re.search(r"message received", p) and
                re.search(r"^%s " % method, p, re.M)]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def config(devices, timeout=20, max_calls=4):
    return ("<sipsvc><identity uri=\"sip:me@127.0.0.1\"/>"
            "<calls max=\"%d\" answer-timeout=\"%d\"/>%s</sipsvc>"
            % (max_calls, timeout, "".join(devices)))


def sip_device(id_, uri, mode, extra=""):
    return ('<device id="%s" wrapper="sip" uri="%s" mode="%s">%s</device>'
            % (id_, uri, mode, extra))


def events_until_end(c, timeout=30):
    """Every call event up to the final one (state ended/failed without leg=)."""
    out = []
    while True:
        el, line = c.recv_xml(timeout)
        xsd_validate(line)
        if el.tag != "Event" or el.get("type") != "call":
            continue
        out.append(el.attrib)
        if el.get("leg") is None and el.get("state") in ("ended", "failed"):
            return out


def legs(evs, leg):
    return [e["state"] for e in evs if e.get("leg") == leg]


def join(c, target, dev, mode=None, ref="r1"):
    use = '<Use dev="%s"%s/>' % (dev, ' mode="%s"' % mode if mode else "")
    ok, line = c.request('<Join ref="%s" id="%s">%s</Join>' % (ref, target, use))
    xsd_validate(line)
    check_eq(ok.tag, "Ok", "Join answered Ok (%s)" % line)
    check(re.match(r"^c\d+$", ok.get("call") or ""), "Ok names the call: %s" % line)
    return ok.get("call")


def media_port(text):
    m = re.search(r"m=audio (\d+)", text or "")
    return int(m.group(1)) if m else None
