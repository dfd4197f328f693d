#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""SameDeviceJoin with real audio: three baresip instances on loopback (baresiptest.py),
each playing a file and recording what it hears. The device (loop mode) calls target A; once
A has recorded a second of the device's tone, SameDeviceJoin moves the call to target
B (INVITEd without an offer; the device gets a re-INVITE with B's SDP). B must then
record the device's tone as well, while the device's call stays up until the Hangup:
its only dialog ends with the Hangup's BYE."""

import time

import calltest as callpeers
from baresiptest import RATE, level, start_baresip
from sipsvctest import Daemon, check, check_eq, main, running, test, wait_for, xsd_validate

DEVICE_LEVEL = 0x1000  # the device's tone: a constant level, easy to find again


def tone_seconds(samples):
    """Seconds of the device's tone in @samples (G.711 keeps the level within 3 %)."""
    near = [s for s in samples if abs(s - DEVICE_LEVEL) < DEVICE_LEVEL * 0.03]
    return len(near) / RATE


def wait_call(c, pred, timeout=20):
    while True:
        el, line = c.recv_xml(timeout)
        xsd_validate(line)
        if el.tag == "Event" and el.get("type") == "call":
            check(not (el.get("leg") == "device" and el.get("state") in ("ended", "failed")),
                  "the device leg stays up: %s" % line)
            if pred(el.attrib):
                return


@test
def device_audio_moves_from_a_to_b():
    peers = []
    try:
        dev = start_baresip(user="dev", pcm=level(DEVICE_LEVEL, 60))
        peers.append(dev)
        a = start_baresip(user="a", pcm=level(0, 60))
        peers.append(a)
        b = start_baresip(user="b", pcm=level(0, 60))
        peers.append(b)
        second = 44 + RATE * 2  # one second of 16-bit mono after the header
        cfg = callpeers.config([callpeers.sip_device("soft", dev.uri, "loop")])
        with running(Daemon(config=cfg)) as d:
            with d.unix_client() as c:
                call = callpeers.join(c, a.uri, "soft")
                wait_call(c, lambda e: e.get("leg") is None and e["state"] == "connected")
                wait_for(lambda: a.recorded_bytes() > 2 * second, 15, "A hears the device")
                t0 = time.monotonic()
                ok, line = c.request('<SameDeviceJoin ref="s" id="%s"/>' % b.uri)
                check_eq((ok.tag, ok.get("call")), ("Ok", call), "switch: %s" % line)
                wait_call(c, lambda e: e.get("reason") == "switched" and
                          e["state"] == "connected")
                print("switch: %.0f ms from the request to the new far end connected"
                      % ((time.monotonic() - t0) * 1000))
                wait_for(lambda: b.recorded_bytes() > 2 * second, 15, "B hears the device")
                ok, line = c.request("<Calls/>")
                legs = {l.get("leg"): l for l in ok.find("Call").findall("Leg")}
                check_eq((legs["device"].get("state"), legs["remote"].get("uri")),
                         ("connected", b.uri), "the device is still on the call, with B")
                c.request("<Hangup/>")
                evs = callpeers.events_until_end(c)
                check_eq(evs[-1].get("reason"), "hangup", "the Hangup ended the call")
            at_a, at_b = tone_seconds(a.samples()), tone_seconds(b.samples())
            print("device tone recorded: %.1f s at A, %.1f s at B" % (at_a, at_b))
            check(at_a >= 1.0, "A recorded the device before the switch (%.1f s)" % at_a)
            check(at_b >= 1.0, "B recorded the device after the switch (%.1f s)" % at_b)
    finally:
        for p in peers:
            p.close()


if __name__ == "__main__":
    main()
