/* Growable, capped byte buffer. Every append checks the cap before growing, so a hostile
 * input cannot make a parser allocate without bound. */
#include "mailbisect/buf.h"
#include "mailbisect/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_reserve(struct mb_buf *buf, size_t extra)
{
	size_t cap = buf->cap ? buf->cap : MB_BUF_DEFAULT_CAP;
	size_t need, alloc;
	char *data;

	if (extra > cap || buf->len > cap - extra)
		return MB_ENOMEM;
	need = buf->len + extra + 1;
	if (need <= buf->alloc)
		return 0;
	alloc = buf->alloc ? buf->alloc : 64;
	while (alloc < need)
		alloc = alloc > ((size_t)-1) / 2 ? need : alloc * 2;
	data = realloc(buf->data, alloc);
	if (!data)
		return MB_ENOMEM;
	buf->data = data;
	buf->alloc = alloc;
	return 0;
}

int mb_buf_append(struct mb_buf *buf, const void *data, size_t len)
{
	int rc = buf_reserve(buf, len);
	if (rc)
		return rc;
	if (len)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return 0;
}

int mb_buf_puts(struct mb_buf *buf, const char *s)
{
	return mb_buf_append(buf, s, strlen(s));
}

int mb_buf_putc(struct mb_buf *buf, char c)
{
	return mb_buf_append(buf, &c, 1);
}

int mb_buf_vprintf(struct mb_buf *buf, const char *fmt, va_list ap)
{
	va_list copy;
	int n, rc;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return MB_ESOFTWARE;
	rc = buf_reserve(buf, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
	buf->len += (size_t)n;
	return 0;
}

int mb_buf_printf(struct mb_buf *buf, const char *fmt, ...)
{
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = mb_buf_vprintf(buf, fmt, ap);
	va_end(ap);
	return rc;
}

int mb_buf_terminate(struct mb_buf *buf)
{
	return buf_reserve(buf, 0) ? MB_ENOMEM : (buf->data[buf->len] = '\0', 0);
}

void mb_buf_reset(struct mb_buf *buf)
{
	buf->len = 0;
	if (buf->data)
		buf->data[0] = '\0';
}

void mb_buf_free(struct mb_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->alloc = 0;
}

char *mb_buf_steal(struct mb_buf *buf)
{
	char *data;
	if (mb_buf_terminate(buf))
		return NULL;
	data = buf->data;
	buf->data = NULL;
	buf->len = buf->alloc = 0;
	return data;
}
