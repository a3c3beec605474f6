/* Bounce mailbox reader over IMAP with libcurl: UID SEARCH for what is new, then one ;UID=n
 * fetch per message (exact bytes), with UIDVALIDITY guarding against a reset mailbox. */
#include "mailbisect/imap.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "mailbisect/buf.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"

/* The SEARCH reply: ten digits and a space per UID, for every UID a mailbox can hold. */
#define SEARCH_MAX_BYTES (64u * 1024u * 1024u)
#define URL_MAX_BYTES    4096u

struct mb_imap {
	CURL *curl;
	char *url;  /* imap[s]://host[:port]/MAILBOX, mailbox encoded, no credentials */
	char *user; /* for messages only; the password stays in curl's copy */
	long timeout;
	char curl_error[CURL_ERROR_SIZE];
	struct mb_buf body;   /* what the write callback received */
	bool body_too_big;    /* the write callback refused more */
	uint32_t uidvalidity; /* from the last SELECT seen, 0 when none */
	char refusal[160];    /* text of the last tagged NO/BAD reply (untrusted) */
};

/* ---- Mailbox names: modified UTF-7 (RFC 3501 5.1.3), then percent-encoded ----------------- */

static const char mutf7_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Appends the modified base64 of UTF-16 units; bits and nbits carry the partial sextet. */
static int mutf7_put_unit(struct mb_buf *out, uint16_t unit, uint32_t *bits, int *nbits)
{
	int rc = 0;
	*bits = (*bits << 16) | unit;
	*nbits += 16;
	while (*nbits >= 6 && !rc) {
		*nbits -= 6;
		rc = mb_buf_putc(out, mutf7_alphabet[(*bits >> *nbits) & 0x3F]);
	}
	*bits &= (1u << *nbits) - 1;
	return rc;
}

static int mutf7_encode(const char *name, size_t len, struct mb_buf *out)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t i = 0;
	int rc = 0;

	while (i < len && !rc) {
		uint32_t cp, bits = 0;
		int nbits = 0;
		size_t n;

		if (s[i] >= 0x20 && s[i] < 0x7F) {
			rc = s[i] == '&' ? mb_buf_puts(out, "&-") : mb_buf_putc(out, (char)s[i]);
			i++;
			continue;
		}
		rc = mb_buf_putc(out, '&');
		while (!rc && i < len && !(s[i] >= 0x20 && s[i] < 0x7F)) {
			if (!(n = mb_utf8_decode(s + i, len - i, &cp)) || cp < 0x20)
				return MB_ECONFIG;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				rc = mutf7_put_unit(out, (uint16_t)(0xD800 | (cp >> 10)), &bits,
				                    &nbits);
				if (!rc)
					rc = mutf7_put_unit(out, (uint16_t)(0xDC00 | (cp & 0x3FF)),
					                    &bits, &nbits);
			} else {
				rc = mutf7_put_unit(out, (uint16_t)cp, &bits, &nbits);
			}
			i += n;
		}
		if (!rc && nbits)
			rc = mb_buf_putc(out, mutf7_alphabet[(bits << (6 - nbits)) & 0x3F]);
		if (!rc)
			rc = mb_buf_putc(out, '-');
	}
	return rc;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The mailbox part of the URL as given (percent-encoded or not) -> URL path: decoded, made
 * modified UTF-7, then every byte outside the unreserved set and '/' percent-encoded. */
static int mailbox_path(const char *given, struct mb_buf *out)
{
	struct mb_buf raw = MB_BUF_INIT, utf7 = MB_BUF_INIT;
	int rc = 0;

	for (const char *p = given; *p && !rc; p++) {
		int hi, lo;
		if (p[0] == '%' && (hi = hex_value((unsigned char)p[1])) >= 0 &&
		    (lo = hex_value((unsigned char)p[2])) >= 0) {
			rc = mb_buf_putc(&raw, (char)(hi * 16 + lo));
			p += 2;
		} else {
			rc = mb_buf_putc(&raw, *p);
		}
	}
	if (!rc && raw.len == 0)
		rc = mb_buf_puts(&raw, "INBOX");
	if (!rc)
		rc = mutf7_encode(raw.data, raw.len, &utf7);
	for (size_t i = 0; !rc && i < utf7.len; i++) {
		unsigned char c = (unsigned char)utf7.data[i];
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
			rc = mb_buf_putc(out, (char)c);
		else
			rc = mb_buf_printf(out, "%%%02X", c);
	}
	mb_buf_free(&raw);
	mb_buf_free(&utf7);
	return rc ? rc : mb_buf_terminate(out);
}

/* Checks the URL and builds imap[s]://authority/ENCODED-MAILBOX. Credentials in the URL are
 * refused: they would end up in messages. */
static int build_url(const char *url, struct mb_buf *out, struct mb_err *err)
{
	const char *rest, *slash;
	size_t scheme_len;
	int rc;

	if (mb_str_istarts(url, "imap://"))
		scheme_len = 7;
	else if (mb_str_istarts(url, "imaps://"))
		scheme_len = 8;
	else
		return mb_err_set(err, MB_ECONFIG,
		                  "mailbox URL: want imap://host[:port]/MAILBOX "
		                  "or imaps://...");
	rest = url + scheme_len;
	slash = strchr(rest, '/');
	if (!slash)
		slash = rest + strlen(rest);
	if (slash == rest)
		return mb_err_set(err, MB_ECONFIG, "mailbox URL: no host");
	for (const char *p = rest; p < slash; p++) {
		if (*p == '@')
			return mb_err_set(err, MB_ECONFIG,
			                  "mailbox URL: credentials belong in the "
			                  "user and password settings, not in the URL");
		if ((unsigned char)*p <= 0x20 || *p == 0x7F || *p == '?' || *p == '#' ||
		    *p == ';' || *p == '%' || *p == '\\')
			return mb_err_set(err, MB_ECONFIG, "mailbox URL: invalid host part");
	}
	if (strlen(url) > URL_MAX_BYTES)
		return mb_err_set(err, MB_ECONFIG, "mailbox URL: longer than %u bytes",
		                  URL_MAX_BYTES);
	rc = mb_buf_printf(out, "%.*s", (int)(slash - url), url);
	for (size_t i = 0; !rc && i < scheme_len; i++)
		out->data[i] = (char)tolower((unsigned char)out->data[i]);
	if (!rc)
		rc = mb_buf_putc(out, '/');
	if (!rc)
		rc = mailbox_path(*slash ? slash + 1 : "", out);
	if (rc == MB_ECONFIG)
		return mb_err_set(err, rc, "mailbox URL: the mailbox name is not valid UTF-8");
	if (rc)
		return mb_err_set(err, rc, "out of memory");
	return 0;
}

/* ---- libcurl callbacks ------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct mb_imap *imap = ctx;
	size_t len = size * n;
	if (mb_buf_append(&imap->body, data, len)) {
		imap->body_too_big = true;
		return 0; /* aborts the transfer */
	}
	return len;
}

/* Every response line passes here: "* OK [UIDVALIDITY 1701633600] UIDs valid". */
static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct mb_imap *imap = ctx;
	size_t len = size * n;
	const char *p = mb_str_icontains(data, len, "[UIDVALIDITY ");

	if (len > 2 && data[0] != '*' && data[0] != '+') {
		/* "A003 NO Mailbox doesn't exist: Bounces" */
		const char *sp = memchr(data, ' ', len);
		size_t rest = sp ? len - (size_t)(sp + 1 - data) : 0;
		if (sp && ((rest > 3 && strncasecmp(sp + 1, "NO ", 3) == 0) ||
		           (rest > 4 && strncasecmp(sp + 1, "BAD ", 4) == 0))) {
			size_t n = rest < sizeof imap->refusal ? rest : sizeof imap->refusal - 1;
			memcpy(imap->refusal, sp + 1, n);
			while (n && (imap->refusal[n - 1] == '\n' || imap->refusal[n - 1] == '\r'))
				n--;
			imap->refusal[n] = '\0';
		}
	}
	if (p) {
		uint64_t v = 0;
		size_t i = (size_t)(p - data) + 13, digits = 0;
		while (i < len && isdigit((unsigned char)data[i]) && digits < 11) {
			v = v * 10 + (uint64_t)(data[i++] - '0');
			digits++;
		}
		if (digits && i < len && data[i] == ']' && v > 0 && v <= UINT32_MAX)
			imap->uidvalidity = (uint32_t)v;
	}
	return len;
}

/* ---- Requests ---------------------------------------------------------------------------- */

/* Turns a curl failure into one of our error classes. Server text in curl's message is
 * untrusted: it is made printable. curl never puts the password into it. */
static int imap_fail(struct mb_imap *imap, CURLcode code, struct mb_err *err)
{
	struct mb_buf detail = MB_BUF_INIT;
	const char *what = imap->curl_error[0] ? imap->curl_error : curl_easy_strerror(code);
	double connect_time = 0;
	int rc;

	/* curl reports a refused SELECT as a login failure ("Select failed"): the server's own
	 * words say which it was */
	if (code == CURLE_LOGIN_DENIED && strstr(imap->curl_error, "Select failed"))
		code = CURLE_REMOTE_FILE_NOT_FOUND;
	if (code == CURLE_REMOTE_FILE_NOT_FOUND && imap->refusal[0])
		what = imap->refusal;
	if (mb_str_printable(&detail, what, strlen(what), false))
		mb_buf_free(&detail);
	what = detail.data ? detail.data : curl_easy_strerror(code);
	curl_easy_getinfo(imap->curl, CURLINFO_CONNECT_TIME, &connect_time);
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		rc = mb_err_set(err, MB_EUNAVAIL, "%s: cannot connect: %s", imap->url, what);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		if (connect_time <= 0)
			rc =
			    mb_err_set(err, MB_EUNAVAIL, "%s: cannot connect: %s", imap->url, what);
		else
			rc = mb_err_set(err, MB_EUNAVAIL, "%s: no reply within %ld s: %s",
			                imap->url, imap->timeout, what);
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_USE_SSL_FAILED:
		rc = mb_err_set(err, MB_EUNAVAIL, "%s: TLS failed: %s", imap->url, what);
		break;
	case CURLE_LOGIN_DENIED:
		rc = mb_err_set(err, MB_ECONFIG, "%s: login refused for user %s", imap->url,
		                imap->user ? imap->user : "(none)");
		break;
	case CURLE_REMOTE_FILE_NOT_FOUND:
		rc = mb_err_set(err, MB_ECONFIG, "%s: the mailbox cannot be selected: %s",
		                imap->url, what);
		break;
	case CURLE_OUT_OF_MEMORY:
		rc = mb_err_set(err, MB_ENOMEM, "%s: out of memory", imap->url);
		break;
	default:
		rc = mb_err_set(err, MB_EPROTO, "%s: %s", imap->url, what);
		break;
	}
	mb_buf_free(&detail);
	return rc;
}

static CURLcode imap_perform(struct mb_imap *imap, const char *url, const char *command, bool fresh,
                             size_t cap)
{
	imap->curl_error[0] = '\0';
	imap->refusal[0] = '\0';
	imap->body_too_big = false;
	mb_buf_free(&imap->body);
	imap->body.cap = cap;
	curl_easy_setopt(imap->curl, CURLOPT_URL, url);
	curl_easy_setopt(imap->curl, CURLOPT_CUSTOMREQUEST, command);
	curl_easy_setopt(imap->curl, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
	return curl_easy_perform(imap->curl);
}

static int uid_compare(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* UIDs above `above` from the "* SEARCH ..." lines, ascending, without duplicates. The server
 * also answers n:* with its highest UID when that is below n: filtered here. */
static int parse_search(const struct mb_buf *body, uint32_t above, uint32_t **out, size_t *n)
{
	const char *p = body->data ? body->data : "", *end = p + body->len;
	uint32_t *uids = NULL;
	size_t count = 0, alloc = 0;

	*out = NULL;
	*n = 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end;
		if (line_end > p && line_end[-1] == '\r')
			line_end--;
		if (line_end - p >= 8 && strncasecmp(p, "* SEARCH", 8) == 0) {
			const char *q = p + 8;
			while (q < line_end) {
				uint64_t v = 0;
				size_t digits = 0;
				while (q < line_end && *q == ' ')
					q++;
				while (q < line_end && isdigit((unsigned char)*q) && digits < 11) {
					v = v * 10 + (uint64_t)(*q++ - '0');
					digits++;
				}
				if (q == line_end && !digits)
					break; /* trailing spaces */
				if (!digits || (q < line_end && *q != ' ') || v > UINT32_MAX) {
					free(uids);
					return MB_EPROTO;
				}
				if (v <= above || v == 0)
					continue;
				if (count == alloc) {
					size_t grow = alloc ? alloc * 2 : 64;
					uint32_t *bigger = realloc(uids, grow * sizeof *uids);
					if (!bigger) {
						free(uids);
						return MB_ENOMEM;
					}
					uids = bigger;
					alloc = grow;
				}
				uids[count++] = (uint32_t)v;
			}
		}
		p = eol ? eol + 1 : end;
	}
	if (count)
		qsort(uids, count, sizeof *uids, uid_compare);
	for (size_t i = 0, j = 0; i < count; i++)
		if (j == 0 || uids[j - 1] != uids[i])
			uids[j++] = uids[i], *n = j;
	*out = uids;
	return 0;
}

/* Selects the mailbox on a fresh connection and lists the UIDs above `above`. */
static int search_new(struct mb_imap *imap, uint32_t above, bool fresh, uint32_t **uids, size_t *n,
                      struct mb_err *err)
{
	char command[64];
	CURLcode code;
	int rc;

	snprintf(command, sizeof command, "UID SEARCH UID %lu:*", (unsigned long)above + 1);
	if (fresh)
		imap->uidvalidity = 0;
	code = imap_perform(imap, imap->url, command, fresh, SEARCH_MAX_BYTES);
	if (code != CURLE_OK) {
		if (imap->body_too_big)
			return mb_err_set(err, MB_ENOMEM, "%s: SEARCH reply over %u bytes",
			                  imap->url, SEARCH_MAX_BYTES);
		return imap_fail(imap, code, err);
	}
	if (imap->uidvalidity == 0)
		return mb_err_set(err, MB_EPROTO, "%s: no UIDVALIDITY when selecting the mailbox",
		                  imap->url);
	rc = parse_search(&imap->body, above, uids, n);
	if (rc == MB_EPROTO)
		return mb_err_set(err, rc, "%s: unexpected SEARCH reply", imap->url);
	if (rc)
		return mb_err_set(err, rc, "out of memory");
	return 0;
}

/* Fetches one message's exact bytes (BODY[]) into imap->body. 1 when it is to be skipped
 * (gone, or larger than MB_MAX_MESSAGE_BYTES), 2 when the mailbox was reset meanwhile. */
static int fetch_one(struct mb_imap *imap, uint32_t uidvalidity, uint32_t uid, struct mb_err *err)
{
	char url[URL_MAX_BYTES + 64];
	CURLcode code;

	snprintf(url, sizeof url, "%s;UIDVALIDITY=%lu/;UID=%lu", imap->url,
	         (unsigned long)uidvalidity, (unsigned long)uid);
	code = imap_perform(imap, url, NULL, false, MB_MAX_MESSAGE_BYTES);
	if (code == CURLE_WRITE_ERROR && imap->body_too_big)
		return 1;
	if (code == CURLE_REMOTE_FILE_NOT_FOUND)
		return 2; /* curl checked ;UIDVALIDITY against a new SELECT */
	if (code != CURLE_OK)
		return imap_fail(imap, code, err);
	return imap->body.len == 0 ? 1 : 0;
}

int mb_imap_fetch_new(struct mb_imap *imap, uint32_t *uidvalidity, uint32_t *last_uid,
                      mb_imap_message_cb cb, void *ctx, struct mb_err *err)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc;

	if (!imap || !uidvalidity || !last_uid || !cb)
		return mb_err_set(err, MB_ESOFTWARE, "mb_imap_fetch_new: missing argument");
	if ((rc = search_new(imap, *last_uid, true, &uids, &n, err)))
		return rc;
	if (*uidvalidity && *uidvalidity != imap->uidvalidity) {
		/* the mailbox was recreated: its UIDs start over */
		uint32_t seen = imap->uidvalidity;
		free(uids);
		uids = NULL;
		*last_uid = 0;
		if ((rc = search_new(imap, 0, false, &uids, &n, err)))
			return rc;
		imap->uidvalidity = seen;
	}
	*uidvalidity = imap->uidvalidity;
	if (n > MB_MAX_IMAP_FETCH)
		n = MB_MAX_IMAP_FETCH; /* the rest comes in the next pass */
	for (size_t i = 0; i < n && !rc; i++) {
		rc = fetch_one(imap, *uidvalidity, uids[i], err);
		if (rc == 2) {
			rc = 0;
			break;
		}
		if (rc == 0)
			rc = cb(ctx, uids[i], imap->body.data, imap->body.len);
		else if (rc == 1)
			rc = 0;
		if (rc == 0)
			*last_uid = uids[i];
	}
	free(uids);
	mb_buf_free(&imap->body);
	return rc;
}

/* ---- Lifetime ---------------------------------------------------------------------------- */

void mb_imap_close(struct mb_imap *imap)
{
	if (!imap)
		return;
	if (imap->curl)
		curl_easy_cleanup(imap->curl);
	free(imap->url);
	free(imap->user);
	mb_buf_free(&imap->body);
	free(imap);
}

int mb_imap_open(struct mb_imap **out, const char *url, const char *user, const char *password,
                 long timeout_seconds, struct mb_err *err)
{
	struct mb_buf built = MB_BUF_INIT;
	struct mb_imap *imap;
	int rc;

	*out = NULL;
	if (!url)
		return mb_err_set(err, MB_ECONFIG, "mailbox URL missing");
	if ((rc = build_url(url, &built, err))) {
		mb_buf_free(&built);
		return rc;
	}
	if (!(imap = calloc(1, sizeof *imap))) {
		mb_buf_free(&built);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	imap->url = mb_buf_steal(&built);
	imap->user = mb_strdup(user);
	imap->timeout = timeout_seconds > 0 ? timeout_seconds : 30;
	imap->curl = curl_easy_init();
	if (!imap->url || (user && !imap->user) || !imap->curl) {
		mb_imap_close(imap);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	curl_easy_setopt(imap->curl, CURLOPT_PROTOCOLS_STR, "imap,imaps");
	curl_easy_setopt(imap->curl, CURLOPT_NOSIGNAL, 1L);
	/* each pass opens a fresh session (a new SELECT tells the current UIDVALIDITY); keeping
	 * one connection in the cache closes the previous pass's */
	curl_easy_setopt(imap->curl, CURLOPT_MAXCONNECTS, 1L);
	curl_easy_setopt(imap->curl, CURLOPT_ERRORBUFFER, imap->curl_error);
	curl_easy_setopt(imap->curl, CURLOPT_CONNECTTIMEOUT, imap->timeout);
	curl_easy_setopt(imap->curl, CURLOPT_SERVER_RESPONSE_TIMEOUT, imap->timeout);
	curl_easy_setopt(imap->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(imap->curl, CURLOPT_LOW_SPEED_TIME, imap->timeout);
	/* STARTTLS when the server offers it: the password should not cross a network bare */
	curl_easy_setopt(imap->curl, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	curl_easy_setopt(imap->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(imap->curl, CURLOPT_WRITEDATA, imap);
	curl_easy_setopt(imap->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(imap->curl, CURLOPT_HEADERDATA, imap);
	if (user)
		curl_easy_setopt(imap->curl, CURLOPT_USERNAME, user);
	if (password)
		curl_easy_setopt(imap->curl, CURLOPT_PASSWORD, password); /* curl keeps a copy */
	*out = imap;
	return 0;
}
