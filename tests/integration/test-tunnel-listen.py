#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""<Tunnel><Listen>/<Unlisten>/<Response> and in-dialog <Tunnel><Request call leg>.

Inbound out-of-dialog requests of a listened method reach the one listening
connection as a `tunnel` event with a tx id; the client's Response goes back to the
peer (SIPp checks the client's header and body); nobody listening: 405 with Allow,
and Allow (OPTIONS) lists the method only while a listener exists; no answer in 5 s:
408; the listener disconnects: 480 for what it left, 405 again for new requests; one
listener per method (busy); refused methods, headers and sizes (413 for a body a listener would not
take). In-dialog INFO on a loop-mode
call reaches the SIPp device inside its dialog and its 200 comes back as an event;
a re-INVITE with the client's offer is ACKed by the service; a REFER is accepted."""

import os
import re
import socket
import subprocess
import tempfile
import time

from calltest import Peer, config, free_udp, join, sip_device
from sipsvctest import (Daemon, check, check_eq, main, running, test, wait_for,
                        xsd_validate)
from siptest import header, request, status_line

SCENARIOS = os.path.join(os.environ.get("top_srcdir", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "sipp")


def sip_port(d):
    for s in d.status().findall("Sip"):
        if s.get("transport") == "udp" and s.get("address", "").startswith("0.0.0.0:"):
            return int(s.get("address").rsplit(":", 1)[1])
    raise AssertionError("no UDP SIP address in Status")


class Uac:
    """A UDP socket on an ephemeral loopback port sending raw requests to the daemon."""

    def __init__(self, port):
        self.port = port
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.lport = self.s.getsockname()[1]

    def send(self, method, body="", extra=""):
        if body:
            extra += "\nContent-Type: text/plain"
        data = request(method, self.port, lport=self.lport, body=body, extra=extra)
        self.s.sendto(data, ("127.0.0.1", self.port))

    def final(self, timeout=10):
        """The next final response (1xx skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            check(left > 0, "a final response within %d s" % timeout)
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            if (status_line(data)[0] or 0) >= 200:
                return data

    def exchange(self, method, **kw):
        self.send(method, **kw)
        return self.final()

    def close(self):
        self.s.close()


def allow(uac):
    resp = uac.exchange("OPTIONS")
    check_eq(status_line(resp)[0], 200, "OPTIONS answered")
    return [m.strip() for m in (header(resp, "Allow") or "").split(",")]


def next_tunnel_event(c, timeout=10):
    while True:
        el, line = c.recv_xml(timeout)
        if el.tag == "Event" and el.get("type") == "tunnel":
            xsd_validate(line)
            return el


def listen(c, method="MESSAGE", ref="l1"):
    ok, line = c.request('<Tunnel ref="%s"><Listen method="%s"/></Tunnel>' % (ref, method))
    xsd_validate(line)
    check_eq(ok.tag, "Ok", "Listen %s: %s" % (method, line))


def respond(c, tx, status=200, inner="", reason=None):
    ok, line = c.request('<Tunnel><Response to="%s" status="%d"%s>%s</Response></Tunnel>'
                         % (tx, status, ' reason="%s"' % reason if reason else "", inner))
    xsd_validate(line)
    return ok


def sipp_uac(scenario, port):
    tmp = tempfile.mkdtemp(prefix="sipsvc-listen-")
    p = subprocess.Popen(["sipp", "-sf", os.path.join(SCENARIOS, scenario), "-t", "u1",
                          "-i", "127.0.0.1", "-p", "0", "-m", "1", "-nostdin",
                          "-timeout", "20", "-timeout_error", "-trace_err",
                          "127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp)
    return p, tmp


def sipp_errors(tmp):
    out = ""
    for f in os.listdir(tmp):
        with open(os.path.join(tmp, f), errors="replace") as fh:
            out += fh.read()[-1500:]
    return out


@test
def inbound_message_answered_by_the_listener():
    with running(Daemon()) as d, d.unix_client() as c:
        port = sip_port(d)
        uac = Uac(port)
        try:
            check("MESSAGE" not in allow(uac), "Allow without MESSAGE before Listen")
            listen(c)
            check("MESSAGE" in allow(uac), "Allow lists MESSAGE while a listener exists")
            p, tmp = sipp_uac("tunnel-message-uac.xml", port)
            try:
                ev = next_tunnel_event(c)
                check_eq((ev.get("method"), ev.get("ref")), ("MESSAGE", "l1"),
                         "the event names the method and the Listen's ref")
                check(re.match(r"^[A-Za-z0-9._~-]{16,64}$", ev.get("tx") or ""),
                      "a long opaque tx id: %r" % ev.get("tx"))
                check_eq(ev.get("uri"), "sip:service@127.0.0.1:%d" % port, "Request-URI")
                check(ev.get("from", "").startswith("sip:sipp@127.0.0.1"), "from=")
                heads = {h.get("name").lower(): h.get("value") for h in ev.findall("Header")}
                check_eq(heads.get("x-from-sipp"), "inbound", "the peer's own header")
                check(heads.get("via") and heads.get("call-id"), "Via and Call-ID given")
                check_eq(heads.get("cseq"), "1 MESSAGE", "CSeq")
                body = ev.find("Body")
                check_eq((body.get("type"), body.text.strip()), ("text/plain", "hello listener"),
                         "the body")
                ok = respond(c, ev.get("tx"), 200,
                             '<Header name="X-Listener" value="answered"/>'
                             '<Body type="text/plain">pong from client</Body>')
                check_eq(ok.tag, "Ok", "the Response is taken")
                out, _ = p.communicate(timeout=30)
                check_eq(p.returncode, 0, "SIPp saw the client's 200, header and body: %s %s"
                         % (out.decode(errors="replace")[-800:], sipp_errors(tmp)))
                err = respond(c, ev.get("tx"), 200)
                check_eq(err.get("code"), "not-found", "a second answer to the same tx")
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                subprocess.run(["rm", "-rf", tmp])
        finally:
            uac.close()


@test
def no_listener_405_one_listener_per_method_and_unlisten():
    with running(Daemon()) as d:
        uac = Uac(sip_port(d))
        try:
            resp = uac.exchange("MESSAGE", body="x")
            check_eq(status_line(resp)[0], 405, "no listener: 405")
            check("MESSAGE" not in (header(resp, "Allow") or ""), "Allow without MESSAGE")
            check("OPTIONS" in (header(resp, "Allow") or ""), "405 carries Allow")
            with d.unix_client() as a, d.unix_client() as b:
                listen(a)
                listen(a)  # the same connection again: still Ok, still one listener
                err, line = b.request('<Tunnel><Listen method="MESSAGE"/></Tunnel>')
                xsd_validate(line)
                check_eq(err.get("code"), "busy", "a second listener of MESSAGE: %s" % line)
                check("Unlisten" in err.text, "says how to get the method: %r" % err.text)
                err, _ = b.request('<Tunnel><Unlisten method="MESSAGE"/></Tunnel>')
                check_eq(err.get("code"), "not-found", "b cannot Unlisten a's listen")
                a.close()
                # The close is seen by the daemon's loop: poll for its effect.
                wait_for(lambda: "MESSAGE" not in allow(uac), what="Allow without MESSAGE")
                resp = uac.exchange("MESSAGE", body="x")
                check_eq(status_line(resp)[0], 405, "listener gone: 405 again")
                listen(b)
                uac.send("MESSAGE", body="to b")
                ev = next_tunnel_event(b)
                check_eq(ev.find("Body").text, "to b", "the second listener gets it")
                ok = respond(b, ev.get("tx"), 202, reason="Queued Here")
                check_eq(ok.tag, "Ok", "202 taken")
                resp = uac.final()
                check_eq(status_line(resp), (202, "Queued Here"), "the client's status/reason")
                ok, _ = b.request('<Tunnel><Unlisten method="MESSAGE"/></Tunnel>')
                check_eq(ok.tag, "Ok", "Unlisten")
                check_eq(status_line(uac.exchange("MESSAGE", body="x"))[0], 405,
                         "405 after Unlisten")
                check("MESSAGE" not in allow(uac), "Allow without MESSAGE after Unlisten")
        finally:
            uac.close()


@test
def no_answer_408_and_disconnect_480():
    with running(Daemon()) as d:
        uac = Uac(sip_port(d))
        try:
            with d.unix_client() as c:
                listen(c)
                t0 = time.monotonic()
                uac.send("MESSAGE", body="nobody answers")
                ev = next_tunnel_event(c)
                resp = uac.final(timeout=15)
                took = time.monotonic() - t0
                check_eq(status_line(resp)[0], 408, "no answer: 408 from the service")
                check(4.5 <= took <= 10, "after about 5 s (%.1f s)" % took)
                err = respond(c, ev.get("tx"), 200)
                check_eq(err.get("code"), "not-found", "too late an answer")
                check("408" in err.text, "says why: %r" % err.text)
                uac.send("MESSAGE", body="then the client goes")
                next_tunnel_event(c)
                t0 = time.monotonic()
            resp = uac.final(timeout=10)
            check_eq(status_line(resp)[0], 480, "the listener went away: 480 (RFC 3261 21.4.18)")
            check(time.monotonic() - t0 < 3, "at once, not after the 5 s")
            check_eq(status_line(uac.exchange("MESSAGE", body="x"))[0], 405, "then 405")
        finally:
            uac.close()


@test
def refused_methods_headers_and_bounds():
    with running(Daemon()) as d, d.unix_client() as c, d.unix_client() as other:
        for m in ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "SUBSCRIBE", "INFO"):
            err, line = c.request('<Tunnel><Listen method="%s"/></Tunnel>' % m)
            xsd_validate(line)
            check_eq((err.tag, err.get("code")), ("Error", "invalid"), "Listen %s" % m)
        listen(c)
        uac = Uac(sip_port(d))
        try:
            resp = uac.exchange("MESSAGE", body="b" * 33000)
            check_eq(status_line(resp)[0], 413, "a body over 32768 bytes: 413, not delivered")
            uac.send("MESSAGE", body="x")
            ev = next_tunnel_event(c)
            check_eq(ev.find("Body").text, "x", "the next request is the one delivered")
            tx = ev.get("tx")
            for name in ("Via", "To", "t", "From", "Call-ID", "CSeq", "Content-Length"):
                err = respond(c, tx, 200, '<Header name="%s" value="x"/>' % name)
                check_eq(err.get("code"), "invalid", "Response header %s" % name)
                check(name in err.text, err.text)
            err = respond(c, tx, 200, '<Body type="text/plain">%s</Body>' % ("y" * 32769))
            check_eq(err.get("code"), "too-large", "a body over 32768 bytes")
            err = respond(c, tx, 200, '<Header name="X-Long" value="%s"/>' % ("z" * 1000))
            check_eq(err.get("code"), "too-large", "a header line over 1000 characters")
            err = respond(other, tx, 200)
            check_eq(err.get("code"), "not-found", "another connection cannot answer")
            err = respond(c, "x1.0000000000000000", 200)
            check_eq(err.get("code"), "not-found", "an unknown tx")
            for status in (100, 180):
                err = respond(c, tx, status)
                check_eq(err.get("code"), "invalid", "a provisional %d (RFC 4320 4.1)" % status)
            check_eq(respond(c, tx, 200).tag, "Ok", "then the final one")
            check_eq(status_line(uac.final())[0], 200, "the peer gets the 200")
        finally:
            uac.close()
        err, _ = c.request('<Tunnel><Request method="MESSAGE" uri="sip:a@127.0.0.1:9">'
                           '<Body type="text/plain">%s</Body></Request></Tunnel>' % ("y" * 32769))
        check_eq(err.get("code"), "too-large", "a tunnelled request's body over the bound")
        for attrs, code in (('call="c9" leg="device"', "no-such-call"),
                            ('call="c1"', "invalid")):
            err, line = c.request('<Tunnel><Request method="INFO" uri="sip:a@127.0.0.1:9" %s/>'
                                  '</Tunnel>' % attrs)
            xsd_validate(line)
            check_eq(err.get("code"), code, "in-dialog %s: %s" % (attrs, line))


@test
def bounds_of_listens_and_of_waiting_requests():
    """16 methods listened to at most (limit); 64 requests waiting for one connection's
    answers at most: the 65th gets 503 with Retry-After (RFC 3261 21.5.4)."""
    with running(Daemon()) as d, d.unix_client() as c:
        for i in range(16):
            listen(c, "X-M%d" % i)
        err, line = c.request('<Tunnel><Listen method="X-M16"/></Tunnel>')
        xsd_validate(line)
        check_eq(err.get("code"), "limit", "a 17th method: " + line)
        uac = Uac(sip_port(d))
        try:
            for i in range(64):
                uac.send("X-M1")
            txs = {next_tunnel_event(c).get("tx") for _ in range(64)}
            check_eq(len(txs), 64, "64 requests delivered with distinct tx ids")
            resp = uac.exchange("X-M1")
            check_eq(status_line(resp)[0], 503, "the 65th waiting request: 503")
            check(header(resp, "Retry-After"), "with Retry-After")
            for tx in sorted(txs):
                check_eq(respond(c, tx, 200).tag, "Ok", "answer %s" % tx)
            oks = [uac.final() for _ in range(64)]
            check(all(status_line(r)[0] == 200 for r in oks), "64 answers of 200")
            uac.send("X-M1")
            check(next_tunnel_event(c).get("tx") not in txs, "room again, a new tx id")
        finally:
            uac.close()


def tags(text):
    def tag(name):
        m = re.search(r"(?im)^%s:.*;tag=([^;\s]+)" % name, text)
        return m.group(1) if m else None
    m = re.search(r"(?im)^Call-ID:\s*(\S+)", text)
    return m.group(1) if m else None, tag("From"), tag("To")


def wait_connected(c):
    while True:
        el, line = c.recv_xml(15)
        xsd_validate(line)
        if el.tag == "Event" and el.get("type") == "call" and el.get("leg") is None:
            check(el.get("state") not in ("ended", "failed"), "the call came up: " + line)
            if el.get("state") == "connected":
                return


@test
def info_inside_the_device_dialog_of_a_loop_call():
    dev, tgt = Peer("tunnel-info-device.xml"), Peer("call-target.xml")
    try:
        with running(Daemon(config=config([sip_device("desk", dev.uri, "loop")]))) as d:
            with d.unix_client() as c:
                call = join(c, tgt.uri, "desk")
                wait_connected(c)
                for method, inner, code in (
                        ("BYE", "", "invalid"),
                        ("INVITE", "", "invalid"),
                        ("INFO", '<Header name="Route" value="&lt;sip:x@127.0.0.1&gt;"/>',
                         "invalid")):
                    err, line = c.request('<Tunnel><Request method="%s" uri="%s" call="%s" '
                                          'leg="device">%s</Request></Tunnel>'
                                          % (method, dev.uri, call, inner))
                    check_eq(err.get("code"), code, "in-dialog %s: %s" % (method, line))
                ok, line = c.request(
                    '<Tunnel ref="i1"><Request method="INFO" uri="%s" call="%s" leg="device">'
                    '<Header name="Info-Package" value="dtmf"/>'
                    '<Body type="application/dtmf-relay">Signal=5&#13;&#10;Duration=160'
                    '</Body></Request></Tunnel>' % (dev.uri, call))
                xsd_validate(line)
                check_eq(ok.tag, "Ok", "INFO sent: " + line)
                ev = next_tunnel_event(c)
                check_eq((ev.get("ref"), ev.get("call"), ev.get("leg"), ev.get("status")),
                         ("i1", call, "device", "200"), "the device's 200 as a tunnel event")
                heads = {h.get("name").lower(): h.get("value") for h in ev.findall("Header")}
                check_eq(heads.get("x-info-answer"), "from-device", "the device's header")
                check_eq(ev.find("Body").text.strip(), "info taken", "the device's body")
                sdp = ("v=0&#13;&#10;o=client 1 2 IN IP4 127.0.0.1&#13;&#10;s=-&#13;&#10;"
                       "c=IN IP4 127.0.0.1&#13;&#10;t=0 0&#13;&#10;m=audio 40000 RTP/AVP 0"
                       "&#13;&#10;")
                ok, line = c.request(
                    '<Tunnel ref="i2"><Request method="INVITE" uri="%s" call="%s" '
                    'leg="device"><Body type="application/sdp">%s</Body></Request></Tunnel>'
                    % (dev.uri, call, sdp))
                check_eq(ok.tag, "Ok", "re-INVITE sent: " + line)
                ev = next_tunnel_event(c)
                while int(ev.get("status")) < 200:
                    ev = next_tunnel_event(c)
                check_eq((ev.get("ref"), ev.get("status")), ("i2", "200"), "re-INVITE answered")
                check_eq(ev.find("Body").get("type"), "application/sdp", "with the answer")
                ok, line = c.request(
                    '<Tunnel ref="i3"><Request method="REFER" uri="%s" call="%s" '
                    'leg="device"><Header name="Refer-To" value="&lt;sip:carol@127.0.0.1&gt;"/>'
                    '<Header name="Refer-Sub" value="false"/></Request></Tunnel>'
                    % (dev.uri, call))
                check_eq(ok.tag, "Ok", "REFER sent: " + line)
                ev = next_tunnel_event(c)
                check_eq((ev.get("ref"), ev.get("status")), ("i3", "202"), "REFER accepted")
                ok, _ = c.request('<Hangup call="%s"/>' % call)
                check_eq(ok.tag, "Ok", "Hangup")
            check_eq(dev.wait(), 0, "SIPp device: INFO, re-INVITE and its ACK, REFER, BYE")
            check_eq(tgt.wait(), 0, "SIPp target: BYE")
            inv, info = dev.received("INVITE"), dev.received("INFO")
            check(inv and info, "the device got the INVITE and the INFO")
            check_eq(tags(info[0]), tags(inv[0])[:2] + (tags(info[0])[2],),
                     "the INFO has the INVITE's Call-ID and From tag")
            ok200 = [p for p in dev.messages().split("message sent")
                     if re.match(r"[^\n]*\n*SIP/2.0 200", p.split("bytes:", 1)[-1].lstrip())
                     and "CSeq: 1 INVITE" in p]
            check(ok200 and tags(ok200[0])[2] == tags(info[0])[2],
                  "the INFO's To tag is the device's own (its 200's)")
    finally:
        dev.close()
        tgt.close()


if __name__ == "__main__":
    main()
