/* Benchmark of bounce reading on the bounce corpus held in memory: GMime's bare parse (the
 * floor), mailbisect's read and classify, and Sisimai (Perl) when it is installed. Prints
 * figures only; it is not a test and asserts nothing. Usage in tests/bench/README.md. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "mailbisect/bounce.h"
#include "mailbisect/buf.h"
#include "mailbisect/classify.h"
#include "mailbisect/file.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"

#define DEFAULT_CORPUS   MB_SHARED_DIR "/corpus/bounces"
#define SISIMAI_SCRIPT   MB_SOURCE_DIR "/tests/bench/sisimai_bench.pl"
#define SISIMAI_MISSING  3 /* the script's exit status when Sisimai is not installed */
#define TARGET_RATIO     1.5
#define TARGET_RSS_MB    20.0
#define TARGET_SPEEDUP   6.0
#define MAX_CORPUS_FILES 100000
#define MAX_CHILD_OUTPUT 4096
#define BYTES_PER_MB     (1024.0 * 1024.0)
#define DEFAULT_MESSAGES 1000
#define DEFAULT_ROUNDS   3
#define MAX_ROUNDS       100
#define MAX_MESSAGES     10000000L

/* The corpus files, read into memory before anything is timed. */
struct corpus {
	char **paths;
	char **data;
	size_t *len;
	size_t n;
	size_t bytes;
};

struct options {
	const char *dir;
	long messages; /* N: the memory check compares RSS after N and after 4N messages */
	long rounds;   /* each timed phase runs this often; the best round is reported */
	bool sisimai;
};

/* One timed phase over passes x corpus files. */
struct phase {
	double seconds; /* best round */
	size_t messages;
	size_t records; /* records found (mailbisect, Sisimai); 0 for the bare parse */
	size_t failures;
	double rss_n_mb, rss_4n_mb; /* current RSS after N and 4N messages, first round */
	double child_rss_mb;        /* Sisimai: its max RSS (wait4) */
	double inner_seconds;       /* Sisimai: its parse loop alone, without start-up */
	bool ran;
	char note[128];
};

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set size now (from /proc/self/statm), in MB; 0 when it cannot be read. */
static double rss_now_mb(void)
{
	unsigned long pages_total = 0, pages_resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &pages_total, &pages_resident) != 2)
		pages_resident = 0;
	fclose(f);
	return (double)pages_resident * (double)sysconf(_SC_PAGESIZE) / BYTES_PER_MB;
}

static double peak_rss_mb(int who)
{
	struct rusage ru;
	if (getrusage(who, &ru))
		return 0;
	return (double)ru.ru_maxrss / 1024.0; /* kilobytes on Linux */
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void corpus_free(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->paths[i]);
		free(c->data[i]);
	}
	free(c->paths);
	free(c->data);
	free(c->len);
}

/* Lists the .eml files of dir, in name order. */
static int corpus_list(struct corpus *c, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t alloc = 0;

	if (!d) {
		fprintf(stderr, "bench_bounce: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) && c->n < MAX_CORPUS_FILES) {
		struct mb_buf path = MB_BUF_INIT;
		if (!has_suffix(e->d_name, ".eml"))
			continue;
		if (c->n == alloc) {
			alloc = alloc ? alloc * 2 : 512;
			char **grown = realloc(c->paths, alloc * sizeof *grown);
			if (!grown)
				break;
			c->paths = grown;
		}
		if (mb_buf_printf(&path, "%s/%s", dir, e->d_name))
			break;
		c->paths[c->n++] = mb_buf_steal(&path);
	}
	closedir(d);
	if (c->n)
		qsort(c->paths, c->n, sizeof *c->paths, compare_strings);
	return 0;
}

static int corpus_load(struct corpus *c, const char *dir)
{
	if (corpus_list(c, dir))
		return -1;
	if (!c->n) {
		fprintf(stderr, "bench_bounce: %s: no .eml files\n", dir);
		return -1;
	}
	c->data = calloc(c->n, sizeof *c->data);
	c->len = calloc(c->n, sizeof *c->len);
	if (!c->data || !c->len)
		return -1;
	for (size_t i = 0; i < c->n; i++) {
		struct mb_buf buf = MB_BUF_INIT;
		struct mb_err err = MB_ERR_INIT;
		if (mb_file_read(c->paths[i], MB_MAX_MESSAGE_BYTES, &buf, &err) ||
		    mb_buf_terminate(&buf)) {
			fprintf(stderr, "bench_bounce: %s\n", err.message);
			mb_buf_free(&buf);
			return -1;
		}
		c->len[i] = buf.len;
		c->bytes += buf.len;
		c->data[i] = mb_buf_steal(&buf);
	}
	return 0;
}

/* (a) GMime's parse of the same bytes and nothing else: the floor for any reader built on it. */
static double run_gmime(const struct corpus *c, size_t passes, struct phase *p)
{
	double start = now_seconds();
	p->failures = 0;
	for (size_t pass = 0; pass < passes; pass++) {
		for (size_t i = 0; i < c->n; i++) {
			GMimeStream *stream =
			    g_mime_stream_mem_new_with_buffer(c->data[i], c->len[i]);
			GMimeParser *parser = g_mime_parser_new_with_stream(stream);
			GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
			if (message)
				g_object_unref(message);
			else
				p->failures++;
			g_object_unref(parser);
			g_object_unref(stream);
		}
	}
	return now_seconds() - start;
}

/* (b) mailbisect's whole read: parse, find the report or the text, classify every record.
 * When sample_rss, notes RSS after the first quarter of the passes and at the end. */
static double run_mailbisect(const struct corpus *c, const struct mb_rules *rules, size_t passes,
                             bool sample_rss, struct phase *p)
{
	double start = now_seconds();
	p->records = 0;
	p->failures = 0;
	for (size_t pass = 0; pass < passes; pass++) {
		for (size_t i = 0; i < c->n; i++) {
			struct mb_err err = MB_ERR_INIT;
			struct mb_bounce *b = NULL;
			if (mb_bounce_read(rules, c->data[i], c->len[i], &b, &err) == 0) {
				p->records += b->n_records;
				mb_bounce_free(b);
			} else {
				p->failures++;
			}
		}
		if (sample_rss && pass + 1 == passes / 4)
			p->rss_n_mb = rss_now_mb();
	}
	if (sample_rss)
		p->rss_4n_mb = rss_now_mb();
	return now_seconds() - start;
}

/* Writes the corpus paths, one a line, to a temporary file for the Sisimai script. */
static int write_path_list(const struct corpus *c, char *name, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;
	int fd;

	snprintf(name, size, "%s/mailbisect-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if ((fd = mkstemp(name)) < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "bench_bounce: temporary file: %s\n", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < c->n; i++)
		fprintf(f, "%s\n", c->paths[i]);
	if (fclose(f)) {
		unlink(name);
		return -1;
	}
	return 0;
}

/* Reads the child's whole output (bounded) into out, NUL-terminated. */
static void read_child_output(int fd, char *out, size_t size)
{
	size_t used = 0;
	for (;;) {
		char sink[512];
		char *dst = used + 1 < size ? out + used : sink;
		size_t room = used + 1 < size ? size - 1 - used : sizeof sink;
		ssize_t n = read(fd, dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst == out + used)
			used += (size_t)n;
	}
	out[used] = '\0';
}

/* Starts perl on the Sisimai script (fork and exec, no shell) and waits for it with wait4, so
 * its wall time and max RSS come from this process's own clock and the kernel. */
static int spawn_sisimai(const char *list, size_t passes, char *output, size_t size, int *status,
                         struct rusage *ru, double *wall)
{
	char passes_arg[32];
	int pipe_fds[2];
	pid_t pid;

	snprintf(passes_arg, sizeof passes_arg, "%zu", passes);
	if (pipe(pipe_fds))
		return -1;
	double start = now_seconds();
	if ((pid = fork()) < 0) {
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		return -1;
	}
	if (pid == 0) {
		char *argv[] = {"perl", SISIMAI_SCRIPT, (char *)list, passes_arg, NULL};
		dup2(pipe_fds[1], STDOUT_FILENO);
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		execvp("perl", argv);
		_exit(127);
	}
	close(pipe_fds[1]);
	read_child_output(pipe_fds[0], output, size);
	close(pipe_fds[0]);
	while (wait4(pid, status, 0, ru) < 0)
		if (errno != EINTR)
			return -1;
	*wall = now_seconds() - start;
	return 0;
}

/* (c) Sisimai over the same files and passes, in a child process. */
static void run_sisimai(const struct corpus *c, size_t passes, struct phase *p)
{
	char list[4096], output[MAX_CHILD_OUTPUT];
	unsigned long messages = 0, records = 0;
	struct rusage ru;
	int status = 0;

	if (write_path_list(c, list, sizeof list)) {
		snprintf(p->note, sizeof p->note, "could not write the file list");
		return;
	}
	int rc = spawn_sisimai(list, passes, output, sizeof output, &status, &ru, &p->seconds);
	unlink(list);
	if (rc) {
		snprintf(p->note, sizeof p->note, "could not start perl: %s", strerror(errno));
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == SISIMAI_MISSING) {
		snprintf(p->note, sizeof p->note,
		         "not installed (Debian: apt-get install libsisimai-perl)");
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    sscanf(output, "messages=%lu records=%lu seconds=%lf", &messages, &records,
	           &p->inner_seconds) != 3) {
		snprintf(p->note, sizeof p->note, "perl failed (status %d)", status);
		return;
	}
	p->messages = messages;
	p->records = records;
	p->child_rss_mb = (double)ru.ru_maxrss / 1024.0;
	p->ran = true;
}

static double per_second(const struct phase *p)
{
	return p->seconds > 0 ? (double)p->messages / p->seconds : 0;
}

static const char *verdict(bool met)
{
	return met ? "met" : "MISSED";
}

static void print_row(const char *label, const struct phase *p, const char *rss)
{
	printf("  %-34s %9zu %9.3f %12.0f %9zu  %s\n", label, p->messages, p->seconds,
	       per_second(p), p->records, rss);
}

static void print_report(const struct options *o, const struct corpus *c, size_t passes,
                         const struct phase *bare, const struct phase *full,
                         const struct phase *sisimai, double peak_mb)
{
	char rss[64], when[32], label[64];
	time_t t = time(NULL);
	double ratio = bare->seconds > 0 ? full->seconds / bare->seconds : 0;

	strftime(when, sizeof when, "%Y-%m-%d %H:%M %Z", localtime(&t));
	printf("mailbisect bounce-reading benchmark, %s\n", when);
	printf("corpus: %s: %zu files, %.2f MB, read into memory first\n", o->dir, c->n,
	       (double)c->bytes / BYTES_PER_MB);
	printf(
	    "run:    %zu passes = %zu messages per round, best of %ld rounds; GMime %u.%u.%u\n\n",
	    passes, full->messages, o->rounds, gmime_major_version, gmime_minor_version,
	    gmime_micro_version);
	printf("  %-34s %9s %9s %12s %9s  %s\n", "", "messages", "time (s)", "messages/s",
	       "records", "max RSS");
	print_row("(a) GMime bare parse (floor)", bare, "(in this process)");
	snprintf(rss, sizeof rss, "%.1f MB (whole process)", peak_mb);
	print_row("(b) mailbisect read + classify", full, rss);
	if (sisimai->ran) {
		snprintf(rss, sizeof rss, "%.1f MB (perl child)", sisimai->child_rss_mb);
		print_row("(c) Sisimai (perl, wall time)", sisimai, rss);
	} else {
		printf("  %-34s %s\n", "(c) Sisimai", sisimai->note);
	}
	printf("\n");
	printf("  %-44s %8.2f   target <= %.1f: %s\n", "time ratio b / a", ratio, TARGET_RATIO,
	       verdict(ratio <= TARGET_RATIO));
	printf("  %-44s %8.1f MB target <= %.0f MB: %s\n", "peak RSS (ru_maxrss, whole process)",
	       peak_mb, TARGET_RSS_MB, verdict(peak_mb <= TARGET_RSS_MB));
	snprintf(label, sizeof label, "RSS after N = %zu messages", full->messages / 4);
	printf("  %-44s %8.1f MB\n", label, full->rss_n_mb);
	snprintf(label, sizeof label, "RSS after 4N = %zu messages", full->messages);
	printf("  %-44s %8.1f MB (growth %+.1f MB)\n", label, full->rss_4n_mb,
	       full->rss_4n_mb - full->rss_n_mb);
	if (sisimai->ran && full->seconds > 0) {
		double speedup = sisimai->seconds / full->seconds;
		double loop_speedup = sisimai->inner_seconds / full->seconds;
		printf("  %-44s %8.1fx  target >= %.0fx: %s\n",
		       "speed-up over Sisimai (its wall time)", speedup, TARGET_SPEEDUP,
		       verdict(speedup >= TARGET_SPEEDUP));
		printf("  %-44s %8.1fx  target >= %.0fx: %s\n",
		       "speed-up over Sisimai (its parse loop only)", loop_speedup, TARGET_SPEEDUP,
		       verdict(loop_speedup >= TARGET_SPEEDUP));
	}
	if (bare->failures || full->failures)
		printf("\n  messages not read: GMime %zu, mailbisect %zu (per round)\n",
		       bare->failures, full->failures);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: bench_bounce [--messages N] [--rounds R] [--no-sisimai] [CORPUS_DIR]\n"
	             "  CORPUS_DIR   folder of .eml bounces (default " DEFAULT_CORPUS ")\n"
	             "  --messages N RSS is compared after N and after 4N messages; each round\n"
	             "               reads 4N or a little more (whole passes; default 1000)\n"
	             "  --rounds R   timed rounds of (a) and (b), the best is shown (default 3)\n"
	             "  --no-sisimai skip the Sisimai comparison\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--no-sisimai") == 0) {
			o->sisimai = false;
		} else if (strcmp(a, "--messages") == 0 && i + 1 < argc) {
			if (mb_str_to_long(argv[++i], 1, MAX_MESSAGES, &o->messages))
				return -1;
		} else if (strcmp(a, "--rounds") == 0 && i + 1 < argc) {
			if (mb_str_to_long(argv[++i], 1, MAX_ROUNDS, &o->rounds))
				return -1;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		} else if (a[0] != '-' && !o->dir) {
			o->dir = a;
		} else {
			return -1;
		}
	}
	if (!o->dir)
		o->dir = DEFAULT_CORPUS;
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {NULL, DEFAULT_MESSAGES, DEFAULT_ROUNDS, true};
	struct corpus c = {0};
	struct phase bare = {0}, full = {0}, sisimai = {0};
	struct mb_rules *rules = NULL;
	struct mb_err err = MB_ERR_INIT;

	if (parse_options(argc, argv, &o)) {
		usage(stderr);
		return EX_USAGE;
	}
	if (corpus_load(&c, o.dir)) {
		corpus_free(&c);
		return EX_NOINPUT;
	}
	if (mb_rules_builtin(&rules, &err)) {
		fprintf(stderr, "bench_bounce: %s\n", err.message);
		corpus_free(&c);
		return EX_SOFTWARE;
	}
	g_mime_init();
	size_t passes = 4 * (((size_t)o.messages + c.n - 1) / c.n);
	bare.messages = full.messages = passes * c.n;
	bare.seconds = full.seconds = -1;
	for (long round = 0; round < o.rounds; round++) {
		double t = run_gmime(&c, passes, &bare);
		bare.seconds = bare.seconds < 0 || t < bare.seconds ? t : bare.seconds;
		t = run_mailbisect(&c, rules, passes, round == 0, &full);
		full.seconds = full.seconds < 0 || t < full.seconds ? t : full.seconds;
	}
	/* before the child, which is counted apart; the kernel's high-water mark is updated
	 * lazily (it can trail a later reading of the current RSS), so the readings count too */
	double peak_mb = peak_rss_mb(RUSAGE_SELF);
	peak_mb = full.rss_n_mb > peak_mb ? full.rss_n_mb : peak_mb;
	peak_mb = full.rss_4n_mb > peak_mb ? full.rss_4n_mb : peak_mb;
	if (o.sisimai)
		run_sisimai(&c, passes, &sisimai);
	else
		snprintf(sisimai.note, sizeof sisimai.note, "skipped (--no-sisimai)");
	print_report(&o, &c, passes, &bare, &full, &sisimai, peak_mb);
	mb_rules_free(rules);
	corpus_free(&c);
	g_mime_shutdown();
	return 0;
}
