#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The runtime dir and its control socket (PROTOCOL.md "Endpoints"): created 0700 with a
0600 socket, refused when another user owns it or others may write it, never stolen from
a running daemon, a stale socket replaced, removed again on SIGTERM."""

import os
import signal
import stat

from sipsvctest import (Daemon, EX_OSERR, EX_UNAVAILABLE, NOBODY, check, check_eq, main,
                        need_root, running, status_of, test)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@test
def created_private():
    d = Daemon()
    d.runtime_dir = os.path.join(d.tmp, "deep", "er", "run")  # parents are created too
    with running(d):
        check_eq(mode(d.runtime_dir), 0o700, "runtime dir mode")
        check_eq(os.stat(d.runtime_dir).st_uid, os.getuid(), "runtime dir owner")
        st = os.lstat(d.socket_path)
        check(stat.S_ISSOCK(st.st_mode), "control is a socket")
        check_eq(stat.S_IMODE(st.st_mode), 0o600, "socket mode")


def refused_dir(prepare, what):
    d = Daemon(allow_errors=[r"runtime dir .*: owned by another user or writable by others",
                             r"cannot listen on .*/control"])
    os.mkdir(d.runtime_dir, 0o700)
    prepare(d.runtime_dir)
    before = mode(d.runtime_dir), os.stat(d.runtime_dir).st_uid
    with running(d, start=False):
        d.spawn()
        check_eq(d.wait_exit(), EX_OSERR, "exit status with a runtime dir %s" % what)
        d.wait_log(r"^<3>control: runtime dir %s: owned by another user or writable by "
                   r"others" % d.runtime_dir)
        check(not os.path.exists(d.socket_path), "no socket created in a dir %s" % what)
        check_eq((mode(d.runtime_dir), os.stat(d.runtime_dir).st_uid), before,
                 "the dir is left as it was")
        d.check_exit(EX_OSERR)


@test
def refused_when_owned_by_another_user():
    need_root("make a directory owned by another user")
    refused_dir(lambda p: os.chown(p, NOBODY, NOBODY), "owned by uid %d" % NOBODY)


@test
def refused_when_world_writable():
    refused_dir(lambda p: os.chmod(p, 0o777), "of mode 0777")
    refused_dir(lambda p: os.chmod(p, 0o770), "of mode 0770")


@test
def refused_when_a_symlink():
    d = Daemon(allow_errors=[r"runtime dir .*: Not a directory",
                             r"cannot listen on .*/control"])
    target = os.path.join(d.tmp, "elsewhere")
    os.mkdir(target, 0o700)
    os.symlink(target, d.runtime_dir)
    with running(d, start=False):
        d.spawn()
        d.check_exit(EX_OSERR)
        check(not os.path.exists(os.path.join(target, "control")), "no socket via the link")


@test
def second_daemon_on_same_runtime_dir_fails():
    with running(Daemon()) as first:
        second = Daemon(runtime_dir=first.runtime_dir,
                        allow_errors=[r"cannot listen on .*/control: Address already in use"])
        with running(second, start=False):
            second.spawn()
            second.check_exit(EX_UNAVAILABLE)
            second.wait_log(r"^<3>control: cannot listen on %s/control: Address already in use"
                            % first.runtime_dir)
        # The first one still owns its socket.
        st = first.status()
        check_eq(st.get("pid"), str(first.pid), "Status pid on the shared socket")


@test
def stale_socket_from_killed_daemon_is_replaced():
    first = Daemon()
    with running(first):
        runtime = first.runtime_dir
        first.kill()  # SIGKILL: no chance to clean up
        check(stat.S_ISSOCK(os.lstat(first.socket_path).st_mode), "stale socket left")
        second = Daemon(runtime_dir=runtime)
        with running(second):
            st = second.status()
            check_eq(st.get("pid"), str(second.pid), "the new daemon answers")
            check_eq(mode(second.socket_path), 0o600, "new socket mode")


@test
def sigterm_exits_0_and_removes_socket():
    for sig in (signal.SIGTERM, signal.SIGINT):
        d = Daemon()
        with running(d):
            with d.unix_client() as c:
                status_of(c)
                d.signal(sig)
                d.check_exit(0)
                got, how = c.read_to_eof()
                check_eq(got, b"", "nothing written to an idle client at shutdown")
            check(not os.path.exists(d.socket_path), "socket removed after signal %d" % sig)
            check(os.path.isdir(d.runtime_dir), "the runtime dir itself stays")
            d.wait_log(r"^<6>signal %d: shutting down" % sig)


if __name__ == "__main__":
    main()
