/* `mailbisect classify`: every message of the inputs read as a bounce and printed one line per
 * recipient record; an input that cannot be read is reported and the batch goes on. */
#include "classify.h"

#include "mailbisect/bounce.h"
#include "mailbisect/limits.h"
#include "mailbisect/classify.h"
#include "mailbisect/classify_report.h"
#include "mailbisect/err.h"
#include "mailbisect/mailfile.h"
#include "mailbisect/outcome.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

/* What a batch found, for the summary and the exit code. */
struct tally {
	size_t messages, bounces, records, not_bounces;
	size_t noinput, data, other; /* inputs or messages that could not be read, by class */
	int other_exit;              /* exit code of the first "other" error */
};

/* A command-line argument as it can be shown: at most 80 bytes, control characters as '?'. */
static const char *shown_arg(const char *arg, char out[84])
{
	size_t n = 0;

	for (; arg[n] && n < 80; n++)
		out[n] = (unsigned char)arg[n] < 0x20 || arg[n] == 0x7F ? '?' : arg[n];
	if (arg[n]) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static int usage_error(const char *fmt, const char *what)
{
	char shown[84];

	fputs("mailbisect: ", stderr);
	fprintf(stderr, fmt, shown_arg(what, shown));
	fputs("\n(run `mailbisect --help` for usage)\n", stderr);
	return EX_USAGE;
}

/* A write to standard output that failed is reported once, by main's last check of stdout
 * (which sees the stream's error flag): here it only stops the command. */
static int fail(const struct mb_err *err)
{
	if (err->code == MB_EIO)
		return EX_IOERR;
	mb_err_print(stderr, err);
	return mb_err_exit_code(err->code);
}

static void count_error(struct tally *t, const struct mb_err *err)
{
	mb_err_print(stderr, err);
	if (err->code == MB_ENOINPUT) {
		t->noinput++;
	} else if (err->code == MB_EDATA) {
		t->data++;
	} else if (!t->other++) {
		t->other_exit = mb_err_exit_code(err->code);
	}
}

/* The reply code and enhanced status at the start of a reply ("550 5.7.1 ..." or
 * "550-5.7.1 ..."), for display; the classifier reads them itself. */
static void reply_parts(const char *text, int *code, char *status, size_t size)
{
	const char *p = text;
	size_t n;

	*code = 0;
	status[0] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	if (p[0] >= '2' && p[0] <= '5' && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && (p[3] == ' ' || p[3] == '-' || p[3] == '\0')) {
		*code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		p += 3;
		while (*p == ' ' || *p == '-')
			p++;
	}
	/* class "." subject (1-3 digits) "." detail (1-3 digits), RFC 3463 */
	if (!(p[0] == '2' || p[0] == '4' || p[0] == '5') || p[1] != '.')
		return;
	n = 2;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;
		while (isdigit((unsigned char)p[n]) && digits < 4)
			n++, digits++;
		if (digits < 1 || digits > 3 || (part == 0 && p[n] != '.'))
			return;
		if (part == 0)
			n++;
	}
	if (p[n] == '.' || isdigit((unsigned char)p[n]) || n >= size)
		return;
	memcpy(status, p, n);
	status[n] = '\0';
}

static int parse_stage(const char *name, enum mb_stage *stage)
{
	char names[128] = "", shown[84];

	*stage = MB_STAGE_UNKNOWN;
	if (!name || mb_stage_from_name(name, stage) == 0)
		return 0;
	for (int s = MB_STAGE_UNKNOWN + 1; s < MB_STAGE_COUNT; s++) {
		if (names[0])
			strcat(names, ", ");
		strcat(names, mb_stage_name((enum mb_stage)s));
	}
	fprintf(stderr, "mailbisect: --stage must be one of %s; got %s\n", names,
	        shown_arg(name, shown));
	fputs("(run `mailbisect --help` for usage)\n", stderr);
	return EX_USAGE;
}

static int classify_reply(const struct cli_classify *opts, const struct mb_rules *rules,
                          enum mb_stage stage)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_classification cls;
	struct mb_classify_reply reply = {opts->reply, stage, 0, NULL, &cls};
	char status[16];

	reply_parts(opts->reply, &reply.code, status, sizeof status);
	reply.status = status[0] ? status : NULL;
	mb_classify_reply_with(rules, reply.stage, 0, NULL, opts->reply, &cls);
	if (mb_classify_report_reply(stdout, opts->json, &reply, &err))
		return fail(&err);
	return 0;
}

/* Reads one message as a bounce and prints its records. Returns 0, or an error that stops the
 * batch (standard output cannot be written). */
static int classify_message(const struct cli_classify *opts, const struct mb_rules *rules,
                            const struct mb_mailfile_message *msg, struct tally *t,
                            struct mb_err *err)
{
	struct mb_classify_origin origin = {msg->file, msg->number, msg->in_mbox};
	struct mb_bounce *b = NULL;
	int rc;

	t->messages++;
	if ((rc = mb_bounce_read(rules, msg->data, msg->len, &b, err))) {
		/* the reader's own "bounce: " says nothing here: name the file instead */
		const char *why =
		    strncmp(err->message, "bounce: ", 8) ? err->message : err->message + 8;
		char what[sizeof err->message];
		snprintf(what, sizeof what, "%s", why);
		if (msg->in_mbox)
			mb_err_set(err, rc, "%s#%zu: %s", msg->file, msg->number, what);
		else
			mb_err_set(err, rc, "%s: %s", msg->file, what);
		count_error(t, err);
		return 0;
	}
	if (b->n_records == 0) {
		t->not_bounces++;
	} else {
		t->bounces++;
		t->records += b->n_records;
	}
	/* the reader stops at a fixed number of recipients per bounce: say so, never drop
	 * records silently */
	if (b->truncated) {
		if (msg->in_mbox)
			fprintf(stderr,
			        "mailbisect: %s#%zu: only the first %d recipients are read\n",
			        msg->file, msg->number, MB_MAX_DSN_RECIPIENTS);
		else
			fprintf(stderr, "mailbisect: %s: only the first %d recipients are read\n",
			        msg->file, MB_MAX_DSN_RECIPIENTS);
	}
	rc = mb_classify_report_bounce(stdout, opts->json, &origin, b, err);
	mb_bounce_free(b);
	return rc;
}

static bool stopped(const struct cli_classify *opts)
{
	return opts->interrupted && *opts->interrupted;
}

static int classify_path(const struct cli_classify *opts, const struct mb_rules *rules,
                         const char *path, struct tally *t, struct mb_err *err)
{
	struct mb_mailfile *mf;
	struct mb_mailfile_message msg;
	int rc;

	if ((rc = mb_mailfile_open(&mf, path, NULL, err))) {
		count_error(t, err);
		return 0;
	}
	while (!stopped(opts)) {
		if ((rc = mb_mailfile_next(mf, &msg, err)) == 0)
			break;
		if (rc < 0) { /* this message is lost, the rest of the file still read */
			count_error(t, err);
			rc = 0;
		} else if ((rc = classify_message(opts, rules, &msg, t, err))) {
			break; /* standard output failed */
		}
	}
	mb_mailfile_close(mf);
	return rc;
}

static int batch_exit_code(const struct tally *t)
{
	if (t->other)
		return t->other_exit;
	if (t->noinput)
		return EX_NOINPUT;
	return t->data ? EX_DATAERR : 0;
}

static int classify_files(const struct cli_classify *opts, const struct mb_rules *rules)
{
	static char *const standard_input[] = {"-"};
	char *const *paths = opts->paths;
	size_t n_paths = opts->n_paths;
	struct mb_err err = MB_ERR_INIT;
	struct tally t = {0};
	int rc = 0;

	if (n_paths == 0) {
		paths = standard_input;
		n_paths = 1;
	}
	for (size_t i = 0; i < n_paths && !rc && !stopped(opts); i++)
		rc = classify_path(opts, rules, paths[i], &t, &err);
	if (!rc && fflush(stdout) != 0)
		rc = mb_err_set(&err, MB_EIO, "cannot write to standard output");
	if (rc)
		return fail(&err); /* standard output failed: the batch is pointless */
	if (!opts->quiet)
		fprintf(stderr,
		        "mailbisect: messages %zu, bounces %zu (records %zu), not bounces %zu, "
		        "errors %zu%s\n",
		        t.messages, t.bounces, t.records, t.not_bounces,
		        t.noinput + t.data + t.other, stopped(opts) ? "; interrupted" : "");
	/* an interrupted batch read only part of its input: not a success */
	return stopped(opts) ? EX_TEMPFAIL : batch_exit_code(&t);
}

int cli_classify(const struct cli_classify *opts)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_rules *rules = NULL;
	enum mb_stage stage;
	int code;

	/* the command line is checked before anything is read */
	if (opts->reply && opts->n_paths)
		return usage_error("unexpected argument %s: --reply classifies the reply given",
		                   opts->paths[0]);
	if (opts->stage && !opts->reply)
		return usage_error("%s goes with --reply", "--stage");
	if ((code = parse_stage(opts->stage, &stage)))
		return code;
	if (!opts->reply && !opts->n_paths && isatty(STDIN_FILENO))
		return usage_error("classify needs %s (or input on standard input)",
		                   "FILE, a folder or -");
	if (mb_rules_builtin(&rules, &err) ||
	    (opts->rules && mb_rules_load_file(rules, opts->rules, &err))) {
		mb_rules_free(rules);
		return fail(&err);
	}
	code = opts->reply ? classify_reply(opts, rules, stage) : classify_files(opts, rules);
	mb_rules_free(rules);
	return code;
}
