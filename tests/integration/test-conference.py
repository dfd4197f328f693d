#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Invite and conference events against a SIPp conference focus (conference-focus.xml).

Invite with no conference active makes an ad-hoc conference URI sip:me-RANDOM@server
(RFC 4579), joins the default device to it in loop mode, and adds each invitee by REFER:
with method="refer-focus" to the focus in the conference dialog with Refer-To: the
invitee, with "refer-invitee" to each invitee (SIPp, conference-invitee.xml) with
Refer-To: the conference. The REFER NOTIFYs (sipfrag) give `invited`, `joined`,
`failed` + sip-status per invitee. The SUBSCRIBE to the conference package goes in the
conference dialog; the focus's full and partial conference-info NOTIFYs become joined
and left events; the Hangup unsubscribes (Expires: 0) before the BYE. Invite into an
active conference (call=) REFERs again, to an invitee whose NOTIFY overtakes its 202;
without a conference server: no-conference-server.
"""

import re

from calltest import Peer, config, events_until_end, sip_device
from sipsvctest import Daemon, check, check_eq, main, running, test, xsd_validate


def conf_config(dev, server, method):
    cfg = config([sip_device("desk", dev.uri, "loop")])
    cfg = cfg.replace('mode="loop"', 'mode="loop" default="true"')
    conf = '<conference server="%s" method="%s"/>' % (server, method)
    return cfg.replace("</sipsvc>", conf + "</sipsvc>")


def invite(c, uris, ref="i1", call=None):
    adds = "".join('<Add id="%s"/>' % u for u in uris)
    ok, line = c.request('<Invite ref="%s"%s>%s</Invite>'
                         % (ref, ' call="%s"' % call if call else "", adds))
    xsd_validate(line)
    return ok, line


def conference_events(c, want, timeout=20):
    """Conference events until @want (a set of (user, action)) have all been seen."""
    seen = []
    while not want <= {(e.get("user"), e.get("action")) for e in seen}:
        el, line = c.recv_xml(timeout)
        xsd_validate(line)
        if el.tag == "Event" and el.get("type") == "conference":
            seen.append(el.attrib)
        elif el.tag == "Event" and el.get("type") == "call" and el.get("leg") is None:
            check(el.get("state") not in ("ended", "failed"), "the call ended: %s" % line)
    return seen


def header(msg, name):
    m = re.search(r"(?im)^%s:\s*(.*?)\s*$" % name, msg)
    return m.group(1) if m else None


def distinct(msgs):
    """One message per transaction: UDP retransmissions (same CSeq) counted once."""
    seen, out = set(), []
    for m in msgs:
        key = (header(m, "Call-ID"), header(m, "CSeq"))
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def check_focus_side(focus):
    inv = focus.received("INVITE")[0]
    ruri = re.search(r"(?m)^INVITE (\S+) SIP/2.0", inv).group(1)
    check(re.match(r"^sip:me-[0-9a-f]{8}@127\.0\.0\.1:%d$" % focus.port, ruri),
          "the ad-hoc conference URI is sip:me-RANDOM@server: %s" % ruri)
    subs = distinct(focus.received("SUBSCRIBE"))
    check_eq(len(subs), 2, "SUBSCRIBE, then the one that ends it")
    check_eq(header(subs[0], "Event"), "conference", "Event: conference (RFC 4575)")
    check_eq(header(subs[0], "Call-ID"), header(inv, "Call-ID"),
             "the SUBSCRIBE is in the conference dialog")
    check_eq(header(subs[1], "Expires"), "0", "the last SUBSCRIBE has Expires: 0")
    return ruri


def common_roster(seen):
    users = [(e.get("user"), e.get("action")) for e in seen]
    check(("sip:me@127.0.0.1", "joined") in users, "the full NOTIFY's user joined: %s" % users)
    carol = [a for u, a in users if u == "sip:carol@example.com"]
    check_eq(carol, ["joined", "left"], "partial NOTIFYs: carol joined, then left")


@test
def refer_focus():
    dev = Peer("switch-device.xml")
    bob = "sip:bob@127.0.0.1:9"
    focus = Peer("conference-focus.xml", [("method", "focus"), ("invitee", bob)])
    try:
        server = "sip:127.0.0.1:%d" % focus.port
        with running(Daemon(config=conf_config(dev, server, "refer-focus"))) as d:
            with d.unix_client() as c:
                ok, line = invite(c, [bob])
                check_eq(ok.tag, "Ok", "Invite: %s" % line)
                call = ok.get("call")
                seen = conference_events(c, {(bob, "joined"), ("sip:carol@example.com", "left"),
                                             ("sip:me@127.0.0.1", "joined")})
                check(all(e.get("call") == call for e in seen), "events name the call")
                bobs = [e.get("action") for e in seen if e.get("user") == bob]
                check_eq(bobs, ["invited", "joined"],
                         "the invitee: invited (202), joined (sipfrag 200), once: %s" % seen)
                check(all(e.get("ref") == "i1" for e in seen if e.get("user") == bob),
                      "the invitee's events carry the Invite's ref")
                common_roster(seen)
                conf = {e.get("conference") for e in seen}
                check_eq(len(conf), 1, "one conference URI in the events")
                c.request("<Hangup/>")
                events_until_end(c)
            check_eq(focus.wait(), 0, "focus: INVITE, SUBSCRIBE, REFER, NOTIFYs, unSUBSCRIBE, BYE")
            check_eq(dev.wait(), 0, "device: one call")
            ruri = check_focus_side(focus)
            check_eq(conf.pop(), ruri, "the events name the conference URI")
            refer = focus.received("REFER")[0]
            check_eq(header(refer, "Refer-To"), "<%s>" % bob, "REFER to the focus names the invitee")
            check_eq(header(refer, "Call-ID"), header(focus.received("INVITE")[0], "Call-ID"),
                     "the REFER is in the conference dialog")
    finally:
        dev.close()
        focus.close()


@test
def refer_invitee_and_invite_into_active_conference():
    dev = Peer("switch-device.xml")
    alice, busy, third = (Peer("conference-invitee.xml"),
                          Peer("conference-invitee.xml", [("status", "486")]),
                          Peer("conference-invitee-early.xml"))
    focus = Peer("conference-focus.xml", [("method", "invitee"), ("invitee", alice.uri)])
    try:
        server = "sip:127.0.0.1:%d" % focus.port
        with running(Daemon(config=conf_config(dev, server, "refer-invitee"))) as d:
            with d.unix_client() as c:
                ok, line = invite(c, [alice.uri, busy.uri])
                check_eq(ok.tag, "Ok", "Invite: %s" % line)
                call = ok.get("call")
                seen = conference_events(c, {(alice.uri, "joined"), (busy.uri, "failed"),
                                             ("sip:carol@example.com", "left")})
                check_eq([e.get("action") for e in seen if e.get("user") == alice.uri],
                         ["invited", "joined"], "alice: invited, joined once")
                failed = [e for e in seen if e.get("user") == busy.uri]
                check_eq([(e.get("action"), e.get("sip-status")) for e in failed],
                         [("invited", None), ("failed", "486")], "busy: invited, failed 486")
                common_roster(seen)
                ok, line = invite(c, [third.uri], ref="i2", call=call)
                check_eq((ok.tag, ok.get("call")), ("Ok", call),
                         "Invite into the active conference: %s" % line)
                seen = conference_events(c, {(third.uri, "joined")})
                check(all(e.get("ref") == "i2" for e in seen if e.get("user") == third.uri),
                      "its events carry its ref")
                check_eq([e.get("action") for e in seen if e.get("user") == third.uri],
                         ["invited", "joined"],
                         "a NOTIFY before the 202 is taken (RFC 6665 4.1.2.4): %s" % seen)
                c.request("<Hangup/>")
                events_until_end(c)
            for p, what in ((focus, "focus"), (dev, "device"), (alice, "alice"),
                            (busy, "busy invitee"), (third, "third invitee")):
                check_eq(p.wait(), 0, "%s scenario completed" % what)
            ruri = check_focus_side(focus)
            for p in (alice, busy, third):
                check_eq(header(p.received("REFER")[0], "Refer-To"), "<%s>" % ruri,
                         "REFER to the invitee names the conference")
            check_eq(len(focus.received("REFER")), 0, "the focus got no REFER")
            check_eq(d.status().find("Counts").get("calls"), "0", "no call left")
    finally:
        for p in (dev, alice, busy, third, focus):
            p.close()


@test
def subscription_refresh_and_version_gap():
    dev, alice = Peer("switch-device.xml"), Peer("conference-invitee.xml")
    focus = Peer("conference-refresh.xml")
    try:
        server = "sip:127.0.0.1:%d" % focus.port
        with running(Daemon(config=conf_config(dev, server, "refer-invitee"))) as d:
            with d.unix_client() as c:
                ok, line = invite(c, [alice.uri])
                check_eq(ok.tag, "Ok", "Invite: %s" % line)
                seen = conference_events(c, {("sip:eve@example.com", "joined")}, timeout=30)
                users = [(e.get("user"), e.get("action")) for e in seen
                         if e.get("user") != alice.uri]
                check_eq(users, [("sip:me@127.0.0.1", "joined"),
                                 ("sip:dave@example.com", "joined"),
                                 ("sip:eve@example.com", "joined")],
                         "v1, v2 after the refresh, eve only from the full state after the "
                         "gap: %s" % users)
                c.request("<Hangup/>")
                events_until_end(c)
            check_eq(focus.wait(), 0, "focus: refresh, re-SUBSCRIBE after the gap, Expires: 0")
            check_eq(alice.wait(), 0, "invitee")
            subs = distinct(focus.received("SUBSCRIBE"))
            check_eq([header(m, "Expires") for m in subs], ["600", "600", "600", "0"],
                     "SUBSCRIBE, refresh, full-state request, end")
    finally:
        for p in (dev, alice, focus):
            p.close()


@test
def errors():
    dev = Peer("switch-device.xml")
    try:
        cfg = config([sip_device("desk", dev.uri, "loop")])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                ok, line = invite(c, ["sip:bob@127.0.0.1:9"])
                check_eq((ok.tag, ok.get("code")), ("Error", "no-conference-server"),
                         "no conference server: %s" % line)
                check_eq(d.status().find("Counts").get("calls"), "0", "no call made")
        server = "sip:127.0.0.1:9"
        with running(Daemon(config=conf_config(dev, server, "refer-focus"))) as d:
            with d.unix_client() as c:
                ok, line = invite(c, ["sip:bob@127.0.0.1:9"], call="c42")
                check_eq((ok.tag, ok.get("code")), ("Error", "no-such-call"),
                         "an unknown call: %s" % line)
                ok, line = invite(c, ["sip:u%d@127.0.0.1:9" % i for i in range(33)])
                check_eq((ok.tag, ok.get("code")), ("Error", "limit"),
                         "more invitees than the bound: %s" % line)
                check_eq(d.status().find("Counts").get("calls"), "0", "no call made")
    finally:
        dev.close()


if __name__ == "__main__":
    main()
