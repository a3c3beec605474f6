/* Bounded file reading, secret files and atomic writes. */
#include "mailbisect/file.h"
#include "mailbisect/limits.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens path for reading only when it is a regular file. Non-blocking at first: open() of a
 * FIFO without a writer would otherwise wait forever, before fstat() could refuse it. */
static int open_regular(const char *path, int *out, struct mb_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), flags;
	struct stat st;

	if (fd < 0)
		return mb_err_set(err, MB_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		int saved = errno;
		close(fd);
		return mb_err_set(err, MB_ENOINPUT, "%s: cannot read: %s", path, strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return mb_err_set(err, MB_ENOINPUT, "%s: %s, expected a regular file", path,
		                  S_ISDIR(st.st_mode)    ? "is a directory"
		                  : S_ISFIFO(st.st_mode) ? "is a FIFO (named pipe)"
		                  : S_ISSOCK(st.st_mode) ? "is a socket"
		                                         : "is a device or special file");
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
		int saved = errno;
		close(fd);
		return mb_err_set(err, MB_ENOINPUT, "%s: cannot read: %s", path, strerror(saved));
	}
	*out = fd;
	return 0;
}

static int file_read(const char *path, size_t max_bytes, struct mb_buf *out, struct mb_err *err)
{
	char chunk[65536];
	int fd = STDIN_FILENO, rc;
	size_t total = 0;
	struct stat st;

	if (strcmp(path, "-") != 0 && (rc = open_regular(path, &fd, err)) != 0)
		return rc;
	/* a file already over the limit is refused without reading it */
	if (fd != STDIN_FILENO && fstat(fd, &st) == 0 && (uintmax_t)st.st_size > max_bytes) {
		close(fd);
		return mb_err_set(err, MB_EDATA, "%s: larger than the limit of %zu bytes", path,
		                  max_bytes);
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			if (fd != STDIN_FILENO)
				close(fd);
			return mb_err_set(err, MB_ENOINPUT, "%s: read error: %s", path,
			                  strerror(saved));
		}
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > max_bytes || mb_buf_append(out, chunk, (size_t)n)) {
			if (fd != STDIN_FILENO)
				close(fd);
			return mb_err_set(err, MB_EDATA, "%s: larger than the limit of %zu bytes",
			                  path, max_bytes);
		}
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return mb_buf_terminate(out) ? mb_err_set(err, MB_ENOMEM, "%s: out of memory", path) : 0;
}

int mb_file_read(const char *path, size_t max_bytes, struct mb_buf *out, struct mb_err *err)
{
	size_t start = out->len;
	bool had_data = out->data != NULL;
	int rc = file_read(path, max_bytes, out, err);

	if (rc && !had_data) { /* nothing of a failed read stays with the caller */
		mb_buf_free(out);
	} else if (rc) {
		out->len = start;
		out->data[start] = '\0';
	}
	return rc;
}

int mb_file_read_secret(const char *path, char **out, struct mb_err *err)
{
	struct mb_buf buf = MB_BUF_INIT;
	struct stat st;
	int rc;

	*out = NULL;
	if (stat(path, &st) != 0)
		return mb_err_set(err, MB_ENOINPUT, "%s: cannot read secret file: %s", path,
		                  strerror(errno));
	if (!S_ISREG(st.st_mode))
		return mb_err_set(err, MB_ENOINPUT, "%s: secret file is not a regular file", path);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return mb_err_set(err, MB_ENOPERM,
		                  "%s: secret file is accessible by group or others (mode %03o); "
		                  "run chmod 600 on it",
		                  path, (unsigned)(st.st_mode & 0777));
	rc = mb_file_read(path, MB_MAX_SECRET_BYTES, &buf, err);
	if (rc)
		return rc;
	if (buf.len && buf.data[buf.len - 1] == '\n')
		buf.data[--buf.len] = '\0';
	if (buf.len && buf.data[buf.len - 1] == '\r')
		buf.data[--buf.len] = '\0';
	*out = mb_buf_steal(&buf);
	return *out ? 0 : mb_err_set(err, MB_ENOMEM, "out of memory");
}

int mb_file_write_atomic(const char *path, const void *data, size_t len, struct mb_err *err)
{
	struct mb_buf tmp = MB_BUF_INIT;
	const char *p = data;
	struct stat st;
	int fd;

	/* The rename below replaces whatever PATH is: a device (/dev/full), a FIFO or a symlink
	 * would be swapped for a regular file. Only a regular file (or nothing) is replaced. */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return mb_err_set(err, MB_EIO,
		                  "%s: not a regular file; give the path of a file to "
		                  "write (an existing one is replaced)",
		                  path);
	if (mb_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid()))
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		mb_err_set(err, MB_EIO, "%s: cannot create: %s", path, strerror(errno));
		mb_buf_free(&tmp);
		return MB_EIO;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mb_err_set(err, MB_EIO, "%s: write error: %s", path, strerror(errno));
			close(fd);
			unlink(tmp.data);
			mb_buf_free(&tmp);
			return MB_EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp.data, path) != 0) {
		mb_err_set(err, MB_EIO, "%s: cannot write: %s", path, strerror(errno));
		unlink(tmp.data);
		mb_buf_free(&tmp);
		return MB_EIO;
	}
	mb_buf_free(&tmp);
	return 0;
}

int mb_file_mkdirs(const char *path, struct mb_err *err)
{
	char *copy;

	if (!path || !*path)
		return mb_err_set(err, MB_EIO, "cannot create a directory with an empty name");
	if (!(copy = strdup(path)))
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
			mb_err_set(err, MB_EIO, "%s: cannot create directory: %s", copy,
			           strerror(errno));
			free(copy);
			return MB_EIO;
		}
		*p = '/';
	}
	if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
		mb_err_set(err, MB_EIO, "%s: cannot create directory: %s", copy, strerror(errno));
		free(copy);
		return MB_EIO;
	}
	free(copy);
	return 0;
}
