/* Unit tests: address prefixes, and the Basic Authorization header. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "lib.h"

/* A peer address from text, as accept(2) would give it. */
static const struct sockaddr *
peer(const char *text)
{
	static struct sockaddr_storage	ss;
	struct sockaddr_in		*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6		*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else {
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return (const struct sockaddr *)&ss;
}

static int
inside(const char *prefix, const char *addr)
{
	struct prefix	p;

	assert_int_equal(prefix_parse(prefix, &p), 0);
	return prefix_match(&p, peer(addr));
}

static void
test_prefix_parse(void **state)
{
	struct prefix	p;

	(void)state;
	assert_int_equal(prefix_parse("192.168.1.0/24", &p), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.bits, 24);
	assert_int_equal(prefix_parse("10.1.2.3", &p), 0);
	assert_int_equal(p.bits, 32);
	assert_int_equal(prefix_parse("0.0.0.0/0", &p), 0);
	assert_int_equal(prefix_parse("fd00::/8", &p), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.bits, 8);
	assert_int_equal(prefix_parse("::1", &p), 0);
	assert_int_equal(p.bits, 128);
	assert_int_equal(prefix_parse("::/0", &p), 0);
	/* Bits past the length: a typo, refused. */
	assert_int_equal(prefix_parse("192.168.1.5/24", &p), -1);
	assert_int_equal(prefix_parse("fd00::1/64", &p), -1);
	assert_int_equal(prefix_parse("10.0.0.0/33", &p), -1);
	assert_int_equal(prefix_parse("::/129", &p), -1);
	assert_int_equal(prefix_parse("10.0.0.0/", &p), -1);
	assert_int_equal(prefix_parse("10.0.0.0/-1", &p), -1);
	assert_int_equal(prefix_parse("10.0.0.0/8x", &p), -1);
	assert_int_equal(prefix_parse("/8", &p), -1);
	assert_int_equal(prefix_parse("", &p), -1);
	assert_int_equal(prefix_parse("localhost", &p), -1);
	assert_int_equal(prefix_parse("10.0.0", &p), -1);
	assert_int_equal(prefix_parse("1.2.3.4.5", &p), -1);
	assert_int_equal(prefix_parse("10.0.0.0/8/8", &p), -1);
	assert_int_equal(prefix_parse(
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", &p), -1);
}

static void
test_prefix_match(void **state)
{
	struct prefix	list[2];

	(void)state;
	assert_true(inside("192.168.1.0/24", "192.168.1.77"));
	assert_false(inside("192.168.1.0/24", "192.168.2.1"));
	assert_true(inside("10.0.0.0/9", "10.127.255.255"));
	assert_false(inside("10.0.0.0/9", "10.128.0.0"));
	assert_true(inside("127.0.0.2", "127.0.0.2"));
	assert_false(inside("127.0.0.2", "127.0.0.3"));
	assert_true(inside("0.0.0.0/0", "8.8.8.8"));
	assert_true(inside("fd00::/8", "fd12::5"));
	assert_false(inside("fd00::/8", "fe80::1"));
	assert_true(inside("::1", "::1"));
	/* Families never mix, except an IPv4 client of a dual-stack socket. */
	assert_false(inside("::/0", "10.0.0.1"));
	assert_false(inside("0.0.0.0/0", "fd00::1"));
	assert_true(inside("192.168.1.0/24", "::ffff:192.168.1.9"));
	assert_false(inside("192.168.1.0/24", "::ffff:192.168.2.9"));
	assert_false(inside("::ffff:0:0/96", "::ffff:192.168.1.9"));

	assert_int_equal(prefix_parse("10.0.0.0/8", &list[0]), 0);
	assert_int_equal(prefix_parse("fd00::/8", &list[1]), 0);
	assert_true(prefix_match_list(list, 2, peer("10.9.9.9")));
	assert_true(prefix_match_list(list, 2, peer("fd00::9")));
	assert_false(prefix_match_list(list, 2, peer("11.0.0.1")));
	assert_false(prefix_match_list(list, 0, peer("10.9.9.9")));
	assert_false(prefix_match(&list[0], NULL));
}

static void
test_prefix_loopback(void **state)
{
	(void)state;
	assert_true(prefix_loopback(peer("127.0.0.1")));
	assert_true(prefix_loopback(peer("127.255.0.3")));
	assert_true(prefix_loopback(peer("::1")));
	assert_true(prefix_loopback(peer("::ffff:127.0.0.1")));
	assert_false(prefix_loopback(peer("0.0.0.0")));
	assert_false(prefix_loopback(peer("::")));
	assert_false(prefix_loopback(peer("192.168.1.1")));
	assert_false(prefix_loopback(peer("128.0.0.1")));
	assert_false(prefix_loopback(peer("::2")));
	assert_false(prefix_loopback(NULL));
}

static void
test_prefix_client_group(void **state)
{
	char	g[PREFIX_GROUP_MAX];

	(void)state;
	prefix_client_group("192.0.2.7", g, sizeof g);
	assert_string_equal(g, "192.0.2.7");
	prefix_client_group("2001:db8:1:2:aaaa:bbbb:cccc:dddd", g, sizeof g);
	assert_string_equal(g, "2001:db8:1:2::/64");
	prefix_client_group("2001:db8:1:2::1", g, sizeof g);
	assert_string_equal(g, "2001:db8:1:2::/64");
	prefix_client_group("2001:db8:1:3::1", g, sizeof g);
	assert_string_equal(g, "2001:db8:1:3::/64");
	prefix_client_group("::ffff:192.0.2.7", g, sizeof g);
	assert_string_equal(g, "192.0.2.7");
	prefix_client_group("::1", g, sizeof g);
	assert_string_equal(g, "::/64");
	prefix_client_group("?", g, sizeof g);
	assert_string_equal(g, "?");
	prefix_client_group("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", g,
	    sizeof g);
	assert_string_equal(g, "ffff:ffff:ffff:ffff::/64");
}

static void
test_basicauth(void **state)
{
	char	user[BASICAUTH_MAX], pw[BASICAUTH_MAX], big[1200], b64[1700];
	size_t	i;

	(void)state;
	/* "alice:s3cret" */
	assert_int_equal(basicauth_parse("Basic YWxpY2U6czNjcmV0", user, pw), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(pw, "s3cret");
	assert_int_equal(basicauth_parse("basic  YWxpY2U6czNjcmV0 ", user, pw), 0);
	/* "a:b:c": the password keeps its colons; "a:" an empty password. */
	assert_int_equal(basicauth_parse("Basic YTpiOmM=", user, pw), 0);
	assert_string_equal(user, "a");
	assert_string_equal(pw, "b:c");
	assert_int_equal(basicauth_parse("Basic YTo=", user, pw), 0);
	assert_string_equal(pw, "");
	/* Not credentials. */
	assert_int_equal(basicauth_parse(NULL, user, pw), -1);
	assert_int_equal(basicauth_parse("Bearer YWxpY2U6czNjcmV0", user, pw), -1);
	assert_int_equal(basicauth_parse("Basic", user, pw), -1);
	assert_int_equal(basicauth_parse("Basic ", user, pw), -1);
	assert_int_equal(basicauth_parse("Basic YWxpY2U", user, pw), -1);
	assert_int_equal(basicauth_parse("Basic YWxp!2U6czNjcmV0", user, pw), -1);
	assert_int_equal(basicauth_parse("Basic YWxp=2U6czNjcmV0", user, pw), -1);
	assert_int_equal(basicauth_parse("Basic YTo==", user, pw), -1);
	assert_int_equal(basicauth_parse("Basic YTp=", user, pw), -1);	/* not canonical */
	assert_int_equal(basicauth_parse("Basic YWxpY2U=", user, pw), -1); /* no ':' */
	assert_int_equal(basicauth_parse("Basic OnB3", user, pw), -1);	/* ":pw" */
	assert_int_equal(basicauth_parse("Basic YQBiOmM=", user, pw), -1); /* a NUL */
	assert_int_equal(basicauth_parse("Basic YQpiOmM=", user, pw), -1); /* "a\nb:c" */
	assert_int_equal(basicauth_parse("Basic YTpiCmM=", user, pw), -1); /* "a:b\nc" */
	/* Longer than the buffers: refused, never cut. */
	memset(big, 'x', sizeof big);
	big[0] = 'u';
	big[1] = ':';
	for (i = 0; i < sizeof big; i += 3) {
		static const char	a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
		    "klmnopqrstuvwxyz0123456789+/";
		unsigned		v = (unsigned)(unsigned char)big[i] << 16 |
		    (unsigned)(unsigned char)big[i + 1] << 8 |
		    (unsigned char)big[i + 2];

		b64[i / 3 * 4] = a[v >> 18 & 63];
		b64[i / 3 * 4 + 1] = a[v >> 12 & 63];
		b64[i / 3 * 4 + 2] = a[v >> 6 & 63];
		b64[i / 3 * 4 + 3] = a[v & 63];
	}
	b64[sizeof big / 3 * 4] = '\0';
	memmove(b64 + 6, b64, strlen(b64) + 1);
	memcpy(b64, "Basic ", 6);
	assert_int_equal(basicauth_parse(b64, user, pw), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_prefix_match),
		cmocka_unit_test(test_prefix_loopback),
		cmocka_unit_test(test_prefix_client_group),
		cmocka_unit_test(test_basicauth),
	};

	return cmocka_run_group_tests_name("prefix", tests, NULL, NULL);
}
