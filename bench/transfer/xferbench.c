/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One file transfer over loopback TCP with the real transfer code, in two processes so
 * that each side's CPU time can be told apart: the parent is the receiver (listening,
 * hashing in its worker pool, writing NAME.part, verifying, renaming), a forked child is
 * the sender (connecting, sendfile). The SIP/INVITE part is not in this tree yet, so
 * the offer/answer step is skipped: both sides are given what the SDP would carry.
 *
 * usage: xferbench FILE DOWNLOAD_DIR SHA256_HEX
 * prints: "bytes=N wall=S sender_cpu=S receiver_cpu=S status=0"
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "core/worker.h"
#include "transfer/transfer.h"

#define RX_PATH "msrp://127.0.0.1:1/bench-rx;tcp"
#define TX_PATH "msrp://127.0.0.1:2/bench-tx;tcp"

static bool done;
static int status;
static char detail[512];

static void on_done(int st, const char *d, void *arg)
{
	done = true;
	status = st;
	snprintf(detail, sizeof(detail), "%s", d ? d : "");
}

static double cpu(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int run_sender(const char *file, uint64_t size, uint16_t port)
{
	struct transfer_handlers h = { .done = on_done };
	struct ev_loop *loop = ev_loop_new(0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port) };
	struct transfer_sender_params p = { .fd = open(file, O_RDONLY | O_CLOEXEC), .size = size,
					    .to_path = RX_PATH, .from_path = TX_PATH,
					    .message_id = "bench" };
	struct transfer_sender *s;
	struct worker_pool *pool;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (p.fd < 0 || fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    worker_pool_new(loop, 1, 16, &pool) < 0)
		return 2;
	p.pool = pool;
	if (transfer_sender_new(loop, &p, &h, NULL, &s) < 0 ||
	    transfer_sender_attach(s, fd, TRANSFER_SOCK_CONNECTED) < 0)
		return 2;
	while (!done)
		ev_run(loop, EVRUN_ONCE);
	if (status)
		fprintf(stderr, "sender: %s (%s)\n", strerror(-status), detail);
	transfer_sender_free(s);
	worker_pool_free(pool);
	ev_loop_destroy(loop);
	printf("sender_cpu=%.3f\n", cpu(RUSAGE_SELF));
	fflush(stdout);
	return status ? 1 : 0;
}

static int unhex(const char *s, uint8_t *out)
{
	for (int i = 0; i < 32; i++)
		if (sscanf(s + 2 * i, "%2hhx", &out[i]) != 1)
			return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct transfer_handlers h = { .done = on_done };
	struct transfer_receiver_params rp = { .local_path = RX_PATH };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct transfer_receiver *r;
	struct worker_pool *pool;
	struct ev_loop *loop;
	struct stat st;
	ev_tstamp t0;
	pid_t child;
	int lfd, wst;

	if (argc != 4 || stat(argv[1], &st) < 0 || strlen(argv[3]) != 64 ||
	    unhex(argv[3], rp.sha256) < 0) {
		fprintf(stderr, "usage: xferbench FILE DOWNLOAD_DIR SHA256_HEX\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
		return 2;
	loop = ev_default_loop(0);
	if (worker_pool_new(loop, 2, 64, &pool) < 0)
		return 2;
	rp.download_dir = argv[2];
	rp.name = "bench.bin";
	rp.size = (uint64_t)st.st_size;
	rp.pool = pool;
	if (transfer_receiver_new(loop, &rp, &h, NULL, &r) < 0 ||
	    transfer_receiver_attach(r, lfd, TRANSFER_SOCK_LISTENING, TX_PATH) < 0)
		return 2;
	t0 = ev_time();
	child = fork();
	if (child == 0)
		_exit(run_sender(argv[1], (uint64_t)st.st_size, ntohs(a.sin_port)));
	while (!done)
		ev_run(loop, EVRUN_ONCE);
	waitpid(child, &wst, 0);
	/* the loop thread (network, parsing, copying) apart from the pool (write, SHA-256) */
	printf("bytes=%lld wall=%.3f receiver_cpu=%.3f receiver_loop_cpu=%.3f status=%d final=%s\n",
	       (long long)st.st_size, ev_time() - t0, cpu(RUSAGE_SELF), cpu(RUSAGE_THREAD), status,
	       detail);
	transfer_receiver_free(r);
	worker_pool_free(pool);
	return status || !WIFEXITED(wst) || WEXITSTATUS(wst) ? 1 : 0;
}
