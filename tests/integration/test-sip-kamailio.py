#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Kamailio (if installed; bench/sip/run installs it) as a registrar with digest
authentication (auth_db over db_text, SHA-256): the SIP layer registers, refreshes and
unregisters; an OPTIONS sent to Kamailio for the registered AOR is routed to it and
its 200 comes back; after the unregistration Kamailio no longer finds it (404)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import siptest as t

PROG = os.path.join(t.TOP_BUILDDIR, "tests", "integration", "sip-dialog")
if not shutil.which("kamailio"):
    t.fail("kamailio not installed: ./autogen.sh installs it")

CFG = """#!KAMAILIO
debug=1
log_stderror=yes
children=1
tcp_children=1
listen=udp:127.0.0.1:%(port)d
loadpath "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "db_text.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "textops.so"
modparam("usrloc", "db_mode", 0)
modparam("auth", "algorithm", "SHA-256")
modparam("auth_db", "db_url", "text://%(db)s")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
request_route {
	if (is_method("REGISTER")) {
		if (!auth_check("$fd", "subscriber", "1")) {
			auth_challenge("$fd", "1");
			exit;
		}
		if (!save("location")) sl_reply_error();
		exit;
	}
	if (!lookup("location")) {
		sl_send_reply("404", "Not Found");
		exit;
	}
	t_relay();
}
"""

tmp = tempfile.mkdtemp(prefix="sipkam-")
db = os.path.join(tmp, "db")
os.mkdir(db)
with open(os.path.join(db, "version"), "w") as f:
    f.write("id(int,auto) table_name(string) table_version(int) \n0:subscriber:7\n")
with open(os.path.join(db, "subscriber"), "w") as f:
    f.write("id(int,auto) username(string) domain(string) password(string) ha1(string) "
            "ha1b(string) \n1:alice:127.0.0.1:secret:x:x\n")
port = t.free_port()
with open(os.path.join(tmp, "k.cfg"), "w") as f:
    f.write(CFG % {"port": port, "db": db})
klog = open(os.path.join(tmp, "kamailio.log"), "w+")
kam = subprocess.Popen(["kamailio", "-f", os.path.join(tmp, "k.cfg"), "-DD", "-E", "-w", tmp,
                        "-P", os.path.join(tmp, "pid")], stdout=klog, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL)
t.reap(kam)


def options_to_alice():
    req = t.request("OPTIONS", port).replace(b"sip:service@127.0.0.1:%d" % port,
                                             b"sip:alice@127.0.0.1", 1)
    rs = t.udp_exchange(req, port, timeout=2)
    return rs[0] if rs else None


try:
    time.sleep(1.0)
    t.check(kam.poll() is None, "kamailio runs")
    env = dict(os.environ, SIP_USER="alice", SIP_PASSWORD="secret")
    me = t.reap(subprocess.Popen([PROG, "register", str(port), "4", "6"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    time.sleep(1.5)
    resp = options_to_alice()
    t.check(resp is not None and t.status_line(resp)[0] == 200 and
            (t.header(resp, "Server") or "").startswith("sipsvcd"),
            "OPTIONS to the AOR through kamailio reaches us and our 200 comes back (%s)"
            % (t.status_line(resp),))
    out, _ = me.communicate(timeout=60)
    print(out.decode().strip())
    t.check(me.returncode == 0, "registered with SHA-256 digest, refreshed, unregistered")
    resp = options_to_alice()
    t.check(resp is not None and t.status_line(resp)[0] == 404,
            "after the unregistration kamailio finds no binding: 404")
finally:
    kam.send_signal(signal.SIGTERM)
    try:
        kam.wait(10)
    except subprocess.TimeoutExpired:
        kam.kill()
    klog.seek(0)
    log = klog.read()
    if "ERROR" in log:
        print(log[-3000:])
    shutil.rmtree(tmp, ignore_errors=True)
