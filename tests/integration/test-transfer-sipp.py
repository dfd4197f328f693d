#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The holder's side of file transfer against SIPp as a hostile or curious UAC
(issue 7): an INVITE for a hash nobody shares is refused with 404; a crafted
path-traversal name next to a shared file's hash changes nothing (the holder serves
by hash, names its own file in the answer, and ends the session when it cannot
connect); calls still get the call subsystem's answer; the daemon stays healthy."""

import hashlib
import os
import shutil
import tempfile

from sipsvctest import Daemon, check, check_eq, main, running, test
from siptest import sipp
from transfertest import selector_hash, share, sip_port, status_checked, transfers

SCENARIOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sipp")


def scenario(name):
    return os.path.abspath(os.path.join(SCENARIOS, name))


def run(d, name, selector):
    rc, out = sipp(scenario(name), sip_port(d), extra=["-key", "selector", selector],
                   timeout=20)
    check_eq(rc, 0, "sipp %s exit status; output:\n%s" % (name, out))


@test
def hostile_uac():
    tmp = tempfile.mkdtemp(prefix="sipsvc-xfer-sipp-")
    try:
        shared = os.path.join(tmp, "shared")
        os.makedirs(shared)
        data = b"shared content\n" * 1000
        with open(os.path.join(shared, "shared.bin"), "wb") as f:
            f.write(data)
        sha = hashlib.sha256(data).hexdigest()
        with running(Daemon()) as d:
            share(d, shared)
            run(d, "transfer-refused-404.xml", selector_hash("ee" * 32))
            run(d, "transfer-refused-404.xml",
                'name:"../../../etc/passwd" ' + selector_hash(hashlib.sha256(b"x").hexdigest()))
            run(d, "transfer-served-by-hash.xml", selector_hash(sha))
            st = status_checked(d)
            check_eq(st.find("Counts").get("transfer-bytes-sent"), "0",
                     "nothing was sent to the port where nobody listens")
            check_eq(transfers(d), [], "no upload left behind")
            check("refusing" in d.log(), "the refusals are logged")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
