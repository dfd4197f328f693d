#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The sipsvc command-line client against a real daemon: every subcommand builds the
request PROTOCOL.md defines (checked against sipsvc.xsd with --dry-run), readable output
and exit codes for replies, errors, usage mistakes and a missing daemon."""

import os
import pty
import re
import shutil
import socket
import subprocess
import tempfile
import threading

from sipsvctest import (Daemon, check, check_eq, free_port, main, parse_xml, test,
                        wait_for, xsd_validate)

BUILDDIR = os.environ.get("BUILDDIR", ".")
SIPSVC = os.path.join(BUILDDIR, "sipsvc")
# The desk device: a socket that takes INVITEs and never answers (nothing leaves
# the machine).
DESK_SOCK = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
DESK_SOCK.bind(("127.0.0.1", 0))
DESK = "sip:desk@127.0.0.1:%d" % DESK_SOCK.getsockname()[1]
CONFIG = """<sipsvc>
  <device id="desk" wrapper="sip" uri="%s" default="true"/>
  <device id="soft" wrapper="softphone" mode="loop"/>
</sipsvc>""" % DESK
D = Daemon(config=CONFIG, args=["--log-level", "debug"])


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "SIPSVC_"))}
    e["SIPSVC_RUNTIME_DIR"] = D.runtime_dir
    e.update(extra)
    return e


def sipsvc(*args, stdin=None, environ=None):
    p = subprocess.run([SIPSVC] + list(args), input=stdin, capture_output=True, text=True,
                       env=environ or env(), timeout=20)
    return p.returncode, p.stdout, p.stderr


@test
def status_is_readable():
    rc, out, err = sipsvc("status")
    check_eq(rc, 0, "exit code (stderr %r)" % err)
    first = out.splitlines()[0]
    check(re.match(r"sipsvcd \d+\.\d+\.\d+ \(pid %d\), up " % D.pid, first), first)
    check("unix %s" % D.socket_path in out, "the Unix endpoint is listed: %r" % out)
    check("tcp 127.0.0.1:%d" % D.port in out, "the TCP endpoint is listed")
    check("config       %s" % D.config_path in out, "the config path is shown")


@test
def status_over_tcp_with_port_option():
    rc, out, _ = sipsvc("--port", str(D.port), "--xml", "status",
                        environ=env(SIPSVC_RUNTIME_DIR="/nonexistent"))
    check_eq(rc, 0, "exit code")
    lines = out.splitlines()
    check_eq(len(lines), 1, "one reply line with --xml")
    xsd_validate(lines[0])
    st = parse_xml(lines[0]).find("Status")
    check_eq(st.get("pid"), str(D.pid), "pid in the --xml reply")


@test
def devices_table():
    rc, out, _ = sipsvc("devices")
    check_eq(rc, 0, "exit code")
    rows = [l.split() for l in out.splitlines()]
    check_eq(rows[0][:5], ["ID", "WRAPPER", "MODE", "DEFAULT", "AVAILABLE"], "header")
    check_eq(rows[1][:5], ["desk", "sip", "transfer", "yes", "unknown"], "desk row")
    check_eq(rows[1][5], DESK, "desk URI")
    check_eq(rows[2][:4], ["soft", "softphone", "loop", "no"], "soft row")


# Each subcommand, and the request it must build (element, attributes, children).
REQUESTS = [
    (["status"], "Status", {}, []),
    (["devices"], "Devices", {}, []),
    (["calls"], "Calls", {}, []),
    (["shares"], "Shares", {}, []),
    (["join", "sip:bob@example.com", "--dev", "desk", "--mode", "loop"], "Join",
     {"id": "sip:bob@example.com"}, [("Use", {"dev": "desk", "mode": "loop"})]),
    (["call", "sips:carol@example.com"], "ExternalJoin", {"id": "sips:carol@example.com"}, []),
    (["switch", "sip:room2@example.com", "--call", "c7"], "SameDeviceJoin",
     {"id": "sip:room2@example.com", "call": "c7"}, []),
    (["invite", "sip:a@example.com", "tel:+15551234"], "Invite", {},
     [("Add", {"id": "sip:a@example.com"}), ("Add", {"id": "tel:+15551234"})]),
    (["hangup", "c3"], "Hangup", {"call": "c3"}, []),
    (["hangup"], "Hangup", {}, []),
    # /dev/null: a path that exists but that the daemon will not share (sharing "/"
    # for real would walk the whole machine).
    (["share", "/dev/null"], "Share", {"path": "/dev/null"}, []),
    (["unshare", "/dev/null"], "Unshare", {"path": "/dev/null"}, []),
    (["search", "free", "jazz", "--timeout", "500", "--max", "10"], "Search",
     {"query": "free jazz", "timeout-ms": "500", "max-results": "10"}, []),
    (["fetch", "sha256:" + "ab" * 32, "--from", "0123456789abcdef0123456789abcdef",
      "--to", "/"], "Fetch", {"file": "sha256:" + "ab" * 32,
                               "from": "0123456789abcdef0123456789abcdef", "to": "/"}, []),
    # Port 9 of loopback: nobody listens, so the MESSAGE fails at once (ICMP) and no
    # DNS query or packet leaves the machine.
    (["tunnel", "MESSAGE", "sip:bob@127.0.0.1:9", "--header", "Subject: hi there",
      "--body", "hello\nworld"], "Tunnel", {}, [("Request", {"method": "MESSAGE",
                                                               "uri": "sip:bob@127.0.0.1:9"})]),
    (["events", "call", "log"], "Subscribe", {"events": "call log"}, []),
]


@test
def every_subcommand_builds_a_valid_request():
    for args, name, attrs, children in REQUESTS:
        rc, out, err = sipsvc("--dry-run", *args)
        check_eq(rc, 0, "%s --dry-run exit code (stderr %r)" % (args[0], err))
        xsd_validate(out.strip())
        el = parse_xml(out.strip())
        check_eq(el.tag, name, "%s builds <%s>" % (args[0], name))
        check_eq(dict(el.attrib), attrs, "<%s> attributes" % name)
        got = [(c.tag, dict(c.attrib)) for c in el]
        check_eq(got, children, "<%s> children" % name)


@test
def tunnel_carries_headers_and_body():
    rc, out, _ = sipsvc("--dry-run", "tunnel", "INFO", "sip:b@example.com", "--header",
                        "X-A: 1", "--header", "X-B: two", "--body", "a\nb",
                        "--body-type", "application/x-test")
    rq = parse_xml(out.strip()).find("Request")
    check_eq([(h.get("name"), h.get("value")) for h in rq.findall("Header")],
             [("X-A", "1"), ("X-B", "two")], "headers")
    body = rq.find("Body")
    check_eq((body.get("type"), body.text), ("application/x-test", "a\nb"), "body")


# Implemented requests that fail for the REQUESTS above: exit code, error code.
IMPLEMENTED_ERRORS = {"Share": (3, "invalid"), "Unshare": (2, "not-shared"),
                      "Search": (2, "not-found"),  # a lone node: no neighbours
                      "Fetch": (2, "not-found"),  # a peer the config does not name
                      "SameDeviceJoin": (2, "no-such-call"),
                      "Invite": (2, "no-conference-server")}
# What the daemon implements: exit code and, for errors, the code it names.
IMPLEMENTED = {"Status": (0, None), "Devices": (0, None), "Calls": (0, None),
               "Join": (0, None), "ExternalJoin": (0, None)}


def follow_and_hang_up(args, name, mark):
    """join and call follow their call: the test hangs it up from another client
    (the desk device never answers) and the client exits 0 on "ended"."""
    p = subprocess.Popen([SIPSVC] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env())
    try:
        D.wait_log(r"request %s ref=r1$" % name, start=mark)
        D.wait_log(r"call c\d+: device leg trying", start=mark)
        with D.unix_client() as c:
            c.request("<Hangup/>")
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, err


@test
def every_subcommand_reaches_the_daemon():
    """Sent for real: the daemon logs each request; those it does not implement yet
    come back as unknown-request (exit 3), the others as the daemon answers them."""
    for args, name, attrs, _ in REQUESTS:
        if args[0] == "events":
            continue
        mark = D.log_mark()
        if name in ("Join", "ExternalJoin"):
            rc, err = follow_and_hang_up(args, name, mark)
        else:
            rc, out, err = sipsvc(*args)
        D.wait_log(r"request %s ref=r1$" % name, start=mark)
        if name == "Tunnel":
            # Sent for real, to a port nobody listens on: a SIP error, exit code 4.
            check_eq(rc, 4, "tunnel exit code (stderr %r)" % err)
            check("503" in out, "the local 503 is printed: out %r, err %r" % (out, err))
            continue
        want, code = (IMPLEMENTED.get(name) or IMPLEMENTED_ERRORS.get(name) or
                      (3, "unknown-request"))
        if name == "Shares":
            want, code = 0, None
        if name == "Hangup":
            want, code = (2, "no-such-call") if "call" in attrs else (0, None)
        check_eq(rc, want, "%s exit code (stderr %r)" % (args[0], err))
        if code:
            check(code in err, "the error names its code %s: %r" % (code, err))


@test
def send_prints_every_answer():
    rc, out, _ = sipsvc("send", '<Status ref="a"/><Foo ref="b"/>')
    lines = out.splitlines()
    check_eq(len(lines), 2, "two answers")
    check(lines[0].startswith('<Ok ref="a" request="Status">'), lines[0])
    check(lines[1].startswith('<Error ref="b" request="Foo" code="unknown-request">'),
          lines[1])
    check_eq(rc, 3, "an Error among the answers: exit 3")


@test
def send_reads_stdin():
    rc, out, _ = sipsvc("send", stdin='<?xml version="1.0"?>\n<Devices ref="d"/>\n')
    check_eq(rc, 0, "exit code")
    el = parse_xml(out.strip())
    check_eq([d.get("id") for d in el.findall("Device")], ["desk", "soft"], "devices")


@test
def errors_map_to_exit_codes():
    rc, _, err = sipsvc("send", '<Join id="not-a-uri"><Use/></Join>')
    check_eq(rc, 3, "invalid request")
    rc, _, err = sipsvc("join", "sip:bob@example.com", "--dev", "nosuch")
    check_eq(rc, 2, "no-such-device: not found")
    check(err.startswith("sipsvc: no-such-device: "), err)
    rc, _, err = sipsvc("switch", "sip:bob@example.com", "--call", "c99")
    check_eq(rc, 2, "no-such-call: not found")
    check(err.startswith("sipsvc: no-such-call: "), err)
    rc, out, err = sipsvc("send", "<Frobnicate/>")
    check_eq(rc, 3, "unknown-request")
    check('code="unknown-request"' in out, out)


@test
def usage_errors():
    for args in (["frobnicate"], ["join"], ["join", "a", "b"], ["share", "/nonexistent/x"],
                 ["fetch", "x"], ["join", "sip:a@b", "--mode", "sideways"], ["status", "x"],
                 ["tunnel", "MESSAGE", "sip:a@b", "--header", "nocolon"], []):
        rc, _, err = sipsvc(*args)
        check_eq(rc, 64, "exit code of %r (stderr %r)" % (args, err))
        check(err, "a message on stderr for %r" % (args,))


@test
def help_for_every_command():
    for cmd in ["status", "devices", "join", "call", "switch", "invite", "hangup", "calls",
                "share", "unshare", "shares", "search", "fetch", "tunnel", "events", "send"]:
        rc, out, _ = sipsvc(cmd, "--help")
        check_eq(rc, 0, "%s --help" % cmd)
        check(out.startswith("Usage: sipsvc %s" % cmd), out)
    rc, out, _ = sipsvc("--help")
    check_eq(rc, 0, "--help")
    check("Exit codes" in out, "the exit codes are explained")


@test
def unreachable_daemon():
    rc, _, err = sipsvc("status", environ=env(SIPSVC_RUNTIME_DIR="/nonexistent",
                                              SIPSVC_CONTROL_PORT=str(free_port())))
    check_eq(rc, 69, "exit code")
    check("cannot reach sipsvcd" in err, err)


@test
def events_stream_until_interrupted():
    mark = D.log_mark()
    p = subprocess.Popen([SIPSVC, "events", "log"], env=env(), stdout=subprocess.PIPE,
                         text=True)
    try:
        D.wait_log(r"request Subscribe", start=mark)
        rc, _, _ = sipsvc("status")
        check_eq(rc, 0, "status while streaming")
        line = p.stdout.readline()
        while "request Status" not in line:
            check(line, "the event stream ended early")
            line = p.stdout.readline()
        check(re.match(r"log level=debug control: unix: request Status ref=r1$", line),
              "the log event, readable: %r" % line)
    finally:
        p.terminate()
        p.wait(timeout=10)


def scripted_peer(path, answers):
    """A control endpoint that answers the first request with @answers (lines), for
    client behaviour the daemon cannot show yet (a transfer's events). The CLI is what
    is under test here, not this peer."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        buf = b""
        while b"/>" not in buf:
            buf += c.recv(4096)
        ref = re.search(rb'ref="([^"]*)"', buf).group(1).decode()
        for line in answers:
            c.sendall((line.replace("REF", ref) + "\n").encode())
        c.close()
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def run_in_pty(args, environ):
    """Run the CLI with a terminal as stdout (the progress line is drawn only there)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(args[0], args, environ)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@test
def fetch_draws_progress_on_a_terminal():
    tmp = tempfile.mkdtemp(prefix="sipsvc-cli-")
    try:
        events = ['<Ok ref="REF" request="Fetch" transfer="t1"/>']
        for b in (0, 250000, 500000, 1000000):
            events.append('<Event type="transfer" ref="REF" transfer="t1" state="progress" '
                          'bytes="%d" total="1000000"/>' % b)
        events.append('<Event type="transfer" ref="REF" transfer="t1" state="done" '
                      'sha256="%s"/>' % ("ab" * 32))
        t = scripted_peer(os.path.join(tmp, "control"), events)
        rc, out = run_in_pty([SIPSVC, "fetch", "sha256:" + "ab" * 32, "--from", "0" * 32],
                             env(SIPSVC_RUNTIME_DIR=tmp))
        t.join(10)
        check_eq(rc, 0, "exit code (output %r)" % out)
        bars = re.findall(r"\r\[(#*) *\] +(\d+)%", out)
        check_eq([int(p) for _, p in bars], [0, 25, 50, 100], "percentages drawn")
        check_eq([len(b) for b, _ in bars], [0, 7, 15, 30], "bar lengths")
        check("1.0 MB / 1.0 MB" in out, "sizes shown: %r" % out)
        check(re.search(r"\ntransfer .*state=done sha256=(ab){32}", out), "the final event")

        # Not a terminal: every event on its own line, no bar; a failure exits 4.
        events[-1] = ('<Event type="transfer" ref="REF" transfer="t1" state="failed" '
                      'reason="hash-mismatch"/>')
        t = scripted_peer(os.path.join(tmp, "control2"), events)
        rc, out, _ = sipsvc("--socket", os.path.join(tmp, "control2"), "fetch",
                            "sha256:" + "ab" * 32, "--from", "0" * 32)
        t.join(10)
        check_eq(rc, 4, "a failed transfer")
        check("[" not in out and out.count("state=progress") == 4, out)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main(D)
