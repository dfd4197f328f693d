#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""<Devices/> from the config, with each device's availability as its wrapper module
(loaded by the daemon with dlopen from the wrapper directory) reports it; a device whose
wrapper is missing stays listed, unavailable, and the log says why; SIGHUP reloads them."""

import os
import signal

from sipsvctest import Daemon, check, check_eq, main, running, test, xsd_validate

CONFIG = """<sipsvc>
  <device id="desk" wrapper="sip" uri="sip:desk@192.0.2.10" default="true">
    <param name="auto-answer" value="yes"/>
  </device>
  <device id="soft" wrapper="softphone" mode="loop">
    <param name="audio-source" value="ausine,"/>
    <param name="audio-player" value="aufile,/dev/null"/>
  </device>
  <device id="click" wrapper="http"><param name="url" value="http://127.0.0.1:9/{target}"/></device>
  <device id="ghost" wrapper="nosuch"/>
  <device id="broken" wrapper="sip"/>
</sipsvc>"""
ALLOW = [r"cannot load wrapper \"nosuch\"", r"device broken: ", r"cannot load wrapper"]


def devices(d):
    with d.unix_client() as c:
        el, line = c.request("<Devices/>")
    xsd_validate(line)
    return {x.get("id"): dict(x.attrib) for x in el.findall("Device")}


@test
def availability_comes_from_the_wrappers():
    with running(Daemon(config=CONFIG, allow_errors=ALLOW)) as d:
        got = devices(d)
        check_eq(list(got), ["desk", "soft", "click", "ghost", "broken"], "devices in order")
        check_eq({k: v["available"] for k, v in got.items()},
                 {"desk": "unknown", "soft": "true", "click": "unknown", "ghost": "false",
                  "broken": "false"}, "availability")
        check_eq(got["desk"]["default"], "true", "desk is the default")
        check_eq(got["soft"]["mode"], "loop", "soft's mode")
        d.wait_log(r"<3>device: cannot load wrapper \"nosuch\"")
        d.wait_log(r"<3>device broken: a sip device needs uri=")
        with d.unix_client() as c:
            st, _ = c.request("<Status/>")
        check_eq(st.find("Status/Counts").get("devices"), "5", "Status counts the devices")


@test
def no_wrapper_directory():
    d = Daemon(config=CONFIG, allow_errors=ALLOW, env={"SIPSVC_WRAPPER_DIR": "/nonexistent"})
    with running(d):
        got = devices(d)
        check_eq({v["available"] for v in got.values()}, {"false"}, "nothing can be driven")
        d.wait_log(r"cannot load wrapper \"softphone\": /nonexistent/softphone.so")


@test
def reload_replaces_devices():
    with running(Daemon(config=CONFIG, allow_errors=ALLOW)) as d:
        d.write_config("""<sipsvc>
  <device id="desk" wrapper="sip" uri="sip:desk@192.0.2.10"><param name="auto-answer" value="yes"/></device>
  <device id="mobile" wrapper="sip" uri="sip:+4915@gw.example.com" default="true"/>
</sipsvc>""")
        mark = d.log_mark()
        d.signal(signal.SIGHUP)
        d.wait_log(r"configuration reloaded \(2 devices\)", start=mark)
        got = devices(d)
        check_eq(list(got), ["desk", "mobile"], "devices after the reload")
        check_eq(got["mobile"]["default"], "true", "the new default")
        check_eq(got["desk"]["default"], "false", "desk is no longer the default")


if __name__ == "__main__":
    main()
