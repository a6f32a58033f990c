/* xalloc - allocation wrappers that abort on exhaustion. */
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
xalloc_fail(size_t n)
{
	char msg[96];
	int len = snprintf(msg, sizeof msg, "fatal: out of memory (%zu bytes)\n", n);
	if (len > 0)
		(void)!write(2, msg, (size_t)len);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		xalloc_fail(n);
	return p;
}

void *
xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (p == NULL)
		xalloc_fail(count * size);
	return p;
}

void *
xreallocarray(void *p, size_t count, size_t size)
{
	if (size != 0 && count > SIZE_MAX / size)
		xalloc_fail(SIZE_MAX);
	size_t n = count * size;
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		xalloc_fail(n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xmemdup0(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	return xmemdup0(s, strnlen(s, n));
}

char *
xmemdup0(const void *p, size_t n)
{
	if (n == SIZE_MAX)
		xalloc_fail(n);
	char *q = xmalloc(n + 1);
	if (n)
		memcpy(q, p, n);
	q[n] = '\0';
	return q;
}
