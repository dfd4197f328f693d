#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""sipsvc-open, the desktop's sip:/sips:/tel: handler: URIs from links are checked and
normalised (RFC 3261 §19.1, RFC 3966 §5.1.1), sent as ExternalJoin, and a link opened
with xdg-open under a temporary XDG_DATA_HOME reaches the daemon."""

import os
import shutil
import subprocess
import tempfile

from sipsvctest import Daemon, check, check_eq, free_port, main, test

BUILDDIR = os.environ.get("BUILDDIR", ".")
SRCDIR = os.environ.get("SRCDIR", ".")
OPEN = os.path.abspath(os.path.join(BUILDDIR, "sipsvc-open"))
D = Daemon(args=["--log-level", "debug"])


def env(**extra):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("XDG_", "SIPSVC_", "DISPLAY", "WAYLAND_", "DBUS_"))}
    e["SIPSVC_RUNTIME_DIR"] = D.runtime_dir
    e.update(extra)
    return e


def run(args, environ=None):
    p = subprocess.run(args, capture_output=True, text=True, env=environ or env(), timeout=30)
    return p.returncode, p.stdout, p.stderr


NORMALISED = [
    ("sip:bob@example.com", "sip:bob@example.com"),
    ("  SIP:Bob@Example.com  ", "sip:Bob@Example.com"),
    ("sips:alice@example.com:5061;transport=tls", "sips:alice@example.com:5061;transport=tls"),
    ("sip://carol@example.com", "sip:carol@example.com"),
    ("sip:bob@example.com?Replaces=abc%3Bto-tag%3D1", "sip:bob@example.com"),
    ("sip:example.com", "sip:example.com"),
    ("tel:+1-555-123-4567", "tel:+15551234567"),
    ("tel:+49 (30) 1234.5", "tel:+493012345"),
    ("tel:+1%20555%20123", "tel:+1555123"),
    ("TEL:+44;EXT=12", "tel:+44;ext=12"),
    ("tel:7042;phone-context=example.com", "tel:7042;phone-context=example.com"),
    ("tel:*31#", "tel:*31#"),
    ("tel:12ab", "tel:12AB"),
]
REFUSED = [
    ("http://example.com/", 64), ("javascript:alert(1)", 64), ("sip:", 64), ("sip:@host", 64),
    ("sip:bob @example.com", 64), ("sip:bob@exa<mple.com", 64), ("sip:b\"ob@x", 64),
    ("tel:", 64), ("tel:+", 64), ("tel:12g", 64), ("tel:+12a", 64), ("tel:+1?x=y", 64),
    ("sip:" + "a" * 1100 + "@example.com", 64), ("", 64), ("bob@example.com", 64),
]


@test
def uris_are_normalised():
    for given, want in NORMALISED:
        rc, out, err = run([OPEN, "--dry-run", given])
        check_eq((rc, out.strip()), (0, want), "sipsvc-open %r (stderr %r)" % (given, err))


@test
def bad_uris_are_refused_before_anything_is_sent():
    mark = D.log_mark()
    for given, code in REFUSED:
        rc, out, err = run([OPEN, given])
        check_eq(rc, code, "exit code for %r" % given)
        check("sipsvc-open:" in err, "a message for %r: %r" % (given, err))
    rc, _, _ = run([OPEN, "sip:marker@example.com"])
    last = D.wait_log(r"request ExternalJoin", start=mark)
    check(last, "the marker request arrived")
    later = D.log().splitlines()[mark:]
    check_eq(sum("request ExternalJoin" in l for l in later), 1,
             "only the marker reached the daemon")


@test
def sends_external_join():
    mark = D.log_mark()
    rc, _, err = run([OPEN, "sip:bob@example.com"])
    D.wait_log(r"request ExternalJoin ref=r1$", start=mark)
    # The daemon has no device configured: its error is shown, exit 1.
    check_eq(rc, 1, "exit code")
    check("no-devices" in err, err)


@test
def no_daemon_is_reported():
    rc, _, err = run([OPEN, "sip:bob@example.com"],
                     env(SIPSVC_RUNTIME_DIR="/nonexistent", SIPSVC_CONTROL_PORT=str(free_port()),
                         PATH="/nonexistent"))
    check_eq(rc, 69, "exit code")
    check("systemctl --user start sipsvcd" in err, "says how to start it: %r" % err)


@test
def xdg_open_reaches_the_daemon():
    tmp = tempfile.mkdtemp(prefix="sipsvc-xdg-")
    try:
        apps = os.path.join(tmp, "data", "applications")
        os.makedirs(apps)
        with open(os.path.join(BUILDDIR, "clients/open/sipsvc-open.desktop")) as f:
            desktop = f.read()
        exec_line = [l for l in desktop.splitlines() if l.startswith("Exec=")][0]
        desktop = desktop.replace(exec_line, "Exec=%s %%u" % OPEN)
        with open(os.path.join(apps, "sipsvc-open.desktop"), "w") as f:
            f.write(desktop)
        e = env(HOME=tmp, XDG_DATA_HOME=os.path.join(tmp, "data"),
                XDG_CONFIG_HOME=os.path.join(tmp, "config"), XDG_DATA_DIRS=os.path.join(tmp, "none"),
                WAYLAND_DISPLAY="sipsvc-test")  # xdg-open consults handlers only with a display
        for scheme in ("sip", "sips", "tel"):
            rc, _, err = run(["xdg-mime", "default", "sipsvc-open.desktop",
                              "x-scheme-handler/" + scheme], e)
            check_eq(rc, 0, "xdg-mime default for %s (%r)" % (scheme, err))
        rc, out, _ = run(["xdg-mime", "query", "default", "x-scheme-handler/sip"], e)
        check_eq(out.strip(), "sipsvc-open.desktop", "the registered handler")
        mark = D.log_mark()
        run(["xdg-open", "sip:bob@example.com"], e)
        D.wait_log(r"request ExternalJoin", start=mark)
    finally:
        shutil.rmtree(tmp)


@test
def desktop_file_is_valid():
    path = os.path.join(BUILDDIR, "clients/open/sipsvc-open.desktop")
    rc, out, err = run(["desktop-file-validate", path])
    check_eq((rc, out + err), (0, ""), "desktop-file-validate")
    with open(path) as f:
        text = f.read()
    check("MimeType=x-scheme-handler/sip;x-scheme-handler/sips;x-scheme-handler/tel;" in text,
          "handles sip, sips and tel")


if __name__ == "__main__":
    main(D)
