# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures of the file-transfer tests: a holder daemon sharing a directory and a
receiver daemon that knows the holder by its node URI (<overlay><peer uri>), Fetch
requests and their transfer events. Standard library only."""

import hashlib
import os
import re
import secrets
import time

from sipsvctest import (TIMEOUT, Client, Daemon, TestFailure, check, check_eq, status_of,
                        wait_for, xsd_validate)

CHUNK = 1 << 20


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                return h.hexdigest()
            h.update(b)


def make_file(path, size, seed=0):
    """@size pseudo-random bytes (fast: a repeated random block with a counter)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    block = hashlib.sha512(b"%d" % seed).digest() * (CHUNK // 64)
    with open(path, "wb") as f:
        left, n = size, 0
        while left > 0:
            piece = (b"%016d" % n) + block[16:]
            f.write(piece[:min(left, CHUNK)])
            left -= min(left, CHUNK)
            n += 1
    return sha256_file(path)


def sip_port(d):
    for s in d.status().findall("Sip"):
        m = re.match(r"^[0-9.]+:(\d+)$", s.get("address", ""))
        if m and s.get("transport") == "udp":
            return int(m.group(1))
    raise TestFailure("no UDP SIP socket in <Status/>")


def counts(d):
    return status_checked(d).find("Counts")


def status_checked(d):
    """<Status/> of @d, checked against sipsvc.xsd."""
    with d.unix_client() as c:
        st, line = status_of(c)
    xsd_validate(line)
    return st


def transfers(d):
    return status_checked(d).findall("Transfer")


def share(d, path):
    """Share @path on @d and wait until every file is hashed."""
    with d.unix_client() as c:
        ok, line = c.request('<Share path="%s"/>' % path)
        check_eq(ok.tag, "Ok", "Share %s: %s" % (path, line))

        def hashed():
            ok, line = c.request('<Shares path="%s"/>' % path)
            s = ok.find("Share")
            return s is not None and s.get("indexing") is None and \
                s.get("files") == s.get("hashed")
        wait_for(hashed, timeout=120, what="%s hashed" % path)


def fresh_dir(path):
    """@path made if missing; the notify socket of a daemon run before is removed."""
    os.makedirs(path, exist_ok=True)
    if os.path.exists(os.path.join(path, "notify")):
        os.unlink(os.path.join(path, "notify"))
    return path


def wait_shared(d, root, sha):
    """Wait until the share @root on @d lists content @sha (inotify, then hashing)."""
    def listed():
        with d.unix_client() as c:
            ok, _ = c.request('<Shares path="%s"/>' % root)
        return any(f.get("sha256") == sha for f in ok.iter("File"))
    wait_for(listed, timeout=60, what="sha256:%s shared" % sha)


def new_peer_id():
    return secrets.token_hex(16)


class Pair:
    """A holder and a receiver on loopback; the receiver knows the holder as PEER."""

    def __init__(self, tmp, holder_args=(), receiver_args=(), receiver_config_extra="",
                 holder_config=None, extra_peers=(), ipv6=False):
        self.tmp = tmp
        self.peer = new_peer_id()
        self.shared = os.path.join(tmp, "shared")
        self.downloads = os.path.join(tmp, "downloads")
        os.makedirs(self.shared, exist_ok=True)
        os.makedirs(self.downloads, exist_ok=True)
        self.holder_args = list(holder_args)
        self.holder_config = holder_config
        self.receiver_args = list(receiver_args)
        self.receiver_extra = receiver_config_extra
        self.extra_peers = extra_peers  # (node id, port) of other peers on 127.0.0.1
        self.ipv6 = ipv6  # the receiver reaches the holder at [::1]
        self.holder = self.receiver = None
        self.holder_port = None

    def start_holder(self, port=None):
        args = self.holder_args + (["--sip-port", str(port)] if port else [])
        htmp = fresh_dir(os.path.join(self.tmp, "holder"))
        self.holder = Daemon(config=self.holder_config, args=args, tmp=htmp)
        self.holder.start()
        self.holder_port = sip_port(self.holder)
        return self.holder

    def receiver_config(self):
        peers = [(self.peer, self.holder_port)] + list(self.extra_peers)
        host = "[::1]" if self.ipv6 else "127.0.0.1"
        return ('<sipsvc><overlay>%s</overlay>%s</sipsvc>'
                % ("".join('<peer uri="sip:%s@%s:%d"/>' % (p[0], host, p[1]) for p in peers),
                   self.receiver_extra))

    def start_receiver(self):
        rtmp = fresh_dir(os.path.join(self.tmp, "receiver"))
        self.receiver = Daemon(args=["--download-dir", self.downloads] + self.receiver_args,
                               tmp=rtmp)
        self.receiver.config_path = os.path.join(rtmp, "sipsvc.xml")
        self.receiver.write_config(self.receiver_config())
        self.receiver.start()
        return self.receiver

    def start(self):
        self.start_holder()
        self.start_receiver()
        return self

    def stop(self):
        """Stop the daemons still running: exit 0, nothing logged at err or worse."""
        for d in (self.receiver, self.holder):
            if d and d.proc and d.proc.poll() is None:
                d.stop()

    def cleanup(self):
        for d in (self.receiver, self.holder):
            if d:
                d.kill()
                if d.notify_sock:
                    d.notify_sock.close()
                    d.notify_sock = None

    def dump(self):
        for name, d in (("holder", self.holder), ("receiver", self.receiver)):
            if d:
                print("--- %s log ---\n%s\n---" % (name, d.log()))


class Fetch:
    """One Fetch on its own control connection, and its events."""

    def __init__(self, d, sha, peer, ref="f1", to=None):
        self.c = d.unix_client()
        self.events = []
        extra = ' to="%s"' % to if to else ""
        self.reply, self.line = self.c.request(
            '<Fetch ref="%s" file="sha256:%s" from="%s"%s/>' % (ref, sha, peer, extra))
        xsd_validate(self.line)
        self.transfer = self.reply.get("transfer")

    def ok(self):
        check_eq(self.reply.tag, "Ok", "reply to Fetch: %s" % self.line)
        check(re.match(r"^t\d+$", self.transfer or ""), "Ok names the transfer: %s" % self.line)
        return self

    def next_event(self, timeout=TIMEOUT):
        el, line = self.c.recv_xml(timeout)
        check_eq(el.tag, "Event", "only events follow the reply: %s" % line)
        xsd_validate(line)
        check_eq(el.get("type"), "transfer", "event type: %s" % line)
        check_eq(el.get("transfer"), self.transfer, "event's transfer: %s" % line)
        self.events.append(el)
        return el

    def wait_end(self, timeout=60):
        """Events until done, failed, paused or cancelled; returns the last one."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("transfer %s did not end in %d s; events: %s"
                                  % (self.transfer, timeout,
                                     [e.attrib for e in self.events[-5:]]))
            e = self.next_event(left)
            if e.get("state") in ("done", "failed", "paused", "cancelled"):
                return e

    def wait_state(self, state, timeout=60, cond=lambda e: True):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("no %s event within %d s" % (state, timeout))
            e = self.next_event(left)
            if e.get("state") == state and cond(e):
                return e
            if e.get("state") in ("done", "failed", "paused", "cancelled"):
                raise TestFailure("transfer ended %s while waiting for %s: %s"
                                  % (e.get("state"), state, e.attrib))

    def close(self):
        self.c.close()


def check_done(e, sha, size, what):
    check_eq(e.get("state"), "done", "%s: end state (%s)" % (what, e.attrib))
    check_eq(e.get("sha256"), sha, "%s: verified hash" % what)
    check_eq(e.get("bytes"), str(size), "%s: bytes" % what)
    check_eq(e.get("total"), str(size), "%s: total" % what)
    return e.get("name")


def selector_hash(sha):
    """RFC 5547 §5 / RFC 4572: "hash:sha-256:" and the digest as colon-separated hex."""
    return "hash:sha-256:" + ":".join(sha[i:i + 2].upper() for i in range(0, 64, 2))


def _headers(msg):
    head = msg.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    out = {}
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        out.setdefault(k.strip().lower(), v.strip())
    return out


class FakeHolder:
    """A hostile holder: answers one file INVITE (UDP) with a file-selector naming
    @name, then sends @data as one MSRP SEND to the receiver's a=path. What a broken or
    malicious peer could send; the receiver must keep the file inside its download dir."""

    def __init__(self, name, data, message=None, passive=False, refuse_first=False):
        import socket
        self.name, self.data, self.passive = name, data, passive
        self.refuse_first = refuse_first
        if message:  # a lying SEND instead of the right one
            self.message = lambda path: message(self, path)
        self.sha = hashlib.sha256(data).hexdigest()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.error = None

    def _recv_request(self, method):
        while True:
            msg, addr = self.sock.recvfrom(65536)
            if msg.startswith(method.encode() + b" "):
                return msg, addr
            # anything else (a retransmitted INVITE) is skipped

    def _response(self, req, status, extra="", body=""):
        h = _headers(req)
        to = h["to"] if ";tag=" in h["to"] else h["to"] + ";tag=fake1"
        lines = ["SIP/2.0 %s" % status, "Via: " + h["via"], "From: " + h["from"], "To: " + to,
                 "Call-ID: " + h["call-id"], "CSeq: " + h["cseq"],
                 "Contact: <sip:fake@127.0.0.1:%d>" % self.port]
        if extra:
            lines.append(extra)
        lines.append("Content-Length: %d" % len(body.encode()))
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def message(self, path, first=1, end_flag="$", extra_header="", body=None):
        """One MSRP SEND (RFC 4975 7.1) of the file; the arguments make it lie."""
        n = len(self.data)
        body = self.data if body is None else body
        return (("MSRP fake0001 SEND\r\nTo-Path: %s\r\n"
                 "From-Path: msrp://127.0.0.1:9/fake;tcp\r\nMessage-ID: msg00001\r\n"
                 "Success-Report: yes\r\nByte-Range: %d-%d/%d\r\n%s"
                 "Content-Type: application/octet-stream\r\n\r\n"
                 % (path, first, n, n, extra_header)).encode() + body +
                ("\r\n-------fake0001%s\r\n" % end_flag).encode())

    def _answer_binding(self, s):
        """RFC 4975 5.4: the active receiver's first SEND binds the connection; 200."""
        got = b""
        while not re.search(rb"-------(\S+)\$\r\n", got):
            chunk = s.recv(65536)
            if not chunk:
                raise TestFailure("no binding SEND from the receiver: %r" % got)
            got += chunk
        tx = re.match(rb"MSRP (\S+) SEND", got).group(1).decode()
        frm = re.search(rb"From-Path: (\S+)", got).group(1).decode()
        s.sendall(("MSRP %s 200 OK\r\nTo-Path: %s\r\nFrom-Path: msrp://127.0.0.1:9/fake;tcp"
                   "\r\n-------%s$\r\n" % (tx, frm, tx)).encode())

    def serve(self):
        import socket
        if self.refuse_first:  # as a holder re-hashing a changed file does
            inv, addr = self._recv_request("INVITE")
            self.sock.sendto(self._response(inv, "503 Service Unavailable", "Retry-After: 5"),
                             addr)
            self._recv_request("ACK")
            self.refused_at = time.monotonic()
        inv, addr = self._recv_request("INVITE")
        self.invited_at = time.monotonic()
        offer = inv.split(b"\r\n\r\n", 1)[1].decode()
        c = re.search(r"(?m)^c=IN IP4 (\S+)", offer).group(1)
        port = int(re.search(r"(?m)^m=message (\d+) ", offer).group(1))
        path = re.search(r"(?m)^a=path:(\S+)", offer).group(1)
        lsock, mport = None, 9
        if self.passive:  # RFC 4145: we listen, the receiver connects
            lsock = socket.create_server(("127.0.0.1", 0))
            mport = lsock.getsockname()[1]
        sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=message %d TCP/MSRP *\r\na=sendonly\r\na=accept-types:*\r\n"
               "a=path:msrp://127.0.0.1:%d/fake;tcp\r\na=setup:%s\r\n"
               'a=file-selector:name:"%s" type:application/octet-stream size:%d %s\r\n'
               % (mport, mport, "passive" if self.passive else "active", self.name,
                  len(self.data), selector_hash(self.sha)))
        ok = self._response(inv, "200 OK", "Content-Type: application/sdp", sdp)
        self.sock.sendto(ok, addr)
        self._recv_request("ACK")
        if lsock:
            lsock.settimeout(TIMEOUT)
            s, _ = lsock.accept()
            lsock.close()
            self._answer_binding(s)
        else:
            s = socket.create_connection((c, port), timeout=TIMEOUT)
        with s:
            s.sendall(self.message(path))
            got = b""
            while b"REPORT" not in got:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
        bye, addr = self._recv_request("BYE")
        self.sock.sendto(self._response(bye, "200 OK"), addr)

    def run(self):
        import threading

        def body():
            try:
                self.serve()
            except Exception as e:  # reported by the test
                self.error = e
        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()

    def join(self):
        self.thread.join(TIMEOUT)
        self.sock.close()
        if self.error:
            raise TestFailure("fake holder: %r" % self.error)
