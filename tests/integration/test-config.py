#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The config file and the command line (README "Running sipsvcd"): reload on SIGHUP
keeps the running config when the new one is broken, invalid configs exit 78 with
FILE:LINE:, bad options exit 64, --version/--help exit 0."""

import os
import re
import shutil
import signal
import subprocess
import tempfile

from sipsvctest import (Daemon, EX_CONFIG, EX_USAGE, SIPSVCD, check, check_eq, main,
                        running, test, wait_for, xsd_validate)

CONFIG_AB = """<sipsvc>
  <device id="a" wrapper="sip" uri="sip:a@192.0.2.1" default="true"/>
  <device id="b" wrapper="sip" uri="sip:b@192.0.2.2" mode="loop"/>
</sipsvc>
"""

CONFIG_C = """<sipsvc>
  <device id="c" wrapper="sip" uri="sip:c@192.0.2.3"/>
</sipsvc>
"""


def devices(d):
    with d.unix_client() as c:
        ok, line = c.request("<Devices/>")
        check_eq(ok.tag, "Ok", "reply to <Devices/>: %s" % line)
        xsd_validate(line)
        return [(x.get("id"), x.get("mode")) for x in ok.findall("Device")]


def reload(d):
    mark = d.log_mark()
    d.signal(signal.SIGHUP)
    d.wait_notify("RELOADING=1")
    d.wait_notify("READY=1")
    return mark


@test
def sighup_broken_config_keeps_the_old_one():
    d = Daemon(config=CONFIG_AB, allow_errors=[r"invalid config .*sipsvc\.xml:\d+:",
                                               r"reload failed"])
    with running(d):
        check_eq(devices(d), [("a", "transfer"), ("b", "loop")], "devices at start")
        for broken in ("<sipsvc><device id=\"x\"", "<sipsvc><bogus/></sipsvc>\n",
                       CONFIG_AB.replace('id="b"', 'id="a"')):
            d.write_config(broken)
            mark = reload(d)
            line = d.wait_log(r"^<3>invalid config ", start=mark)
            check(re.search(re.escape(d.config_path) + r":\d+: ", line),
                  "error names FILE:LINE: %r" % line)
            d.wait_log(r"^<3>reload failed; keeping the running configuration", start=mark)
            check_eq(devices(d), [("a", "transfer"), ("b", "loop")], "devices kept")


@test
def sighup_valid_config_changes_devices():
    d = Daemon(config=CONFIG_AB)
    with running(d):
        d.write_config(CONFIG_C)
        mark = reload(d)
        d.wait_log(r"^<6>configuration reloaded \(1 devices\)", start=mark)
        check_eq(devices(d), [("c", "transfer")], "devices after reload")
        check_eq(d.status().find("Counts").get("devices"), "1", "Status device count")


@test
def sighup_new_limits_apply_to_open_connections():
    d = Daemon(config="<sipsvc/>")
    with running(d):
        c = d.unix_client()
        msg = '<Status ref="r">%s</Status>' % ("x" * 1500)
        el, _ = c.request(msg)
        check_eq(el.get("code"), "invalid", "a 1.5 KB message under the default limit")
        d.write_config('<sipsvc><control max-message="1024"/></sipsvc>')
        mark = reload(d)
        d.wait_log(r"^<6>configuration reloaded", start=mark)
        for conn in (c, d.unix_client()):  # the open connection and a new one
            conn.send(msg)
            got, _ = conn.read_to_eof()
            conn.close()
            check(got.startswith(b'<Error code="too-large">message larger than 1024 bytes'),
                  "the reloaded limit applies: %r" % got)


@test
def sighup_with_missing_config_keeps_running():
    d = Daemon(config=CONFIG_C, allow_errors=[r"invalid config .*cannot read",
                                              r"reload failed"])
    with running(d):
        os.unlink(d.config_path)
        mark = reload(d)
        d.wait_log(r"reload failed", start=mark)
        check_eq(devices(d), [("c", "transfer")], "devices kept")


@test
def kill_9_during_reload_then_restart():
    """Issue 9, faults: SIGKILL right after SIGHUP, while the new config is read and
    devices and shares reopen. The daemon writes no config, and what it keeps on disk
    (the share index) is written atomically: a restart on the same state starts clean
    with the new config and the share it had."""
    tmp = tempfile.mkdtemp(prefix="sipsvc-test-")
    try:
        reload_then_kill(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def reload_then_kill(tmp):
    d = Daemon(config=CONFIG_AB, tmp=tmp)
    share = os.path.join(tmp, "shared")
    os.makedirs(share)
    with open(os.path.join(share, "a.txt"), "w") as f:
        f.write("kept\n")
    with running(d):
        with d.unix_client() as c:
            check_eq(c.request('<Share path="%s"/>' % share)[0].tag, "Ok", "Share")
        wait_for(lambda: os.path.exists(os.path.join(tmp, "state", "shares.idx")), 5,
                 "the share saved")
        for _ in range(20):
            d.write_config(CONFIG_C if _ % 2 else CONFIG_AB)
            d.signal(signal.SIGHUP)
        d.write_config(CONFIG_C)
        d.signal(signal.SIGHUP)
        d.signal(signal.SIGKILL)
        d.wait_exit()
    os.unlink(os.path.join(tmp, "notify"))
    d2 = Daemon(config=CONFIG_C, tmp=tmp)
    with running(d2):
        check_eq(devices(d2), [("c", "transfer")], "the new config after the restart")
        with d2.unix_client() as c:
            ok, _ = c.request("<Shares/>")
        check_eq([s.get("path") for s in ok.findall("Share")], [share], "the share kept")


def run_sync(args, env_tmp):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": env_tmp,
           "XDG_CONFIG_HOME": os.path.join(env_tmp, "config")}
    return subprocess.run([SIPSVCD] + args, env=env, capture_output=True, timeout=10,
                          stdin=subprocess.DEVNULL)


@test
def invalid_config_at_start_exits_78():
    d = Daemon(config='<sipsvc>\n  <control port="70000"/>\n</sipsvc>\n')
    with running(d, start=False):
        d.spawn()
        code = d.wait_exit()
        check_eq(code, EX_CONFIG, "exit status")
        line = d.wait_log(r"^<3>invalid config ")
        check(line.startswith("<3>invalid config %s:2: " % d.config_path),
              "error line names FILE:LINE: %r" % line)
        check(not os.path.exists(d.socket_path), "no control socket left behind")


@test
def missing_config_file_exits_78():
    d = Daemon()
    with running(d, start=False):
        d.config_path = os.path.join(d.tmp, "does-not-exist.xml")
        d.spawn()
        check_eq(d.wait_exit(), EX_CONFIG, "exit status")
        line = d.wait_log(r"^<3>invalid config ")
        check(d.config_path + ":" in line, "error names the file: %r" % line)


@test
def bad_options_exit_64():
    d = Daemon()
    try:
        for args in (["--no-such-option"], ["--control-port", "70000"],
                     ["--control-port", "x"], ["--log-level", "loud"], ["extra-argument"]):
            p = run_sync(args, d.tmp)
            check_eq(p.returncode, EX_USAGE, "exit status of sipsvcd %s (stderr %r)"
                     % (" ".join(args), p.stderr))
            check(p.stderr, "an explanation on stderr for %r" % args)
    finally:
        d.cleanup()


@test
def version_and_help_exit_0():
    d = Daemon()
    try:
        p = run_sync(["--version"], d.tmp)
        check_eq(p.returncode, 0, "--version exit status")
        check(re.match(rb"^sipsvcd \d+\.\d+\.\d+\n$", p.stdout), "--version: %r" % p.stdout)
        p = run_sync(["--help"], d.tmp)
        check_eq(p.returncode, 0, "--help exit status")
        check(b"--runtime-dir" in p.stdout and p.stdout.startswith(b"Usage: sipsvcd"),
              "--help text: %r" % p.stdout[:80])
        check_eq(p.stderr, b"", "--help stderr")
        check(not os.path.exists(os.path.join(d.tmp, "run")), "nothing created")
    finally:
        d.cleanup()


@test
def no_config_file_uses_defaults():
    d = Daemon()  # XDG_CONFIG_HOME points into the empty temp dir
    with running(d):
        d.wait_log(r"^<6>no config file at %s; using the embedded defaults"
                   % re.escape(os.path.join(d.tmp, "config", "sipsvc", "sipsvc.xml")))
        check_eq(devices(d), [], "no devices")
        check_eq(d.status().get("config"), None, "Status names no config file")


if __name__ == "__main__":
    main()
