/*
 * limits_client.c - hostile clients for tests/integration/limits.sh, all
 * against 127.0.0.1:PORT, each bounded in time:
 *
 *   limits_client idle PORT N WAIT_MS
 *       opens N connections that send nothing, prints "opened N" once they
 *       are established, then waits (at most WAIT_MS) for the hub to close
 *       them and prints when it did;
 *   limits_client slow PORT N_HEADERS N_BODIES INTERVAL_MS RUN_MS PATH
 *       slowloris: N_HEADERS connections trickle a request's headers and
 *       N_BODIES connections send the headers of a POST to PATH at once,
 *       then trickle its body; one byte per connection every INTERVAL_MS,
 *       for at most RUN_MS; prints how many the hub cut and when;
 *   limits_client big-length PORT PATH AUTH
 *       announces a 1 GiB body with Content-Length, sends none of it, and
 *       prints the status line of the answer and how long it took;
 *   limits_client big-chunked PORT PATH AUTH
 *       sends a chunked body of up to 1 GiB as fast as the hub reads it and
 *       prints how many bytes went out before the hub answered or closed.
 *
 * AUTH is the value of an Authorization header ("" for none).  Exit 0 when
 * the run went as described (the script judges the numbers), 2 on a usage
 * or system error.  Linux only (poll, SO_* options).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GIB (1024LL * 1024 * 1024)
#define CHUNK (64 * 1024)

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int port;

/* A non-blocking socket connecting to 127.0.0.1:port, or -1. */
static int connect_start(void)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits for fd's connect to finish; 0 when connected. */
static int connect_finish(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int err = 0;
	socklen_t len = sizeof(err);

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		return -1;
	return 0;
}

/* 1 when the peer closed fd (EOF or error), 0 when it is still open. */
static int is_closed(int fd)
{
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n == 0)
		return 1;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
	return 0; /* an answer: it will close after it */
}

/* ---- idle ------------------------------------------------------------ */

static int run_idle(int n, int wait_ms)
{
	int *fds = calloc((size_t)n, sizeof(int));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	int64_t t0 = mono_ms(), t_open, first = -1, last = -1;
	int opened = 0, failed = 0, open_now, closed = 0;

	if (!fds || !p)
		return 2;
	for (int i = 0; i < n; i++) {
		fds[i] = connect_start();
		if (fds[i] < 0)
			failed++;
	}
	/* every connect either finishes or fails within a bound */
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (connect_finish(fds[i], 5000) == 0) {
			opened++;
		} else {
			close(fds[i]);
			fds[i] = -1;
			failed++;
		}
	}
	t_open = mono_ms();
	printf("opened %d (failed %d) in %lld ms\n", opened, failed, (long long)(t_open - t0));
	fflush(stdout);
	open_now = opened;
	while (open_now > 0 && mono_ms() - t_open < wait_ms) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (fds[i] >= 0)
				p[k++] =
					(struct pollfd){.fd = fds[i], .events = POLLIN | POLLRDHUP};
		if (poll(p, (nfds_t)k, 200) < 0 && errno != EINTR)
			return 2;
		for (int i = 0; i < k; i++) {
			if (!p[i].revents || !is_closed(p[i].fd))
				continue;
			for (int j = 0; j < n; j++) {
				if (fds[j] == p[i].fd) {
					close(fds[j]);
					fds[j] = -1;
				}
			}
			closed++;
			open_now--;
			last = mono_ms() - t_open;
			if (first < 0)
				first = last;
		}
	}
	printf("closed by the hub %d of %d, first after %lld ms, last after %lld ms; %d "
	       "still open\n",
	       closed, opened, (long long)first, (long long)last, open_now);
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(p);
	return 0;
}

/* ---- slowloris ------------------------------------------------------- */

struct slow {
	int fd;
	int is_body;      /* headers sent at once, the body trickled */
	const char *text; /* what is trickled */
	size_t pos, len;
	int64_t closed_ms;
};

static int send_all(int fd, const char *s, size_t len, int timeout_ms)
{
	int64_t until = mono_ms() + timeout_ms;

	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			s += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (mono_ms() > until)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		poll(&p, 1, 100);
	}
	return 0;
}

static void report_slow(const char *what, struct slow *s, int n, int is_body, int64_t run_ms)
{
	int total = 0, cut = 0;
	int64_t first = -1, last = -1;

	for (int i = 0; i < n; i++) {
		if (s[i].is_body != is_body)
			continue;
		total++;
		if (s[i].closed_ms < 0)
			continue;
		cut++;
		if (first < 0 || s[i].closed_ms < first)
			first = s[i].closed_ms;
		if (s[i].closed_ms > last)
			last = s[i].closed_ms;
	}
	printf("%s: %d of %d cut by the hub (first after %lld ms, last after %lld ms) "
	       "within %lld ms\n",
	       what, cut, total, (long long)first, (long long)last, (long long)run_ms);
}

static int run_slow(int n_headers, int n_bodies, int interval_ms, int run_ms, const char *path)
{
	static char head_text[8192], body_head[512], body_text[8192];
	int n = n_headers + n_bodies;
	struct slow *s = calloc((size_t)n, sizeof(*s));
	int64_t t0, next;
	int open_now = 0;

	if (!s)
		return 2;
	/* headers that never end within the run: a long header line */
	snprintf(head_text, sizeof(head_text),
		 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", path);
	memset(head_text + strlen(head_text), 'a', sizeof(head_text) - strlen(head_text) - 1);
	snprintf(body_head, sizeof(body_head),
		 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n", path, sizeof(body_text) - 1);
	memset(body_text, ' ', sizeof(body_text) - 1);
	for (int i = 0; i < n; i++) {
		s[i].is_body = i >= n_headers;
		s[i].text = s[i].is_body ? body_text : head_text;
		s[i].len = strlen(s[i].text);
		s[i].closed_ms = -1;
		s[i].fd = connect_start();
		if (s[i].fd < 0 || connect_finish(s[i].fd, 5000) ||
		    (s[i].is_body && send_all(s[i].fd, body_head, strlen(body_head), 2000))) {
			fprintf(stderr, "limits_client: slow: cannot open connection %d\n", i);
			return 2;
		}
		open_now++;
	}
	t0 = mono_ms();
	printf("slow: %d connections trickling\n", n);
	fflush(stdout);
	next = t0;
	while (open_now > 0 && mono_ms() - t0 < run_ms) {
		int64_t now = mono_ms();
		if (now < next) {
			struct timespec ts = {0, (long)(next - now) * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		next += interval_ms;
		for (int i = 0; i < n; i++) {
			if (s[i].closed_ms >= 0)
				continue;
			if (is_closed(s[i].fd) ||
			    (s[i].pos < s[i].len && send(s[i].fd, s[i].text + s[i].pos, 1,
							 MSG_NOSIGNAL | MSG_DONTWAIT) != 1)) {
				s[i].closed_ms = mono_ms() - t0;
				close(s[i].fd);
				open_now--;
				continue;
			}
			s[i].pos++;
		}
	}
	report_slow("slow headers", s, n, 0, mono_ms() - t0);
	report_slow("slow body", s, n, 1, mono_ms() - t0);
	for (int i = 0; i < n; i++)
		if (s[i].closed_ms < 0)
			close(s[i].fd);
	free(s);
	return 0;
}

/* ---- 1 GiB bodies ---------------------------------------------------- */

/* Reads what the hub answered on fd within timeout_ms into buf (NUL
 * terminated); returns the bytes read, 0 on EOF without an answer, -1 if
 * nothing came. */
static ssize_t read_answer(int fd, char *buf, size_t size, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	buf[0] = '\0';
	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	n = recv(fd, buf, size - 1, MSG_DONTWAIT);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	return n;
}

static void print_status(const char *what, const char *answer, int64_t ms, long long sent)
{
	const char *text = answer[0] ? answer : "(closed, no answer)";
	size_t eol = strcspn(text, "\r\n");

	printf("%s: \"%.*s\" after ms=%lld, body bytes sent=%lld\n", what, (int)eol, text,
	       (long long)ms, sent);
}

static int request_open(const char *path, const char *auth, const char *framing)
{
	char head[1024];
	int fd = connect_start();

	if (fd < 0 || connect_finish(fd, 5000))
		return -1;
	snprintf(head, sizeof(head),
		 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		 "%s%s%s%s\r\n\r\n", path, auth[0] ? "Authorization: " : "", auth,
		 auth[0] ? "\r\n" : "", framing);
	if (send_all(fd, head, strlen(head), 2000))
		return -1;
	return fd;
}

static int run_big_length(const char *path, const char *auth)
{
	char answer[4096], framing[64];
	int64_t t0 = mono_ms();
	int fd;

	snprintf(framing, sizeof(framing), "Content-Length: %lld", GIB);
	fd = request_open(path, auth, framing);
	if (fd < 0)
		return 2;
	read_answer(fd, answer, sizeof(answer), 10000);
	print_status("content-length 1 GiB", answer, mono_ms() - t0, 0);
	close(fd);
	return 0;
}

static int run_big_chunked(const char *path, const char *auth)
{
	static char chunk[CHUNK + 32];
	char answer[4096] = "";
	int64_t t0 = mono_ms();
	long long sent = 0;
	size_t hlen, pos = 0, clen;
	int fd = request_open(path, auth, "Transfer-Encoding: chunked");

	if (fd < 0)
		return 2;
	hlen = (size_t)snprintf(chunk, sizeof(chunk), "%x\r\n", CHUNK);
	memset(chunk + hlen, ' ', CHUNK);
	memcpy(chunk + hlen + CHUNK, "\r\n", 2);
	clen = hlen + CHUNK + 2;
	while (sent < GIB && mono_ms() - t0 < 20000) {
		struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
		ssize_t n;

		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			break;
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			read_answer(fd, answer, sizeof(answer), 0);
			break;
		}
		if (!(p.revents & POLLOUT))
			continue;
		n = send(fd, chunk + pos, clen - pos, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			break; /* reset by the hub */
		}
		pos += (size_t)n;
		if (pos == clen) {
			pos = 0;
			sent += CHUNK;
		}
	}
	print_status("chunked 1 GiB", answer, mono_ms() - t0, sent);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 5 && strcmp(argv[1], "idle") == 0) {
		port = atoi(argv[2]);
		return run_idle(atoi(argv[3]), atoi(argv[4]));
	}
	if (argc >= 8 && strcmp(argv[1], "slow") == 0) {
		port = atoi(argv[2]);
		return run_slow(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
				argv[7]);
	}
	if (argc >= 5 && strcmp(argv[1], "big-length") == 0) {
		port = atoi(argv[2]);
		return run_big_length(argv[3], argv[4]);
	}
	if (argc >= 5 && strcmp(argv[1], "big-chunked") == 0) {
		port = atoi(argv[2]);
		return run_big_chunked(argv[3], argv[4]);
	}
	fprintf(stderr,
		"usage: limits_client idle PORT N WAIT_MS\n"
		"       limits_client slow PORT N_HEADERS N_BODIES INTERVAL_MS RUN_MS PATH\n"
		"       limits_client big-length|big-chunked PORT PATH AUTH\n");
	return 2;
}
