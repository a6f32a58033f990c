/* Unit tests for lib/addr.c: table-driven cases for the three parsers,
 * offsets, domain validation, limits and canonical round trips.
 *
 * A parse result is rendered as the canonical forms joined with " | ",
 * each followed by "{display}" when there is a display name; the null
 * address renders as "<>".  A failing case gives instead a substring that
 * the reason must contain (usually "WHAT at offset N"). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "buf.h"

enum mode { LIST, ARG, CANON };

struct pcase {
	enum mode mode;
	const char *in;
	size_t len;		/* 0: strlen(in) */
	int n;			/* addresses expected; -1: must fail */
	const char *expect;	/* rendering, or a substring of the reason */
};

#define A10	"aaaaaaaaaa"
#define A59	A10 A10 A10 A10 A10 "aaaaaaaaa"
#define A60	A10 A10 A10 A10 A10 A10
#define A62	A60 "aa"
#define A63	A60 "aaa"
#define A64	A60 "aaaa"
#define A65	A60 "aaaaa"
#define D255	A63 "." A63 "." A63 "." A63		/* 4*63 + 3 */
#define D256	A63 "." A63 "." A63 "." A62 ".b"	/* 3*64 + 62 + 2 */

static struct pcase cases[] = {
	/* ---- header lists: basic forms ---- */
	{ LIST, "a@x", 0, 1, "a@x" },
	{ LIST, "John Doe <john@example.org>", 0, 1, "john@example.org{John Doe}" },
	{ LIST, "\"Doe, John\" <j@x>", 0, 1, "j@x{Doe, John}" },
	{ LIST, "a@x, b@y", 0, 2, "a@x | b@y" },
	{ LIST, "Alice <a@x>, \"Bob\" <b@y>, c@z (Carol)", 0, 3,
	    "a@x{Alice} | b@y{Bob} | c@z{Carol}" },
	{ LIST, "", 0, 0, "" },
	{ LIST, "   ", 0, 0, "" },
	{ LIST, "\t a@x \t", 0, 1, "a@x" },
	{ LIST, "<a@x>", 0, 1, "a@x" },
	{ LIST, "< a@x >", 0, 1, "a@x" },
	{ LIST, "A@Example.ORG", 0, 1, "A@Example.ORG" },
	{ LIST, "user+tag@x", 0, 1, "user+tag@x" },
	{ LIST, "!#$%&'*+-/=?^_`{|}~@x", 0, 1, "!#$%&'*+-/=?^_`{|}~@x" },
	{ LIST, "a@x.y-z.example", 0, 1, "a@x.y-z.example" },
	{ LIST, "a@1.2.3.4", 0, 1, "a@1.2.3.4" },
	{ LIST, "a@xn--bcher-kva.example", 0, 1, "a@xn--bcher-kva.example" },
	{ LIST, "a@localhost", 0, 1, "a@localhost" },
	/* ---- display names ---- */
	{ LIST, "John Q. Public <j@x>", 0, 1, "j@x{John Q. Public}" },
	{ LIST, "j@x <j@x>", 0, 1, "j@x{j@x}" },
	{ LIST, "John (middle) Doe <j@x>", 0, 1, "j@x{John Doe}" },
	{ LIST, "\"  John   Doe  \" <j@x>", 0, 1, "j@x{John Doe}" },
	{ LIST, "\"\" <a@x>", 0, 1, "a@x" },
	{ LIST, "(only a comment) <a@x>", 0, 1, "a@x" },
	{ LIST, "\"J\\\"D\" <a@x>", 0, 1, "a@x{J\"D}" },
	{ LIST, "<j@x> (comment)", 0, 1, "j@x" },
	{ LIST, "John.\"Q\".Doe <j@x>", 0, 1, "j@x{John.Q.Doe}" },
	/* ---- comments ---- */
	{ LIST, "a@x (Alice)", 0, 1, "a@x{Alice}" },
	{ LIST, "a@x(Alice)", 0, 1, "a@x{Alice}" },
	{ LIST, "a@x (Alice) (Bob)", 0, 1, "a@x{Alice Bob}" },
	{ LIST, "a@x (outer (inner) text)", 0, 1, "a@x{outer (inner) text}" },
	{ LIST, "a@x (a \\) b \\( c)", 0, 1, "a@x{a ) b ( c}" },
	{ LIST, "a@x (  spaced \t out  )", 0, 1, "a@x{spaced out}" },
	{ LIST, "a@x ()", 0, 1, "a@x" },
	{ LIST, "(c1) a (c2) . (c3) b (c4) @ (c5) x (c6) . (c7) y (c8)", 0, 1,
	    "a.b@x.y{c8}" },
	{ LIST, "a(c)@(d)x", 0, 1, "a@x" },
	{ LIST, "(lead)a@x", 0, 1, "a@x" },
	{ LIST, "Bob <(c)b(c)@(c)y(c)> (c)", 0, 1, "b@y{Bob}" },
	{ LIST, "a@x (\"not a quote)", 0, 1, "a@x{\"not a quote}" },
	{ LIST, "a@x (((((deep)))))", 0, 1, "a@x{((((deep))))}" },
	{ LIST, "a@x (Alice), b@y", 0, 2, "a@x{Alice} | b@y" },
	/* ---- quoted local parts ---- */
	{ LIST, "\"john\"@x", 0, 1, "john@x" },
	{ LIST, "\"john doe\"@x", 0, 1, "\"john doe\"@x" },
	{ LIST, "\"a\\\"b\"@x", 0, 1, "\"a\\\"b\"@x" },
	{ LIST, "\"a\\\\b\"@x", 0, 1, "\"a\\\\b\"@x" },
	{ LIST, "\"a\\b\"@x", 0, 1, "ab@x" },
	{ LIST, "\"a\\ b\"@x", 0, 1, "\"a b\"@x" },
	{ LIST, "\"a.b\"@x", 0, 1, "a.b@x" },
	{ LIST, "\".a\"@x", 0, 1, "\".a\"@x" },
	{ LIST, "\"a.\"@x", 0, 1, "\"a.\"@x" },
	{ LIST, "\"a..b\"@x", 0, 1, "\"a..b\"@x" },
	{ LIST, "\"a@b\"@x", 0, 1, "\"a@b\"@x" },
	{ LIST, "\"a(b)\"@x", 0, 1, "\"a(b)\"@x" },
	{ LIST, "\"\"@x", 0, 1, "\"\"@x" },
	{ LIST, "\"a b\".c@x", 0, 1, "\"a b.c\"@x" },
	{ LIST, "\"a\".\"b\"@x", 0, 1, "a.b@x" },
	{ LIST, "a . b@x", 0, 1, "a.b@x" },
	{ LIST, "a(c).(c)b@x", 0, 1, "a.b@x" },
	{ LIST, "\"a b\"", 0, 1, "\"a b\"" },
	/* ---- groups ---- */
	{ LIST, "team: a@x, b@y;", 0, 2, "a@x | b@y" },
	{ LIST, "undisclosed-recipients:;", 0, 0, "" },
	{ LIST, "undisclosed-recipients: ;", 0, 0, "" },
	{ LIST, "undisclosed-recipients: (none) ;", 0, 0, "" },
	{ LIST, "undisclosed-recipients:;, c@z", 0, 1, "c@z" },
	{ LIST, "a@x, team: b@y;, c@z", 0, 3, "a@x | b@y | c@z" },
	{ LIST, "team: Bob <b@y>, c@z (C);", 0, 2, "b@y{Bob} | c@z{C}" },
	{ LIST, "team:,,b@y,;", 0, 1, "b@y" },
	{ LIST, "\"The Team\": a@x;", 0, 1, "a@x" },
	{ LIST, "A. Team (x): a@x; (trailing)", 0, 1, "a@x" },
	{ LIST, "g1: a@x;, g2: b@y;", 0, 2, "a@x | b@y" },
	/* ---- folding ---- */
	{ LIST, "a@x,\r\n b@y", 0, 2, "a@x | b@y" },
	{ LIST, "a@x,\n\tb@y", 0, 2, "a@x | b@y" },
	{ LIST, "John\r\n Doe <j@x>", 0, 1, "j@x{John Doe}" },
	{ LIST, "\"John\r\n  Doe\" <j@x>", 0, 1, "j@x{John Doe}" },
	{ LIST, "a@x (\r\n Alice\r\n Smith)", 0, 1, "a@x{Alice Smith}" },
	{ LIST, "a\r\n .b@x\r\n\t.y", 0, 1, "a.b@x.y" },
	{ LIST, "\r\n a@x", 0, 1, "a@x" },
	{ LIST, "a@x\r\n", 0, 1, "a@x" },
	{ LIST, "a@x\n", 0, 1, "a@x" },
	{ LIST, "\"a\r\n b\"@x", 0, 1, "\"a b\"@x" },
	{ LIST, "team:\r\n a@x,\r\n b@y;", 0, 2, "a@x | b@y" },
	/* ---- obsolete forms ---- */
	{ LIST, "<@r1.example,@r2.example:a@x>", 0, 1, "a@x" },
	{ LIST, "Name <@r1:a@x>", 0, 1, "a@x{Name}" },
	{ LIST, "< @r1 , @r2 : a@x >", 0, 1, "a@x" },
	{ LIST, "<,@r1,,@r2,:a@x>", 0, 1, "a@x" },
	{ LIST, "<@[192.0.2.1]:a@x>", 0, 1, "a@x" },
	{ LIST, ", ,a@x, ,,b@y,", 0, 2, "a@x | b@y" },
	{ LIST, ",", 0, 0, "" },
	{ LIST, "a @ x . y", 0, 1, "a@x.y" },
	/* ---- domainless ---- */
	{ LIST, "root", 0, 1, "root" },
	{ LIST, "root (Charlie Root)", 0, 1, "root{Charlie Root}" },
	{ LIST, "<root>", 0, 1, "root" },
	{ LIST, "Charlie <root>", 0, 1, "root{Charlie}" },
	{ LIST, "root, a@x", 0, 2, "root | a@x" },
	/* ---- RFC 6531 UTF-8 ---- */
	{ LIST, "j\xc3\xb6hn@ex\xc3\xa4mple.org", 0, 1,
	    "j\xc3\xb6hn@ex\xc3\xa4mple.org" },
	{ LIST, "J\xc3\xb6hn D\xc3\xb8" "e <j@x>", 0, 1, "j@x{J\xc3\xb6hn D\xc3\xb8" "e}" },
	{ LIST, "\"j\xc3\xb6 hn\"@x", 0, 1, "\"j\xc3\xb6 hn\"@x" },
	{ LIST, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", 0, 1,
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a" },
	{ LIST, "a@x (\xf0\x9f\x98\x80)", 0, 1, "a@x{\xf0\x9f\x98\x80}" },
	{ LIST, "\xf4\x8f\xbf\xbf@x", 0, 1, "\xf4\x8f\xbf\xbf@x" },	/* U+10FFFF */
	{ LIST, "\xc2\xa0@x", 0, 1, "\xc2\xa0@x" },		/* U+00A0 */
	{ LIST, "\xed\x9f\xbf@x", 0, 1, "\xed\x9f\xbf@x" },	/* U+D7FF */
	{ LIST, "\xee\x80\x80@x", 0, 1, "\xee\x80\x80@x" },	/* U+E000 */
	/* ---- domain literals ---- */
	{ LIST, "a@[192.0.2.1]", 0, 1, "a@[192.0.2.1]" },
	{ LIST, "a@[IPv6:2001:db8::1]", 0, 1, "a@[IPv6:2001:db8::1]" },
	{ LIST, "a@[ipv6:::1]", 0, 1, "a@[ipv6:::1]" },
	{ LIST, "a@[IPv6:::ffff:192.0.2.1]", 0, 1, "a@[IPv6:::ffff:192.0.2.1]" },
	{ LIST, "a@[ 192.0.2.1 ]", 0, 1, "a@[192.0.2.1]" },
	{ LIST, "a@[192.0.2.1] (c)", 0, 1, "a@[192.0.2.1]{c}" },
	/* ---- limits, exactly at ---- */
	{ LIST, A64 "@x", 0, 1, A64 "@x" },
	{ LIST, "a@" D255, 0, 1, "a@" D255 },
	{ LIST, "a@" A63 ".x", 0, 1, "a@" A63 ".x" },
	{ LIST, "\"a b" A59 "\"@x", 0, 1, "\"a b" A59 "\"@x" },
	{ LIST, A64 "@" D255, 0, 1, A64 "@" D255 },

	/* ---- header lists: errors ---- */
	{ LIST, "a@x b@y", 0, -1, "unexpected word after address at offset 4" },
	{ LIST, "John Smith", 0, -1, "unexpected word after address at offset 5" },
	{ LIST, "a@x, John Smith", 0, -1, "at offset 10" },
	{ LIST, "Name <a@x> trailing", 0, -1, "unexpected word after address at offset 11" },
	{ LIST, "<a@x", 0, -1, "unbalanced '<' at offset 0" },
	{ LIST, "Name <a@x", 0, -1, "unbalanced '<' at offset 5" },
	{ LIST, "<", 0, -1, "unbalanced '<' at offset 0" },
	{ LIST, "a@x>", 0, -1, "unbalanced '>' at offset 3" },
	{ LIST, ">", 0, -1, "unbalanced '>' at offset 0" },
	{ LIST, "<a@x b@y>", 0, -1, "expected '>', found word at offset 5" },
	{ LIST, "<<a@x>>", 0, -1, "offset 1" },
	{ LIST, "\"abc@x", 0, -1, "unterminated quoted string at offset 0" },
	{ LIST, "\"abc\\", 0, -1, "unterminated quoted string at offset 0" },
	{ LIST, "a@x (comment", 0, -1, "unterminated comment at offset 4" },
	{ LIST, "a@x ((c)", 0, -1, "unterminated comment at offset 4" },
	{ LIST, "a@x)", 0, -1, "unbalanced ')' at offset 3" },
	{ LIST, "a@[1.2.3.4", 0, -1, "unterminated domain literal at offset 2" },
	{ LIST, "a@x]", 0, -1, "unbalanced ']' at offset 3" },
	{ LIST, "a@[x[y]", 0, -1, "'[' inside domain literal at offset 4" },
	{ LIST, "a@[a\\]b]", 0, -1, "backslash in domain literal at offset 4" },
	{ LIST, "<>", 0, -1, "empty address '<>' at offset 0" },
	{ LIST, "Name <>", 0, -1, "empty address '<>' at offset 5" },
	{ LIST, "a@x, < >", 0, -1, "empty address '<>' at offset 5" },
	{ LIST, "a@x\x01", 0, -1, "control character 0x01 at offset 3" },
	{ LIST, "a\x7f@x", 0, -1, "control character 0x7f at offset 1" },
	{ LIST, "a\0b@x", 5, -1, "NUL byte at offset 1" },
	{ LIST, "\"a\0\"@x", 6, -1, "NUL byte at offset 2" },
	{ LIST, "a@x (\x01)", 0, -1, "control character 0x01 at offset 5" },
	{ LIST, "\"a\x1b\"@x", 0, -1, "control character 0x1b at offset 2" },
	{ LIST, "\"a\\\x01\"@x", 0, -1, "control character 0x01 at offset 3" },
	{ LIST, "\"a\tb\"@x", 0, -1, "control character 0x09 in local part at offset 0" },
	{ LIST, "\"a\\\tb\"@x", 0, -1, "control character 0x09 in local part" },
	{ LIST, "a\\b@x", 0, -1, "backslash outside quoted string at offset 1" },
	/* UTF-8 */
	{ LIST, "j\xc3@x", 0, -1, "invalid UTF-8 at offset 1" },	/* truncated */
	{ LIST, "j\xe2\x82", 0, -1, "invalid UTF-8 at offset 1" },	/* truncated at end */
	{ LIST, "\xc0\xaf@x", 0, -1, "invalid UTF-8 at offset 0" },	/* overlong '/' */
	{ LIST, "\xc1\xbf@x", 0, -1, "invalid UTF-8 at offset 0" },	/* overlong */
	{ LIST, "\xe0\x80\xaf@x", 0, -1, "invalid UTF-8 at offset 0" },	/* overlong */
	{ LIST, "\xf0\x80\x80\xaf@x", 0, -1, "invalid UTF-8 at offset 0" },	/* overlong */
	{ LIST, "\xed\xa0\x80@x", 0, -1, "invalid UTF-8 at offset 0" },	/* U+D800 */
	{ LIST, "\xed\xbf\xbf@x", 0, -1, "invalid UTF-8 at offset 0" },	/* U+DFFF */
	{ LIST, "\xf4\x90\x80\x80@x", 0, -1, "invalid UTF-8 at offset 0" },	/* > U+10FFFF */
	{ LIST, "\xf5\x80\x80\x80@x", 0, -1, "invalid UTF-8 at offset 0" },
	{ LIST, "\x80@x", 0, -1, "invalid UTF-8 at offset 0" },		/* lone continuation */
	{ LIST, "\xff@x", 0, -1, "invalid UTF-8 at offset 0" },
	{ LIST, "\xc2\x85@x", 0, -1, "invalid UTF-8 at offset 0" },	/* C1 control NEL */
	{ LIST, "a@x (\xff)", 0, -1, "invalid UTF-8 at offset 5" },
	{ LIST, "\"\xfe\"@x", 0, -1, "invalid UTF-8 at offset 1" },
	{ LIST, "J\xc3 <a@x>", 0, -1, "invalid UTF-8 at offset 1" },
	{ LIST, "a@ex\xc3\xa4mple.\xe2\x82", 0, -1, "invalid UTF-8 at offset 11" },
	/* lengths, one past */
	{ LIST, A65 "@x", 0, -1, "local part longer than 64 octets at offset 0" },
	{ LIST, "\"a b" A60 "\"@x", 0, -1, "local part longer than 64 octets at offset 0" },
	{ LIST, "a@" D256, 0, -1, "domain longer than 255 octets at offset 2" },
	{ LIST, "a@" A64 ".x", 0, -1, "domain label longer than 63 octets at offset 2" },
	{ LIST, "a@x." A64, 0, -1, "domain label longer than 63 octets at offset 4" },
	/* domains */
	{ LIST, "a@x..y", 0, -1, "empty label in domain at offset 4" },
	{ LIST, "a@x.", 0, -1, "domain ends with '.' at offset 3" },
	{ LIST, "a@.x", 0, -1, "empty label in domain at offset 2" },
	{ LIST, "a@-x.y", 0, -1, "domain label starts with '-' at offset 2" },
	{ LIST, "a@x-.y", 0, -1, "domain label ends with '-' at offset 3" },
	{ LIST, "a@x_y.z", 0, -1, "invalid character in domain label at offset 3" },
	{ LIST, "a@x!y", 0, -1, "invalid character in domain label at offset 3" },
	{ LIST, "a@", 0, -1, "expected domain after '@', found end of input at offset 2" },
	{ LIST, "a@\"x\"", 0, -1, "expected domain after '@', found quoted string at offset 2" },
	{ LIST, "a@x.\"y\"", 0, -1, "quoted string in domain at offset 4" },
	{ LIST, "a@[1.2.3.4].x", 0, -1, "unexpected '.' after address at offset 11" },
	{ LIST, "a@x@y", 0, -1, "unexpected '@' after address at offset 3" },
	{ LIST, "a@[300.1.1.1]", 0, -1, "invalid address literal at offset 2" },
	{ LIST, "a@[01.2.3.4]", 0, -1, "invalid address literal at offset 2" },
	{ LIST, "a@[1.2.3]", 0, -1, "invalid address literal at offset 2" },
	{ LIST, "a@[IPv6:2001:db8::g]", 0, -1, "invalid address literal at offset 2" },
	{ LIST, "a@[2001:db8::1]", 0, -1, "invalid address literal at offset 2" },
	{ LIST, "a@[IPv6:1.2.3.4]", 0, -1, "invalid address literal at offset 2" },
	{ LIST, "a@[1.2. 3.4]", 0, -1, "invalid address literal at offset 2" },
	{ LIST, "a@[]", 0, -1, "invalid address literal at offset 2" },
	{ LIST, "a@[x:y]", 0, -1, "invalid address literal at offset 2" },
	/* local parts */
	{ LIST, "@x", 0, -1, "expected local part, found '@' at offset 0" },
	{ LIST, "a..b@x", 0, -1, "expected word after '.' in local part, found '.' at offset 2" },
	{ LIST, ".a@x", 0, -1, "expected local part, found '.' at offset 0" },
	{ LIST, "a.@x", 0, -1, "expected word after '.' in local part, found '@' at offset 2" },
	{ LIST, "a\"b\"@x", 0, -1, "unexpected quoted string after address at offset 1" },
	{ LIST, "\"\"", 0, -1, "empty address at offset 0" },
	/* line breaks */
	{ LIST, "a@x\r\nb@y", 0, -1, "line break not followed by white space at offset 3" },
	{ LIST, "a@x,\nb@y", 0, -1, "line break not followed by white space at offset 4" },
	{ LIST, "a@x\rb", 0, -1, "CR not followed by LF at offset 3" },
	{ LIST, "a@x\r", 0, -1, "CR not followed by LF at offset 3" },
	{ LIST, "a@x\r\n\r\n", 0, -1, "line break not followed by white space at offset 3" },
	{ LIST, "\"a\r\nb\"@x", 0, -1, "line break not followed by white space at offset 2" },
	{ LIST, "\"a\\\r\n b\"@x", 0, -1, "line break in quoted pair at offset 3" },
	/* groups */
	{ LIST, "g1: g2: a@x;;", 0, -1, "nested group at offset 6" },
	{ LIST, "team: a@x", 0, -1, "unterminated group (no ';') at offset 4" },
	{ LIST, "team:", 0, -1, "unterminated group (no ';') at offset 4" },
	{ LIST, ": a@x;", 0, -1, "group without a name at offset 0" },
	{ LIST, "a@x;", 0, -1, "unexpected ';' after address at offset 3" },
	{ LIST, ";", 0, -1, "expected local part, found ';' at offset 0" },
	{ LIST, "a@b: c@d;", 0, -1, "'@' in group name at offset 1" },
	{ LIST, "team: a@x b@y;", 0, -1, "unexpected word after address in group at offset 10" },
	{ LIST, "team: a@x; b@y", 0, -1, "unexpected word after address at offset 11" },
	/* display names and routes */
	{ LIST, "Name [1.2.3.4] <a@x>", 0, -1, "domain literal in display name at offset 5" },
	{ LIST, "<@r1 a@x>", 0, -1, "unexpected word in source route at offset 5" },
	{ LIST, "<@:a@x>", 0, -1, "expected domain after '@', found ':' at offset 2" },
	{ LIST, "<@r1:>", 0, -1, "expected local part, found '>'" },
	{ LIST, "<@r_1:a@x>", 0, -1, "invalid character in domain label at offset 3" },

	/* ---- command-line arguments ---- */
	{ ARG, "", 0, 1, "<>" },
	{ ARG, "<>", 0, 1, "<>" },
	{ ARG, " <> ", 0, 1, "<>" },
	{ ARG, "< (null) >", 0, 1, "<>" },
	{ ARG, "user", 0, 1, "user" },
	{ ARG, "a@x", 0, 1, "a@x" },
	{ ARG, "<a@x>", 0, 1, "a@x" },
	{ ARG, "Name <a@x>", 0, 1, "a@x{Name}" },
	{ ARG, "\"Doe, John\" <a@x>", 0, 1, "a@x{Doe, John}" },
	{ ARG, "a@x, b@y", 0, 2, "a@x | b@y" },
	{ ARG, "a@x,b@y,", 0, 2, "a@x | b@y" },
	{ ARG, "-oQ/tmp", 0, 1, "-oQ/tmp" },
	{ ARG, "a@x (Alice)", 0, 1, "a@x{Alice}" },
	{ ARG, "\"john doe\"@x", 0, 1, "\"john doe\"@x" },
	{ ARG, "<@r:a@x>", 0, 1, "a@x" },
	{ ARG, "j\xc3\xb6@x", 0, 1, "j\xc3\xb6@x" },
	{ ARG, "a b", 0, -1, "unexpected word after address at offset 2" },
	{ ARG, "John Smith a@x", 0, -1, "unexpected word after address at offset 5" },
	{ ARG, "a@x\n", 0, -1, "line break at offset 3" },
	{ ARG, "a@x,\n b@y", 0, -1, "line break at offset 4" },
	{ ARG, "team: a@x;", 0, -1, "group syntax (':') in a command-line address at offset 4" },
	{ ARG, " ", 0, -1, "no address at offset 0" },
	{ ARG, ",", 0, -1, "no address at offset 0" },
	{ ARG, "a@x, <>", 0, -1, "null address '<>' among other addresses at offset 6" },
	{ ARG, "<>, <>", 0, -1, "null address '<>' among other addresses at offset 1" },
	{ ARG, "<a@x", 0, -1, "unbalanced '<' at offset 0" },
	{ ARG, "a@x>", 0, -1, "unbalanced '>' at offset 3" },
	{ ARG, "a@x\x01", 0, -1, "control character 0x01 at offset 3" },
	{ ARG, "a@\xc0\x80", 0, -1, "invalid UTF-8 at offset 2" },
	{ ARG, A65 "@x", 0, -1, "local part longer than 64 octets" },

	/* ---- canonical / RFC 5321 path form ---- */
	{ CANON, "a@x", 0, 1, "a@x" },
	{ CANON, "<a@x>", 0, 1, "a@x" },
	{ CANON, "\"a b\"@x", 0, 1, "\"a b\"@x" },
	{ CANON, "\"abc\"@x", 0, 1, "abc@x" },
	{ CANON, "\"a\\\"b\"@x", 0, 1, "\"a\\\"b\"@x" },
	{ CANON, "\"\"@x", 0, 1, "\"\"@x" },
	{ CANON, "<>", 0, 1, "<>" },
	{ CANON, "", 0, 1, "<>" },
	{ CANON, "root", 0, 1, "root" },
	{ CANON, "\"a b\"", 0, 1, "\"a b\"" },
	{ CANON, "<@r1,@r2:a@x>", 0, 1, "a@x" },
	{ CANON, "a@[IPv6:::1]", 0, 1, "a@[IPv6:::1]" },
	{ CANON, "j\xc3\xb6@\xc3\xa4.x", 0, 1, "j\xc3\xb6@\xc3\xa4.x" },
	{ CANON, A64 "@" D255, 0, 1, A64 "@" D255 },
	{ CANON, "a @x", 0, -1, "white space at offset 1" },
	{ CANON, " a@x", 0, -1, "white space at offset 0" },
	{ CANON, "a@x ", 0, -1, "white space at offset 3" },
	{ CANON, "a(c)@x", 0, -1, "comment at offset 1" },
	{ CANON, "Name <a@x>", 0, -1, "white space at offset 4" },
	{ CANON, "Name<a@x>", 0, -1, "unexpected '<' after address at offset 4" },
	{ CANON, "a@x,b@y", 0, -1, "unexpected ',' after address at offset 3" },
	{ CANON, "\"a\".b@x", 0, -1, "quoted string mixed with dots in local part at offset 0" },
	{ CANON, "a@x\n", 0, -1, "line break at offset 3" },
	{ CANON, "\"a\r\n b\"@x", 0, -1, "line break at offset 2" },
	{ CANON, "\"a\tb\"@x", 0, -1, "control character 0x09 in local part" },
	{ CANON, "a@[ 1.2.3.4]", 0, -1, "white space in domain literal at offset 3" },
	{ CANON, "<a@x", 0, -1, "unbalanced '<' at offset 0" },
	{ CANON, "a..b@x", 0, -1, "expected word after '.' in local part" },
	{ CANON, "[1.2.3.4]", 0, -1, "expected local part, found domain literal at offset 0" },
	{ CANON, "g: a@x;", 0, -1, "white space at offset 2" },
	{ CANON, "g:a@x;", 0, -1, "unexpected ':' after address at offset 1" },
	{ CANON, A65 "@x", 0, -1, "local part longer than 64 octets at offset 0" },
	{ CANON, "a@" D256, 0, -1, "domain longer than 255 octets at offset 2" },
	{ CANON, "a@x_y", 0, -1, "invalid character in domain label at offset 3" },
};

/* Criterion may run each test in a fresh process image, where pointers
 * taken in the parent mean nothing; so the parameters are indices into
 * the static tables, which are the same everywhere. */
static struct criterion_test_params
index_params(size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, n);
}

/* Renders out->v[from..] as described at the top. */
static void
render(const struct addr_list *l, size_t from, struct buf *b)
{
	for (size_t i = from; i < l->n; i++) {
		const struct addr *a = &l->v[i];
		if (i > from)
			buf_puts(b, " | ");
		if (a->local[0] == '\0' && a->domain == NULL)
			buf_puts(b, "<>");
		else
			addr_format(a, b);
		if (a->display)
			buf_printf(b, "{%s}", a->display);
	}
}

/* Each canonical string must parse back, strictly, to itself. */
static void
check_round_trip(const struct addr *a, const char *in)
{
	struct buf f1 = BUF_INIT, f2 = BUF_INIT, why = BUF_INIT;
	struct addr b;

	addr_format(a, &f1);
	cr_assert(addr_parse_canonical(buf_cstr(&f1), &b, &why),
	    "canonical form [%s] of [%s] does not re-parse: %s",
	    buf_cstr(&f1), in, buf_cstr(&why));
	addr_format(&b, &f2);
	cr_expect_str_eq(buf_cstr(&f2), buf_cstr(&f1), "round trip of [%s]", in);
	cr_expect_null(b.display);
	addr_clear(&b);
	buf_clear(&f1);
	buf_clear(&f2);
	buf_clear(&why);
}

static size_t cases_idx[sizeof cases / sizeof cases[0]];

ParameterizedTestParameters(addr, table)
{
	return index_params(cases_idx, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(size_t *ip, addr, table)
{
	const struct pcase *c = &cases[*ip];
	struct addr_list l;
	struct buf why = BUF_INIT, got = BUF_INIT;
	size_t len = c->len ? c->len : strlen(c->in);
	size_t from = 0;
	bool ok;

	addr_list_init(&l);
	switch (c->mode) {
	case LIST:
		/* something already in the list: failure must leave it as it
		 * was, success must append after it */
		cr_assert(addr_parse_list("keep@x", 6, &l, &why));
		from = 1;
		ok = addr_parse_list(c->in, len, &l, &why);
		break;
	case ARG:
		ok = addr_parse_arg(c->in, &l, &why);
		break;
	default: {
		struct addr a;
		ok = addr_parse_canonical(c->in, &a, &why);
		if (ok) {
			l.v = calloc(1, sizeof *l.v);
			l.v[0] = a;
			l.n = l.cap = 1;
		} else {
			cr_expect_null(a.local);
			cr_expect_null(a.domain);
		}
		break;
	}
	}
	if (c->n < 0) {
		cr_assert(!ok, "accepted [%s]", c->in);
		cr_expect(why.len > 0 && strchr(buf_cstr(&why), '\n') == NULL,
		    "no one-line reason for [%s]", c->in);
		cr_expect(strstr(buf_cstr(&why), c->expect) != NULL,
		    "reason for [%s] is [%s], expected [%s]", c->in,
		    buf_cstr(&why), c->expect);
		cr_expect_eq(l.n, from, "list changed on failure");
		if (from)
			cr_expect_str_eq(l.v[0].local, "keep");
	} else {
		cr_assert(ok, "rejected [%s]: %s", c->in, buf_cstr(&why));
		cr_expect_eq(l.n - from, (size_t)c->n, "[%s]: %zu addresses",
		    c->in, l.n - from);
		render(&l, from, &got);
		cr_expect_str_eq(buf_cstr(&got), c->expect, "[%s]", c->in);
		for (size_t i = from; i < l.n; i++) {
			cr_expect_leq(l.v[i].start, l.v[i].end);
			cr_expect_leq(l.v[i].end, len);
			check_round_trip(&l.v[i], c->in);
		}
	}
	addr_list_clear(&l);
	buf_clear(&why);
	buf_clear(&got);
}

/* ---- offsets ---- */

struct ocase {
	enum mode mode;
	const char *in;
	size_t idx;
	size_t start, end;
	bool angle;
};

static struct ocase ocases[] = {
	{ LIST, "a@x", 0, 0, 3, false },
	{ LIST, "John <a@x>", 0, 6, 9, true },
	{ LIST, "  a@x (c), Bob < b@y >", 0, 2, 5, false },
	{ LIST, "  a@x (c), Bob < b@y >", 1, 17, 20, true },
	{ LIST, "<@r:a@x>", 0, 1, 7, true },
	{ LIST, "a . b @ x", 0, 0, 9, false },
	{ LIST, "g: a@x;", 0, 3, 6, false },
	{ LIST, "a@[1.2.3.4] (c)", 0, 0, 11, false },
	{ LIST, "\"a b\"@x", 0, 0, 7, false },
	{ LIST, "x,\r\n root", 1, 5, 9, false },
	{ ARG, "<>", 0, 1, 1, true },
	{ ARG, "", 0, 0, 0, false },
	{ ARG, "Name <a@x>", 0, 6, 9, true },
	{ CANON, "<a@x>", 0, 1, 4, true },
	{ CANON, "a@x", 0, 0, 3, false },
};

static size_t ocases_idx[sizeof ocases / sizeof ocases[0]];

ParameterizedTestParameters(addr, offsets)
{
	return index_params(ocases_idx, sizeof ocases / sizeof ocases[0]);
}

ParameterizedTest(size_t *ip, addr, offsets)
{
	const struct ocase *c = &ocases[*ip];
	struct addr_list l;
	struct buf why = BUF_INIT;
	struct addr a;
	const struct addr *p;

	addr_list_init(&l);
	if (c->mode == CANON) {
		cr_assert(addr_parse_canonical(c->in, &a, &why), "%s", buf_cstr(&why));
		p = &a;
	} else {
		bool ok = c->mode == LIST ?
		    addr_parse_list(c->in, strlen(c->in), &l, &why) :
		    addr_parse_arg(c->in, &l, &why);
		cr_assert(ok, "[%s]: %s", c->in, buf_cstr(&why));
		cr_assert_gt(l.n, c->idx);
		p = &l.v[c->idx];
	}
	cr_expect_eq(p->start, c->start, "[%s] start %zu", c->in, p->start);
	cr_expect_eq(p->end, c->end, "[%s] end %zu", c->in, p->end);
	cr_expect_eq(p->angle, c->angle, "[%s] angle", c->in);
	if (c->mode == CANON)
		addr_clear(&a);
	addr_list_clear(&l);
	buf_clear(&why);
}

/* ---- addr_valid_domain ---- */

struct dcase {
	const char *domain;
	bool valid;
};

static struct dcase dcases[] = {
	{ "example.org", true },
	{ "x", true },
	{ "Example.ORG", true },
	{ "a-b.c-d", true },
	{ "1.2.3.4", true },
	{ "xn--bcher-kva.example", true },
	{ "b\xc3\xbc" "cher.example", true },
	{ "[192.0.2.1]", true },
	{ "[IPv6:2001:db8::1]", true },
	{ "[ipv6:::1]", true },
	{ D255, true },
	{ A63 ".x", true },
	{ "", false },
	{ ".", false },
	{ "x.", false },
	{ ".x", false },
	{ "x..y", false },
	{ "-x", false },
	{ "x-", false },
	{ "x_y", false },
	{ "x y", false },
	{ "x\ty", false },
	{ "x\x01y", false },
	{ "x@y", false },
	{ D256, false },
	{ A64 ".x", false },
	{ "b\xc3" "cher", false },
	{ "\xed\xa0\x80", false },
	{ "\xc2\x85", false },
	{ "[192.0.2.1", false },
	{ "192.0.2.1]", false },
	{ "[]", false },
	{ "[", false },
	{ "[300.0.0.1]", false },
	{ "[2001:db8::1]", false },
	{ "[IPv6:]", false },
	{ "[IPv6:1.2.3.4]", false },
	{ "[ 192.0.2.1]", false },
	{ "[x]", false },
};

static size_t dcases_idx[sizeof dcases / sizeof dcases[0]];

ParameterizedTestParameters(addr, valid_domain)
{
	return index_params(dcases_idx, sizeof dcases / sizeof dcases[0]);
}

ParameterizedTest(size_t *ip, addr, valid_domain)
{
	const struct dcase *c = &dcases[*ip];
	cr_expect_eq(addr_valid_domain(c->domain), c->valid, "[%s]", c->domain);
}

Test(addr, valid_domain_null)
{
	cr_expect(!addr_valid_domain(NULL));
}

/* ---- addr_is_utf8 ---- */

Test(addr, is_utf8)
{
	static const struct {
		const char *in;
		bool utf8;
	} t[] = {
		{ "a@x", false },
		{ "root", false },
		{ "<>", false },
		{ "\"a b\"@x", false },
		{ "j\xc3\xb6@x", true },
		{ "j@\xc3\xa4.x", true },
		{ "\"j\xc3\xb6 x\"@x", true },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct addr a;
		struct buf why = BUF_INIT;
		cr_assert(addr_parse_canonical(t[i].in, &a, &why), "%s", t[i].in);
		cr_expect_eq(addr_is_utf8(&a), t[i].utf8, "[%s]", t[i].in);
		addr_clear(&a);
		buf_clear(&why);
	}
	/* the display name is header business, not SMTPUTF8's */
	struct addr_list l;
	addr_list_init(&l);
	cr_assert(addr_parse_list("J\xc3\xb6 <j@x>", 9, &l, NULL));
	cr_expect(!addr_is_utf8(&l.v[0]));
	addr_list_clear(&l);
}

/* ---- limits that need built inputs ---- */

Test(addr, list_limit)
{
	struct buf in = BUF_INIT, why = BUF_INIT;
	struct addr_list l;

	addr_list_init(&l);
	for (int i = 0; i < ADDR_MAX_LIST; i++)
		buf_printf(&in, "%su%d@x", i ? ", " : "", i);
	cr_assert(addr_parse_list(in.data, in.len, &l, &why), "%s", buf_cstr(&why));
	cr_expect_eq(l.n, (size_t)ADDR_MAX_LIST);
	cr_expect_str_eq(l.v[999].local, "u999");
	/* the limit is per list: a second list may be appended */
	cr_assert(addr_parse_list("v@x", 3, &l, &why));
	cr_expect_eq(l.n, (size_t)ADDR_MAX_LIST + 1);
	addr_list_clear(&l);

	buf_puts(&in, ", one@toomany");
	cr_assert(!addr_parse_list(in.data, in.len, &l, &why));
	cr_expect(strstr(buf_cstr(&why), "more than 1000 addresses") != NULL,
	    "%s", buf_cstr(&why));
	cr_expect_eq(l.n, 0);
	cr_expect(!addr_parse_arg(in.data, &l, &why));
	cr_expect_eq(l.n, 0);
	addr_list_clear(&l);
	buf_clear(&in);
	buf_clear(&why);
}

static bool
parse_nested(int depth, struct buf *why)
{
	struct buf in = BUF_INIT;
	struct addr_list l;
	bool ok;

	addr_list_init(&l);
	buf_puts(&in, "a@x ");
	for (int i = 0; i < depth; i++)
		buf_putc(&in, '(');
	for (int i = 0; i < depth; i++)
		buf_putc(&in, ')');
	ok = addr_parse_list(in.data, in.len, &l, why);
	addr_list_clear(&l);
	buf_clear(&in);
	return ok;
}

Test(addr, comment_depth)
{
	struct buf why = BUF_INIT;

	cr_expect(parse_nested(1, &why));
	cr_expect(parse_nested(100, &why), "%s", buf_cstr(&why));
	cr_expect(!parse_nested(101, &why));
	cr_expect(strstr(buf_cstr(&why), "nested deeper than 100 at offset 104") != NULL,
	    "%s", buf_cstr(&why));
	cr_expect(!parse_nested(100000, &why));
	buf_clear(&why);
}

/* A long input must be handled in bounded stack: nothing recurses. */
Test(addr, long_inputs)
{
	struct buf in = BUF_INIT, why = BUF_INIT;
	struct addr_list l;

	addr_list_init(&l);
	for (int i = 0; i < 200000; i++)
		buf_puts(&in, ", ");
	cr_expect(addr_parse_list(in.data, in.len, &l, &why));
	cr_expect_eq(l.n, 0);
	buf_reset(&in);
	buf_puts(&in, "Name");
	for (int i = 0; i < 100000; i++)
		buf_puts(&in, " (c) x.");
	buf_puts(&in, " <a@x>");
	cr_expect(addr_parse_list(in.data, in.len, &l, &why), "%s", buf_cstr(&why));
	cr_expect_eq(l.n, 1);
	addr_list_clear(&l);
	buf_clear(&in);
	buf_clear(&why);
}

/* ---- API details ---- */

Test(addr, why_is_replaced_and_optional)
{
	struct buf why = BUF_INIT;
	struct addr_list l;
	struct addr a;

	addr_list_init(&l);
	buf_puts(&why, "old text");
	cr_expect(!addr_parse_list("<", 1, &l, &why));
	cr_expect_str_eq(buf_cstr(&why), "unbalanced '<' at offset 0");
	cr_expect(!addr_parse_list("<", 1, &l, NULL));
	cr_expect(!addr_parse_arg("a b", &l, NULL));
	cr_expect(!addr_parse_canonical("a b", &a, NULL));
	cr_expect(addr_parse_list(NULL, 0, &l, NULL));
	cr_expect_eq(l.n, 0);
	addr_list_clear(&l);
	buf_clear(&why);
}

Test(addr, null_address)
{
	struct buf f = BUF_INIT, why = BUF_INIT;
	struct addr a;
	struct addr_list l;

	cr_assert(addr_parse_canonical("<>", &a, &why));
	cr_expect_str_eq(a.local, "");
	cr_expect_null(a.domain);
	cr_expect(a.angle);
	addr_format(&a, &f);
	cr_expect_str_eq(buf_cstr(&f), "");
	addr_clear(&a);
	cr_expect_null(a.local);

	addr_list_init(&l);
	cr_assert(addr_parse_arg("", &l, &why));
	cr_assert_eq(l.n, 1);
	cr_expect_str_eq(l.v[0].local, "");
	cr_expect_null(l.v[0].domain);
	cr_expect_null(l.v[0].display);
	addr_list_clear(&l);
	buf_clear(&f);
	buf_clear(&why);
}

/* Non-canonical but valid inputs all come out in one canonical form,
 * and that form parses strictly back to itself. */
Test(addr, canonical_forms)
{
	static const struct {
		const char *in, *canon;
	} t[] = {
		{ "\"a\"@x", "a@x" },
		{ "\"a\".\"b\"@x", "a.b@x" },
		{ "(c) \"a\" . b (c) @ (c) x . y", "a.b@x.y" },
		{ "\"a\\ b\"@x", "\"a b\"@x" },
		{ "\"\\\"\"@x", "\"\\\"\"@x" },
		{ "Name <@r:\"x y\"@[IPv6:::1]>", "\"x y\"@[IPv6:::1]" },
		{ "\"a\r\n b\"@x", "\"a b\"@x" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct addr_list l;
		struct buf f = BUF_INIT, why = BUF_INIT;
		addr_list_init(&l);
		cr_assert(addr_parse_list(t[i].in, strlen(t[i].in), &l, &why),
		    "[%s]: %s", t[i].in, buf_cstr(&why));
		cr_assert_eq(l.n, 1);
		addr_format(&l.v[0], &f);
		cr_expect_str_eq(buf_cstr(&f), t[i].canon);
		check_round_trip(&l.v[0], t[i].in);
		addr_list_clear(&l);
		buf_clear(&f);
		buf_clear(&why);
	}
}
