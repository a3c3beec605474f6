/* Error reporting helpers: message formatting and the map from error classes to sysexits.
 * The map is a table so that README, --help and tests can check it. */
#include "mailbisect/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "mailbisect/buf.h"
#include "mailbisect/str.h"

static const struct {
	int code;
	int exit_code;
	const char *name;
} error_classes[] = {
    {MB_OK, EX_OK, "ok"},
    {MB_EUSAGE, EX_USAGE, "usage"},
    {MB_EDATA, EX_DATAERR, "data"},
    {MB_ENOINPUT, EX_NOINPUT, "noinput"},
    {MB_ECONFIG, EX_CONFIG, "config"},
    {MB_EUNAVAIL, EX_UNAVAILABLE, "unavailable"},
    {MB_ETEMP, EX_TEMPFAIL, "tempfail"},
    {MB_EPROTO, EX_PROTOCOL, "protocol"},
    {MB_ENOPERM, EX_NOPERM, "noperm"},
    {MB_ENOMEM, EX_SOFTWARE, "nomem"},
    {MB_EIO, EX_IOERR, "io"},
    {MB_ESOFTWARE, EX_SOFTWARE, "software"},
};

int mb_err_set(struct mb_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
	}
	return code;
}

int mb_err_prefix(struct mb_err *err, const char *fmt, ...)
{
	char prefix[512], old[sizeof err->message];
	va_list ap;

	if (!err)
		return MB_ESOFTWARE;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->message, sizeof old);
	size_t n = strlen(prefix);
	if (n >= sizeof err->message)
		n = sizeof err->message - 1;
	memcpy(err->message, prefix, n);
	size_t rest = strnlen(old, sizeof old - 1);
	if (rest > sizeof err->message - 1 - n)
		rest = sizeof err->message - 1 - n;
	memcpy(err->message + n, old, rest);
	err->message[n + rest] = '\0';
	return err->code;
}

int mb_err_exit_code(int code)
{
	for (size_t i = 0; i < sizeof error_classes / sizeof error_classes[0]; i++)
		if (error_classes[i].code == code)
			return error_classes[i].exit_code;
	return EX_SOFTWARE;
}

const char *mb_err_class(int code)
{
	for (size_t i = 0; i < sizeof error_classes / sizeof error_classes[0]; i++)
		if (error_classes[i].code == code)
			return error_classes[i].name;
	return "software";
}

void mb_err_print(FILE *out, const struct mb_err *err)
{
	struct mb_buf shown = MB_BUF_INIT;
	const char *text = err->message;

	if (!mb_str_printable(&shown, err->message, strnlen(err->message, sizeof err->message),
	                      false) &&
	    !mb_buf_terminate(&shown))
		text = shown.data;
	fprintf(out, "mailbisect: %s\n", text);
	mb_buf_free(&shown);
}
