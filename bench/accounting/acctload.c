/*
 * acctload: the workload of the accounting benchmark, and the keeper of its ground truth.
 *
 *   acctload N BURN_US JOBS OUT
 *
 * Runs N short children, at most JOBS at a time. Each burns BURN_US microseconds of its own CPU
 * time (a busy loop on CLOCK_PROCESS_CPUTIME_ID, so the slice is the same whatever the load);
 * every odd-numbered one then execs /bin/true (fork, burn, exec), the others _exit(0).
 * When every child is reaped it writes to OUT the kernel's own account of the whole run:
 * getrusage(RUSAGE_SELF) (this runner) and getrusage(RUSAGE_CHILDREN) (all it reaped), in µs,
 * then exits. Nothing runs after that but the return from main: what the kernel counts for this
 * process after the getrusage calls is a few microseconds.
 * Bounded: N <= 100,000, BURN_US <= 1 s, JOBS <= 64, and alarm(120) ends it whatever happens.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 100000L
#define MAX_BURN_US 1000000L
#define MAX_JOBS 64L
#define TIME_LIMIT_S 120

static long number(const char *text, long low, long high)
{
	char *end = NULL;
	errno = 0;
	long n = strtol(text, &end, 10);
	if (errno || end == text || *end != '\0' || n < low || n > high)
		return -1;
	return n;
}

static long long cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void burn(long us)
{
	long long until = cpu_us() + us;
	volatile unsigned long spin = 0;
	while (cpu_us() < until)
		for (int i = 0; i < 1000; i++)
			spin++;
}

static long long tv_us(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: acctload N BURN_US JOBS OUT\n");
		return 2;
	}
	long n = number(argv[1], 1, MAX_CHILDREN);
	long burn_us = number(argv[2], 0, MAX_BURN_US);
	long jobs = number(argv[3], 1, MAX_JOBS);
	if (n < 0 || burn_us < 0 || jobs < 0) {
		fprintf(stderr, "acctload: N in 1..%ld, BURN_US in 0..%ld, JOBS in 1..%ld\n",
			MAX_CHILDREN, MAX_BURN_US, MAX_JOBS);
		return 2;
	}
	alarm(TIME_LIMIT_S);

	long running = 0, failed = 0, forked = 0;
	for (long i = 0; i < n; i++) {
		while (running >= jobs) {
			int status;
			if (wait(&status) > 0) {
				running--;
				failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			}
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("acctload: fork");
			break;
		}
		if (pid == 0) {
			alarm(0);
			burn(burn_us);
			if (i % 2)
				execl("/bin/true", "true", (char *)NULL);
			_exit(i % 2 ? 127 : 0);
		}
		running++;
		forked++;
	}
	while (running > 0) {
		int status;
		if (wait(&status) > 0) {
			running--;
			failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		} else if (errno == ECHILD) {
			break;
		}
	}

	struct rusage self, children;
	getrusage(RUSAGE_CHILDREN, &children);
	getrusage(RUSAGE_SELF, &self);
	FILE *out = fopen(argv[4], "w");
	if (out == NULL) {
		perror("acctload: cannot write OUT");
		return 1;
	}
	fprintf(out, "children %ld\nfailed %ld\nself_user_us %lld\nself_system_us %lld\n"
		     "children_user_us %lld\nchildren_system_us %lld\n",
		forked, failed, tv_us(self.ru_utime), tv_us(self.ru_stime),
		tv_us(children.ru_utime), tv_us(children.ru_stime));
	return fclose(out) == 0 && failed == 0 && forked == n ? 0 : 1;
}
