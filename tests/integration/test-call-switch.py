#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""SameDeviceJoin against SIPp: a loop-mode call whose far end is switched.

The device (switch-device.xml) must see one dialog from start to end: one INVITE
without a To tag, then re-INVITEs in the same dialog (Call-ID and tags unchanged) whose
SDP keeps the origin it first got with the version one higher (RFC 3264 8), and a BYE
only after the Hangup. The old target gets a BYE, the new one an INVITE without an
offer (RFC 3725: its 2xx carries the offer, the ACK the device's answer). A new target
that answers 486 leaves the device connected with the old target, and the failure is
reported with sip-status. An old far end that hangs up while the new one rings leaves
the device waiting for the new one. 100 switches in a row leave one call, one device
dialog, and every count back to zero after the Hangup; a target that rings, takes a
CANCEL and never answers its INVITE is given up 64*T1 later (RFC 3261 9.1). Without an
active call, SameDeviceJoin is an ExternalJoin; a call that is not a connected
loop-mode call is refused."""

import re

from calltest import Peer, config, events_until_end, join, media_port, sip_device
from sipsvctest import (Daemon, check, check_eq, main, running, test, wait_for,
                        xsd_validate)


def header(msg, name):
    m = re.search(r"(?im)^%s:\s*(.*?)\s*$" % name, msg)
    return m.group(1) if m else None


def tag_of(value):
    m = re.search(r";\s*tag=([^;>\s]+)", value or "")
    return m.group(1) if m else None


def origin(msg):
    m = re.search(r"(?m)^o=(\S+) (\S+) (\d+) ", msg or "")
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def wait_call_event(c, pred, timeout=20):
    """Call events up to and including the first that @pred accepts."""
    seen = []
    while True:
        el, line = c.recv_xml(timeout)
        xsd_validate(line)
        if el.tag != "Event" or el.get("type") != "call":
            continue
        seen.append(el.attrib)
        if pred(el.attrib):
            return seen


def connected(e):
    return e.get("leg") is None and e.get("state") == "connected"


def switched(e):
    return (e.get("leg") == "remote" and e.get("state") == "connected" and
            e.get("reason") == "switched")


def same_device_join(c, target, ref, call=None):
    ok, line = c.request('<SameDeviceJoin ref="%s" id="%s"%s/>'
                         % (ref, target, ' call="%s"' % call if call else ""))
    xsd_validate(line)
    return ok, line


def counts(d):
    return d.status().find("Counts")


def distinct(msgs):
    """One message per transaction: UDP retransmissions (same CSeq) counted once."""
    seen, out = set(), []
    for m in msgs:
        key = (header(m, "Call-ID"), header(m, "CSeq"))
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def device_dialog_unchanged(dev):
    """The device's requests: one dialog (Call-ID, both tags) from the first INVITE on."""
    reqs = dev.received("INVITE") + dev.received("ACK") + dev.received("BYE")
    check(reqs, "the device got requests")
    ids = {header(m, "Call-ID") for m in reqs}
    check_eq(len(ids), 1, "one Call-ID on the device's dialog: %s" % ids)
    froms = {tag_of(header(m, "From")) for m in reqs}
    check_eq(len(froms), 1, "one From tag on the device's dialog: %s" % froms)
    invites = distinct(dev.received("INVITE"))
    check(tag_of(header(invites[0], "To")) is None, "the first INVITE starts the dialog")
    tos = {tag_of(header(m, "To")) for m in invites[1:]}
    check_eq(len(tos), 1 if invites[1:] else 0, "re-INVITEs carry the device's tag: %s" % tos)
    return invites


@test
def switch_keeps_device_dialog():
    dev, a, b = Peer("switch-device.xml"), Peer("call-target.xml"), Peer("switch-target.xml")
    try:
        with running(Daemon(config=config([sip_device("desk", dev.uri, "loop")]))) as d:
            with d.unix_client() as c:
                call = join(c, a.uri, "desk")
                wait_call_event(c, connected)
                ok, line = same_device_join(c, b.uri, "s1")
                check_eq((ok.tag, ok.get("call")), ("Ok", call),
                         "SameDeviceJoin answers Ok with the same call: %s" % line)
                seen = wait_call_event(c, switched)
                check(all(e.get("ref") == "s1" for e in seen),
                      "the switch's events carry its ref: %s" % seen)
                check([e for e in seen if e.get("leg") == "remote" and
                       e.get("state") == "ended" and e.get("reason") == "switched"],
                      "the old far leg is reported ended: %s" % seen)
                check(not [e for e in seen if e.get("leg") is None],
                      "the call itself stays connected: %s" % seen)
                ok, line = c.request("<Calls/>")
                xsd_validate(line)
                legs = {l.get("leg"): l for l in ok.find("Call").findall("Leg")}
                check_eq(legs["remote"].get("uri"), b.uri, "Calls shows the new far end")
                check_eq(legs["device"].get("state"), "connected", "device leg connected")
                check_eq(a.wait(), 0, "old target: INVITE, ACK, then BYE")
                check_eq(len(dev.received("BYE")), 0, "the device got no BYE")
                ok, _ = c.request('<Hangup call="%s"/>' % call)
                check_eq(ok.tag, "Ok", "Hangup")
                events_until_end(c)
            check_eq(dev.wait(), 0, "device: INVITE, re-INVITE, BYE only after Hangup")
            check_eq(b.wait(), 0, "new target: INVITE, ACK, BYE")
            invites = device_dialog_unchanged(dev)
            check_eq(len(invites), 2, "the device got exactly one re-INVITE")
            first = origin(dev.received("ACK")[0])
            second = origin(invites[1])
            check_eq(first[:2], ("target", "53655765"),
                     "the device's first SDP is the old target's answer")
            check_eq(second, (first[0], first[1], first[2] + 1),
                     "the re-INVITE keeps the origin, version + 1 (RFC 3264 8)")
            check_eq(media_port(invites[1]), b.mp, "the re-INVITE offers the new target's media")
            binv = b.received("INVITE")[0]
            check(re.search(r"(?im)^Content-Length: *0\s*$", binv),
                  "the new target's INVITE has no offer")
            check_eq(media_port(b.received("ACK")[0]), dev.mp,
                     "the new target's ACK carries the device's answer")
            wait_for(lambda: counts(d).get("sip-dialogs") == "0", 40, "dialogs settled")
            check_eq(counts(d).get("calls"), "0", "no calls left")
    finally:
        for p in (dev, a, b):
            p.close()


@test
def failed_new_target_keeps_device_and_old_far_end():
    dev, a = Peer("switch-device.xml"), Peer("call-target.xml")
    busy = Peer("call-target.xml", [("status", "486")])
    try:
        with running(Daemon(config=config([sip_device("desk", dev.uri, "loop")]))) as d:
            with d.unix_client() as c:
                call = join(c, a.uri, "desk")
                wait_call_event(c, connected)
                ok, line = same_device_join(c, busy.uri, "s1", call)
                check_eq(ok.tag, "Ok", "SameDeviceJoin accepted: %s" % line)
                seen = wait_call_event(c, lambda e: e.get("state") == "failed")
                last = seen[-1]
                check_eq((last.get("leg"), last.get("sip-status")), ("remote", "486"),
                         "the failure is the new far leg's, with its status: %s" % last)
                check_eq(busy.wait(), 0, "busy target: INVITE, 486, ACK")
                ok, line = c.request("<Calls/>")
                xsd_validate(line)
                calls = ok.findall("Call")
                check_eq(len(calls), 1, "the call is still there: %s" % line)
                check_eq(calls[0].get("state"), "connected", "and connected")
                legs = {l.get("leg"): l for l in calls[0].findall("Leg")}
                check_eq((legs["remote"].get("uri"), legs["remote"].get("state")),
                         (a.uri, "connected"), "the old far end is kept")
                check_eq(len(dev.received("BYE")) + len(distinct(dev.received("INVITE"))), 1,
                         "the device got neither a BYE nor a re-INVITE")
                c.request("<Hangup/>")
                evs = events_until_end(c)
                check_eq(evs[-1].get("reason"), "hangup", "ended by the Hangup")
            check_eq(dev.wait(), 0, "device: one INVITE, BYE after Hangup")
            check_eq(a.wait(), 0, "old target: BYE after Hangup")
    finally:
        for p in (dev, a, busy):
            p.close()


@test
def old_far_end_leaves_during_switch():
    dev, a = Peer("switch-device.xml"), Peer("call-target.xml", [("hangup", "yes")])
    b = Peer("switch-target-slow.xml")
    try:
        with running(Daemon(config=config([sip_device("desk", dev.uri, "loop")]))) as d:
            with d.unix_client() as c:
                call = join(c, a.uri, "desk")
                wait_call_event(c, connected)
                ok, line = same_device_join(c, b.uri, "s1")
                check_eq(ok.tag, "Ok", "switch: %s" % line)
                seen = wait_call_event(c, switched)
                check([e for e in seen if e.get("leg") == "remote" and e["state"] == "ended"
                       and e.get("reason") == "remote-bye"],
                      "the old far end's BYE is reported: %s" % seen)
                check(not [e for e in seen if e.get("leg") is None],
                      "the call itself stays: %s" % seen)
                check_eq(a.wait(), 0, "old target hung up")
                check_eq(len(dev.received("BYE")), 0, "the device got no BYE")
                ok, _ = c.request('<Hangup call="%s"/>' % call)
                events_until_end(c)
            check_eq(dev.wait(), 0, "device: one dialog, BYE after the Hangup")
            check_eq(b.wait(), 0, "new target: INVITE, ACK, BYE")
            check_eq(len(device_dialog_unchanged(dev)), 2, "one re-INVITE")
    finally:
        for p in (dev, a, b):
            p.close()


@test
def hundred_rapid_switches():
    dev, a = Peer("switch-device.xml"), Peer("call-target.xml")
    # Every other target answers at once: switches then also come while the device's
    # re-INVITE is on its way (they wait for it), not only while a target rings.
    slow, fast = Peer("switch-target.xml", calls=0), Peer("switch-target-fast.xml", calls=0)
    # The first target rings, takes the CANCEL and never answers the INVITE: RFC 3261
    # 9.1 gives it up 64*T1 later, within the wait for the released legs below.
    mute = Peer("switch-target-mute.xml")
    n = 100
    try:
        with running(Daemon(config=config([sip_device("desk", dev.uri, "loop")]))) as d:
            with d.unix_client() as c:
                call = join(c, a.uri, "desk")
                wait_call_event(c, connected)
                ok, line = same_device_join(c, mute.uri, "s-mute")
                check_eq(ok.tag, "Ok", "switch to the mute target: %s" % line)
                wait_for(lambda: mute.received("INVITE"), 10, "the mute target called")
                last = None
                for i in range(n):
                    last = "sip:t%d@127.0.0.1:%d" % (i, (fast if i % 2 else slow).port)
                    ok, line = same_device_join(c, last, "s%d" % i)
                    check_eq((ok.tag, ok.get("call")), ("Ok", call), "switch %d: %s" % (i, line))

                def settled():
                    ok, line = c.request("<Calls/>")
                    legs = {l.get("leg"): l for l in ok.find("Call").findall("Leg")}
                    return (legs["remote"].get("uri") == last and
                            legs["remote"].get("state") == "connected")
                wait_for(settled, 30, "the last target connected")
                ok, line = c.request("<Calls/>")
                xsd_validate(line)
                check_eq(len(ok.findall("Call")), 1, "one call: %s" % line)
                st = counts(d)
                check_eq(st.get("calls"), "1", "Counts calls=1")
                # A superseded target that never sent a provisional response gets no
                # CANCEL (RFC 3261 9.1): its INVITE ends at Timer B, 32 s; the margin
                # is for a machine busy with ASan builds of everything.
                wait_for(lambda: counts(d).get("sip-dialogs") == "2", 60,
                         "released legs settled: device, remote, nothing else")
                check_eq(len(dev.received("BYE")), 0, "the device got no BYE")
                check_eq(mute.wait(), 0, "the mute target rang and took a CANCEL")
                check("giving it up (RFC 3261 9.1)" in d.log(),
                      "the INVITE without a final response was given up")
                c.request("<Hangup/>")
                events_until_end(c)
            check_eq(dev.wait(), 0, "device: one dialog, BYE only after Hangup")
            invites = device_dialog_unchanged(dev)
            check(2 <= len(invites) <= n + 1, "re-INVITEs: %d" % (len(invites) - 1))
            print("%d switches: %d targets called, %d re-INVITEs to the device"
                  % (n, len(distinct(slow.received("INVITE") + fast.received("INVITE"))),
                     len(invites) - 1))
            vers = [origin(m)[2] for m in invites[1:]]
            check_eq(vers, sorted(set(vers)), "each re-INVITE a higher version: %s" % vers)
            wait_for(lambda: counts(d).get("sip-dialogs") == "0", 60, "no dialog left")
            wait_for(lambda: counts(d).get("sip-transactions") == "0", 45,
                     "no transaction left")
            check_eq(counts(d).get("calls"), "0", "no call left")
    finally:
        for p in (dev, a, slow, fast, mute):
            p.close()


@test
def without_call_is_external_join():
    tgt = Peer("call-target.xml", [("hangup", "yes")])
    dev = Peer("switch-device.xml")
    try:
        cfg = config([sip_device("desk", dev.uri, "loop", "")]).replace(
            'mode="loop"', 'mode="loop" default="true"')
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                ok, line = same_device_join(c, tgt.uri, "x1")
                check_eq(ok.tag, "Ok", "SameDeviceJoin without a call: %s" % line)
                check(re.match(r"^c\d+$", ok.get("call") or ""), "names a new call")
                evs = events_until_end(c)
                check([e for e in evs if connected(e)],
                      "the new call connected through the default device: %s" % evs)
                check_eq(evs[-1].get("reason"), "remote-bye", "then the target hung up")
                ok, line = same_device_join(c, tgt.uri, "x2", "c99")
                check_eq((ok.tag, ok.get("code")), ("Error", "no-such-call"),
                         "an unknown call: %s" % line)
            check_eq(dev.wait(), 0, "device called once")
            check_eq(tgt.wait(), 0, "target called once")
    finally:
        dev.close()
        tgt.close()


if __name__ == "__main__":
    main()
