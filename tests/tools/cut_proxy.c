/*
 * cut_proxy.c - a TCP relay between the hub and PostgreSQL on 127.0.0.1
 * that, once armed, loses the answer to one COMMIT, as a link that breaks
 * just after the server committed: for tests/integration/pg_lost_commit.sh.
 *
 * Armed (ARM_FILE exists), the first connection that sends COMMIT is cut:
 *   1. the client's bytes from COMMIT's Parse message on are held back,
 *      and only what came before it (the statements before COMMIT, a
 *      flush request) goes to the server;
 *   2. the server's answer to those is relayed, or nothing when none comes
 *      within HOLD_MS (a client that asks for no flush gets its answers
 *      only with COMMIT's); then the held bytes go to the server;
 *   3. the server's next bytes, which hold COMMIT's answer, are dropped
 *      whole, both sides of that connection are closed, ARM_FILE is
 *      removed and ARM_FILE.cut created.
 * When ARM_FILE says "down", new connections are then closed at once for
 * DOWN_MS, as a server restarting: the hub asks what became of the COMMIT
 * once it answers again; "down N" for N seconds, as a server unreachable
 * for longer than the hub asks (commit_status): it cannot say.  "down N
 * hang M": after those N seconds, new connections are accepted and never
 * answered for M seconds more, as a server whose host stops answering (a
 * connect attempt then waits its connect_timeout).  "hang M at WORD"
 * (after "down N", or at once): for M seconds new connections are
 * relayed until the client sends WORD (a statement's text), and from that
 * message on nothing more is relayed either way, as a server that accepts
 * the login and then never answers (the statement never reaches it);
 * they are closed after those M seconds.  "drop M at WORD": the same, but
 * the connection is closed (both sides) at WORD, as a link that breaks
 * again before the answer.  ARM_FILE.cut holds the time of
 * the cut (ms since the epoch).  Every other connection, and every
 * connection once disarmed, is relayed as it is.
 *
 * Usage: cut_proxy LISTEN_PORT UPSTREAM_PORT ARM_FILE
 *   prints "ready" once listening; runs until killed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 64
#define HOLD_MS 3000
#define DOWN_MS 4000
#define BUF_SIZE 65536

enum cut_state { RELAY = 0, HOLDING, WAIT_REPLY, STALLED };

struct pair {
	int cfd, sfd; /* -1: free */
	enum cut_state state;
	char held[BUF_SIZE];
	size_t n_held;
	long long hold_since_ms;
	int is_in_hang; /* accepted while the server "hangs at" hang_word */
};

static struct pair pairs[MAX_PAIRS];
static const char *arm_file;
static long long down_until_ms; /* new connections are closed until then */
static long long hang_until_ms; /* then accepted, never answered, until then */
static int hung[MAX_PAIRS];      /* those connections (-1: free) */
static char hang_word[64];       /* "hang M at WORD": relayed up to WORD */
static int is_drop;              /* "drop M at WORD": closed at WORD */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_armed(void)
{
	return access(arm_file, F_OK) == 0;
}

static int listen_on(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0)
		return -1;
	return fd;
}

static int connect_to(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void pair_close(struct pair *p)
{
	close(p->cfd);
	close(p->sfd);
	p->cfd = p->sfd = -1;
	p->state = RELAY;
	p->n_held = 0;
}

/* Where COMMIT's Parse message starts in buf ('P', its length, the
 * unnamed statement "", "COMMIT"), or -1. */
static long find_commit_parse(const char *buf, size_t n)
{
	static const char tail[] = "\0COMMIT"; /* and its NUL */

	for (size_t i = 5; i + sizeof(tail) <= n; i++)
		if (buf[i - 5] == 'P' && memcmp(buf + i, tail, sizeof(tail)) == 0)
			return (long)(i - 5);
	return -1;
}

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cut(struct pair *p)
{
	char done[1024], mode[64] = "";
	const char *hang;
	FILE *f;

	pair_close(p);
	if ((f = fopen(arm_file, "r"))) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = '\0';
		fclose(f);
	}
	down_until_ms = now_ms();
	if (strncmp(mode, "down", 4) == 0) {
		long secs = strtol(mode + 4, NULL, 10);
		down_until_ms += secs > 0 ? secs * 1000LL : DOWN_MS;
	}
	hang_until_ms = 0;
	hang_word[0] = '\0';
	is_drop = (hang = strstr(mode, "drop")) != NULL;
	if (hang || (hang = strstr(mode, "hang"))) {
		char *at;
		hang_until_ms = down_until_ms + strtol(hang + 4, &at, 10) * 1000LL;
		if (sscanf(at, " at %63s", hang_word) != 1)
			hang_word[0] = '\0';
	}
	unlink(arm_file);
	snprintf(done, sizeof(done), "%s.cut", arm_file);
	if ((f = fopen(done, "w"))) {
		fprintf(f, "%lld\n", wall_ms());
		fclose(f);
	}
}

/* A connection accepted while the server "hangs": held open, unread. */
static void hang_one(int cfd)
{
	for (int i = 0; i < MAX_PAIRS; i++) {
		if (hung[i] < 0) {
			hung[i] = cfd;
			return;
		}
	}
	close(cfd);
}

/* Once the hang is over, its connections are closed. */
static void hang_end(void)
{
	if (now_ms() < hang_until_ms)
		return;
	for (int i = 0; i < MAX_PAIRS; i++) {
		if (hung[i] >= 0)
			close(hung[i]);
		hung[i] = -1;
		if (pairs[i].cfd >= 0 && pairs[i].state == STALLED)
			pair_close(&pairs[i]);
		pairs[i].is_in_hang = 0;
	}
}

/* "hang M at WORD": the client's message with WORD, and all after it, is
 * never relayed. */
static int is_stalling(const struct pair *p, const char *buf, size_t n)
{
	return p->is_in_hang && hang_word[0] &&
	       memmem(buf, n, hang_word, strlen(hang_word)) != NULL;
}

/* Bytes from the client: relayed, or from COMMIT on held (armed). */
static void from_client(struct pair *p, const char *buf, size_t n)
{
	long at = p->state == RELAY && is_armed() ? find_commit_parse(buf, n) : -1;

	if (p->state != STALLED && is_stalling(p, buf, n) && is_drop) {
		pair_close(p); /* the link breaks before the answer */
		return;
	}
	if (p->state == STALLED || is_stalling(p, buf, n)) {
		p->state = STALLED; /* read and dropped: the server "hangs" */
		return;
	}
	if (at < 0 || n - (size_t)at > sizeof(p->held)) {
		if (p->state == HOLDING && p->n_held + n <= sizeof(p->held)) {
			memcpy(p->held + p->n_held, buf, n);
			p->n_held += n;
		} else if (write_all(p->sfd, buf, n)) {
			pair_close(p);
		}
		return;
	}
	if (write_all(p->sfd, buf, (size_t)at)) {
		pair_close(p);
		return;
	}
	memcpy(p->held, buf + at, n - (size_t)at);
	p->n_held = n - (size_t)at;
	p->state = HOLDING;
	p->hold_since_ms = now_ms();
}

/* The held bytes (COMMIT on) go to the server: its next bytes are cut. */
static void release(struct pair *p)
{
	if (write_all(p->sfd, p->held, p->n_held)) {
		pair_close(p);
		return;
	}
	p->n_held = 0;
	p->state = WAIT_REPLY;
}

/* Bytes from the server: relayed, or COMMIT's answer dropped and cut. */
static void from_server(struct pair *p, const char *buf, size_t n)
{
	if (p->state == STALLED)
		return;
	if (p->state == WAIT_REPLY) {
		cut(p);
		return;
	}
	if (write_all(p->cfd, buf, n)) {
		pair_close(p);
		return;
	}
	if (p->state == HOLDING)
		release(p); /* what came before COMMIT is answered */
}

static void accept_one(int lfd, int upstream)
{
	int cfd = accept(lfd, NULL, NULL), sfd;

	if (cfd < 0)
		return;
	if (now_ms() < down_until_ms) {
		close(cfd); /* the server is "down" */
		return;
	}
	if (now_ms() < hang_until_ms && !hang_word[0]) {
		hang_one(cfd); /* the server "hangs" */
		return;
	}
	sfd = connect_to(upstream);
	for (int i = 0; sfd >= 0 && i < MAX_PAIRS; i++) {
		if (pairs[i].cfd < 0) {
			pairs[i].cfd = cfd;
			pairs[i].sfd = sfd;
			pairs[i].state = RELAY;
			pairs[i].n_held = 0;
			pairs[i].is_in_hang = now_ms() < hang_until_ms; /* then at hang_word */
			return;
		}
	}
	close(cfd);
	if (sfd >= 0)
		close(sfd);
}

int main(int argc, char **argv)
{
	static char buf[BUF_SIZE];
	int lfd, upstream;

	if (argc != 4) {
		fprintf(stderr, "usage: cut_proxy LISTEN_PORT UPSTREAM_PORT ARM_FILE\n");
		return 2;
	}
	upstream = atoi(argv[2]);
	arm_file = argv[3];
	if ((lfd = listen_on(atoi(argv[1]))) < 0) {
		perror("cut_proxy: listen");
		return 1;
	}
	for (int i = 0; i < MAX_PAIRS; i++) {
		pairs[i].cfd = pairs[i].sfd = -1;
		pairs[i].is_in_hang = 0;
		hung[i] = -1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct pollfd fds[1 + 2 * MAX_PAIRS];
		int idx[1 + 2 * MAX_PAIRS], n = 0;

		fds[n] = (struct pollfd){lfd, POLLIN, 0};
		idx[n++] = -1;
		for (int i = 0; i < MAX_PAIRS; i++) {
			if (pairs[i].cfd < 0)
				continue;
			fds[n] = (struct pollfd){pairs[i].cfd, POLLIN, 0};
			idx[n++] = i;
			fds[n] = (struct pollfd){pairs[i].sfd, POLLIN, 0};
			idx[n++] = i;
		}
		poll(fds, (nfds_t)n, 100);
		hang_end();
		for (int i = 0; i < MAX_PAIRS; i++)
			if (pairs[i].cfd >= 0 && pairs[i].state == HOLDING &&
			    now_ms() - pairs[i].hold_since_ms >= HOLD_MS)
				release(&pairs[i]); /* no answer before COMMIT's */
		for (int k = 0; k < n; k++) {
			struct pair *p;
			ssize_t got;

			if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (idx[k] < 0) {
				accept_one(lfd, upstream);
				continue;
			}
			p = &pairs[idx[k]];
			if (p->cfd != fds[k].fd && p->sfd != fds[k].fd)
				continue; /* closed meanwhile */
			got = read(fds[k].fd, buf, sizeof(buf));
			if (got <= 0) {
				pair_close(p);
				continue;
			}
			if (fds[k].fd == p->cfd)
				from_client(p, buf, (size_t)got);
			else
				from_server(p, buf, (size_t)got);
		}
	}
}
