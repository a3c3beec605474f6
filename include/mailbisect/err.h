/* Error model shared by every module: functions return 0 or a negative MB_E code and fill a
 * caller-supplied struct mb_err with a message naming the file, field or line at fault. */
#ifndef MAILBISECT_ERR_H
#define MAILBISECT_ERR_H

#include <stdio.h>

#include <stddef.h>

/* Error classes; each maps to one sysexits code at the CLI edge (mb_err_exit_code). */
enum mb_errcode {
	MB_OK = 0,
	MB_EUSAGE = -1,    /* wrong command line */
	MB_EDATA = -2,     /* input data is malformed (spec, message, bounce) */
	MB_ENOINPUT = -3,  /* an input file is missing or unreadable */
	MB_ECONFIG = -4,   /* configuration is inconsistent (spec semantics, secrets) */
	MB_EUNAVAIL = -5,  /* a service could not be reached (relay, IMAP) */
	MB_ETEMP = -6,     /* temporary failure: try again later */
	MB_EPROTO = -7,    /* a server broke the protocol */
	MB_ENOPERM = -8,   /* permission denied (secret file mode, store path) */
	MB_ENOMEM = -9,    /* out of memory or a size limit was hit */
	MB_EIO = -10,      /* local I/O error (store, output directory) */
	MB_ESOFTWARE = -11 /* internal error */
};

struct mb_err {
	int code;
	char message[1024];
};

#define MB_ERR_INIT                                                                                \
	{                                                                                          \
		0,                                                                                 \
		{                                                                                  \
			0                                                                          \
		}                                                                                  \
	}

/* Sets err (may be NULL) and returns code, so callers can `return mb_err_set(...)`. */
int mb_err_set(struct mb_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context ("spec.json: " + message). */
int mb_err_prefix(struct mb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "mailbisect: MESSAGE" and a line end to out, the message made printable (control
 * characters, such as a terminal escape in a file name, as \xNN). */
void mb_err_print(FILE *out, const struct mb_err *err);

/* sysexits code for an MB_E code (0 for MB_OK). */
int mb_err_exit_code(int code);

/* Short name of the class ("data", "config", ...). */
const char *mb_err_class(int code);

#endif
