/* TCP connect with a timeout (non-blocking connect + poll), since the SMTP library has no connect
 * timeout of its own: a reachability probe, and the connection a relay check talks over. */
#include "mailbisect/net.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A socket connected to ai within timeout_ms (still non-blocking), or -1 with *error set. */
static int try_address(const struct addrinfo *ai, long timeout_ms, int *error)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	struct pollfd pfd;
	socklen_t len = sizeof *error;
	int flags;

	if (fd < 0) {
		*error = errno;
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		*error = errno;
		close(fd);
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*error = errno;
		close(fd);
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, (int)timeout_ms) <= 0) {
		*error = ETIMEDOUT;
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, error, &len) != 0)
		*error = errno;
	if (*error) {
		close(fd);
		return -1;
	}
	return fd;
}

int mb_net_connect(const char *host, long port, long timeout_ms, int *fd, struct mb_err *err)
{
	struct addrinfo hints, *list = NULL;
	char service[16];
	int error = 0, rc;

	*fd = -1;
	if (timeout_ms < 1)
		timeout_ms = 1;
	if (timeout_ms > INT_MAX)
		timeout_ms = INT_MAX;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof service, "%ld", port);
	rc = getaddrinfo(host, service, &hints, &list);
	if (rc != 0)
		return mb_err_set(err, MB_EUNAVAIL, "cannot resolve %s: %s", host,
		                  gai_strerror(rc));
	for (const struct addrinfo *ai = list; ai && *fd < 0; ai = ai->ai_next)
		*fd = try_address(ai, timeout_ms, &error);
	freeaddrinfo(list);
	if (*fd >= 0)
		return 0;
	return mb_err_set(err, MB_EUNAVAIL, "cannot connect to %s:%ld: %s", host, port,
	                  strerror(error ? error : ECONNREFUSED));
}

int mb_net_probe(const char *host, long port, long timeout_ms, struct mb_err *err)
{
	int fd, rc = mb_net_connect(host, port, timeout_ms, &fd, err);

	if (rc == 0)
		close(fd);
	return rc;
}
