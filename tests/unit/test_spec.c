/* Unit tests of the experiment spec loader: every kind of bad spec (with its error class and the
 * field path in the message), secrets, round trips through mb_spec_to_json, and agreement of the
 * loader's field table with experiments/schema.json, the README and the example specs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailbisect/buf.h"
#include "mailbisect/err.h"
#include "mailbisect/file.h"
#include "mailbisect/limits.h"
#include "mailbisect/spec.h"
#include "mailbisect/transport.h"
#include "mailbisect/variant.h"

#define FIXTURES MB_SOURCE_DIR "/tests/fixtures/specs"
#define LABEL    "t.json"

static int failures;

static void failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Records a failure and goes on, so one run shows every broken case. */
static void failed(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

static char *read_text(const char *path)
{
	struct mb_buf buf = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;

	if (mb_file_read(path, 16u * 1024u * 1024u, &buf, &err) != 0)
		fail_msg("%s", err.message);
	return mb_buf_steal(&buf);
}

static void write_text(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* dir resolved by realpath() followed by "/file": how the loader writes a relative path. */
static void real_join(char *out, size_t size, const char *dir, const char *file)
{
	char real[PATH_MAX];

	assert_non_null(realpath(dir, real));
	snprintf(out, size, "%s/%s", real, file);
}

static char *make_temp_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = malloc(4096);

	assert_non_null(dir);
	snprintf(dir, 4096, "%s/mb-test-spec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Checks rc/err against the wanted class, that the message is "LABEL: PATH: ..." and that it
 * contains text. want_path NULL: only the label prefix is checked. */
static void check_error(const char *what, int rc, const struct mb_err *err, int want_code,
                        const char *label, const char *want_path, const char *text)
{
	/* room for any label and path the tests pass: a cut prefix would hide a mismatch */
	char prefix[8192 + 256];

	if (rc != want_code || err->code != want_code) {
		failed("%s: got rc %d (%s) \"%s\", want %d (%s)", what, rc, mb_err_class(rc),
		       err->message, want_code, mb_err_class(want_code));
		return;
	}
	if (want_path)
		snprintf(prefix, sizeof prefix, "%s: %s: ", label, want_path);
	else
		snprintf(prefix, sizeof prefix, "%s: ", label);
	if (strncmp(err->message, prefix, strlen(prefix)) != 0)
		failed("%s: got message \"%s\", want it to start with \"%s\"", what, err->message,
		       prefix);
	if (text && !strstr(err->message, text))
		failed("%s: got message \"%s\", want it to contain \"%s\"", what, err->message,
		       text);
}

/* ---- Patching the full example spec --------------------------------------------------------- */

/* Sets (value != NULL) or deletes the member at a dotted path, creating parent objects. */
static void patch(cJSON *root, const char *path, const char *value)
{
	char key[256];
	const char *dot;
	cJSON *obj = root, *next;

	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof key, "%.*s", (int)(dot - path), path);
		next = cJSON_GetObjectItemCaseSensitive(obj, key);
		if (!next)
			next = cJSON_AddObjectToObject(obj, key);
		obj = next;
		path = dot + 1;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(obj, path);
	if (value) {
		cJSON *item = cJSON_Parse(value);
		if (!item)
			fail_msg("bad test value %s for %s", value, path);
		cJSON_AddItemToObject(obj, path, item);
	}
}

struct patch {
	const char *path;
	const char *value; /* JSON text; NULL deletes */
};

#define MAX_PATCHES 6

/* The full example with patches applied, as JSON text (caller frees). */
static char *patched_full(const struct patch *patches, size_t n)
{
	char *text = read_text(FIXTURES "/full.json");
	cJSON *root = cJSON_Parse(text);
	char *out;

	assert_non_null(root);
	free(text);
	for (size_t i = 0; i < n && patches[i].path; i++)
		patch(root, patches[i].path, patches[i].value);
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	assert_non_null(out);
	return out;
}

static int parse_patched(const struct patch *patches, size_t n, struct mb_spec **spec,
                         struct mb_err *err)
{
	char *json = patched_full(patches, n);
	int rc = mb_spec_parse(spec, json, strlen(json), LABEL, FIXTURES, err);

	free(json);
	return rc;
}

struct bad_case {
	const char *what;
	struct patch patches[MAX_PATCHES];
	int want_code;
	const char *want_path;
	const char *want_text;
};

static void run_bad_cases(const struct bad_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct mb_err err = MB_ERR_INIT;
		struct mb_spec *spec = NULL;
		int rc = parse_patched(cases[i].patches, MAX_PATCHES, &spec, &err);
		check_error(cases[i].what, rc, &err, cases[i].want_code, LABEL, cases[i].want_path,
		            cases[i].want_text);
		if (rc == 0 && spec)
			failed("%s: got a spec, want none", cases[i].what);
		if (rc != 0 && spec)
			failed("%s: got a spec with an error", cases[i].what);
		mb_spec_free(spec);
	}
}

struct good_case {
	const char *what;
	struct patch patches[MAX_PATCHES];
};

static void run_good_cases(const struct good_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct mb_err err = MB_ERR_INIT;
		struct mb_spec *spec = NULL;
		int rc = parse_patched(cases[i].patches, MAX_PATCHES, &spec, &err);
		if (rc != 0 || !spec)
			failed("%s: got rc %d \"%s\", want a valid spec", cases[i].what, rc,
			       err.message);
		mb_spec_free(spec);
	}
}

/* ---- Cases generated from the loader's field table ------------------------------------------ */

struct field_list {
	struct mb_spec_field fields[128];
	char paths[128][128];
	size_t n;
};

static void collect_field(const struct mb_spec_field *field, void *ctx)
{
	struct field_list *list = ctx;

	assert_true(list->n < 128);
	list->fields[list->n] = *field;
	snprintf(list->paths[list->n], sizeof list->paths[0], "%s", field->path);
	list->fields[list->n].path = list->paths[list->n];
	list->n++;
}

static void loader_fields(struct field_list *list)
{
	memset(list, 0, sizeof *list);
	mb_spec_fields(collect_field, list);
	assert_true(list->n > 20);
}

static void expect(const char *what, const struct patch *patches, size_t n, int want_code,
                   const char *want_path, const char *want_text)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_spec *spec = NULL;
	int rc = parse_patched(patches, n, &spec, &err);

	if (want_code == 0) {
		if (rc != 0)
			failed("%s: got rc %d \"%s\", want a valid spec", what, rc, err.message);
	} else {
		check_error(what, rc, &err, want_code, LABEL, want_path, want_text);
	}
	mb_spec_free(spec);
}

static void test_wrong_types(void **state)
{
	struct field_list list;

	(void)state;
	loader_fields(&list);
	for (size_t i = 0; i < list.n; i++) {
		const struct mb_spec_field *f = &list.fields[i];
		const char *type = f->type;
		char what[256], want[64];
		const char *wrong[3] = {NULL, NULL, NULL};
		if (!strcmp(type, "string"))
			wrong[0] = "5", wrong[1] = "null", wrong[2] = "[\"x\"]";
		else if (!strcmp(type, "integer"))
			wrong[0] = "\"5\"", wrong[1] = "1.5", wrong[2] = "true";
		else if (!strcmp(type, "boolean"))
			wrong[0] = "\"true\"", wrong[1] = "1", wrong[2] = "null";
		else if (!strcmp(type, "array"))
			wrong[0] = "\"original\"", wrong[1] = "{}", wrong[2] = "[5]";
		else
			wrong[0] = "[]", wrong[1] = "\"x\"", wrong[2] = "5";
		for (size_t k = 0; k < 3; k++) {
			struct patch p[1] = {{f->path, wrong[k]}};
			char path[160];
			snprintf(what, sizeof what, "%s = %s", f->path, wrong[k]);
			snprintf(path, sizeof path, "%s", f->path);
			if (!strcmp(type, "array") && k == 2) {
				/* an element of the wrong type names the element */
				snprintf(path, sizeof path, "%s[0]", f->path);
				snprintf(want, sizeof want, "expected string, got integer");
			} else {
				snprintf(want, sizeof want, "expected %s",
				         !strcmp(type, "array") ? "array of strings" : type);
			}
			expect(what, p, 1, MB_EDATA, path, want);
		}
	}
	{
		struct patch p[1] = {{"pools.alternate.headers.X-Pool", "5"}};
		expect("header value 5", p, 1, MB_EDATA, "pools.alternate.headers.X-Pool",
		       "expected string, got integer");
	}
	{
		struct patch p[1] = {{"repeat", "2.5"}};
		expect("repeat 2.5", p, 1, MB_EDATA, "repeat", "expected integer, got number 2.5");
	}
	if (failures)
		fail_msg("%d failures", failures);
}

static void test_unknown_keys(void **state)
{
	struct field_list list;
	static const char *const extra[] = {"prot", "Port", "passwd", "pools_primary", "x y"};

	(void)state;
	loader_fields(&list);
	/* the top level and every object that is not a map */
	for (size_t i = 0; i <= list.n; i++) {
		const struct mb_spec_field *f = i < list.n ? &list.fields[i] : NULL;
		if (f && (strcmp(f->type, "object") || f->is_map))
			continue;
		for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++) {
			char key[200], what[256];
			if (f)
				snprintf(key, sizeof key, "%s.%s", f->path, extra[k]);
			else
				snprintf(key, sizeof key, "%s", extra[k]);
			struct patch p[1] = {{key, "1"}};
			snprintf(what, sizeof what, "unknown key %s", key);
			expect(what, p, 1, MB_EDATA, key, "unknown key (expected one of: ");
		}
	}
	if (failures)
		fail_msg("%d failures", failures);
}

static void test_missing_required(void **state)
{
	struct field_list list;

	(void)state;
	loader_fields(&list);
	for (size_t i = 0; i < list.n; i++) {
		char what[256];
		if (!list.fields[i].required)
			continue;
		struct patch p[1] = {{list.fields[i].path, NULL}};
		snprintf(what, sizeof what, "without %s", list.fields[i].path);
		expect(what, p, 1, MB_EDATA, list.fields[i].path, "required but missing");
	}
	if (failures)
		fail_msg("%d failures", failures);
}

/* A small plan, so that any repeat and max_messages in range fit. */
static const struct patch small_plan[4] = {
    {"variants", "[\"original\"]"},
    {"recipients", "[\"alice@victim.example\"]"},
    {"repeat", "1"},
    {"max_messages", "1000"},
};

/* small_plan followed by path = value. */
static void expect_small(const char *what, const char *path, const char *value, int want_code,
                         const char *want_text)
{
	struct patch p[5];

	memcpy(p, small_plan, sizeof small_plan);
	p[4].path = path;
	p[4].value = value;
	expect(what, p, 5, want_code, path, want_text);
}

static void test_integer_ranges(void **state)
{
	struct field_list list;

	(void)state;
	loader_fields(&list);
	for (size_t i = 0; i < list.n; i++) {
		const struct mb_spec_field *f = &list.fields[i];
		long values[4] = {f->min - 1, f->min, f->max, f->max + 1};
		char what[256], value[32], want[64];
		if (strcmp(f->type, "integer"))
			continue;
		for (size_t k = 0; k < 4; k++) {
			bool good = k == 1 || k == 2;
			snprintf(value, sizeof value, "%ld", values[k]);
			snprintf(what, sizeof what, "%s = %s", f->path, value);
			snprintf(want, sizeof want, "must be %ld..%ld, got %ld", f->min, f->max,
			         values[k]);
			expect_small(what, f->path, value, good ? 0 : MB_ECONFIG, want);
		}
		/* far out of range: not cut to INT_MAX, not wrapped */
		snprintf(what, sizeof what, "%s = 99999999999", f->path);
		expect_small(what, f->path, "99999999999", MB_ECONFIG, "got 99999999999");
		snprintf(what, sizeof what, "%s = -1e300", f->path);
		expect_small(what, f->path, "-1e300", MB_ECONFIG, "got -1e+300");
		/* integers in full, not as 9.22337203685478e+18 (the nearest double is shown) */
		snprintf(what, sizeof what, "%s = 9223372036854775807", f->path);
		expect_small(what, f->path, "9223372036854775807", MB_ECONFIG,
		             "got 9223372036854775808");
		snprintf(what, sizeof what, "%s = -1e20", f->path);
		expect_small(what, f->path, "-1e20", MB_ECONFIG, "got -100000000000000000000");
	}
	if (failures)
		fail_msg("%d failures", failures);
}

/* ---- Hand-written bad specs ------------------------------------------------------------------ */

static void test_bad_values(void **state)
{
	static const struct bad_case cases[] = {
	    {"name empty", {{"name", "\"\""}}, MB_ECONFIG, "name", "is not a name"},
	    {"name with space", {{"name", "\"my test\""}}, MB_ECONFIG, "name", "\"my test\""},
	    {"name 65 chars",
	     {{"name", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""}},
	     MB_ECONFIG,
	     "name",
	     "1 to 64"},
	    {"message empty", {{"message", "\"\""}}, MB_ECONFIG, "message", "must not be empty"},
	    {"message with newline",
	     {{"message", "\"a\\nb.eml\""}},
	     MB_ECONFIG,
	     "message",
	     "control characters"},
	    {"domain without dot",
	     {{"domain", "\"victim\""}},
	     MB_ECONFIG,
	     "domain",
	     "\"victim\" is not a domain name"},
	    {"domain with trailing dot",
	     {{"domain", "\"victim.example.\""}},
	     MB_ECONFIG,
	     "domain",
	     "not a domain name"},
	    {"domain with empty label",
	     {{"domain", "\"victim..example\""}},
	     MB_ECONFIG,
	     "domain",
	     "not a domain name"},
	    {"domain with leading hyphen",
	     {{"domain", "\"-victim.example\""}},
	     MB_ECONFIG,
	     "domain",
	     "not a domain name"},
	    {"recipient in a lookalike domain",
	     {{"recipients", "[\"alice@victim.example\", \"bob@victim.example.evil\"]"}},
	     MB_ECONFIG,
	     "recipients[1]",
	     "\"bob@victim.example.evil\" is not in the affected domain victim.example"},
	    {"recipient in a subdomain",
	     {{"recipients", "[\"bob@mx.victim.example\"]"}},
	     MB_ECONFIG,
	     "recipients[0]",
	     "\"bob@mx.victim.example\" is not in the affected domain victim.example"},
	    {"recipient in another domain",
	     {{"recipients", "[\"bob@other.example\"]"}},
	     MB_ECONFIG,
	     "recipients[0]",
	     "not in the affected domain victim.example"},
	    {"recipient in a prefix lookalike",
	     {{"recipients", "[\"bob@evilvictim.example\"]"}},
	     MB_ECONFIG,
	     "recipients[0]",
	     "not in the affected domain victim.example"},
	    {"recipient without @",
	     {{"recipients", "[\"alice\"]"}},
	     MB_ECONFIG,
	     "recipients[0]",
	     "\"alice\" is not a plain address (want local@victim.example)"},
	    {"recipient with two @",
	     {{"recipients", "[\"alice@evil.example@victim.example\"]"}},
	     MB_ECONFIG,
	     "recipients[0]",
	     "not a plain address"},
	    {"recipient with percent hack",
	     {{"recipients", "[\"alice%evil.example@victim.example\"]"}},
	     MB_ECONFIG,
	     "recipients[0]",
	     "not a plain address"},
	    {"recipient in angle brackets",
	     {{"recipients", "[\"<alice@victim.example>\"]"}},
	     MB_ECONFIG,
	     "recipients[0]",
	     "not a plain address"},
	    {"recipient with display name",
	     {{"recipients", "[\"Alice alice@victim.example\"]"}},
	     MB_ECONFIG,
	     "recipients[0]",
	     "not a plain address"},
	    {"recipient with control character",
	     {{"recipients", "[\"ali\\u0001ce@victim.example\"]"}},
	     MB_ECONFIG,
	     "recipients[0]",
	     "\"ali\\x01ce@victim.example\""},
	    {"recipients duplicate (case-insensitive)",
	     {{"recipients", "[\"alice@victim.example\", \"ALICE@Victim.Example\"]"}},
	     MB_ECONFIG,
	     "recipients[1]",
	     "listed twice (also recipients[0])"},
	    {"recipients empty",
	     {{"recipients", "[]"}},
	     MB_ECONFIG,
	     "recipients",
	     "at least one recipient in victim.example"},
	    {"envelope_sender without @",
	     {{"envelope_sender", "\"bounces\""}},
	     MB_ECONFIG,
	     "envelope_sender",
	     "not a plain address"},
	    {"envelope_sender with {send} twice",
	     {{"envelope_sender", "\"b+{send}{send}@bounces.sender.example\""}},
	     MB_ECONFIG,
	     "envelope_sender",
	     "{send} may appear only once"},
	    {"envelope_sender with {send} in the domain",
	     {{"envelope_sender", "\"bounces@{send}.sender.example\""}},
	     MB_ECONFIG,
	     "envelope_sender",
	     "only in the local part"},
	    {"envelope_sender with another placeholder",
	     {{"envelope_sender", "\"bounces+{id}@bounces.sender.example\""}},
	     MB_ECONFIG,
	     "envelope_sender",
	     "only {send}"},
	    {"envelope_sender with a stray brace",
	     {{"envelope_sender", "\"bounces+{send@bounces.sender.example\""}},
	     MB_ECONFIG,
	     "envelope_sender",
	     "only {send}"},
	    {"variant unknown",
	     {{"variants", "[\"original\", \"no-links\"]"}},
	     MB_ECONFIG,
	     "variants[1]",
	     "unknown variant \"no-links\" (known: original, plain-text"},
	    {"variant twice",
	     {{"variants", "[\"original\", \"plain-text\", \"original\"]"}},
	     MB_ECONFIG,
	     "variants[2]",
	     "\"original\" is listed twice"},
	    {"alternate-domain variant without alternate_domain",
	     {{"alternate_domain", NULL}, {"variants", "[\"original\", \"alternate-domain\"]"}},
	     MB_ECONFIG,
	     "alternate_domain",
	     "missing, but variant \"alternate-domain\""},
	    {"alternate_domain.from not an address",
	     {{"alternate_domain.from", "\"news\""}},
	     MB_ECONFIG,
	     "alternate_domain.from",
	     "not a plain address"},
	    {"alternate_domain.envelope_sender with {send} after the @",
	     {{"alternate_domain.envelope_sender", "\"bounces@{send}.example\""}},
	     MB_ECONFIG,
	     "alternate_domain.envelope_sender",
	     "only in the local part"},
	    {"variants empty",
	     {{"variants", "[]"}},
	     MB_ECONFIG,
	     "variants",
	     "at least one variant"},
	    {"variants too many",
	     {{"variants", "[\"original\",\"original\",\"original\",\"original\",\"original\","
	                   "\"original\",\"original\",\"original\"]"}},
	     MB_ECONFIG,
	     "variants",
	     "at most"},
	    {"alternate-pool variant without pools.alternate",
	     {{"variants", "[\"original\", \"alternate-pool\"]"}, {"pools.alternate", NULL}},
	     MB_ECONFIG,
	     "pools.alternate",
	     "variant \"alternate-pool\""},
	    {"default variants without pools.alternate",
	     {{"variants", NULL}, {"pools.alternate", NULL}, {"max_messages", "100"}},
	     MB_ECONFIG,
	     "pools.alternate",
	     "variant \"alternate-pool\""},
	    {"plan over the cap",
	     {{"variants",
	       "[\"original\", \"plain-text\", \"links-stripped\", \"alternate-pool\"]"},
	      {"repeat", "1"},
	      {"max_messages", "4"}},
	     MB_ECONFIG,
	     "max_messages",
	     "plan needs 8 sends but max_messages is 4"},
	    {"plan over the cap by repeat",
	     {{"repeat", "3"}},
	     MB_ECONFIG,
	     "max_messages",
	     "plan needs 36 sends but max_messages is 24"},
	    {"transport unknown",
	     {{"pools.primary.transport", "\"http\""}},
	     MB_ECONFIG,
	     "pools.primary.transport",
	     "unknown transport \"http\" (known: smtp"},
	    {"transport in capitals",
	     {{"pools.alternate.transport", "\"SMTP\""}},
	     MB_ECONFIG,
	     "pools.alternate.transport",
	     "unknown transport"},
	    {"tls unknown",
	     {{"pools.alternate.tls", "\"ssl\""}},
	     MB_ECONFIG,
	     "pools.alternate.tls",
	     "\"ssl\" is not one of none, starttls, implicit"},
	    {"ca_file without tls",
	     {{"pools.primary.tls", "\"none\""}, {"pools.primary.ca_file", "\"/etc/ca.pem\""}},
	     MB_ECONFIG,
	     "pools.primary.ca_file",
	     "is set but tls is \"none\", so no certificate would be checked"},
	    {"host empty",
	     {{"pools.primary.host", "\"\""}},
	     MB_ECONFIG,
	     "pools.primary.host",
	     "is not a host name"},
	    {"host with space",
	     {{"pools.primary.host", "\"smtp .example\""}},
	     MB_ECONFIG,
	     "pools.primary.host",
	     "is not a host name"},
	    {"helo with slash",
	     {{"pools.alternate.helo", "\"a/b\""}},
	     MB_ECONFIG,
	     "pools.alternate.helo",
	     "is not a host name"},
	    {"pool name bad",
	     {{"pools.primary.name", "\"pool a\""}},
	     MB_ECONFIG,
	     "pools.primary.name",
	     "is not a name"},
	    {"pool names equal",
	     {{"pools.alternate.name", "\"pool-a\""}},
	     MB_ECONFIG,
	     "pools.alternate.name",
	     "same as pools.primary.name"},
	    {"ca_file empty",
	     {{"pools.primary.ca_file", "\"\""}},
	     MB_ECONFIG,
	     "pools.primary.ca_file",
	     "must not be empty"},
	    {"header name with colon",
	     {{"pools.primary.headers", "{\"X-Pool:\": \"a\"}"}},
	     MB_ECONFIG,
	     "pools.primary.headers.X-Pool:",
	     "not a header field name"},
	    {"header name with space",
	     {{"pools.primary.headers", "{\"X Pool\": \"a\"}"}},
	     MB_ECONFIG,
	     "pools.primary.headers.X Pool",
	     "not a header field name"},
	    {"header name empty",
	     {{"pools.primary.headers", "{\"\": \"a\"}"}},
	     MB_ECONFIG,
	     "pools.primary.headers.",
	     "not a header field name"},
	    {"header name with control",
	     {{"pools.primary.headers", "{\"X\\u0007\": \"a\"}"}},
	     MB_ECONFIG,
	     "pools.primary.headers.X\\x07",
	     "not a header field name"},
	    {"header name non-ASCII",
	     {{"pools.primary.headers", "{\"X-P\\u00f6ol\": \"a\"}"}},
	     MB_ECONFIG,
	     "pools.primary.headers.X-P\\xC3\\xB6ol",
	     "not a header field name"},
	    {"header value with CRLF",
	     {{"pools.primary.headers", "{\"X-Pool\": \"a\\r\\nBcc: victim@evil.example\"}"}},
	     MB_ECONFIG,
	     "pools.primary.headers.X-Pool",
	     "must not contain CR, LF"},
	    {"header value with LF",
	     {{"pools.primary.headers", "{\"X-Pool\": \"a\\nb\"}"}},
	     MB_ECONFIG,
	     "pools.primary.headers.X-Pool",
	     "must not contain CR, LF"},
	    {"header that makes the message",
	     {{"pools.alternate.headers", "{\"X-Pool\": \"b\", \"From\": \"x@evil.example\"}"}},
	     MB_ECONFIG,
	     "pools.alternate.headers.From",
	     "belongs to the message"},
	    {"header that makes the message, other case",
	     {{"pools.primary.headers", "{\"content-TYPE\": \"text/plain\"}"}},
	     MB_ECONFIG,
	     "pools.primary.headers.content-TYPE",
	     "belongs to the message"},
	    {"header value not ASCII",
	     {{"pools.primary.headers", "{\"X-Pool\": \"p\\u00f6ol\"}"}},
	     MB_ECONFIG,
	     "pools.primary.headers.X-Pool",
	     "must be ASCII"},
	    {"imap port over 65535",
	     {{"mailbox.url", "\"imap://127.0.0.1:70000/INBOX\""}},
	     MB_ECONFIG,
	     "mailbox.url",
	     "port must be 1..65535, got \"70000\""},
	    {"imap port 0",
	     {{"mailbox.url", "\"imaps://imap.example:0/INBOX\""}},
	     MB_ECONFIG,
	     "mailbox.url",
	     "port must be 1..65535"},
	    {"imap port not a number",
	     {{"mailbox.url", "\"imap://127.0.0.1:1x43/INBOX\""}},
	     MB_ECONFIG,
	     "mailbox.url",
	     "port must be 1..65535"},
	    {"imap port empty",
	     {{"mailbox.url", "\"imap://127.0.0.1:/INBOX\""}},
	     MB_ECONFIG,
	     "mailbox.url",
	     "port must be 1..65535"},
	    {"imap port huge",
	     {{"mailbox.url", "\"imap://[::1]:99999999999999999999/INBOX\""}},
	     MB_ECONFIG,
	     "mailbox.url",
	     "port must be 1..65535"},
	    {"header twice (case-insensitive)",
	     {{"pools.primary.headers", "{\"X-Pool\": \"a\", \"x-pool\": \"b\"}"}},
	     MB_ECONFIG,
	     "pools.primary.headers.x-pool",
	     "given twice"},
	    {"auth user empty",
	     {{"pools.primary.auth.user", "\"\""}},
	     MB_ECONFIG,
	     "pools.primary.auth.user",
	     "must not be empty"},
	    {"password_env not a variable name",
	     {{"pools.primary.auth.password_env", "\"MY-PASSWORD\""}},
	     MB_ECONFIG,
	     "pools.primary.auth.password_env",
	     "not an environment variable name"},
	    {"password_env starting with a digit",
	     {{"mailbox.password_env", "\"1PASS\""}},
	     MB_ECONFIG,
	     "mailbox.password_env",
	     "not an environment variable name"},
	    {"password_file empty",
	     {{"pools.alternate.auth.password_file", "\"\""}},
	     MB_ECONFIG,
	     "pools.alternate.auth.password_file",
	     "must not be empty"},
	    {"mailbox url http",
	     {{"mailbox.url", "\"http://imap.example/INBOX\""}},
	     MB_ECONFIG,
	     "mailbox.url",
	     "must start with imap:// or imaps://"},
	    {"mailbox url in capitals",
	     {{"mailbox.url", "\"IMAP://imap.example/INBOX\""}},
	     MB_ECONFIG,
	     "mailbox.url",
	     "must start with imap://"},
	    {"mailbox url without host",
	     {{"mailbox.url", "\"imap:///INBOX\""}},
	     MB_ECONFIG,
	     "mailbox.url",
	     "names no host"},
	    {"mailbox url with space",
	     {{"mailbox.url", "\"imap://a.example/IN BOX\""}},
	     MB_ECONFIG,
	     "mailbox.url",
	     "spaces"},
	    {"mailbox user empty",
	     {{"mailbox.user", "\"\""}},
	     MB_ECONFIG,
	     "mailbox.user",
	     "must not be empty"},
	};

	(void)state;
	run_bad_cases(cases, sizeof cases / sizeof cases[0]);
	if (failures)
		fail_msg("%d failures", failures);
}

static void test_secrets_in_spec(void **state)
{
	static const struct bad_case cases[] = {
	    {"inline mailbox password",
	     {{"mailbox.password", "\"hunter2\""}},
	     MB_EDATA,
	     "mailbox.password",
	     "use password_env"},
	    {"inline auth password",
	     {{"pools.alternate.auth.password", "\"hunter2\""}},
	     MB_EDATA,
	     "pools.alternate.auth.password",
	     "secrets must not be written into the spec"},
	    {"inline password in capitals",
	     {{"pools.primary.auth.Password", "\"hunter2\""}},
	     MB_EDATA,
	     "pools.primary.auth.Password",
	     "password_file"},
	    {"inline password at the top",
	     {{"password", "\"hunter2\""}},
	     MB_EDATA,
	     "password",
	     "secrets must not"},
	    {"inline password in a pool",
	     {{"pools.primary.password", "\"hunter2\""}},
	     MB_EDATA,
	     "pools.primary.password",
	     "secrets must not"},
	    {"inline password as a header",
	     {{"pools.primary.headers.Password", "\"hunter2\""}},
	     MB_EDATA,
	     "pools.primary.headers.Password",
	     "secrets must not"},
	    {"inline password in an array",
	     {{"recipients", "[\"alice@victim.example\", {\"password\": \"hunter2\"}]"}},
	     MB_EDATA,
	     "recipients[1].password",
	     "secrets must not"},
	    {"mailbox with both references",
	     {{"mailbox.password_file", "\"/run/imap\""}},
	     MB_EDATA,
	     "mailbox",
	     "give either password_env or password_file, not both"},
	    {"auth with both references",
	     {{"pools.alternate.auth.password_env", "\"SMTP_PASSWORD\""}},
	     MB_EDATA,
	     "pools.alternate.auth",
	     "not both"},
	    {"mailbox without a reference",
	     {{"mailbox.password_env", NULL}},
	     MB_EDATA,
	     "mailbox",
	     "password_env or password_file is required"},
	    {"auth without a reference",
	     {{"pools.primary.auth.password_env", NULL}},
	     MB_EDATA,
	     "pools.primary.auth",
	     "password_env or password_file is required"},
	    {"mailbox url with credentials",
	     {{"mailbox.url", "\"imap://bounces:hunter2@imap.example/INBOX\""}},
	     MB_ECONFIG,
	     "mailbox.url",
	     "must not contain a user or password"},
	};

	(void)state;
	run_bad_cases(cases, sizeof cases / sizeof cases[0]);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_err err = MB_ERR_INIT;
		struct mb_spec *spec = NULL;
		parse_patched(cases[i].patches, MAX_PATCHES, &spec, &err);
		if (strstr(err.message, "hunter2"))
			failed("%s: got message \"%s\", want no secret in it", cases[i].what,
			       err.message);
		mb_spec_free(spec);
	}
	if (failures)
		fail_msg("%d failures", failures);
}

static void test_good_edges(void **state)
{
	static const struct good_case cases[] = {
	    {"name 64 chars",
	     {{"name", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""}}},
	    {"name with . _ -", {{"name", "\"a.b_c-D9\""}}},
	    {"recipient in upper case", {{"recipients", "[\"Alice@VICTIM.example\"]"}}},
	    {"recipient with plus and dots", {{"recipients", "[\"a.b+tag@victim.example\"]"}}},
	    {"variants without alternate-pool and no alternate pool",
	     {{"variants", "[\"original\", \"plain-text\"]"}, {"pools.alternate", NULL}}},
	    {"plan exactly at the cap", {{"max_messages", "24"}}},
	    {"envelope_sender without {send}", {{"envelope_sender", "\"b@bounces.example\""}}},
	    {"envelope_sender {send} alone", {{"envelope_sender", "\"{send}@bounces.example\""}}},
	    {"no mailbox", {{"mailbox", NULL}}},
	    {"imap url without mailbox", {{"mailbox.url", "\"imap://127.0.0.1:1143\""}}},
	    {"imap url without port", {{"mailbox.url", "\"imaps://imap.example/INBOX\""}}},
	    {"imap url with IPv6 and port", {{"mailbox.url", "\"imap://[::1]:65535/INBOX\""}}},
	    {"header whose name only starts like one of the message's",
	     {{"pools.primary.headers", "{\"X-From\": \"a\", \"Fromage\": \"b\", "
	                                "\"X-Content-Type\": \"c\", \"Listing\": \"d\"}"}}},
	    {"alternate pool on the primary's relay (an ESP may pick the IP by header)",
	     {{"pools.alternate", "{\"host\":\"smtp.esp.example\",\"port\":587,"
	                          "\"auth\":{\"user\":\"sender\",\"password_env\":\"P\"},"
	                          "\"headers\":{\"X-Pool\":\"b\"}}"}}},
	    {"both pools on the same relay",
	     {{"pools.alternate", "{\"host\":\"smtp.esp.example\",\"port\":587}"}}},
	    {"header value with tab", {{"pools.primary.headers", "{\"X-Pool\": \"a\\tb\"}"}}},
	    {"50 headers",
	     {{"pools.primary.headers",
	       "{\"H1\":\"v\",\"H2\":\"v\",\"H3\":\"v\",\"H4\":\"v\",\"H5\":\"v\",\"H6\":\"v\","
	       "\"H7\":\"v\",\"H8\":\"v\",\"H9\":\"v\",\"H10\":\"v\",\"H11\":\"v\",\"H12\":\"v\","
	       "\"H13\":\"v\",\"H14\":\"v\",\"H15\":\"v\",\"H16\":\"v\",\"H17\":\"v\","
	       "\"H18\":\"v\",\"H19\":\"v\",\"H20\":\"v\",\"H21\":\"v\",\"H22\":\"v\","
	       "\"H23\":\"v\",\"H24\":\"v\",\"H25\":\"v\",\"H26\":\"v\",\"H27\":\"v\","
	       "\"H28\":\"v\",\"H29\":\"v\",\"H30\":\"v\",\"H31\":\"v\",\"H32\":\"v\","
	       "\"H33\":\"v\",\"H34\":\"v\",\"H35\":\"v\",\"H36\":\"v\",\"H37\":\"v\","
	       "\"H38\":\"v\",\"H39\":\"v\",\"H40\":\"v\",\"H41\":\"v\",\"H42\":\"v\","
	       "\"H43\":\"v\",\"H44\":\"v\",\"H45\":\"v\",\"H46\":\"v\",\"H47\":\"v\","
	       "\"H48\":\"v\",\"H49\":\"v\",\"H50\":\"v\"}"}}},
	};

	(void)state;
	run_good_cases(cases, sizeof cases / sizeof cases[0]);
	if (failures)
		fail_msg("%d failures", failures);
}

/* Lists of n distinct recipients and n headers, for the count limits. */
static char *recipient_list(int n)
{
	struct mb_buf b = MB_BUF_INIT;

	assert_int_equal(mb_buf_putc(&b, '['), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(mb_buf_printf(&b, "%s\"user%d@victim.example\"", i ? "," : "", i),
		                 0);
	assert_int_equal(mb_buf_putc(&b, ']'), 0);
	return mb_buf_steal(&b);
}

static char *header_map(int n)
{
	struct mb_buf b = MB_BUF_INIT;

	assert_int_equal(mb_buf_putc(&b, '{'), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(mb_buf_printf(&b, "%s\"X-H%d\":\"v\"", i ? "," : "", i), 0);
	assert_int_equal(mb_buf_putc(&b, '}'), 0);
	return mb_buf_steal(&b);
}

static void test_count_limits(void **state)
{
	char *at_limit = recipient_list(MB_MAX_RECIPIENTS);
	char *over_limit = recipient_list(MB_MAX_RECIPIENTS + 1);
	char *headers_over = header_map(51);
	char *many_headers = header_map(20000);

	(void)state;
	{
		struct patch p[3] = {{"recipients", at_limit},
		                     {"variants", "[\"original\"]"},
		                     {"max_messages", "1000"}};
		expect("100 recipients", p, 3, 0, NULL, NULL);
	}
	{
		struct patch p[3] = {{"recipients", over_limit},
		                     {"variants", "[\"original\"]"},
		                     {"max_messages", "1000"}};
		expect("101 recipients", p, 3, MB_ECONFIG, "recipients",
		       "101 recipients, at most 100");
	}
	{
		struct patch p[1] = {{"pools.primary.headers", headers_over}};
		expect("51 headers", p, 1, MB_ECONFIG, "pools.primary.headers",
		       "51 headers, at most 50");
	}
	{
		struct patch p[1] = {{"pools.primary.headers", many_headers}};
		expect("20000 headers", p, 1, MB_ECONFIG, "pools.primary.headers", "20000 headers");
	}
	free(at_limit);
	free(over_limit);
	free(headers_over);
	free(many_headers);
	if (failures)
		fail_msg("%d failures", failures);
}

/* ---- Raw text: syntax, top level, duplicate keys ----------------------------------------------
 */

static void test_raw_text(void **state)
{
	static const struct {
		const char *what;
		const char *json;
		size_t len; /* 0: strlen */
		int want_code;
		const char *want_path;
		const char *want_text;
	} cases[] = {
	    {"empty file", "", 0, MB_EDATA, NULL, "the file is empty"},
	    {"whitespace only", "  \n\t\r\n", 0, MB_EDATA, NULL, "the file is empty"},
	    {"top level array", "[]", 0, MB_EDATA, NULL,
	     "the top level must be a JSON object, got array"},
	    {"top level number", "42", 0, MB_EDATA, NULL, "must be a JSON object, got integer"},
	    {"top level string", "\"x\"", 0, MB_EDATA, NULL, "got string"},
	    {"top level null", "null", 0, MB_EDATA, NULL, "got null"},
	    {"syntax error on line 3", "{\n  \"name\": \"x\",\n  \"repeat\": tru\n}", 0, MB_EDATA,
	     NULL, "line 3, column 13: invalid JSON near \"tru\""},
	    {"trailing comma", "{\"name\": \"x\",}", 0, MB_EDATA, NULL,
	     "line 1, column 14: invalid JSON"},
	    /* cJSON points one past the character that starts a bad string */
	    {"comment", "{\n  // pools\n}", 0, MB_EDATA, NULL, "line 2, column 4"},
	    {"single quotes", "{'name': 'x'}", 0, MB_EDATA, NULL, "line 1, column 3"},
	    {"column counts characters", "{\"n\u00e4me\": x}", 0, MB_EDATA, NULL,
	     "line 1, column 10"},
	    {"unterminated", "{\n\"name\": \"x\"", 0, MB_EDATA, NULL, "line 2"},
	    {"text after the object", "{}\n x", 0, MB_EDATA, NULL,
	     "line 2, column 2: unexpected text after the JSON object"},
	    {"second object", "{} {}", 0, MB_EDATA, NULL, "unexpected text after"},
	    {"NUL byte", "{\"name\": \"a\0b\"}", 15, MB_EDATA, NULL, "line 1, column 12: NUL byte"},
	    /* cJSON would cut the string at an escaped NUL */
	    {"escaped NUL in a value", "{\"domain\": \"victim.example\\u0000.evil.com\"}", 0,
	     MB_EDATA, "domain", "escaped NUL"},
	    {"escaped NUL in a key", "{\"name\": \"x\", \"na\\u0000me\": \"y\"}", 0, MB_EDATA, "na",
	     "escaped NUL"},
	    {"escaped NUL in an array",
	     "{\"recipients\": [\"a@victim.example\", \"b@victim.example\\u0000.evil\"]}", 0,
	     MB_EDATA, "recipients[1]", "escaped NUL"},
	    {"escaped NUL deep down",
	     "{\"pools\": {\"primary\": {\"port\": 25, \"headers\": {\"X-A\": \"\\\"\", "
	     "\"X-B\": \"\\u0000\"}}}}",
	     0, MB_EDATA, "pools.primary.headers.X-B", "escaped NUL"},
	    {"escaped backslash before u0000 is no NUL", "{\"name\": \"a\\\\u0000\"}", 0, MB_EDATA,
	     "message", "required but missing"},
	    {"duplicate key at the top", "{\"name\": \"a\", \"name\": \"b\"}", 0, MB_EDATA, "name",
	     "duplicate key"},
	    {"duplicate key in a pool",
	     "{\"pools\": {\"primary\": {\"port\": 25, \"port\": 2525}}}", 0, MB_EDATA,
	     "pools.primary.port", "duplicate key"},
	    {"duplicate header",
	     "{\"pools\": {\"primary\": {\"headers\": {\"X\": \"1\", \"X\": \"2\"}}}}", 0, MB_EDATA,
	     "pools.primary.headers.X", "duplicate key"},
	    {"infinite number", "{\"repeat\": 1e999}", 0, MB_EDATA, "repeat", "expected integer"},
	    {"unknown key before missing ones", "{\"mesage\": \"m.eml\"}", 0, MB_EDATA, "mesage",
	     "unknown key"},
	    {"missing keys", "{}", 0, MB_EDATA, "message", "required but missing"},
	    {"long unknown key is cut",
	     "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "a"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": 1}",
	     0, MB_EDATA, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...",
	     "unknown key"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_err err = MB_ERR_INIT;
		struct mb_spec *spec = NULL;
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].json);
		int rc = mb_spec_parse(&spec, cases[i].json, len, LABEL, NULL, &err);
		check_error(cases[i].what, rc, &err, cases[i].want_code, LABEL, cases[i].want_path,
		            cases[i].want_text);
		if (spec)
			failed("%s: got a spec, want none", cases[i].what);
		mb_spec_free(spec);
	}
	if (failures)
		fail_msg("%d failures", failures);
}

static void test_bom_and_label(void **state)
{
	char *text = read_text(FIXTURES "/minimal.json");
	struct mb_buf b = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	struct mb_spec *spec = NULL;

	(void)state;
	assert_int_equal(mb_buf_puts(&b, "\xEF\xBB\xBF"), 0);
	assert_int_equal(mb_buf_puts(&b, text), 0);
	assert_int_equal(mb_spec_parse(&spec, b.data, b.len, "bom.json", FIXTURES, &err), 0);
	assert_string_equal(spec->name, "bom");
	mb_spec_free(spec);
	/* standard input has no file name to take the experiment's name from */
	assert_int_equal(mb_spec_parse(&spec, text, strlen(text), "-", FIXTURES, &err), 0);
	assert_string_equal(spec->name, "experiment");
	mb_spec_free(spec);
	/* a file name that is not a valid name is made one, not replaced */
	{
		static const struct {
			const char *label, *want;
		} names[] = {
		    {"dir/my test.json", "my-test"},
		    {"caf\xC3\xA9 spec.json", "caf--spec"},
		    {"/x/\xE6\x97\xA5\xE6\x9C\xAC.json", "experiment"},
		    {"a234567890123456789012345678901234567890123456789012345678901234567890.json",
		     "a234567890123456789012345678901234567890123456789012345678901234"},
		    {"no-extension", "no-extension"},
		};
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
			if (mb_spec_parse(&spec, text, strlen(text), names[i].label, FIXTURES,
			                  &err)) {
				failed("name from %s: got \"%s\", want a spec", names[i].label,
				       err.message);
				continue;
			}
			if (strcmp(spec->name, names[i].want))
				failed("name from %s: got %s, want %s", names[i].label, spec->name,
				       names[i].want);
			mb_spec_free(spec);
		}
	}
	/* without a name the messages still start with a label */
	assert_int_equal(mb_spec_parse(&spec, "[]", 2, NULL, NULL, &err), MB_EDATA);
	check_error("no label", MB_EDATA, &err, MB_EDATA, "<spec>", NULL, "JSON object");
	assert_int_equal(mb_spec_parse(&spec, NULL, 0, "x", NULL, &err), MB_EDATA);
	mb_buf_free(&b);
	free(text);
	if (failures)
		fail_msg("%d failures", failures);
}

/* ---- Files ------------------------------------------------------------------------------------
 */

static void test_files(void **state)
{
	char *dir = make_temp_dir();
	char *minimal = read_text(FIXTURES "/minimal.json");
	char path[4096], sub[2048], want[4096 + 64];
	struct mb_err err = MB_ERR_INIT;
	struct mb_spec *spec = NULL;
	struct mb_buf big = MB_BUF_INIT;
	int rc;

	(void)state;
	snprintf(path, sizeof path, "%s/missing.json", dir);
	rc = mb_spec_load(&spec, path, &err);
	check_error("missing file", rc, &err, MB_ENOINPUT, path, NULL, "cannot open");

	rc = mb_spec_load(&spec, dir, &err);
	check_error("directory", rc, &err, MB_ENOINPUT, dir, NULL, "is a directory");

	snprintf(path, sizeof path, "%s/empty.json", dir);
	write_text(path, "", 0, 0644);
	rc = mb_spec_load(&spec, path, &err);
	check_error("empty file", rc, &err, MB_EDATA, path, NULL, "the file is empty");

	/* exactly at the limit: the minimal spec padded with spaces */
	assert_int_equal(mb_buf_puts(&big, minimal), 0);
	while (big.len < MB_MAX_SPEC_BYTES)
		assert_int_equal(mb_buf_putc(&big, ' '), 0);
	snprintf(path, sizeof path, "%s/limit.json", dir);
	write_text(path, big.data, big.len, 0644);
	rc = mb_spec_load(&spec, path, &err);
	if (rc != 0)
		failed("spec of exactly %u bytes: got rc %d \"%s\", want 0", MB_MAX_SPEC_BYTES, rc,
		       err.message);
	mb_spec_free(spec);
	spec = NULL;

	assert_int_equal(mb_buf_putc(&big, ' '), 0);
	snprintf(path, sizeof path, "%s/huge.json", dir);
	write_text(path, big.data, big.len, 0644);
	rc = mb_spec_load(&spec, path, &err);
	check_error("huge file", rc, &err, MB_EDATA, path, NULL, "larger than the limit");
	rc = mb_spec_parse(&spec, big.data, big.len, "huge", NULL, &err);
	check_error("huge buffer", rc, &err, MB_EDATA, "huge", NULL, "larger than the limit");

	/* relative paths are resolved against the spec's directory, absolute ones kept */
	snprintf(sub, sizeof sub, "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(path, sizeof path, "%s/lab-run.json", sub);
	{
		char *json;
		struct patch p[4] = {{"message", "\"../m.eml\""},
		                     {"name", NULL},
		                     {"pools.alternate.ca_file", "\"./certs/ca.pem\""},
		                     {"pools.alternate.auth.password_file", "\"/run/secret\""}};
		json = patched_full(p, 4);
		write_text(path, json, strlen(json), 0644);
		free(json);
	}
	rc = mb_spec_load(&spec, path, &err);
	assert_int_equal(rc, 0);
	real_join(want, sizeof want, dir, "m.eml"); /* sub/.. is dir */
	assert_string_equal(spec->message_path, want);
	snprintf(want, sizeof want, "%s/certs/ca.pem", sub);
	assert_string_equal(spec->alternate.ca_file, want);
	assert_string_equal(spec->alternate.auth_password.file, "/run/secret");
	assert_string_equal(spec->primary.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	assert_string_equal(spec->name, "lab-run");
	assert_string_equal(spec->path, path);
	mb_spec_free(spec);
	spec = NULL;

	/* without a base directory: the current directory */
	{
		char cwd[4096];
		struct patch p[1] = {{"message", "\"m.eml\""}};
		char *json = patched_full(p, 1);
		assert_non_null(getcwd(cwd, sizeof cwd));
		assert_int_equal(mb_spec_parse(&spec, json, strlen(json), "x.json", NULL, &err), 0);
		real_join(want, sizeof want, cwd, "m.eml");
		assert_string_equal(spec->message_path, want);
		free(json);
		mb_spec_free(spec);
	}
	mb_buf_free(&big);
	free(minimal);
	remove_tree(dir);
	free(dir);
	if (failures)
		fail_msg("%d failures", failures);
}

/* ---- Secrets ----------------------------------------------------------------------------------
 */

static void test_secrets(void **state)
{
	char *dir = make_temp_dir();
	char good[4096], loose[4096], empty[4096];
	struct mb_secret_ref ref = {NULL, NULL};
	struct mb_err err = MB_ERR_INIT;
	char *secret = NULL;
	int rc;

	(void)state;
	snprintf(good, sizeof good, "%s/good", dir);
	snprintf(loose, sizeof loose, "%s/loose", dir);
	snprintf(empty, sizeof empty, "%s/empty", dir);
	write_text(good, "s3cret\n", 7, 0600);
	write_text(loose, "s3cret\n", 7, 0644);
	write_text(empty, "\n", 1, 0600);

	/* no reference: no secret, no error */
	assert_int_equal(mb_secret_resolve(&ref, "pools.primary.auth", &secret, &err), 0);
	assert_null(secret);

	ref.env = "MB_TEST_SECRET_UNSET";
	unsetenv(ref.env);
	rc = mb_secret_resolve(&ref, "mailbox", &secret, &err);
	check_error("unset variable", rc, &err, MB_ECONFIG, "mailbox.password_env", NULL,
	            "environment variable MB_TEST_SECRET_UNSET is not set");
	assert_null(secret);

	setenv("MB_TEST_SECRET_UNSET", "", 1);
	rc = mb_secret_resolve(&ref, "mailbox", &secret, &err);
	check_error("empty variable", rc, &err, MB_ECONFIG, "mailbox.password_env", NULL,
	            "MB_TEST_SECRET_UNSET is empty");
	unsetenv("MB_TEST_SECRET_UNSET");

	ref.env = "MB_TEST_SECRET_SET";
	setenv(ref.env, "hunter2", 1);
	assert_int_equal(mb_secret_resolve(&ref, "mailbox", &secret, &err), 0);
	assert_string_equal(secret, "hunter2");
	free(secret);
	secret = NULL;
	unsetenv(ref.env);

	ref.env = NULL;
	ref.file = good;
	assert_int_equal(mb_secret_resolve(&ref, "pools.alternate.auth", &secret, &err), 0);
	assert_string_equal(secret, "s3cret");
	free(secret);
	secret = NULL;

	ref.file = loose;
	rc = mb_secret_resolve(&ref, "pools.alternate.auth", &secret, &err);
	check_error("secret file 0644", rc, &err, MB_ENOPERM, "pools.alternate.auth.password_file",
	            NULL, "chmod 600");
	if (strstr(err.message, "s3cret"))
		failed("secret file 0644: got message \"%s\", want no secret in it", err.message);
	assert_null(secret);

	ref.file = empty;
	rc = mb_secret_resolve(&ref, "mailbox", &secret, &err);
	check_error("empty secret file", rc, &err, MB_ECONFIG, "mailbox.password_file", NULL,
	            "is empty");

	snprintf(empty, sizeof empty, "%s/missing", dir);
	ref.file = empty;
	rc = mb_secret_resolve(&ref, "mailbox", &secret, &err);
	check_error("missing secret file", rc, &err, MB_ENOINPUT, "mailbox.password_file", NULL,
	            "cannot read secret file");

	/* the whole spec: every reference checked, messages prefixed with the spec */
	{
		char value[4200];
		struct mb_spec *spec = NULL;
		snprintf(value, sizeof value, "\"%s\"", good);
		struct patch p[2] = {{"pools.alternate.auth.password_file", value},
		                     {"mailbox.password_env", "\"MB_TEST_IMAP_PASSWORD\""}};
		assert_int_equal(parse_patched(p, 2, &spec, &err), 0);
		setenv("MB_TEST_SMTP_PASSWORD", "a", 1);
		unsetenv("MB_TEST_IMAP_PASSWORD");
		rc = mb_spec_check_secrets(spec, &err);
		check_error("spec with an unset variable", rc, &err, MB_ECONFIG, LABEL,
		            "mailbox.password_env", "MB_TEST_IMAP_PASSWORD is not set");
		setenv("MB_TEST_IMAP_PASSWORD", "b", 1);
		assert_int_equal(mb_spec_check_secrets(spec, &err), 0);
		unsetenv("MB_TEST_SMTP_PASSWORD");
		unsetenv("MB_TEST_IMAP_PASSWORD");
		mb_spec_free(spec);

		snprintf(value, sizeof value, "\"%s\"", loose);
		struct patch q[1] = {{"pools.alternate.auth.password_file", value}};
		setenv("MB_TEST_SMTP_PASSWORD", "a", 1);
		assert_int_equal(parse_patched(q, 1, &spec, &err), 0);
		rc = mb_spec_check_secrets(spec, &err);
		check_error("spec with a loose secret file", rc, &err, MB_ENOPERM, LABEL,
		            "pools.alternate.auth.password_file", "chmod 600");
		unsetenv("MB_TEST_SMTP_PASSWORD");
		mb_spec_free(spec);
	}
	remove_tree(dir);
	free(dir);
	if (failures)
		fail_msg("%d failures", failures);
}

/* ---- Good specs and round trips -----------------------------------------------------------------
 */

static void test_defaults(void **state)
{
	char want[PATH_MAX + 64];
	struct mb_err err = MB_ERR_INIT;
	struct mb_spec *spec = NULL;

	(void)state;
	assert_int_equal(mb_spec_load(&spec, FIXTURES "/minimal.json", &err), 0);
	assert_string_equal(spec->name, "minimal");
	real_join(want, sizeof want, FIXTURES, "failing.eml");
	assert_string_equal(spec->message_path, want);
	assert_int_equal(spec->n_variants, 4);
	assert_int_equal(spec->variants[0], MB_VARIANT_ORIGINAL);
	assert_int_equal(spec->variants[1], MB_VARIANT_PLAIN_TEXT);
	assert_int_equal(spec->variants[2], MB_VARIANT_LINKS_STRIPPED);
	assert_int_equal(spec->variants[3], MB_VARIANT_ALTERNATE_POOL);
	assert_int_equal(spec->repeat, 1);
	assert_int_equal(spec->window_seconds, 120);
	assert_int_equal(spec->pacing_ms, 2000);
	assert_int_equal(spec->max_messages, 20);
	assert_int_equal(mb_spec_planned_sends(spec), 4);
	assert_string_equal(spec->primary.name, "primary");
	assert_string_equal(spec->alternate.name, "alternate");
	assert_string_equal(spec->primary.transport, "smtp");
	assert_int_equal(spec->primary.tls, MB_TLS_NONE);
	assert_true(spec->primary.tls_verify);
	assert_int_equal(spec->primary.timeout_seconds, 30);
	assert_null(spec->primary.auth_user);
	assert_null(spec->primary.auth_password.env);
	assert_null(spec->primary.auth_password.file);
	assert_int_equal(spec->primary.n_headers, 0);
	assert_true(spec->has_alternate);
	assert_false(spec->has_mailbox);
	assert_int_equal(spec->mailbox.poll_interval_ms, 1000);
	mb_spec_free(spec);

	assert_int_equal(mb_spec_load(&spec, FIXTURES "/full.json", &err), 0);
	assert_string_equal(spec->name, "full-example");
	assert_true(spec->has_alternate_domain);
	assert_string_equal(spec->alternate_from, "news@news.sender-two.example");
	assert_string_equal(spec->alternate_envelope_sender,
	                    "bounces+{send}@bounces.sender-two.example");
	assert_int_equal(spec->n_recipients, 2);
	assert_int_equal(spec->n_variants, 6);
	assert_int_equal(mb_spec_planned_sends(spec), 24);
	assert_int_equal(spec->primary.tls, MB_TLS_STARTTLS);
	assert_int_equal(spec->alternate.tls, MB_TLS_IMPLICIT);
	assert_false(spec->alternate.tls_verify);
	real_join(want, sizeof want, FIXTURES, "ca.pem");
	assert_string_equal(spec->alternate.ca_file, want);
	assert_string_equal(spec->primary.auth_password.env, "MB_TEST_SMTP_PASSWORD");
	/* secrets/ does not exist: joined as written */
	assert_string_equal(spec->alternate.auth_password.file, FIXTURES "/secrets/smtp-password");
	assert_int_equal(spec->alternate.n_headers, 2);
	assert_string_equal(spec->alternate.headers[1].name, "X-Mailgun-Sending-Ip-Pool");
	assert_string_equal(spec->alternate.headers[1].value, "pool-b");
	assert_string_equal(spec->mailbox.url, "imaps://imap.sender.example:993/INBOX");
	assert_int_equal(spec->mailbox.poll_interval_ms, 2000);
	mb_spec_free(spec);
}

/* load -> JSON -> parse -> JSON gives the same text and the same plan; no secret leaks. */
static void check_round_trip(const char *path)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_spec *spec = NULL, *again = NULL;
	char *json = NULL, *json2 = NULL;
	int rc = mb_spec_load(&spec, path, &err);

	if (rc) {
		failed("%s: got rc %d \"%s\", want a valid spec", path, rc, err.message);
		return;
	}
	assert_int_equal(mb_spec_to_json(spec, &json), 0);
	rc = mb_spec_parse(&again, json, strlen(json), "stored", "/nonexistent", &err);
	if (rc) {
		failed("%s: stored JSON does not load again: \"%s\"\n%s", path, err.message, json);
	} else {
		assert_int_equal(mb_spec_to_json(again, &json2), 0);
		if (strcmp(json, json2))
			failed("%s: round trip: got\n%s\nwant\n%s", path, json2, json);
		if (mb_spec_planned_sends(again) != mb_spec_planned_sends(spec))
			failed("%s: round trip: got %ld sends, want %ld", path,
			       mb_spec_planned_sends(again), mb_spec_planned_sends(spec));
		if (strcmp(again->message_path, spec->message_path) ||
		    strcmp(again->name, spec->name))
			failed("%s: round trip changed message or name", path);
	}
	if (strstr(json, "\"password\"") || strstr(json, "hunter2"))
		failed("%s: stored JSON holds a secret:\n%s", path, json);
	if (spec->has_mailbox && !strstr(json, "\"password_"))
		failed("%s: stored JSON lost the mailbox secret reference", path);
	free(json);
	free(json2);
	mb_spec_free(spec);
	mb_spec_free(again);
}

/* A domain typed in capitals is the same domain: reports and history show one spelling. */
static void test_domain_case(void **state)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_spec *spec = NULL;
	struct patch p[2] = {{"domain", "\"Victim.EXAMPLE\""},
	                     {"recipients", "[\"Alice@Victim.Example\"]"}};
	(void)state;

	if (parse_patched(p, 2, &spec, &err))
		fail_msg("%s", err.message);
	assert_string_equal(spec->domain, "victim.example");
	mb_spec_free(spec);
}

static void test_round_trip(void **state)
{
	(void)state;
	setenv("MB_TEST_SMTP_PASSWORD", "hunter2", 1);
	setenv("MB_TEST_IMAP_PASSWORD", "hunter2", 1);
	check_round_trip(FIXTURES "/full.json");
	check_round_trip(FIXTURES "/minimal.json");
	check_round_trip(MB_SOURCE_DIR "/experiments/demo-s3150.json");
	unsetenv("MB_TEST_SMTP_PASSWORD");
	unsetenv("MB_TEST_IMAP_PASSWORD");
	{
		/* defaults are written out, so a stored spec does not change meaning when they do
		 */
		struct mb_err err = MB_ERR_INIT;
		struct mb_spec *spec = NULL;
		char *json = NULL;
		cJSON *root;
		assert_int_equal(mb_spec_load(&spec, FIXTURES "/minimal.json", &err), 0);
		assert_int_equal(mb_spec_to_json(spec, &json), 0);
		root = cJSON_Parse(json);
		assert_non_null(root);
		assert_int_equal(cJSON_GetObjectItem(root, "max_messages")->valueint, 20);
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "variants")), 4);
		assert_string_equal(
		    cJSON_GetObjectItem(
		        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "pools"), "alternate"),
		        "name")
		        ->valuestring,
		    "alternate");
		cJSON_Delete(root);
		free(json);
		mb_spec_free(spec);
	}
	if (failures)
		fail_msg("%d failures", failures);
}

/* Every example spec in experiments/ loads, and its name is its file name. */
static void test_experiments(void **state)
{
	DIR *d = opendir(MB_SOURCE_DIR "/experiments");
	struct dirent *e;
	int count = 0;

	(void)state;
	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char path[4096], stem[256];
		struct mb_err err = MB_ERR_INIT;
		struct mb_spec *spec = NULL;
		if (n < 6 || strcmp(e->d_name + n - 5, ".json") ||
		    !strcmp(e->d_name, "schema.json"))
			continue;
		snprintf(path, sizeof path, "%s/experiments/%s", MB_SOURCE_DIR, e->d_name);
		snprintf(stem, sizeof stem, "%.*s", (int)(n - 5), e->d_name);
		count++;
		if (mb_spec_load(&spec, path, &err)) {
			failed("%s: got \"%s\", want a valid spec", path, err.message);
			continue;
		}
		if (strcmp(spec->name, stem))
			failed("%s: got name \"%s\", want \"%s\"", path, spec->name, stem);
		if (!spec->has_mailbox)
			failed("%s: got no mailbox, want the lab's", path);
		mb_spec_free(spec);
		check_round_trip(path);
	}
	closedir(d);
	if (count < 6)
		failed("experiments/: got %d specs, want at least 6", count);
	if (failures)
		fail_msg("%d failures", failures);
}

/* ---- Agreement with experiments/schema.json and the README ----------------------------------
 */

static const cJSON *schema_resolve(const cJSON *root, const cJSON *node)
{
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");

	if (cJSON_IsString(ref) && !strncmp(ref->valuestring, "#/$defs/", 8))
		return cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(root, "$defs"), ref->valuestring + 8);
	return node;
}

static bool in_string_array(const cJSON *array, const char *s)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, array) if (cJSON_IsString(item) &&
	                                    !strcmp(item->valuestring, s)) return true;
	return false;
}

static long schema_long(const cJSON *node, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(node, key);
	return cJSON_IsNumber(item) ? (long)item->valuedouble : 0;
}

/* Compares one schema property with the loader's field of the same path. */
static void compare_field(const cJSON *prop, bool required, const char *path,
                          const struct field_list *list, bool *seen)
{
	const struct mb_spec_field *f = NULL;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(prop, "type");
	const cJSON *def = cJSON_GetObjectItemCaseSensitive(prop, "default");
	long min = 0, max = 0;

	for (size_t i = 0; i < list->n; i++)
		if (!strcmp(list->fields[i].path, path))
			f = &list->fields[i], seen[i] = true;
	if (!f) {
		failed("schema field %s: got no such field in the loader, want one", path);
		return;
	}
	if (!cJSON_IsString(type) || strcmp(type->valuestring, f->type))
		failed("%s: got schema type %s, want %s", path,
		       cJSON_IsString(type) ? type->valuestring : "(none)", f->type);
	if (required != f->required)
		failed("%s: got schema required %d, want %d", path, required, f->required);
	if (!strcmp(f->type, "integer"))
		min = schema_long(prop, "minimum"), max = schema_long(prop, "maximum");
	else if (!strcmp(f->type, "array"))
		min = schema_long(prop, "minItems"), max = schema_long(prop, "maxItems");
	else if (f->is_map)
		min = schema_long(prop, "minProperties"), max = schema_long(prop, "maxProperties");
	if (min != f->min || max != f->max)
		failed("%s: got schema range %ld..%ld, want %ld..%ld", path, min, max, f->min,
		       f->max);
	if (!def != !f->default_json) {
		failed("%s: got schema default %s, want %s", path, def ? "set" : "none",
		       f->default_json ? f->default_json : "none");
	} else if (def) {
		cJSON *want = cJSON_Parse(f->default_json);
		if (!cJSON_Compare(def, want, 1))
			failed("%s: schema default differs from the loader's %s", path,
			       f->default_json);
		cJSON_Delete(want);
	}
}

static void walk_schema(const cJSON *root, const cJSON *node, const char *parent,
                        const struct field_list *list, bool *seen)
{
	const cJSON *props, *required, *prop;

	node = schema_resolve(root, node);
	props = cJSON_GetObjectItemCaseSensitive(node, "properties");
	required = cJSON_GetObjectItemCaseSensitive(node, "required");
	if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(node, "additionalProperties")))
		failed("schema %s: got additionalProperties not false, want false",
		       *parent ? parent : "(top)");
	cJSON_ArrayForEach(prop, props)
	{
		char path[256];
		const cJSON *sub = schema_resolve(root, prop);
		snprintf(path, sizeof path, "%s%s%s", parent, *parent ? "." : "", prop->string);
		compare_field(sub, in_string_array(required, prop->string), path, list, seen);
		if (cJSON_GetObjectItemCaseSensitive(sub, "properties"))
			walk_schema(root, sub, path, list, seen);
	}
}

static const cJSON *schema_at(const cJSON *root, const char *const *keys)
{
	const cJSON *node = root;

	/* a key of digits indexes an array */
	for (; *keys && node; keys++)
		node = schema_resolve(root, cJSON_IsArray(node)
		                                ? cJSON_GetArrayItem(node, atoi(*keys))
		                                : cJSON_GetObjectItemCaseSensitive(node, *keys));
	return node;
}

static void test_schema_agreement(void **state)
{
	char *text = read_text(MB_SOURCE_DIR "/experiments/schema.json");
	cJSON *root = cJSON_Parse(text);
	struct field_list list;
	bool seen[128] = {false};
	static const char *const variant_enum[] = {"properties", "variants", "items", "enum", NULL};
	static const char *const transport_enum[] = {"$defs",     "pool", "properties",
	                                             "transport", "enum", NULL};
	static const char *const tls_enum[] = {"$defs", "pool", "properties", "tls", "enum", NULL};
	static const char *const alternate_condition[] = {
	    "allOf", "0", "if", "anyOf", "1", "properties", "variants", "contains", "enum", NULL};
	const cJSON *item, *cond;
	int n = 0;

	(void)state;
	assert_non_null(root);
	loader_fields(&list);
	walk_schema(root, root, "", &list, seen);
	for (size_t i = 0; i < list.n; i++)
		if (!seen[i])
			failed("loader field %s: got nothing in schema.json, want a property",
			       list.fields[i].path);

	/* variant names: the schema's enum is exactly the variant module's list */
	cJSON_ArrayForEach(item, schema_at(root, variant_enum))
	{
		enum mb_variant v;
		if (mb_variant_from_name(item->valuestring, &v))
			failed("schema variant %s: got unknown to mb_variant_from_name",
			       item->valuestring);
		n++;
	}
	if (n != MB_VARIANT_COUNT)
		failed("schema variants: got %d names, want %d", n, MB_VARIANT_COUNT);
	/* the schema's condition for pools.alternate names the variants that need it */
	cond = schema_at(root, alternate_condition);
	assert_non_null(cond);
	for (int v = 0; v < MB_VARIANT_COUNT; v++)
		if (mb_variant_uses_alternate_pool((enum mb_variant)v) !=
		    in_string_array(cond, mb_variant_name((enum mb_variant)v)))
			failed(
			    "schema: variant %s: got %s the pools.alternate condition, want %s",
			    mb_variant_name((enum mb_variant)v),
			    in_string_array(cond, mb_variant_name((enum mb_variant)v)) ? "in"
			                                                               : "not in",
			    mb_variant_uses_alternate_pool((enum mb_variant)v) ? "in" : "not in");

	/* transports: the schema's enum is exactly the transport table */
	n = 0;
	cJSON_ArrayForEach(item, schema_at(root, transport_enum))
	{
		if (!mb_transport_find(item->valuestring))
			failed("schema transport %s: got unknown to mb_transport_find",
			       item->valuestring);
		n++;
	}
	for (const char *const *t = mb_transport_names(); *t; t++)
		n--;
	if (n)
		failed("schema transports: got a different count than mb_transport_names()");

	/* tls values: each accepted by the loader */
	cJSON_ArrayForEach(item, schema_at(root, tls_enum))
	{
		char value[64];
		snprintf(value, sizeof value, "\"%s\"", item->valuestring);
		/* the full spec names a CA bundle, which only a TLS pool may */
		struct patch p[2] = {{"pools.primary.tls", value}, {"pools.primary.ca_file", NULL}};
		expect("schema tls value", p, 2, 0, NULL, NULL);
	}
	cJSON_Delete(root);
	free(text);
	if (failures)
		fail_msg("%d failures", failures);
}

/* The docs list a pool's fields once, as pools.<pool>.X. */
static void doc_path(const char *path, char *out, size_t size)
{
	if (!strncmp(path, "pools.primary.", 14))
		snprintf(out, size, "pools.<pool>.%s", path + 14);
	else if (!strncmp(path, "pools.alternate.", 16))
		snprintf(out, size, "pools.<pool>.%s", path + 16);
	else
		snprintf(out, size, "%s", path);
}

/* The cells of the docs table row for a path: | `path` | type | required | default | range | */
static bool doc_row(const char *docs, const char *path, char cells[5][256])
{
	char key[300];
	const char *row, *end;

	snprintf(key, sizeof key, "\n| `%s` |", path);
	row = strstr(docs, key);
	if (!row)
		return false;
	row++;
	end = strchr(row, '\n');
	for (int i = 0; i < 5; i++) {
		const char *bar = strchr(row, '|'), *next;
		size_t n;
		if (!bar || bar > end)
			return false;
		next = strchr(bar + 1, '|');
		if (!next || next > end)
			return false;
		row = bar + 1;
		while (*row == ' ')
			row++;
		n = (size_t)(next - row);
		while (n && row[n - 1] == ' ')
			n--;
		snprintf(cells[i], 256, "%.*s", (int)n, row);
		row = next;
	}
	return true;
}

static void test_docs_agreement(void **state)
{
	char *readme = read_text(MB_SOURCE_DIR "/README.md");
	struct field_list list;
	const char *p;
	/* the spec's section of the README: from its heading to the next top-level heading */
	char *docs = strstr(readme, "\n## The experiment spec\n");
	char *section_end;

	assert_non_null(docs);
	section_end = strstr(docs + 1, "\n## ");
	if (section_end)
		*section_end = '\0';

	(void)state;
	loader_fields(&list);
	for (size_t i = 0; i < list.n; i++) {
		const struct mb_spec_field *f = &list.fields[i];
		char path[200], cells[5][256], want[64];
		doc_path(f->path, path, sizeof path);
		if (!doc_row(docs, path, cells)) {
			failed("README.md (spec section): got no table row for `%s`, want one",
			       path);
			continue;
		}
		if (strncmp(cells[1], f->type, strlen(f->type)))
			failed("docs `%s`: got type \"%s\", want \"%s\"", path, cells[1], f->type);
		/* "when ..." for a field required only in some specs */
		if (strcmp(cells[2], f->required ? "yes" : "no") &&
		    (f->required || strncmp(cells[2], "when ", 5)))
			failed("docs `%s`: got required \"%s\", want \"%s\"", path, cells[2],
			       f->required ? "yes" : "no");
		if (f->default_json) {
			const char *tick = strchr(cells[3], '`');
			const char *end = tick ? strchr(tick + 1, '`') : NULL;
			char json[256];
			cJSON *got, *want_json = cJSON_Parse(f->default_json);
			snprintf(json, sizeof json, "%.*s", end ? (int)(end - tick - 1) : 0,
			         tick ? tick + 1 : "");
			got = cJSON_Parse(json);
			if (!cJSON_Compare(got, want_json, 1))
				failed("docs `%s`: got default \"%s\", want `%s`", path, cells[3],
				       f->default_json);
			cJSON_Delete(got);
			cJSON_Delete(want_json);
		}
		if (f->min || f->max) {
			if (f->is_map)
				snprintf(want, sizeof want, "at most %ld", f->max);
			else
				snprintf(want, sizeof want, "%ld..%ld", f->min, f->max);
			size_t n = strlen(want);
			if (strncmp(cells[4], want, n) ||
			    (cells[4][n] >= '0' && cells[4][n] <= '9'))
				failed("docs `%s`: got range \"%s\", want \"%s\"", path, cells[4],
				       want);
		}
	}
	/* and nothing documented that the loader does not know */
	for (p = strstr(docs, "\n| `"); p; p = strstr(p + 1, "\n| `")) {
		char path[200], loader[220];
		const char *end = strchr(p + 4, '`');
		bool found = false;
		snprintf(path, sizeof path, "%.*s", (int)(end - p - 4), p + 4);
		if (!strncmp(path, "pools.<pool>.", 13))
			snprintf(loader, sizeof loader, "pools.primary.%s", path + 13);
		else
			snprintf(loader, sizeof loader, "%s", path);
		for (size_t i = 0; i < list.n && !found; i++)
			found = !strcmp(list.fields[i].path, loader);
		if (!found)
			failed(
			    "README.md (spec section): got a row for `%s`, unknown to the loader",
			    path);
	}
	free(readme);
	if (failures)
		fail_msg("%d failures", failures);
}

/* ---- Pool headers: the loader, the schema and the README refuse the same names ------------- */

/* The schema's regular expression at keys; its patterns use only what both ECMA-262 and POSIX
 * extended expressions understand, so regcomp can check them here. */
static void schema_regex(const cJSON *root, const char *const *keys, regex_t *re)
{
	const cJSON *pattern = schema_at(root, keys);

	if (!cJSON_IsString(pattern))
		fail_msg("schema.json: no pattern at %s...", keys[0]);
	if (regcomp(re, pattern->valuestring, REG_EXTENDED | REG_NOSUB))
		fail_msg("schema.json: pattern %s: not a POSIX extended expression",
		         pattern->valuestring);
}

/* One header name through the loader (as pools.alternate.headers) and the schema's patterns. */
static void check_header_name(const char *name, bool reserved, const regex_t *allowed,
                              const regex_t *refused)
{
	char headers[256], path[128];
	struct patch p[1] = {{"pools.alternate.headers", headers}};

	snprintf(headers, sizeof headers, "{\"%s\": \"v\"}", name);
	snprintf(path, sizeof path, "pools.alternate.headers.%s", name);
	expect(name, p, 1, reserved ? MB_ECONFIG : 0, path, "belongs to the message");
	if ((regexec(allowed, name, 0, NULL, 0) == 0 && regexec(refused, name, 0, NULL, 0) != 0) ==
	    reserved)
		failed("schema.json: header %s: got %s, want %s", name,
		       reserved ? "allowed" : "refused", reserved ? "refused" : "allowed");
}

static void test_reserved_headers(void **state)
{
	static const char *const names_pattern[] = {
	    "$defs", "pool", "properties", "headers", "propertyNames", "pattern", NULL};
	static const char *const reserved_pattern[] = {
	    "$defs", "pool", "properties", "headers", "propertyNames", "not", "pattern", NULL};
	static const char *const value_pattern[] = {
	    "$defs", "pool", "properties", "headers", "additionalProperties", "pattern", NULL};
	static const char *const allowed[] = {"X-Mailgun-Sending-Ip-Pool",
	                                      "X-From",
	                                      "Fromage",
	                                      "X-Content-Type",
	                                      "Listing",
	                                      "X-Received-By",
	                                      NULL};
	char *text = read_text(MB_SOURCE_DIR "/experiments/schema.json");
	char *readme = read_text(MB_SOURCE_DIR "/README.md");
	char *row = strstr(readme, "\n| `pools.<pool>.headers` |"), *row_end;
	cJSON *root = cJSON_Parse(text);
	regex_t names, refused, values;

	(void)state;
	assert_non_null(root);
	assert_non_null(row);
	row_end = strchr(row + 1, '\n');
	if (row_end)
		*row_end = '\0';
	schema_regex(root, names_pattern, &names);
	schema_regex(root, reserved_pattern, &refused);
	schema_regex(root, value_pattern, &values);
	for (const char *const *r = mb_spec_reserved_headers(); *r; r++) {
		char name[128], lower[128], upper[128], quoted[140];
		size_t n = strlen(*r);
		/* "Content-*" stands for Content-Type and every other Content- field */
		snprintf(name, sizeof name, "%.*s%s", (int)n - ((*r)[n - 1] == '*'), *r,
		         (*r)[n - 1] == '*' ? "Type" : "");
		for (size_t i = 0; i <= strlen(name); i++) {
			lower[i] = (char)tolower((unsigned char)name[i]);
			upper[i] = (char)toupper((unsigned char)name[i]);
		}
		check_header_name(name, true, &names, &refused);
		check_header_name(lower, true, &names, &refused);
		check_header_name(upper, true, &names, &refused);
		snprintf(quoted, sizeof quoted, "`%s`", *r);
		if (!strstr(row, quoted))
			failed("README.md: the pools.<pool>.headers row does not name %s", quoted);
	}
	for (const char *const *a = allowed; *a; a++)
		check_header_name(*a, false, &names, &refused);
	/* values: ASCII (tab allowed), no line breaks */
	if (regexec(&values, "pool-b\tx", 0, NULL, 0) != 0)
		failed("schema.json: header value with a tab: got refused, want allowed");
	if (regexec(&values, "p\xC3\xB6ol", 0, NULL, 0) == 0)
		failed("schema.json: non-ASCII header value: got allowed, want refused");
	if (regexec(&values, "a\r\nBcc: x@evil.example", 0, NULL, 0) == 0)
		failed("schema.json: header value with CRLF: got allowed, want refused");
	regfree(&names);
	regfree(&refused);
	regfree(&values);
	cJSON_Delete(root);
	free(readme);
	free(text);
	if (failures)
		fail_msg("%d failures", failures);
}

/* An ESP config is written out again for the spec: a string cut at \u0000 would not show. */
static void test_config_escaped_nul(void **state)
{
	static const char config[] =
	    "{\"envelope_sender\": \"b@bounces.sender.example\\u0000.evil.example\",\n"
	    " \"variants\": [\"original\"],\n"
	    " \"pools\": {\"primary\": {\"host\": \"127.0.0.1\", \"port\": 2525}}}\n";
	char *dir = make_temp_dir(), path[4200];
	struct mb_err err = MB_ERR_INIT;
	char *json = NULL;
	int rc;

	(void)state;
	snprintf(path, sizeof path, "%s/esp.json", dir);
	write_text(path, config, strlen(config), 0600);
	rc = mb_spec_from_config(path, "t", "/tmp/m.eml", "victim.example", "a@victim.example",
	                         &json, &err);
	check_error("config with an escaped NUL", rc, &err, MB_EDATA, path, "envelope_sender",
	            "escaped NUL");
	free(json);
	remove_tree(dir);
	free(dir);
	if (failures)
		fail_msg("%d failures", failures);
}

static int reset_failures(void **state)
{
	(void)state;
	failures = 0;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_wrong_types, reset_failures),
	    cmocka_unit_test_setup(test_unknown_keys, reset_failures),
	    cmocka_unit_test_setup(test_missing_required, reset_failures),
	    cmocka_unit_test_setup(test_integer_ranges, reset_failures),
	    cmocka_unit_test_setup(test_bad_values, reset_failures),
	    cmocka_unit_test_setup(test_secrets_in_spec, reset_failures),
	    cmocka_unit_test_setup(test_good_edges, reset_failures),
	    cmocka_unit_test_setup(test_count_limits, reset_failures),
	    cmocka_unit_test_setup(test_raw_text, reset_failures),
	    cmocka_unit_test_setup(test_bom_and_label, reset_failures),
	    cmocka_unit_test_setup(test_files, reset_failures),
	    cmocka_unit_test_setup(test_secrets, reset_failures),
	    cmocka_unit_test_setup(test_defaults, reset_failures),
	    cmocka_unit_test_setup(test_domain_case, reset_failures),
	    cmocka_unit_test_setup(test_round_trip, reset_failures),
	    cmocka_unit_test_setup(test_experiments, reset_failures),
	    cmocka_unit_test_setup(test_schema_agreement, reset_failures),
	    cmocka_unit_test_setup(test_docs_agreement, reset_failures),
	    cmocka_unit_test_setup(test_reserved_headers, reset_failures),
	    cmocka_unit_test_setup(test_config_escaped_nul, reset_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
