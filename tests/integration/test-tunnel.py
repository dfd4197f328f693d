#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""<Tunnel><Request>: an out-of-dialog SIP request built from the client's method, URI,
headers and body, sent through the daemon's stack to a real peer (SIPp), every response
relayed as a `tunnel` event with its headers and body; what the tunnel refuses."""

import atexit
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from calltest import Peer
from sipsvctest import (Daemon, check, check_eq, free_port, main, running, test,
                        xsd_validate)

SRCDIR = os.environ.get("SRCDIR", ".")
SCENARIO = os.path.abspath(os.path.join(SRCDIR, "tests", "sipp", "tunnel-message-uas.xml"))


def udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# SIPp writes its -trace_err file where it runs: here, gone when the tests end.
SCRATCH = tempfile.mkdtemp(prefix="sipsvc-tunnel-")
atexit.register(shutil.rmtree, SCRATCH, True)


def sipp_uas(port, transport="u1"):
    if not shutil.which("sipp"):
        raise AssertionError("sipp not installed: ./autogen.sh installs sip-tester")
    return subprocess.Popen(["sipp", "-sf", SCENARIO, "-i", "127.0.0.1", "-p", str(port),
                             "-t", transport, "-m", "1", "-timeout", "20", "-timeout_error",
                             "-nostdin", "-trace_err"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=SCRATCH)


def bound(port, kind):
    """Is 127.0.0.1:@port bound, per the kernel's table? (Binding it to find out would
    race the peer's own bind.)"""
    table = "/proc/net/udp" if kind == socket.SOCK_DGRAM else "/proc/net/tcp"
    want = "0100007F:%04X" % port
    with open(table) as f:
        return any(line.split()[1] == want for line in list(f)[1:])


def wait_port_bound(p, port, kind):
    deadline = time.monotonic() + 10
    while not bound(port, kind):
        if p.poll() is not None or time.monotonic() > deadline:
            p.kill()
            raise AssertionError("sipp did not bind %d: %s" % (
                port, p.communicate()[1].decode(errors="replace")[-400:]))
        time.sleep(0.02)


def tunnel(c, uri, body="hello tunnel", extra=""):
    return c.request('<Tunnel ref="t1"><Request method="MESSAGE" uri="%s">'
                     '<Header name="X-Test" value="tunnelled"/>%s'
                     '<Body type="text/plain">%s</Body></Request></Tunnel>' % (uri, extra, body))


def check_answer(c, p):
    while True:
        ev, line = c.recv_xml(timeout=20)
        if ev.tag == "Event":
            break
    xsd_validate(line)
    check_eq((ev.get("type"), ev.get("ref"), ev.get("status"), ev.get("reason")),
             ("tunnel", "t1", "200", "OK"), "the tunnel event")
    # Header names are case-insensitive (RFC 3261 7.3.5); libosip2 re-cases them.
    headers = {h.get("name").lower(): h.get("value") for h in ev.findall("Header")}
    check_eq(headers.get("x-answer"), "from-sipp", "the peer's header")
    check(headers.get("call-id"), "Call-ID relayed")
    check_eq(headers.get("cseq"), "1 MESSAGE", "CSeq relayed")
    body = ev.find("Body")
    check_eq((body.get("type"), body.text), ("text/plain", "pong from sipp\r\n"), "the body")
    _, err = p.communicate(timeout=20)
    check_eq(p.returncode, 0, "sipp's checks (%s)" % err.decode(errors="replace")[-400:])


@test
def message_over_udp_reaches_sipp_and_its_answer_comes_back():
    with running(Daemon()) as d:
        port = udp_port()
        p = sipp_uas(port)
        wait_port_bound(p, port, socket.SOCK_DGRAM)
        with d.unix_client() as c:
            ok, line = tunnel(c, "sip:peer@127.0.0.1:%d" % port)
            check_eq((ok.tag, ok.get("ref")), ("Ok", "t1"), "reply: " + line)
            check_answer(c, p)


@test
def a_large_body_goes_over_tcp():
    """RFC 3261 18.1.1: a request that would not fit a datagram is sent over TCP."""
    with running(Daemon()) as d:
        port = free_port()
        p = sipp_uas(port, "t1")
        wait_port_bound(p, port, socket.SOCK_STREAM)
        with d.unix_client() as c:
            ok, line = tunnel(c, "sip:peer@127.0.0.1:%d" % port, "hello tunnel " + "x" * 1500)
            check_eq(ok.tag, "Ok", "reply: " + line)
            check_answer(c, p)


@test
def refused_requests():
    with running(Daemon()) as d, d.unix_client() as c:
        for method in ("INVITE", "BYE", "SUBSCRIBE", "ACK"):
            err, _ = c.request('<Tunnel><Request method="%s" uri="sip:a@127.0.0.1:9"/>'
                               '</Tunnel>' % method)
            check_eq((err.tag, err.get("code")), ("Error", "invalid"), method)
            check("Join" in err.text, "says what to use instead: %r" % err.text)
        for name in ("Via", "call-id", "CSeq", "v", "Content-Length", "From"):
            err, _ = c.request('<Tunnel><Request method="MESSAGE" uri="sip:a@127.0.0.1:9">'
                               '<Header name="%s" value="x"/></Request></Tunnel>' % name)
            check_eq(err.get("code"), "invalid", "header %s" % name)
        err, _ = c.request('<Tunnel><Request method="MESSAGE" uri="tel:+1555"/></Tunnel>')
        check_eq(err.get("code"), "sip-error", "a tel: URI the stack cannot route yet")
        check("tel:+1555" in err.text, err.text)
        err, _ = c.request('<Tunnel><Request method="MESSAGE" uri="sip:a@127.0.0.1:9">'
                           '<Header name="X" value="a&#13;&#10;Via: evil"/></Request></Tunnel>')
        check_eq(err.get("code"), "invalid", "CR/LF in a header value (schema)")
        st, _ = c.request("<Status/>")
        check_eq(st.tag, "Ok", "still healthy")


class Registrar:
    """Answers every REGISTER 200 (the daemon registers when it has credentials)."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                data, peer = self.s.recvfrom(65536)
            except socket.timeout:
                continue
            head = data.split(b"\r\n\r\n")[0].decode(errors="replace").split("\r\n")
            if not head[0].startswith("REGISTER "):
                continue
            keep = [l for l in head[1:] if re.match(r"(?i)(via|from|to|call-id|cseq|contact):", l)]
            keep = [l + ";tag=reg1" if l.lower().startswith("to:") else l for l in keep]
            resp = "SIP/2.0 200 OK\r\n%s\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n" % (
                "\r\n".join(keep))
            self.s.sendto(resp.encode(), peer)

    def close(self):
        self.stop = True
        self.t.join()
        self.s.close()


def digest_params(value):
    return {k: (a if a else b) for k, a, b in
            re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', value)}


@test
def a_407_challenge_is_answered_by_the_service():
    """RFC 3261 22.3: the proxy's challenge is answered with the configured credentials;
    the client sees the final 200 of the authenticated MESSAGE."""
    reg, peer = Registrar(), Peer("tunnel-message-407.xml")
    cfg = ('<sipsvc><identity uri="sip:alice@127.0.0.1"/><registration '
           'registrar="sip:127.0.0.1:%d" user="alice" password="secret"/></sipsvc>' % reg.port)
    try:
        with running(Daemon(config=cfg)) as d, d.unix_client() as c:
            ok, line = tunnel(c, peer.uri)
            check_eq(ok.tag, "Ok", "reply: " + line)
            statuses = []
            while not statuses or int(statuses[-1]) < 200 or statuses[-1] == "407":
                ev, line = c.recv_xml(timeout=20)
                if ev.tag == "Event" and ev.get("type") == "tunnel":
                    xsd_validate(line)
                    statuses.append(ev.get("status"))
            check_eq(statuses[-1], "200", "the authenticated MESSAGE's 200 (%s)" % statuses)
            check_eq(peer.wait(), 0, "SIPp: 407, then the MESSAGE with Proxy-Authorization")
        msgs = peer.received("MESSAGE")
        check_eq(len(msgs), 2, "two MESSAGEs")
        auth = re.search(r"(?im)^Proxy-Authorization:\s*Digest\s+(.*)$", msgs[1])
        check(auth, "the second MESSAGE carries Proxy-Authorization")
        p = digest_params(auth.group(1))
        ha1 = hashlib.md5(b"alice:proxy.sipsvc.test:secret").hexdigest()
        ha2 = hashlib.md5(("MESSAGE:" + p.get("uri", "")).encode()).hexdigest()
        want = hashlib.md5(":".join([ha1, p.get("nonce", ""), p.get("nc", ""),
                                     p.get("cnonce", ""), "auth", ha2]).encode()).hexdigest()
        check_eq((p.get("realm"), p.get("qop")), ("proxy.sipsvc.test", "auth"), "realm, qop")
        check_eq(p.get("response"), want, "the digest (RFC 2617 3.2.2.1, qop=auth)")
    finally:
        peer.close()
        reg.close()


if __name__ == "__main__":
    main()
