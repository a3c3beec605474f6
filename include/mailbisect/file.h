/* Files: bounded whole-file reads, secret files that must not be group/world readable, and
 * atomic writes (temporary file + rename) so no output is ever half-written. */
#ifndef MAILBISECT_FILE_H
#define MAILBISECT_FILE_H

#include "mailbisect/buf.h"
#include "mailbisect/err.h"

/* Reads the whole file (path "-" is stdin) into out (appended). Files over max_bytes are
 * refused with MB_EDATA; missing or unreadable ones, and anything but a regular file (a
 * directory, a FIFO, a device: never waited on), give MB_ENOINPUT. The message names path.
 * On failure out is as it was (freed when it held nothing). */
int mb_file_read(const char *path, size_t max_bytes, struct mb_buf *out, struct mb_err *err);

/* Reads a secret: the file must be a regular file not readable by group or others
 * (MB_ENOPERM otherwise). One trailing newline is removed. Caller frees *out. */
int mb_file_read_secret(const char *path, char **out, struct mb_err *err);

/* Writes data to path through path.tmp + rename. */
int mb_file_write_atomic(const char *path, const void *data, size_t len, struct mb_err *err);

/* Creates a directory and its parents (mode 0700 for new ones). An empty path is refused
 * (MB_EIO). */
int mb_file_mkdirs(const char *path, struct mb_err *err);

#endif
