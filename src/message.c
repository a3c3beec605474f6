/* Loading a failing message: bounded checks that the bytes are a message at all, a GMime parse
 * within the MIME depth/part limits, and the few header values the rest of the program shows. */
#include "gmime_init.h"
#include "mailbisect/file.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"
#include "mailbisect/variant.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

struct mb_message {
	char *name;
	char *data; /* the message bytes (an mbox "From " line already skipped) */
	size_t len;
	GMimeMessage *mime; /* holds the source stream, so untouched parts keep their bytes */
	char *subject, *from, *to;
};

/* Header fields of which a real message has at least one. */
static const char *const message_fields[] = {
    "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Received",
};

/* GMime's one-time global set-up: the only global state the modules using GMime have. */
void mb_gmime_init(void)
{
	static gsize ready;
	if (g_once_init_enter(&ready)) {
		g_mime_init();
		g_once_init_leave(&ready, 1);
	}
}

static size_t line_end(const char *data, size_t len, size_t pos, size_t *next)
{
	const char *nl = memchr(data + pos, '\n', len - pos);
	size_t end = nl ? (size_t)(nl - data) : len;
	*next = nl ? end + 1 : len;
	return end > pos && data[end - 1] == '\r' ? end - 1 : end;
}

/* Length of the field name when the line starts a header field ("Name:"), else 0. */
static size_t field_name_length(const char *line, size_t len)
{
	size_t n = 0;
	while (n < len && (unsigned char)line[n] > 32 && (unsigned char)line[n] < 127 &&
	       line[n] != ':')
		n++;
	size_t colon = n;
	while (colon < len && (line[colon] == ' ' || line[colon] == '\t'))
		colon++;
	return n > 0 && colon < len && line[colon] == ':' ? n : 0;
}

static bool is_message_field(const char *name, size_t n)
{
	for (size_t k = 0; k < sizeof message_fields / sizeof message_fields[0]; k++)
		if (strlen(message_fields[k]) == n && strncasecmp(message_fields[k], name, n) == 0)
			return true;
	return false;
}

/* Checks the header block the way a receiver would see it, before GMime (which accepts any
 * bytes at all) gets it: every line bounded, the first line a header field, and at least
 * one field that only messages have. */
static int check_header_block(const char *data, size_t len, const char *name, struct mb_err *err)
{
	size_t pos = 0, next, fields = 0, line_no = 0;
	bool message_like = false;

	while (pos < len) {
		size_t end = line_end(data, len, pos, &next), n;
		line_no++;
		if (end - pos > MB_MAX_LINE_BYTES)
			return mb_err_set(err, MB_EDATA, "%s: header line %zu longer than %u bytes",
			                  name, line_no, MB_MAX_LINE_BYTES);
		if (end == pos)
			break; /* the blank line that ends the header block */
		if (memchr(data + pos, '\0', end - pos))
			return mb_err_set(err, MB_EDATA,
			                  "%s: not a MIME message: NUL byte in header line %zu",
			                  name, line_no);
		if (data[pos] != ' ' && data[pos] != '\t') {
			n = field_name_length(data + pos, end - pos);
			if (n == 0 && line_no == 1)
				return mb_err_set(
				    err, MB_EDATA,
				    "%s: not a MIME message: it does not start with a "
				    "header field",
				    name);
			if (n == 0)
				break; /* GMime, like receivers, takes the rest as body */
			message_like = message_like || is_message_field(data + pos, n);
			if (++fields > MB_MAX_HEADERS)
				return mb_err_set(err, MB_EDATA, "%s: more than %d header fields",
				                  name, MB_MAX_HEADERS);
		} else if (line_no == 1) {
			return mb_err_set(
			    err, MB_EDATA,
			    "%s: not a MIME message: it starts with a continuation line", name);
		}
		pos = next;
	}
	if (!message_like)
		return mb_err_set(
		    err, MB_EDATA,
		    "%s: not a MIME message: no From, To, Subject, Date, MIME-Version "
		    "or Content-Type header",
		    name);
	return 0;
}

/* GMime's parser recurses once per nested multipart or message, without a limit of its own:
 * count the content types that can nest before it sees the bytes. */
static int check_nesting_bound(const char *data, size_t len, const char *name, struct mb_err *err)
{
	static const char *const nesting_types[] = {"multipart/", "message/"};
	size_t count = 0;

	for (size_t k = 0; k < 2; k++) {
		const char *p = data, *end = data + len;
		while ((p = mb_str_icontains(p, (size_t)(end - p), nesting_types[k])) != NULL) {
			p += strlen(nesting_types[k]);
			if (++count > MB_MAX_MIME_PARTS)
				return mb_err_set(err, MB_EDATA, "%s: more than %d MIME parts",
				                  name, MB_MAX_MIME_PARTS);
		}
	}
	return 0;
}

struct limits_walk {
	size_t parts;
	int too_deep;
};

static void count_parts(GMimeObject *obj, int depth, struct limits_walk *lw)
{
	if (depth > MB_MAX_MIME_DEPTH) {
		lw->too_deep = 1;
		return;
	}
	lw->parts++;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		for (int i = 0; i < g_mime_multipart_get_count(mp) && !lw->too_deep; i++)
			count_parts(g_mime_multipart_get_part(mp, i), depth + 1, lw);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		GMimeObject *body = inner ? g_mime_message_get_mime_part(inner) : NULL;
		if (body)
			count_parts(body, depth + 1, lw);
	}
}

static int check_structure(GMimeMessage *mime, const char *name, struct mb_err *err)
{
	struct limits_walk lw = {0, 0};
	GMimeObject *body = g_mime_message_get_mime_part(mime);

	if (body)
		count_parts(body, 1, &lw);
	if (lw.too_deep)
		return mb_err_set(err, MB_EDATA, "%s: MIME parts nested deeper than %d levels",
		                  name, MB_MAX_MIME_DEPTH);
	if (lw.parts > MB_MAX_MIME_PARTS)
		return mb_err_set(err, MB_EDATA, "%s: more than %d MIME parts", name,
		                  MB_MAX_MIME_PARTS);
	return 0;
}

static GMimeMessage *parse_bytes(const char *data, size_t len)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *mime;

	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	mime = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	return mime;
}

/* First mailbox address of a header's address list (inside a group too), or NULL. */
static const char *first_address(InternetAddressList *list)
{
	for (int i = 0; list && i < internet_address_list_length(list); i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(a))
			return internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
		if (INTERNET_ADDRESS_IS_GROUP(a)) {
			const char *inner = first_address(
			    internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
			if (inner)
				return inner;
		}
	}
	return NULL;
}

/* Every mailbox address of the list, ", "-separated; NULL when there is none. */
static char *all_addresses(InternetAddressList *list)
{
	struct mb_buf buf = MB_BUF_INIT;

	for (int i = 0; list && i < internet_address_list_length(list); i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);
		char *inner = NULL;
		const char *addr = NULL;
		if (INTERNET_ADDRESS_IS_MAILBOX(a))
			addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
		else if (INTERNET_ADDRESS_IS_GROUP(a))
			addr = inner = all_addresses(
			    internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
		if (addr && *addr && (buf.len ? mb_buf_puts(&buf, ", ") : 0) == 0)
			mb_buf_puts(&buf, addr);
		free(inner);
	}
	return buf.len ? mb_buf_steal(&buf) : (mb_buf_free(&buf), NULL);
}

static int read_header_values(struct mb_message *msg)
{
	const char *subject = g_mime_message_get_subject(msg->mime);
	const char *from = first_address(g_mime_message_get_from(msg->mime));

	msg->subject = mb_strdup(subject);
	msg->from = mb_strdup(from);
	msg->to = all_addresses(g_mime_message_get_to(msg->mime));
	if ((subject && !msg->subject) || (from && !msg->from))
		return MB_ENOMEM;
	return 0;
}

/* An mbox "From " separator line before the headers is not part of the message. */
static size_t skip_mbox_separator(const char *data, size_t len)
{
	size_t next;
	if (len < 5 || strncmp(data, "From ", 5) != 0)
		return 0;
	line_end(data, len, 0, &next);
	return next;
}

static int check_bytes(const char *data, size_t len, const char *name, struct mb_err *err)
{
	int rc;
	if (len == 0)
		return mb_err_set(err, MB_EDATA, "%s: not a MIME message: the file is empty", name);
	if (len > MB_MAX_MESSAGE_BYTES)
		return mb_err_set(err, MB_EDATA, "%s: larger than the limit of %u bytes", name,
		                  MB_MAX_MESSAGE_BYTES);
	if ((rc = check_header_block(data, len, name, err)) != 0)
		return rc;
	return check_nesting_bound(data, len, name, err);
}

int mb_message_parse(struct mb_message **out, const char *data, size_t len, const char *name,
                     struct mb_err *err)
{
	struct mb_message *msg;
	size_t skip = skip_mbox_separator(data, len);
	int rc;

	*out = NULL;
	name = name ? name : "message";
	if ((rc = check_bytes(data + skip, len - skip, name, err)) != 0)
		return rc;
	msg = calloc(1, sizeof *msg);
	if (!msg || !(msg->name = mb_strdup(name)) || !(msg->data = malloc(len - skip + 2))) {
		mb_message_free(msg);
		return mb_err_set(err, MB_ENOMEM, "%s: out of memory", name);
	}
	memcpy(msg->data, data + skip, len - skip);
	msg->len = len - skip;
	/* A last line without its newline (a file cut short, an editor that strips it) would
	 * leave GMime a header value that runs into the next field written after it. */
	if (msg->len && msg->data[msg->len - 1] != '\n')
		msg->data[msg->len++] = '\n';
	msg->data[msg->len] = '\0';
	mb_gmime_init();
	msg->mime = parse_bytes(msg->data, msg->len);
	if (!msg->mime)
		rc = mb_err_set(err, MB_EDATA, "%s: not a MIME message: GMime could not parse it",
		                name);
	else if ((rc = check_structure(msg->mime, name, err)) == 0 &&
	         (rc = read_header_values(msg)) != 0)
		mb_err_set(err, rc, "%s: out of memory", name);
	if (rc) {
		mb_message_free(msg);
		return rc;
	}
	*out = msg;
	return 0;
}

int mb_message_load(struct mb_message **out, const char *path, struct mb_err *err)
{
	struct mb_buf buf = MB_BUF_INIT;
	int rc;

	*out = NULL;
	rc = mb_file_read(path, MB_MAX_MESSAGE_BYTES, &buf, err);
	if (rc == 0)
		rc = mb_message_parse(out, buf.data, buf.len, path, err);
	mb_buf_free(&buf);
	return rc;
}

void mb_message_free(struct mb_message *msg)
{
	if (!msg)
		return;
	if (msg->mime)
		g_object_unref(msg->mime);
	free(msg->name);
	free(msg->data);
	free(msg->subject);
	free(msg->from);
	free(msg->to);
	free(msg);
}

const char *mb_message_subject(const struct mb_message *msg)
{
	return msg->subject;
}

const char *mb_message_from(const struct mb_message *msg)
{
	return msg->from;
}

const char *mb_message_to(const struct mb_message *msg)
{
	return msg->to;
}

const char *mb_message_name(const struct mb_message *msg)
{
	return msg->name;
}

const char *mb_message_data(const struct mb_message *msg, size_t *len)
{
	*len = msg->len;
	return msg->data;
}
