/*
 * ctlbench - control-socket round-trip benchmark client for bench/control/run.
 *
 * Compiled by bench/control/run with `cc -O2 -pthread`; not part of the daemon build.
 *
 * Modes:
 *   ctlbench bench  --port P --proto xml|netstring --request STR
 *                   [--conns N] [--duration S] [--warmup S] [--timeout-ms MS]
 *       N connections to 127.0.0.1:P, each strictly sequential (send one request, read
 *       until the whole reply is in, record the latency, send the next). One connection
 *       runs a plain blocking loop; several run in one epoll loop (the client then costs
 *       one thread, not N, so it does not steal the daemon's CPU with context switches).
 *       Prints one line: requests= errors= seconds= rate= p50_us= p99_us= max_us=
 *       --lat-file FILE appends the measured latencies (ns, native uint64) to FILE.
 *   ctlbench stats --lat-file FILE --seconds S --errors E
 *       the same line for the latencies several bench runs appended to FILE, over S seconds.
 *   ctlbench query  (--port P | --unix PATH) --proto xml|netstring --request STR [--count N]
 *       sends the request N times, sequentially, on one connection; prints the last reply.
 *   ctlbench launch [--notify PATH] [--probe-port P --proto PROTO --request STR]
 *                   [--timeout-ms MS] -- PROGRAM ARGS...
 *       binds PATH as an AF_UNIX SOCK_DGRAM socket, starts PROGRAM with NOTIFY_SOCKET=PATH
 *       and measures the time from fork+exec to the datagram carrying READY=1 (or, with
 *       --probe-port, to the first good reply on that TCP port). Prints "pid=N", then
 *       "ready_us=N" (or "fail=..."), then keeps draining the notify socket and reaping
 *       the child, printing "exit=..." when it ends. --child-output FILE sends the
 *       child's stdout and stderr to FILE (stdin is /dev/null).
 *   ctlbench freeport [--span N]
 *       prints a port P such that 127.0.0.1:P .. P+N-1 are free for TCP and UDP (found by
 *       binding port 0, then the next N-1 ports; all closed again before printing).
 *
 * Reply framing:
 *   xml:       a reply is one complete top-level XML element (<Ok .../> or <Ok ...>...</Ok>),
 *              found by a small tag scanner (quoted attribute values, comments, CDATA and
 *              processing instructions are skipped), so a newline inside a reply does not
 *              matter. Whitespace (the daemon's "\n" after each reply) between replies is
 *              skipped. A top-level <Event> is not a reply and is skipped. <Ok> = success,
 *              anything else (<Error>) = failure.
 *   netstring: LEN ":" JSON ","  (baresip ctrl_tcp). Requests are wrapped the same way.
 *              A netstring whose JSON has "response":true is the reply ("ok":true = success);
 *              others (events, messages) are skipped.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum proto { P_XML, P_NETSTRING };

enum scan { S_MORE = -1, S_BAD = -2 };

enum kind { K_OK, K_FAIL, K_SKIP };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("ctlbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* 1: b[0..n) starts with p; 0: it does not; -1: too short to tell */
static int has_prefix(const char *b, size_t n, const char *p)
{
	size_t l = strlen(p);

	if (n >= l)
		return memcmp(b, p, l) == 0;
	return memcmp(b, p, n) == 0 ? -1 : 0;
}

static const char *find(const char *b, size_t n, const char *s)
{
	return memmem(b, n, s, strlen(s));
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Length of the first complete top-level XML element in b (leading whitespace included),
 * S_MORE if incomplete, S_BAD if this is not XML. *kind tells Ok / other / Event.
 */
static ssize_t xml_scan(const char *b, size_t n, enum kind *kind)
{
	size_t i = 0;
	int depth = 0;

	while (i < n && is_ws(b[i]))
		i++;
	if (i == n)
		return S_MORE;
	if (b[i] != '<')
		return S_BAD;
	while (i < n) {
		const char *e;
		int r;

		if (b[i] != '<') {
			if (depth == 0 && !is_ws(b[i]))
				return S_BAD;
			i++;
			continue;
		}
		if ((r = has_prefix(b + i, n - i, "<!--")) != 0) {
			if (r < 0 || !(e = find(b + i + 4, n - i - 4, "-->")))
				return S_MORE;
			i = (size_t)(e - b) + 3;
			continue;
		}
		if ((r = has_prefix(b + i, n - i, "<![CDATA[")) != 0) {
			if (r < 0 || !(e = find(b + i + 9, n - i - 9, "]]>")))
				return S_MORE;
			i = (size_t)(e - b) + 3;
			continue;
		}
		if ((r = has_prefix(b + i, n - i, "<?")) != 0) {
			if (r < 0 || !(e = find(b + i + 2, n - i - 2, "?>")))
				return S_MORE;
			i = (size_t)(e - b) + 2;
			continue;
		}
		if (i + 1 >= n)
			return S_MORE;
		if (b[i + 1] == '!')
			return S_BAD;  /* DOCTYPE and friends: never from the daemon */
		if (b[i + 1] == '/') { /* end tag */
			if (!(e = memchr(b + i, '>', n - i)))
				return S_MORE;
			i = (size_t)(e - b) + 1;
			if (--depth == 0)
				return (ssize_t)i;
			if (depth < 0)
				return S_BAD;
			continue;
		}
		/* start tag: find its '>' outside quoted attribute values */
		{
			size_t j = i + 1;
			char q = 0;

			if (depth == 0) {
				size_t k = j;

				while (k < n && !is_ws(b[k]) && b[k] != '/' && b[k] != '>')
					k++;
				if (k == n)
					return S_MORE;
				if (k - j == 2 && memcmp(b + j, "Ok", 2) == 0)
					*kind = K_OK;
				else if (k - j == 5 && memcmp(b + j, "Event", 5) == 0)
					*kind = K_SKIP;
				else
					*kind = K_FAIL;
			}
			for (; j < n; j++) {
				if (q) {
					if (b[j] == q)
						q = 0;
				} else if (b[j] == '"' || b[j] == '\'') {
					q = b[j];
				} else if (b[j] == '>') {
					break;
				}
			}
			if (j == n)
				return S_MORE;
			i = j + 1;
			if (b[j - 1] == '/') {
				if (depth == 0)
					return (ssize_t)i;
			} else {
				depth++;
			}
		}
	}
	return S_MORE;
}

static ssize_t netstring_scan(const char *b, size_t n, enum kind *kind)
{
	size_t i = 0, len = 0;

	while (i < n && b[i] >= '0' && b[i] <= '9') {
		len = len * 10 + (size_t)(b[i] - '0');
		if (++i > 9)
			return S_BAD;
	}
	if (i == n)
		return S_MORE;
	if (i == 0 || b[i] != ':')
		return S_BAD;
	i++;
	if (n - i < len + 1)
		return S_MORE;
	if (b[i + len] != ',')
		return S_BAD;
	if (find(b + i, len, "\"response\":true"))
		*kind = find(b + i, len, "\"ok\":true") ? K_OK : K_FAIL;
	else
		*kind = K_SKIP;
	return (ssize_t)(i + len + 1);
}

static ssize_t scan(enum proto p, const char *b, size_t n, enum kind *kind)
{
	*kind = K_FAIL;
	return p == P_XML ? xml_scan(b, n, kind) : netstring_scan(b, n, kind);
}

/* ---- options ---- */

static struct {
	enum proto proto;
	int port;
	const char *unix_path;
	const char *request;
	int conns;
	double duration;
	double warmup;
	int timeout_ms;
	int count;
	const char *notify;
	int probe_port;
	const char *child_output;
	const char *lat_file;
	double seconds;
	long errors;
	char **argv;
} opt = {P_XML, 0, NULL, NULL, 1, 5.0, 0.5, 5000, 1, NULL, 0, NULL, NULL, 0, 0, NULL};

static char *wire; /* the request as sent */
static size_t wire_len;

static void build_wire(void)
{
	size_t l;

	if (!opt.request)
		die("--request is required");
	l = strlen(opt.request);
	wire = malloc(l + 32);
	if (!wire)
		die("out of memory");
	if (opt.proto == P_NETSTRING)
		wire_len = (size_t)sprintf(wire, "%zu:%s,", l, opt.request);
	else
		wire_len = (size_t)sprintf(wire, "%s", opt.request);
}

static void parse_opts(int argc, char **argv)
{
	int i;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--")) {
			opt.argv = argv + i + 1;
			return;
		}
		if (!v)
			die("option %s needs a value", a);
		i++;
		if (!strcmp(a, "--proto")) {
			if (!strcmp(v, "xml"))
				opt.proto = P_XML;
			else if (!strcmp(v, "netstring"))
				opt.proto = P_NETSTRING;
			else
				die("unknown proto %s", v);
		} else if (!strcmp(a, "--port")) {
			opt.port = atoi(v);
		} else if (!strcmp(a, "--unix")) {
			opt.unix_path = v;
		} else if (!strcmp(a, "--request")) {
			opt.request = v;
		} else if (!strcmp(a, "--conns")) {
			opt.conns = atoi(v);
		} else if (!strcmp(a, "--duration")) {
			opt.duration = atof(v);
		} else if (!strcmp(a, "--warmup")) {
			opt.warmup = atof(v);
		} else if (!strcmp(a, "--timeout-ms")) {
			opt.timeout_ms = atoi(v);
		} else if (!strcmp(a, "--count") || !strcmp(a, "--span")) {
			opt.count = atoi(v);
		} else if (!strcmp(a, "--notify")) {
			opt.notify = v;
		} else if (!strcmp(a, "--lat-file")) {
			opt.lat_file = v;
		} else if (!strcmp(a, "--seconds")) {
			opt.seconds = atof(v);
		} else if (!strcmp(a, "--errors")) {
			opt.errors = atol(v);
		} else if (!strcmp(a, "--child-output")) {
			opt.child_output = v;
		} else if (!strcmp(a, "--probe-port")) {
			opt.probe_port = atoi(v);
		} else {
			die("unknown option %s", a);
		}
	}
}

/* ---- connections ---- */

static int connect_tcp(int port, int quiet)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (!quiet)
			fprintf(stderr, "ctlbench: connect 127.0.0.1:%d: %s\n", port,
				strerror(errno));
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die("socket path too long: %s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "ctlbench: connect %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
	uint64_t sent_at; /* 0: nothing outstanding */
	int measured;	  /* the outstanding request was sent inside the measured window */
	int done;
	uint64_t *lat;
	size_t nlat, caplat;
	uint64_t nreq, nerr;
};

#define MAX_REPLY (4u << 20)

static void conn_init(struct conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->cap = 65536;
	c->buf = malloc(c->cap);
	if (!c->buf)
		die("out of memory");
}

static void record(struct conn *c, uint64_t ns)
{
	if (c->nlat == c->caplat) {
		c->caplat = c->caplat ? c->caplat * 2 : 65536;
		c->lat = realloc(c->lat, c->caplat * sizeof(*c->lat));
		if (!c->lat)
			die("out of memory");
	}
	c->lat[c->nlat++] = ns;
}

/*
 * Bytes have arrived: look for the reply. Returns 1 when the outstanding request's reply is
 * complete (kind in *kind, reply text left in c->buf[0..*rlen)), 0 if more is needed,
 * -1 on a framing error. Consumed replies are removed from the buffer by the caller via
 * conn_consume().
 */
static int conn_check(struct conn *c, enum kind *kind, size_t *rlen)
{
	for (;;) {
		ssize_t l = scan(opt.proto, c->buf, c->len, kind);

		if (l == S_MORE)
			return 0;
		if (l == S_BAD) {
			fprintf(stderr, "ctlbench: unexpected bytes from server: %.*s\n",
				(int)(c->len > 200 ? 200 : c->len), c->buf);
			return -1;
		}
		if (*kind == K_SKIP) { /* an event: drop it, go on looking */
			memmove(c->buf, c->buf + l, c->len - (size_t)l);
			c->len -= (size_t)l;
			continue;
		}
		*rlen = (size_t)l;
		return 1;
	}
}

static void conn_consume(struct conn *c, size_t l)
{
	memmove(c->buf, c->buf + l, c->len - l);
	c->len -= l;
}

/* read what is there (or block when blocking); -1 on EOF/error, 0 on EAGAIN, else 1 */
static int conn_read(struct conn *c, int flags)
{
	ssize_t r;

	if (c->cap - c->len < 4096) {
		if (c->cap >= MAX_REPLY) {
			fprintf(stderr, "ctlbench: reply larger than %u bytes\n", MAX_REPLY);
			return -1;
		}
		c->cap *= 2;
		c->buf = realloc(c->buf, c->cap);
		if (!c->buf)
			die("out of memory");
	}
	r = recv(c->fd, c->buf + c->len, c->cap - c->len, flags);
	if (r > 0) {
		c->len += (size_t)r;
		return 1;
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	fprintf(stderr, "ctlbench: connection %s\n", r == 0 ? "closed by server" : strerror(errno));
	return -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* sorts all[0..total) and prints the summary line */
static void summarize(uint64_t *all, size_t total, uint64_t errs, double secs)
{
	qsort(all, total, sizeof(*all), cmp_u64);
	if (total == 0) {
		printf("requests=0 errors=%llu seconds=%.3f rate=0 p50_us=0 p99_us=0 max_us=0\n",
		       (unsigned long long)errs, secs);
		return;
	}
	printf("requests=%zu errors=%llu seconds=%.3f rate=%.0f p50_us=%.1f p99_us=%.1f "
	       "max_us=%.1f\n",
	       total, (unsigned long long)errs, secs, secs > 0 ? (double)total / secs : 0,
	       (double)all[(total - 1) * 50 / 100] / 1e3, (double)all[(total - 1) * 99 / 100] / 1e3,
	       (double)all[total - 1] / 1e3);
}

static void report(struct conn *cs, int n, uint64_t t0, uint64_t t1)
{
	size_t total = 0, k = 0;
	uint64_t errs = 0, *all;
	double secs = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0;
	int i;

	for (i = 0; i < n; i++) {
		total += cs[i].nlat;
		errs += cs[i].nerr;
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all)
		die("out of memory");
	for (i = 0; i < n; i++) {
		memcpy(all + k, cs[i].lat, cs[i].nlat * sizeof(*all));
		k += cs[i].nlat;
	}
	if (opt.lat_file) { /* raw latencies (ns, native uint64), appended, for `stats` */
		FILE *f = fopen(opt.lat_file, "ab");

		if (!f || fwrite(all, sizeof(*all), total, f) != total || fclose(f) != 0)
			die("%s: %s", opt.lat_file, strerror(errno));
	}
	summarize(all, total, errs, secs);
	free(all);
}

/* summary of latencies collected by several `bench --lat-file` runs */
static int mode_stats(void)
{
	FILE *f;
	uint64_t *all = NULL;
	size_t n = 0, cap = 0, r;

	if (!opt.lat_file)
		die("stats needs --lat-file");
	f = fopen(opt.lat_file, "rb");
	if (!f)
		die("%s: %s", opt.lat_file, strerror(errno));
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			all = realloc(all, cap * sizeof(*all));
			if (!all)
				die("out of memory");
		}
		r = fread(all + n, sizeof(*all), cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	summarize(all, n, (uint64_t)opt.errors, opt.seconds);
	free(all);
	return 0;
}

static int send_req(struct conn *c, uint64_t measure_from)
{
	c->sent_at = now_ns();
	c->measured = c->sent_at >= measure_from;
	if (send_all(c->fd, wire, wire_len) < 0) {
		fprintf(stderr, "ctlbench: send: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* a reply is complete: account for it and drop it from the buffer */
static void got_reply(struct conn *c, enum kind kind, size_t rlen, uint64_t t)
{
	if (kind != K_OK) {
		if (c->nerr < 3)
			fprintf(stderr, "ctlbench: failure reply: %.*s\n",
				(int)(rlen > 300 ? 300 : rlen), c->buf);
		c->nerr++;
	} else if (c->measured) {
		record(c, t - c->sent_at);
	}
	c->nreq++;
	c->sent_at = 0;
	conn_consume(c, rlen);
}

static int mode_bench(void)
{
	struct conn *cs;
	uint64_t t_start, t_measure, t_end, t_last = 0;
	int i, n = opt.conns, ep = -1, active;

	if (!opt.port || n < 1)
		die("bench needs --port and --conns >= 1");
	build_wire();
	cs = calloc((size_t)n, sizeof(*cs));
	if (!cs)
		die("out of memory");
	for (i = 0; i < n; i++) {
		int fd = connect_tcp(opt.port, 0);

		if (fd < 0) {
			printf("requests=0 errors=1 seconds=0 rate=0 p50_us=0 p99_us=0 max_us=0\n");
			return 1;
		}
		conn_init(&cs[i], fd);
	}

	t_start = now_ns();
	t_measure = t_start + (uint64_t)(opt.warmup * 1e9);
	t_end = t_measure + (uint64_t)(opt.duration * 1e9);

	if (n == 1) {
		/* plain blocking loop: send, read until the reply is complete, repeat */
		struct conn *c = &cs[0];
		struct timeval tv = {opt.timeout_ms / 1000, (opt.timeout_ms % 1000) * 1000};

		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		for (;;) {
			enum kind kind;
			size_t rlen;
			int r;

			if (send_req(c, t_measure) < 0) {
				c->nerr++;
				break;
			}
			while ((r = conn_check(c, &kind, &rlen)) == 0) {
				int rr = conn_read(c, 0);

				if (rr == 0)
					fprintf(stderr, "ctlbench: no reply within %d ms\n",
						opt.timeout_ms);
				if (rr <= 0) {
					r = -1;
					break;
				}
			}
			if (r < 0) {
				c->nerr++;
				break;
			}
			t_last = now_ns();
			got_reply(c, kind, rlen, t_last);
			if (t_last >= t_end)
				break;
		}
		report(cs, 1, t_measure, t_last);
		return cs[0].nerr || cs[0].nlat == 0;
	}

	/* several connections: one epoll loop, each connection strictly sequential */
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	active = n;
	for (i = 0; i < n; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};

		if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
		if (send_req(&cs[i], t_measure) < 0) {
			cs[i].nerr++;
			cs[i].done = 1;
			active--;
		}
	}
	while (active > 0) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, 100);
		uint64_t t;

		if (k < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			enum kind kind;
			size_t rlen;
			int r;

			if (c->done)
				continue;
			r = conn_read(c, MSG_DONTWAIT);
			if (r == 0)
				continue;
			if (r > 0)
				r = conn_check(c, &kind, &rlen);
			if (r == 0)
				continue;
			if (r < 0) {
				c->nerr++;
				c->done = 1;
				active--;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			t = now_ns();
			t_last = t;
			got_reply(c, kind, rlen, t);
			if (t >= t_end || send_req(c, t_measure) < 0) {
				if (t < t_end)
					c->nerr++;
				c->done = 1;
				active--;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			}
		}
		/* a reply that does not come */
		t = now_ns();
		for (i = 0; i < n; i++) {
			struct conn *c = &cs[i];

			if (!c->done && c->sent_at &&
			    t - c->sent_at > (uint64_t)opt.timeout_ms * 1000000u) {
				fprintf(stderr, "ctlbench: no reply within %d ms\n",
					opt.timeout_ms);
				c->nerr++;
				c->done = 1;
				active--;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			}
		}
	}
	report(cs, n, t_measure, t_last);
	{
		uint64_t errs = 0, ok = 0;

		for (i = 0; i < n; i++) {
			errs += cs[i].nerr;
			ok += cs[i].nlat;
		}
		return errs || ok == 0;
	}
}

/* one request/reply on fd; returns 1 on an Ok reply (printed if print), 0 otherwise */
static int one_query(int fd, int print)
{
	struct conn c;
	enum kind kind = K_FAIL;
	size_t rlen = 0;
	int r;
	struct timeval tv = {opt.timeout_ms / 1000, (opt.timeout_ms % 1000) * 1000};

	conn_init(&c, fd);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send_all(fd, wire, wire_len) < 0) {
		free(c.buf);
		return 0;
	}
	while ((r = conn_check(&c, &kind, &rlen)) == 0)
		if (conn_read(&c, 0) <= 0) {
			r = -1;
			break;
		}
	if (r > 0 && print)
		printf("%.*s\n", (int)rlen, c.buf);
	if (r > 0 && kind != K_OK)
		fprintf(stderr, "ctlbench: failure reply: %.*s\n", (int)rlen, c.buf);
	free(c.buf);
	return r > 0 && kind == K_OK;
}

static int mode_query(void)
{
	int fd, i, ok = 1;

	build_wire();
	fd = opt.unix_path ? connect_unix(opt.unix_path) : connect_tcp(opt.port, 0);
	if (fd < 0)
		return 1;
	for (i = 0; i < opt.count && ok; i++)
		ok = one_query(fd, i == opt.count - 1);
	close(fd);
	return !ok;
}

/* ---- launch ---- */

static int notify_has_ready(const char *b, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(b + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - b) : n;

		if (e - i == 7 && memcmp(b + i, "READY=1", 7) == 0)
			return 1;
		i = e + 1;
	}
	return 0;
}

static void print_exit(int st)
{
	if (WIFEXITED(st))
		printf("exit=status %d\n", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("exit=signal %d\n", WTERMSIG(st));
	fflush(stdout);
}

static int mode_launch(void)
{
	int nfd = -1, st;
	pid_t pid, w;
	uint64_t t0, deadline;
	int ready = 0;

	if (!opt.argv || !opt.argv[0])
		die("launch needs -- PROGRAM ARGS");
	if (!opt.notify && !opt.probe_port)
		die("launch needs --notify or --probe-port");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (opt.probe_port)
		build_wire();
	if (opt.notify) {
		struct sockaddr_un sa;

		if (strlen(opt.notify) >= sizeof(sa.sun_path))
			die("notify path too long");
		nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (nfd < 0)
			die("socket: %s", strerror(errno));
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		strcpy(sa.sun_path, opt.notify);
		unlink(opt.notify);
		if (bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("bind %s: %s", opt.notify, strerror(errno));
		setenv("NOTIFY_SOCKET", opt.notify, 1);
	}

	t0 = now_ns();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		if (opt.child_output) {
			int in = open("/dev/null", O_RDONLY);
			int out = open(opt.child_output, O_WRONLY | O_CREAT | O_APPEND, 0600);

			if (in < 0 || out < 0) {
				fprintf(stderr, "ctlbench: %s: %s\n", opt.child_output,
					strerror(errno));
				_exit(127);
			}
			dup2(in, 0);
			dup2(out, 1);
			dup2(out, 2);
			close(in);
			close(out);
		}
		execvp(opt.argv[0], opt.argv);
		fprintf(stderr, "ctlbench: exec %s: %s\n", opt.argv[0], strerror(errno));
		_exit(127);
	}
	printf("pid=%d\n", (int)pid);

	deadline = t0 + (uint64_t)opt.timeout_ms * 1000000u;
	while (!ready) {
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			printf("fail=exited before ready\n");
			print_exit(st);
			return 1;
		}
		if (now_ns() > deadline) {
			printf("fail=not ready within %d ms\n", opt.timeout_ms);
			return 1; /* the script's cleanup ends the child */
		}
		if (nfd >= 0) {
			struct pollfd p = {nfd, POLLIN, 0};
			char b[4096];
			ssize_t r;

			if (poll(&p, 1, 5) > 0 && (r = recv(nfd, b, sizeof(b), 0)) > 0 &&
			    notify_has_ready(b, (size_t)r))
				ready = 1;
		} else {
			int fd = connect_tcp(opt.probe_port, 1);

			if (fd >= 0) {
				ready = one_query(fd, 0);
				close(fd);
			}
			if (!ready)
				usleep(1000);
		}
	}
	printf("ready_us=%.0f\n", (double)(now_ns() - t0) / 1e3);

	/* keep the notify socket drained (the daemon may send STATUS=/WATCHDOG=) and reap */
	for (;;) {
		w = waitpid(pid, &st, nfd >= 0 ? WNOHANG : 0);
		if (w == pid) {
			print_exit(st);
			return 0;
		}
		if (w < 0 && errno != EINTR)
			return 0;
		if (nfd >= 0) {
			struct pollfd p = {nfd, POLLIN, 0};
			char b[4096];

			if (poll(&p, 1, 100) > 0)
				(void)recv(nfd, b, sizeof(b), 0);
		}
	}
}

static int bind_lo(int type, int port, int *got)
{
	struct sockaddr_in sa;
	socklen_t l = sizeof(sa);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	if (got && getsockname(fd, (struct sockaddr *)&sa, &l) == 0)
		*got = ntohs(sa.sin_port);
	return fd;
}

/* a port P on 127.0.0.1 such that P .. P+span-1 are all free, for TCP and UDP */
static int mode_freeport(void)
{
	int tries, span = opt.count > 0 ? opt.count : 1;

	if (span > 16)
		die("--span too large");
	for (tries = 0; tries < 200; tries++) {
		int fds[32], n = 0, i, p = 0, ok = 1;

		fds[n] = bind_lo(SOCK_STREAM, 0, &p);
		if (fds[n++] < 0)
			die("freeport: %s", strerror(errno));
		for (i = 0; i < span && ok; i++) {
			if (p + i > 65535)
				ok = 0;
			if (ok && i > 0 && (fds[n++] = bind_lo(SOCK_STREAM, p + i, NULL)) < 0)
				ok = 0;
			if (ok && (fds[n++] = bind_lo(SOCK_DGRAM, p + i, NULL)) < 0)
				ok = 0;
		}
		for (i = 0; i < n; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		if (ok) {
			printf("%d\n", p);
			return 0;
		}
	}
	die("freeport: found no %d free ports in a row", span);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: ctlbench bench|query|launch OPTIONS (see the source)");
	signal(SIGPIPE, SIG_IGN);
	parse_opts(argc, argv);
	if (!strcmp(argv[1], "bench"))
		return mode_bench();
	if (!strcmp(argv[1], "query"))
		return mode_query();
	if (!strcmp(argv[1], "stats"))
		return mode_stats();
	if (!strcmp(argv[1], "freeport"))
		return mode_freeport();
	if (!strcmp(argv[1], "launch"))
		return mode_launch();
	die("unknown mode %s", argv[1]);
	return 2;
}
