#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Registration (RFC 3261 10.2) with the SIP layer (tests/integration/sip-dialog)
against a registrar written here: a digest challenge answered, 423 with Min-Expires
honoured (10.2.8), refreshes at 90 % of the granted expiry with the same Call-ID and
a rising CSeq (10.2.4), unregistration with Expires: 0 at the end (10.2.2). Also:
a request over 1300 bytes leaves over TCP (18.1.1); sipsvcd registers from its config
(password file), shows <Registration> in <Status/> and unregisters at exit."""

import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import siptest as t

PROG = os.path.join(t.TOP_BUILDDIR, "tests", "integration", "sip-dialog")
GRANT = 4


def header(head, name):
    return t.header(head.encode(), name)


class Registrar(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.log = []  # (time, head, status)
        self.stop = False
        self.start()

    def answer(self, head):
        auth = header(head, "Authorization")
        exp = int(header(head, "Expires") or 3600)
        if not auth:
            return 401, ['WWW-Authenticate: Digest realm="reg.test", nonce="%s", '
                         'algorithm=SHA-256, qop="auth"' % os.urandom(6).hex()]
        p = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', auth)}
        h = lambda s: hashlib.sha256(s.encode()).hexdigest()
        ha1, ha2 = h("alice:reg.test:secret"), h("REGISTER:" + p["uri"])
        if p["response"] != h(":".join([ha1, p["nonce"], p["nc"], p["cnonce"], "auth", ha2])):
            return 403, []
        if 0 < exp < 3:
            return 423, ["Min-Expires: 3"]
        contact = header(head, "Contact")
        return 200, ["Contact: %s;expires=%d" % (contact, min(exp, GRANT))] if exp else []

    def run(self):
        seen = set()
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            head = data.split(b"\r\n\r\n")[0].decode()
            branch = re.search(r"branch=([^;\s]+)", head).group(1)
            if branch in seen:
                continue
            seen.add(branch)
            status, extra = self.answer(head)
            self.log.append((time.time(), head, status))
            lines = head.split("\r\n")
            hdr = [l for l in lines[1:] if re.match(r"(?i)(via|from|to|call-id|cseq):", l)]
            hdr = [l + (";tag=r1" if l.lower().startswith("to:") else "") for l in hdr]
            resp = "SIP/2.0 %d X\r\n%s\r\n%sContent-Length: 0\r\n\r\n" % (
                status, "\r\n".join(hdr), "".join(x + "\r\n" for x in extra))
            self.sock.sendto(resp.encode(), peer)

    def close(self):
        self.stop = True
        self.join()
        self.sock.close()


r = Registrar()
env = dict(os.environ, SIP_USER="alice", SIP_PASSWORD="secret")
p = subprocess.run([PROG, "register", str(r.port), "2", "9"], env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
r.close()
print(p.stdout.decode().strip())
for ts, head, status in r.log:
    print("%.2f %s Expires=%s -> %d" % (ts - r.log[0][0], header(head, "CSeq"),
                                        header(head, "Expires"), status))
t.check(p.returncode == 0, "registered, refreshed, unregistered, nothing leaked")
statuses = [s for _, _, s in r.log]
t.check(statuses[:4] == [401, 423, 401, 200],
        "401 answered, 423 honoured, challenged again, 200 (%s)" % statuses[:4])
exp = [header(h, "Expires") for _, h, s in r.log]
t.check(any(e == "3" for e in exp), "Expires raised to the Min-Expires 3")
ok = [(ts, h) for ts, h, s in r.log if s == 200 and header(h, "Expires") != "0"]
gaps = [b[0] - a[0] for a, b in zip(ok, ok[1:])]
print("refresh intervals:", ["%.2f" % g for g in gaps])
t.check(len(ok) >= 3, "at least 3 successful REGISTERs in 9 s (%d)" % len(ok))
t.check(all(abs(g - 0.9 * 3) < 0.6 for g in gaps[1:] or gaps),
        "refreshed at 90 %% of the granted 3 s (%s)" % ["%.2f" % g for g in gaps])
cids = {header(h, "Call-ID") for _, h, _ in r.log}
t.check(len(cids) == 1, "one Call-ID for every REGISTER (RFC 3261 10.2)")
seqs = [int(header(h, "CSeq").split()[0]) for _, h, _ in r.log]
t.check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "CSeq rises: %s" % seqs)
t.check(exp[-1] == "0" and statuses[-1] == 200,
        "last REGISTER removes the binding (Expires: 0), 200")

# ---- RFC 3261 18.1.1: a request over 1300 bytes goes over TCP -------------------------
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lst, \
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
    lst.bind(("127.0.0.1", 0))
    lport = lst.getsockname()[1]
    udp.bind(("127.0.0.1", lport))
    lst.listen(1)
    lst.settimeout(10)
    me = t.reap(subprocess.Popen([PROG, "request", "OPTIONS", str(lport)],
                                 env=dict(os.environ, SIP_BIG="1"),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    conn, _ = lst.accept()
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head = data.split(b"\r\n\r\n")[0].decode()
    t.check(len(data) > 1300 and "SIP/2.0/TCP" in header(head, "Via"),
            "a %d-byte OPTIONS went over TCP with a TCP Via" % len(data))
    lines = head.split("\r\n")
    hdr = [l for l in lines[1:] if re.match(r"(?i)(via|from|to|call-id|cseq):", l)]
    conn.sendall(("SIP/2.0 200 OK\r\n%s\r\nContent-Length: 0\r\n\r\n" % "\r\n".join(hdr)).encode())
    out, _ = me.communicate(timeout=30)
    conn.close()
    t.check(me.returncode == 0, "and its 200 came back on that connection")

# ---- sipsvcd registers from its config; Status shows it; SIGTERM unregisters -----------
r = Registrar()
tmp = tempfile.mkdtemp(prefix="sipreg-")
pwfile = os.path.join(tmp, "password")
with open(pwfile, "w") as f:
    f.write("secret\n")
os.chmod(pwfile, 0o600)
cfg = os.path.join(tmp, "sipsvc.xml")
with open(cfg, "w") as f:
    f.write('<sipsvc><identity uri="sip:alice@127.0.0.1"/>'
            '<registration registrar="sip:127.0.0.1:%d" user="alice" password-file="%s" '
            'expires="3"/></sipsvc>\n' % (r.port, pwfile))
d = t.Daemon("--config", cfg)
deadline = time.time() + 10
reg = None
while time.time() < deadline:
    reg = d.status().find("Registration")
    if reg is not None and reg.get("state") == "registered":
        break
    time.sleep(0.2)
t.check(reg is not None and reg.get("state") == "registered" and reg.get("expires") == "3"
        and reg.get("aor") == "sip:alice@127.0.0.1",
        "sipsvcd registered from its config: %s" % (reg.attrib if reg is not None else None))
t.check(d.status_valid(), "Status with <Registration> validates against sipsvc.xsd")
t.check(d.stop() == 0, "sipsvcd exits 0")
time.sleep(0.5)
r.close()
last = r.log[-1][1]
t.check(header(last, "Expires") == "0", "at exit a REGISTER with Expires: 0 left")
shutil.rmtree(tmp, ignore_errors=True)
