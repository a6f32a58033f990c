/* Unit tests for lib/dns.c against a real dnsmasq on loopback.
 *
 * Each test of the "dns" suite starts its own dnsmasq (so parallel jobs
 * never share one) on 127.0.0.1 and ::1 at a free high port, with the
 * zone "test" local (unknown names are NXDOMAIN) and the records the
 * tables below expect.  Beside it run two sockets of the test's own: a
 * silent one that never answers (timeouts) and a scripted responder
 * (SERVFAIL, a spoofed id, an answer with the AD bit).  dnsmasq dies
 * with the test process (PR_SET_PDEATHSIG), and a later run kills any
 * left behind by a killed runner through its pid file.
 *
 * The "dns_answer" suite feeds hand-built packets to the pure answer
 * classification (dns_test_mx_answer/dns_test_addr_answer) for what no
 * real server is willing to send. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ldns/ldns.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "dns.h"

/* The test hooks of lib/dns.c (declared there). */

#define DNSMASQ	"/usr/sbin/dnsmasq"
#define BIG_MX	100

static int dns_port, silent_port, resp_port;
static int silent_fd = -1, resp_fd = -1;
static pid_t dnsmasq_pid = -1;
static char run_dir[256], pid_file[300], log_file[300];
static pthread_t resp_thread;
static volatile int resp_stop;

/* ---- helpers ---- */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
udp_socket(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A port free for UDP and TCP on both loopbacks right now. */
static int
free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		int port, fd = udp_socket(&port);
		bool ok = port > 1024;
		int fds[3] = { -1, -1, -1 };
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin6.sin6_addr = in6addr_loopback;
		fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		fds[1] = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		fds[2] = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		ok = ok && bind(fds[0], (struct sockaddr *)&sin, sizeof sin) == 0 &&
		    bind(fds[1], (struct sockaddr *)&sin6, sizeof sin6) == 0 &&
		    bind(fds[2], (struct sockaddr *)&sin6, sizeof sin6) == 0;
		for (int i = 0; i < 3; i++)
			close(fds[i]);
		close(fd);
		if (ok)
			return port;
	}
	cr_assert_fail("no free port");
	return 0;
}

/* Encodes a query for name/type; returns its length. */
static size_t
raw_query(unsigned char *q, const char *name, int type, uint16_t id)
{
	size_t o = 12;

	memset(q, 0, 12);
	q[0] = (unsigned char)(id >> 8);
	q[1] = (unsigned char)id;
	q[2] = 0x01;
	q[5] = 1;
	for (const char *l = name; *l;) {
		size_t n = strcspn(l, ".");
		q[o++] = (unsigned char)n;
		memcpy(q + o, l, n);
		o += n;
		l += n + (l[n] == '.');
	}
	q[o++] = 0;
	q[o++] = 0;
	q[o++] = (unsigned char)type;
	q[o++] = 0;
	q[o++] = 1;
	return o;
}

/* True when a server on port answers a query within ms. */
static bool
server_answers(int port, int ms)
{
	unsigned char q[512], a[4096];
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = raw_query(q, "ready.test", 1, 4242);
	bool ok;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = sendto(fd, q, len, 0, (struct sockaddr *)&sin, sizeof sin) == (ssize_t)len &&
	    poll(&pfd, 1, ms) == 1 && recv(fd, a, sizeof a, 0) >= 12;
	close(fd);
	return ok;
}

/* ---- the scripted responder ---- */

/* Answers by the first label of the question: "servfail" SERVFAIL,
 * "spoof" with a wrong id, "secure" an MX with AD set, else REFUSED. */
static void
respond(int fd, const unsigned char *q, size_t len, struct sockaddr *from, socklen_t fromlen)
{
	unsigned char a[600];
	size_t o = 12, first;
	uint16_t flags = 0x8180;

	if (len < 17 || len > 512)
		return;
	while (o < len && q[o] != 0)
		o += (size_t)q[o] + 1;
	if (o + 5 > len)
		return;
	o += 5;
	memcpy(a, q, o);
	a[6] = a[7] = a[8] = a[9] = a[10] = a[11] = 0;
	first = q[12];
	if (first == 8 && memcmp(q + 13, "servfail", 8) == 0) {
		flags |= 2;
	} else if (first == 5 && memcmp(q + 13, "spoof", 5) == 0) {
		a[1] ^= 0x5a;
	} else if (first == 6 && memcmp(q + 13, "secure", 6) == 0) {
		static const unsigned char mx[] = {
			0xc0, 0x0c, 0, 15, 0, 1, 0, 0, 0x0e, 0x10, 0, 7,
			0, 10, 2, 'm', 'x', 0xc0, 0x0c,
		};
		flags |= 0x0020;
		memcpy(a + o, mx, sizeof mx);
		o += sizeof mx;
		a[7] = 1;
	} else {
		flags |= 5;
	}
	a[2] = (unsigned char)(flags >> 8);
	a[3] = (unsigned char)flags;
	(void)sendto(fd, a, o, 0, from, fromlen);
}

static void *
responder(void *arg)
{
	(void)arg;
	while (!resp_stop) {
		struct pollfd pfd = { .fd = resp_fd, .events = POLLIN };
		unsigned char q[1024];
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof from;
		ssize_t n;

		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = recvfrom(resp_fd, q, sizeof q, 0, (struct sockaddr *)&from, &fromlen);
		if (n > 0)
			respond(resp_fd, q, (size_t)n, (struct sockaddr *)&from, fromlen);
	}
	return NULL;
}

/* ---- dnsmasq ---- */

/* Kills dnsmasq instances whose test process is gone (a runner killed
 * before its fini ran); their pid files are named after that process. */
static void
sweep_stale(void)
{
	DIR *d = opendir(run_dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		long owner, pid = 0;
		char path[600], cmd[4096] = "";
		FILE *f;

		if (sscanf(e->d_name, "dnsmasq.%ld.pid", &owner) != 1)
			continue;
		if (kill((pid_t)owner, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof path, "%s/%s", run_dir, e->d_name);
		if ((f = fopen(path, "r"))) {
			if (fscanf(f, "%ld", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (pid > 0) {
			char proc[64];
			snprintf(proc, sizeof proc, "/proc/%ld/cmdline", pid);
			int fd = open(proc, O_RDONLY | O_CLOEXEC);
			ssize_t n = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : -1;
			if (fd >= 0)
				close(fd);
			for (ssize_t i = 0; i < n; i++)
				if (cmd[i] == '\0')
					cmd[i] = ' ';
			if (n > 0 && strstr(cmd, "dnsmasq") && strstr(cmd, path))
				kill((pid_t)pid, SIGKILL);
		}
		unlink(path);
		snprintf(path, sizeof path, "%s/dnsmasq.%ld.log", run_dir, owner);
		unlink(path);
	}
	closedir(d);
}

static char *
fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	cr_assert(vasprintf(&s, f, ap) >= 0);
	va_end(ap);
	return s;
}

static bool
start_dnsmasq(int port)
{
	char *argv[200];
	int argc = 0;
	pid_t parent = getpid();

	argv[argc++] = fmt("%s", DNSMASQ);
	argv[argc++] = fmt("--keep-in-foreground");
	argv[argc++] = fmt("--conf-file=/dev/null");
	argv[argc++] = fmt("--no-resolv");
	argv[argc++] = fmt("--no-hosts");
	argv[argc++] = fmt("--bind-interfaces");
	argv[argc++] = fmt("--listen-address=127.0.0.1,::1");
	argv[argc++] = fmt("--port=%d", port);
	argv[argc++] = fmt("--pid-file=%s", pid_file);
	argv[argc++] = fmt("--log-queries");
	argv[argc++] = fmt("--log-facility=%s", log_file);
	argv[argc++] = fmt("--user=%s", getenv("USER") && getuid() != 0 ? getenv("USER") : "root");
	argv[argc++] = fmt("--local=/test/");
	argv[argc++] = fmt("--mx-host=mx.test,mx1.mx.test,10");
	argv[argc++] = fmt("--mx-host=mx.test,mx2.mx.test,20");
	argv[argc++] = fmt("--mx-host=mx.test,mx3.mx.test,20");
	argv[argc++] = fmt("--mx-host=mx.test,mx4.mx.test,20");
	argv[argc++] = fmt("--mx-host=mx.test,mx5.mx.test,30");
	argv[argc++] = fmt("--host-record=implicit.test,192.0.2.10");
	argv[argc++] = fmt("--dns-rr=null.test,15,000000");
	argv[argc++] = fmt("--cname=alias.test,mx.test");
	argv[argc++] = fmt("--cname=alias-implicit.test,implicit.test");
	argv[argc++] = fmt("--mx-host=cnmx.test,www.cnmx.test,10");
	argv[argc++] = fmt("--cname=www.cnmx.test,real.cnmx.test");
	argv[argc++] = fmt("--host-record=real.cnmx.test,192.0.2.20");
	argv[argc++] = fmt("--host-record=dual.test,192.0.2.5,2001:db8::5");
	argv[argc++] = fmt("--host-record=dual.test,192.0.2.6,2001:db8::6");
	argv[argc++] = fmt("--host-record=v4only.test,192.0.2.7");
	argv[argc++] = fmt("--host-record=v6only.test,2001:db8::7");
	argv[argc++] = fmt("--server=/refused.test/#");
	argv[argc++] = fmt("--server=/servfail.test/127.0.0.1#%d", resp_port);
	/* 100 MX, preferences a permutation of 1, 11, ... 991: more than a
	 * 1232-byte UDP answer holds, so only TCP gives them all */
	for (int i = 0; i < BIG_MX; i++)
		argv[argc++] = fmt("--mx-host=big.test,mx%03d.big.test,%d", i, (i * 37) % BIG_MX * 10 + 1);
	argv[argc] = NULL;

	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execv(DNSMASQ, argv);
		_exit(127);
	}
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	dnsmasq_pid = pid;
	for (int i = 0; i < 100; i++) {
		int ws;
		if (server_answers(port, 50))
			return true;
		if (waitpid(pid, &ws, WNOHANG) == pid) {
			dnsmasq_pid = -1;
			return false;
		}
	}
	return false;
}

static void
stop_dnsmasq(void)
{
	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
		dnsmasq_pid = -1;
	}
	unlink(pid_file);
}

static void
setup(void)
{
	snprintf(run_dir, sizeof run_dir, "/tmp/test_dns-%ld", (long)getuid());
	mkdir(run_dir, 0700);
	sweep_stale();
	snprintf(pid_file, sizeof pid_file, "%s/dnsmasq.%ld.pid", run_dir, (long)getpid());
	snprintf(log_file, sizeof log_file, "%s/dnsmasq.%ld.log", run_dir, (long)getpid());
	silent_fd = udp_socket(&silent_port);
	resp_fd = udp_socket(&resp_port);
	bool up = false;
	for (int tries = 0; tries < 5 && !up; tries++) {
		dns_port = free_port();
		up = start_dnsmasq(dns_port);
		if (!up)
			stop_dnsmasq();
	}
	cr_assert(up, "dnsmasq did not start (see %s)", log_file);
	resp_stop = 0;
	cr_assert(pthread_create(&resp_thread, NULL, responder, NULL) == 0);
}

static void
teardown(void)
{
	stop_dnsmasq();
	unlink(log_file);
	resp_stop = 1;
	pthread_join(resp_thread, NULL);
	close(resp_fd);
	close(silent_fd);
}

TestSuite(dns, .init = setup, .fini = teardown, .timeout = 60);

static struct conf *
load(const char *text)
{
	char path[] = "/tmp/test_dns.XXXXXX";
	int fd = mkstemp(path);
	struct buf why = BUF_INIT;
	struct conf *c;

	cr_assert(fd >= 0);
	cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	c = conf_load(path, true, &why);
	cr_assert_not_null(c, "conf_load: %s", buf_cstr(&why));
	unlink(path);
	buf_clear(&why);
	return c;
}

/* A conf naming servers (NULL: dnsmasq) plus extra lines. */
static struct conf *
conf_for(const char *servers, const char *extra)
{
	char text[1024], local[64];

	if (!servers) {
		snprintf(local, sizeof local, "127.0.0.1:%d", dns_port);
		servers = local;
	}
	snprintf(text, sizeof text, "dns_servers = %s\n%s", servers, extra ? extra : "");
	return load(text);
}

static struct dns_resolver *
resolver_for(const struct conf *c)
{
	struct status st;
	struct dns_resolver *r;

	status_init(&st);
	r = dns_resolver_new(c, &st);
	cr_assert_not_null(r, "dns_resolver_new: %s", buf_cstr(&st.text));
	status_clear(&st);
	return r;
}

/* The MX lookup as one line "10 a, 20 b", or "TEMP 4.4.3 text". */
static void
mx_line(struct dns_resolver *r, const char *domain, struct buf *out, bool *secure)
{
	struct dns_host *h;
	size_t n;
	struct status st;
	bool sec;

	status_init(&st);
	buf_reset(out);
	if (dns_lookup_mx(r, domain, &h, &n, secure ? secure : &sec, &st)) {
		cr_assert(n >= 1 && n <= DNS_MAX_MX);
		for (size_t i = 0; i < n; i++)
			buf_printf(out, "%s%u %s", i ? ", " : "", h[i].pref, h[i].name);
		dns_hosts_free(h, n);
	} else {
		cr_assert(h == NULL && n == 0);
		buf_printf(out, "%s %s %s", st.cls == STATUS_TEMP ? "TEMP" : "PERM", st.dsn,
		    buf_cstr(&st.text));
	}
	status_clear(&st);
}

static void
addr_line(struct dns_resolver *r, const struct conf *c, const char *host, struct buf *out)
{
	struct dns_addr *a;
	size_t n;
	struct status st;

	status_init(&st);
	buf_reset(out);
	if (dns_lookup_addrs(r, c, host, &a, &n, &st)) {
		cr_assert(n >= 1 && n <= DNS_MAX_ADDRS);
		for (size_t i = 0; i < n; i++) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&a[i].sa;
			char text[64];
			const void *raw = sin->sin_family == AF_INET ? (const void *)&sin->sin_addr :
			    (const void *)&((const struct sockaddr_in6 *)&a[i].sa)->sin6_addr;
			/* the sockaddr agrees with the text, port 0 */
			cr_assert(inet_ntop(sin->sin_family, raw, text, sizeof text));
			cr_expect_str_eq(text, a[i].text);
			cr_expect_eq(sin->sin_port, 0);
			cr_expect_eq(a[i].salen, sin->sin_family == AF_INET ?
			    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
			buf_printf(out, "%s%s", i ? " " : "", a[i].text);
		}
		free(a);
	} else {
		cr_assert(a == NULL && n == 0);
		buf_printf(out, "%s %s %s", st.cls == STATUS_TEMP ? "TEMP" : "PERM", st.dsn,
		    buf_cstr(&st.text));
	}
	status_clear(&st);
}

#define NOTFOUND	"Host or domain name not found. Name service error for name="

/* ---- MX ---- */

static const struct {
	const char *domain, *want;
} mx_cases[] = {
	{ "implicit.test", "0 implicit.test" },
	{ "Implicit.TEST.", "0 implicit.test" },
	{ "null.test", "PERM 5.1.10 Domain null.test does not accept mail (nullMX)" },
	{ "nosuch.test", "PERM 5.1.2 " NOTFOUND "nosuch.test type=MX: Host not found" },
	{ "x.refused.test", "TEMP 4.4.3 " NOTFOUND "x.refused.test type=MX: Host not found, try again" },
	{ "x.servfail.test", "TEMP 4.4.3 " NOTFOUND "x.servfail.test type=MX: Host not found, try again" },
	/* an MX naming a CNAME keeps the name; its addresses follow the alias */
	{ "cnmx.test", "10 www.cnmx.test" },
	/* a CNAME on the domain: its target's MX; without MX, the domain itself */
	{ "alias-implicit.test", "0 alias-implicit.test" },
	{ "bad..test", "PERM 5.1.2 bad domain name syntax: \"bad..test\"" },
};

Test(dns, mx_table)
{
	struct conf *c = conf_for(NULL, NULL);
	struct dns_resolver *r = resolver_for(c);
	struct buf got = BUF_INIT;

	for (size_t i = 0; i < sizeof mx_cases / sizeof mx_cases[0]; i++) {
		mx_line(r, mx_cases[i].domain, &got, NULL);
		cr_expect_str_eq(buf_cstr(&got), mx_cases[i].want, "%s: %s", mx_cases[i].domain,
		    buf_cstr(&got));
	}
	buf_clear(&got);
	dns_resolver_free(r);
	conf_free(c);
}

/* 10, then the three 20s in some order, then 30; across repeated
 * questions the 20s come in more than one order. */
static void
check_mx_order(struct dns_resolver *r, const char *domain)
{
	struct buf got = BUF_INIT;
	char seen[6][128];
	int nseen = 0;

	for (int q = 0; q < 40; q++) {
		struct dns_host *h;
		size_t n;
		struct status st;
		bool secure = true;

		status_init(&st);
		cr_assert(dns_lookup_mx(r, domain, &h, &n, &secure, &st), "%s: %s", domain,
		    buf_cstr(&st.text));
		cr_assert_eq(n, 5);
		cr_expect(!secure, "dnsmasq does not set AD");
		cr_expect_eq(h[0].pref, 10);
		cr_expect_str_eq(h[0].name, "mx1.mx.test");
		cr_expect_eq(h[4].pref, 30);
		cr_expect_str_eq(h[4].name, "mx5.mx.test");
		buf_reset(&got);
		for (int i = 1; i <= 3; i++) {
			cr_expect_eq(h[i].pref, 20);
			cr_expect(strcmp(h[i].name, "mx2.mx.test") == 0 ||
			    strcmp(h[i].name, "mx3.mx.test") == 0 ||
			    strcmp(h[i].name, "mx4.mx.test") == 0, "%s", h[i].name);
			buf_printf(&got, "%s ", h[i].name);
		}
		cr_expect(strcmp(h[1].name, h[2].name) && strcmp(h[2].name, h[3].name) &&
		    strcmp(h[1].name, h[3].name));
		bool known = false;
		for (int k = 0; k < nseen; k++)
			known = known || strcmp(seen[k], buf_cstr(&got)) == 0;
		if (!known && nseen < 6)
			snprintf(seen[nseen++], sizeof seen[0], "%s", buf_cstr(&got));
		dns_hosts_free(h, n);
		status_clear(&st);
	}
	cr_expect_geq(nseen, 2, "equal preferences were never shuffled");
	buf_clear(&got);
}

Test(dns, mx_order_and_shuffle)
{
	struct conf *c = conf_for(NULL, NULL);
	struct dns_resolver *r = resolver_for(c);

	check_mx_order(r, "mx.test");
	check_mx_order(r, "MX.Test.");
	/* the domain is a CNAME for mx.test */
	check_mx_order(r, "alias.test");
	dns_resolver_free(r);
	conf_free(c);
}

Test(dns, mx_cname_target_addresses)
{
	struct conf *c = conf_for(NULL, NULL);
	struct dns_resolver *r = resolver_for(c);
	struct buf got = BUF_INIT;

	mx_line(r, "cnmx.test", &got, NULL);
	cr_assert_str_eq(buf_cstr(&got), "10 www.cnmx.test");
	addr_line(r, c, "www.cnmx.test", &got);
	cr_expect_str_eq(buf_cstr(&got), "192.0.2.20");
	buf_clear(&got);
	dns_resolver_free(r);
	conf_free(c);
}

/* 100 MX: the answer needs TCP, and the 64 lowest preferences remain,
 * in order. */
Test(dns, mx_hundred)
{
	struct conf *c = conf_for(NULL, NULL);
	struct dns_resolver *r = resolver_for(c);
	struct dns_host *h;
	size_t n;
	struct status st;
	bool secure;

	status_init(&st);
	cr_assert(dns_lookup_mx(r, "big.test", &h, &n, &secure, &st), "%s", buf_cstr(&st.text));
	cr_assert_eq(n, DNS_MAX_MX);
	for (size_t i = 0; i < n; i++) {
		int idx;
		cr_expect_eq(h[i].pref, i * 10 + 1, "host %zu: pref %u", i, h[i].pref);
		cr_assert(sscanf(h[i].name, "mx%03d.big.test", &idx) == 1, "%s", h[i].name);
		cr_expect_eq((unsigned)((idx * 37) % BIG_MX * 10 + 1), h[i].pref, "%s", h[i].name);
	}
	dns_hosts_free(h, n);
	status_clear(&st);
	dns_resolver_free(r);
	conf_free(c);
}

Test(dns, mx_secure_ad_bit)
{
	char servers[64];
	struct conf *c;
	struct dns_resolver *r;
	struct buf got = BUF_INIT;
	bool secure = false;

	snprintf(servers, sizeof servers, "127.0.0.1:%d", resp_port);
	c = conf_for(servers, NULL);
	r = resolver_for(c);
	mx_line(r, "secure.test", &got, &secure);
	cr_expect_str_eq(buf_cstr(&got), "10 mx.secure.test");
	cr_expect(secure);
	/* an answer with another id is not taken */
	mx_line(r, "spoof.test", &got, &secure);
	cr_expect_str_eq(buf_cstr(&got),
	    "TEMP 4.4.3 " NOTFOUND "spoof.test type=MX: Host not found, try again");
	cr_expect(!secure);
	buf_clear(&got);
	dns_resolver_free(r);
	conf_free(c);
}

/* A server that never answers: TEMP, within the time limit. */
Test(dns, mx_timeout)
{
	char servers[64];
	struct conf *c;
	struct dns_resolver *r;
	struct buf got = BUF_INIT;
	double t0;

	snprintf(servers, sizeof servers, "127.0.0.1:%d", silent_port);
	c = conf_for(servers, NULL);
	r = resolver_for(c);
	t0 = now();
	mx_line(r, "mx.test", &got, NULL);
	cr_expect_str_eq(buf_cstr(&got),
	    "TEMP 4.4.3 " NOTFOUND "mx.test type=MX: Host not found, try again");
	cr_expect_leq(now() - t0, DNS_TIMEOUT + 1.0, "took %.1f s", now() - t0);
	cr_expect_geq(now() - t0, DNS_TIMEOUT - 1.0, "gave up after %.1f s", now() - t0);
	buf_clear(&got);
	dns_resolver_free(r);
	conf_free(c);
}

/* Both families asked of a silent server still take one budget. */
Test(dns, addrs_timeout)
{
	char servers[64];
	struct conf *c;
	struct dns_resolver *r;
	struct buf got = BUF_INIT;
	double t0;

	snprintf(servers, sizeof servers, "127.0.0.1:%d", silent_port);
	c = conf_for(servers, "inet_protocols = all\n");
	r = resolver_for(c);
	t0 = now();
	addr_line(r, c, "dual.test", &got);
	cr_expect_str_eq(buf_cstr(&got),
	    "TEMP 4.4.3 " NOTFOUND "dual.test type=A: Host not found, try again");
	cr_expect_leq(now() - t0, DNS_TIMEOUT + 1.0, "took %.1f s", now() - t0);
	buf_clear(&got);
	dns_resolver_free(r);
	conf_free(c);
}

/* The first server is silent, the second answers: the answer comes, in
 * about one slice of the budget; [::1]:port works as a server. */
Test(dns, servers_in_turn)
{
	char servers[128];
	struct conf *c;
	struct dns_resolver *r;
	struct buf got = BUF_INIT;
	double t0;

	snprintf(servers, sizeof servers, "127.0.0.1:%d, [::1]:%d", silent_port, dns_port);
	c = conf_for(servers, NULL);
	r = resolver_for(c);
	t0 = now();
	mx_line(r, "implicit.test", &got, NULL);
	cr_expect_str_eq(buf_cstr(&got), "0 implicit.test");
	cr_expect_leq(now() - t0, DNS_TIMEOUT / 2.0, "took %.1f s", now() - t0);
	buf_clear(&got);
	dns_resolver_free(r);
	conf_free(c);
}

/* ---- addresses ---- */

static const struct {
	const char *protocols, *preference, *host, *want;
} addr_cases[] = {
	{ "all", "any", "dual.test", "2001:db8::5 2001:db8::6 192.0.2.5 192.0.2.6" },
	{ "all", "ipv6", "dual.test", "2001:db8::5 2001:db8::6 192.0.2.5 192.0.2.6" },
	{ "all", "ipv4", "dual.test", "192.0.2.5 192.0.2.6 2001:db8::5 2001:db8::6" },
	{ "ipv4", "any", "dual.test", "192.0.2.5 192.0.2.6" },
	{ "ipv6", "ipv4", "dual.test", "2001:db8::5 2001:db8::6" },
	{ "all", "any", "DUAL.Test.", "2001:db8::5 2001:db8::6 192.0.2.5 192.0.2.6" },
	{ "all", "any", "v4only.test", "192.0.2.7" },
	{ "all", "any", "v6only.test", "2001:db8::7" },
	{ "ipv6", "any", "v4only.test", "PERM 5.4.4 " NOTFOUND "v4only.test type=A: Host not found" },
	{ "ipv4", "any", "v6only.test", "PERM 5.4.4 " NOTFOUND "v6only.test type=A: Host not found" },
	{ "all", "any", "nosuch.test", "PERM 5.4.4 " NOTFOUND "nosuch.test type=A: Host not found" },
	{ "all", "any", "mx.test", "PERM 5.4.4 " NOTFOUND "mx.test type=A: Host not found" },
	{ "all", "any", "x.refused.test",
	    "TEMP 4.4.3 " NOTFOUND "x.refused.test type=A: Host not found, try again" },
	{ "all", "any", "x.servfail.test",
	    "TEMP 4.4.3 " NOTFOUND "x.servfail.test type=A: Host not found, try again" },
	{ "all", "any", "alias-implicit.test", "192.0.2.10" },
	{ "all", "any", "192.0.2.99", "192.0.2.99" },
	{ "all", "any", "2001:DB8::99", "2001:db8::99" },
	{ "ipv4", "any", "2001:db8::99", "PERM 5.4.4 " NOTFOUND "2001:db8::99 type=A: Host not found" },
	{ "all", "any", "a b.test", "PERM 5.1.2 bad domain name syntax: \"a b.test\"" },
};

/* Sorts the addresses of each family in a line, since a server may
 * rotate the records of one name. */
static void
sort_families(char *line)
{
	char *w[DNS_MAX_ADDRS + 1], *save, copy[1024];
	int n = 0;

	if (strncmp(line, "TEMP", 4) == 0 || strncmp(line, "PERM", 4) == 0)
		return;
	snprintf(copy, sizeof copy, "%s", line);
	for (char *t = strtok_r(copy, " ", &save); t && n <= DNS_MAX_ADDRS; t = strtok_r(NULL, " ", &save))
		w[n++] = t;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && (strchr(w[j], ':') != NULL) == (strchr(w[j - 1], ':') != NULL) &&
		    strcmp(w[j], w[j - 1]) < 0; j--) {
			char *t = w[j];
			w[j] = w[j - 1];
			w[j - 1] = t;
		}
	line[0] = '\0';
	for (int i = 0; i < n; i++)
		strcat(strcat(line, i ? " " : ""), w[i]);
}

Test(dns, addrs_table)
{
	struct buf got = BUF_INIT;

	for (size_t i = 0; i < sizeof addr_cases / sizeof addr_cases[0]; i++) {
		char extra[128], line[1024];
		snprintf(extra, sizeof extra, "inet_protocols = %s\nsmtp_address_preference = %s\n",
		    addr_cases[i].protocols, addr_cases[i].preference);
		struct conf *c = conf_for(NULL, extra);
		struct dns_resolver *r = resolver_for(c);
		addr_line(r, c, addr_cases[i].host, &got);
		snprintf(line, sizeof line, "%s", buf_cstr(&got));
		sort_families(line);
		cr_expect_str_eq(line, addr_cases[i].want, "%s (%s, %s): %s", addr_cases[i].host,
		    addr_cases[i].protocols, addr_cases[i].preference, line);
		dns_resolver_free(r);
		conf_free(c);
	}
	buf_clear(&got);
}

/* IP literals and /etc/hosts names need no DNS: the only server here
 * never answers, and the answers still come at once. */
Test(dns, addrs_without_dns)
{
	static const struct {
		const char *protocols, *host, *want;
	} cases[] = {
		{ "all", "127.0.0.1", "127.0.0.1" },
		{ "all", "::1", "::1" },
		{ "ipv4", "localhost", "127.0.0.1" },
		{ "all", "LocalHost.", "127.0.0.1" },
	};
	char servers[64];
	struct buf got = BUF_INIT;
	double t0 = now();

	snprintf(servers, sizeof servers, "127.0.0.1:%d", silent_port);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char extra[64];
		snprintf(extra, sizeof extra, "inet_protocols = %s\n", cases[i].protocols);
		struct conf *c = conf_for(servers, extra);
		struct dns_resolver *r = resolver_for(c);
		addr_line(r, c, cases[i].host, &got);
		if (strcmp(cases[i].host, "::1") == 0 || strcmp(cases[i].host, "127.0.0.1") == 0)
			cr_expect_str_eq(buf_cstr(&got), cases[i].want, "%s: %s", cases[i].host,
			    buf_cstr(&got));
		else	/* /etc/hosts may also list ::1 for localhost */
			cr_expect(strstr(buf_cstr(&got), cases[i].want) != NULL, "%s: %s",
			    cases[i].host, buf_cstr(&got));
		dns_resolver_free(r);
		conf_free(c);
	}
	cr_expect_leq(now() - t0, 1.0, "took %.1f s", now() - t0);
	buf_clear(&got);
}

/* ---- offline: configuration and names ---- */

TestSuite(dns_offline, .timeout = 30);

Test(dns_offline, servers)
{
	static const struct {
		const char *servers;
		bool ok;
	} cases[] = {
		{ "192.0.2.1", true },
		{ "192.0.2.1:5353", true },
		{ "::1", true },
		{ "[::1]", true },
		{ "[2001:db8::1]:53", true },
		{ "192.0.2.1, [::1]:5353 192.0.2.2:53", true },
		{ "ns.example.com", false },
		{ "192.0.2.1:0", false },
		{ "192.0.2.1:65536", false },
		{ "192.0.2.1:", false },
		{ "192.0.2.1:5x", false },
		{ ":53", false },
		{ "[::1", false },
		{ "[::1]x", false },
		{ "[::1]:", false },
		{ "[192.0.2.1]:53", false },
		{ "192.0.2.1.5", false },
		{ "192.0.2.1, bogus", false },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[256];
		struct status st;
		snprintf(text, sizeof text, "dns_servers = %s\n", cases[i].servers);
		struct conf *c = load(text);
		status_init(&st);
		struct dns_resolver *r = dns_resolver_new(c, &st);
		if (cases[i].ok) {
			cr_expect_not_null(r, "%s: %s", cases[i].servers, buf_cstr(&st.text));
		} else {
			cr_expect_null(r, "%s accepted", cases[i].servers);
			cr_expect_eq(st.cls, STATUS_TEMP, "%s", cases[i].servers);
			cr_expect_str_eq(st.dsn, "4.3.5", "%s", cases[i].servers);
			cr_expect(strstr(buf_cstr(&st.text), "dns_servers") != NULL, "%s",
			    buf_cstr(&st.text));
		}
		dns_resolver_free(r);
		status_clear(&st);
		conf_free(c);
	}
}

/* Without dns_servers, /etc/resolv.conf decides. */
Test(dns_offline, resolv_conf)
{
	struct conf *c = load("");
	struct status st;
	FILE *f = fopen("/etc/resolv.conf", "r");
	char line[512];
	bool has_ns = false;

	while (f && fgets(line, sizeof line, f))
		has_ns = has_ns || strncmp(line, "nameserver", 10) == 0;
	if (f)
		fclose(f);
	status_init(&st);
	struct dns_resolver *r = dns_resolver_new(c, &st);
	if (has_ns) {
		cr_expect_not_null(r, "%s", buf_cstr(&st.text));
	} else {
		cr_expect_null(r);
		cr_expect_str_eq(st.dsn, "4.3.5");
	}
	dns_resolver_free(r);
	status_clear(&st);
	conf_free(c);
}

/* Bad names fail before any question is asked (the server given does
 * not exist). */
Test(dns_offline, bad_names)
{
	char l64[80], long_name[300];
	const char *names[] = {
		"", ".", "..", "a..b", ".a", "a.b..", "exa mple.com", "foo@bar.com", "a/b.com",
		"a\tb", "caf\xc3\xa9.example", "a\x01.com", "[192.0.2.1]", l64, long_name,
	};
	struct conf *c = load("dns_servers = 192.0.2.1:9\n");
	struct dns_resolver *r = resolver_for(c);

	memset(l64, 'a', 64);
	strcpy(l64 + 64, ".com");
	/* 4 x 63 + 3 dots = 255 */
	for (int i = 0; i < 4; i++) {
		memset(long_name + i * 64, 'b', 63);
		long_name[i * 64 + 63] = '.';
	}
	long_name[4 * 64 - 1] = '\0';
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct dns_host *h;
		struct dns_addr *a;
		size_t n;
		bool secure;
		struct status st;

		status_init(&st);
		cr_expect(!dns_lookup_mx(r, names[i], &h, &n, &secure, &st), "%s", names[i]);
		cr_expect_eq(st.cls, STATUS_PERM, "%s", names[i]);
		cr_expect_str_eq(st.dsn, "5.1.2", "%s", names[i]);
		cr_expect(strncmp(buf_cstr(&st.text), "bad domain name syntax: \"", 25) == 0,
		    "%s", buf_cstr(&st.text));
		for (const char *p = buf_cstr(&st.text); *p; p++)
			cr_expect((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
			    "raw byte in %s", buf_cstr(&st.text));
		status_clear(&st);
		cr_expect(!dns_lookup_addrs(r, c, names[i], &a, &n, &st), "%s", names[i]);
		cr_expect_str_eq(st.dsn, "5.1.2", "%s", names[i]);
		status_clear(&st);
	}
	dns_resolver_free(r);
	conf_free(c);
}

/* ---- answers no real server here sends ---- */

/* An answer to name/type: rcode, AD, then records in zone-file form. */
static unsigned char *
packet(const char *qname, ldns_rr_type type, ldns_pkt_rcode rcode, bool ad,
    const char *const *records, size_t *len)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *rr = NULL;
	uint8_t *wire = NULL;
	char q[300];

	cr_assert_not_null(p);
	ldns_pkt_set_id(p, 1);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rd(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_ad(p, ad);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	snprintf(q, sizeof q, "%s IN A", qname);
	cr_assert(ldns_rr_new_question_frm_str(&rr, q, NULL, NULL) == LDNS_STATUS_OK, "%s", q);
	ldns_rr_set_type(rr, type);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
	for (size_t i = 0; records && records[i]; i++) {
		cr_assert(ldns_rr_new_frm_str(&rr, records[i], 300, NULL, NULL) == LDNS_STATUS_OK,
		    "%s", records[i]);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	cr_assert(ldns_pkt2wire(&wire, p, len) == LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return wire;
}

static const struct {
	const char *qname;		/* the question */
	const char *domain;		/* what the caller asks */
	ldns_pkt_rcode rcode;
	bool ad;
	const char *records[6];
	const char *want;
} answer_cases[] = {
	/* records on other names do not count */
	{ "example.com.", "example.com", LDNS_RCODE_NOERROR, false,
	    { "other.com. IN MX 10 mx.other.com.", "com. IN MX 5 evil.com." },
	    "0 example.com" },
	/* case, trailing dot and duplicates: the lowest preference stays */
	{ "example.com.", "Example.COM.", LDNS_RCODE_NOERROR, true,
	    { "EXAMPLE.com. IN MX 20 MX1.Example.COM.", "example.com. IN MX 10 mx1.example.com.",
	      "example.com. IN MX 30 mx2.example.com." },
	    "secure 10 mx1.example.com, 30 mx2.example.com" },
	/* unusable host names are dropped, the rest is used */
	{ "example.com.", "example.com", LDNS_RCODE_NOERROR, false,
	    { "example.com. IN MX 10 a\\032b.example.com.", "example.com. IN MX 20 192.0.2.1.",
	      "example.com. IN MX 30 ok.example.com.", "example.com. IN MX 0 ." },
	    "30 ok.example.com" },
	{ "example.com.", "example.com", LDNS_RCODE_NOERROR, false,
	    { "example.com. IN MX 10 a\\000b.example.com." },
	    "TEMP 4.4.3 " NOTFOUND "example.com type=MX: Host not found, try again" },
	{ "example.com.", "example.com", LDNS_RCODE_NOERROR, false,
	    { "example.com. IN MX 0 ." },
	    "PERM 5.1.10 Domain example.com does not accept mail (nullMX)" },
	/* a chain inside the answer is followed; a loop is not */
	{ "example.com.", "example.com", LDNS_RCODE_NOERROR, false,
	    { "example.com. IN CNAME b.example.net.", "b.example.net. IN CNAME c.example.org.",
	      "c.example.org. IN MX 5 mx.example.org.", "example.com. IN MX 1 stale.example.com." },
	    "5 mx.example.org" },
	{ "example.com.", "example.com", LDNS_RCODE_NOERROR, false,
	    { "example.com. IN CNAME b.example.net.", "b.example.net. IN CNAME example.com." },
	    "TEMP 4.4.3 " NOTFOUND "example.com type=MX: Host not found, try again" },
	/* a chain leaving the answer would need another question */
	{ "example.com.", "example.com", LDNS_RCODE_NOERROR, false,
	    { "example.com. IN CNAME b.example.net." },
	    "TEMP 4.4.3 " NOTFOUND "example.com type=MX: Host not found, try again" },
	{ "example.com.", "example.com", LDNS_RCODE_NXDOMAIN, false,
	    { "example.com. IN CNAME gone.example.net." },
	    "PERM 5.1.2 " NOTFOUND "example.com type=MX: Host not found" },
	{ "example.com.", "example.com", LDNS_RCODE_SERVFAIL, false, { NULL },
	    "TEMP 4.4.3 " NOTFOUND "example.com type=MX: Host not found, try again" },
	/* an answer to another question */
	{ "example.net.", "example.com", LDNS_RCODE_NOERROR, false,
	    { "example.com. IN MX 10 mx.example.com." },
	    "TEMP 4.4.3 " NOTFOUND "example.com type=MX: Host not found, try again" },
};

Test(dns_answer, mx)
{
	struct buf got = BUF_INIT;

	for (size_t i = 0; i < sizeof answer_cases / sizeof answer_cases[0]; i++) {
		size_t len, n;
		unsigned char *wire = packet(answer_cases[i].qname, LDNS_RR_TYPE_MX,
		    answer_cases[i].rcode, answer_cases[i].ad, answer_cases[i].records, &len);
		struct dns_host *h;
		struct status st;
		bool secure;

		status_init(&st);
		buf_reset(&got);
		if (dns_test_mx_answer(wire, len, answer_cases[i].domain, &h, &n, &secure, &st)) {
			buf_puts(&got, secure ? "secure " : "");
			for (size_t k = 0; k < n; k++)
				buf_printf(&got, "%s%u %s", k ? ", " : "", h[k].pref, h[k].name);
			dns_hosts_free(h, n);
		} else {
			buf_printf(&got, "%s %s %s", st.cls == STATUS_TEMP ? "TEMP" : "PERM",
			    st.dsn, buf_cstr(&st.text));
		}
		cr_expect_str_eq(buf_cstr(&got), answer_cases[i].want, "case %zu: %s", i,
		    buf_cstr(&got));
		status_clear(&st);
		free(wire);
	}
	buf_clear(&got);
}

Test(dns_answer, truncated_packets)
{
	const char *records[] = { "example.com. IN MX 10 mx.example.com.", NULL };
	size_t len, n;
	unsigned char *wire = packet("example.com.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR,
	    false, records, &len);

	/* every prefix: a clean outcome, never a crash or a partial list */
	for (size_t cut = 0; cut <= len; cut++) {
		struct dns_host *h;
		struct status st;
		bool secure;
		status_init(&st);
		bool ok = dns_test_mx_answer(wire, cut, "example.com", &h, &n, &secure, &st);
		if (cut == len) {
			cr_expect(ok && n == 1 && strcmp(h[0].name, "mx.example.com") == 0);
		} else if (ok) {
			/* cut after the question: a NODATA answer */
			cr_expect(n == 1 && strcmp(h[0].name, "example.com") == 0, "cut %zu", cut);
		} else {
			cr_expect_eq(st.cls, STATUS_TEMP, "cut %zu", cut);
		}
		if (ok)
			dns_hosts_free(h, n);
		status_clear(&st);
	}
	free(wire);
}

Test(dns_answer, addrs)
{
	static const struct {
		int family;
		const char *records[6];
		const char *want;
	} cases[] = {
		{ AF_INET, { "www.example.com. IN CNAME web.example.net.",
		    "web.example.net. IN A 192.0.2.1", "web.example.net. IN A 192.0.2.1",
		    "other.example.net. IN A 192.0.2.66", "web.example.net. IN AAAA 2001:db8::1" },
		    "192.0.2.1" },
		{ AF_INET6, { "www.example.com. IN AAAA 2001:DB8::1", "www.example.com. IN A 192.0.2.1" },
		    "2001:db8::1" },
		{ AF_INET, { "www.example.com. IN AAAA 2001:db8::1" },
		    "PERM 5.4.4 " NOTFOUND "www.example.com type=A: Host not found" },
	};
	struct buf got = BUF_INIT;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len, n;
		unsigned char *wire = packet("www.example.com.", cases[i].family == AF_INET ?
		    LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, false,
		    cases[i].records, &len);
		struct dns_addr *a;
		struct status st;

		status_init(&st);
		buf_reset(&got);
		if (dns_test_addr_answer(wire, len, "www.example.com", cases[i].family, &a, &n, &st)) {
			for (size_t k = 0; k < n; k++)
				buf_printf(&got, "%s%s", k ? " " : "", a[k].text);
			free(a);
		} else {
			buf_printf(&got, "%s %s %s", st.cls == STATUS_TEMP ? "TEMP" : "PERM",
			    st.dsn, buf_cstr(&st.text));
		}
		cr_expect_str_eq(buf_cstr(&got), cases[i].want, "case %zu: %s", i, buf_cstr(&got));
		status_clear(&st);
		free(wire);
	}
	buf_clear(&got);
}
