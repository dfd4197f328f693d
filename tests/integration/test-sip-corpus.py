#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The malformed-message corpus in tests/data/sip (message classes of RFC 4475 and our
own), each sent raw over UDP and over TCP to a daemon running under valgrind when it
is installed. Each gets the answer RFC 3261 asks for or is dropped; afterwards the
daemon still answers OPTIONS and <Status/>, and exits without a valgrind error."""

import glob
import os
import shutil
import socket

import siptest as t

ANY = "any"
# file: (UDP answer, TCP answer); None: no answer.
EXPECT = {
    "bad-ack-invalid.sip": (None, None),            # an ACK is never answered (17)
    "bad-cancel-nothing.sip": (481, 481),           # 9.2
    "bad-content-length-huge.sip": (400, None),     # TCP: unframeable, closed (18.3)
    "bad-content-length-larger.sip": (400, None),   # TCP: waits for the rest
    "bad-content-length-negative.sip": (400, None),
    "bad-content-length-two.sip": (None, None),
    "bad-cseq-huge.sip": (400, 400),
    "bad-cseq-mismatch.sip": (400, 400),
    "bad-cseq-negative.sip": (400, 400),
    "bad-cseq-unknown-mismatch.sip": (400, 400),
    "bad-leading-space.sip": (None, None),
    "bad-many-vias.sip": (ANY, 400),                # UDP answer goes to the Via's 5060
    "bad-max-forwards-300.sip": (400, 400),
    "bad-max-forwards-text.sip": (400, 400),
    "bad-missing-call-id.sip": (400, 400),
    "bad-missing-from.sip": (400, 400),
    "bad-missing-to-from-cseq.sip": (400, 400),
    "bad-missing-via.sip": (None, None),            # nowhere to answer (18.2.2)
    "bad-nested-brackets.sip": (ANY, ANY),
    "bad-no-blank-line.sip": (ANY, None),
    "bad-not-sip.sip": (None, None),
    "bad-only-crlf.sip": (None, None),              # keep-alive (RFC 5626 4.4.1)
    "bad-request-line-only.sip": (None, None),
    "bad-response-4-digit.sip": (None, None),
    "bad-response-no-reason.sip": (None, None),
    "bad-response-stray.sip": (None, None),
    "bad-to-addr-spec.sip": (ANY, ANY),
    "bad-unbalanced-quote.sip": (ANY, ANY),
    "bad-uri-in-brackets.sip": (ANY, ANY),
    "bad-uri-scheme.sip": (416, 416),               # 8.2.2.1
    "bad-uri-with-spaces.sip": (ANY, ANY),
    "bad-version.sip": (505, 505),
    "bad-via-port.sip": (400, 400),
    "bad-via-version.sip": (400, 400),
    "bin-high-bytes.bin": (ANY, ANY),
    "bin-lf-only.bin": (ANY, ANY),
    "bin-nul-bytes.bin": (None, None),
    "bin-one-byte.bin": (None, None),
    "bin-random.bin": (None, None),
    "bin-truncated.bin": (None, None),
    "valid-odd-method.sip": (405, 405),
}
DEFAULT = (200, 200)  # every other valid-* message is an OPTIONS


def fresh(data):
    """A new branch and Call-ID per send, so that no send retransmits another."""
    tag = os.urandom(4).hex().encode()
    return data.replace(b"z9hG4bK", b"z9hG4bK" + tag).replace(b"@192.0.2.1\r\n",
                                                              b"-" + tag + b"@192.0.2.1\r\n")


def tcp_send(data, port):
    """Send on a new connection, half-close, collect answers until the daemon closes."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    return [out] if out else []


wrapper = ()
if shutil.which("valgrind") and os.environ.get("SIP_SANITIZERS") != "yes":
    wrapper = ("valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite")
d = t.Daemon(wrapper=wrapper)
files = sorted(glob.glob(os.path.join(t.TOP_SRCDIR, "tests", "data", "sip", "*")))
t.check(len(files) >= 50, "corpus has %d messages" % len(files))
for f in files:
    name = os.path.basename(f)
    data = open(f, "rb").read()
    exp = EXPECT.get(name, DEFAULT)
    for i, (tr, send) in enumerate((("UDP", lambda b: t.udp_exchange(b, d.port, timeout=0.4)),
                                     ("TCP", lambda b: tcp_send(b, d.port)))):
        rs = send(fresh(data))
        got = t.status_line(rs[0])[0] if rs else None
        want = exp[i]
        t.check(want == ANY or got == want, "%s over %s: %s (want %s)" % (name, tr, got, want))
    t.check(d.alive(), "%s: daemon alive" % name)

for tr in ("u1", "t1"):
    rc, out = t.sipp("options.xml", d.port, tr, timeout=20)
    t.check(rc == 0, "OPTIONS over %s after the corpus" % tr)
c = d.counts()
t.check(int(c["sip-dropped"]) > 0, "drops counted in Status (%s)" % c["sip-dropped"])
t.check(d.stop() == 0, "daemon exits 0%s" % (" with no valgrind error" if wrapper else ""))
