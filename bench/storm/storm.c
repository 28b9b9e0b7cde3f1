/*
 * storm: a bounded fork storm for the tractui benchmark.
 *
 *   storm N [vfork|fork]      (default vfork)
 *
 * Creates exactly N children, each of which calls _exit(0) at once, one after the other, as fast
 * as the kernel allows. Children are reaped by the kernel (SIGCHLD ignored), so nothing is left
 * behind. Bounded in count (N <= 2,000,000) and in time (alarm(120): the storm ends by itself).
 * Prints nothing on stdout; one line on stderr at the end: children created, elapsed, rate.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 2000000L
#define TIME_LIMIT_S 120

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(const char *why)
{
	fprintf(stderr, "storm: %s\nusage: storm N [vfork|fork]   (1 <= N <= %ld)\n", why,
		MAX_CHILDREN);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3)
		return usage("give the number of children");
	char *end = NULL;
	errno = 0;
	long n = strtol(argv[1], &end, 10);
	if (errno || end == argv[1] || *end != '\0' || n < 1)
		return usage("N must be a positive integer");
	if (n > MAX_CHILDREN)
		return usage("N is too large");
	int use_vfork = 1;
	if (argc == 3) {
		if (strcmp(argv[2], "fork") == 0)
			use_vfork = 0;
		else if (strcmp(argv[2], "vfork") != 0)
			return usage("mode must be vfork or fork");
	}

	/* The kernel reaps the children for us: no zombies, and no wait() in the loop. */
	signal(SIGCHLD, SIG_IGN);
	/* Whatever happens, the storm stops by itself (SIGALRM's default action ends it). */
	alarm(TIME_LIMIT_S);

	double t0 = now_s();
	long made = 0;
	int failures = 0;
	while (made < n) {
		pid_t pid = use_vfork ? vfork() : fork();
		if (pid == 0)
			_exit(0);
		if (pid < 0) {
			/* EAGAIN: too many processes at once; give the kernel a moment to reap. */
			if (errno == EAGAIN && ++failures < 10000) {
				usleep(1000);
				continue;
			}
			fprintf(stderr, "storm: %s failed after %ld children: %s\n",
				use_vfork ? "vfork" : "fork", made, strerror(errno));
			return 1;
		}
		made++;
	}
	double elapsed = now_s() - t0;
	fprintf(stderr, "storm: %ld children by %s in %.3f s (%.0f forks/s)\n", made,
		use_vfork ? "vfork" : "fork", elapsed, elapsed > 0 ? (double)made / elapsed : 0.0);
	return 0;
}
