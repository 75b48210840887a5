/*
 * freeport.c - prints a TCP port of 127.0.0.1 that is free right now, for
 * test scripts that start a hub (and receivers) on ports of their own;
 * python is not assumed.
 *
 * The port is drawn at random below the kernel's ephemeral range
 * (net.ipv4.ip_local_port_range), so no outgoing connection and no
 * listener on port 0 can be given it meanwhile: a port the kernel chose
 * for a bind to 0 and released was handed out again, to a receiver, while
 * the hub it had been given to was restarting.  With HUB_PORTS_FILE set,
 * ports listed in that file are never given again and the one given is
 * appended (one script's ports stay distinct).
 *
 * Usage: freeport   (prints e.g. "24123"; exit 1 on failure)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PORT_MIN 10000

/* The first port of the ephemeral range (32768 when it cannot be read). */
static unsigned ephemeral_low(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned low = 32768, high = 60999;

	if (f) {
		if (fscanf(f, "%u %u", &low, &high) != 2)
			low = 32768;
		fclose(f);
	}
	return low;
}

/* 1 when port is listed in the file at path. */
static int is_given(const char *path, unsigned port)
{
	FILE *f = path ? fopen(path, "r") : NULL;
	unsigned p;
	int found = 0;

	if (!f)
		return 0;
	while (!found && fscanf(f, "%u", &p) == 1)
		found = p == port;
	fclose(f);
	return found;
}

/* 1 when 127.0.0.1:port can be bound now. */
static int is_free(unsigned port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int main(void)
{
	const char *given = getenv("HUB_PORTS_FILE");
	unsigned low = ephemeral_low();
	struct timespec ts;

	if (low <= PORT_MIN + 1000) {
		fprintf(stderr, "freeport: the ephemeral range starts at %u\n", low);
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	srand((unsigned)ts.tv_nsec ^ (unsigned)getpid());
	for (int i = 0; i < 1000; i++) {
		unsigned port = PORT_MIN + (unsigned)rand() % (low - PORT_MIN);
		FILE *f;

		if (is_given(given, port) || !is_free(port))
			continue;
		if (given && (f = fopen(given, "a"))) {
			fprintf(f, "%u\n", port);
			fclose(f);
		}
		printf("%u\n", port);
		return 0;
	}
	fprintf(stderr, "freeport: no free port found\n");
	return 1;
}
