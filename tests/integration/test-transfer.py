#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fetch between two real daemons on loopback (issue 7): an INVITE with an RFC 5547
offer, MSRP over TCP, the SHA-256 verified before the rename. Sizes 0, 1, 1 MiB + 1
and 200 MiB; names with spaces and UTF-8; a hostile holder's "../" and "/" names stay
inside the download dir; a complete file is never replaced; an unknown hash is
refused (404); Cancel keeps the part; a holder or a receiver killed in the middle is
resumed from the part (a=file-range), the holder sending only what was missing. A
holder that lies in MSRP fails the transfer cleanly; the per-peer bounds of both sides
and the upload rate hold; a full disk is reported with the part kept; a shared file
that changed is served only under its new hash."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from sipsvctest import (SLOW, Daemon, Skip, check, check_eq, have_ipv6_loopback, main,
                        need_root, test, wait_for)
from transfertest import (FakeHolder, Fetch, Pair, check_done, counts, fresh_dir, make_file,
                          new_peer_id, sha256_file, share, sip_port, status_checked,
                          transfers, wait_shared)

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
        ids = []
        for n, size in files.items():
            name, f = fetch_ok(p, shas[n], size, n)
            check_eq(name, n, "the file keeps its name")
            ids.append(f.transfer)
        check_eq(ids, ["t1", "t2", "t3"], "transfer ids, one per Fetch")
        # a local name with a control character travels percent-encoded, lands sanitised
        odd = make_file(os.path.join(p.shared, "tab\tname.txt"), 10, seed=9)
        wait_shared(p.holder, p.shared, odd)
        name, _ = fetch_ok(p, odd, 10, "a name with controls")
        check_eq(name, "tab_name.txt", "controls become '_'")
        os.unlink(os.path.join(p.downloads, name))
        check_eq(sorted(os.listdir(p.downloads)), sorted(files), "nothing else is left")
        check_eq(transfers(p.receiver), [], "no transfer is listed once all are done")
        c = counts(p.holder)
        check_eq(int(c.get("transfer-bytes-sent")), sum(files.values()) + 10,
                 "the holder sent each byte once")


@test
def over_ipv6():
    if not have_ipv6_loopback():
        raise Skip("no IPv6 loopback on this machine")
    with pair(ipv6=True) as p:
        sha = make_file(os.path.join(p.shared, "six.bin"), MiB + 7)
        share(p.holder, p.shared)
        fetch_ok(p, sha, MiB + 7, "over [::1]")
        check("serving six.bin to ::1" in p.holder.log(), "the holder served [::1]")


@test
def three_daemons():
    """One receiver fetching from two holders at once, and a holder serving one file to
    two receivers."""
    tmp = tempfile.mkdtemp(prefix="sipsvc-xfer3-")
    second = Daemon(config="<sipsvc/>", tmp=fresh_dir(os.path.join(tmp, "second")))
    try:
        shared2 = os.path.join(tmp, "shared2")
        sha2 = make_file(os.path.join(shared2, "from-second.bin"), 5 * MiB + 3, seed=2)
        second.start()
        share(second, shared2)
        pid2 = new_peer_id()
        with pair(extra_peers=[(pid2, sip_port(second))]) as p:
            sha1 = make_file(os.path.join(p.shared, "from-first.bin"), 7 * MiB + 1, seed=1)
            share(p.holder, p.shared)
            f1 = Fetch(p.receiver, sha1, p.peer, ref="one").ok()
            f2 = Fetch(p.receiver, sha2, pid2, ref="two").ok()
            check_done(f1.wait_end(60), sha1, 7 * MiB + 1, "from the first holder")
            check_done(f2.wait_end(60), sha2, 5 * MiB + 3, "from the second holder")
            check_eq(sha256_file(os.path.join(p.downloads, "from-second.bin")), sha2,
                     "the second holder's file")
            # the second daemon fetches from the first holder too, while the receiver does
            dl2 = os.path.join(tmp, "dl2")
            os.mkdir(dl2)
            second.write_config('<sipsvc><overlay><peer uri="sip:%s@127.0.0.1:%d"/>'
                                '</overlay></sipsvc>' % (p.peer, p.holder_port))
            second.signal(signal.SIGHUP)
            second.wait_log("configuration reloaded")
            os.unlink(os.path.join(p.downloads, "from-first.bin"))
            fa = Fetch(p.receiver, sha1, p.peer, ref="a").ok()
            fb = Fetch(second, sha1, p.peer, ref="b", to=dl2).ok()
            check_done(fa.wait_end(60), sha1, 7 * MiB + 1, "first receiver")
            check_done(fb.wait_end(60), sha1, 7 * MiB + 1, "second receiver")
            check_eq(sha256_file(os.path.join(dl2, "from-first.bin")), sha1, "its copy")
            for f in (f1, f2, fa, fb):
                f.close()
        second.stop()
    except BaseException:
        print("--- second holder log ---\n%s\n---" % second.log())
        raise
    finally:
        second.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


@test
def large_file():
    # Under valgrind the same code paths with a fifth of the bytes: memcheck looks
    # for errors, not scale, and hashing 200 MiB there takes over a minute.
    size = 200 * MiB // SLOW
    with pair() as p:
        sha = make_file(os.path.join(p.shared, "large.bin"), size)
        share(p.holder, p.shared)
        t = time.monotonic()
        _, f = fetch_ok(p, sha, size, "%d MiB" % (size // MiB), timeout=120 * SLOW)
        took = time.monotonic() - t
        print("%d MiB fetched and verified in %.1f s (%.0f MB/s)"
              % (size // MiB, took, size / took / 1e6))
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
def passive_holder():
    """A holder that answers a=setup:passive (RFC 4145): the receiver connects to it
    and binds the connection with its first SEND (RFC 4975 5.4)."""
    fake = FakeHolder("passive.bin", b"served by a passive holder\n" * 999, passive=True)
    fid = new_peer_id()
    with pair(extra_peers=[(fid, fake.port)]) as p:
        fake.run()
        f = Fetch(p.receiver, fake.sha, fid).ok()
        e = f.wait_end(30)
        fake.join()
        name = check_done(e, fake.sha, len(fake.data), "from a passive holder")
        check_eq(sha256_file(os.path.join(p.downloads, name)), fake.sha, "its SHA-256")


@test
def busy_holder_is_asked_again():
    """A 503 (what a holder answers while it re-hashes a changed file) is followed by one
    more INVITE a few seconds later."""
    fake = FakeHolder("later.bin", b"worth the wait\n" * 500, refuse_first=True)
    fid = new_peer_id()
    with pair(extra_peers=[(fid, fake.port)]) as p:
        fake.run()
        f = Fetch(p.receiver, fake.sha, fid).ok()
        e = f.wait_end(30)
        fake.join()
        check_done(e, fake.sha, len(fake.data), "after a 503")
        waited = fake.invited_at - fake.refused_at
        check(4.0 <= waited <= 10.0, "asked again after about 5 s (%.1f s)" % waited)


@test
def lying_holders_fail_cleanly():
    """A holder that breaks RFC 4975: a gap in Byte-Range, fewer bytes than the range
    says before a '$' end-line, a 10 KB header field. Each transfer fails, nothing
    outside the download dir is written, the receiver stays healthy."""
    lies = {
        "gap": lambda fh, path: FakeHolder.message(fh, path, first=5),
        "short body": lambda fh, path: FakeHolder.message(fh, path, body=fh.data[:10]),
        "oversize header": lambda fh, path: FakeHolder.message(
            fh, path, extra_header="X-Junk: %s\r\n" % ("j" * 10000)),
    }
    for what, lie in lies.items():
        fake = FakeHolder("lie.bin", b"the real content " * 100, message=lie)
        fid = new_peer_id()
        with pair(extra_peers=[(fid, fake.port)]) as p:
            fake.run()
            f = Fetch(p.receiver, fake.sha, fid).ok()
            e = f.wait_end(30)
            fake.join()
            check(e.get("state") in ("failed", "paused"), "%s: not done (%s)" % (what, e.attrib))
            check(all(n.startswith("lie") for n in os.listdir(p.downloads)),
                  "%s: only the part in the download dir: %s" % (what, os.listdir(p.downloads)))
            check(not os.path.exists(os.path.join(p.downloads, "lie.bin")),
                  "%s: nothing unverified is renamed" % what)
            check(status_checked(p.receiver) is not None, "%s: the receiver answers" % what)


@test
def bounds_and_upload_rate():
    size = 6 * MiB
    rate_kib = 4096
    cfg = '<sipsvc><transfer max-per-peer="1" upload-rate="%d"/></sipsvc>' % rate_kib
    with pair(holder_config=cfg, receiver_config_extra='<transfer max-per-peer="2"/>') as p:
        a = make_file(os.path.join(p.shared, "a.bin"), size, seed=1)
        b = make_file(os.path.join(p.shared, "b.bin"), size, seed=2)
        share(p.holder, p.shared)
        t = time.monotonic()
        fa = Fetch(p.receiver, a, p.peer, ref="a").ok()
        fa.wait_state("progress", 30)
        fb = Fetch(p.receiver, b, p.peer, ref="b").ok()
        e = fb.wait_end(30)
        check_eq(e.get("state"), "failed", "over the holder's per-peer bound: %s" % e.attrib)
        check("486" in e.get("reason", ""), "the holder said busy: %s" % e.attrib)
        check_done(fa.wait_end(60), a, size, "the first one")
        took = time.monotonic() - t
        want = size / (rate_kib * 1024.0)
        check(took >= 0.8 * want, "upload-rate %d KiB/s: %d bytes took %.2f s (>= %.2f)"
              % (rate_kib, size, took, 0.8 * want))
        fa.close()
        fb.close()
    with pair(receiver_config_extra='<transfer max-per-peer="1"/>') as p:
        a = make_file(os.path.join(p.shared, "a.bin"), 64 * MiB, seed=3)
        share(p.holder, p.shared)
        fa = Fetch(p.receiver, a, p.peer, ref="a").ok()
        with p.receiver.unix_client() as c:
            err, line = c.request('<Fetch file="sha256:%s" from="%s"/>' % ("12" * 32, p.peer))
            check_eq((err.tag, err.get("code")), ("Error", "limit"),
                     "over the receiver's per-peer bound: %s" % line)
            err, line = c.request('<Fetch file="sha256:%s" from="%s"/>' % (a, p.peer))
            check_eq((err.tag, err.get("code")), ("Error", "busy"),
                     "the same file twice: %s" % line)
        check_done(fa.wait_end(60), a, 64 * MiB, "the admitted one")
        fa.close()


@test
def disk_full_keeps_the_part():
    need_root("mount a small tmpfs")
    with pair() as p:
        sha = make_file(os.path.join(p.shared, "big.bin"), 8 * MiB)
        share(p.holder, p.shared)
        small = os.path.join(p.tmp, "small")
        os.mkdir(small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small], check=True)
        try:
            f = Fetch(p.receiver, sha, p.peer, to=small).ok()
            e = f.wait_end(30)
            f.close()
            check_eq(e.get("state"), "failed", "a full disk: %s" % e.attrib)
            check("No space left" in e.get("reason", ""), "the reason says so: %s" % e.attrib)
            check(os.path.exists(os.path.join(small, "big.bin.part")), "the part is kept")
        finally:
            subprocess.run(["umount", small])


@test
def changed_file_is_rehashed_before_it_is_served():
    with pair() as p:
        path = os.path.join(p.shared, "doc.txt")
        old = make_file(path, 100000, seed=1)
        share(p.holder, p.shared)
        new = make_file(path + ".new", 100000, seed=2)
        os.rename(path + ".new", path)

        wait_shared(p.holder, p.shared, new)
        f = Fetch(p.receiver, old, p.peer).ok()
        e = f.wait_end(30)
        f.close()
        check_eq(e.get("state"), "failed", "the old content is not served: %s" % e.attrib)
        fetch_ok(p, new, 100000, "the new content")


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
        down, up = transfers(p.receiver), transfers(p.holder)
        check_eq([(t.get("direction"), t.get("state"), t.get("transfer"), t.get("total"))
                  for t in down], [("down", "progress", f.transfer, str(size))],
                 "the receiver's Status lists the download")
        check_eq([(t.get("direction"), t.get("file"), t.get("name")) for t in up],
                 [("up", "sha256:" + sha, "c.bin")], "the holder's Status lists the upload")
        ok, line = f.c.request('<Cancel ref="other"/>')
        check_eq((ok.tag, ok.get("code")), ("Error", "not-found"), "Cancel of nothing: %s" % line)
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
    """The receiver dies; restarted, it resumes on its own from STATE/transfers (no
    Fetch needed) and the holder sends only what the part lacked."""
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
        have = os.path.getsize(os.path.join(p.downloads, "r.bin.part"))
        check(0 < have < size, "the part survived (%d bytes)" % have)
        p.receiver.cleanup()
        p.start_receiver()
        final = os.path.join(p.downloads, "r.bin")
        wait_for(lambda: os.path.exists(final) and not transfers(p.receiver), timeout=90,
                 what="the download resumed and finished on its own")
        check_eq(sha256_file(final), sha, "the resumed file's SHA-256")
        check_eq(sorted(os.listdir(p.downloads)), ["r.bin"], "the part became the file")
        sent = int(counts(p.holder).get("transfer-bytes-sent")) - before
        check_eq(sent, size - have, "only the missing bytes were sent")
        check(p.receiver.wait_log(r"resuming the paused downloads"), "the log says so")


@test
def part_without_record_is_resumed():
    """The state file is lost but NAME.part is there: the first INVITE cannot know it,
    the answer names the file, the part is found and checked, and a second INVITE asks
    only for the rest (the first session's few bytes in flight are thrown away)."""
    size = 40 * MiB
    with pair(holder_config=slow_holder_args(10 * 1024)) as p:
        sha = make_file(os.path.join(p.shared, "lost.bin"), size)
        share(p.holder, p.shared)
        f = Fetch(p.receiver, sha, p.peer).ok()
        wait_progress(f, 8 * MiB)
        p.receiver.proc.send_signal(signal.SIGKILL)
        p.receiver.proc.wait()
        f.close()
        os.unlink(os.path.join(p.receiver.state_dir, "transfers"))
        wait_for(lambda: not transfers(p.holder), timeout=60, what="the holder's upload to end")
        before = int(counts(p.holder).get("transfer-bytes-sent"))
        have = os.path.getsize(os.path.join(p.downloads, "lost.bin.part"))
        p.receiver.cleanup()
        p.start_receiver()
        name, _ = fetch_ok(p, sha, size, "resumed without a record", timeout=90)
        check_eq(name, "lost.bin", "the part was taken up, not a new file begun")
        sent = int(counts(p.holder).get("transfer-bytes-sent")) - before
        check(size - have <= sent <= size - have + 4 * MiB,
              "about the missing bytes were sent: %d for %d missing" % (sent, size - have))
        check("already in the part" in p.receiver.log(), "the part was checked")


if __name__ == "__main__":
    main()
