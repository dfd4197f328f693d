#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Join through the control socket against SIPp as the device and as the target.

Loop mode (RFC 3725 4.1): the device's INVITE has no offer, the device's offer (its
-mp media port) reaches the target, the target's answer (its -mp port) comes back in
the ACK to the device; BYE from either side ends both; 486 from the target fails the
call and the device gets its ACK and a BYE; a device that never answers is CANCELled
at the answer timeout, or on Hangup. Transfer mode (RFC 3515): REFER with the right
Refer-To after the answer, NOTIFY 200 sipfrag → transferred, then BYE; a device that
refuses REFER with 405 → failed. Errors: no-such-device, limit, no-such-call.
Every reply and event validates against sipsvc.xsd; SIPp checks its side."""

import atexit
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.parse

from calltest import (SCENARIOS, Peer, config, events_until_end, free_udp, join, legs, media_port,
                      sip_device)
from sipsvctest import Daemon, check, check_eq, main, running, test, xsd_validate

def loop_call(device_sets=(), target_sets=()):
    dev, tgt = Peer("call-device-loop.xml", device_sets), Peer("call-target.xml", target_sets)
    return dev, tgt


@test
def loop_mode_carries_offer_and_answer_target_hangs_up():
    dev, tgt = loop_call(target_sets=[("hangup", "yes")])
    try:
        with running(Daemon(config=config([sip_device("desk", dev.uri, "loop")]))) as d:
            with d.unix_client() as c:
                call = join(c, tgt.uri, "desk")
                seen = []
                while "connected" not in [e["state"] for e in seen if "leg" not in e]:
                    el, line = c.recv_xml(15)
                    xsd_validate(line)
                    seen.append(el.attrib)
                check(all(e.get("call") == call and e.get("ref") == "r1" for e in seen),
                      "events carry call= and ref=")
                ok, line = c.request("<Calls/>")
                xsd_validate(line)
                calls = ok.findall("Call")
                check_eq(len(calls), 1, "Calls lists the call: %s" % line)
                check_eq(calls[0].get("state"), "connected", "the call is connected")
                check_eq(sorted(l.get("leg") for l in calls[0].findall("Leg")),
                         ["device", "remote"], "both legs listed")
                check_eq(d.status().find("Counts").get("calls"), "1", "Counts calls=1")
                rest = events_until_end(c)
            evs = seen + rest
            check_eq(legs(evs, "device")[:3], ["trying", "ringing", "connected"],
                     "device leg states")
            check_eq(legs(evs, "remote"), ["trying", "ringing", "connected", "ended"],
                     "remote leg states")
            check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "remote-bye"),
                     "final event")
            check_eq(dev.wait(), 0, "SIPp device completed (got BYE)")
            check_eq(tgt.wait(), 0, "SIPp target completed")
            inv = dev.received("INVITE")
            check(inv and re.search(r"(?im)^Content-Length: *0\s*$", inv[0]),
                  "the device's INVITE has no offer (RFC 3725 4.1)")
            check_eq(media_port(tgt.received("INVITE")[0]), dev.mp,
                     "the target's INVITE carries the device's offer")
            check_eq(media_port(dev.received("ACK")[0]), tgt.mp,
                     "the device's ACK carries the target's answer")
            check_eq(d.status().find("Counts").get("calls"), "0", "Counts calls=0 after")
    finally:
        dev.close()
        tgt.close()


@test
def loop_mode_device_hangs_up_ad_hoc_device():
    dev, tgt = loop_call(device_sets=[("hangup", "yes")])
    try:
        with running(Daemon(config=config([]))) as d:
            with d.unix_client() as c:
                join(c, tgt.uri, dev.uri)
                evs = events_until_end(c)
            check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "device-bye"),
                     "final event")
            check_eq(dev.wait(), 0, "SIPp device completed (sent BYE)")
            check_eq(tgt.wait(), 0, "SIPp target completed (got BYE)")
    finally:
        dev.close()
        tgt.close()


@test
def loop_mode_update_without_offer_refreshes():
    """RFC 3311 5.2 / RFC 4028: the device's UPDATE without an offer gets 200 from the
    service (each leg is its own session); the call goes on until the target's BYE."""
    dev = Peer("call-device-update.xml")
    tgt = Peer("call-target.xml", [("hangup", "yes")])
    try:
        with running(Daemon(config=config([sip_device("desk", dev.uri, "loop")]))) as d:
            with d.unix_client() as c:
                join(c, tgt.uri, "desk")
                evs = events_until_end(c)
            check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "remote-bye"),
                     "the call lasted until the target hung up: %r" % evs)
            check_eq(dev.wait(), 0, "SIPp device: its UPDATE got 200, then the BYE came")
            check_eq(tgt.wait(), 0, "SIPp target completed")
            check(not tgt.received("UPDATE"), "the refresh stayed on the device's leg")
    finally:
        dev.close()
        tgt.close()


def reinvite_call(dev, tgt, what):
    """A loop-mode call in which the SIPp device sends a re-INVITE (@what), then hangs
    up; both peers complete. Returns the 200 the device got for its re-INVITE (or
    None) and the daemon's call count afterwards."""
    with running(Daemon(config=config([sip_device("desk", dev.uri, "loop")]))) as d:
        with d.unix_client() as c:
            join(c, tgt.uri, "desk")
            evs = events_until_end(c)
        check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "device-bye"),
                 "final event: %r" % evs)
        check_eq(dev.wait(), 0, "SIPp device: %s answered, then its BYE" % what)
        check_eq(tgt.wait(), 0, "SIPp target: re-INVITE, ACK, BYE")
        oks = [p for p in dev.messages().split("message received")
               if p.lstrip(" [0123456789]bytes:\n").startswith("SIP/2.0 200") and
               "CSeq: 2 INVITE" in p]
        return (oks[0] if oks else None), d.status().find("Counts").get("calls")


@test
def loop_mode_relays_offerless_reinvite():
    """RFC 3725 5 and RFC 3264 5: the device's re-INVITE without an offer goes to the
    target without one; the target's 200 has its offer, which the service's 200
    carries to the device; the device's ACK has the answer, which goes on in the ACK
    to the target."""
    dev, tgt = loop_call(device_sets=[("hangup", "yes"), ("offerless", "yes")])
    try:
        ok, calls = reinvite_call(dev, tgt, "offerless re-INVITE")
        invites = tgt.received("INVITE")
        check_eq(len(invites), 2, "the target got the re-INVITE")
        check(re.search(r"(?im)^Content-Length: *0\s*$", invites[1]),
              "the target's re-INVITE has no offer either")
        check(ok and media_port(ok) == tgt.mp, "the device's 200 carries the target's offer")
        acks = tgt.received("ACK")
        check_eq(len(acks), 2, "the target got the ACK of its 200")
        check_eq(media_port(acks[1]), dev.mp + 4,
                 "the ACK to the target carries the device's answer")
        check_eq(calls, "0", "Counts calls=0 after")
    finally:
        dev.close()
        tgt.close()


@test
def loop_mode_relays_reinvite():
    dev, tgt = loop_call(device_sets=[("hangup", "yes"), ("reinvite", "yes")])
    try:
        ok, _ = reinvite_call(dev, tgt, "re-INVITE")
        invites = tgt.received("INVITE")
        check_eq(len(invites), 2, "the target got the re-INVITE")
        check_eq(media_port(invites[1]), dev.mp + 2,
                 "the re-INVITE carries the device's new offer (RFC 3725 7)")
        check(ok and media_port(ok) == tgt.mp, "the device's 200 carries the target's answer")
    finally:
        dev.close()
        tgt.close()


@test
def loop_mode_target_busy():
    dev, tgt = loop_call(target_sets=[("status", "486")])
    try:
        with running(Daemon(config=config([sip_device("desk", dev.uri, "loop")]))) as d:
            with d.unix_client() as c:
                join(c, tgt.uri, "desk")
                evs = events_until_end(c)
            remote = [e for e in evs if e.get("leg") == "remote"]
            check_eq((remote[-1]["state"], remote[-1].get("sip-status")), ("failed", "486"),
                     "remote leg failed with 486")
            check_eq((evs[-1]["state"], evs[-1].get("sip-status")), ("failed", "486"),
                     "the call failed with 486")
            check_eq(dev.wait(), 0, "SIPp device got its ACK and a BYE")
            check_eq(tgt.wait(), 0, "SIPp target completed")
            check_eq(media_port(dev.received("ACK")[0]), 0,
                     "the device's ACK refuses the stream (RFC 3264 6)")
    finally:
        dev.close()
        tgt.close()


@test
def device_never_answers_timeout_cancels():
    dev = Peer("call-device-ring.xml")
    try:
        cfg = config([sip_device("desk", dev.uri, "loop")], timeout=2)
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                join(c, "sip:nobody@127.0.0.1:9", "desk")
                evs = events_until_end(c)
            check_eq((evs[-1]["state"], evs[-1].get("reason"), evs[-1].get("sip-status")),
                     ("failed", "timeout", "408"), "the call failed on the answer timeout")
            check_eq(dev.wait(), 0, "SIPp device got CANCEL, answered 487, got ACK")
    finally:
        dev.close()


@test
def hangup_before_answer_cancels():
    dev = Peer("call-device-ring.xml")
    try:
        with running(Daemon(config=config([sip_device("desk", dev.uri, "loop")]))) as d:
            with d.unix_client() as c:
                call = join(c, "sip:nobody@127.0.0.1:9", "desk")
                while True:
                    el, _ = c.recv_xml(10)
                    if el.get("state") == "ringing":
                        break
                ok, line = c.request('<Hangup call="%s"/>' % call)
                check_eq(ok.tag, "Ok", "Hangup answered Ok: %s" % line)
                evs = events_until_end(c)
                check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "hangup"),
                         "the call ended by Hangup")
                ok, line = c.request('<Hangup call="%s"/>' % call)
                xsd_validate(line)
                check_eq(ok.get("code"), "no-such-call", "Hangup of an ended call")
            check_eq(dev.wait(), 0, "SIPp device got CANCEL")
    finally:
        dev.close()


@test
def transfer_mode_refer_and_notify():
    dev = Peer("call-device-refer.xml")
    target = "sip:bob@127.0.0.1:5999"
    try:
        cfg = config([sip_device("desk", dev.uri, "transfer",
                                 '<param name="auto-answer" value="true"/>')])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                join(c, target, "desk")
                evs = events_until_end(c)
            check("transferred" in [e["state"] for e in evs if "leg" not in e],
                  "a transferred event: %r" % evs)
            check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "transferred"),
                     "final event")
            check_eq(dev.wait(), 0, "SIPp device got REFER, sent NOTIFY, got BYE")
            inv = dev.received("INVITE")[0]
            check(re.search(r"(?im)^Answer-Mode: *Auto", inv), "Answer-Mode: Auto (RFC 5373)")
            refer = dev.received("REFER")[0]
            check(re.search(r"(?im)^Refer-To: *<%s>" % re.escape(target), refer),
                  "Refer-To names the target: %s" % refer)
    finally:
        dev.close()


@test
def transfer_mode_refer_refused():
    dev = Peer("call-device-refer.xml", [("status", "405")])
    try:
        with running(Daemon(config=config([]))) as d:
            with d.unix_client() as c:
                join(c, "sip:bob@127.0.0.1:5999", dev.uri, mode="transfer")
                evs = events_until_end(c)
            check_eq((evs[-1]["state"], evs[-1].get("sip-status")), ("failed", "405"),
                     "the call failed with 405")
            check("loop" in evs[-1].get("reason", ""), "the reason points to loop mode")
            check_eq(dev.wait(), 0, "SIPp device refused REFER and got BYE")
    finally:
        dev.close()


@test
def transfer_mode_out_of_dialog_refer_nosub():
    dev, bad = Peer("call-device-refer-nosub.xml"), Peer("call-device-refer-nosub.xml",
                                                        [("status", "403")])
    target = "sip:bob@127.0.0.1:5999"
    nosub = '<param name="refer-nosub" value="true"/>'
    try:
        cfg = config([sip_device("desk", dev.uri, "transfer", nosub),
                      sip_device("bad", bad.uri, "transfer", nosub)])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                join(c, target, "desk")
                evs = events_until_end(c)
                check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "transferred"),
                         "a 202 to the REFER: transferred")
                join(c, target, "bad")
                evs = events_until_end(c)
                check_eq((evs[-1]["state"], evs[-1].get("sip-status")), ("failed", "403"),
                         "a 403 to the REFER: failed")
            check_eq(dev.wait(), 0, "SIPp device took the REFER")
            check_eq(bad.wait(), 0, "SIPp device refused the REFER")
            check(not dev.received("INVITE"), "no INVITE to the device (RFC 5359 2.18)")
            refer = dev.received("REFER")[0]
            check(re.search(r"(?im)^Refer-To: *<%s>" % re.escape(target), refer),
                  "Refer-To names the target: %s" % refer)
            check(re.search(r"(?im)^Refer-Sub: *false", refer), "Refer-Sub: false (RFC 4488)")
    finally:
        dev.close()
        bad.close()


@test
def errors_and_limits():
    dev = Peer("call-device-ring.xml")
    try:
        cfg = config([sip_device("desk", dev.uri, "loop"),
                      sip_device("norefer", "sip:x@127.0.0.1:9", "loop",
                                 '<param name="refer" value="false"/>')], max_calls=1)
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                el, line = c.request('<Join id="sip:a@127.0.0.1"><Use dev="nosuch"/></Join>')
                xsd_validate(line)
                check_eq(el.get("code"), "no-such-device", "unknown device")
                el, line = c.request('<Join id="sip:a@127.0.0.1"><Use dev="norefer" '
                                     'mode="transfer"/></Join>')
                xsd_validate(line)
                check_eq(el.get("code"), "invalid", "transfer mode on a device without REFER")
                check("loop" in el.text, "the error points to loop mode: %s" % line)
                join(c, "sip:nobody@127.0.0.1:9", "desk")
                el, line = c.request('<Join id="sip:a@127.0.0.1"><Use dev="desk"/></Join>')
                xsd_validate(line)
                check_eq(el.get("code"), "limit", "a second call over max=1")
                el, line = c.request('<Hangup call="c99"/>')
                check_eq(el.get("code"), "no-such-call", "Hangup of an unknown call")
                el, line = c.request("<Hangup/>")
                check_eq(el.tag, "Ok", "Hangup of every call")
                evs = events_until_end(c)
                check_eq(evs[-1]["state"], "ended", "the call ended")
            check_eq(dev.wait(), 0, "SIPp device got CANCEL")
    finally:
        dev.close()


class ClickToDial:
    """A phone's HTTP click-to-dial API on loopback: answers @status, records paths."""

    def __init__(self, status):
        paths = self.paths = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                paths.append(urllib.parse.unquote(self.path))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@test
def transfer_mode_click_to_dial():
    ok_phone, bad_phone = ClickToDial(200), ClickToDial(503)
    try:
        devs = ['<device id="%s" wrapper="http" mode="transfer"><param name="url" '
                'value="http://127.0.0.1:%d/dial/{target}"/></device>' % (n, p.port)
                for n, p in (("click", ok_phone), ("broken", bad_phone))]
        with running(Daemon(config=config(devs), allow_errors=[r"http"])) as d:
            with d.unix_client() as c:
                join(c, "sip:bob@example.com", "click")
                evs = events_until_end(c)
                check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "transferred"),
                         "a 2xx from the phone: transferred")
                check_eq(ok_phone.paths, ["/dial/sip:bob@example.com"],
                         "the phone was asked to dial the target")
                join(c, "sip:bob@example.com", "broken")
                evs = events_until_end(c)
                check_eq((evs[-1]["state"], evs[-1].get("reason")),
                         ("failed", "device-did-not-dial"), "a 503 from the phone: failed")
                el, line = c.request('<Join id="sip:bob@example.com"><Use dev="click" '
                                     'mode="loop"/></Join>')
                xsd_validate(line)
                check_eq(el.get("code"), "invalid", "a click-to-dial device cannot loop")
    finally:
        ok_phone.close()
        bad_phone.close()


def wait_state(c, state, timeout=10):
    while True:
        el, line = c.recv_xml(timeout)
        xsd_validate(line)
        if el.tag == "Event" and el.get("state") == state:
            return el


@test
def external_join_prompt_answered():
    dev = Peer("call-device-ring.xml")
    try:
        cfg = config([sip_device("desk", dev.uri, "loop"),
                      sip_device("other", "sip:other@127.0.0.1:9", "loop")])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as chooser, d.unix_client() as c:
                ok, _ = chooser.request('<Subscribe events="device-choice"/>')
                check_eq(ok.tag, "Ok", "subscribed")
                ok, line = c.request('<ExternalJoin ref="x" id="sip:bob@127.0.0.1:9"/>')
                xsd_validate(line)
                check_eq(ok.tag, "Ok", "ExternalJoin answered Ok: %s" % line)
                call = ok.get("call")
                ev, line = chooser.recv_xml()
                xsd_validate(line)
                check_eq((ev.get("type"), ev.get("target")),
                         ("device-choice", "sip:bob@127.0.0.1:9"), "the prompt: %s" % line)
                check_eq([x.get("id") for x in ev.findall("Device")], ["desk", "other"],
                         "the prompt offers the devices")
                ok, line = chooser.request('<ChooseDevice prompt="%s" dev="desk"/>'
                                           % ev.get("prompt"))
                check_eq(ok.tag, "Ok", "ChooseDevice answered Ok: %s" % line)
                ok, line = chooser.request('<ChooseDevice prompt="%s" dev="desk"/>'
                                           % ev.get("prompt"))
                check_eq(ok.tag, "Error", "a second answer is refused: %s" % line)
                wait_state(c, "ringing")
                c.request('<Hangup call="%s"/>' % call)
                evs = events_until_end(c)
                check_eq(evs[-1]["state"], "ended", "the call ended")
            check_eq(dev.wait(), 0, "the chosen device was called (and CANCELled)")
    finally:
        dev.close()


@test
def external_join_declined_and_defaults():
    dev = Peer("call-device-ring.xml")
    try:
        two = config([sip_device("desk", dev.uri, "loop"),
                      sip_device("other", "sip:other@127.0.0.1:9", "loop")])
        with running(Daemon(config=two)) as d:
            with d.unix_client() as chooser, d.unix_client() as c:
                ok, line = c.request('<ExternalJoin id="sip:bob@127.0.0.1:9"/>')
                xsd_validate(line)
                check_eq(ok.get("code"), "declined", "no chooser, no default: declined")
                chooser.request('<Subscribe events="device-choice"/>')
                ok, _ = c.request('<ExternalJoin id="sip:bob@127.0.0.1:9"/>')
                ev, _ = chooser.recv_xml()
                chooser.request('<ChooseDevice prompt="%s" dev=""/>' % ev.get("prompt"))
                evs = events_until_end(c)
                check_eq((evs[-1]["state"], evs[-1].get("reason")), ("failed", "declined"),
                         "a declined prompt fails the call")
        with running(Daemon(config=config([]))) as d:
            with d.unix_client() as c:
                ok, line = c.request('<ExternalJoin id="sip:bob@127.0.0.1:9"/>')
                check_eq(ok.get("code"), "no-devices", "no device configured")
        one = config([sip_device("desk", dev.uri, "loop")])
        with running(Daemon(config=one)) as d:
            with d.unix_client() as c:
                ok, line = c.request('<ExternalJoin id="sip:bob@127.0.0.1:9"/>')
                check_eq(ok.tag, "Ok", "the default device is used: %s" % line)
                wait_state(c, "ringing")
                c.request("<Hangup/>")
                evs = events_until_end(c)
                check_eq(evs[-1]["state"], "ended", "the call ended")
            check_eq(dev.wait(), 0, "the default device was called")
    finally:
        dev.close()


def caller(port, extra=()):
    """SIPp's built-in uac calling the daemon once: INVITE with SDP, ACK, BYE. Its
    directory goes when the test process exits."""
    tmp = tempfile.mkdtemp(prefix="sipsvc-caller-")
    atexit.register(shutil.rmtree, tmp, True)
    mp = free_udp()
    trace = os.path.join(tmp, "messages.log")
    p = subprocess.Popen(["sipp", "-sn", "uac", "-t", "u1", "-i", "127.0.0.1",
                          "-p", str(free_udp()), "-mp", str(mp), "-m", "1", "-nostdin",
                          "-timeout", "30", "-timeout_error", "-trace_msg",
                          "-message_file", trace] + list(extra) + ["127.0.0.1:%d" % port],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, cwd=tmp)
    return p, mp, trace


def scenario_caller(scenario, port, mp=None):
    """SIPp running tests/sipp/@scenario once against the daemon's SIP @port."""
    tmp = tempfile.mkdtemp(prefix="sipsvc-caller-")
    atexit.register(shutil.rmtree, tmp, True)
    return subprocess.Popen(
        ["sipp", "-sf", os.path.join(SCENARIOS, scenario), "-t", "u1", "-i", "127.0.0.1",
         "-p", str(free_udp()), "-mp", str(mp or free_udp()), "-m", "1", "-nostdin",
         "-timeout", "15", "-timeout_error", "127.0.0.1:%d" % port],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp)


def finished(p):
    """SIPp's exit status, its output printed when it failed."""
    out, _ = p.communicate(timeout=20)
    if p.returncode:
        print(out.decode(errors="replace")[-2000:])
    return p.returncode


def sip_port(d):
    for s in d.status().findall("Sip"):
        if s.get("transport") == "udp" and s.get("address", "").startswith("0.0.0.0:"):
            return int(s.get("address").rsplit(":", 1)[1])
    raise AssertionError("no UDP SIP address in Status")


@test
def incoming_call_bridged_to_the_default_device():
    dev = Peer("call-target.xml")
    try:
        cfg = config([sip_device("desk", dev.uri, "loop")])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                ok, _ = c.request('<Subscribe events="incoming call"/>')
                p, mp, trace = caller(sip_port(d))
                el, line = c.recv_xml(15)
                xsd_validate(line)
                check_eq((el.get("type"), el.get("call")), ("incoming", "c1"),
                         "an incoming event: %s" % line)
                check(el.get("from", "").startswith("sip:sipp@"), "from the caller: %s" % line)
                evs = events_until_end(c)
                check("connected" in [e["state"] for e in evs if "leg" not in e],
                      "the call was connected: %r" % evs)
                check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "remote-bye"),
                         "the caller hung up")
            out, _ = p.communicate(timeout=40)
            if p.returncode:
                print(out.decode(errors="replace")[-2000:])
            check_eq(p.returncode, 0, "SIPp caller: 200, ACK, BYE")
            check_eq(dev.wait(), 0, "SIPp device: INVITE, 200, ACK, BYE")
            check_eq(media_port(dev.received("INVITE")[0]), mp,
                     "the device got the caller's offer")
            with open(trace, errors="replace") as f:
                ok200 = [m for m in f.read().split("message received")
                         if "SIP/2.0 200" in m and "INVITE" in m]
            check(ok200 and media_port(ok200[0]) == dev.mp,
                  "the caller got the device's answer")
    finally:
        dev.close()


@test
def incoming_call_cancelled_by_the_caller():
    """The caller CANCELs while the device rings: the service answers 200 and 487
    (RFC 3261 9.2) and CANCELs the device at once, not at the answer timeout (20 s)."""
    dev = Peer("call-device-ring.xml")
    try:
        cfg = config([sip_device("desk", dev.uri, "loop")], timeout=20)
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                c.request('<Subscribe events="call"/>')
                p = scenario_caller("caller-cancel.xml", sip_port(d))
                evs = events_until_end(c, timeout=10)
            check_eq(finished(p), 0, "SIPp caller: 180, CANCEL, 200, 487, ACK")
            check_eq((evs[-1]["state"], evs[-1].get("reason"), evs[-1].get("sip-status")),
                     ("ended", "caller-cancelled", "487"), "the call ended: %r" % evs)
            check_eq(dev.wait(timeout=5), 0, "the device got the CANCEL at once")
    finally:
        dev.close()


@test
def incoming_call_without_an_offer():
    """An INVITE without SDP (RFC 3264 5): the device is INVITEd without one, its offer
    goes in our 200 to the caller, and the caller's answer (in its ACK) goes in the
    ACK to the device."""
    dev = Peer("call-device-loop.xml")
    try:
        cfg = config([sip_device("desk", dev.uri, "loop")])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                c.request('<Subscribe events="call"/>')
                mp = free_udp()
                p = scenario_caller("caller-offerless.xml", sip_port(d), mp)
                evs = events_until_end(c, timeout=15)
            check_eq(finished(p), 0, "SIPp caller: 200 with an offer, ACK, BYE")
            check("connected" in [e["state"] for e in evs if "leg" not in e],
                  "the call was connected: %r" % evs)
            check_eq((evs[-1]["state"], evs[-1].get("reason")), ("ended", "remote-bye"),
                     "the caller hung up")
            check_eq(dev.wait(), 0, "SIPp device: INVITE, 200, ACK, BYE")
            check(media_port(dev.received("INVITE")[0]) is None,
                  "the device's INVITE has no offer")
            check_eq(media_port(dev.received("ACK")[0]), mp,
                     "the device's ACK has the caller's answer")
    finally:
        dev.close()


@test
def incoming_call_device_busy():
    dev = Peer("call-target.xml", [("status", "486")])
    try:
        cfg = config([sip_device("desk", dev.uri, "loop")])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                c.request('<Subscribe events="call"/>')
                p, _, trace = caller(sip_port(d))
                evs = events_until_end(c)
                check_eq((evs[-1]["state"], evs[-1].get("sip-status")), ("failed", "486"),
                         "the device's 486 fails the call")
            p.communicate(timeout=40)
            with open(trace, errors="replace") as f:
                check("SIP/2.0 486" in f.read(), "the caller got the 486")
            check_eq(dev.wait(), 0, "SIPp device refused")
    finally:
        dev.close()


def chooser_script(body):
    """A chooser program (PROTOCOL.md "Device choice", step 2) as a shell script."""
    fd, path = tempfile.mkstemp(prefix="sipsvc-chooser-", suffix=".sh")
    with os.fdopen(fd, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


@test
def external_join_chooser_program():
    dev = Peer("call-device-ring.xml")
    log = tempfile.mktemp(prefix="sipsvc-chooser-args-")
    picks = chooser_script('echo "$@" > %s; echo desk' % log)
    declines = chooser_script("exit 1")
    try:
        devs = [sip_device("desk", dev.uri, "loop"),
                sip_device("other", "sip:other@127.0.0.1:9", "loop")]
        cfg = config(devs).replace('<calls ', '<calls chooser="%s" ' % picks)
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                ok, line = c.request('<ExternalJoin id="sip:bob@127.0.0.1:9"/>')
                check_eq(ok.tag, "Ok", "ExternalJoin answered Ok: %s" % line)
                wait_state(c, "ringing")
                with open(log) as f:
                    check_eq(f.read().split(), ["sip:bob@127.0.0.1:9", "desk", "other"],
                             "the chooser got the target and the devices")
                c.request("<Hangup/>")
                evs = events_until_end(c)
                check_eq(evs[-1]["state"], "ended", "the call ended")
            check_eq(dev.wait(), 0, "the device the chooser named was called")
        cfg = config(devs).replace('<calls ', '<calls chooser="%s" ' % declines)
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                ok, line = c.request('<ExternalJoin id="sip:bob@127.0.0.1:9"/>')
                check_eq(ok.tag, "Ok", "ExternalJoin answered Ok: %s" % line)
                evs = events_until_end(c)
                check_eq((evs[-1]["state"], evs[-1].get("reason")), ("failed", "declined"),
                         "no device named and no default: declined")
    finally:
        dev.close()
        for p in (picks, declines, log):
            if os.path.exists(p):
                os.unlink(p)


if __name__ == "__main__":
    main()
