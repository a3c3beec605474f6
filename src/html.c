/* HTML editing with gumbo: link removal as a list of byte ranges cut out of the source (so
 * all other bytes stay as they were), and a plain-text rendering for the plain-text variant. */
#include "mailbisect/html.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"

#include <ctype.h>
#include <gumbo.h>
#include <stdlib.h>
#include <string.h>

/* gumbo's time and memory grow with the square of the element nesting (20000 nested divs
 * took 12 s and 3 GB), so deeper input is refused before it reaches the parser. Real mail
 * nests a few dozen levels. */
#define HTML_MAX_NESTING 1500
/* Comments are edited by parsing their inside; a comment inside that is only scanned. */
#define MAX_COMMENT_DEPTH 1

struct cut {
	size_t start, end;
	const char *replacement; /* static text put in place of the range, or NULL */
};

struct ranges {
	struct cut *items;
	size_t n, alloc;
};

struct editor {
	const char *src; /* the whole buffer; every gumbo pointer points into it */
	size_t len;
	struct ranges cuts;
	struct ranges *target; /* where new cuts go: cuts, or an element's own list */
	mb_url_cb cb;
	void *ctx;
	size_t kept; /* URLs the callback chose to keep so far */
	int rc;      /* first failure (memory or the callback), then everything stops */
};

/* ---- shared: nesting bound, parsing, tree walking ---- */

static const char *const void_or_self_closing[] = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
    "basefont",
    "bgsound",
    "frame",
    "keygen",
    /* closed implicitly by their next sibling, so they do not nest in practice */
    "p",
    "li",
    "td",
    "th",
    "tr",
    "dt",
    "dd",
    "option",
    "optgroup",
    "thead",
    "tbody",
    "tfoot",
    "colgroup",
    "caption",
    "rb",
    "rt",
    "rp",
    "html",
    "head",
    "body",
};

static bool tag_does_not_nest(const char *name, size_t n)
{
	for (size_t k = 0; k < sizeof void_or_self_closing / sizeof void_or_self_closing[0]; k++)
		if (strlen(void_or_self_closing[k]) == n &&
		    strncasecmp(void_or_self_closing[k], name, n) == 0)
			return true;
	return false;
}

/* An upper bound on gumbo's open-element depth from a quick look at the tags. */
static bool nesting_too_deep(const char *s, size_t len)
{
	long depth = 0;

	for (size_t i = 0; i + 1 < len; i++) {
		size_t n = 0;
		if (s[i] != '<')
			continue;
		if (s[i + 1] == '!' && i + 3 < len && s[i + 2] == '-' && s[i + 3] == '-') {
			const char *end = mb_str_icontains(s + i + 4, len - i - 4, "-->");
			if (!end)
				break;
			i = (size_t)(end - s) + 2;
			continue;
		}
		if (s[i + 1] == '/') {
			depth -= depth > 0;
			continue;
		}
		while (i + 1 + n < len && isalnum((unsigned char)s[i + 1 + n]))
			n++;
		if (n && isalpha((unsigned char)s[i + 1]) && !tag_does_not_nest(s + i + 1, n) &&
		    ++depth > HTML_MAX_NESTING)
			return true;
	}
	return false;
}

static int parse_html(const char *html, size_t len, GumboOutput **out, struct mb_err *err)
{
	GumboOptions options = kGumboDefaultOptions;

	if (len > MB_MAX_HTML_BYTES)
		return mb_err_set(err, MB_EDATA, "HTML larger than the limit of %u bytes",
		                  MB_MAX_HTML_BYTES);
	if (nesting_too_deep(html, len))
		return mb_err_set(err, MB_EDATA, "HTML nested deeper than %d elements",
		                  HTML_MAX_NESTING);
	options.max_errors = 0; /* parse errors are normal in mail; do not keep them */
	*out = gumbo_parse_with_options(&options, html, len);
	return *out ? 0 : mb_err_set(err, MB_ENOMEM, "HTML parser out of memory");
}

static const GumboVector *children_of(const GumboNode *node)
{
	if (node->type == GUMBO_NODE_DOCUMENT)
		return &node->v.document.children;
	if (node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE)
		return &node->v.element.children;
	return NULL;
}

struct walk_entry {
	GumboNode *node;
	bool exiting;
	size_t mark; /* output length when the element was entered */
};

struct walk_stack {
	struct walk_entry *items;
	size_t n, alloc;
};

static int walk_push(struct walk_stack *st, GumboNode *node, bool exiting, size_t mark)
{
	if (st->n == st->alloc) {
		size_t alloc = st->alloc ? st->alloc * 2 : 64;
		struct walk_entry *items = realloc(st->items, alloc * sizeof *items);
		if (!items)
			return MB_ENOMEM;
		st->items = items;
		st->alloc = alloc;
	}
	st->items[st->n++] = (struct walk_entry){node, exiting, mark};
	return 0;
}

/* Children go on the stack last-first so they come off in document order. */
static int walk_push_children(struct walk_stack *st, const GumboNode *node)
{
	const GumboVector *kids = children_of(node);
	for (unsigned i = kids ? kids->length : 0; i > 0; i--)
		if (walk_push(st, kids->data[i - 1], false, 0))
			return MB_ENOMEM;
	return 0;
}

static bool is_element(const GumboNode *node)
{
	return node->type == GUMBO_NODE_ELEMENT || node->type == GUMBO_NODE_TEMPLATE;
}

static const char *attribute(const GumboNode *node, const char *name)
{
	const GumboAttribute *a = gumbo_get_attribute(&node->v.element.attributes, name);
	return a ? a->value : NULL;
}

/* A href that leads somewhere: not empty, not a fragment of this document, not a MIME part. */
static bool is_link_target(const char *v)
{
	while (v && isspace((unsigned char)*v))
		v++;
	return v && *v && *v != '#' && !mb_str_istarts(v, "cid:");
}

/* ---- link removal ---- */

static void add_range(struct editor *ed, struct ranges *list, const char *from, const char *to,
                      const char *replacement)
{
	if (ed->rc || !from || from < ed->src || to > ed->src + ed->len || from >= to)
		return;
	if (list->n == list->alloc) {
		size_t alloc = list->alloc ? list->alloc * 2 : 32;
		struct cut *items = realloc(list->items, alloc * sizeof *items);
		if (!items) {
			ed->rc = MB_ENOMEM;
			return;
		}
		list->items = items;
		list->alloc = alloc;
	}
	list->items[list->n++] =
	    (struct cut){(size_t)(from - ed->src), (size_t)(to - ed->src), replacement};
}

static void add_cut(struct editor *ed, const char *from, const char *to, const char *replacement)
{
	add_range(ed, ed->target, from, to, replacement);
}

/* Asks the callback about a URL the editor is about to remove; true: remove it. */
static bool url_goes(struct editor *ed, const char *url, size_t len)
{
	int rc = ed->cb && len && !ed->rc ? ed->cb(ed->ctx, url, len) : 0;

	if (rc == MB_URL_KEEP) {
		ed->kept++;
		return false;
	}
	if (rc != 0)
		ed->rc = rc;
	return !ed->rc;
}

/* Asks about every URL of a value (srcset holds several; each is asked even after one was
 * refused, so that the callback sees them all); true when any of them goes. */
static bool value_goes(struct editor *ed, const char *value, size_t len)
{
	size_t pos = 0, s, e;
	bool found = false, goes = false;

	while (mb_textlinks_find(value, len, pos, &s, &e)) {
		goes |= url_goes(ed, value + s, e - s);
		pos = e;
		found = true;
	}
	while (!found && len && isspace((unsigned char)*value))
		value++, len--;
	return found ? goes : url_goes(ed, value, len);
}

/* Cuts bare URLs out of a stretch of raw text. */
static void strip_text_urls(struct editor *ed, const char *s, size_t len)
{
	size_t pos = 0, a, b;
	while (!ed->rc && mb_textlinks_find(s, len, pos, &a, &b)) {
		if (url_goes(ed, s + a, b - a))
			add_cut(ed, s + a, s + b, NULL);
		pos = b;
	}
}

static bool is_blank_or_quote(const char *s, size_t len, size_t *skip)
{
	static const char *const quotes[] = {"&quot;", "&#34;", "&#39;", "&apos;", "\"", "'"};
	if (isspace((unsigned char)*s))
		return *skip = 1, true;
	for (size_t k = 0; k < sizeof quotes / sizeof quotes[0]; k++)
		if (len >= strlen(quotes[k]) && strncasecmp(s, quotes[k], strlen(quotes[k])) == 0)
			return *skip = strlen(quotes[k]), true;
	return false;
}

/* The URL inside url( ... ), without blanks and (possibly entity-encoded) quotes. */
static void css_url_content(const char **s, size_t *len)
{
	size_t skip;
	while (*len && is_blank_or_quote(*s, *len, &skip) && skip <= *len)
		*s += skip, *len -= skip;
	while (*len && (isspace((unsigned char)(*s)[*len - 1]) || (*s)[*len - 1] == '"' ||
	                (*s)[*len - 1] == '\'' || (*s)[*len - 1] == ';'))
		(*len)--;
	while (*len >= 6 && strncasecmp(*s + *len - 6, "&quot;", 6) == 0)
		*len -= 6;
}

/* The target of an @import rule (what follows the keyword up to its semicolon): the inside
 * of url( ... ) or the quoted string. */
static void css_import_target(const char **s, size_t *len)
{
	const char *u = mb_str_icontains(*s, *len, "url(");
	const char *close = u ? memchr(u + 4, ')', *len - (size_t)(u + 4 - *s)) : NULL;

	if (close) {
		*len = (size_t)(close - u - 4);
		*s = u + 4;
	}
	css_url_content(s, len);
}

/* CSS (a <style> element or a style attribute): remote url() becomes "none", a remote
 * @import goes, and bare URLs between them (CSS comments, image-set strings) go too. */
static void strip_css(struct editor *ed, const char *s, size_t len)
{
	size_t plain = 0; /* start of the stretch not yet scanned for bare URLs */

	for (size_t i = 0; i < len && !ed->rc; i++) {
		if (len - i >= 4 && strncasecmp(s + i, "url(", 4) == 0) {
			const char *close = memchr(s + i + 4, ')', len - i - 4), *u = s + i + 4;
			size_t n;
			if (!close)
				break;
			n = (size_t)(close - u);
			css_url_content(&u, &n);
			strip_text_urls(ed, s + plain, i - plain);
			if ((mb_textlinks_is_remote(u, n) || mb_str_icontains(u, n, "://")) &&
			    url_goes(ed, u, n))
				add_cut(ed, s + i, close + 1, "none");
			i = (size_t)(close - s);
			plain = i + 1;
		} else if (len - i >= 7 && strncasecmp(s + i, "@import", 7) == 0) {
			const char *semi = memchr(s + i, ';', len - i);
			const char *end = semi ? semi + 1 : s + len, *target = s + i + 7;
			size_t n = (size_t)(end - target);
			if (!mb_textlinks_has_url(target, n))
				continue;
			/* the rule goes as a whole, or stays as a whole with its URL */
			strip_text_urls(ed, s + plain, i - plain);
			css_import_target(&target, &n);
			if (value_goes(ed, target, n))
				add_cut(ed, s + i, end, NULL);
			i = (size_t)(end - s) - 1;
			plain = i + 1;
		}
	}
	if (plain < len)
		strip_text_urls(ed, s + plain, len - plain);
}

/* Cuts one attribute with the blanks before it: `<td background="http://x">` -> `<td>`. */
static void cut_attribute(struct editor *ed, const GumboElement *e, const GumboAttribute *a)
{
	const char *from = a->original_name.data, *to;
	const char *floor = e->original_tag.length ? e->original_tag.data : ed->src;

	if (!from)
		return;
	to = a->original_value.length ? a->original_value.data + a->original_value.length
	                              : from + a->original_name.length;
	while (from > floor && isspace((unsigned char)from[-1]))
		from--;
	add_cut(ed, from, to, NULL);
}

static void strip_attributes(struct editor *ed, const GumboElement *e)
{
	for (unsigned i = 0; i < e->attributes.length && !ed->rc; i++) {
		const GumboAttribute *a = e->attributes.data[i];
		if (mb_str_istarts(a->name, "xmlns")) /* namespace names, never fetched */
			continue;
		if (mb_str_ieq(a->name, "style") && a->original_value.data) {
			strip_css(ed, a->original_value.data, a->original_value.length);
			continue;
		}
		if (mb_textlinks_has_url(a->value, strlen(a->value)) &&
		    value_goes(ed, a->value, strlen(a->value)))
			cut_attribute(ed, e, a);
	}
}

enum tag_action { ACTION_UNWRAP, ACTION_DROP };

/* Elements that are links or remote resources as a whole. Everything else only loses the
 * attributes that hold URLs. */
static const struct {
	GumboTag tag;
	const char *attribute;
	bool remote_only; /* true: only a remote URL counts; false: any link target */
	enum tag_action action;
} link_elements[] = {
    {GUMBO_TAG_A, "href", false, ACTION_UNWRAP},     {GUMBO_TAG_AREA, "href", false, ACTION_DROP},
    {GUMBO_TAG_IMG, "src", true, ACTION_DROP},       {GUMBO_TAG_SOURCE, "src", true, ACTION_DROP},
    {GUMBO_TAG_SOURCE, "srcset", true, ACTION_DROP}, {GUMBO_TAG_LINK, "href", true, ACTION_DROP},
};

/* An end tag really belongs to the element only when it is spelled </a ...>: gumbo reports
 * another token as the end of an implicitly closed element. */
static bool is_own_end_tag(const GumboElement *e)
{
	const GumboStringPiece *t = &e->original_end_tag;
	const char *name = gumbo_normalized_tagname(e->tag);
	size_t n = strlen(name);
	return t->length > n + 2 && t->data[0] == '<' && t->data[1] == '/' &&
	       strncasecmp(t->data + 2, name, n) == 0 &&
	       (t->data[n + 2] == '>' || t->data[n + 2] == '/' ||
	        isspace((unsigned char)t->data[n + 2]));
}

/* A link element goes as a whole (its tags) when every URL in its attributes goes. When
 * the callback keeps some, the tag stays and only the attributes whose URLs go are cut, as
 * for any other element: `<a href=kept style="background:url(gone)">` keeps its anchor. */
static void apply_element_action(struct editor *ed, const GumboElement *e, const char *link,
                                 enum tag_action act)
{
	struct ranges own = {NULL, 0, 0}, *outer = ed->target;
	const char *tag = e->original_tag.data;
	size_t kept = ed->kept;

	ed->target = &own;
	for (unsigned i = 0; i < e->attributes.length && !ed->rc; i++) {
		const GumboAttribute *a = e->attributes.data[i];
		if (mb_str_istarts(a->name, "xmlns"))
			continue;
		if (mb_str_ieq(a->name, "style") && a->original_value.data)
			strip_css(ed, a->original_value.data, a->original_value.length);
		else if ((mb_str_ieq(a->name, link) ||
		          mb_textlinks_has_url(a->value, strlen(a->value))) &&
		         value_goes(ed, a->value, strlen(a->value)))
			cut_attribute(ed, e, a);
	}
	ed->target = outer;
	if (ed->kept == kept) {
		add_cut(ed, tag, tag + e->original_tag.length, NULL);
		if (act == ACTION_UNWRAP && is_own_end_tag(e))
			add_cut(ed, e->original_end_tag.data,
			        e->original_end_tag.data + e->original_end_tag.length, NULL);
	} else {
		for (size_t i = 0; i < own.n; i++)
			add_range(ed, outer, ed->src + own.items[i].start,
			          ed->src + own.items[i].end, own.items[i].replacement);
	}
	free(own.items);
}

static void strip_element(struct editor *ed, const GumboNode *node)
{
	const GumboElement *e = &node->v.element;

	if (e->original_tag.length == 0) { /* implied: only attributes merged from stray tags */
		strip_attributes(ed, e);
		return;
	}
	for (size_t k = 0; k < sizeof link_elements / sizeof link_elements[0]; k++) {
		const char *v;
		if (link_elements[k].tag != e->tag ||
		    !(v = attribute(node, link_elements[k].attribute)))
			continue;
		if (link_elements[k].remote_only ? mb_textlinks_has_url(v, strlen(v))
		                                 : is_link_target(v)) {
			apply_element_action(ed, e, link_elements[k].attribute,
			                     link_elements[k].action);
			return;
		}
	}
	strip_attributes(ed, e);
}

static int strip_document(struct editor *ed, const char *html, size_t len, int depth,
                          struct mb_err *err);

/* <!--...--> holds markup for some readers (Outlook's <!--[if mso]> VML buttons): edit its
 * inside as HTML of its own. Other comment-like tokens are scanned as text. */
static void strip_comment(struct editor *ed, const GumboText *t, int depth)
{
	const char *s = t->original_text.data;
	size_t len = t->original_text.length;

	if (depth < MAX_COMMENT_DEPTH && len >= 4 && strncmp(s, "<!--", 4) == 0) {
		size_t inner = len - 4;
		if (inner >= 3 && strncmp(s + len - 3, "-->", 3) == 0)
			inner -= 3;
		int rc = strip_document(ed, s + 4, inner, depth + 1, NULL);
		if (rc == 0 || ed->rc)
			return;
		if (rc == MB_ENOMEM) {
			ed->rc = rc;
			return;
		}
		/* the inside was refused by the parser (nested too deeply): scan it as text */
	}
	strip_text_urls(ed, s, len);
}

static void strip_node(struct editor *ed, const GumboNode *node, int depth)
{
	const GumboText *t = &node->v.text;

	switch (node->type) {
	case GUMBO_NODE_ELEMENT:
	case GUMBO_NODE_TEMPLATE:
		strip_element(ed, node);
		break;
	case GUMBO_NODE_COMMENT:
		strip_comment(ed, t, depth);
		break;
	case GUMBO_NODE_TEXT:
	case GUMBO_NODE_CDATA:
		if (node->parent && is_element(node->parent) &&
		    node->parent->v.element.tag == GUMBO_TAG_STYLE)
			strip_css(ed, t->original_text.data, t->original_text.length);
		else
			strip_text_urls(ed, t->original_text.data, t->original_text.length);
		break;
	default:
		break;
	}
}

static int compare_cuts(const void *a, const void *b)
{
	const struct cut *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end > y->end ? -1 : x->end < y->end; /* the enclosing range first */
}

/* Implied elements have no source: their pieces are NULL (pointer arithmetic on it is UB). */
static void add_piece(struct editor *ed, struct ranges *spans, const GumboStringPiece *piece)
{
	if (piece->data)
		add_range(ed, spans, piece->data, piece->data + piece->length, NULL);
}

/* The source bytes a node stands for: its tags, or its text as written. */
static void record_span(struct editor *ed, struct ranges *spans, const GumboNode *node)
{
	if (is_element(node)) {
		add_piece(ed, spans, &node->v.element.original_tag);
		add_piece(ed, spans, &node->v.element.original_end_tag);
	} else if (node->type != GUMBO_NODE_DOCUMENT) {
		add_piece(ed, spans, &node->v.text.original_text);
	}
}

/* Tokens the parser dropped (a <td> outside a table, a second <body>) are in no node, yet a
 * reader's URL scanner still sees their bytes: scan what no node covers, as text. The
 * DOCTYPE is the one gap that names a URL without linking to it. */
static void strip_gaps(struct editor *ed, struct ranges *spans, const char *html, size_t len)
{
	size_t pos = (size_t)(html - ed->src), end = pos + len;

	if (spans->n)
		qsort(spans->items, spans->n, sizeof *spans->items, compare_cuts);
	for (size_t i = 0; i <= spans->n && !ed->rc; i++) {
		size_t next = i < spans->n ? spans->items[i].start : end;
		if (next > pos) {
			const char *gap = ed->src + pos;
			size_t n = next - pos, blank = 0;
			while (blank < n && isspace((unsigned char)gap[blank]))
				blank++;
			if (!mb_str_istarts(gap + blank, "<!doctype"))
				strip_text_urls(ed, gap, n);
		}
		if (i < spans->n && spans->items[i].end > pos)
			pos = spans->items[i].end;
	}
}

static int strip_document(struct editor *ed, const char *html, size_t len, int depth,
                          struct mb_err *err)
{
	struct walk_stack st = {NULL, 0, 0};
	struct ranges spans = {NULL, 0, 0};
	GumboOutput *doc;
	int rc = parse_html(html, len, &doc, err);

	if (rc)
		return rc;
	rc = walk_push(&st, doc->document, false, 0);
	while (!rc && !ed->rc && st.n) {
		GumboNode *node = st.items[--st.n].node;
		record_span(ed, &spans, node);
		strip_node(ed, node, depth);
		rc = walk_push_children(&st, node);
	}
	if (!rc && !ed->rc)
		strip_gaps(ed, &spans, html, len);
	free(st.items);
	free(spans.items);
	gumbo_destroy_output(&kGumboDefaultOptions, doc);
	return rc ? rc : ed->rc;
}

/* Copies the source without the cut ranges. Ranges may repeat (cloned elements share one
 * tag) or nest (an img inside a removed url()); the enclosing one wins. */
static int apply_cuts(const struct editor *ed, struct mb_buf *out)
{
	size_t pos = 0;
	int rc = 0;

	if (ed->cuts.n)
		qsort(ed->cuts.items, ed->cuts.n, sizeof *ed->cuts.items, compare_cuts);
	for (size_t i = 0; i < ed->cuts.n && !rc; i++) {
		const struct cut *c = &ed->cuts.items[i];
		if (c->end <= pos)
			continue;
		if (c->start < pos) { /* overlaps the previous cut: remove the rest, plainly */
			pos = c->end;
			continue;
		}
		rc = mb_buf_append(out, ed->src + pos, c->start - pos);
		if (!rc && c->replacement)
			rc = mb_buf_puts(out, c->replacement);
		pos = c->end;
	}
	if (!rc)
		rc = mb_buf_append(out, ed->src + pos, ed->len - pos);
	return rc ? rc : mb_buf_terminate(out);
}

int mb_html_strip_links(const char *html, size_t len, struct mb_buf *out, mb_url_cb cb, void *ctx,
                        struct mb_err *err)
{
	struct editor ed = {html, len, {NULL, 0, 0}, NULL, cb, ctx, 0, 0};
	int rc;

	ed.target = &ed.cuts;
	rc = strip_document(&ed, html, len, 0, err);

	if (rc == MB_ENOMEM)
		mb_err_set(err, rc, "out of memory editing HTML");
	else if (rc == 0)
		rc = apply_cuts(&ed, out);
	if (rc == MB_ENOMEM)
		mb_err_set(err, rc, "out of memory editing HTML");
	free(ed.cuts.items);
	return rc;
}

/* ---- plain-text rendering ---- */

struct text_writer {
	struct mb_buf *out;
	bool keep_urls;
	int breaks; /* line breaks owed before the next text */
	bool space; /* a blank is owed before the next text */
	int in_pre;
	int rc;
};

/* Elements whose content is not text a reader sees. */
static const GumboTag skipped_tags[] = {
    GUMBO_TAG_HEAD,     GUMBO_TAG_SCRIPT, GUMBO_TAG_STYLE,  GUMBO_TAG_TEMPLATE,
    GUMBO_TAG_NOSCRIPT, GUMBO_TAG_OBJECT, GUMBO_TAG_IFRAME, GUMBO_TAG_SVG,
    GUMBO_TAG_MATH,     GUMBO_TAG_MAP,    GUMBO_TAG_SELECT, GUMBO_TAG_TITLE,
};

/* Block elements and the line breaks around them (2 = a blank line). */
static const struct {
	GumboTag tag;
	int breaks;
} block_tags[] = {
    {GUMBO_TAG_P, 2},       {GUMBO_TAG_H1, 2},         {GUMBO_TAG_H2, 2},
    {GUMBO_TAG_H3, 2},      {GUMBO_TAG_H4, 2},         {GUMBO_TAG_H5, 2},
    {GUMBO_TAG_H6, 2},      {GUMBO_TAG_TABLE, 2},      {GUMBO_TAG_BLOCKQUOTE, 2},
    {GUMBO_TAG_UL, 2},      {GUMBO_TAG_OL, 2},         {GUMBO_TAG_PRE, 2},
    {GUMBO_TAG_DL, 2},      {GUMBO_TAG_HR, 2},         {GUMBO_TAG_DIV, 1},
    {GUMBO_TAG_TR, 1},      {GUMBO_TAG_TD, 1},         {GUMBO_TAG_TH, 1},
    {GUMBO_TAG_LI, 1},      {GUMBO_TAG_DT, 1},         {GUMBO_TAG_DD, 1},
    {GUMBO_TAG_SECTION, 1}, {GUMBO_TAG_ARTICLE, 1},    {GUMBO_TAG_HEADER, 1},
    {GUMBO_TAG_FOOTER, 1},  {GUMBO_TAG_NAV, 1},        {GUMBO_TAG_ASIDE, 1},
    {GUMBO_TAG_CENTER, 1},  {GUMBO_TAG_ADDRESS, 1},    {GUMBO_TAG_FORM, 1},
    {GUMBO_TAG_FIGURE, 1},  {GUMBO_TAG_FIGCAPTION, 1}, {GUMBO_TAG_CAPTION, 1},
    {GUMBO_TAG_MAIN, 1},    {GUMBO_TAG_BODY, 1},
};

static bool tag_in(GumboTag tag, const GumboTag *tags, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tags[i] == tag)
			return true;
	return false;
}

static int block_breaks(GumboTag tag)
{
	for (size_t i = 0; i < sizeof block_tags / sizeof block_tags[0]; i++)
		if (block_tags[i].tag == tag)
			return block_tags[i].breaks;
	return 0;
}

static void want_breaks(struct text_writer *w, int n)
{
	if (n <= 0)
		return;
	if (n > w->breaks)
		w->breaks = n;
	w->space = false;
}

static void trim_trailing_blanks(struct mb_buf *out)
{
	while (out->len && (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t'))
		out->data[--out->len] = '\0';
}

static int trailing_newlines(const struct mb_buf *out)
{
	int n = 0;
	while ((size_t)n < out->len && out->data[out->len - 1 - n] == '\n')
		n++;
	return n;
}

/* Pays owed breaks and blanks before text; nothing is owed at the very start. */
static void flush_owed(struct text_writer *w)
{
	if (w->out->len == 0) {
		w->breaks = 0;
		w->space = false;
		return;
	}
	if (w->breaks) {
		trim_trailing_blanks(w->out);
		for (int n = trailing_newlines(w->out); n < w->breaks && !w->rc; n++)
			w->rc = mb_buf_putc(w->out, '\n');
	} else if (w->space && w->out->data[w->out->len - 1] != '\n' &&
	           w->out->data[w->out->len - 1] != ' ') {
		w->rc = mb_buf_putc(w->out, ' ');
	}
	w->breaks = 0;
	w->space = false;
}

/* Length of a blank at s: ASCII white space, or U+00A0 (which the text renders as a
 * space). Zero-width characters (newsletter preheader padding) count as nothing and give
 * a negative length. */
static int blank_length(const unsigned char *s, size_t len)
{
	if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\f')
		return 1;
	if (len >= 2 && s[0] == 0xC2 && s[1] == 0xA0)
		return 2;
	if (len >= 2 && s[0] == 0xCD && s[1] == 0x8F)
		return -2;
	if (len >= 3 && s[0] == 0xE2 && s[1] == 0x80 && s[2] >= 0x8B && s[2] <= 0x8D)
		return -3;
	if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
		return -3;
	return 0;
}

static void write_text(struct text_writer *w, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len && !w->rc;) {
		int blank = blank_length(p + i, len - i);
		if (blank < 0) {
			i += (size_t)-blank;
		} else if (blank > 0 && w->in_pre) {
			flush_owed(w);
			if (p[i] != '\r')
				w->rc = mb_buf_putc(w->out, p[i] == '\n' ? '\n' : ' ');
			i += (size_t)blank;
		} else if (blank > 0) {
			w->space = true;
			i += (size_t)blank;
		} else {
			flush_owed(w);
			if (!w->rc)
				w->rc = mb_buf_putc(w->out, (char)p[i]);
			i++;
		}
	}
}

static void write_link_target(struct text_writer *w, const char *href, size_t mark)
{
	const char *shown = mb_str_istarts(href, "mailto:") ? href + 7 : href;
	size_t n = strlen(shown);

	while (n && isspace((unsigned char)*shown))
		shown++, n--;
	if (!w->keep_urls || !n ||
	    (w->out->len > mark &&
	     mb_str_icontains(w->out->data + mark, w->out->len - mark, shown)))
		return;
	w->space = w->out->len > mark;
	flush_owed(w);
	if (!w->rc)
		w->rc = mb_buf_printf(w->out, "<%s>", href);
}

static int text_enter(struct text_writer *w, struct walk_stack *st, GumboNode *node)
{
	GumboTag tag = node->v.element.tag;
	const char *alt;

	if (tag_in(tag, skipped_tags, sizeof skipped_tags / sizeof skipped_tags[0]))
		return 0;
	if (tag == GUMBO_TAG_BR) {
		flush_owed(w);
		trim_trailing_blanks(w->out);
		return w->rc ? w->rc : (w->out->len ? mb_buf_putc(w->out, '\n') : 0);
	}
	if (tag == GUMBO_TAG_IMG && (alt = attribute(node, "alt")) != NULL) {
		w->space = true;
		write_text(w, alt, strlen(alt));
		w->space = true;
	}
	want_breaks(w, block_breaks(tag));
	if (tag == GUMBO_TAG_LI) {
		flush_owed(w);
		w->rc = w->rc ? w->rc : mb_buf_puts(w->out, "* ");
	}
	w->in_pre += tag == GUMBO_TAG_PRE;
	if (walk_push(st, node, true, w->out->len))
		return MB_ENOMEM;
	return walk_push_children(st, node);
}

static void text_exit(struct text_writer *w, const struct walk_entry *entry)
{
	const GumboNode *node = entry->node;
	GumboTag tag = node->v.element.tag;
	const char *href;

	if (tag == GUMBO_TAG_A && (href = attribute(node, "href")) != NULL && is_link_target(href))
		write_link_target(w, href, entry->mark);
	w->in_pre -= tag == GUMBO_TAG_PRE;
	want_breaks(w, block_breaks(tag));
}

static int render_text(struct text_writer *w, GumboOutput *doc)
{
	struct walk_stack st = {NULL, 0, 0};
	int rc = walk_push(&st, doc->document, false, 0);

	while (!rc && !w->rc && st.n) {
		struct walk_entry entry = st.items[--st.n];
		GumboNode *node = entry.node;
		if (entry.exiting)
			text_exit(w, &entry);
		else if (is_element(node))
			rc = text_enter(w, &st, node);
		else if (node->type == GUMBO_NODE_DOCUMENT)
			rc = walk_push_children(&st, node);
		else if (node->type != GUMBO_NODE_COMMENT)
			write_text(w, node->v.text.text, strlen(node->v.text.text));
	}
	free(st.items);
	rc = rc ? rc : w->rc;
	if (!rc) {
		while (w->out->len && isspace((unsigned char)w->out->data[w->out->len - 1]))
			w->out->data[--w->out->len] = '\0';
		rc = mb_buf_putc(w->out, '\n');
	}
	return rc;
}

int mb_html_to_text(const char *html, size_t len, bool keep_urls, struct mb_buf *out,
                    struct mb_err *err)
{
	struct mb_buf text = MB_BUF_INIT;
	struct text_writer w = {&text, keep_urls, 0, false, 0, 0};
	GumboOutput *doc;
	int rc = parse_html(html, len, &doc, err);

	if (rc)
		return rc;
	text.cap = out->cap;
	rc = render_text(&w, doc);
	gumbo_destroy_output(&kGumboDefaultOptions, doc);
	/* Without URLs means none at all: also those written as text in the HTML. */
	if (!rc)
		rc = keep_urls ? mb_buf_append(out, text.data, text.len)
		               : mb_textlinks_strip(text.data, text.len, out, NULL, NULL);
	mb_buf_free(&text);
	return rc ? mb_err_set(err, rc, "out of memory rendering HTML as text") : 0;
}
