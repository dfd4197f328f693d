#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The systemd user units (DESIGN.md "systemd"): the generated sipsvcd.service and
sipsvcd.socket pass `systemd-analyze --user verify` without a single warning about them,
carry the settings the design asks for, and the socket unit's Unix path is where the
daemon itself puts its socket."""

import os
import re
import shutil
import subprocess
import tempfile

from sipsvctest import (SIPSVCD, TOP_SRCDIR, Daemon, check, check_eq, main, need_program,
                        running, test)

SERVICE = os.environ.get("SIPSVC_SERVICE_UNIT", "systemd/sipsvcd.service")
SOCKET = os.environ.get("SIPSVC_SOCKET_UNIT",
                        os.path.join(TOP_SRCDIR, "systemd", "sipsvcd.socket"))
BINDIR = os.environ.get("SIPSVC_BINDIR")

# Options that need mount namespaces or capabilities: the user manager cannot apply
# them without unprivileged user namespaces, and then the unit fails to start.
SYSTEM_ONLY = {"PrivateTmp", "ProtectSystem", "ProtectHome", "PrivateDevices",
               "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
               "ProtectControlGroups", "ProtectHostname", "PrivateNetwork", "ReadOnlyPaths",
               "InaccessiblePaths", "CapabilityBoundingSet", "AmbientCapabilities", "User",
               "Group", "DynamicUser", "PrivateMounts", "ProtectProc", "ProcSubset"}


def parse_unit(path):
    """[(section, key, value)] in file order; repeated keys are kept."""
    out, section = [], None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            m = re.match(r"^\[(.+)\]$", line)
            if m:
                section = m.group(1)
                continue
            key, _, value = line.partition("=")
            out.append((section, key.strip(), value.strip()))
    return out


def values(unit, section, key):
    return [v for s, k, v in unit if s == section and k == key]


def one(unit, section, key):
    v = values(unit, section, key)
    check_eq(len(v), 1, "number of %s= in [%s]" % (key, section))
    return v[0]


class Verify:
    """Copies of the units in a temp dir, ExecStart pointed at the built daemon (verify
    wants the binary to exist), and a user manager environment for --user."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="sipsvc-units-")
        self.rt = os.path.join(self.tmp, "rt")
        os.mkdir(self.rt, 0o700)
        self.service = os.path.join(self.tmp, "sipsvcd.service")
        self.socket = os.path.join(self.tmp, "sipsvcd.socket")
        with open(SERVICE) as f:
            text = f.read()
        text = re.sub(r"(?m)^ExecStart=\S*sipsvcd", "ExecStart=" + SIPSVCD, text)
        with open(self.service, "w") as f:
            f.write(text)
        shutil.copy(SOCKET, self.socket)

    def env(self):
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp,
                "XDG_RUNTIME_DIR": self.rt, "XDG_CONFIG_HOME": os.path.join(self.tmp, "c"),
                "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""}

    def run(self, *args):
        need_program("systemd-analyze")
        p = subprocess.run(["systemd-analyze", "--user"] + list(args), env=self.env(),
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def verify(self):
        """(exit status, output lines about our units, all output)."""
        code, out, err = self.run("verify", "--man=no", self.socket, self.service)
        lines = (out + err).splitlines()
        ours = [l for l in lines if "sipsvcd" in l or self.tmp in l]
        return code, ours, lines

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


@test
def service_generated_with_bindir():
    with open(SERVICE) as f:
        text = f.read()
    check(not re.search(r"@[a-z_]+@", text), "no @placeholder@ left in the unit")
    unit = parse_unit(SERVICE)
    exec_start = one(unit, "Service", "ExecStart")
    check(exec_start.startswith("/") and exec_start.endswith("/sipsvcd"),
          "ExecStart is an absolute path to sipsvcd: %r" % exec_start)
    if BINDIR:
        check_eq(exec_start, BINDIR + "/sipsvcd", "ExecStart follows configure's bindir")


@test
def units_verify_without_warnings():
    v = Verify()
    try:
        code, ours, lines = v.verify()
        check_eq(ours, [], "systemd-analyze verify lines about our units")
        check_eq(code, 0, "systemd-analyze verify exit status (output %r)" % lines)
    finally:
        v.cleanup()


@test
def verify_catches_a_bad_unit():
    # The test above must be able to fail: an unknown key and an invalid value are
    # reported as lines naming our unit.
    v = Verify()
    try:
        with open(v.service, "a") as f:
            f.write("[Service]\nNoSuchKey=1\nWatchdogSec=soon\n")
        code, ours, lines = v.verify()
        check(any("NoSuchKey" in l for l in ours), "unknown key reported: %r" % lines)
        check(any("soon" in l for l in ours), "bad value reported: %r" % lines)
    finally:
        v.cleanup()


@test
def service_settings():
    unit = parse_unit(SERVICE)
    want = {"Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30",
            "Restart": "on-failure", "ExecReload": "/bin/kill -HUP $MAINPID",
            "NoNewPrivileges": "yes", "LockPersonality": "yes", "RestrictRealtime": "yes",
            "SystemCallArchitectures": "native", "MemoryDenyWriteExecute": "yes",
            "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK"}
    for key, value in want.items():
        check_eq(one(unit, "Service", key), value, key)
    check_eq(set(one(unit, "Service", "RestartPreventExitStatus").split()), {"64", "78"},
             "no restart loop on EX_USAGE/EX_CONFIG")
    check_eq(values(unit, "Install", "Also"), ["sipsvcd.socket"], "Also=")
    bad = sorted({k for s, k, _ in unit if k in SYSTEM_ONLY})
    check_eq(bad, [], "options a user unit cannot apply")


@test
def socket_settings():
    unit = parse_unit(SOCKET)
    listen = values(unit, "Socket", "ListenStream")
    check_eq(sorted(listen), sorted(["127.0.0.1:7060", "%t/sipsvc/control"]), "ListenStream")
    check_eq(one(unit, "Socket", "SocketMode"), "0600", "SocketMode")
    check_eq(one(unit, "Socket", "DirectoryMode"), "0700", "DirectoryMode")
    check(not values(unit, "Socket", "Accept") or one(unit, "Socket", "Accept") == "no",
          "one daemon for all connections")
    check_eq(values(unit, "Install", "WantedBy"), ["sockets.target"], "WantedBy")


@test
def security_exposure_stays_low():
    v = Verify()
    try:
        code, out, err = v.run("security", "--offline=yes", "--no-pager", "--threshold=70",
                               v.service)
        m = re.search(r"Overall exposure level for sipsvcd\.service: (\d+\.\d)", out)
        check(m, "an exposure level in %r" % (out[-300:] + err))
        check_eq(code, 0, "exposure %s is within the threshold 7.0" % m.group(1))
    finally:
        v.cleanup()


@test
def socket_unit_path_is_the_daemons_default():
    # %t is $XDG_RUNTIME_DIR in the user manager; without --runtime-dir the daemon must
    # put its socket at the same $XDG_RUNTIME_DIR/sipsvc/control.
    d = Daemon(runtime_arg=False)
    rt = os.path.join(d.tmp, "xdg-run")
    os.mkdir(rt, 0o700)
    d.extra_env["XDG_RUNTIME_DIR"] = rt
    d.runtime_dir = os.path.join(rt, "sipsvc")
    with running(d):
        check_eq(d.status().get("runtime-dir"), d.runtime_dir, "default runtime dir")
        check(os.path.exists(os.path.join(rt, "sipsvc", "control")), "socket at %t path")


if __name__ == "__main__":
    main()
