/* Unit tests for lib/deliver.c: the retry schedule (deliver_next_retry,
 * Postfix's backoff rule, POSTFIX-NOTES.md 8.4) and the delay numbers of
 * the log lines (deliver_format_delay).  Both are pure functions, so the
 * tests are tables: an age and the wait it must give, a number of seconds
 * and the text it must print. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "deliver.h"

#define ARRIVAL	((time_t)1700000000)

static struct conf
backoff_conf(unsigned minimal, unsigned maximal)
{
	struct conf c;
	memset(&c, 0, sizeof c);
	c.minimal_backoff_time = minimal;
	c.maximal_backoff_time = maximal;
	return c;
}

/* The wait after an attempt made when the message was `age` seconds old,
 * with the defaults (300 s, 4000 s). */
static const struct {
	long age, wait;
} waits[] = {
	{ -50, 300 },		/* clock set back: the minimum */
	{ 0, 300 },		/* first attempt at arrival */
	{ 1, 300 },
	{ 299, 300 },
	{ 300, 300 },		/* at the minimum */
	{ 301, 301 },
	{ 600, 600 },		/* 10 min */
	{ 1200, 1200 },		/* 20 min */
	{ 2400, 2400 },		/* 40 min */
	{ 3999, 3999 },
	{ 4000, 4000 },		/* 66.7 min, at the maximum */
	{ 4001, 4000 },
	{ 86400, 4000 },
	{ 5L * 86400, 4000 },
};

Test(deliver_next_retry, table)
{
	struct conf c = backoff_conf(300, 4000);
	for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
		time_t now = ARRIVAL + waits[i].age;
		time_t next = deliver_next_retry(&c, ARRIVAL, now);
		cr_expect_eq((long)(next - now), waits[i].wait, "age %ld: wait %ld, want %ld",
		    waits[i].age, (long)(next - now), waits[i].wait);
	}
}

/* Retrying whenever the next-retry time comes, from the first retry on:
 * the waits roughly double, 5, 10, 20, 40, 66.7 min, then stay at 4000 s. */
Test(deliver_next_retry, schedule)
{
	static const long want[] = { 300, 600, 1200, 2400, 4000, 4000, 4000 };
	struct conf c = backoff_conf(300, 4000);
	time_t now = ARRIVAL + 300;	/* the first retry, 5 min after arrival */
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		time_t next = deliver_next_retry(&c, ARRIVAL, now);
		cr_expect_eq((long)(next - now), want[i], "retry %zu at age %ld: wait %ld, want %ld",
		    i + 1, (long)(now - ARRIVAL), (long)(next - now), want[i]);
		now = next;
	}
}

/* Over many ages and several configurations: never sooner than minimal,
 * never later than maximal (when maximal >= minimal), and exactly the age
 * in between; with maximal < minimal the minimum wins. */
Test(deliver_next_retry, bounds)
{
	static const unsigned cfg[][2] = {
		{ 300, 4000 }, { 1, 1 }, { 60, 60 }, { 10, 100000 }, { 0, 0 }, { 0, 50 },
		{ 600, 300 },	/* maximal < minimal */
	};
	for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
		struct conf c = backoff_conf(cfg[k][0], cfg[k][1]);
		long lo = cfg[k][0], hi = cfg[k][1];
		for (long age = -1000; age <= 200000; age += 37) {
			time_t now = ARRIVAL + age;
			long wait = (long)(deliver_next_retry(&c, ARRIVAL, now) - now);
			cr_expect_geq(wait, lo, "min %ld max %ld age %ld: wait %ld", lo, hi, age, wait);
			if (hi >= lo) {
				cr_expect_leq(wait, hi, "min %ld max %ld age %ld: wait %ld", lo, hi,
				    age, wait);
				long want = age < lo ? lo : age > hi ? hi : age;
				cr_expect_eq(wait, want, "min %ld max %ld age %ld", lo, hi, age);
			} else {
				cr_expect_eq(wait, lo, "min %ld > max %ld age %ld", lo, hi, age);
			}
		}
	}
}

/* The defaults that conf.c parses are Postfix's. */
Test(deliver_next_retry, defaults)
{
	char path[] = "/tmp/satmail-test-deliver-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	struct buf why = BUF_INIT;
	struct conf *c = conf_load(path, true, &why);
	unlink(path);
	cr_assert_not_null(c, "conf_load: %s", buf_cstr(&why));
	cr_expect_eq(c->minimal_backoff_time, 300u);
	cr_expect_eq(c->maximal_backoff_time, 4000u);
	cr_expect_eq(c->maximal_queue_lifetime, 5u * 86400);
	cr_expect_eq(c->bounce_queue_lifetime, 5u * 86400);
	cr_expect_eq(c->delay_warning_time, 0u);
	time_t next = deliver_next_retry(c, ARRIVAL, ARRIVAL);
	cr_expect_eq((long)(next - ARRIVAL), 300L);
	conf_free(c);
	buf_clear(&why);
}

/* Postfix's delay numbers: at most two significant digits after the
 * point below 10 s, whole seconds from 10 s, trailing zeros dropped. */
static const struct {
	double seconds;
	const char *want;
} delays[] = {
	{ 0, "0" },
	{ 0.001, "0" },
	{ 0.004, "0" },
	{ 0.01, "0.01" },
	{ 0.014, "0.01" },
	{ 0.06, "0.06" },
	{ 0.123, "0.12" },
	{ 0.5, "0.5" },
	{ 1.0, "1" },
	{ 1.4, "1.4" },
	{ 9.4, "9.4" },
	{ 10.4, "10" },
	{ 32, "32" },
	{ 32.4, "32" },
	{ 3600, "3600" },
};

Test(deliver_format_delay, table)
{
	for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
		struct buf out = BUF_INIT;
		deliver_format_delay(delays[i].seconds, &out);
		cr_expect_str_eq(buf_cstr(&out), delays[i].want, "%g s: \"%s\", want \"%s\"",
		    delays[i].seconds, buf_cstr(&out), delays[i].want);
		buf_clear(&out);
	}
}

/* It appends: what is in the buffer stays. */
Test(deliver_format_delay, appends)
{
	struct buf out = BUF_INIT;
	buf_puts(&out, "delay=");
	deliver_format_delay(1.4, &out);
	cr_expect_str_eq(buf_cstr(&out), "delay=1.4");
	buf_clear(&out);
}
