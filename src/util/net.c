/* TCP reachability probe with a connect timeout (non-blocking connect + poll), since the SMTP
 * library has no connect timeout of its own. */
#include "mailbisect/net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int try_address(const struct addrinfo *ai, long timeout_ms, int *error)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	struct pollfd pfd;
	socklen_t len = sizeof *error;

	if (fd < 0) {
		*error = errno;
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		close(fd);
		return 0;
	}
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
	close(fd);
	return *error ? -1 : 0;
}

int mb_net_probe(const char *host, long port, long timeout_ms, struct mb_err *err)
{
	struct addrinfo hints, *list = NULL;
	char service[16];
	int error = 0, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof service, "%ld", port);
	rc = getaddrinfo(host, service, &hints, &list);
	if (rc != 0)
		return mb_err_set(err, MB_EUNAVAIL, "cannot resolve %s: %s", host,
		                  gai_strerror(rc));
	for (const struct addrinfo *ai = list; ai; ai = ai->ai_next)
		if (try_address(ai, timeout_ms, &error) == 0) {
			freeaddrinfo(list);
			return 0;
		}
	freeaddrinfo(list);
	return mb_err_set(err, MB_EUNAVAIL, "cannot connect to %s:%ld: %s", host, port,
	                  strerror(error ? error : ECONNREFUSED));
}
