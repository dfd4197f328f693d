#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fetch across a lossy, rate-limited link (issue 7): holder and receiver each in its
own network namespace, joined by a veth pair shaped with tbf (this kernel has no netem)
and with nftables dropping 1 % of the packets at random in each direction. A 50 MiB
file must arrive and verify within a minute, and the holder must send it once (TCP
recovers the losses, the transfer is not restarted)."""

import os
import shutil
import subprocess
import tempfile
import time

from sipsvctest import Daemon, check, check_eq, main, need_program, need_root, test
from transfertest import Fetch, Pair, check_done, counts, make_file, sha256_file, share

MiB = 1 << 20
SIZE = 50 * MiB
RATE = "200mbit"
LOSS_PERCENT = 1


def sh(*args):
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError("%s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


class NetnsDaemon(Daemon):
    """A sipsvcd started inside network namespace @ns (its files stay on the host)."""

    def __init__(self, ns, **kw):
        super().__init__(**kw)
        self.ns = ns

    def command(self):
        return ["ip", "netns", "exec", self.ns] + super().command()


class Link:
    """Two namespaces, a veth pair between them, tbf and random drops on both ends."""

    def __init__(self):
        tag = "%x" % (os.getpid() & 0xffff)
        self.ns = ("sxh" + tag, "sxr" + tag)
        self.dev = ("vxh" + tag, "vxr" + tag)
        self.addr = ("10.77.%d.1" % (os.getpid() % 250), "10.77.%d.2" % (os.getpid() % 250))

    def up(self):
        for ns in self.ns:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", self.dev[0], "netns", self.ns[0], "type", "veth",
           "peer", "name", self.dev[1], "netns", self.ns[1])
        for ns, dev, addr in zip(self.ns, self.dev, self.addr):
            sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "tbf",
               "rate", RATE, "burst", "64kb", "latency", "50ms")
            sh("ip", "netns", "exec", ns, "nft", "add table inet loss; "
               "add chain inet loss input { type filter hook input priority 0; }; "
               "add rule inet loss input iifname %s numgen random mod 100 < %d counter drop"
               % (dev, LOSS_PERCENT))
        return self

    def dropped(self):
        """Packets the drop rules took, over both ends."""
        n = 0
        for ns in self.ns:
            out = sh("ip", "netns", "exec", ns, "nft", "list", "table", "inet", "loss")
            n += sum(int(w.split()[0]) for w in out.split("counter packets")[1:])
        return n

    def down(self):
        for ns in self.ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class NetnsPair(Pair):
    def __init__(self, tmp, link):
        super().__init__(tmp)
        self.link = link

    def start_holder(self, port=None):
        from transfertest import fresh_dir, sip_port
        self.holder = NetnsDaemon(self.link.ns[0], tmp=fresh_dir(os.path.join(self.tmp, "h")))
        self.holder.start()
        self.holder_port = sip_port(self.holder)
        return self.holder

    def receiver_config(self):
        return ('<sipsvc><overlay><peer uri="sip:%s@%s:%d"/></overlay></sipsvc>'
                % (self.peer, self.link.addr[0], self.holder_port))

    def start_receiver(self):
        from transfertest import fresh_dir
        rtmp = fresh_dir(os.path.join(self.tmp, "r"))
        self.receiver = NetnsDaemon(self.link.ns[1], args=["--download-dir", self.downloads],
                                    tmp=rtmp)
        self.receiver.config_path = os.path.join(rtmp, "sipsvc.xml")
        self.receiver.write_config(self.receiver_config())
        self.receiver.start()
        return self.receiver


@test
def lossy_link():
    need_root("create network namespaces")
    for prog in ("ip", "tc", "nft"):
        need_program(prog)
    tmp = tempfile.mkdtemp(prefix="sipsvc-xfer-netns-")
    link = Link()
    p = None
    try:
        link.up()
        p = NetnsPair(tmp, link)
        sha = make_file(os.path.join(p.shared, "lossy.bin"), SIZE)
        p.start()
        share(p.holder, p.shared)
        t = time.monotonic()
        f = Fetch(p.receiver, sha, p.peer).ok()
        e = f.wait_end(60)
        took = time.monotonic() - t
        name = check_done(e, sha, SIZE, "50 MiB over the lossy link")
        check_eq(sha256_file(os.path.join(p.downloads, name)), sha, "the file's SHA-256")
        dropped = link.dropped()
        print("50 MiB in %.1f s over %s with %d %% loss (%d packets dropped)"
              % (took, RATE, LOSS_PERCENT, dropped))
        check(dropped > 100, "the link did lose packets (%d)" % dropped)
        check_eq(int(counts(p.holder).get("transfer-bytes-sent")), SIZE,
                 "the holder sent the file once")
        p.stop()
    except BaseException:
        if p:
            p.dump()
        raise
    finally:
        if p:
            p.cleanup()
        link.down()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
