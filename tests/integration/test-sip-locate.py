#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""RFC 3263 server location: a request to sip:bob@test.example goes where the SRV records
of a local DNS server (dnsmasq, started here on a loopback port and named in the config)
say, in priority order; it fails over to the next target on a 503 or when the first is
down; an explicit port means A/AAAA only; an outbound proxy from the config is a
pre-loaded loose Route and is located the same way. Requests go through the control
protocol's <Tunnel><Request>, which uses the SIP core's out-of-dialog send."""

import os
import signal
import socket
import time

from dnstest import Dnsmasq, Sipp, srv, unused_port
from sipsvctest import (Daemon, check, check_eq, have_ipv6_loopback, main, need_root, running,
                        status_of, test)


def config(dns, extra=""):
    return '<sipsvc><sip%s><dns server="127.0.0.1:%d"/></sip></sipsvc>' % (extra, dns.port)


def tunnel_final(c, uri, timeout=30):
    """Send a MESSAGE through the tunnel; return the events up to the final one."""
    ok, line = c.request('<Tunnel ref="t1"><Request method="MESSAGE" uri="%s">'
                         '<Header name="X-Test" value="tunnelled"/>'
                         '<Body type="text/plain">hello tunnel</Body></Request></Tunnel>' % uri)
    check_eq(ok.tag, "Ok", "reply: " + line)
    events = []
    deadline = time.monotonic() + timeout
    while True:
        ev, _ = c.recv_xml(timeout=max(0.1, deadline - time.monotonic()))
        if ev.tag != "Event" or ev.get("type") != "tunnel":
            continue
        events.append(ev)
        if int(ev.get("status")) >= 200:
            return events


def header(ev, name):
    return {h.get("name").lower(): h.get("value") for h in ev.findall("Header")}.get(name)


@test
def a_request_reaches_the_first_srv_target():
    p1, p2 = unused_port(), unused_port()
    with Dnsmasq([srv("_sip._udp.test.example", "target1.test.example", p1, 10),
                  srv("_sip._udp.test.example", "target2.test.example", p2, 20),
                  "--host-record=target1.test.example,127.0.0.1",
                  "--host-record=target2.test.example,127.0.0.1"]) as dns, \
            running(Daemon(config(dns))) as d:
        uas = Sipp("tunnel-message-uas.xml", p1)
        try:
            with d.unix_client() as c:
                events = tunnel_final(c, "sip:bob@test.example")
            check_eq(events[-1].get("status"), "200", "final answer")
            check_eq(header(events[-1], "x-answer"), "from-sipp", "answered by the SRV target")
            uas.finished_ok("target 1")
        finally:
            uas.kill()


@test
def a_503_moves_the_request_to_the_next_target():
    p1, p2 = unused_port(), unused_port()
    with Dnsmasq([srv("_sip._udp.test.example", "target1.test.example", p1, 10),
                  srv("_sip._udp.test.example", "target2.test.example", p2, 20),
                  "--host-record=target1.test.example,127.0.0.1",
                  "--host-record=target2.test.example,127.0.0.1"]) as dns, \
            running(Daemon(config(dns))) as d:
        busy = Sipp("uas-503.xml", p1)
        good = Sipp("tunnel-message-uas.xml", p2)
        try:
            with d.unix_client() as c:
                events = tunnel_final(c, "sip:bob@test.example")
            # The sender sees only the outcome: no 503 among its events.
            check_eq([e.get("status") for e in events], ["200"], "the events")
            check_eq(header(events[-1], "x-answer"), "from-sipp", "answered by target 2")
            busy.finished_ok("target 1 (503)")
            good.finished_ok("target 2")
        finally:
            busy.kill()
            good.kill()


@test
def a_target_that_is_down_is_skipped_at_once():
    """Only _sip._tcp records (the UDP lookup finds none); the first target refuses the
    connection: the transport error, not a 32 s timeout, moves the request on."""
    down, p2 = unused_port(), unused_port()
    with Dnsmasq([srv("_sip._tcp.down.example", "t1.down.example", down, 1),
                  srv("_sip._tcp.down.example", "t2.down.example", p2, 2),
                  "--host-record=t1.down.example,127.0.0.1",
                  "--host-record=t2.down.example,127.0.0.1"]) as dns, \
            running(Daemon(config(dns))) as d:
        good = Sipp("tunnel-message-uas.xml", p2, "t1")
        try:
            start = time.monotonic()
            with d.unix_client() as c:
                events = tunnel_final(c, "sip:bob@down.example")
            took = time.monotonic() - start
            check_eq([e.get("status") for e in events], ["200"], "the events")
            check(took < 10, "failed over in %.1f s" % took)
            good.finished_ok("target 2 over TCP")
        finally:
            good.kill()


@test
def a_udp_target_without_listener_is_skipped_on_the_icmp_error():
    """RFC 3261 18.4: the port unreachable for the first target is a transport error;
    the request moves on at once, not after timer F (32 s)."""
    down, p2 = unused_port(), unused_port()
    with Dnsmasq([srv("_sip._udp.test.example", "target1.test.example", down, 10),
                  srv("_sip._udp.test.example", "target2.test.example", p2, 20),
                  "--host-record=target1.test.example,127.0.0.1",
                  "--host-record=target2.test.example,127.0.0.1"]) as dns, \
            running(Daemon(config(dns))) as d:
        good = Sipp("tunnel-message-uas.xml", p2)
        try:
            start = time.monotonic()
            with d.unix_client() as c:
                events = tunnel_final(c, "sip:bob@test.example")
            took = time.monotonic() - start
            check_eq([e.get("status") for e in events], ["200"], "the events")
            check(took < 10, "failed over in %.1f s" % took)
            good.finished_ok("target 2")
        finally:
            good.kill()


@test
def an_explicit_port_uses_the_address_records_only():
    p1, decoy = unused_port(), unused_port()
    # RFC 3263 4.2: with a port, no SRV lookup (the SRV record here would mislead).
    with Dnsmasq([srv("_sip._udp.host.example", "host.example", decoy, 1),
                  "--host-record=host.example,127.0.0.1"]) as dns, \
            running(Daemon(config(dns))) as d:
        uas = Sipp("tunnel-message-uas.xml", p1)
        try:
            with d.unix_client() as c:
                events = tunnel_final(c, "sip:bob@host.example:%d" % p1)
            check_eq(events[-1].get("status"), "200", "final answer")
            uas.finished_ok("A record target")
        finally:
            uas.kill()


class HostsDaemon(Daemon):
    """The daemon in its own mount namespace, where /etc/hosts is @hosts."""

    def __init__(self, config_text, hosts):
        super().__init__(config_text)
        self.hosts = os.path.join(self.tmp, "hosts")
        with open(self.hosts, "w") as f:
            f.write(hosts)

    def command(self):
        # unshare and sh exec: the daemon keeps the pid the fixture signals.
        return ["unshare", "-m", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"', self.hosts] + super().command()


@test
def a_name_from_the_hosts_file_needs_no_dns():
    """Like any program here, the daemon finds names of /etc/hosts first (one bound in a
    mount namespace of its own); dnsmasq knows nothing of this one."""
    need_root("bind-mount /etc/hosts in a mount namespace")
    p1 = unused_port()
    with Dnsmasq([]) as dns, \
            running(HostsDaemon(config(dns), "127.0.0.1 lan-host.internal\n")) as d:
        uas = Sipp("tunnel-message-uas.xml", p1)
        try:
            with d.unix_client() as c:
                events = tunnel_final(c, "sip:bob@lan-host.internal:%d" % p1)
            check_eq(events[-1].get("status"), "200", "final answer")
            uas.finished_ok("the hosts file's address")
        finally:
            uas.kill()


@test
def an_aaaa_target_is_reached_over_ipv6():
    if not have_ipv6_loopback():
        raise AssertionError("this test needs IPv6 on the loopback interface")
    p6 = unused_port()
    with Dnsmasq([srv("_sip._udp.v6.example", "six.v6.example", p6, 1),
                  "--host-record=six.v6.example,::1"]) as dns, \
            running(Daemon(config(dns))) as d:
        uas = Sipp("tunnel-message-uas.xml", p6, host="::1")
        try:
            with d.unix_client() as c:
                events = tunnel_final(c, "sip:bob@v6.example")
            check_eq(events[-1].get("status"), "200", "final answer")
            uas.finished_ok("IPv6 target")
        finally:
            uas.kill()


@test
def the_outbound_proxy_gets_out_of_dialog_requests_with_a_route():
    px = unused_port()
    with Dnsmasq(["--host-record=proxy.test.example,127.0.0.1"]) as dns, \
            running(Daemon(config(dns, ' outbound-proxy="sip:proxy.test.example:%d"' % px))) as d:
        proxy = Sipp("proxy-route.xml", px)
        try:
            with d.unix_client() as c:
                # far.example is in no DNS: only the proxy's name may be looked up.
                events = tunnel_final(c, "sip:bob@far.example")
            check_eq(events[-1].get("status"), "200", "final answer")
            check_eq(header(events[-1], "x-answer"), "from-proxy", "answered by the proxy")
            proxy.finished_ok("the proxy (Request-URI and Route)")
        finally:
            proxy.kill()


@test
def a_name_without_records_fails_with_a_local_503():
    with Dnsmasq(["--host-record=other.example,127.0.0.1"]) as dns, \
            running(Daemon(config(dns))) as d:
        with d.unix_client() as c:
            events = tunnel_final(c, "sip:bob@nowhere.test.example", timeout=20)
            check_eq([e.get("status") for e in events], ["503"], "the events")
            status_of(c)  # still healthy


class SilentDns:
    """A UDP socket posing as a DNS server that reads queries and never answers."""

    def __enter__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def wait_query(self, label):
        """Wait for a query whose name has @label (a DNS name is length-prefixed)."""
        self.sock.settimeout(10)
        want = bytes([len(label)]) + label.encode()
        while True:
            data, _ = self.sock.recvfrom(4096)
            if want in data:
                return data


@test
def a_dns_server_that_does_not_answer_blocks_nothing():
    with SilentDns() as dns, running(Daemon(config(dns))) as d, d.unix_client() as c:
        c.send('<Tunnel ref="t1"><Request method="MESSAGE" uri="sip:bob@slow.example">'
               '<Body type="text/plain">hi</Body></Request></Tunnel>\n')
        dns.wait_query("slow")
        # The lookup waits for its timeouts; the daemon answers meanwhile.
        start = time.monotonic()
        with d.unix_client() as c2:
            status_of(c2)
        check(time.monotonic() - start < 1, "Status answered while the lookup waits")
        events = []
        deadline = time.monotonic() + 30
        while not events or int(events[-1].get("status")) < 200:
            ev, _ = c.recv_xml(timeout=max(0.1, deadline - time.monotonic()))
            if ev.tag == "Event" and ev.get("type") == "tunnel":
                events.append(ev)
        check_eq([e.get("status") for e in events], ["503"], "after the resolver gave up")


@test
def requests_being_located_are_bounded():
    """At most 64 requests wait for their servers' addresses (SIP_LOCATE_MAX); the next
    is refused as busy, and room comes back when the lookups end."""
    with SilentDns() as dns, running(Daemon(config(dns))) as d, d.unix_client() as c:
        for i in range(64):
            ok, line = c.request('<Tunnel ref="b%d"><Request method="MESSAGE" '
                                 'uri="sip:bob@slow%d.example"/></Tunnel>' % (i, i))
            check_eq(ok.tag, "Ok", "request %d: %s" % (i, line))
        err, line = c.request('<Tunnel ref="over"><Request method="MESSAGE" '
                              'uri="sip:bob@slow.example"/></Tunnel>')
        check_eq((err.tag, err.get("code")), ("Error", "busy"), "the 65th: " + line)
        finals = 0
        deadline = time.monotonic() + 60
        while finals < 64:
            ev, _ = c.recv_xml(timeout=max(0.1, deadline - time.monotonic()))
            if ev.tag == "Event" and ev.get("type") == "tunnel":
                check_eq(ev.get("status"), "503", "no DNS answer for %s" % ev.get("ref"))
                finals += 1
        ok, line = c.request('<Tunnel ref="again"><Request method="MESSAGE" '
                             'uri="sip:bob@slow.example"/></Tunnel>')
        check_eq(ok.tag, "Ok", "room again: " + line)


@test
def a_reload_switches_dns_servers():
    p1 = unused_port()
    with SilentDns() as silent, \
            Dnsmasq([srv("_sip._udp.test.example", "target1.test.example", p1, 10),
                     "--host-record=target1.test.example,127.0.0.1"]) as dns, \
            running(Daemon(config(silent))) as d:
        mark = d.log_mark()
        d.write_config(config(dns))
        d.signal(signal.SIGHUP)
        d.wait_log(r"sip: dns: servers now 127\.0\.0\.1:%d" % dns.port, start=mark)
        uas = Sipp("tunnel-message-uas.xml", p1)
        try:
            with d.unix_client() as c:
                events = tunnel_final(c, "sip:bob@test.example")
            check_eq(events[-1].get("status"), "200", "located with the new server")
            uas.finished_ok("target 1")
        finally:
            uas.kill()


@test
def a_stop_during_a_lookup_is_clean():
    with SilentDns() as dns, running(Daemon(config(dns))) as d, d.unix_client() as c:
        ok, line = c.request('<Tunnel ref="t1"><Request method="MESSAGE" '
                             'uri="sip:bob@slow.example"/></Tunnel>')
        check_eq(ok.tag, "Ok", "reply: " + line)
        dns.wait_query("slow")
        d.stop()  # exit 0, nothing logged at err (under valgrind: no leak, no error)


if __name__ == "__main__":
    main()
