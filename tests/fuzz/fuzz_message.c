/* libFuzzer target for the failing-message parser and the variant builder: any bytes that
 * parse as a message must give every variant, each with CRLF line ends, a header block a
 * receiver reads as one (fresh Message-ID and Date included), parsing again as a message. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailbisect/variant.h"
#include "fuzz_targets.h"

static void fail(const char *what, enum mb_variant v, const char *detail)
{
	fprintf(stderr, "variant %s: %s%s%s\n", mb_variant_name(v), what, detail ? ": " : "",
	        detail ? detail : "");
	abort();
}

/* Every LF of a built variant is preceded by CR (the builder promises CRLF line ends). */
static void check_crlf(const struct mb_buf *out, enum mb_variant v)
{
	for (size_t i = 0; i < out->len; i++)
		if (out->data[i] == '\n' && (i == 0 || out->data[i - 1] != '\r'))
			fail("bare LF in the output", v, NULL);
}

/* True when the line is a header field as a receiver reads one: a name of printable ASCII
 * without colon, optional blanks, then the colon. */
static bool is_field_line(const char *line, size_t len)
{
	size_t n = 0;
	while (n < len && line[n] > ' ' && line[n] < 127 && line[n] != ':')
		n++;
	size_t colon = n;
	while (colon < len && (line[colon] == ' ' || line[colon] == '\t'))
		colon++;
	return n > 0 && colon < len && line[colon] == ':';
}

/* The header block a receiver sees: every line up to the blank one is a field or its
 * continuation, and the fresh Message-ID and Date are fields of their own, so bounces can be
 * matched to the send. */
static void check_header_block(const struct mb_buf *out, enum mb_variant v, const char *id)
{
	size_t pos = 0, id_len = strlen(id);
	bool has_id = false, has_date = false;

	while (pos < out->len) {
		const char *line = out->data + pos;
		const char *end = memchr(line, '\n', out->len - pos);
		size_t len = end ? (size_t)(end - line) : out->len - pos;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0)
			break;
		if (line[0] != ' ' && line[0] != '\t' && !is_field_line(line, len))
			fail("a header line that is not a field", v, NULL);
		if (len == 12 + id_len && strncasecmp(line, "Message-ID: ", 12) == 0 &&
		    memcmp(line + 12, id, id_len) == 0)
			has_id = true;
		if (len > 6 && strncasecmp(line, "Date: ", 6) == 0)
			has_date = true;
		pos += (end ? (size_t)(end - line) + 1 : out->len - pos);
	}
	if (!has_id || !has_date)
		fail("the fresh Message-ID or Date is not a field of its own", v, NULL);
}

static void check_links(const struct mb_message *msg)
{
	struct mb_err err = MB_ERR_INIT;
	char **domains = NULL;

	if (mb_message_link_domains(msg, &domains, &err) == 0)
		for (size_t i = 0; domains && domains[i]; i++)
			(void)strlen(domains[i]);
	mb_strv_free(domains);
}

static void build_variant(const struct mb_message *msg, enum mb_variant v)
{
	struct mb_variant_opts opts = {"<fuzz.1@mailbisect.invalid>", 1700000000, NULL};
	struct mb_err err = MB_ERR_INIT;
	struct mb_buf out = MB_BUF_INIT;
	struct mb_message *again = NULL;

	if (v == MB_VARIANT_ALTERNATE_DOMAIN)
		opts.from = "bisect@alternate.example";
	if (mb_variant_build(msg, v, &opts, &out, &err)) {
		if (err.code != MB_ENOMEM && err.code != MB_EDATA)
			fail("build failed", v, err.message);
		mb_buf_free(&out);
		return;
	}
	check_crlf(&out, v);
	check_header_block(&out, v, opts.message_id);
	if (mb_message_parse(&again, out.data, out.len, "variant.eml", &err))
		fail("the built variant does not parse", v, err.message);
	check_links(again);
	mb_message_free(again);
	mb_buf_free(&out);
}

int mb_fuzz_message(const uint8_t *data, size_t size)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_message *msg = NULL;
	size_t len = 0;
	const char *headers[3];

	if (mb_message_parse(&msg, (const char *)data, size, "fuzz.eml", &err))
		return 0;
	headers[0] = mb_message_subject(msg);
	headers[1] = mb_message_from(msg);
	headers[2] = mb_message_to(msg);
	for (size_t i = 0; i < 3; i++)
		if (headers[i])
			(void)strlen(headers[i]);
	/* the parser may add the line end a cut-short last line lacks */
	if (!mb_message_data(msg, &len) || len > size + 1)
		abort();
	(void)mb_message_has_html(msg);
	(void)mb_message_has_attachments(msg);
	check_links(msg);
	for (int v = 0; v < MB_VARIANT_COUNT; v++)
		build_variant(msg, (enum mb_variant)v);
	mb_message_free(msg);
	return 0;
}

#ifndef MB_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return mb_fuzz_message(data, size);
}
#endif
