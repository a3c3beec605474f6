/* Unit tests of the HTML editor (link removal on source bytes, text rendering) and of the
 * plain-text URL scanner: small hand-written inputs with the exact output expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mailbisect/buf.h"
#include "mailbisect/err.h"
#include "mailbisect/html.h"
#include "mailbisect/textlinks.h"

struct io_case {
	const char *in;
	const char *want;
};

static void test_strip_links(void **state)
{
	static const struct io_case cases[] = {
	    {"<p>Hi <a href=\"https://x.example/a\">there</a>!</p>", "<p>Hi there!</p>"},
	    {"<A HREF=http://x.example/>Up</A>", "Up"},
	    {"<a\n  href=\"https://x.example/\"\n>t</a>", "t"},
	    {"<a\r\nhref=x.html>rel</a>", "rel"},
	    {"<img src=\"https://cdn.example/i.png\" alt=\"i\">ok", "ok"},
	    {"<img src=\"//cdn.example/p.gif\" width=1 height=1>", ""},
	    {"<img src=\"cid:a@b\" alt=\"i\">", "<img src=\"cid:a@b\" alt=\"i\">"},
	    {"<img src=cid:a srcset=\"https://c.example/a.png 2x\">", "<img src=cid:a>"},
	    {"<table><tr><td background=\"http://x.example/b.png\" width=3>c</td></tr></table>",
	     "<table><tr><td width=3>c</td></tr></table>"},
	    {"<div style=\"color:red;background:url(&quot;https://x.example/b.png&quot;) "
	     "no-repeat\">d</div>",
	     "<div style=\"color:red;background:none no-repeat\">d</div>"},
	    {"<style>@import \"https://x.example/a.css\";p{color:red}</style>",
	     "<style>p{color:red}</style>"},
	    {"<map><area href=\"https://x.example/\" alt=a></map>", "<map></map>"},
	    {"<form action=\"https://x.example/f\" method=post></form>",
	     "<form method=post></form>"},
	    {"<!--[if mso]><v:roundrect href=\"https://x.example/b\">B</v:roundrect><![endif]-->",
	     "<!--[if mso]><v:roundrect>B</v:roundrect><![endif]-->"},
	    {"<!-- https://x.example/c -->", "<!--  -->"},
	    {"<a href=\"https://x.example/\">unclosed<p>next</p>", "unclosed<p>next</p>"},
	    {"x</a>y", "x</a>y"},
	    {"<table><a href=\"https://x.example/t\">in</a><tr><td>c</td></tr></table>",
	     "<table>in<tr><td>c</td></tr></table>"},
	    {"<p>see https://x.example/p?a=1&amp;b=2.</p>", "<p>see .</p>"},
	    {"<P>caf\xe9 <A HREF=http://x.example/>l\xe9</A></P>", "<P>caf\xe9 l\xe9</P>"},
	    {"<p>a</p><td background=\"http://x.example/stray.png\">c",
	     "<p>a</p><td background=\"\">c"},
	    {"<a href=\"#top\">top</a> <a href=\"mailto:a@x.example\">a@x.example</a>",
	     "<a href=\"#top\">top</a> a@x.example"},
	    {"<link rel=stylesheet href=\"https://x.example/s.css\"><p>p</p>", "<p>p</p>"},
	    {"<a href=\"h&#116;tps://x.example/\">o</a>", "o"},
	    {"<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\" "
	     "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\"><p>d</p>",
	     "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\" "
	     "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\"><p>d</p>"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_buf out = MB_BUF_INIT;
		struct mb_err err = MB_ERR_INIT;
		int rc =
		    mb_html_strip_links(cases[i].in, strlen(cases[i].in), &out, NULL, NULL, &err);
		if (rc != 0)
			fail_msg("strip case %zu: got rc %d (%s), want 0", i, rc, err.message);
		if (strcmp(out.data, cases[i].want) != 0)
			fail_msg("strip case %zu:\n got  \"%s\"\n want \"%s\"", i, out.data,
			         cases[i].want);
		mb_buf_free(&out);
	}
}

/* Collects host names (joined with ",") of every URL the editor reports. */
static int join_host(void *ctx, const char *host, size_t len)
{
	struct mb_buf *b = ctx;
	if (b->len)
		mb_buf_putc(b, ',');
	return mb_buf_append(b, host, len);
}

static int url_hosts(void *ctx, const char *url, size_t len)
{
	return mb_textlinks_hosts(url, len, join_host, ctx);
}

static void test_strip_reports_urls(void **state)
{
	static const char html[] =
	    "<a href=\"https://click.t.example/c?u=https%3A%2F%2Fwww.s.example%2F\">x</a>"
	    "<img src=\"//cdn.s.example/i.png\"><p style=\"background:url(http://bg.example/b)\">"
	    "</p><!-- http://c.example/ -->";
	struct mb_buf out = MB_BUF_INIT, hosts = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	(void)state;
	assert_int_equal(mb_html_strip_links(html, strlen(html), &out, url_hosts, &hosts, &err), 0);
	if (!hosts.data || strcmp(hosts.data, "click.t.example,www.s.example,cdn.s.example,"
	                                      "bg.example,c.example") != 0)
		fail_msg("reported hosts: got \"%s\", want \"click.t.example,www.s.example,"
		         "cdn.s.example,bg.example,c.example\"",
		         hosts.data ? hosts.data : "");
	mb_buf_free(&out);
	mb_buf_free(&hosts);
}

/* A deciding callback: a URL goes when a host it leads to is one of a comma-separated list
 * (exactly, no subdomains); every other URL is kept. */
struct host_choice {
	const char *strip;
	bool matched;
	int calls;
};

static int host_listed(void *ctx, const char *host, size_t len)
{
	struct host_choice *c = ctx;
	for (const char *p = c->strip; *p;) {
		size_t n = strcspn(p, ",");
		if (n == len && strncmp(p, host, n) == 0)
			c->matched = true;
		p += n + (p[n] == ',');
	}
	return 0;
}

static int strip_listed(void *ctx, const char *url, size_t len)
{
	struct host_choice *c = ctx;
	int rc;
	c->matched = false;
	c->calls++;
	rc = mb_textlinks_hosts(url, len, host_listed, c);
	return rc ? rc : c->matched ? 0 : MB_URL_KEEP;
}

struct choice_case {
	const char *in;
	const char *strip; /* hosts whose URLs go */
	const char *want;
};

static const struct choice_case choice_cases[] = {
    {"<p><a href=\"https://a.example/x\">A</a> <a href=\"https://b.example/y\">B</a></p>",
     "a.example", "<p>A <a href=\"https://b.example/y\">B</a></p>"},
    {"<img src=\"https://a.example/i.png\" srcset=\"https://b.example/i2.png 2x\">", "a.example",
     "<img srcset=\"https://b.example/i2.png 2x\">"},
    {"<img src=\"https://a.example/i.png\" srcset=\"https://b.example/i2.png 2x\">", "b.example",
     "<img src=\"https://a.example/i.png\">"},
    {"<img src=\"https://a.example/i.png\" srcset=\"https://b.example/i2.png 2x\">",
     "a.example,b.example", ""},
    {"<img src=\"https://a.example/i.png\" srcset=\"https://a.example/2.png 2x, "
     "https://b.example/3.png 3x\">",
     "b.example", "<img src=\"https://a.example/i.png\">"},
    {"<a href=\"https://b.example/\" style=\"background:url(https://a.example/bg.png)\">t</a>",
     "a.example", "<a href=\"https://b.example/\" style=\"background:none\">t</a>"},
    {"<a href=\"https://a.example/\" title=\"see https://b.example/\">t</a>", "a.example",
     "<a title=\"see https://b.example/\">t</a>"},
    {"<a href=\"https://a.example/\"><img src=\"https://b.example/i.png\" alt=i></a>", "b.example",
     "<a href=\"https://a.example/\"></a>"},
    {"<a href=\"https://a.example/\"><img src=\"https://b.example/i.png\" alt=i></a>", "a.example",
     "<img src=\"https://b.example/i.png\" alt=i>"},
    {"<a href=\"https://t.example/c?u=https%3A%2F%2Fb.example%2F\">w</a>", "b.example", "w"},
    {"<a href=\"https://t.example/c?u=https%3A%2F%2Fb.example%2F\">w</a>", "t.example", "w"},
    {"<a href=\"https://t.example/c?u=https%3A%2F%2Fb.example%2F\">w</a>", "c.example",
     "<a href=\"https://t.example/c?u=https%3A%2F%2Fb.example%2F\">w</a>"},
    {"<table><tr><td background=\"https://a.example/b.png\" width=3>c</td>"
     "<td background=\"https://b.example/b.png\">d</td></tr></table>",
     "a.example",
     "<table><tr><td width=3>c</td><td background=\"https://b.example/b.png\">d</td></tr>"
     "</table>"},
    {"<style>@import url(\"https://a.example/f.css\");@import \"https://b.example/g.css\";"
     "p{background:url(https://a.example/p.png)}i{background:url(https://b.example/i.png)}"
     "</style>",
     "a.example",
     "<style>@import \"https://b.example/g.css\";p{background:none}"
     "i{background:url(https://b.example/i.png)}</style>"},
    {"<style>@import url(\"https://a.example/f.css\");@import \"//b.example/g.css\";</style>",
     "b.example", "<style>@import url(\"https://a.example/f.css\");</style>"},
    {"<!--[if mso]><v:roundrect href=\"https://a.example/b\">B</v:roundrect>"
     "<v:image src=\"https://b.example/i.png\"/><![endif]-->",
     "a.example",
     "<!--[if mso]><v:roundrect>B</v:roundrect><v:image src=\"https://b.example/i.png\"/>"
     "<![endif]-->"},
    {"<!-- https://a.example/c https://b.example/d -->", "b.example",
     "<!-- https://a.example/c  -->"},
    {"<p>see https://a.example/p and www.b.example.</p>", "www.b.example",
     "<p>see https://a.example/p and .</p>"},
    {"<a href=\"mailto:x@a.example\">x</a> <a href=\"offers.html\">o</a>", "a.example",
     "<a href=\"mailto:x@a.example\">x</a> <a href=\"offers.html\">o</a>"},
    {"<map><area href=\"https://a.example/\" alt=a><area href=\"https://b.example/\"></map>",
     "b.example", "<map><area href=\"https://a.example/\" alt=a></map>"},
    {"<form action=\"https://a.example/f\"></form><form action=\"https://b.example/f\"></form>",
     "a.example", "<form></form><form action=\"https://b.example/f\"></form>"},
    {"<link rel=stylesheet href=\"https://a.example/s.css\"><p>p</p>", "b.example",
     "<link rel=stylesheet href=\"https://a.example/s.css\"><p>p</p>"},
};

/* The callback decides per URL: what it keeps stays with its tag, the rest goes. */
static void test_strip_chooses_urls(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof choice_cases / sizeof choice_cases[0]; i++) {
		const struct choice_case *c = &choice_cases[i];
		struct host_choice choice = {c->strip, false, 0};
		struct mb_buf out = MB_BUF_INIT;
		struct mb_err err = MB_ERR_INIT;
		int rc =
		    mb_html_strip_links(c->in, strlen(c->in), &out, strip_listed, &choice, &err);
		if (rc != 0)
			fail_msg("choice case %zu: got rc %d (%s), want 0", i, rc, err.message);
		if (strcmp(out.data, c->want) != 0)
			fail_msg("choice case %zu stripping %s:\n got  \"%s\"\n want \"%s\"", i,
			         c->strip, out.data, c->want);
		mb_buf_free(&out);
	}
}

static int keep_every_url(void *ctx, const char *url, size_t len)
{
	(void)url;
	(void)len;
	(*(int *)ctx)++;
	return MB_URL_KEEP;
}

static int remove_every_url(void *ctx, const char *url, size_t len)
{
	(void)url;
	(void)len;
	(*(int *)ctx)++;
	return 0;
}

/* Keeping every URL gives the input back; removing every one gives what no callback gives. */
static void test_strip_keep_all_remove_all(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof choice_cases / sizeof choice_cases[0]; i++) {
		const char *in = choice_cases[i].in;
		struct mb_buf kept = MB_BUF_INIT, removed = MB_BUF_INIT, plain = MB_BUF_INIT;
		struct mb_err err = MB_ERR_INIT;
		int asked = 0;
		assert_int_equal(
		    mb_html_strip_links(in, strlen(in), &kept, keep_every_url, &asked, &err), 0);
		if (strcmp(kept.data, in) != 0 || asked == 0)
			fail_msg(
			    "case %zu keeping every URL (%d asked):\n got  \"%s\"\n want \"%s\"", i,
			    asked, kept.data, in);
		assert_int_equal(
		    mb_html_strip_links(in, strlen(in), &removed, remove_every_url, &asked, &err),
		    0);
		assert_int_equal(mb_html_strip_links(in, strlen(in), &plain, NULL, NULL, &err), 0);
		if (strcmp(removed.data, plain.data) != 0)
			fail_msg("case %zu removing every URL:\n got  \"%s\"\n want \"%s\"", i,
			         removed.data, plain.data);
		mb_buf_free(&kept);
		mb_buf_free(&removed);
		mb_buf_free(&plain);
	}
}

static int fail_on_b(void *ctx, const char *url, size_t len)
{
	(void)ctx;
	return memchr(url, 'b', len) ? MB_EDATA : MB_URL_KEEP;
}

/* A callback value other than 0 and MB_URL_KEEP stops the edit and comes back. */
static void test_strip_callback_error(void **state)
{
	static const char html[] =
	    "<a href=\"https://a.example/\">a</a><img src=\"https://b.example/\">";
	static const char text[] = "a https://a.example/ b https://b.example/";
	struct mb_buf out = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	(void)state;
	assert_int_equal(mb_html_strip_links(html, strlen(html), &out, fail_on_b, NULL, &err),
	                 MB_EDATA);
	mb_buf_reset(&out);
	assert_int_equal(mb_textlinks_strip(text, strlen(text), &out, fail_on_b, NULL), MB_EDATA);
	mb_buf_free(&out);
}

static void test_strip_refuses_deep_nesting(void **state)
{
	struct mb_buf in = MB_BUF_INIT, out = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	int rc;
	(void)state;
	for (int i = 0; i < 5000; i++)
		mb_buf_puts(&in, "<div>");
	rc = mb_html_strip_links(in.data, in.len, &out, NULL, NULL, &err);
	if (rc != MB_EDATA || !strstr(err.message, "nested"))
		fail_msg("5000 nested divs: got rc %d \"%s\", want MB_EDATA \"...nested...\"", rc,
		         err.message);
	mb_buf_free(&in);
	mb_buf_free(&out);
}

struct text_case {
	const char *in;
	const char *want_with_urls;
	const char *want_bare;
};

static void test_to_text(void **state)
{
	static const struct text_case cases[] = {
	    {"<p>Hello <b>world</b></p><p>Second</p>", "Hello world\n\nSecond\n",
	     "Hello world\n\nSecond\n"},
	    {"<p>Go <a href=\"https://x.example/a\">here</a>.</p>",
	     "Go here <https://x.example/a>.\n", "Go here.\n"},
	    {"<a href=\"https://x.example/\">https://x.example/</a>", "https://x.example/\n", "\n"},
	    {"<style>p{}</style><script>var a=1;</script><p>A&amp;B &lt;ok&gt; caf&eacute;</p>",
	     "A&B <ok> caf\xc3\xa9\n", "A&B <ok> caf\xc3\xa9\n"},
	    {"line1<br>line2<br><br>line4", "line1\nline2\n\nline4\n", "line1\nline2\n\nline4\n"},
	    {"<ul><li>one</li><li>two</li></ul>", "* one\n* two\n", "* one\n* two\n"},
	    {"<table><tr><td>a</td><td>b</td></tr></table>", "a\nb\n", "a\nb\n"},
	    {"<img src=\"cid:x\" alt=\"Logo\"> <img src=\"https://o.example/p.gif\" alt=\"\">Text",
	     "Logo Text\n", "Logo Text\n"},
	    {"<pre>a  b\n c</pre>", "a  b\n c\n", "a  b\n c\n"},
	    {"<p>x&nbsp;&nbsp;y&zwnj;z</p>", "x yz\n", "x yz\n"},
	    {"<a href=\"mailto:a@x.example\">a@x.example</a>", "a@x.example\n", "a@x.example\n"},
	    {"<h1>T</h1>text", "T\n\ntext\n", "T\n\ntext\n"},
	    {"<head><title>T</title></head><body>B</body>", "B\n", "B\n"},
	    {"<p>Visit www.x.example/shop today</p>", "Visit www.x.example/shop today\n",
	     "Visit today\n"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int keep = 1; keep >= 0; keep--) {
			struct mb_buf out = MB_BUF_INIT;
			struct mb_err err = MB_ERR_INIT;
			const char *want = keep ? cases[i].want_with_urls : cases[i].want_bare;
			int rc =
			    mb_html_to_text(cases[i].in, strlen(cases[i].in), keep, &out, &err);
			if (rc != 0)
				fail_msg("text case %zu: got rc %d (%s), want 0", i, rc,
				         err.message);
			if (strcmp(out.data, want) != 0)
				fail_msg("text case %zu keep_urls=%d:\n got  \"%s\"\n want \"%s\"",
				         i, keep, out.data, want);
			mb_buf_free(&out);
		}
	}
}

static void test_find(void **state)
{
	static const struct io_case cases[] = {
	    {"see https://x.example/a.", "https://x.example/a"},
	    {"(http://x.example/a_(b))", "http://x.example/a_(b)"},
	    {"visit www.x.example/p, now", "www.x.example/p"},
	    {"mail a@www.x.example", NULL},
	    {"xhttp://x.example", NULL},
	    {"u=https%3A%2F%2Fa.example&b", "https%3A%2F%2Fa.example&b"},
	    {"http:// alone", NULL},
	    {"'https://q.example/x'", "https://q.example/x"},
	    {"FTP://files.example/f.zip!", "FTP://files.example/f.zip"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t s = 0, e = 0, len = strlen(cases[i].in);
		bool found = mb_textlinks_find(cases[i].in, len, 0, &s, &e);
		const char *want = cases[i].want;
		if (found != (want != NULL) ||
		    (found &&
		     (e - s != strlen(want) || strncmp(cases[i].in + s, want, e - s) != 0)))
			fail_msg("find in \"%s\": got \"%.*s\" (found %d), want \"%s\"",
			         cases[i].in, (int)(e - s), cases[i].in + s, found,
			         want ? want : "(none)");
	}
}

static void test_strip_text(void **state)
{
	static const struct io_case cases[] = {
	    {"Shop: https://x.example/s\nEnd", "Shop:\nEnd"},
	    {"Boots <https://x.example/b> now", "Boots now"},
	    {"a (http://x.example) b", "a b"},
	    {"Shop: https://x.example/s\r\nEnd", "Shop:\r\nEnd"},
	    {"no links here", "no links here"},
	    {"two www.a.example and https://b.example/x?y=1", "two and"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_buf out = MB_BUF_INIT;
		assert_int_equal(
		    mb_textlinks_strip(cases[i].in, strlen(cases[i].in), &out, NULL, NULL), 0);
		if (strcmp(out.data, cases[i].want) != 0)
			fail_msg("strip text \"%s\": got \"%s\", want \"%s\"", cases[i].in,
			         out.data, cases[i].want);
		mb_buf_free(&out);
	}
}

static void test_strip_text_chooses_urls(void **state)
{
	static const struct choice_case cases[] = {
	    {"Shop: https://a.example/s\nPartner <https://b.example/p> now", "b.example",
	     "Shop: https://a.example/s\nPartner now"},
	    {"Shop: https://a.example/s\nPartner <https://b.example/p> now", "a.example",
	     "Shop:\nPartner <https://b.example/p> now"},
	    {"a https://a.example/ b https://b.example/", "a.example", "a b https://b.example/"},
	    {"a https://a.example/ b https://b.example/", "b.example", "a https://a.example/ b"},
	    {"go https://t.example/c?u=https%3A%2F%2Fb.example%2F now", "b.example", "go now"},
	    {"go https://t.example/c?u=https%3A%2F%2Fb.example%2F now", "",
	     "go https://t.example/c?u=https%3A%2F%2Fb.example%2F now"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct host_choice choice = {cases[i].strip, false, 0};
		struct mb_buf out = MB_BUF_INIT;
		assert_int_equal(mb_textlinks_strip(cases[i].in, strlen(cases[i].in), &out,
		                                    strip_listed, &choice),
		                 0);
		if (strcmp(out.data, cases[i].want) != 0)
			fail_msg("strip text \"%s\" of %s: got \"%s\", want \"%s\"", cases[i].in,
			         cases[i].strip, out.data, cases[i].want);
		mb_buf_free(&out);
	}
}

static void test_hosts(void **state)
{
	static const struct io_case cases[] = {
	    {"https://User:pw@WWW.X.Example:8080/p", "www.x.example"},
	    {"https://c.t.example/c?u=https%3A%2F%2Fwww.s.example%2Fp&sig=1",
	     "c.t.example,www.s.example"},
	    {"https://r.example/?u=https%253A%252F%252Fdeep.example%252F",
	     "r.example,deep.example"},
	    {"mailto:a@b.example", ""},
	    {"cid:logo@b.example", ""},
	    {"//cdn.example/x", "cdn.example"},
	    {"www.x.example/p", "www.x.example"},
	    {"https://a.example/r?to=https://b.example/x", "a.example,b.example"},
	    {"https://[2001:db8::1]:443/", "[2001:db8::1]"},
	    {"http://host.example./", "host.example"},
	    {"/relative?u=https%3A%2F%2Fwrapped.example%2F", "wrapped.example"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_buf out = MB_BUF_INIT;
		assert_int_equal(
		    mb_textlinks_hosts(cases[i].in, strlen(cases[i].in), join_host, &out), 0);
		if (strcmp(out.data ? out.data : "", cases[i].want) != 0)
			fail_msg("hosts of \"%s\": got \"%s\", want \"%s\"", cases[i].in,
			         out.data ? out.data : "", cases[i].want);
		mb_buf_free(&out);
	}
}

static void test_is_remote(void **state)
{
	static const struct {
		const char *in;
		bool want;
	} cases[] = {
	    {"https://x.example/", true},
	    {" 'HTTP://x.example'", true},
	    {"//cdn.example/a", true},
	    {"www.x.example", true},
	    {"cid:a@b", false},
	    {"data:image/png;base64,AA", false},
	    {"mailto:a@b.example", false},
	    {"images/a.png", false},
	    {"#top", false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (mb_textlinks_is_remote(cases[i].in, strlen(cases[i].in)) != cases[i].want)
			fail_msg("is_remote(\"%s\"): got %d, want %d", cases[i].in, !cases[i].want,
			         cases[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strip_links),
	    cmocka_unit_test(test_strip_reports_urls),
	    cmocka_unit_test(test_strip_chooses_urls),
	    cmocka_unit_test(test_strip_keep_all_remove_all),
	    cmocka_unit_test(test_strip_callback_error),
	    cmocka_unit_test(test_strip_refuses_deep_nesting),
	    cmocka_unit_test(test_to_text),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_strip_text),
	    cmocka_unit_test(test_strip_text_chooses_urls),
	    cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_is_remote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
