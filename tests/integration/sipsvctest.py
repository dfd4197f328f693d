# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared helper for the integration tests: start the real sipsvcd on free ports and a
temporary runtime dir, talk to it only through its public faces, stop it and check it.

Standard library only; run with Debian's /usr/bin/python3 (configure's PYTHON3).

Environment (set by Makefile.am; defaults work from the build tree):
  SIPSVCD           the daemon binary
  SIPSVC_XSD        xml-schema/sipsvc.xsd (for xmllint --schema)
  SIPSVC_TEST_WRAPPER  optional command prefix, e.g. "valgrind -q --error-exitcode=99"
"""

import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
SIPSVCD = os.path.abspath(os.environ.get("SIPSVCD", "./sipsvcd"))
XSD = os.environ.get("SIPSVC_XSD", os.path.join(TOP_SRCDIR, "xml-schema", "sipsvc.xsd"))
WRAPPER = shlex.split(os.environ.get("SIPSVC_TEST_WRAPPER", ""))

# Time bounds are generous (a loaded CI machine), and longer under a wrapper (valgrind).
SLOW = 5 if WRAPPER else 1
TIMEOUT = 10.0 * SLOW
NOBODY = 65534

# sysexits.h
EX_USAGE, EX_UNAVAILABLE, EX_OSERR, EX_CONFIG = 64, 69, 71, 78

# Log lines at err (3) or worse: <0> … <3>.
ERROR_LINE = re.compile(r"^<[0-3]>")


class TestFailure(AssertionError):
    pass


class Skip(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: got %r, want %r" % (what, got, want))


def wait_for(cond, timeout=TIMEOUT, what="condition", interval=0.01):
    """Poll @cond until it returns a true value; fail after @timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on right now (bind port 0 and read it back)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def parse_xml(text):
    try:
        return ET.fromstring(text)
    except ET.ParseError as e:
        raise TestFailure("reply is not XML (%s): %r" % (e, text))


def xsd_validate(text):
    """Validate one reply against sipsvc.xsd with xmllint; fail with its message."""
    p = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", XSD, "-"],
                       input=text.encode(), capture_output=True, timeout=TIMEOUT)
    if p.returncode != 0:
        raise TestFailure("reply does not validate against sipsvc.xsd: %s\n%s"
                          % (p.stderr.decode(errors="replace").strip(), text))


class Client:
    """One control connection. Replies and events are one per line."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    @classmethod
    def tcp(cls, port, host="127.0.0.1", rcvbuf=None):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(TIMEOUT)
        s.connect((host, port))
        return cls(s)

    @classmethod
    def unix(cls, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(path)
        return cls(s)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def recv_line(self, timeout=TIMEOUT):
        """The next reply or event, without its "\\n"; fails on EOF or timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("no reply within %.1f s (have %r)" % (timeout, self.buf))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise TestFailure("connection closed while waiting for a reply (have %r)"
                                  % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def recv_xml(self, timeout=TIMEOUT):
        line = self.recv_line(timeout)
        return parse_xml(line), line

    def recv_reply(self, timeout=TIMEOUT):
        """The next Ok/Error, skipping events."""
        while True:
            el, line = self.recv_xml(timeout)
            if el.tag != "Event":
                return el, line

    def request(self, xml, timeout=TIMEOUT):
        self.send(xml)
        return self.recv_reply(timeout)

    def read_to_eof(self, timeout=TIMEOUT):
        """Everything until the peer closes; returns (bytes, how) with how "eof" or
        "reset". Fails if the connection stays open past @timeout."""
        data, self.buf = self.buf, b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("connection still open after %.1f s (read %r)"
                                  % (timeout, data[:200]))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return data, "reset"
            if not chunk:
                return data, "eof"
            data += chunk


def status_of(client):
    """Send <Status/>, check the reply, return (Status element, raw line)."""
    ok, line = client.request("<Status/>")
    check_eq(ok.tag, "Ok", "reply to <Status/> (%s)" % line)
    st = ok.find("Status")
    check(st is not None, "Ok carries a <Status>: %s" % line)
    return st, line


class Daemon:
    """One sipsvcd in its own temporary directory.

    d = Daemon(config="<sipsvc>…</sipsvc>", args=["--log-level", "debug"])
    d.start()            # waits for READY=1 on our fake NOTIFY_SOCKET
    c = d.unix_client(); d.tcp_client()
    d.stop()             # SIGTERM, exit 0, no error lines unless allowed
    """

    def __init__(self, config=None, args=(), runtime_dir=None, control_port=0,
                 activate=None, allow_errors=(), tmp=None, env=None, runtime_arg=True):
        self.tmp = tmp or tempfile.mkdtemp(prefix="sipsvc-test-")
        self.own_tmp = tmp is None
        self.runtime_dir = runtime_dir or os.path.join(self.tmp, "run")
        self.state_dir = os.path.join(self.tmp, "state")
        self.config_path = None
        if config is not None:
            self.config_path = os.path.join(self.tmp, "sipsvc.xml")
            self.write_config(config)
        self.args = list(args)
        self.control_port = control_port
        self.activate = activate  # list of -l addresses for systemd-socket-activate
        self.extra_env = dict(env or {})
        self.runtime_arg = runtime_arg  # False: the daemon picks its default dir
        self.allow_errors = [re.compile(p) for p in allow_errors]
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.notify_sock = None
        self.notifications = []
        self.port = None

    # -- files -----------------------------------------------------------------------
    def write_config(self, text):
        """Replace the config atomically (the daemon may read it at any SIGHUP)."""
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.config_path)

    @property
    def socket_path(self):
        return os.path.join(self.runtime_dir, "control")

    # -- process ---------------------------------------------------------------------
    def command(self):
        cmd = WRAPPER + [SIPSVCD, "--state-dir", self.state_dir, "--sip-port", "0"]
        if self.runtime_arg:
            cmd += ["--runtime-dir", self.runtime_dir]
        if self.control_port is not None:
            cmd += ["--control-port", str(self.control_port)]
        if self.config_path:
            cmd += ["--config", self.config_path]
        return cmd + self.args

    def environment(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("LISTEN_", "NOTIFY_", "WATCHDOG_", "XDG_", "SIPSVC_"))
               or k == "SIPSVC_WRAPPER_DIR"}  # the build tree's wrapper modules
        # No user's config, runtime dir or state is ever touched.
        env["HOME"] = self.tmp
        env["XDG_CONFIG_HOME"] = os.path.join(self.tmp, "config")
        if self.notify_sock:
            env["NOTIFY_SOCKET"] = self.notify_path
        env.update(self.extra_env)
        return env

    def spawn(self, notify=True):
        """Start the process without waiting for it to be ready."""
        if notify:
            self.notify_path = os.path.join(self.tmp, "notify")
            self.notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.notify_sock.bind(self.notify_path)
        env = self.environment()
        cmd = self.command()
        if self.activate is not None:
            need_program("systemd-socket-activate")
            pre = ["systemd-socket-activate"]
            for a in self.activate:
                pre += ["-l", a]
            # systemd-socket-activate passes on only the variables it is told to.
            keep = {"HOME", "XDG_CONFIG_HOME", "NOTIFY_SOCKET"} | set(self.extra_env)
            for k in sorted(env):
                if k in keep or k.startswith(("ASAN_", "UBSAN_", "LSAN_")):
                    pre += ["-E", "%s=%s" % (k, env[k])]
            cmd = pre + cmd
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.readers = [threading.Thread(target=self._reader, args=(f,), daemon=True)
                        for f in (self.proc.stderr, self.proc.stdout)]
        for t in self.readers:
            t.start()
        return self

    def start(self, notify=True):
        self.spawn(notify)
        if notify:
            self.wait_notify("READY=1")
        self.port = self.tcp_port_from_status()
        return self

    def _reader(self, f):
        for raw in f:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with self.cond:
            return "\n".join(self.lines)

    def wait_log(self, pattern, timeout=TIMEOUT, start=0):
        """Wait for a stderr line matching @pattern (after line @start); return it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("no log line matching %r within %.1f s; log:\n%s"
                                      % (pattern, timeout, "\n".join(self.lines)))
                self.cond.wait(left)

    def log_mark(self):
        with self.cond:
            return len(self.lines)

    def wait_notify(self, key, timeout=TIMEOUT):
        """Wait for a datagram on our NOTIFY_SOCKET containing the line @key; every
        datagram read is kept in self.notifications (each a list of lines)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, msg in enumerate(self.notifications):
                if key in msg:
                    del self.notifications[:i + 1]
                    return msg
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and
                             not select.select([self.notify_sock], [], [], 0)[0]):
                raise TestFailure("no %s on NOTIFY_SOCKET (exit status %r); got %r; log:\n%s"
                                  % (key, self.proc.poll(), self.notifications, self.log()))
            r, _, _ = select.select([self.notify_sock], [], [], min(left, 0.1))
            if r:
                data = self.notify_sock.recv(4096)
                self.notifications.append(data.decode().split("\n"))

    def wait_exit(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("sipsvcd still running after %.1f s; log:\n%s"
                              % (timeout, self.log()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def error_lines(self):
        with self.cond:
            return [line for line in self.lines if ERROR_LINE.search(line) and
                    not any(rx.search(line) for rx in self.allow_errors)]

    def check_exit(self, want=0):
        code = self.wait_exit()
        if code != want:
            raise TestFailure("sipsvcd exited %r, want %r; log:\n%s" % (code, want, self.log()))
        for t in self.readers:  # the pipes reach EOF when the process has exited
            t.join(TIMEOUT)
        bad = self.error_lines()
        check(not bad, "unexpected error lines in the log: %r" % bad)

    def stop(self, want=0):
        """SIGTERM, wait, check the exit status and that nothing was logged at err or
        worse (except lines matching allow_errors)."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        self.check_exit(want)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.kill()
        if self.notify_sock:
            self.notify_sock.close()
            self.notify_sock = None
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- clients ---------------------------------------------------------------------
    def unix_client(self):
        return Client.unix(self.socket_path)

    def tcp_client(self, host="127.0.0.1", **kw):
        return Client.tcp(self.port, host, **kw)

    def status(self):
        with self.unix_client() as c:
            return status_of(c)[0]

    def tcp_port_from_status(self):
        """The port of the 127.0.0.1 control listener, as <Status/> tells it."""
        if not os.path.exists(self.socket_path):
            return None
        for ctl in self.status().findall("Control"):
            m = re.match(r"^127\.0\.0\.1:(\d+)$", ctl.get("address", ""))
            if ctl.get("transport") == "tcp" and m:
                return int(m.group(1))
        return None


def need_program(name):
    """Fail the calling test when @name is missing: a test is never skipped for a tool
    that can be installed (./autogen.sh installs every one of them)."""
    if not shutil.which(name):
        raise TestFailure("%s is not installed: run ./autogen.sh, which installs the "
                          "Debian packages the tests need" % name)


def need_root(why):
    if os.getuid() != 0:
        raise Skip("not root: cannot %s" % why)


def run_as_nobody(code, timeout=TIMEOUT):
    """Run Python @code as uid/gid 65534 (setpriv); return its stdout."""
    need_root("run a client as another user")
    need_program("setpriv")
    p = subprocess.run(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY),
                        "--clear-groups", "/usr/bin/python3", "-I", "-c", code],
                       capture_output=True, timeout=timeout, cwd="/",
                       env={"PATH": "/usr/bin:/bin"})
    if p.returncode != 0:
        raise TestFailure("client as uid %d failed (%d): %s"
                          % (NOBODY, p.returncode, p.stderr.decode(errors="replace")))
    return p.stdout.decode()


# -- the test runner -------------------------------------------------------------------
_tests = []


def test(fn):
    """Register a test function; it gets nothing and fails by raising."""
    _tests.append(fn)
    return fn


LOG_TAIL = int(os.environ.get("SIPSVC_TEST_LOG_TAIL", "150"))  # lines of a failed test's log shown


def print_log(text):
    """Show the end of a daemon log after a failure (a load test's log is thousands
    of lines, and what CI keeps of the output is its end)."""
    lines = text.splitlines()
    if len(lines) > LOG_TAIL:
        lines = ["[%d earlier lines]" % (len(lines) - LOG_TAIL)] + lines[-LOG_TAIL:]
    print("--- sipsvcd log ---\n%s\n---" % "\n".join(lines))


def _run_one(name, fn):
    t = time.monotonic()
    try:
        fn()
    except Skip as e:
        print("skip %s: %s" % (name, e), flush=True)
        return "skip"
    except Exception:
        print("FAIL %s (%.2f s)" % (name, time.monotonic() - t))
        traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
        return "fail"
    print("ok   %s (%.2f s)" % (name, time.monotonic() - t), flush=True)
    return "pass"


def main(fixture=None):
    """Run the registered tests (or those named on the command line); print one line per
    test and a final "N passed, M failed"; exit 1 on any failure. A @fixture Daemon is
    started first and stopped (and checked) last, both counted as tests."""
    only = set(sys.argv[1:])
    counts = {"pass": 0, "fail": 0, "skip": 0}
    t0 = time.monotonic()
    steps = [(fn.__name__, fn) for fn in _tests if not only or fn.__name__ in only]
    if fixture is not None:
        if _run_one("start_daemon", fixture.start) != "pass":
            steps = []
            counts["fail"] += 1
            print_log(fixture.log())
        else:
            steps.append(("stop_daemon", fixture.stop))
    for name, fn in steps:
        counts[_run_one(name, fn)] += 1
    if fixture is not None:
        if counts["fail"]:
            print_log(fixture.log())
        fixture.cleanup()
    print("%d skipped, %.1f s" % (counts["skip"], time.monotonic() - t0))
    print("%d passed, %d failed" % (counts["pass"], counts["fail"]))
    sys.exit(1 if counts["fail"] else 0)


class running:
    """with running(Daemon(...)) as d: … — starts it, always cleans up, and stops it
    (checking exit 0 and the log) when the block ends without an exception."""

    def __init__(self, daemon, start=True):
        self.d = daemon
        self.do_start = start

    def __enter__(self):
        try:
            if self.do_start:
                self.d.start()
        except BaseException:
            self.d.cleanup()
            raise
        return self.d

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None and self.d.proc and self.d.proc.poll() is None:
                self.d.stop()
            elif exc_type is not None and self.d.proc:
                print_log(self.d.log())
        finally:
            self.d.cleanup()
        return False
