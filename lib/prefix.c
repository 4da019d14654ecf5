/*
 * Address prefixes: "192.168.1.0/24", "10.1.2.3" (a /32), "fd00::/8",
 * "::1" (a /128), and whether a peer's socket address is inside one.
 * An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d and
 * is matched as the IPv4 address it is.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "lib.h"

/*
 * Parses s into p. A prefix whose address has bits set past its length
 * ("192.168.1.5/24") is refused: it is most likely a typo for a host or
 * for another network, and an allow-list must say what it means.
 */
int
prefix_parse(const char *s, struct prefix *p)
{
	char		 addr[INET6_ADDRSTRLEN];
	const char	*slash;
	size_t		 len, i;
	long		 bits;
	unsigned	 max;

	memset(p, 0, sizeof *p);
	slash = strchr(s, '/');
	len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof addr)
		return -1;
	memcpy(addr, s, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET, addr, p->addr) == 1) {
		p->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, p->addr) == 1) {
		p->family = AF_INET6;
		max = 128;
	} else
		return -1;
	p->bits = max;
	if (slash != NULL) {
		if (util_parse_long(slash + 1, 0, max, &bits) != 0)
			return -1;
		p->bits = (unsigned)bits;
	}
	for (i = 0; i < max / 8; i++) {
		unsigned	keep = p->bits >= (i + 1) * 8 ? 8 :
			    p->bits > i * 8 ? p->bits - (unsigned)i * 8 : 0;
		unsigned char	mask = (unsigned char)(0xff00 >> keep);

		if (p->addr[i] & ~mask)
			return -1;
	}
	return 0;
}

/*
 * The peer's address as a family and 4 or 16 bytes; an IPv4-mapped IPv6
 * address as IPv4. -1 for any other family.
 */
static int
prefix_address(const struct sockaddr *sa, unsigned char *out)
{
	static const unsigned char	 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0xff, 0xff };
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		memcpy(out, &sin->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (memcmp(sin6->sin6_addr.s6_addr, mapped, sizeof mapped) == 0) {
			memcpy(out, sin6->sin6_addr.s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(out, sin6->sin6_addr.s6_addr, 16);
		return AF_INET6;
	}
	return -1;
}

/* Whether the first bits of a and b are equal. */
static int
prefix_bits_equal(const unsigned char *a, const unsigned char *b,
    unsigned bits)
{
	unsigned char	mask;

	if (memcmp(a, b, bits / 8) != 0)
		return 0;
	if (bits % 8 == 0)
		return 1;
	mask = (unsigned char)(0xff00 >> (bits % 8));
	return (a[bits / 8] & mask) == (b[bits / 8] & mask);
}

/* Whether the peer address sa is inside p. */
int
prefix_match(const struct prefix *p, const struct sockaddr *sa)
{
	unsigned char	addr[16];

	if (prefix_address(sa, addr) != p->family)
		return 0;
	return prefix_bits_equal(p->addr, addr, p->bits);
}

/* Whether sa is inside any of the n prefixes. */
int
prefix_match_list(const struct prefix *list, size_t n,
    const struct sockaddr *sa)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (prefix_match(&list[i], sa))
			return 1;
	return 0;
}

/* Whether sa is a loopback address: 127.0.0.0/8 or ::1. */
int
prefix_loopback(const struct sockaddr *sa)
{
	static const unsigned char	v6[16] = { [15] = 1 };
	unsigned char			addr[16];

	switch (prefix_address(sa, addr)) {
	case AF_INET:
		return addr[0] == 127;
	case AF_INET6:
		return memcmp(addr, v6, sizeof v6) == 0;
	}
	return 0;
}

/*
 * The group a client address counts in for per-address limits, written
 * to buf: an IPv4 address is its own group; an IPv6 address counts as
 * its /64 ("2001:db8:1:2::/64"), since one host is usually handed a whole
 * /64 and could otherwise take every slot with addresses of its own; an
 * IPv4-mapped address is the IPv4 address. Anything else is kept as is.
 */
void
prefix_client_group(const char *host, char *buf, size_t len)
{
	unsigned char	a[16];
	char		s[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET6, host, a) != 1) {
		snprintf(buf, len, "%s", host);
		return;
	}
	if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a)) {
		inet_ntop(AF_INET, a + 12, s, sizeof s);
		snprintf(buf, len, "%s", s);
		return;
	}
	memset(a + 8, 0, 8);
	inet_ntop(AF_INET6, a, s, sizeof s);
	snprintf(buf, len, "%s/64", s);
}
