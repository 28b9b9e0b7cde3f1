/*
 * burst: short-lived processes for the metrics benchmark (bench/metrics/run.py).
 *
 *   burst N MS HOLD    after 2 s, fork N children one after another, each computing ~MS ms
 *                      of CPU and exiting, each waited for; then print getrusage's CPU of the
 *                      children and of itself, and sleep HOLD seconds
 *
 * A child computes with a plain loop, no system call (it reads no clock: a task that does
 * keeps its runtime up to date, which the kernel's exit record would then hold in full); the
 * loop's count per ms is measured once, by the parent, before the children start.
 * Bounded: N <= 5,000, MS <= 1,000, HOLD <= 600; every child has PR_SET_PDEATHSIG(SIGKILL) and
 * alarm(10); the parent has alarm(HOLD + N * (MS + 100) / 1000 + 30).
 * Output: "burst N children C self S" (seconds), on stdout, flushed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void spin(unsigned long count)
{
	volatile unsigned long x = 0;
	for (unsigned long i = 0; i < count; i++)
		x += i;
}

static long number(const char *text, long lo, long hi)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

static double seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	long n = argc == 4 ? number(argv[1], 1, 5000) : -1;
	long ms = argc == 4 ? number(argv[2], 1, 1000) : -1;
	long hold = argc == 4 ? number(argv[3], 0, 600) : -1;
	if (n < 0 || ms < 0 || hold < 0) {
		fprintf(stderr, "usage: burst N MS HOLD   (N <= 5000, MS <= 1000, HOLD <= 600)\n");
		return 2;
	}
	alarm((unsigned)(hold + n * (ms + 100) / 1000 + 30));
	pid_t self = getpid();
	sleep(2); /* let the exporters see this process before its children come */

	/* the loop's count per ms of CPU: the best of a few 20 ms measurements */
	double per_ms = 0;
	for (int round = 0; round < 5; round++) {
		unsigned long count = 2000000;
		double t0 = cpu_s();
		spin(count);
		double took = cpu_s() - t0;
		if (took > 0 && count / (took * 1e3) > per_ms)
			per_ms = count / (took * 1e3);
	}
	unsigned long count = (unsigned long)(per_ms * (double)ms);

	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "burst: fork failed after %ld children: %s\n", i,
				strerror(errno));
			return 1;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != self)
				_exit(0);
			alarm(10);
			spin(count);
			_exit(0);
		}
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	struct rusage children, own;
	getrusage(RUSAGE_CHILDREN, &children);
	getrusage(RUSAGE_SELF, &own);
	printf("burst %ld children %.6f self %.6f\n", n,
	       seconds(children.ru_utime) + seconds(children.ru_stime),
	       seconds(own.ru_utime) + seconds(own.ru_stime));
	fflush(stdout);
	sleep((unsigned)hold);
	return 0;
}
