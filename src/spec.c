/* Experiment spec loader: checks the JSON's shape against one table of fields (the table that
 * tests compare with experiments/schema.json and the README), then every value, then builds
 * struct mb_spec. Nothing may be sent from a spec that did not pass here. */
#include "mailbisect/spec.h"
#include "mailbisect/file.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"
#include "mailbisect/transport.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PATH_BUF         256  /* a field path in a message, cut when longer */
#define SHOW_BUF         96   /* a value quoted in a message, cut when longer */
#define NUMBER_BUF       32   /* a JSON number quoted in a message */
#define MAX_LABEL_LEN    64   /* experiment and pool names */
#define MAX_HOST_LEN     255  /* host and helo */
#define MAX_ADDRESS_LEN  254  /* RFC 5321 path */
#define MAX_LOCAL_LEN    64   /* RFC 5321 local part */
#define MAX_POOL_HEADERS 50   /* extra headers per pool */
#define MAX_FILE_PATH    4095 /* a resolved path */
#define SEND_PLACEHOLDER "{send}"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const tls_names[] = {
    [MB_TLS_NONE] = "none",
    [MB_TLS_STARTTLS] = "starttls",
    [MB_TLS_IMPLICIT] = "implicit",
};

/* ---- The field table: the one description of the spec's shape ---------------------------- */

enum field_type { FT_STRING, FT_INTEGER, FT_BOOLEAN, FT_STRING_ARRAY, FT_OBJECT, FT_STRING_MAP };

struct object_kind;

struct field {
	const char *key;
	enum field_type type;
	bool required;
	long min, max;                    /* integer range, array item count, map size */
	const char *default_json;         /* NULL: no default */
	const struct object_kind *object; /* FT_OBJECT */
};

struct object_kind {
	const struct field *fields;
	size_t n_fields;
	const char *one_of[2]; /* exactly one of these keys must be present (secret references) */
};

static const struct field auth_fields[] = {
    {"user", FT_STRING, true, 0, 0, NULL, NULL},
    {"password_env", FT_STRING, false, 0, 0, NULL, NULL},
    {"password_file", FT_STRING, false, 0, 0, NULL, NULL},
};
static const struct object_kind auth_kind = {
    auth_fields, COUNT(auth_fields), {"password_env", "password_file"}};

static const struct field pool_fields[] = {
    {"name", FT_STRING, false, 0, 0, NULL, NULL},
    {"transport", FT_STRING, false, 0, 0, "\"smtp\"", NULL},
    {"host", FT_STRING, true, 0, 0, NULL, NULL},
    {"port", FT_INTEGER, true, 1, 65535, NULL, NULL},
    {"tls", FT_STRING, false, 0, 0, "\"none\"", NULL},
    {"tls_verify", FT_BOOLEAN, false, 0, 0, "true", NULL},
    {"ca_file", FT_STRING, false, 0, 0, NULL, NULL},
    {"auth", FT_OBJECT, false, 0, 0, NULL, &auth_kind},
    {"helo", FT_STRING, false, 0, 0, NULL, NULL},
    {"headers", FT_STRING_MAP, false, 0, MAX_POOL_HEADERS, NULL, NULL},
    {"timeout_seconds", FT_INTEGER, false, 1, 600, "30", NULL},
};
static const struct object_kind pool_kind = {pool_fields, COUNT(pool_fields), {NULL, NULL}};

static const struct field pools_fields[] = {
    {"primary", FT_OBJECT, true, 0, 0, NULL, &pool_kind},
    {"alternate", FT_OBJECT, false, 0, 0, NULL, &pool_kind},
};
static const struct object_kind pools_kind = {pools_fields, COUNT(pools_fields), {NULL, NULL}};

static const struct field mailbox_fields[] = {
    {"url", FT_STRING, true, 0, 0, NULL, NULL},
    {"user", FT_STRING, true, 0, 0, NULL, NULL},
    {"password_env", FT_STRING, false, 0, 0, NULL, NULL},
    {"password_file", FT_STRING, false, 0, 0, NULL, NULL},
    {"poll_interval_ms", FT_INTEGER, false, 100, 60000, "1000", NULL},
};
static const struct object_kind mailbox_kind = {
    mailbox_fields, COUNT(mailbox_fields), {"password_env", "password_file"}};

static const struct field altdom_fields[] = {
    {"from", FT_STRING, true, 0, 0, NULL, NULL},
    {"envelope_sender", FT_STRING, true, 0, 0, NULL, NULL},
};
static const struct object_kind altdom_kind = {altdom_fields, COUNT(altdom_fields), {NULL, NULL}};

static const struct field top_fields[] = {
    {"$schema", FT_STRING, false, 0, 0, NULL, NULL},
    {"name", FT_STRING, false, 0, 0, NULL, NULL},
    {"message", FT_STRING, true, 0, 0, NULL, NULL},
    {"domain", FT_STRING, true, 0, 0, NULL, NULL},
    {"recipients", FT_STRING_ARRAY, true, 1, MB_MAX_RECIPIENTS, NULL, NULL},
    {"envelope_sender", FT_STRING, true, 0, 0, NULL, NULL},
    {"variants", FT_STRING_ARRAY, false, 1, MB_VARIANT_COUNT,
     "[\"original\",\"plain-text\",\"links-stripped\",\"alternate-pool\"]", NULL},
    {"repeat", FT_INTEGER, false, 1, 20, "1", NULL},
    {"pools", FT_OBJECT, true, 0, 0, NULL, &pools_kind},
    {"alternate_domain", FT_OBJECT, false, 0, 0, NULL, &altdom_kind},
    {"mailbox", FT_OBJECT, false, 0, 0, NULL, &mailbox_kind},
    {"window_seconds", FT_INTEGER, false, 1, 86400, "120", NULL},
    {"pacing_ms", FT_INTEGER, false, 0, 3600000, "2000", NULL},
    {"max_messages", FT_INTEGER, false, 1, MB_MAX_SENDS, "20", NULL},
    {"followups", FT_INTEGER, false, 0, 20, "4", NULL},
};
static const struct object_kind top_kind = {top_fields, COUNT(top_fields), {NULL, NULL}};

static const struct field *find_field(const struct object_kind *kind, const char *key)
{
	for (size_t i = 0; key && i < kind->n_fields; i++)
		if (strcmp(kind->fields[i].key, key) == 0)
			return &kind->fields[i];
	return NULL;
}

static const char *field_type_name(enum field_type type)
{
	switch (type) {
	case FT_STRING:
		return "string";
	case FT_INTEGER:
		return "integer";
	case FT_BOOLEAN:
		return "boolean";
	case FT_STRING_ARRAY:
		return "array";
	case FT_OBJECT:
	case FT_STRING_MAP:
		return "object";
	}
	return "?";
}

/* ---- Messages: "LABEL: field.path: what is wrong" ----------------------------------------- */

struct load {
	const char *label;    /* spec file name, the prefix of every message */
	const char *base_dir; /* resolves relative paths; NULL = current directory */
	struct mb_err *err;
};

static int fail(const struct load *ld, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(const struct load *ld, int code, const char *path, const char *fmt, ...)
{
	char text[sizeof ld->err->message];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (path && *path)
		return mb_err_set(ld->err, code, "%s: %s: %s", ld->label, path, text);
	return mb_err_set(ld->err, code, "%s: %s", ld->label, text);
}

/* Appends c to out[0..size) at *n, always NUL-terminated; drops what does not fit. */
static void put_char(char *out, size_t size, size_t *n, char c)
{
	if (*n + 1 < size)
		out[(*n)++] = c;
	out[*n] = '\0';
}

/* Appends untrusted text printably: bytes outside printable ASCII become \xNN; cut at max. */
static void put_shown(char *out, size_t size, size_t *n, const char *s, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7F || c == '\\') {
			put_char(out, size, n, '\\');
			put_char(out, size, n, 'x');
			put_char(out, size, n, hex[c >> 4]);
			put_char(out, size, n, hex[c & 15]);
		} else {
			put_char(out, size, n, (char)c);
		}
	}
	if (s[i])
		for (int k = 0; k < 3; k++)
			put_char(out, size, n, '.');
}

/* Appends a name to a comma-separated list of names. */
static void put_list_item(char *out, size_t size, size_t *n, size_t index, const char *name)
{
	if (index) {
		put_char(out, size, n, ',');
		put_char(out, size, n, ' ');
	}
	put_shown(out, size, n, name, 64);
}

/* Appends ".key" (key != NULL) or "[index]" to the path in out. */
static void path_append(char *out, size_t size, const char *key, long index)
{
	size_t n = strlen(out);
	char num[24];

	if (key) {
		if (n)
			put_char(out, size, &n, '.');
		put_shown(out, size, &n, key, 64);
		return;
	}
	snprintf(num, sizeof num, "[%ld]", index);
	for (const char *p = num; *p; p++)
		put_char(out, size, &n, *p);
}

static void path_join(char *out, size_t size, const char *parent, const char *key, long index)
{
	size_t n = 0;

	out[0] = '\0';
	for (const char *p = parent ? parent : ""; *p; p++)
		put_char(out, size, &n, *p);
	path_append(out, size, key, index);
}

/* A value quoted in a message, made printable and cut. */
static const char *show(const char *s, char out[SHOW_BUF])
{
	size_t n = 0;

	out[0] = '\0';
	put_char(out, SHOW_BUF, &n, '"');
	put_shown(out, SHOW_BUF, &n, s, 64);
	put_char(out, SHOW_BUF, &n, '"');
	return out;
}

static bool is_integer(const cJSON *item)
{
	return cJSON_IsNumber(item) && isfinite(item->valuedouble) &&
	       item->valuedouble == floor(item->valuedouble);
}

/* A JSON number quoted in a message: an integral value in full (9223372036854775808, not
 * 9.22337203685478e+18) below 1e21, beyond that with an exponent, as JavaScript prints it. */
static const char *show_number(double value, char out[NUMBER_BUF])
{
	if (isfinite(value) && value == floor(value) && fabs(value) < 1e21)
		snprintf(out, NUMBER_BUF, "%.0f", value);
	else
		snprintf(out, NUMBER_BUF, "%.15g", value);
	return out;
}

static const char *json_kind(const cJSON *item)
{
	if (cJSON_IsString(item))
		return "string";
	if (cJSON_IsNumber(item))
		return is_integer(item) ? "integer" : "number";
	if (cJSON_IsBool(item))
		return "boolean";
	if (cJSON_IsNull(item))
		return "null";
	if (cJSON_IsArray(item))
		return "array";
	if (cJSON_IsObject(item))
		return "object";
	return "invalid value";
}

static int type_error(const struct load *ld, const char *path, const char *want, const cJSON *item)
{
	if (cJSON_IsNumber(item) && !is_integer(item))
		return fail(ld, MB_EDATA, path, "expected %s, got number %.15g", want,
		            item->valuedouble);
	return fail(ld, MB_EDATA, path, "expected %s, got %s", want, json_kind(item));
}

/* ---- JSON syntax ---------------------------------------------------------------------------- */

static int syntax_error(const struct load *ld, const char *json, size_t len, size_t offset,
                        const char *what)
{
	long line, column;
	char near[SHOW_BUF], snippet[24];
	size_t n = 0;

	if (offset > len)
		offset = len;
	mb_text_position(json, len, offset, &line, &column);
	while (n + 1 < sizeof snippet && offset + n < len && json[offset + n] != '\n' &&
	       json[offset + n] != '\r')
		n++;
	memcpy(snippet, json + offset, n);
	snippet[n] = '\0';
	if (offset >= len)
		return fail(ld, MB_EDATA, NULL, "line %ld, column %ld: %s: unexpected end of file",
		            line, column, what);
	return fail(ld, MB_EDATA, NULL, "line %ld, column %ld: %s near %s", line, column, what,
	            show(snippet, near));
}

static bool only_whitespace(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!strchr(" \t\r\n", s[i]))
			return false;
	return true;
}

static int parse_json(const struct load *ld, const char *json, size_t len, cJSON **out)
{
	const char *end = NULL;
	const char *nul = memchr(json, '\0', len);
	cJSON *root;

	*out = NULL;
	if (nul)
		return syntax_error(ld, json, len, (size_t)(nul - json), "NUL byte in the file");
	if (only_whitespace(json, len))
		return fail(ld, MB_EDATA, NULL,
		            "the file is empty; a spec is a JSON object (see the README)");
	root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!root) {
		if (!end)
			return fail(ld, MB_ENOMEM, NULL, "out of memory while parsing");
		return syntax_error(ld, json, len, (size_t)(end - json), "invalid JSON");
	}
	while (end < json + len && *end && strchr(" \t\r\n", *end))
		end++;
	if (end < json + len) {
		cJSON_Delete(root);
		return syntax_error(ld, json, len, (size_t)(end - json),
		                    "unexpected text after the JSON object");
	}
	if (!cJSON_IsObject(root)) {
		int rc = fail(ld, MB_EDATA, NULL, "the top level must be a JSON object, got %s",
		              json_kind(root));
		cJSON_Delete(root);
		return rc;
	}
	*out = root;
	return 0;
}

/* ---- Shape: keys, types, required keys (MB_EDATA) ------------------------------------------ */

/* A step of the path from the root, so that a deep search needs no path buffer per level. */
struct crumb {
	const struct crumb *up;
	const char *key; /* NULL for an array element */
	long index;
};

static void crumb_path(const struct crumb *c, char *out, size_t size)
{
	if (!c) {
		out[0] = '\0';
		return;
	}
	crumb_path(c->up, out, size);
	path_append(out, size, c->key, c->index);
}

/* An inline password anywhere is refused before anything else, with a message that says
 * where secrets belong (and never repeats the value). */
static int find_inline_password(const struct load *ld, const cJSON *item, const struct crumb *up)
{
	long index = 0;

	for (const cJSON *child = item->child; child; child = child->next, index++) {
		bool in_object = cJSON_IsObject(item);
		struct crumb here = {up, in_object ? (child->string ? child->string : "") : NULL,
		                     index};
		if (in_object && child->string && strcasecmp(child->string, "password") == 0) {
			char path[PATH_BUF];
			crumb_path(&here, path, sizeof path);
			return fail(ld, MB_EDATA, path,
			            "secrets must not be written into the spec; use password_env "
			            "(an environment variable) or password_file (a file only you "
			            "can read)");
		}
		if (child->child) {
			int rc = find_inline_password(ld, child, &here);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- Escaped NUL characters (MB_EDATA) ----------------------------------------------------- */

/* The path of the string mb_json_escaped_nul counted as *index (keys before their values). */
static bool string_path(const cJSON *item, const struct crumb *up, long *index, char *out,
                        size_t size)
{
	long position = 0;

	for (const cJSON *child = item->child; child; child = child->next, position++) {
		bool in_object = cJSON_IsObject(item);
		struct crumb here = {up, in_object ? (child->string ? child->string : "") : NULL,
		                     position};
		if ((in_object && (*index)-- == 0) || (cJSON_IsString(child) && (*index)-- == 0)) {
			crumb_path(&here, out, size);
			return true;
		}
		if (child->child && string_path(child, &here, index, out, size))
			return true;
	}
	return false;
}

static int refuse_escaped_nul(const struct load *ld, const char *json, size_t len,
                              const cJSON *root)
{
	long index = mb_json_escaped_nul(json, len, NULL);
	char path[PATH_BUF];

	if (index < 0)
		return 0;
	if (!string_path(root, NULL, &index, path, sizeof path))
		path[0] = '\0';
	return fail(ld, MB_EDATA, path,
	            "contains an escaped NUL character (\\u0000), which no field can hold "
	            "(the text after it would be lost)");
}

static int check_shape(const struct load *ld, const cJSON *obj, const struct object_kind *kind,
                       const char *path);

static int unknown_key(const struct load *ld, const struct object_kind *kind, const char *path)
{
	char known[512];
	size_t n = 0;

	known[0] = '\0';
	for (size_t i = 0; i < kind->n_fields; i++) {
		put_list_item(known, sizeof known, &n, i, kind->fields[i].key);
	}
	return fail(ld, MB_EDATA, path, "unknown key (expected one of: %s)", known);
}

static int check_string_map(const struct load *ld, const cJSON *map, const struct field *f,
                            const char *path)
{
	int count = cJSON_GetArraySize(map);

	for (const cJSON *item = map->child; item; item = item->next) {
		char item_path[PATH_BUF];
		path_join(item_path, sizeof item_path, path, item->string, 0);
		if (!cJSON_IsString(item))
			return type_error(ld, item_path, "string", item);
		/* Larger maps are refused by their size later; this keeps the scan short. */
		if (count > f->max)
			continue;
		for (const cJSON *prev = map->child; prev != item; prev = prev->next)
			if (strcmp(prev->string, item->string) == 0)
				return fail(ld, MB_EDATA, item_path, "duplicate key");
	}
	return 0;
}

static int check_type(const struct load *ld, const cJSON *item, const struct field *f,
                      const char *path)
{
	long index = 0;

	switch (f->type) {
	case FT_STRING:
		return cJSON_IsString(item) ? 0 : type_error(ld, path, "string", item);
	case FT_INTEGER:
		return is_integer(item) ? 0 : type_error(ld, path, "integer", item);
	case FT_BOOLEAN:
		return cJSON_IsBool(item) ? 0 : type_error(ld, path, "boolean", item);
	case FT_STRING_ARRAY:
		if (!cJSON_IsArray(item))
			return type_error(ld, path, "array of strings", item);
		for (const cJSON *e = item->child; e; e = e->next, index++) {
			char elem_path[PATH_BUF];
			path_join(elem_path, sizeof elem_path, path, NULL, index);
			if (!cJSON_IsString(e))
				return type_error(ld, elem_path, "string", e);
		}
		return 0;
	case FT_OBJECT:
		if (!cJSON_IsObject(item))
			return type_error(ld, path, "object", item);
		return check_shape(ld, item, f->object, path);
	case FT_STRING_MAP:
		if (!cJSON_IsObject(item))
			return type_error(ld, path, "object", item);
		return check_string_map(ld, item, f, path);
	}
	return fail(ld, MB_ESOFTWARE, path, "unknown field type");
}

static bool has_key(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

static int check_one_of(const struct load *ld, const cJSON *obj, const struct object_kind *kind,
                        const char *path)
{
	bool a, b;

	if (!kind->one_of[0])
		return 0;
	a = has_key(obj, kind->one_of[0]);
	b = has_key(obj, kind->one_of[1]);
	if (a && b)
		return fail(ld, MB_EDATA, path, "give either %s or %s, not both", kind->one_of[0],
		            kind->one_of[1]);
	if (!a && !b)
		return fail(ld, MB_EDATA, path,
		            "%s or %s is required (the secret itself never goes into the spec)",
		            kind->one_of[0], kind->one_of[1]);
	return 0;
}

static int check_shape(const struct load *ld, const cJSON *obj, const struct object_kind *kind,
                       const char *path)
{
	for (const cJSON *item = obj->child; item; item = item->next) {
		char item_path[PATH_BUF];
		const struct field *f = find_field(kind, item->string);
		int rc;

		path_join(item_path, sizeof item_path, path, item->string ? item->string : "", 0);
		if (!f)
			return unknown_key(ld, kind, item_path);
		/* Only known keys get here, so this scan stays short. */
		for (const cJSON *prev = obj->child; prev != item; prev = prev->next)
			if (strcmp(prev->string, item->string) == 0)
				return fail(ld, MB_EDATA, item_path,
				            "duplicate key (a JSON reader may take either value)");
		rc = check_type(ld, item, f, item_path);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < kind->n_fields; i++) {
		if (kind->fields[i].required && !has_key(obj, kind->fields[i].key)) {
			char item_path[PATH_BUF];
			path_join(item_path, sizeof item_path, path, kind->fields[i].key, 0);
			return fail(ld, MB_EDATA, item_path, "required but missing");
		}
	}
	return check_one_of(ld, obj, kind, path);
}

/* ---- Values (MB_ECONFIG) -------------------------------------------------------------------- */

static const cJSON *member(const cJSON *obj, const char *key)
{
	return obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const char *member_string(const cJSON *obj, const char *key)
{
	const cJSON *item = member(obj, key);
	return item ? item->valuestring : NULL;
}

static int get_long(const struct load *ld, const cJSON *obj, const struct object_kind *kind,
                    const char *key, const char *parent, long *out)
{
	const struct field *f = find_field(kind, key);
	const cJSON *item = member(obj, key);
	char path[PATH_BUF], number[NUMBER_BUF];

	if (!item) {
		if (!f->default_json || mb_str_to_long(f->default_json, f->min, f->max, out))
			return fail(ld, MB_ESOFTWARE, key, "no usable default");
		return 0;
	}
	if (item->valuedouble < (double)f->min || item->valuedouble > (double)f->max) {
		path_join(path, sizeof path, parent, key, 0);
		return fail(ld, MB_ECONFIG, path, "must be %ld..%ld, got %s", f->min, f->max,
		            show_number(item->valuedouble, number));
	}
	*out = (long)item->valuedouble;
	return 0;
}

static bool get_bool(const cJSON *obj, const struct object_kind *kind, const char *key)
{
	const cJSON *item = member(obj, key);

	if (item)
		return cJSON_IsTrue(item);
	return strcmp(find_field(kind, key)->default_json, "true") == 0;
}

static bool has_control(const char *s, bool allow_tab)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(allow_tab && *p == '\t')) || *p == 0x7F)
			return true;
	return false;
}

/* Free text such as a user name or a path: not empty, no control characters. */
static int check_text(const struct load *ld, const char *path, const char *s)
{
	if (!*s)
		return fail(ld, MB_ECONFIG, path, "must not be empty");
	if (has_control(s, false))
		return fail(ld, MB_ECONFIG, path, "must not contain control characters");
	return 0;
}

static bool is_label(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > MAX_LABEL_LEN)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static bool is_host(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > MAX_HOST_LEN)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:[]-") ==
	       n;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A dot-atom local part (RFC 5322) without the routing characters % and ! and without braces;
 * with placeholder_ok, "{send}" counts as part of an atom. */
static bool is_local_part(const char *s, size_t n, bool placeholder_ok)
{
	static const char atext_extra[] = "#$&'*+/=?^_`|~-";
	size_t plen = strlen(SEND_PLACEHOLDER);
	bool after_dot = true;

	if (n < 1 || n > MAX_LOCAL_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (after_dot)
				return false;
			after_dot = true;
			continue;
		}
		if (placeholder_ok && i + plen <= n && strncmp(s + i, SEND_PLACEHOLDER, plen) == 0)
			i += plen - 1;
		else if (!is_alnum(s[i]) && !strchr(atext_extra, s[i]))
			return false;
		after_dot = false;
	}
	return !after_dot;
}

/* local@domain with one @, a plain local part and a DNS domain. */
static bool is_plain_address(const char *s, bool placeholder_ok)
{
	const char *at = strchr(s, '@');

	if (!mb_addr_valid(s) || !at || strchr(at + 1, '@') || strlen(s) > MAX_ADDRESS_LEN)
		return false;
	return is_local_part(s, (size_t)(at - s), placeholder_ok) &&
	       mb_domain_valid(at + 1, strlen(at + 1));
}

static bool is_env_name(const char *s)
{
	if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
		return false;
	for (const char *p = s; *p; p++)
		if (!is_alnum(*p) && *p != '_')
			return false;
	return true;
}

/* Header fields a pool may not set: they make the message (From, Subject, its MIME structure)
 * or its identity and routing (Message-ID, Received, signatures). Both pools must send the same
 * message, or a difference between them would no longer be the pool's. "X-*" is a prefix. */
static const char *const reserved_headers[] = {"From",
                                               "Sender",
                                               "Reply-To",
                                               "To",
                                               "Cc",
                                               "Bcc",
                                               "Subject",
                                               "Date",
                                               "Message-ID",
                                               "In-Reply-To",
                                               "References",
                                               "MIME-Version",
                                               "Content-*",
                                               "Return-Path",
                                               "Received",
                                               "Received-SPF",
                                               "Delivered-To",
                                               "Errors-To",
                                               "DKIM-Signature",
                                               "DomainKey-Signature",
                                               "ARC-*",
                                               "Authentication-Results",
                                               "Resent-*",
                                               "List-*",
                                               "Disposition-Notification-To",
                                               NULL};

static bool is_reserved_header(const char *name)
{
	for (const char *const *r = reserved_headers; *r; r++) {
		size_t n = strlen(*r);
		if ((*r)[n - 1] == '*' ? strncasecmp(name, *r, n - 1) == 0
		                       : strcasecmp(name, *r) == 0)
			return true;
	}
	return false;
}

static bool is_ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x80)
			return false;
	return true;
}

/* RFC 5322 field name: printable ASCII except the colon. */
static bool is_header_name(const char *s)
{
	if (!*s)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x21 || *p > 0x7E || *p == ':')
			return false;
	return true;
}

/* Rewrites "/a/b/../c/file" as "/a/c/file" when the directory exists: realpath() resolves
 * "..", "." and symbolic links correctly, which no lexical clean-up can. The file itself need
 * not exist yet. */
static int canonical_directory(struct mb_buf *buf)
{
	char *slash = strrchr(buf->data, '/');
	char dir[PATH_MAX], *file, *joined;
	struct mb_buf out = MB_BUF_INIT;
	int rc;

	if (!slash || slash == buf->data)
		return 0;
	file = slash + 1;
	if (!*file || !strcmp(file, ".") || !strcmp(file, ".."))
		return 0;
	*slash = '\0';
	joined = realpath(buf->data, dir);
	*slash = '/';
	if (!joined)
		return 0;
	rc = mb_buf_puts(&out, dir);
	if (!rc && strcmp(dir, "/") != 0)
		rc = mb_buf_putc(&out, '/');
	if (!rc)
		rc = mb_buf_puts(&out, file);
	if (rc) {
		mb_buf_free(&out);
		return rc;
	}
	mb_buf_free(buf);
	*buf = out;
	return 0;
}

/* Resolves a relative path against the spec's directory (then the current directory), so the
 * stored spec still finds its files from anywhere. Absolute paths are kept as they are. */
static int resolve_path(const struct load *ld, const char *path, const char *value, char **out)
{
	struct mb_buf buf = MB_BUF_INIT;
	char cwd[MAX_FILE_PATH + 1];
	const char *base = ld->base_dir;
	int rc = 0;

	if (value[0] == '/') {
		rc = mb_buf_puts(&buf, value);
	} else {
		while (value[0] == '.' && value[1] == '/')
			value += 2;
		if ((!base || base[0] != '/') && getcwd(cwd, sizeof cwd)) {
			rc = mb_buf_puts(&buf, cwd);
			if (!rc && strcmp(cwd, "/") != 0)
				rc = mb_buf_putc(&buf, '/');
		}
		if (!rc && base && strcmp(base, ".") != 0) {
			rc = mb_buf_puts(&buf, base);
			if (!rc && buf.data[buf.len - 1] != '/')
				rc = mb_buf_putc(&buf, '/');
		}
		if (!rc)
			rc = mb_buf_puts(&buf, value);
		if (!rc)
			rc = canonical_directory(&buf);
	}
	if (!rc && buf.len > MAX_FILE_PATH) {
		mb_buf_free(&buf);
		return fail(ld, MB_ECONFIG, path, "resolved path is longer than %d bytes",
		            MAX_FILE_PATH);
	}
	if (rc || !(*out = mb_buf_steal(&buf))) {
		mb_buf_free(&buf);
		return fail(ld, MB_ENOMEM, path, "out of memory");
	}
	return 0;
}

static int dup_string(const struct load *ld, const char *path, const char *s, char **out)
{
	*out = mb_strdup(s);
	return *out ? 0 : fail(ld, MB_ENOMEM, path, "out of memory");
}

/* A file path field: optional text, resolved against the spec's directory. */
static int get_file(const struct load *ld, const cJSON *obj, const char *key, const char *parent,
                    char **out)
{
	const char *value = member_string(obj, key);
	char path[PATH_BUF];
	int rc;

	if (!value)
		return 0;
	path_join(path, sizeof path, parent, key, 0);
	rc = check_text(ld, path, value);
	return rc ? rc : resolve_path(ld, path, value, out);
}

/* password_env / password_file of an auth or mailbox object (one of them is present). */
static int get_secret_ref(const struct load *ld, const cJSON *obj, const char *parent,
                          struct mb_secret_ref *ref)
{
	const char *env = member_string(obj, "password_env");
	char path[PATH_BUF], shown[SHOW_BUF];

	if (env) {
		path_join(path, sizeof path, parent, "password_env", 0);
		if (!is_env_name(env))
			return fail(ld, MB_ECONFIG, path,
			            "%s is not an environment variable name (letters, digits, _)",
			            show(env, shown));
		return dup_string(ld, path, env, &ref->env);
	}
	return get_file(ld, obj, "password_file", parent, &ref->file);
}

static int get_user(const struct load *ld, const cJSON *obj, const char *parent, char **out)
{
	char path[PATH_BUF];
	int rc;

	path_join(path, sizeof path, parent, "user", 0);
	rc = check_text(ld, path, member_string(obj, "user"));
	return rc ? rc : dup_string(ld, path, member_string(obj, "user"), out);
}

static int unknown_transport(const struct load *ld, const char *path, const char *name)
{
	const char *const *names = mb_transport_names();
	char known[256], shown[SHOW_BUF];
	size_t n = 0;

	known[0] = '\0';
	for (size_t i = 0; names[i]; i++)
		put_list_item(known, sizeof known, &n, i, names[i]);
	return fail(ld, MB_ECONFIG, path, "unknown transport %s (known: %s)", show(name, shown),
	            known);
}

static int parse_headers(const struct load *ld, const cJSON *map, const char *parent,
                         struct mb_pool_spec *pool)
{
	char path[PATH_BUF], shown[SHOW_BUF];
	int count = cJSON_GetArraySize(map);

	path_join(path, sizeof path, parent, "headers", 0);
	if (count > MAX_POOL_HEADERS)
		return fail(ld, MB_ECONFIG, path, "%d headers, at most %d are allowed", count,
		            MAX_POOL_HEADERS);
	pool->headers = calloc((size_t)count + 1, sizeof *pool->headers);
	if (!pool->headers)
		return fail(ld, MB_ENOMEM, path, "out of memory");
	for (const cJSON *item = map->child; item; item = item->next) {
		struct mb_header_field *h = &pool->headers[pool->n_headers];
		char item_path[PATH_BUF];
		path_join(item_path, sizeof item_path, path, item->string, 0);
		if (!is_header_name(item->string))
			return fail(ld, MB_ECONFIG, item_path,
			            "%s is not a header field name (printable ASCII, no colon or "
			            "space)",
			            show(item->string, shown));
		if (is_reserved_header(item->string))
			return fail(ld, MB_ECONFIG, item_path,
			            "%s belongs to the message or to its identity and routing, "
			            "which every pool must send unchanged; pool headers are for "
			            "relay instructions such as X-Mailgun-Sending-Ip-Pool",
			            show(item->string, shown));
		if (has_control(item->valuestring, true))
			return fail(ld, MB_ECONFIG, item_path,
			            "header value must not contain CR, LF or control characters");
		if (!is_ascii(item->valuestring))
			return fail(ld, MB_ECONFIG, item_path,
			            "header value must be ASCII: other text would go out as raw "
			            "8-bit bytes (encode it as an RFC 2047 encoded-word)");
		for (size_t j = 0; j < pool->n_headers; j++)
			if (strcasecmp(pool->headers[j].name, item->string) == 0)
				return fail(ld, MB_ECONFIG, item_path,
				            "header given twice (names are case-insensitive)");
		h->name = mb_strdup(item->string);
		h->value = mb_strdup(item->valuestring);
		pool->n_headers++;
		if (!h->name || !h->value)
			return fail(ld, MB_ENOMEM, item_path, "out of memory");
	}
	return 0;
}

static int parse_tls(const struct load *ld, const cJSON *obj, const char *parent, enum mb_tls *out)
{
	const char *value = member_string(obj, "tls");
	char path[PATH_BUF], shown[SHOW_BUF];

	*out = MB_TLS_NONE;
	if (!value)
		return 0;
	for (size_t i = 0; i < COUNT(tls_names); i++) {
		if (strcmp(tls_names[i], value) == 0) {
			*out = (enum mb_tls)i;
			return 0;
		}
	}
	path_join(path, sizeof path, parent, "tls", 0);
	return fail(ld, MB_ECONFIG, path, "%s is not one of none, starttls, implicit",
	            show(value, shown));
}

static int parse_pool_endpoint(const struct load *ld, const cJSON *obj, const char *parent,
                               const char *default_name, struct mb_pool_spec *pool)
{
	const char *name = member_string(obj, "name");
	const char *transport = member_string(obj, "transport");
	const char *host = member_string(obj, "host");
	char path[PATH_BUF], shown[SHOW_BUF];
	int rc;

	path_join(path, sizeof path, parent, "name", 0);
	if (name && !is_label(name))
		return fail(ld, MB_ECONFIG, path, "%s is not a name (1 to %d of A-Z a-z 0-9 . _ -)",
		            show(name, shown), MAX_LABEL_LEN);
	rc = dup_string(ld, path, name ? name : default_name, &pool->name);
	path_join(path, sizeof path, parent, "transport", 0);
	if (!rc && transport && !mb_transport_find(transport))
		return unknown_transport(ld, path, transport);
	if (!rc)
		rc = dup_string(ld, path, transport ? transport : "smtp", &pool->transport);
	path_join(path, sizeof path, parent, "host", 0);
	if (!rc && !is_host(host))
		return fail(ld, MB_ECONFIG, path,
		            "%s is not a host name or address (1 to %d of A-Z a-z 0-9 . - : [ ])",
		            show(host, shown), MAX_HOST_LEN);
	if (!rc)
		rc = dup_string(ld, path, host, &pool->host);
	if (!rc)
		rc = get_long(ld, obj, &pool_kind, "port", parent, &pool->port);
	if (!rc)
		rc = parse_tls(ld, obj, parent, &pool->tls);
	pool->tls_verify = get_bool(obj, &pool_kind, "tls_verify");
	/* a CA bundle for a relay spoken to in clear text would check nothing: a spec that
	 * names one means to use TLS */
	if (!rc && pool->tls == MB_TLS_NONE && cJSON_GetObjectItemCaseSensitive(obj, "ca_file")) {
		path_join(path, sizeof path, parent, "ca_file", 0);
		return fail(ld, MB_ECONFIG, path,
		            "is set but tls is \"none\", so no certificate would be checked; set "
		            "tls to \"starttls\", or remove ca_file");
	}
	return rc ? rc : get_file(ld, obj, "ca_file", parent, &pool->ca_file);
}

static int parse_pool(const struct load *ld, const cJSON *obj, const char *parent,
                      const char *default_name, struct mb_pool_spec *pool)
{
	const cJSON *auth = member(obj, "auth");
	const cJSON *headers = member(obj, "headers");
	const char *helo = member_string(obj, "helo");
	char path[PATH_BUF], shown[SHOW_BUF];
	int rc = parse_pool_endpoint(ld, obj, parent, default_name, pool);

	if (!rc && auth) {
		path_join(path, sizeof path, parent, "auth", 0);
		rc = get_user(ld, auth, path, &pool->auth_user);
		if (!rc)
			rc = get_secret_ref(ld, auth, path, &pool->auth_password);
	}
	if (!rc && helo) {
		path_join(path, sizeof path, parent, "helo", 0);
		if (!is_host(helo))
			return fail(ld, MB_ECONFIG, path, "%s is not a host name or address",
			            show(helo, shown));
		rc = dup_string(ld, path, helo, &pool->helo);
	}
	if (!rc && headers)
		rc = parse_headers(ld, headers, parent, pool);
	if (!rc)
		rc = get_long(ld, obj, &pool_kind, "timeout_seconds", parent,
		              &pool->timeout_seconds);
	return rc;
}

/* The port of "host:port" or "[v6]:port", when one is given: 1..65535. */
static int check_url_port(const struct load *ld, const char *authority, size_t len)
{
	const char *end = authority + len, *colon = NULL, *p;
	char shown[SHOW_BUF], digits[16];
	long port = 0;

	if (authority[0] == '[') {
		const char *close = memchr(authority, ']', len);
		if (!close)
			return fail(ld, MB_ECONFIG, "mailbox.url",
			            "IPv6 address without its closing ]");
		colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
	} else {
		for (p = authority; p < end; p++)
			if (*p == ':')
				colon = p;
	}
	if (!colon)
		return 0;
	for (p = colon + 1; p < end && *p >= '0' && *p <= '9' && port <= 65535; p++)
		port = port * 10 + (*p - '0');
	if (p == colon + 1 || p < end || port < 1 || port > 65535) {
		size_t n = (size_t)(end - colon - 1);
		snprintf(digits, sizeof digits, "%.*s", (int)(n < 12 ? n : 12), colon + 1);
		return fail(ld, MB_ECONFIG, "mailbox.url", "port must be 1..65535, got %s",
		            show(digits, shown));
	}
	return 0;
}

/* imap:// or imaps://, a host, no user or password inside the URL. */
static int check_mailbox_url(const struct load *ld, const char *url)
{
	const char *authority, *slash;

	if (strncmp(url, "imap://", 7) == 0)
		authority = url + 7;
	else if (strncmp(url, "imaps://", 8) == 0)
		authority = url + 8;
	else
		return fail(ld, MB_ECONFIG, "mailbox.url",
		            "must start with imap:// or imaps:// (e.g. "
		            "imap://127.0.0.1:1143/INBOX)");
	if (has_control(url, false) || strchr(url, ' '))
		return fail(ld, MB_ECONFIG, "mailbox.url",
		            "must not contain spaces or control characters");
	slash = strchr(authority, '/');
	if (slash == authority || !*authority)
		return fail(ld, MB_ECONFIG, "mailbox.url", "names no host");
	if (memchr(authority, '@', slash ? (size_t)(slash - authority) : strlen(authority)))
		return fail(ld, MB_ECONFIG, "mailbox.url",
		            "must not contain a user or password; use mailbox.user and "
		            "mailbox.password_env or mailbox.password_file");
	return check_url_port(ld, authority,
	                      slash ? (size_t)(slash - authority) : strlen(authority));
}

static int parse_mailbox(const struct load *ld, const cJSON *obj, struct mb_mailbox_spec *box)
{
	const char *url = member_string(obj, "url");
	int rc = check_mailbox_url(ld, url);

	if (!rc)
		rc = dup_string(ld, "mailbox.url", url, &box->url);
	if (!rc)
		rc = get_user(ld, obj, "mailbox", &box->user);
	if (!rc)
		rc = get_secret_ref(ld, obj, "mailbox", &box->password);
	if (!rc)
		rc = get_long(ld, obj, &mailbox_kind, "poll_interval_ms", "mailbox",
		              &box->poll_interval_ms);
	return rc;
}

static bool is_label_char(char c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '-';
}

/* The spec file's name without its extension, made a valid name: each character outside the
 * set (a UTF-8 sequence counts as one) becomes '-', and the name is cut to 64. "experiment"
 * when no letter or digit is left, and for standard input ("-"). */
static char *default_name(const char *label)
{
	const char *base = strrchr(label, '/');
	const char *dot;
	char name[MAX_LABEL_LEN + 1];
	size_t len, n = 0;
	bool any_alnum = false;

	base = base ? base + 1 : label;
	dot = strrchr(base, '.');
	len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
	for (size_t i = 0; i < len && n < MAX_LABEL_LEN; i++) {
		unsigned char c = (unsigned char)base[i];
		if ((c & 0xC0) == 0x80 && n && name[n - 1] == '-' && i &&
		    (unsigned char)base[i - 1] >= 0x80)
			continue; /* the rest of a UTF-8 sequence already replaced */
		name[n++] = is_label_char((char)c) ? (char)c : '-';
		any_alnum = any_alnum || is_alnum((char)c);
	}
	name[n] = '\0';
	return mb_strdup(any_alnum ? name : "experiment");
}

static int parse_identity(const struct load *ld, const cJSON *root, struct mb_spec *spec)
{
	const char *name = member_string(root, "name");
	const char *domain = member_string(root, "domain");
	char shown[SHOW_BUF];
	int rc;

	if (name && !is_label(name))
		return fail(ld, MB_ECONFIG, "name",
		            "%s is not a name (1 to %d of A-Z a-z 0-9 . _ -)", show(name, shown),
		            MAX_LABEL_LEN);
	spec->name = name ? mb_strdup(name) : default_name(ld->label);
	if (!spec->name)
		return fail(ld, MB_ENOMEM, "name", "out of memory");
	rc = check_text(ld, "message", member_string(root, "message"));
	if (!rc)
		rc = resolve_path(ld, "message", member_string(root, "message"),
		                  &spec->message_path);
	if (rc)
		return rc;
	if (!mb_domain_valid(domain, strlen(domain)))
		return fail(ld, MB_ECONFIG, "domain",
		            "%s is not a domain name (e.g. victim.example)", show(domain, shown));
	if ((rc = dup_string(ld, "domain", domain, &spec->domain)))
		return rc;
	/* one spelling for reports and history: domain names ignore case */
	for (char *p = spec->domain; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return 0;
}

static int parse_recipients(const struct load *ld, const cJSON *list, struct mb_spec *spec)
{
	int count = cJSON_GetArraySize(list);
	char path[PATH_BUF], shown[SHOW_BUF];
	long i = 0;

	if (count < 1)
		return fail(ld, MB_ECONFIG, "recipients", "must list at least one recipient in %s",
		            spec->domain);
	if (count > MB_MAX_RECIPIENTS)
		return fail(ld, MB_ECONFIG, "recipients",
		            "%d recipients, at most %d are allowed in one experiment", count,
		            MB_MAX_RECIPIENTS);
	spec->recipients = calloc((size_t)count, sizeof *spec->recipients);
	if (!spec->recipients)
		return fail(ld, MB_ENOMEM, "recipients", "out of memory");
	for (const cJSON *item = list->child; item; item = item->next, i++) {
		const char *addr = item->valuestring;
		path_join(path, sizeof path, "recipients", NULL, i);
		if (!is_plain_address(addr, false))
			return fail(ld, MB_ECONFIG, path,
			            "%s is not a plain address (want local@%s)", show(addr, shown),
			            spec->domain);
		if (!mb_addr_in_domain(addr, spec->domain))
			return fail(ld, MB_ECONFIG, path,
			            "%s is not in the affected domain %s: every recipient must be "
			            "in it (subdomains and lookalike domains are refused)",
			            show(addr, shown), spec->domain);
		for (size_t j = 0; j < spec->n_recipients; j++)
			if (strcasecmp(spec->recipients[j], addr) == 0)
				return fail(ld, MB_ECONFIG, path,
				            "%s is listed twice (also recipients[%zu])",
				            show(addr, shown), j);
		spec->recipients[spec->n_recipients] = mb_strdup(addr);
		if (!spec->recipients[spec->n_recipients++])
			return fail(ld, MB_ENOMEM, path, "out of memory");
	}
	return 0;
}

static int parse_envelope_sender(const struct load *ld, const char *s, const char *path, char **out)
{
	const char *first = strstr(s, SEND_PLACEHOLDER);
	const char *at = strrchr(s, '@');
	char shown[SHOW_BUF];

	if (first && strstr(first + 1, SEND_PLACEHOLDER))
		return fail(ld, MB_ECONFIG, path, "{send} may appear only once");
	if (first && at && first > at)
		return fail(ld, MB_ECONFIG, path,
		            "{send} is allowed only in the local part (before the @)");
	for (const char *p = s; *p; p++) {
		if (p == first)
			p += strlen(SEND_PLACEHOLDER) - 1;
		else if (*p == '{' || *p == '}')
			return fail(ld, MB_ECONFIG, path,
			            "unknown placeholder; only {send} (the send id) is supported");
	}
	if (!is_plain_address(s, true))
		return fail(ld, MB_ECONFIG, path,
		            "%s is not a plain address (e.g. bounces+{send}@bounces.example)",
		            show(s, shown));
	return dup_string(ld, path, s, out);
}

/* The second sending domain of the alternate-domain variant: a From address and its own
 * envelope sender (bounces), both in a domain the ESP signs for. */
static int parse_alternate_domain(const struct load *ld, const cJSON *obj, struct mb_spec *spec)
{
	const char *from = member_string(obj, "from");
	char shown[SHOW_BUF];
	int rc;

	if (!is_plain_address(from, false))
		return fail(ld, MB_ECONFIG, "alternate_domain.from",
		            "%s is not a plain address (e.g. news@news.example.org)",
		            show(from, shown));
	if ((rc = dup_string(ld, "alternate_domain.from", from, &spec->alternate_from)))
		return rc;
	return parse_envelope_sender(ld, member_string(obj, "envelope_sender"),
	                             "alternate_domain.envelope_sender",
	                             &spec->alternate_envelope_sender);
}

static int parse_variant_list(const struct load *ld, const cJSON *list, struct mb_spec *spec)
{
	int count = cJSON_GetArraySize(list);
	char path[PATH_BUF], shown[SHOW_BUF], known[256];
	size_t n = 0;
	long i = 0;

	known[0] = '\0';
	for (int v = 0; v < MB_VARIANT_COUNT; v++)
		put_list_item(known, sizeof known, &n, (size_t)v,
		              mb_variant_name((enum mb_variant)v));
	if (count < 1)
		return fail(ld, MB_ECONFIG, "variants", "must list at least one variant (%s)",
		            known);
	if (count > MB_VARIANT_COUNT)
		return fail(ld, MB_ECONFIG, "variants",
		            "%d variants, at most %d (each at most once)", count, MB_VARIANT_COUNT);
	spec->variants = calloc((size_t)count, sizeof *spec->variants);
	if (!spec->variants)
		return fail(ld, MB_ENOMEM, "variants", "out of memory");
	for (const cJSON *item = list->child; item; item = item->next, i++) {
		enum mb_variant v;
		path_join(path, sizeof path, "variants", NULL, i);
		if (mb_variant_from_name(item->valuestring, &v) != 0)
			return fail(ld, MB_ECONFIG, path, "unknown variant %s (known: %s)",
			            show(item->valuestring, shown), known);
		for (size_t j = 0; j < spec->n_variants; j++)
			if (spec->variants[j] == v)
				return fail(ld, MB_ECONFIG, path, "%s is listed twice",
				            show(item->valuestring, shown));
		spec->variants[spec->n_variants++] = v;
	}
	return 0;
}

/* An absent list takes the table's default through the same checks. */
static int parse_variants(const struct load *ld, const cJSON *root, struct mb_spec *spec)
{
	const cJSON *list = member(root, "variants");
	cJSON *defaults;
	int rc;

	if (list)
		return parse_variant_list(ld, list, spec);
	defaults = cJSON_Parse(find_field(&top_kind, "variants")->default_json);
	if (!defaults)
		return fail(ld, MB_ENOMEM, "variants", "out of memory");
	rc = parse_variant_list(ld, defaults, spec);
	cJSON_Delete(defaults);
	return rc;
}

/* The experiment as a whole: alternate pool where a variant needs one, two pools that reports
 * can tell apart, and a plan within the cap. */
static int check_plan(const struct load *ld, struct mb_spec *spec)
{
	long planned;

	for (size_t i = 0; i < spec->n_variants && !spec->has_alternate; i++)
		if (mb_variant_uses_alternate_pool(spec->variants[i]))
			return fail(ld, MB_ECONFIG, "pools.alternate",
			            "missing, but variant \"%s\" sends through the alternate pool; "
			            "add pools.alternate or leave the variant out (without "
			            "\"variants\" the standard four are sent, alternate-pool "
			            "included)",
			            mb_variant_name(spec->variants[i]));
	for (size_t i = 0; i < spec->n_variants && !spec->has_alternate_domain; i++)
		if (spec->variants[i] == MB_VARIANT_ALTERNATE_DOMAIN)
			return fail(
			    ld, MB_ECONFIG, "alternate_domain",
			    "missing, but variant \"alternate-domain\" sends from it; add "
			    "alternate_domain (from, envelope_sender) or leave the variant out");
	if (spec->has_alternate && strcmp(spec->primary.name, spec->alternate.name) == 0)
		return fail(ld, MB_ECONFIG, "pools.alternate.name",
		            "same as pools.primary.name (\"%s\"); reports could not tell the "
		            "pools apart",
		            spec->primary.name);
	planned = mb_spec_planned_sends(spec);
	if (planned > spec->max_messages)
		return fail(ld, MB_ECONFIG, "max_messages",
		            "plan needs %ld sends but max_messages is %ld (%zu variants x %zu "
		            "recipients x repeat %ld); raise max_messages (at most %d) or plan "
		            "fewer sends",
		            planned, spec->max_messages, spec->n_variants, spec->n_recipients,
		            spec->repeat, MB_MAX_SENDS);
	return 0;
}

static int build_spec(const struct load *ld, const cJSON *root, struct mb_spec *spec)
{
	const cJSON *pools = member(root, "pools");
	const cJSON *mailbox = member(root, "mailbox");
	int rc = parse_identity(ld, root, spec);

	if (!rc)
		rc = parse_recipients(ld, member(root, "recipients"), spec);
	if (!rc)
		rc = parse_envelope_sender(ld, member_string(root, "envelope_sender"),
		                           "envelope_sender", &spec->envelope_sender);
	spec->has_alternate_domain = member(root, "alternate_domain") != NULL;
	if (!rc && spec->has_alternate_domain)
		rc = parse_alternate_domain(ld, member(root, "alternate_domain"), spec);
	if (!rc)
		rc = parse_variants(ld, root, spec);
	if (!rc)
		rc = get_long(ld, root, &top_kind, "repeat", "", &spec->repeat);
	if (!rc)
		rc = parse_pool(ld, member(pools, "primary"), "pools.primary", "primary",
		                &spec->primary);
	spec->has_alternate = member(pools, "alternate") != NULL;
	if (!rc && spec->has_alternate)
		rc = parse_pool(ld, member(pools, "alternate"), "pools.alternate", "alternate",
		                &spec->alternate);
	spec->has_mailbox = mailbox != NULL;
	if (!rc && mailbox)
		rc = parse_mailbox(ld, mailbox, &spec->mailbox);
	else if (!rc) /* keeps the interval usable even where no mailbox is read */
		rc = get_long(ld, NULL, &mailbox_kind, "poll_interval_ms", "mailbox",
		              &spec->mailbox.poll_interval_ms);
	if (!rc)
		rc = get_long(ld, root, &top_kind, "window_seconds", "", &spec->window_seconds);
	if (!rc)
		rc = get_long(ld, root, &top_kind, "pacing_ms", "", &spec->pacing_ms);
	if (!rc)
		rc = get_long(ld, root, &top_kind, "max_messages", "", &spec->max_messages);
	if (!rc)
		rc = get_long(ld, root, &top_kind, "followups", "", &spec->followups);
	return rc ? rc : check_plan(ld, spec);
}

/* ---- Public interface ----------------------------------------------------------------------- */

int mb_spec_parse(struct mb_spec **out, const char *json, size_t len, const char *name,
                  const char *base_dir, struct mb_err *err)
{
	struct load ld = {name ? name : "<spec>", base_dir, err};
	struct mb_spec *spec;
	cJSON *root;
	int rc;

	*out = NULL;
	if (!json)
		json = "", len = 0;
	if (len > MB_MAX_SPEC_BYTES)
		return fail(&ld, MB_EDATA, NULL, "larger than the limit of %u bytes",
		            MB_MAX_SPEC_BYTES);
	if (len >= 3 && memcmp(json, "\xEF\xBB\xBF", 3) == 0)
		json += 3, len -= 3; /* a UTF-8 byte order mark some editors write */
	rc = parse_json(&ld, json, len, &root);
	if (rc)
		return rc;
	rc = refuse_escaped_nul(&ld, json, len, root);
	if (!rc)
		rc = find_inline_password(&ld, root, NULL);
	if (!rc)
		rc = check_shape(&ld, root, &top_kind, "");
	spec = rc ? NULL : calloc(1, sizeof *spec);
	if (!rc && (!spec || !(spec->path = mb_strdup(ld.label))))
		rc = fail(&ld, MB_ENOMEM, NULL, "out of memory");
	if (!rc)
		rc = build_spec(&ld, root, spec);
	cJSON_Delete(root);
	if (rc) {
		mb_spec_free(spec);
		return rc;
	}
	*out = spec;
	return 0;
}

int mb_spec_load(struct mb_spec **out, const char *path, struct mb_err *err)
{
	struct mb_buf buf = MB_BUF_INIT;
	const char *slash;
	char *dir = NULL;
	int rc;

	*out = NULL;
	if (!path || !*path)
		return mb_err_set(err, MB_ENOINPUT, "no spec file given");
	rc = mb_file_read(path, MB_MAX_SPEC_BYTES, &buf, err);
	if (rc) {
		mb_buf_free(&buf);
		return rc;
	}
	slash = strcmp(path, "-") == 0 ? NULL : strrchr(path, '/');
	if (slash) {
		dir = mb_strndup(path, slash == path ? 1 : (size_t)(slash - path));
		if (!dir) {
			mb_buf_free(&buf);
			return mb_err_set(err, MB_ENOMEM, "%s: out of memory", path);
		}
	}
	rc = mb_spec_parse(out, buf.data, buf.len, path, dir, err);
	free(dir);
	mb_buf_free(&buf);
	return rc;
}

int mb_spec_from_config(const char *config_path, const char *name, const char *message_path,
                        const char *domain, const char *recipient, char **json, struct mb_err *err)
{
	static const char *const from_bounce[] = {"name", "message", "domain", "recipients"};
	struct load ld = {config_path, NULL, err};
	struct mb_buf buf = MB_BUF_INIT;
	cJSON *root, *recipients;
	int rc;

	*json = NULL;
	if ((rc = mb_file_read(config_path, MB_MAX_SPEC_BYTES, &buf, err)))
		return rc;
	root = cJSON_ParseWithLength(buf.data, buf.len);
	if (!cJSON_IsObject(root)) {
		mb_buf_free(&buf);
		cJSON_Delete(root);
		return mb_err_set(err, MB_EDATA,
		                  "%s: not a JSON object (an ESP config is a spec "
		                  "without name, message, domain and recipients)",
		                  config_path);
	}
	/* written out again below, where a cut string would no longer show */
	rc = refuse_escaped_nul(&ld, buf.data, buf.len, root);
	mb_buf_free(&buf);
	if (rc) {
		cJSON_Delete(root);
		return rc;
	}
	for (size_t i = 0; i < COUNT(from_bounce); i++)
		if (cJSON_GetObjectItemCaseSensitive(root, from_bounce[i])) {
			cJSON_Delete(root);
			return mb_err_set(err, MB_EDATA,
			                  "%s: %s: comes from the bounce, not from the config; "
			                  "remove it",
			                  config_path, from_bounce[i]);
		}
	recipients = cJSON_CreateArray();
	if (!recipients || !cJSON_AddItemToArray(recipients, cJSON_CreateString(recipient)) ||
	    !cJSON_AddStringToObject(root, "name", name) ||
	    !cJSON_AddStringToObject(root, "message", message_path) ||
	    !cJSON_AddStringToObject(root, "domain", domain) ||
	    !cJSON_AddItemToObject(root, "recipients", recipients)) {
		cJSON_Delete(root);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	*json = text ? mb_strdup(text) : NULL;
	cJSON_free(text);
	return *json ? 0 : mb_err_set(err, MB_ENOMEM, "out of memory");
}

static void secret_ref_free(struct mb_secret_ref *ref)
{
	free(ref->env);
	free(ref->file);
}

static void pool_free(struct mb_pool_spec *pool)
{
	free(pool->name);
	free(pool->transport);
	free(pool->host);
	free(pool->ca_file);
	free(pool->auth_user);
	secret_ref_free(&pool->auth_password);
	free(pool->helo);
	for (size_t i = 0; i < pool->n_headers; i++) {
		free(pool->headers[i].name);
		free(pool->headers[i].value);
	}
	free(pool->headers);
}

void mb_spec_free(struct mb_spec *spec)
{
	if (!spec)
		return;
	free(spec->path);
	free(spec->name);
	free(spec->message_path);
	free(spec->domain);
	for (size_t i = 0; i < spec->n_recipients; i++)
		free(spec->recipients[i]);
	free(spec->recipients);
	free(spec->envelope_sender);
	free(spec->alternate_from);
	free(spec->alternate_envelope_sender);
	free(spec->variants);
	pool_free(&spec->primary);
	pool_free(&spec->alternate);
	free(spec->mailbox.url);
	free(spec->mailbox.user);
	secret_ref_free(&spec->mailbox.password);
	free(spec);
}

int mb_secret_resolve(const struct mb_secret_ref *ref, const char *field, char **out,
                      struct mb_err *err)
{
	const char *value;
	int rc;

	*out = NULL;
	if (!field)
		field = "secret";
	if (!ref || (!ref->env && !ref->file))
		return 0;
	if (ref->env && ref->file)
		return mb_err_set(err, MB_ECONFIG,
		                  "%s: give either password_env or password_file, "
		                  "not both",
		                  field);
	if (ref->env) {
		value = getenv(ref->env);
		if (!value)
			return mb_err_set(err, MB_ECONFIG,
			                  "%s.password_env: environment variable %s is not set",
			                  field, ref->env);
		if (!*value)
			return mb_err_set(err, MB_ECONFIG,
			                  "%s.password_env: environment variable %s is empty",
			                  field, ref->env);
		*out = mb_strdup(value);
		return *out ? 0 : mb_err_set(err, MB_ENOMEM, "%s: out of memory", field);
	}
	rc = mb_file_read_secret(ref->file, out, err);
	if (rc) {
		mb_err_prefix(err, "%s.password_file: ", field);
		return rc;
	}
	if (!**out) {
		free(*out);
		*out = NULL;
		return mb_err_set(err, MB_ECONFIG, "%s.password_file: %s is empty", field,
		                  ref->file);
	}
	return 0;
}

static int check_one_secret(const struct mb_spec *spec, const struct mb_secret_ref *ref,
                            const char *field, struct mb_err *err)
{
	char *secret = NULL;
	int rc = mb_secret_resolve(ref, field, &secret, err);

	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (rc)
		mb_err_prefix(err, "%s: ", spec->path);
	return rc;
}

int mb_spec_check_secrets(const struct mb_spec *spec, struct mb_err *err)
{
	int rc = check_one_secret(spec, &spec->primary.auth_password, "pools.primary.auth", err);

	if (!rc && spec->has_alternate)
		rc = check_one_secret(spec, &spec->alternate.auth_password, "pools.alternate.auth",
		                      err);
	if (!rc && spec->has_mailbox)
		rc = check_one_secret(spec, &spec->mailbox.password, "mailbox", err);
	return rc;
}

long mb_spec_planned_sends(const struct mb_spec *spec)
{
	return (long)spec->n_variants * (long)spec->n_recipients * spec->repeat;
}

/* ---- Back to JSON --------------------------------------------------------------------------- */

static bool add_string(cJSON *obj, const char *key, const char *value)
{
	return !value || cJSON_AddStringToObject(obj, key, value) != NULL;
}

static bool add_number(cJSON *obj, const char *key, long value)
{
	return cJSON_AddNumberToObject(obj, key, (double)value) != NULL;
}

static bool add_secret_ref(cJSON *obj, const struct mb_secret_ref *ref)
{
	return add_string(obj, "password_env", ref->env) &&
	       add_string(obj, "password_file", ref->file);
}

static bool add_pool(cJSON *pools, const char *key, const struct mb_pool_spec *pool)
{
	cJSON *obj = cJSON_AddObjectToObject(pools, key);
	cJSON *auth, *headers;
	bool ok;

	ok = obj && add_string(obj, "name", pool->name) &&
	     add_string(obj, "transport", pool->transport) && add_string(obj, "host", pool->host) &&
	     add_number(obj, "port", pool->port) && add_string(obj, "tls", tls_names[pool->tls]) &&
	     cJSON_AddBoolToObject(obj, "tls_verify", pool->tls_verify) &&
	     add_string(obj, "ca_file", pool->ca_file);
	if (ok && pool->auth_user) {
		auth = cJSON_AddObjectToObject(obj, "auth");
		ok = auth && add_string(auth, "user", pool->auth_user) &&
		     add_secret_ref(auth, &pool->auth_password);
	}
	ok = ok && add_string(obj, "helo", pool->helo);
	if (ok && pool->n_headers) {
		headers = cJSON_AddObjectToObject(obj, "headers");
		ok = headers != NULL;
		for (size_t i = 0; ok && i < pool->n_headers; i++)
			ok = add_string(headers, pool->headers[i].name, pool->headers[i].value);
	}
	return ok && add_number(obj, "timeout_seconds", pool->timeout_seconds);
}

static bool add_lists(cJSON *root, const struct mb_spec *spec)
{
	cJSON *recipients = cJSON_AddArrayToObject(root, "recipients");
	cJSON *variants;
	bool ok = recipients != NULL;

	for (size_t i = 0; ok && i < spec->n_recipients; i++) {
		cJSON *s = cJSON_CreateString(spec->recipients[i]);
		ok = s && cJSON_AddItemToArray(recipients, s);
	}
	ok = ok && add_string(root, "envelope_sender", spec->envelope_sender);
	if (ok && spec->has_alternate_domain) {
		cJSON *alt = cJSON_AddObjectToObject(root, "alternate_domain");
		ok = alt && add_string(alt, "from", spec->alternate_from) &&
		     add_string(alt, "envelope_sender", spec->alternate_envelope_sender);
	}
	variants = ok ? cJSON_AddArrayToObject(root, "variants") : NULL;
	ok = variants != NULL;
	for (size_t i = 0; ok && i < spec->n_variants; i++) {
		cJSON *s = cJSON_CreateString(mb_variant_name(spec->variants[i]));
		ok = s && cJSON_AddItemToArray(variants, s);
	}
	return ok;
}

static bool add_spec(cJSON *root, const struct mb_spec *spec)
{
	cJSON *pools, *box;
	bool ok = add_string(root, "name", spec->name) &&
	          add_string(root, "message", spec->message_path) &&
	          add_string(root, "domain", spec->domain) && add_lists(root, spec) &&
	          add_number(root, "repeat", spec->repeat);

	pools = ok ? cJSON_AddObjectToObject(root, "pools") : NULL;
	ok = pools && add_pool(pools, "primary", &spec->primary) &&
	     (!spec->has_alternate || add_pool(pools, "alternate", &spec->alternate));
	if (ok && spec->has_mailbox) {
		box = cJSON_AddObjectToObject(root, "mailbox");
		ok = box && add_string(box, "url", spec->mailbox.url) &&
		     add_string(box, "user", spec->mailbox.user) &&
		     add_secret_ref(box, &spec->mailbox.password) &&
		     add_number(box, "poll_interval_ms", spec->mailbox.poll_interval_ms);
	}
	return ok && add_number(root, "window_seconds", spec->window_seconds) &&
	       add_number(root, "pacing_ms", spec->pacing_ms) &&
	       add_number(root, "max_messages", spec->max_messages) &&
	       add_number(root, "followups", spec->followups);
}

int mb_spec_to_json(const struct mb_spec *spec, char **out)
{
	cJSON *root = cJSON_CreateObject();
	char *text = NULL;

	*out = NULL;
	if (root && add_spec(root, spec))
		text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return MB_ENOMEM;
	*out = mb_strdup(text);
	cJSON_free(text);
	return *out ? 0 : MB_ENOMEM;
}

/* ---- The field table for tests and tools ---------------------------------------------------- */

static void walk_fields(const struct object_kind *kind, const char *parent,
                        void (*fn)(const struct mb_spec_field *field, void *ctx), void *ctx)
{
	for (size_t i = 0; i < kind->n_fields; i++) {
		const struct field *f = &kind->fields[i];
		char path[PATH_BUF];
		struct mb_spec_field info;

		path_join(path, sizeof path, parent, f->key, 0);
		info.path = path;
		info.type = field_type_name(f->type);
		info.is_map = f->type == FT_STRING_MAP;
		info.required = f->required;
		info.min = f->min;
		info.max = f->max;
		info.default_json = f->default_json;
		fn(&info, ctx);
		if (f->type == FT_OBJECT)
			walk_fields(f->object, path, fn, ctx);
	}
}

void mb_spec_fields(void (*fn)(const struct mb_spec_field *field, void *ctx), void *ctx)
{
	walk_fields(&top_kind, "", fn, ctx);
}

const char *const *mb_spec_reserved_headers(void)
{
	return reserved_headers;
}
