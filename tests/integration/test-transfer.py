#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fetch between two real daemons on loopback (issue 7): an INVITE with an RFC 5547
offer, MSRP over TCP, the SHA-256 verified before the rename. Sizes 0, 1, 1 MiB + 1
and 200 MiB; names with spaces and UTF-8; a hostile holder's "../" and "/" names stay
inside the download dir; a complete file is never replaced; an unknown hash is
refused (404); Cancel keeps the part; a holder or a receiver killed in the middle is
resumed from the part (a=file-range), the holder sending only what was missing."""

import os
import shutil
import signal
import sys
import tempfile
import time

from sipsvctest import SLOW, TestFailure, check, check_eq, main, test, wait_for
from transfertest import (FakeHolder, Fetch, Pair, check_done, counts, make_file,
                          new_peer_id, sha256_file, share, transfers)

MiB = 1 << 20


class pair:
    """with pair(...) as p: a started holder and receiver, cleaned up afterwards."""

    def __init__(self, start=True, **kw):
        self.tmp = tempfile.mkdtemp(prefix="sipsvc-xfer-")
        self.p = Pair(self.tmp, **kw)
        self.do_start = start

    def __enter__(self):
        try:
            if self.do_start:
                self.p.start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self.p

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.p.stop()
        except BaseException:
            self.p.dump()
            raise
        finally:
            if exc_type is not None:
                self.p.dump()
            self.p.cleanup()
            shutil.rmtree(self.tmp, ignore_errors=True)


def fetch_ok(p, sha, size, what, timeout=60):
    f = Fetch(p.receiver, sha, p.peer).ok()
    e = f.wait_end(timeout)
    f.close()
    name = check_done(e, sha, size, what)
    path = os.path.join(p.downloads, name)
    check_eq(sha256_file(path), sha, "%s: the downloaded file's SHA-256" % what)
    states = [x.get("state") for x in f.events]
    check_eq(states[0], "started", "%s: first event" % what)
    return name, f


@test
def sizes_and_names():
    files = {"empty": 0, "one byte": 1, "Été 日本語 one MiB+1.bin": MiB + 1}
    with pair() as p:
        shas = {n: make_file(os.path.join(p.shared, n), s, seed=i)
                for i, (n, s) in enumerate(files.items())}
        share(p.holder, p.shared)
        for n, size in files.items():
            name, _ = fetch_ok(p, shas[n], size, n)
            check_eq(name, n, "the file keeps its name")
        check_eq(sorted(os.listdir(p.downloads)), sorted(files), "nothing else is left")
        check_eq(transfers(p.receiver), [], "no transfer is listed once all are done")
        c = counts(p.holder)
        check_eq(int(c.get("transfer-bytes-sent")), sum(files.values()),
                 "the holder sent each byte once")


@test
def large_file():
    size = 200 * MiB
    with pair() as p:
        sha = make_file(os.path.join(p.shared, "large.bin"), size)
        share(p.holder, p.shared)
        t = time.monotonic()
        _, f = fetch_ok(p, sha, size, "200 MiB", timeout=120 * SLOW)
        took = time.monotonic() - t
        print("200 MiB fetched and verified in %.1f s (%.0f MB/s)" % (took, size / took / 1e6))
        prog = [int(e.get("bytes")) for e in f.events if e.get("state") == "progress"]
        check(prog == sorted(prog), "progress only grows: %s" % prog)
        check(len(prog) <= took / 0.25 + 2, "progress at most every 250 ms (%d in %.1f s)"
              % (len(prog), took))


@test
def never_over_a_complete_file():
    with pair() as p:
        sha = make_file(os.path.join(p.shared, "song.mp3"), 4096, seed=7)
        share(p.holder, p.shared)
        mine = os.path.join(p.downloads, "song.mp3")
        with open(mine, "wb") as f:
            f.write(b"my own song")
        name, _ = fetch_ok(p, sha, 4096, "same name")
        check_eq(name, "song (1).mp3", "a new name next to the existing file")
        with open(mine, "rb") as f:
            check_eq(f.read(), b"my own song", "the existing file is untouched")


@test
def hostile_names_stay_inside():
    for crafted, want in (("../../escape.txt", "_._.._escape.txt"),
                          ("/etc/passwd", "_etc_passwd")):
        fake = FakeHolder(crafted, b"payload of " + crafted.encode())
        fid = new_peer_id()
        with pair(extra_peers=[(fid, fake.port)]) as p:
            outside = sorted(os.listdir(p.tmp))
            fake.run()
            f = Fetch(p.receiver, fake.sha, fid).ok()
            e = f.wait_end(30)
            fake.join()
            name = check_done(e, fake.sha, len(fake.data), crafted)
            check_eq(name, want, "the sanitised name of %r" % crafted)
            check_eq(os.listdir(p.downloads), [want], "only that file in the download dir")
            check_eq(sorted(os.listdir(p.tmp)), outside, "nothing appeared beside it")
            check(not os.path.exists("/etc/passwd.part"), "nothing written in /etc")


@test
def unknown_hash_refused():
    with pair() as p:
        f = Fetch(p.receiver, "ab" * 32, p.peer).ok()
        e = f.wait_end(30)
        check_eq(e.get("state"), "failed", "end state: %s" % e.attrib)
        check("404" in (e.get("reason") or ""), "the reason names the 404: %s" % e.attrib)
        check_eq(os.listdir(p.downloads), [], "nothing written")
        check_eq(transfers(p.receiver), [], "a refused fetch is not listed")
        with p.receiver.unix_client() as c:
            err, line = c.request('<Fetch file="sha256:%s" from="%s"/>' % ("cd" * 32,
                                                                          new_peer_id()))
            check_eq((err.tag, err.get("code")), ("Error", "not-found"),
                     "an unknown peer: %s" % line)


def slow_holder_args(kib_s):
    return '<sipsvc><transfer upload-rate="%d"/></sipsvc>' % kib_s


def wait_progress(f, at_least):
    return int(f.wait_state("progress", 60,
                            lambda e: int(e.get("bytes")) >= at_least).get("bytes"))


def paused_entry(d, sha):
    for t in transfers(d):
        if t.get("file") == "sha256:" + sha and t.get("state") == "paused":
            return dict(t.attrib)  # an Element without children is false
    return None


@test
def cancel_keeps_the_part_and_resumes():
    size = 24 * MiB
    with pair(holder_config=slow_holder_args(8 * 1024)) as p:
        sha = make_file(os.path.join(p.shared, "c.bin"), size)
        share(p.holder, p.shared)
        f = Fetch(p.receiver, sha, p.peer, ref="mine").ok()
        wait_progress(f, 4 * MiB)
        ok, line = f.c.request('<Cancel ref="mine"/>')
        check_eq(ok.tag, "Ok", "Cancel: %s" % line)
        e = f.wait_end(30)
        check_eq(e.get("state"), "cancelled", "end state")
        part = os.path.join(p.downloads, "c.bin.part")
        check(os.path.getsize(part) >= 4 * MiB, "the part is kept")
        f.close()
        wait_for(lambda: not transfers(p.holder), what="the holder's upload to end")
        before = int(counts(p.holder).get("transfer-bytes-sent"))
        have = os.path.getsize(part)
        fetch_ok(p, sha, size, "after Cancel")
        sent = int(counts(p.holder).get("transfer-bytes-sent")) - before
        check_eq(sent, size - have, "only the missing bytes were sent again")


@test
def holder_killed_then_resumed():
    size = 40 * MiB
    with pair(holder_config=slow_holder_args(10 * 1024)) as p:
        sha = make_file(os.path.join(p.shared, "h.bin"), size)
        share(p.holder, p.shared)
        port = p.holder_port
        f = Fetch(p.receiver, sha, p.peer).ok()
        wait_progress(f, 8 * MiB)
        p.holder.proc.send_signal(signal.SIGKILL)
        p.holder.proc.wait()
        e = f.wait_end(60)
        check_eq(e.get("state"), "paused", "the holder went away: %s" % e.attrib)
        f.close()
        t = wait_for(lambda: paused_entry(p.receiver, sha), what="a paused transfer in Status")
        have = int(t.get("bytes"))
        check(8 * MiB <= have < size, "the part holds what came (%d)" % have)
        check_eq(t.get("total"), str(size), "total of the paused transfer")
        # the same holder again, on the same port, its share index kept in its state dir
        p.holder_config = None
        p.holder.cleanup()
        p.start_holder(port)
        share(p.holder, p.shared)
        fetch_ok(p, sha, size, "resumed after the holder's restart", timeout=90)
        sent = int(counts(p.holder).get("transfer-bytes-sent"))
        check_eq(sent, size - have, "the restarted holder sent only the rest")
        check_eq(transfers(p.receiver), [], "nothing paused any more")


@test
def receiver_killed_then_resumed():
    size = 40 * MiB
    with pair(holder_config=slow_holder_args(10 * 1024)) as p:
        sha = make_file(os.path.join(p.shared, "r.bin"), size)
        share(p.holder, p.shared)
        f = Fetch(p.receiver, sha, p.peer).ok()
        wait_progress(f, 8 * MiB)
        p.receiver.proc.send_signal(signal.SIGKILL)
        p.receiver.proc.wait()
        f.close()
        wait_for(lambda: not transfers(p.holder), timeout=60,
                 what="the holder to notice the receiver is gone")
        before = int(counts(p.holder).get("transfer-bytes-sent"))
        p.receiver.cleanup()
        p.start_receiver()
        t = wait_for(lambda: paused_entry(p.receiver, sha),
                     what="the paused transfer listed after the restart")
        have = int(t.get("bytes"))
        check(0 < have < size, "the part survived (%d bytes)" % have)
        name, _ = fetch_ok(p, sha, size, "resumed after the receiver's restart", timeout=90)
        check_eq(name, "r.bin", "the part was resumed, not a new file begun")
        sent = int(counts(p.holder).get("transfer-bytes-sent")) - before
        check_eq(sent, size - have, "only the missing bytes were sent")


if __name__ == "__main__":
    main()
