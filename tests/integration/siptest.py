# SPDX-License-Identifier: LGPL-2.1-or-later
"""Minimal helpers for the SIP integration tests: start sipsvcd the way systemd would
(NOTIFY_SOCKET, wait for READY=1), ask it <Status/> over its Unix socket, send raw SIP
over UDP and TCP, run SIPp scenarios. Python 3 standard library only."""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

TOP_BUILDDIR = os.environ.get("top_builddir", os.path.join(os.path.dirname(__file__), "..", ".."))
TOP_SRCDIR = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..", ".."))
SIPSVCD = os.environ.get("SIPSVCD", os.path.join(TOP_BUILDDIR, "sipsvcd"))
SIPP = os.environ.get("SIPP", shutil.which("sipp") or "sipp")
SCENARIOS = os.path.join(TOP_SRCDIR, "tests", "sipp")


def skip(why):
    """Exit with the automake 'skipped' status."""
    print("SKIP: " + why)
    sys.exit(77)


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        sys.exit(1)


def reap(proc):
    """Kill @proc at exit if a failed check left it running (no stray daemons)."""
    def kill():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    atexit.register(kill)
    return proc


def free_port(family=socket.AF_INET, kind=socket.SOCK_DGRAM):
    with socket.socket(family, kind) as s:
        s.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        return s.getsockname()[1]


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Daemon:
    """A sipsvcd on free ports in a private runtime dir."""

    def __init__(self, *extra, wrapper=(), config=None):
        self.tmp = tempfile.mkdtemp(prefix="siptest-")
        if config is not None:
            path = os.path.join(self.tmp, "sipsvc.xml")
            with open(path, "w") as f:
                f.write(config)
            extra = ("--config", path) + tuple(extra)
        self.notify_path = os.path.join(self.tmp, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        env.pop("WATCHDOG_USEC", None)
        env.pop("LISTEN_FDS", None)
        self.log = open(os.path.join(self.tmp, "sipsvcd.log"), "w+")
        args = list(wrapper) + [SIPSVCD, "--control-port", "0", "--sip-port", "0",
                "--runtime-dir", os.path.join(self.tmp, "run"),
                "--state-dir", os.path.join(self.tmp, "state"),
                "--config", os.path.join(self.tmp, "none.xml")] + list(extra)
        # --config names a file that does not exist: refused. Use the defaults instead.
        args = [a for a in args[:]]
        i = args.index("--config")
        del args[i:i + 2]
        env["XDG_CONFIG_HOME"] = os.path.join(self.tmp, "config")
        self.proc = reap(subprocess.Popen(args, env=env, stdout=self.log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        atexit.register(shutil.rmtree, self.tmp, True)
        self._wait_ready()
        st = self.status()
        self.sip = {}
        for e in st.iter("Sip"):
            self.sip[(e.get("transport"), e.get("address"))] = True
        m = [a for (t, a) in self.sip if t == "udp"]
        if not m:
            fail("no <Sip transport=udp> in Status")
        self.port = int(m[0].rsplit(":", 1)[1])

    def _wait_ready(self):
        self.notify.settimeout(30)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                data = self.notify.recv(4096).decode()
            except socket.timeout:
                break
            if "READY=1" in data.split("\n"):
                return
        self.dump_log()
        fail("sipsvcd did not send READY=1")

    def dump_log(self):
        self.log.flush()
        self.log.seek(0)
        sys.stdout.write(self.log.read()[-4000:])

    def status_raw(self):
        """The bytes of the reply to <Status/> over the Unix socket."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(5)
            c.connect(os.path.join(self.tmp, "run", "control"))
            c.sendall(b"<Status/>\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = c.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return buf

    def status_valid(self):
        """True if the Status reply validates against xml-schema/sipsvc.xsd (xmllint)."""
        if not shutil.which("xmllint"):
            return True
        path = os.path.join(self.tmp, "status.xml")
        with open(path, "wb") as f:
            f.write(self.status_raw())
        xsd = os.path.join(TOP_SRCDIR, "xml-schema", "sipsvc.xsd")
        p = subprocess.run(["xmllint", "--noout", "--schema", xsd, path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode:
            print(p.stdout.decode())
        return p.returncode == 0

    def status(self):
        """<Status> element of a <Status/> request over the Unix socket."""
        buf = self.status_raw()
        root = ET.fromstring(buf.decode())
        st = root.find("Status")
        if root.tag != "Ok" or st is None:
            fail("unexpected Status reply: " + buf.decode())
        return st

    def counts(self):
        return self.status().find("Counts").attrib

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.notify.close()
        rc = self.proc.returncode
        if rc != 0:
            self.dump_log()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc


def request(method, port, transport="UDP", host="127.0.0.1", extra="", omit=(), body="",
            to_tag=None, branch=None, cseq=1, call_id=None, lport=5999):
    """Text of a request; @omit names headers to leave out."""
    branch = branch or "z9hG4bK" + os.urandom(6).hex()
    if ":" in host:
        host = "[%s]" % host
    call_id = call_id or os.urandom(8).hex() + "@test"
    h = [("Via", "SIP/2.0/%s %s:%d;branch=%s;rport" % (transport, host, lport, branch)),
         ("Max-Forwards", "70"),
         ("From", "<sip:test@%s>;tag=%s" % (host, os.urandom(4).hex())),
         ("To", "<sip:service@%s>%s" % (host, ";tag=" + to_tag if to_tag else "")),
         ("Call-ID", call_id),
         ("CSeq", "%d %s" % (cseq, method))]
    lines = ["%s sip:service@%s:%d SIP/2.0" % (method, host, port)]
    lines += ["%s: %s" % (k, v) for k, v in h if k not in omit]
    if extra:
        lines += extra.strip("\r\n").split("\n")
    lines.append("Content-Length: %d" % len(body.encode()))
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def status_line(resp):
    m = re.match(rb"SIP/2\.0 (\d{3}) ([^\r\n]*)", resp or b"")
    return (int(m.group(1)), m.group(2).decode()) if m else (None, None)


def header(resp, name):
    m = re.search(rb"(?im)^" + name.encode() + rb"\s*:\s*([^\r\n]*)", resp or b"")
    return m.group(1).decode() if m else None


def udp_exchange(data, port, host="127.0.0.1", count=1, timeout=2.0):
    """Send one datagram; return up to @count responses (fewer on timeout)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    out = []
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, (host, port))
        while len(out) < count:
            try:
                out.append(s.recv(65536))
            except socket.timeout:
                break
    return out


def tcp_exchange(data, port, host="127.0.0.1", count=1, timeout=2.0):
    """Send bytes on a new connection; return up to @count framed responses."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    out, buf = [], b""
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(data)
        deadline = time.time() + timeout
        while len(out) < count and time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            buf += chunk
            while b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                cl = int(header(head, "Content-Length") or 0)
                if len(rest) < cl:
                    break
                out.append(head + b"\r\n\r\n" + rest[:cl])
                buf = rest[cl:]
    return out


def sipp(scenario, port, transport="u1", host="127.0.0.1", calls=1, extra=(), timeout=30):
    """Run a SIPp scenario from tests/sipp; returns (exit status, output)."""
    if not shutil.which(SIPP):
        fail("sipp not installed: ./autogen.sh installs sip-tester")
    local = "127.0.0.1" if ":" not in host else "::1"
    kind = socket.SOCK_DGRAM if transport.startswith("u") else socket.SOCK_STREAM
    lport = free_port(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
    remote = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    args = [SIPP, "-sf", os.path.join(SCENARIOS, scenario), "-t", transport, "-i", local,
            "-p", str(lport), "-m", str(calls), "-timeout", str(timeout), "-timeout_error",
            "-nostdin", "-max_recv_loops", "1000"] + list(extra) + [remote]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout + 30, cwd=tempfile.gettempdir())
    return p.returncode, p.stdout.decode(errors="replace")
