/* Growable byte buffer with a size cap: the one way this code builds strings and message
 * bodies from untrusted input. The data is always NUL-terminated (not counted in len). */
#ifndef MAILBISECT_BUF_H
#define MAILBISECT_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct mb_buf {
	char *data;   /* owned; NULL until the first append */
	size_t len;   /* bytes used, excluding the terminating NUL */
	size_t alloc; /* bytes allocated */
	size_t cap;   /* growth limit in bytes; 0 means MB_BUF_DEFAULT_CAP */
};

#define MB_BUF_DEFAULT_CAP (256u * 1024u * 1024u)
#define MB_BUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

/* Appends; returns 0, or MB_ENOMEM when memory is short or the cap would be exceeded. */
int mb_buf_append(struct mb_buf *buf, const void *data, size_t len);
int mb_buf_puts(struct mb_buf *buf, const char *s);
int mb_buf_putc(struct mb_buf *buf, char c);
int mb_buf_printf(struct mb_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mb_buf_vprintf(struct mb_buf *buf, const char *fmt, va_list ap);
/* Makes data non-NULL even when empty. */
int mb_buf_terminate(struct mb_buf *buf);
void mb_buf_reset(struct mb_buf *buf); /* len = 0, keeps memory */
void mb_buf_free(struct mb_buf *buf);  /* frees data, back to MB_BUF_INIT state (keeps cap) */
/* Hands the data to the caller (who frees it) and resets the buffer. Never NULL on success. */
char *mb_buf_steal(struct mb_buf *buf);

#endif
