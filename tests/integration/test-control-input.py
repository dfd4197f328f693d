#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hostile and odd input on the control socket (PROTOCOL.md "Who may connect",
"Cross-protocol defence", "Framing"; DESIGN.md "Security model"): other users, HTTP and
TLS bytes, DOCTYPE/entities/XXE, size and depth limits, schema errors, framing."""

import json
import os
import socket
import stat

from sipsvctest import (Daemon, check, check_eq, main, parse_xml, run_as_nobody, status_of,
                        test, NOBODY)

D = Daemon()

MARKER = "sipsvc-secret-marker-7f3a9c"


def assert_healthy():
    """The daemon still answers, on a fresh connection."""
    with D.unix_client() as c:
        st, _ = status_of(c)
        check_eq(st.get("pid"), str(D.pid), "Status pid after the attack")


def closed_silently(data, what):
    c = D.tcp_client()
    c.send(data)
    got, how = c.read_to_eof()
    c.close()
    check_eq(got, b"", "bytes written back to %s (closed by %s)" % (what, how))


def error_then_closed(data, code, client=None):
    """Send @data; expect exactly one <Error code=@code> and then EOF. Returns its text."""
    c = client or D.tcp_client()
    c.send(data)
    got, how = c.read_to_eof()
    c.close()
    lines = got.decode().splitlines()
    check_eq(len(lines), 1, "one reply before the close (got %r)" % got)
    el = parse_xml(lines[0])
    check_eq((el.tag, el.get("code")), ("Error", code), "reply %r" % lines[0])
    return lines[0]


def error_stays_open(c, data, code):
    el, line = c.request(data)
    check_eq((el.tag, el.get("code")), ("Error", code), "reply %r" % line)
    st, _ = status_of(c)  # the same connection goes on
    return el


# -- who may connect -----------------------------------------------------------------

NOBODY_TCP = """
import json, socket
s = socket.create_connection(("127.0.0.1", %d), timeout=10)
try:
    s.sendall(b"%s")
except (BrokenPipeError, ConnectionResetError):
    pass  # refused before we wrote: fine
got, how = b"", "eof"
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
except ConnectionResetError:
    how = "reset"
print(json.dumps({"bytes": len(got), "how": how}))
"""


@test
def other_uid_over_tcp_gets_nothing():
    for send in ("", "<Status/>"):
        mark = D.log_mark()
        out = json.loads(run_as_nobody(NOBODY_TCP % (D.port, send)))
        check_eq(out["bytes"], 0, "bytes read by uid %d (sent %r, %s)" % (NOBODY, send,
                                                                         out["how"]))
        D.wait_log(r"^<4>control: 127\.0\.0\.1:\d+ refused: peer uid %d is not ours" % NOBODY,
                   start=mark)
    assert_healthy()


NOBODY_UNIX = """
import json, socket
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(%r)
try:
    s.sendall(b"<Status/>")
except (BrokenPipeError, ConnectionResetError):
    pass  # refused before we wrote: fine
got, how = b"", "eof"
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
except ConnectionResetError:
    how = "reset"
print(json.dumps({"bytes": len(got), "how": how}))
"""


@test
def other_uid_over_unix_socket_gets_nothing():
    # Normally the 0700 dir and 0600 socket stop another user at connect(). Open them up
    # so that the SO_PEERCRED check itself is what refuses the connection.
    check_eq(stat.S_IMODE(os.stat(D.runtime_dir).st_mode), 0o700, "runtime dir mode")
    check_eq(stat.S_IMODE(os.stat(D.socket_path).st_mode), 0o600, "socket mode")
    out = run_as_nobody("""
import socket
try:
    socket.socket(socket.AF_UNIX).connect(%r)
    print("connected")
except PermissionError:
    print("denied")
""" % D.socket_path)
    check_eq(out.strip(), "denied", "connect as uid %d through the 0700 dir" % NOBODY)
    os.chmod(D.tmp, 0o755)
    os.chmod(D.runtime_dir, 0o755)
    os.chmod(D.socket_path, 0o666)
    try:
        mark = D.log_mark()
        out = json.loads(run_as_nobody(NOBODY_UNIX % D.socket_path))
        check_eq(out["bytes"], 0, "bytes read by uid %d on the Unix socket" % NOBODY)
        D.wait_log(r"^<4>control: unix refused: peer uid %d is not ours" % NOBODY, start=mark)
    finally:
        os.chmod(D.socket_path, 0o600)
        os.chmod(D.runtime_dir, 0o700)
        os.chmod(D.tmp, 0o700)
    assert_healthy()


# -- cross-protocol ------------------------------------------------------------------

@test
def http_post_with_xml_body_gets_nothing():
    closed_silently(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/xml\r\n"
                    b"Content-Length: 9\r\n\r\n<Status/>" % D.port, "an HTTP POST")
    closed_silently(b"GET /?<Status/> HTTP/1.1\r\nHost: localhost\r\n\r\n", "an HTTP GET")
    closed_silently(b"OPTIONS * HTTP/1.1\r\n\r\n", "an HTTP OPTIONS")
    # DNS rebinding: a page whose name now resolves to 127.0.0.1 posts with its own
    # Host; a form post (text/plain) smuggles an XML message after its first line.
    closed_silently(b"POST /x HTTP/1.1\r\nHost: rebind.attacker.example:%d\r\n"
                    b"Origin: http://rebind.attacker.example\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: 11\r\n\r\n<Status/>\r\n" % D.port, "a rebinding POST")
    closed_silently(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\r\n"
                    b"<Join id=\"sip:premium@192.0.2.1\"><Use dev=\"desk\"/></Join>\n",
                    "a form post with a Join in its body")
    assert_healthy()


@test
def tls_client_hello_gets_nothing():
    # TLS record: handshake (0x16), version 3.1, length, ClientHello (0x01) …
    hello = bytes.fromhex("16030100c4010000c00303") + os.urandom(32) + b"\x00\x00\x02\x13\x01"
    closed_silently(hello + b"\x01\x00" + b"<Status/>", "a TLS ClientHello")
    closed_silently(b"\x00\x01garbage<Status/>", "binary garbage")
    assert_healthy()


# -- DTDs and entities ----------------------------------------------------------------

@test
def doctype_with_internal_entity_refused():
    line = error_then_closed(b'<!DOCTYPE Status [<!ENTITY e "expanded">]>'
                             b'<Status ref="&e;"/>', "not-well-formed")
    check("expanded" not in line, "entity not expanded: %r" % line)
    error_then_closed(b"<!DOCTYPE Status><Status/>", "not-well-formed")
    assert_healthy()


@test
def xxe_reads_no_file():
    marker = os.path.join(D.tmp, "marker.txt")
    with open(marker, "w") as f:
        f.write(MARKER + "\n")
    with open("/etc/passwd") as f:
        passwd_first = f.readline().strip()
    attacks = [
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Status>&e;</Status>',
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file://%s">]><Status>&e;</Status>'
        % marker.encode(),
        b'<!DOCTYPE x SYSTEM "file://%s"><Status/>' % marker.encode(),
        b'<!DOCTYPE x [<!ENTITY %% p SYSTEM "file://%s"> %%p;]><Status/>' % marker.encode(),
        # After a good message, on the same connection.
        b'<Status ref="ok"/><!DOCTYPE x [<!ENTITY e SYSTEM "file://%s">]><Status>&e;</Status>'
        % marker.encode(),
    ]
    for a in attacks:
        c = D.tcp_client()
        c.send(a)
        got, _ = c.read_to_eof()
        c.close()
        text = got.decode()
        check(MARKER not in text and passwd_first not in text, "file content leaked: %r" % text)
        last = parse_xml(text.splitlines()[-1])
        check_eq((last.tag, last.get("code")), ("Error", "not-well-formed"),
                 "reply to %r: %r" % (a[:40], text))
    check(MARKER not in D.log(), "marker content appears in the daemon log")
    assert_healthy()


@test
def billion_laughs_refused():
    ents = ['<!ENTITY lol "lol">']
    for i in range(1, 10):
        ents.append('<!ENTITY lol%d "%s">' % (i, ("&lol%s;" % (i - 1 if i > 1 else "")) * 10))
    bomb = "<!DOCTYPE lolz [%s]><Status ref=\"&lol9;\"/>" % "".join(ents)
    line = error_then_closed(bomb.encode(), "not-well-formed")
    check("lollol" not in line, "no expansion in the reply")
    assert_healthy()


@test
def undefined_entity_refused():
    error_then_closed(b"<Status>&e;</Status>", "not-well-formed")
    error_then_closed(b'<Status ref="&e;"/>', "not-well-formed")
    # The five predefined entities and character references are plain XML.
    with D.tcp_client() as c:
        ok, line = c.request('<Status ref="a&amp;&lt;&#x41;"/>')
        check_eq(ok.get("ref"), "a&<A", "predefined entities in ref")


# -- limits ---------------------------------------------------------------------------

@test
def oversize_message_too_large_and_closed():
    big = b'<Status ref="big">' + b"x" * (70 * 1024) + b"</Status>"
    line = error_then_closed(big, "too-large")
    check("65536" in line, "the limit is named: %r" % line)
    head, tail = b'<Status ref="edge">', b"</Status>"
    edge = head + b"x" * (65536 - len(head) - len(tail)) + tail
    error_then_closed(edge.replace(b"x", b"xx", 1), "too-large")  # 65537 bytes
    with D.tcp_client() as c:
        el = error_stays_open(c, edge, "invalid")  # exactly 64 KiB is allowed
        check_eq(el.get("ref"), "edge", "ref of the 64 KiB message")
    # Just under the limit is accepted by the framer (and fails only the schema).
    with D.tcp_client() as c:
        near = b'<Status ref="near">' + b"x" * (60 * 1024) + b"</Status>"
        el = error_stays_open(c, near, "invalid")
        check_eq(el.get("ref"), "near", "ref of the near-limit message")
    assert_healthy()


@test
def deep_nesting_limit_and_closed():
    deep = "<Status>" + "<a>" * 39 + "</a>" * 39 + "</Status>"
    line = error_then_closed(deep.encode(), "limit")
    check("32" in line, "the depth limit is named: %r" % line)
    error_then_closed(("<Status>" + "<a>" * 32 + "</a>" * 32 + "</Status>").encode(), "limit")
    # 32 levels is within the limit: a schema error, the connection stays open.
    with D.tcp_client() as c:
        ok32 = "<Status>" + "<a>" * 31 + "</a>" * 31 + "</Status>"
        error_stays_open(c, ok32, "invalid")
    assert_healthy()


# -- well-formed but wrong --------------------------------------------------------------

@test
def schema_error_keeps_connection_open():
    with D.tcp_client() as c:
        el = error_stays_open(c, '<Join id="x" ref="j1"/>', "invalid")
        check_eq((el.get("ref"), el.get("request")), ("j1", "Join"), "ref and request")
        check(el.text and el.text.strip(), "the Error says what is wrong")
        error_stays_open(c, '<Status bogus="1"/>', "invalid")


@test
def unknown_element_keeps_connection_open():
    with D.tcp_client() as c:
        el = error_stays_open(c, '<Frobnicate ref="u1"/>', "unknown-request")
        check_eq(el.get("ref"), "u1", "ref echoed on unknown-request")
        error_stays_open(c, "<status/>", "unknown-request")  # names are case-sensitive


@test
def not_well_formed_message_closes():
    error_then_closed(b"<Status></Devices>", "not-well-formed")
    error_then_closed(b"<Status ref='a' ref='b'/>", "not-well-formed")
    # Nothing after the broken message is handled, even in the same write.
    error_then_closed(b'<Status></Devices><Status ref="after"/><Devices ref="after2"/>',
                      "not-well-formed")
    error_then_closed(b'<Status>&e;</Status>\n<Status ref="after"/>', "not-well-formed")
    # Text between messages after the first one.
    c = D.tcp_client()
    c.send(b"<Status/>junk<Status/>")
    got, _ = c.read_to_eof()
    c.close()
    lines = got.decode().splitlines()
    check_eq(len(lines), 2, "Status reply then one Error: %r" % got)
    check_eq(parse_xml(lines[1]).get("code"), "not-well-formed", "second reply")


@test
def replies_stay_on_one_line():
    # A value quoted in an error message may hold a line break (&#10; in an attribute);
    # the reply must still be one line, the break written as a character reference.
    reqs = ['<Search query="&#10;" ref="s"/>',
            '<Join id="sip:a&#10;b" ref="j"><Use dev="x"/></Join>',
            '<Share path="rel&#10;ative" ref="p"/>', '<Status ref="end"/>']
    with D.tcp_client() as c:
        c.send("".join(reqs))
        for ref in ("s", "j", "p"):
            el, line = c.recv_xml()
            check_eq((el.tag, el.get("code"), el.get("ref")), ("Error", "invalid", ref),
                     "reply %r" % line)
            check("\n" in el.text, "the quoted value keeps its line break: %r" % el.text)
        ok, _ = c.recv_xml()
        check_eq((ok.tag, ok.get("ref")), ("Ok", "end"), "the Status after them")


@test
def ref_echo():
    with D.unix_client() as c:
        for ref in ("r1", "x" * 64, "a:b/c-d.e"):
            ok, _ = c.request('<Status ref="%s"/>' % ref)
            check_eq(ok.get("ref"), ref, "ref echoed")
        el = error_stays_open(c, '<Status ref="%s"/>' % ("y" * 65), "invalid")
        check_eq(el.get("ref"), None, "an invalid ref is not echoed")


# -- framing ----------------------------------------------------------------------------

@test
def request_in_one_byte_writes():
    with D.tcp_client() as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a segment per byte
        for b in b'  <Status\n ref="split" ></Status>':
            c.send(bytes([b]))
        ok, _ = c.recv_reply()
        check_eq((ok.tag, ok.get("ref")), ("Ok", "split"), "reply to the split request")


SPLIT_STREAM = (b'<?xml version="1.0"?>\n<!-- a > b --><Status ref="a&gt;b"/>\r\n'
                b"<Devices ref='q\"/>'></Devices><Status ref=\"c\"><!-- <x> --></Status>"
                b'<Status ref="d"><![CDATA[ ]]]></Status><Status\n ref="e" />')
SPLIT_WANT = [("Ok", "a>b", None), ("Ok", 'q"/>', None), ("Ok", "c", None),
              ("Error", "d", "invalid"), ("Ok", "e", None)]


def replies_of(c, n):
    out = []
    for _ in range(n):
        el, _ = c.recv_xml()
        out.append((el.tag, el.get("ref"), el.get("code")))
    return out


@test
def stream_split_at_every_byte():
    # Each split point gets its own connection: the first part, then two round trips
    # on a second connection (the daemon has then read the first part on its own, as
    # it reads ready sockets before it waits again), then the rest.
    with D.tcp_client() as c:
        c.send(SPLIT_STREAM)
        check_eq(replies_of(c, len(SPLIT_WANT)), SPLIT_WANT, "replies to the whole stream")
    with D.unix_client() as pace:
        for i in range(1, len(SPLIT_STREAM)):
            with D.tcp_client() as c:
                c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                c.send(SPLIT_STREAM[:i])
                for _ in range(2):
                    status_of(pace)
                c.send(SPLIT_STREAM[i:])
                check_eq(replies_of(c, len(SPLIT_WANT)), SPLIT_WANT,
                         "replies with the stream split after byte %d" % i)


@test
def many_messages_in_one_write():
    n = 200
    msgs = "".join('<Status ref="m%d"/>\n' % i if i % 3 else '<Devices ref="m%d"/>' % i
                   for i in range(n))
    with D.tcp_client() as c:
        c.send(msgs)
        for i in range(n):
            el, line = c.recv_xml()
            check_eq(el.get("ref"), "m%d" % i, "reply %d in order" % i)
            check_eq(el.get("request"), "Devices" if i % 3 == 0 else "Status", "request")


@test
def xml_declaration_only_at_start():
    with D.tcp_client() as c:
        ok, _ = c.request('<?xml version="1.0" encoding="UTF-8"?>\n<Status ref="d"/>')
        check_eq((ok.tag, ok.get("ref")), ("Ok", "d"), "declaration at the start")
    c = D.tcp_client()
    c.send('<Status ref="first"/><?xml version="1.0"?><Status ref="second"/>')
    got, _ = c.read_to_eof()
    c.close()
    lines = got.decode().splitlines()
    check_eq(len(lines), 2, "one reply then one Error: %r" % got)
    check_eq(parse_xml(lines[0]).get("ref"), "first", "first message answered")
    check_eq(parse_xml(lines[1]).get("code"), "not-well-formed", "late declaration refused")


@test
def comments_and_blanks_between_messages():
    with D.tcp_client() as c:
        c.send('\r\n\t <!-- hello --> <Status ref="c1"/> <!-- <Status/> --> <Status ref="c2"/>')
        check_eq(c.recv_reply()[0].get("ref"), "c1", "first")
        check_eq(c.recv_reply()[0].get("ref"), "c2", "second (the comment was no message)")


if __name__ == "__main__":
    main(fixture=D)
