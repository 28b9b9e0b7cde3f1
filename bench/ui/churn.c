/*
 * churn: a bounded population of processes for the UI benchmark.
 *
 *   churn LIVE RATE DURATION [LIFE_MS]
 *
 * Waits for SIGUSR1 (at most 120 s: without it, it exits having forked nothing). Then forks LIVE
 * children that sleep until the end, and RATE short-lived children a second, on a 10 ms schedule,
 * each of which sleeps LIFE_MS ms (default 100) and calls _exit(0): a fork and an exit event each,
 * so 2 x RATE events/s. After DURATION seconds it exits, and every child dies with it.
 *
 * Bounded: LIVE <= 30,000, RATE <= 20,000/s, DURATION <= 3,600 s. Every child asks the kernel for
 * SIGKILL when this process dies (PR_SET_PDEATHSIG) and has an alarm() of its own past the end;
 * this process has alarm(DURATION + 10) whatever happens. The kernel reaps the children
 * (SIGCHLD ignored). All of them stay in this process's process group.
 *
 * Writes one line a second on stdout, and one at the end:
 *   churn T live L forks F      (T: CLOCK_MONOTONIC seconds, L: live children, F: short-lived
 *                                children forked so far)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "../bench.h"

#define MAX_LIVE 30000L
#define MAX_RATE 20000L
#define MAX_DURATION 3600L
#define START_WAIT_S 120
#define TICK_NS 10000000L /* 10 ms */

static pid_t parent_pid;


static int usage(const char *why)
{
	fprintf(stderr,
		"churn: %s\nusage: churn LIVE RATE DURATION [LIFE_MS]   "
		"(LIVE <= %ld, RATE <= %ld/s, DURATION <= %ld s)\n",
		why, MAX_LIVE, MAX_RATE, MAX_DURATION);
	return 2;
}

static long arg(const char *text, long lo, long hi, int *ok)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end != '\0' || v < lo || v > hi)
		*ok = 0;
	return v;
}

/* In a child: die with the parent; never outlive the run. */
static void child_setup(unsigned int limit_s)
{
	signal(SIGCHLD, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent_pid) /* the parent died before prctl */
		_exit(0);
	alarm(limit_s);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static pid_t spawn(int live, unsigned int limit_s, long life_ms)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	child_setup(limit_s);
	if (live) {
		for (;;)
			pause();
	}
	if (life_ms > 0)
		sleep_ms(life_ms);
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5)
		return usage("give LIVE, RATE and DURATION");
	int ok = 1;
	long live = arg(argv[1], 0, MAX_LIVE, &ok);
	long rate = arg(argv[2], 0, MAX_RATE, &ok);
	long duration = arg(argv[3], 1, MAX_DURATION, &ok);
	long life_ms = argc == 5 ? arg(argv[4], 0, 10000, &ok) : 100;
	if (!ok)
		return usage("bad number");
	parent_pid = getpid();
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Wait for the go (SIGUSR1), at most START_WAIT_S. */
	sigset_t go;
	sigemptyset(&go);
	sigaddset(&go, SIGUSR1);
	sigprocmask(SIG_BLOCK, &go, NULL);
	struct timespec patience = { START_WAIT_S, 0 };
	if (sigtimedwait(&go, NULL, &patience) != SIGUSR1) {
		fprintf(stderr, "churn: no SIGUSR1 within %d s: nothing forked\n", START_WAIT_S);
		return 1;
	}
	sigprocmask(SIG_UNBLOCK, &go, NULL);

	/* The kernel reaps the children; whatever happens, this process ends. */
	signal(SIGCHLD, SIG_IGN);
	alarm((unsigned int)duration + 10);
	unsigned int child_limit = (unsigned int)duration + 20;

	double t0 = now_s();
	long made_live = 0;
	for (; made_live < live; made_live++) {
		pid_t pid = spawn(1, child_limit, 0);
		if (pid < 0) {
			fprintf(stderr, "churn: fork failed after %ld live children: %s\n", made_live,
				strerror(errno));
			return 1;
		}
	}
	printf("churn %.3f live %ld forks 0\n", now_s(), made_live);

	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	double start = now_s();
	double last_print = start;
	long forks = 0;
	long failures = 0;
	while (now_s() - t0 < (double)duration) {
		long due = (long)(rate * (now_s() - start));
		while (forks < due) {
			if (spawn(0, child_limit, life_ms) < 0) {
				failures++;
				break;
			}
			forks++;
		}
		double t = now_s();
		if (t - last_print >= 1.0) {
			printf("churn %.3f live %ld forks %ld\n", t, made_live, forks);
			last_print = t;
		}
		next.tv_nsec += TICK_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		if ((double)next.tv_sec + (double)next.tv_nsec / 1e9 < t - 0.1)
			clock_gettime(CLOCK_MONOTONIC, &next); /* far behind: no burst of catch-up ticks */
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	printf("churn %.3f live %ld forks %ld\n", now_s(), made_live, forks);
	if (failures)
		fprintf(stderr, "churn: %ld forks failed (EAGAIN?)\n", failures);
	/* Returning ends the children too (PR_SET_PDEATHSIG). */
	return 0;
}
