#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Digest authentication as a UAC (RFC 3261 22, RFC 8760) with the SIP layer
(tests/integration/sip-dialog): MD5 checked by SIPp's verifyauth on REGISTER (401),
the 407 flow of an INVITE with SIPp, and SHA-256, stale=true, wrong passwords, 407
digests and the choice among several challenges checked by a registrar written here
with hashlib."""

import hashlib
import os
import re
import socket
import subprocess
import threading
import time

import siptest as t

PROG = os.path.join(t.TOP_BUILDDIR, "tests", "integration", "sip-dialog")
ENV = dict(os.environ, SIP_USER="alice", SIP_PASSWORD="secret")


def run_client(args, env=ENV, timeout=60):
    p = subprocess.run([PROG] + args, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode()
    m = re.search(r"final (\d+)", out)
    return p.returncode, int(m.group(1)) if m else None, out


def sipp_server(scenario, transport, calls):
    kind = socket.SOCK_DGRAM if transport == "u1" else socket.SOCK_STREAM
    port = t.free_port(kind=kind)
    # tn: one socket per call, so that each client's connection is served on its own.
    p = t.reap(subprocess.Popen([t.SIPP, "-sf", os.path.join(t.SCENARIOS, scenario),
                          "-t", "tn" if transport == "t1" else transport,
                          "-max_socket", "100", "-i", "127.0.0.1", "-p", str(port),
                          "-m", str(calls), "-nostdin",
                          "-timeout", "60", "-timeout_error"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, cwd="/tmp"))
    time.sleep(0.5)
    return p, port


# ---- SIPp: MD5 with verifyauth (401), then the INVITE/407 flow -------------------------
for tr in ("u1", "t1"):
    extra = ["tcp"] if tr == "t1" else []
    # One SIPp per client call: a second call to the same SIPp over TCP ("tn", a socket
    # per call) was sometimes never answered, a SIPp matter, not ours.
    p, port = sipp_server("uas-auth-401.xml", tr, 1)
    rc, final, out = run_client(["request", "REGISTER", str(port)] + extra)
    t.check(rc == 0 and final == 200,
            "REGISTER over %s: 401 answered with MD5 digest, verifyauth accepts (%s)" % (tr, final))
    t.check(p.wait(30) == 0, "SIPp registrar scenario completed")
    p, port = sipp_server("uas-auth-401.xml", tr, 1)
    rc, final, out = run_client(["request", "REGISTER", str(port)] + extra,
                                env=dict(ENV, SIP_PASSWORD="wrong"))
    t.check(final == 403, "REGISTER with a wrong password: verifyauth refuses, 403 (%s)" % final)
    t.check(p.wait(30) == 0, "SIPp registrar scenario completed")
    p, port = sipp_server("uas-auth-407.xml", tr, 1)
    rc, final, out = run_client(["uac", str(port), "1"] + extra)
    print(out.strip())
    t.check(rc == 0, "INVITE over %s: 407, ACK, INVITE with Proxy-Authorization and CSeq 2, "
            "200, ACK, BYE" % tr)
    t.check(p.wait(30) == 0, "SIPp proxy scenario completed")


# ---- our registrar: SHA-256, stale, wrong password, 407, several challenges ---------------
def H(alg, s):
    f = hashlib.sha256 if alg.upper().startswith("SHA-256") else hashlib.md5
    return f(s.encode()).hexdigest()


def params(value):
    return {k: (a if a else b) for k, a, b in
            re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', value)}


def digest_ok(value, method, password):
    p = params(value)
    alg = p.get("algorithm", "MD5")
    ha1 = H(alg, "%s:%s:%s" % (p["username"], p["realm"], password))
    ha2 = H(alg, "%s:%s" % (method, p["uri"]))
    if "qop" in p:
        want = H(alg, ":".join([ha1, p["nonce"], p["nc"], p["cnonce"], p["qop"], ha2]))
    else:
        want = H(alg, ":".join([ha1, p["nonce"], ha2]))
    return want == p.get("response"), p


class Registrar(threading.Thread):
    """Answers each request by @plan(request, headers) -> (status, extra headers)."""

    def __init__(self, plan):
        super().__init__(daemon=True)
        self.plan = plan
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.stop = False
        self.start()

    def run(self):
        seen = set()
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            head = data.split(b"\r\n\r\n")[0].decode()
            lines = head.split("\r\n")
            method = lines[0].split()[0]
            branch = re.search(r"branch=([^;\s]+)", head).group(1)
            if method == "ACK" or branch in seen:
                continue
            seen.add(branch)
            self.requests.append(head)
            status, extra = self.plan(method, head)
            hdr = [l for l in lines[1:] if re.match(r"(?i)(via|from|to|call-id|cseq):", l)]
            hdr = [l + (";tag=reg1" if l.lower().startswith("to:") and "tag=" not in l
                        else "") for l in hdr]
            resp = "SIP/2.0 %d X\r\n%s\r\n%sContent-Length: 0\r\n\r\n" % (
                status, "\r\n".join(hdr), "".join(h + "\r\n" for h in extra))
            self.sock.sendto(resp.encode(), peer)

    def close(self):
        self.stop = True
        self.join()
        self.sock.close()


def challenge(kind="WWW", alg="SHA-256", nonce="n1", stale=False):
    return "%s-Authenticate: Digest realm=\"reg.test\", nonce=\"%s\", algorithm=%s, " \
           "qop=\"auth\"%s" % (kind, nonce, alg, ", stale=true" if stale else "")


def plan_sha256(method, head):
    auth = t.header(head.encode(), "Authorization")
    if not auth:
        return 401, [challenge()]
    ok, p = digest_ok(auth, method, "secret")
    return (200 if ok and p.get("algorithm") == "SHA-256" and p.get("nc") == "00000001"
            else 403), []


r = Registrar(plan_sha256)
rc, final, out = run_client(["request", "REGISTER", str(r.port)])
r.close()
t.check(final == 200, "SHA-256 challenge (RFC 8760), qop=auth, nc=00000001: 200 (%s)" % final)
t.check(len(r.requests) == 2, "one retry (%d requests)" % len(r.requests))
cseqs = [t.header(x.encode(), "CSeq") for x in r.requests]
t.check(cseqs == ["1 REGISTER", "2 REGISTER"], "CSeq incremented on the retry %s" % cseqs)


def plan_stale(method, head):
    auth = t.header(head.encode(), "Authorization")
    if not auth:
        return 401, [challenge(nonce="old")]
    ok, p = digest_ok(auth, method, "secret")
    if p["nonce"] == "old":
        return 401, [challenge(nonce="fresh", stale=ok)]
    return (200 if ok else 403), []


r = Registrar(plan_stale)
rc, final, out = run_client(["request", "REGISTER", str(r.port)])
r.close()
t.check(final == 200 and len(r.requests) == 3,
        "stale=true: retried with the new nonce, 200 (%s after %d)" % (final, len(r.requests)))

r = Registrar(lambda m, h: (401, [challenge(nonce=os.urandom(4).hex())]))
rc, final, out = run_client(["request", "REGISTER", str(r.port)])
r.close()
t.check(final == 401 and len(r.requests) == 2,
        "rejected again without stale: given up after one retry, 401 (%s after %d)"
        % (final, len(r.requests)))


def plan_several(method, head):
    auth = t.header(head.encode(), "Proxy-Authorization")
    if not auth:
        return 407, [challenge("Proxy", "SHA-512-256", "a"), challenge("Proxy", "SHA-256", "b"),
                     challenge("Proxy", "MD5", "c")]
    ok, p = digest_ok(auth, method, "secret")
    return (200 if ok and p["nonce"] == "b" else 403), []


r = Registrar(plan_several)
rc, final, out = run_client(["request", "OPTIONS", str(r.port)])
r.close()
t.check(final == 200, "407 with SHA-512-256, SHA-256, MD5 challenges: the topmost supported "
        "(SHA-256) answered in Proxy-Authorization (%s)" % final)
