/* mailbisect command line: a table of commands and options; parsing is kept apart from
 * acting. Results go to stdout, diagnostics to stderr with the program name. */
#include "classify.h"
#include "mailbisect/err.h"
#include "mailbisect/file.h"
#include "mailbisect/frombounce.h"
#include "mailbisect/limits.h"
#include "mailbisect/report.h"
#include "mailbisect/run.h"
#include "mailbisect/spec.h"
#include "mailbisect/store.h"
#include "mailbisect/str.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

static volatile int interrupted; /* set by SIGINT/SIGTERM: finish the current step and stop */

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct cli {
	const char *command;
	const char *arg;   /* the command's first positional argument */
	char *const *args; /* every positional argument (commands that take several) */
	size_t n_args;
	const char *db;
	const char *out_dir;
	const char *limit;
	const char *from_bounce;
	const char *config;
	const char *save_spec;
	const char *message;
	const char *rules;
	const char *reply;
	const char *stage;
	bool json;
	bool dry_run;
	bool quiet;
	char *temp_message; /* a dry run's returned message, removed when it is done */
};

enum opt_kind { OPT_FLAG, OPT_VALUE };

static const struct option_def {
	const char *name;
	enum opt_kind kind;
	size_t offset;
	const char *help;
} options[] = {
    {"--json", OPT_FLAG, offsetof(struct cli, json),
     "print the result as JSON (one object; `classify`: one object per line)"},
    {"--db", OPT_VALUE, offsetof(struct cli, db),
     "store file (default $XDG_STATE_HOME/mailbisect/mailbisect.db)"},
    {"--dry-run", OPT_FLAG, offsetof(struct cli, dry_run),
     "build the variants and show the plan; send nothing"},
    {"--out", OPT_VALUE, offsetof(struct cli, out_dir),
     "output: a directory for `variants`, a file for `ticket`"},
    {"--limit", OPT_VALUE, offsetof(struct cli, limit), "most runs `history` lists (default 20)"},
    {"--from-bounce", OPT_VALUE, offsetof(struct cli, from_bounce),
     "`run`: build the experiment from this non-delivery report (with --config)"},
    {"--config", OPT_VALUE, offsetof(struct cli, config),
     "`run --from-bounce`: ESP config (a spec without name, message, domain, recipients)"},
    {"--save-spec", OPT_VALUE, offsetof(struct cli, save_spec),
     "`run --from-bounce`: also write the spec it builds to this file"},
    {"--message", OPT_VALUE, offsetof(struct cli, message),
     "`run --from-bounce`: the original message, when the report returned only its headers"},
    {"--quiet", OPT_FLAG, offsetof(struct cli, quiet),
     "no progress line (`classify`: no summary on stderr)"},
    {"--rules", OPT_VALUE, offsetof(struct cli, rules),
     "`classify`: a rules file tried before the built-in rules"},
    {"--reply", OPT_VALUE, offsetof(struct cli, reply),
     "`classify`: classify this SMTP reply instead of bounce messages"},
    {"--stage", OPT_VALUE, offsetof(struct cli, stage),
     "`classify --reply`: SMTP stage of the reply: connect, helo, auth, mail, rcpt, data"},
};

static int cmd_run(struct cli *cli);
static int cmd_variants(struct cli *cli);
static int cmd_show(struct cli *cli);
static int cmd_collect(struct cli *cli);
static int cmd_history(struct cli *cli);
static int cmd_resume(struct cli *cli);
static int cmd_ticket(struct cli *cli);
static int cmd_classify(struct cli *cli);

static const struct command_def {
	const char *name;
	const char *usage;
	const char *help;
	int (*fn)(struct cli *cli);
	bool many_args; /* takes any number of positional arguments */
} commands[] = {
    {"run", "run SPEC [--json] [--db FILE] [--dry-run] [--quiet]",
     "run the experiment SPEC describes and print the verdict", cmd_run, false},
    {"run", "run --from-bounce NDR --config ESP [--message FILE] [--save-spec FILE] [--dry-run]",
     "build the experiment from the bounce in hand and an ESP config, then run it", cmd_run, false},
    {"variants", "variants SPEC --out DIR",
     "write the planned variants as .eml files, send nothing", cmd_variants, false},
    {"show", "show RUN [--json] [--db FILE]", "print the report of a stored run", cmd_show, false},
    {"collect", "collect RUN [--json] [--db FILE]",
     "read the bounce mailbox again for a stored run (slow bounces), then report", cmd_collect,
     false},
    {"resume", "resume RUN [--json] [--db FILE] [--quiet]",
     "finish an interrupted run from its journal; nothing is sent twice", cmd_resume, false},
    {"history", "history [--json] [--limit N] [--db FILE]",
     "list stored runs, newest first, one line each", cmd_history, false},
    {"ticket", "ticket RUN [--out FILE] [--db FILE]",
     "write the escalation ticket (Markdown) for the ESP of a stored run", cmd_ticket, false},
    {"classify", "classify [--json] [--rules FILE] [--quiet] [PATH...]",
     "classify bounces: each PATH a message, an mbox, a Maildir or a folder of messages, or - "
     "(stdin, also the default); one line per recipient",
     cmd_classify, true},
    {"classify", "classify --reply TEXT [--stage STAGE] [--rules FILE] [--json]",
     "classify one SMTP reply (reason, fault, hard or soft)", cmd_classify, true},
};

static void usage(FILE *out)
{
	fputs("usage: mailbisect COMMAND [OPTIONS]\n\ncommands:\n", out);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %s\n      %s\n", commands[i].usage, commands[i].help);
	fputs("\noptions:\n", out);
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
		fprintf(out, "  %-12s %s\n", options[i].name, options[i].help);
	fputs("\nexit codes: 0 verdict reached, 64 usage, 65 bad data, 66 missing input,\n"
	      "  69 service unavailable, 70 internal error, 74 I/O error, 75 experiment\n"
	      "  incomplete, 76 protocol error, 77 permission denied, 78 configuration error\n"
	      "  (classify: 0 every input read, 65 a message could not be read,\n"
	      "  66 an input missing or unreadable; the other inputs are still read;\n"
	      "  75 interrupted)\n",
	      out);
}

/* mailbisect COMMAND --help: that command's forms. */
static void command_usage(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(commands[i].name, name))
			printf("usage: mailbisect %s\n      %s\n", commands[i].usage,
			       commands[i].help);
	puts("(mailbisect --help lists every command, option and exit code)");
}

static int fail(const struct mb_err *err)
{
	mb_err_print(stderr, err);
	return mb_err_exit_code(err->code);
}

#define SHOWN_ARG_CHARS 40 /* an argument echoed in a message is cut after this many bytes */

/* A command-line argument as a message shows it: control characters as '?', and cut (at a
 * character boundary) with "..." when long, so a 5000-character argument is not echoed whole. */
static const char *shown_arg(const char *arg, char out[SHOWN_ARG_CHARS + 4])
{
	size_t n = 0;

	for (; arg[n] && n < SHOWN_ARG_CHARS; n++)
		out[n] = (unsigned char)arg[n] < 0x20 || arg[n] == 0x7F ? '?' : arg[n];
	if (arg[n]) {
		while (n && ((unsigned char)arg[n] & 0xC0) == 0x80)
			n--; /* not in the middle of a UTF-8 sequence */
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static int usage_error(const char *fmt, const char *what)
{
	char shown[SHOWN_ARG_CHARS + 4];

	fputs("mailbisect: ", stderr);
	fprintf(stderr, fmt, shown_arg(what, shown));
	fputs("\n(run `mailbisect --help` for usage)\n", stderr);
	return EX_USAGE;
}

/* Positional arguments are gathered at the front of argv[2..] (each is moved to a slot
 * already read), so a command that takes several gets them in order without a copy. */
/* Whether one of the forms of the command named name lists the option. */
static bool command_takes(const char *name, const char *option)
{
	size_t n = strlen(option);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		const char *u = commands[i].usage;
		if (strcmp(commands[i].name, name) != 0)
			continue;
		for (const char *p = u; (p = strstr(p, option)); p += n)
			if ((p[n] == ' ' || p[n] == ']' || p[n] == '\0') &&
			    (p == u || p[-1] == ' ' || p[-1] == '['))
				return true;
	}
	return false;
}

static int parse_args(int argc, char **argv, const struct command_def *command, struct cli *cli)
{
	cli->args = argv + 2;
	for (int i = 2; i < argc; i++) {
		const struct option_def *opt = NULL;
		for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
			if (strcmp(argv[i], options[k].name) == 0)
				opt = &options[k];
		if (!opt && argv[i][0] == '-' && argv[i][1])
			return usage_error("unknown option %s", argv[i]);
		if (!opt && !argv[i][0])
			return usage_error("%s: an empty argument names no file or run",
			                   cli->command);
		if (!opt) {
			if (cli->arg && !command->many_args)
				return usage_error("unexpected argument %s", argv[i]);
			if (!cli->arg)
				cli->arg = argv[i];
			argv[2 + cli->n_args++] = argv[i];
			continue;
		}
		if (opt->kind == OPT_FLAG) {
			*(bool *)((char *)cli + opt->offset) = true;
		} else {
			if (++i >= argc)
				return usage_error("option %s needs a value", opt->name);
			/* "" would be no file at all (for --db: a store SQLite throws away) */
			if (!argv[i][0])
				return usage_error("option %s needs a value, got an empty one",
				                   opt->name);
			/* one value: a second would silently win over the first */
			if (*(const char **)((char *)cli + opt->offset))
				return usage_error("option %s given twice", opt->name);
			*(const char **)((char *)cli + opt->offset) = argv[i];
		}
		/* an option of another command is a mistake, never ignored (resume --dry-run
		 * would send) */
		if (opt && !command_takes(command->name, opt->name)) {
			char what[160];
			snprintf(what, sizeof what, "%s does not take %s", command->name,
			         opt->name);
			return usage_error("%s (see mailbisect COMMAND --help)", what);
		}
	}
	return 0;
}

/* Only `run` creates the store: elsewhere a mistyped --db must not become a new, empty store. */
enum store_mode { STORE_CREATE, STORE_EXISTING };

static int open_store(struct cli *cli, enum store_mode mode, struct mb_store **store,
                      struct mb_err *err)
{
	char *path = cli->db ? strdup(cli->db) : mb_store_default_path();
	int rc;
	if (!path)
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	rc = mode == STORE_CREATE ? mb_store_open(store, path, err)
	                          : mb_store_open_existing(store, path, err);
	free(path);
	return rc;
}

/* The plan without sending: variants are built (so builder errors show) but not kept. */
static int dry_run(const struct mb_spec *spec, bool json, bool show_spec)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_planned_send *plan;
	struct mb_message *msg;
	size_t n;
	int rc;

	if ((rc = mb_message_load(&msg, spec->message_path, &err)))
		return fail(&err);
	for (size_t v = 0; v < spec->n_variants && !rc; v++) {
		struct mb_buf out = MB_BUF_INIT;
		struct mb_variant_opts vo = {"<dry-run@mailbisect.invalid>", 0,
		                             mb_run_variant_from(spec, spec->variants[v])};
		rc = mb_variant_build(msg, spec->variants[v], &vo, &out, &err);
		mb_buf_free(&out);
	}
	mb_message_free(msg);
	if (rc || (rc = mb_run_plan(spec, &plan, &n, &err)))
		return fail(&err);
	if (show_spec && !json) { /* the spec built from a bounce, once its message reads */
		char *text = NULL;
		if (!mb_spec_to_json(spec, &text))
			printf("%s\n", text);
		free(text);
	}
	if (json) {
		cJSON *root = cJSON_CreateObject(), *sends = cJSON_AddArrayToObject(root, "plan");
		char *text;
		cJSON_AddStringToObject(root, "name", spec->name);
		cJSON_AddStringToObject(root, "domain", spec->domain);
		cJSON_AddBoolToObject(root, "dry_run", 1);
		{
			/* the spec exactly as it would run (defaults filled in) */
			char *spec_text = NULL;
			if (!mb_spec_to_json(spec, &spec_text))
				cJSON_AddItemToObject(root, "spec", cJSON_Parse(spec_text));
			free(spec_text);
		}
		for (size_t i = 0; i < n; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "seq", plan[i].seq);
			cJSON_AddStringToObject(o, "variant", mb_variant_name(plan[i].variant));
			cJSON_AddStringToObject(o, "pool", plan[i].pool->name);
			cJSON_AddStringToObject(o, "recipient", plan[i].recipient);
			cJSON_AddItemToArray(sends, o);
		}
		text = cJSON_Print(root);
		printf("%s\n", text ? text : "{}");
		free(text);
		cJSON_Delete(root);
	} else {
		printf(
		    "Dry run of %s to %s: %zu sends, %ld ms apart, window %ld s; nothing sent.\n",
		    spec->name, spec->domain, n, spec->pacing_ms, spec->window_seconds);
		for (size_t i = 0; i < n; i++)
			printf("  #%-3d %-15s via %-10s (%s:%ld) to %s\n", plan[i].seq,
			       mb_variant_name(plan[i].variant), plan[i].pool->name,
			       plan[i].pool->host, plan[i].pool->port, plan[i].recipient);
	}
	free(plan);
	return 0;
}

/* Exit status of a finished run: incomplete experiments are temporary failures. */
static int run_exit_code(struct mb_store *store, int64_t run_id)
{
	struct mb_verdict v;
	struct mb_err err = MB_ERR_INIT;
	int code;
	if (mb_run_verdict(store, run_id, &v, &err))
		return fail(&err);
	code = strcmp(v.fault, "incomplete") == 0 ? EX_TEMPFAIL : 0;
	mb_verdict_clear(&v);
	return code;
}

static int print_report(struct cli *cli, struct mb_store *store, int64_t run_id)
{
	struct mb_err err = MB_ERR_INIT;
	int rc = cli->json ? mb_report_json(store, run_id, stdout, &err)
	                   : mb_report_text(store, run_id, stdout, &err);
	return rc ? fail(&err) : 0;
}

/* Where a message taken out of a bounce is kept: beside --save-spec, else in the state
 * directory next to the store. Caller frees. */
static char *returned_message_path(const struct cli *cli, const char *name)
{
	struct mb_buf path = MB_BUF_INIT;
	char *base = NULL, *slash;
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32];

	if (cli->save_spec) {
		base = strdup(cli->save_spec);
		slash = base ? strrchr(base, '/') : NULL;
		if (slash)
			slash[slash == base ? 1 : 0] = '\0';
		else if (base)
			strcpy(base, ".");
		/* absolute: the spec names the message, and a spec's relative paths are read
		 * from the spec's own folder */
		if (base) {
			char *absolute = realpath(base, NULL);
			free(base);
			base = absolute;
		}
	} else {
		base = mb_store_default_path();
		slash = base ? strrchr(base, '/') : NULL;
		if (slash)
			strcpy(slash, "/messages");
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	/* the process id keeps two reports taken in the same second apart */
	if (!base || mb_buf_printf(&path, "%s/%s-%s-%ld.eml", base, name, stamp, (long)getpid())) {
		free(base);
		mb_buf_free(&path);
		return NULL;
	}
	free(base);
	return mb_buf_steal(&path);
}

/* message in a new file of the temporary directory ($TMPDIR, else /tmp), mode 0600. */
static int temp_message(const struct mb_buf *message, char **path, struct mb_err *err)
{
	const char *dir = getenv("TMPDIR"), *what = "create";
	struct mb_buf name = MB_BUF_INIT;
	int fd, e;

	*path = NULL;
	if (mb_buf_printf(&name, "%s/mailbisect-bounce-XXXXXX", dir && *dir ? dir : "/tmp"))
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	if ((fd = mkstemp(name.data)) < 0)
		goto failed;
	what = "write";
	for (size_t done = 0; done < message->len;) {
		ssize_t n = write(fd, message->data + done, message->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			close(fd);
			errno = e;
			goto failed;
		}
		done += (size_t)n;
	}
	if (close(fd) != 0)
		goto failed;
	if (!(*path = realpath(name.data, NULL))) { /* a relative $TMPDIR */
		e = errno;
		unlink(name.data);
		mb_err_set(err, MB_EIO, "%s: %s", name.data, strerror(e));
		mb_buf_free(&name);
		return MB_EIO;
	}
	mb_buf_free(&name);
	return 0;
failed:
	e = errno;
	if (fd >= 0)
		unlink(name.data);
	mb_err_set(err, MB_EIO, "%s: cannot %s: %s", name.data, what, strerror(e));
	mb_buf_free(&name);
	return MB_EIO;
}

/* Both name one existing file. */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static void temp_message_remove(struct cli *cli)
{
	if (cli->temp_message) {
		unlink(cli->temp_message);
		free(cli->temp_message);
		cli->temp_message = NULL;
	}
}

/* run --from-bounce NDR --config ESP: the failing message and the failed recipient from the
 * report, everything else from the config. */
static int spec_from_bounce(struct cli *cli, struct mb_spec **spec)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_buf ndr = MB_BUF_INIT, name = MB_BUF_INIT;
	struct mb_from_bounce fb;
	char *message_path = NULL, *json = NULL, *dir = NULL, *slash;
	bool wrote_message = false;
	int rc;

	*spec = NULL;
	if (cli->save_spec) { /* its folder must be there: nothing is made in a mistyped path */
		char *folder = strdup(cli->save_spec), *end = folder ? strrchr(folder, '/') : NULL;
		struct stat st;
		if (end)
			end[end == folder ? 1 : 0] = '\0';
		rc = !folder                                              ? MB_ENOMEM
		     : end && (stat(folder, &st) || !S_ISDIR(st.st_mode)) ? MB_EIO
		                                                          : 0;
		if (!rc && (same_file(cli->save_spec, cli->config) ||
		            same_file(cli->save_spec, cli->from_bounce))) {
			rc = MB_EUSAGE;
			mb_err_set(&err, rc,
			           "--save-spec %s is an input of this command; name a new file",
			           cli->save_spec);
		} else if (rc == MB_EIO)
			mb_err_set(&err, rc, "--save-spec %s: the folder %s does not exist",
			           cli->save_spec, folder);
		else if (rc)
			mb_err_set(&err, rc, "out of memory");
		free(folder);
		if (rc)
			return fail(&err);
	}
	if ((rc = mb_file_read(cli->from_bounce, MB_MAX_MESSAGE_BYTES, &ndr, &err)))
		return fail(&err);
	rc = mb_from_bounce_read(cli->from_bounce, ndr.data, ndr.len, &fb, &err);
	mb_buf_free(&ndr);
	if (rc)
		return fail(&err);
	fprintf(stderr, "mailbisect: %s: %s was refused", cli->from_bounce, fb.recipient);
	if (fb.diagnostic) {
		struct mb_buf shown = MB_BUF_INIT;
		if (!mb_str_printable(&shown, fb.diagnostic, strlen(fb.diagnostic), false) &&
		    !mb_buf_terminate(&shown))
			fprintf(stderr, ": %s", shown.data);
		mb_buf_free(&shown);
	}
	fprintf(stderr, " [%s, %s]\n", fb.cls.reason, mb_fault_name(fb.cls.fault));
	if (mb_buf_puts(&name, "bounce-") || mb_buf_puts(&name, fb.domain))
		rc = mb_err_set(&err, MB_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < name.len; i++)
		if (!isalnum((unsigned char)name.data[i]) && !strchr("._-", name.data[i]))
			name.data[i] = '-';
	if (!rc && name.len > 64)
		name.data[name.len = 64] = '\0';
	if (!rc && cli->message) {
		/* relative to where the command runs, not to the config's folder */
		message_path = realpath(cli->message, NULL);
		if (!message_path)
			rc = mb_err_set(&err, MB_ENOINPUT, "%s: cannot open: %s", cli->message,
			                strerror(errno));
	} else if (!rc && fb.message.len && cli->dry_run && !cli->save_spec) {
		/* a dry run keeps nothing: the message lives in a temporary file while it runs */
		rc = temp_message(&fb.message, &message_path, &err);
		if (!rc && !(cli->temp_message = strdup(message_path)))
			rc = mb_err_set(&err, MB_ENOMEM, "out of memory");
	} else if (!rc && fb.message.len) {
		message_path = returned_message_path(cli, name.data);
		char *parent = message_path ? strdup(message_path) : NULL;
		if (parent && (slash = strrchr(parent, '/')))
			*slash = '\0';
		if (!message_path || !parent)
			rc = mb_err_set(&err, MB_ENOMEM, "out of memory");
		/* the state directory is made when missing; --save-spec's folder must exist */
		else if (!(rc = cli->save_spec ? 0 : mb_file_mkdirs(parent, &err)) &&
		         !(rc = mb_file_write_atomic(message_path, fb.message.data, fb.message.len,
		                                     &err)))
			wrote_message = true;
		free(parent);
	} else if (!rc) {
		rc = mb_err_set(
		    &err, MB_EDATA, "%s: %s; give the original message with --message FILE",
		    cli->from_bounce,
		    fb.headers_only ? "only the headers of the refused message came back"
		                    : "the refused message did not come back with it");
	}
	if (!rc)
		rc = mb_spec_from_config(cli->config, name.data, message_path, fb.domain,
		                         fb.recipient, &json, &err);
	if (!rc && cli->save_spec)
		rc = mb_file_write_atomic(cli->save_spec, json, strlen(json), &err);
	if (!rc) {
		dir = strdup(cli->config);
		slash = dir ? strrchr(dir, '/') : NULL;
		if (slash)
			slash[slash == dir ? 1 : 0] = '\0';
		rc = mb_spec_parse(spec, json, strlen(json), cli->config, slash ? dir : NULL, &err);
	}
	if (!rc && cli->save_spec)
		fprintf(stderr, "mailbisect: spec written to %s\n", cli->save_spec);
	if (rc && wrote_message) /* no spec names it: it would be left behind */
		unlink(message_path);
	free(dir);
	free(json);
	free(message_path);
	mb_buf_free(&name);
	mb_from_bounce_clear(&fb);
	return rc ? fail(&err) : 0;
}

static int cmd_run(struct cli *cli)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_run_opts opts = {false, &interrupted};
	struct mb_spec *spec;
	struct mb_store *store;
	int64_t run_id = 0;
	int rc, code;

	if (cli->from_bounce) {
		if (cli->arg)
			return usage_error("unexpected argument %s: --from-bounce builds the spec",
			                   cli->arg);
		if (!cli->config)
			return usage_error("%s needs --config ESP.json (pools, mailbox, limits)",
			                   "--from-bounce");
		if ((code = spec_from_bounce(cli, &spec)) != 0) {
			temp_message_remove(cli);
			return code;
		}
	} else if (cli->config || cli->save_spec || cli->message) {
		return usage_error("%s go with --from-bounce",
		                   "--config, --save-spec and --message");
	} else if (!cli->arg) {
		return usage_error("%s needs a spec file", "run");
	} else if ((rc = mb_spec_load(&spec, cli->arg, &err))) {
		return fail(&err);
	}
	if (cli->dry_run) {
		code = dry_run(spec, cli->json, cli->from_bounce != NULL);
		mb_spec_free(spec);
		temp_message_remove(cli);
		return code;
	}
	if ((rc = open_store(cli, STORE_CREATE, &store, &err))) {
		mb_spec_free(spec);
		return fail(&err);
	}
	opts.progress = !cli->quiet && isatty(STDERR_FILENO);
	rc = mb_run_execute(spec, store, &opts, &run_id, &err);
	mb_spec_free(spec);
	if (rc) {
		code = fail(&err);
		if (run_id)
			fprintf(stderr,
			        "mailbisect: run %lld is recorded; `mailbisect show %lld` "
			        "shows what happened\n",
			        (long long)run_id, (long long)run_id);
	} else {
		code = print_report(cli, store, run_id);
		if (!code)
			code = interrupted ? EX_TEMPFAIL : run_exit_code(store, run_id);
	}
	mb_store_close(store);
	return code;
}

/* Builds every variant of the spec into built[] (one per spec->variants entry, in order). */
static int build_variants(const struct mb_spec *spec, const struct mb_message *msg,
                          struct mb_buf built[MB_VARIANT_COUNT], struct mb_err *err)
{
	int rc = 0;

	for (size_t v = 0; v < spec->n_variants && !rc; v++) {
		struct mb_buf id = MB_BUF_INIT;
		struct mb_variant_opts vo = {NULL, 0, mb_run_variant_from(spec, spec->variants[v])};
		if (mb_buf_printf(&id, "<preview.%s@mailbisect.invalid>",
		                  mb_variant_name(spec->variants[v])))
			return mb_err_set(err, MB_ENOMEM, "out of memory");
		vo.message_id = id.data;
		rc = mb_variant_build(msg, spec->variants[v], &vo, &built[v], err);
		mb_buf_free(&id);
	}
	return rc;
}

/* Every variant is built before the first file is written: one that cannot be built leaves
 * no files behind. */
static int cmd_variants(struct cli *cli)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_spec *spec;
	struct mb_message *msg = NULL;
	struct mb_buf built[MB_VARIANT_COUNT];
	int rc;

	for (size_t v = 0; v < MB_VARIANT_COUNT; v++) {
		struct mb_buf empty = MB_BUF_INIT;
		built[v] = empty;
	}

	if (!cli->arg || !cli->out_dir)
		return usage_error("%s needs a spec file and --out DIR", "variants");
	if ((rc = mb_spec_load(&spec, cli->arg, &err)))
		return fail(&err);
	rc = mb_message_load(&msg, spec->message_path, &err);
	if (!rc)
		rc = build_variants(spec, msg, built, &err);
	mb_message_free(msg);
	if (!rc)
		rc = mb_file_mkdirs(cli->out_dir, &err);
	for (size_t v = 0; v < spec->n_variants && !rc; v++) {
		struct mb_buf path = MB_BUF_INIT;
		if (mb_buf_printf(&path, "%s/%s.eml", cli->out_dir,
		                  mb_variant_name(spec->variants[v])))
			rc = mb_err_set(&err, MB_ENOMEM, "out of memory");
		else if (!(rc = mb_file_write_atomic(path.data, built[v].data, built[v].len, &err)))
			printf("%s\n", path.data);
		mb_buf_free(&path);
	}
	for (size_t v = 0; v < MB_VARIANT_COUNT; v++)
		mb_buf_free(&built[v]);
	mb_spec_free(spec);
	return rc ? fail(&err) : 0;
}

static int parse_run_id(const char *arg, const char *command, long *run_id)
{
	if (!arg || mb_str_to_long(arg, 1, 0x7fffffffL, run_id))
		return usage_error(command, arg ? arg : "none");
	return 0;
}

static int cmd_show(struct cli *cli)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *store;
	long run_id;
	int code;

	if ((code = parse_run_id(cli->arg, "show needs a run number, got %s", &run_id)))
		return code;
	if (open_store(cli, STORE_EXISTING, &store, &err))
		return fail(&err);
	code = print_report(cli, store, run_id);
	mb_store_close(store);
	return code;
}

static int cmd_collect(struct cli *cli)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *store;
	long run_id;
	int code, resolved;

	if ((code = parse_run_id(cli->arg, "collect needs a run number, got %s", &run_id)))
		return code;
	if (open_store(cli, STORE_EXISTING, &store, &err))
		return fail(&err);
	if (mb_run_collect(store, run_id, &resolved, &err)) {
		mb_store_close(store);
		return fail(&err);
	}
	code = print_report(cli, store, run_id);
	if (!code)
		code = run_exit_code(store, run_id);
	mb_store_close(store);
	return code;
}

static int cmd_resume(struct cli *cli)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_run_opts opts = {false, &interrupted};
	struct mb_store *store;
	long run_id;
	int code;

	if ((code = parse_run_id(cli->arg, "resume needs a run number, got %s", &run_id)))
		return code;
	if (open_store(cli, STORE_EXISTING, &store, &err))
		return fail(&err);
	opts.progress = !cli->quiet && isatty(STDERR_FILENO);
	if (mb_run_resume(store, run_id, &opts, &err)) {
		code = fail(&err);
	} else {
		code = print_report(cli, store, run_id);
		if (!code)
			code = interrupted ? EX_TEMPFAIL : run_exit_code(store, run_id);
	}
	mb_store_close(store);
	return code;
}

static int cmd_history(struct cli *cli)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *store;
	struct mb_run_row *runs;
	cJSON *list = NULL;
	long limit = 20;
	size_t n;

	if (cli->arg)
		return usage_error("unexpected argument %s", cli->arg);
	if (cli->limit && mb_str_to_long(cli->limit, 1, 100000, &limit))
		return usage_error("--limit needs a number from 1 to 100000, got %s", cli->limit);
	if (open_store(cli, STORE_EXISTING, &store, &err))
		return fail(&err);
	if (mb_store_runs_list(store, (int)limit, &runs, &n, &err)) {
		mb_store_close(store);
		return fail(&err);
	}
	if (cli->json)
		list = cJSON_CreateArray();
	else if (n == 0)
		puts("No runs stored yet.");
	for (size_t i = 0; i < n; i++) {
		const struct mb_run_row *r = &runs[i];
		struct mb_verdict v;
		/* without memory for it the status stays as recorded */
		(void)mb_run_status_settle(store, &runs[i]);
		/* recomputed from the sends, as `show` does: later bounces count */
		if (mb_run_verdict(store, r->id, &v, &err)) {
			mb_store_run_rows_free(runs, n);
			cJSON_Delete(list);
			mb_store_close(store);
			return fail(&err);
		}
		if (list) {
			cJSON *o = cJSON_CreateObject(), *vo;
			cJSON_AddNumberToObject(o, "run_id", (double)r->id);
			cJSON_AddStringToObject(o, "name", r->name);
			cJSON_AddStringToObject(o, "domain", r->domain);
			cJSON_AddStringToObject(o, "status", r->status);
			cJSON_AddStringToObject(o, "created_at", r->created_at);
			if (r->finished_at)
				cJSON_AddStringToObject(o, "finished_at", r->finished_at);
			else
				cJSON_AddNullToObject(o, "finished_at");
			vo = cJSON_AddObjectToObject(o, "verdict");
			cJSON_AddStringToObject(vo, "fault", v.fault);
			if (v.detail)
				cJSON_AddStringToObject(vo, "detail", v.detail);
			else
				cJSON_AddNullToObject(vo, "detail");
			cJSON_AddNumberToObject(vo, "confidence",
			                        (double)(long)(v.confidence * 100 + 0.5) / 100);
			cJSON_AddItemToArray(list, o);
		} else {
			printf("%5lld  %s  %-20s %-24s %-11s %s", (long long)r->id, r->created_at,
			       r->name, r->domain, r->status, v.fault);
			if (v.detail)
				printf(" (%s)", v.detail);
			if (v.confidence > 0)
				printf(", confidence %.2f", v.confidence);
			putchar('\n');
		}
		mb_verdict_clear(&v);
	}
	if (list) {
		char *text = cJSON_Print(list);
		printf("%s\n", text ? text : "[]");
		free(text);
		cJSON_Delete(list);
	}
	mb_store_run_rows_free(runs, n);
	mb_store_close(store);
	return 0;
}

static int cmd_ticket(struct cli *cli)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *store;
	FILE *mem;
	char *data = NULL;
	size_t len = 0;
	long run_id;
	int code, rc;

	if ((code = parse_run_id(cli->arg, "ticket needs a run number, got %s", &run_id)))
		return code;
	if (open_store(cli, STORE_EXISTING, &store, &err))
		return fail(&err);
	/* written to memory first: a failed ticket leaves no half-written file behind */
	mem = open_memstream(&data, &len);
	if (!mem) {
		mb_store_close(store);
		mb_err_set(&err, MB_ENOMEM, "out of memory");
		return fail(&err);
	}
	rc = mb_report_ticket(store, run_id, mem, &err);
	fclose(mem);
	mb_store_close(store);
	if (!rc && cli->out_dir)
		rc = mb_file_write_atomic(cli->out_dir, data, len, &err);
	else if (!rc && (fwrite(data, 1, len, stdout) != len || fflush(stdout)))
		rc = mb_err_set(&err, MB_EIO, "cannot write the ticket to standard output");
	if (!rc && cli->out_dir)
		fprintf(stderr, "mailbisect: ticket written to %s\n", cli->out_dir);
	free(data);
	return rc ? fail(&err) : 0;
}

static int cmd_classify(struct cli *cli)
{
	struct cli_classify opts = {
	    .paths = cli->args,
	    .n_paths = cli->n_args,
	    .rules = cli->rules,
	    .reply = cli->reply,
	    .stage = cli->stage,
	    .json = cli->json,
	    .quiet = cli->quiet,
	    .interrupted = &interrupted,
	};
	return cli_classify(&opts);
}

/* Results that never reached stdout (a full disk, a closed pipe) must not pass for success:
 * stdio reports a failed write only at the flush. An earlier error keeps its own code. */
static int check_stdout(int code)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return code;
	fprintf(stderr, "mailbisect: cannot write the results to standard output: %s\n",
	        errno ? strerror(errno) : "write error");
	return code ? code : EX_IOERR;
}

static int dispatch(int argc, char **argv)
{
	struct cli cli = {0};
	struct sigaction sa;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("mailbisect %s\n", MB_VERSION);
		return 0;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	cli.command = argv[1];
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name)) {
			int rc;
			for (int k = 2; k < argc; k++)
				if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
					command_usage(argv[1]);
					return 0;
				}
			rc = parse_args(argc, argv, &commands[i], &cli);
			return rc ? rc : commands[i].fn(&cli);
		}
	return usage_error("unknown command %s", argv[1]);
}

int main(int argc, char **argv)
{
	return check_stdout(dispatch(argc, argv));
}
