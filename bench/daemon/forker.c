/*
 * forker: the load generator of the daemon benchmark (bench/daemon/run.py).
 *
 *   forker hold N SECONDS     fork N children that sleep; all of them end after SECONDS
 *   forker forks RATE COUNT   wait for SIGUSR1, then fork COUNT children at RATE forks/s
 *                             (RATE 0: as fast as the kernel allows); each child exits at once
 *
 * Bounded in count (N, COUNT <= 20,000) and in time:
 *   hold: the parent exits after SECONDS (SIGALRM); each child has PR_SET_PDEATHSIG(SIGKILL),
 *         so it dies with the parent, and alarm(SECONDS + 5) of its own besides.
 *   forks: it gives up if SIGUSR1 does not come within 60 s; alarm(COUNT / RATE + 60) ends it.
 * Children are reaped by the kernel (SIGCHLD ignored): no zombies. One line on stdout at the end
 * of the forking: how many children, how long it took.
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

#define MAX_CHILDREN 20000L
#define START_WAIT_S 60


static int usage(const char *why)
{
	fprintf(stderr,
		"forker: %s\n"
		"usage: forker hold N SECONDS | forker forks RATE COUNT   (N, COUNT <= %ld)\n",
		why, MAX_CHILDREN);
	return 2;
}

static int number(const char *text, long lo, long hi, long *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* fork(), retrying a little on EAGAIN; -1 when it keeps failing */
static pid_t fork_retrying(void)
{
	for (int tries = 0; tries < 1000; tries++) {
		pid_t pid = fork();
		if (pid >= 0 || errno != EAGAIN)
			return pid;
		usleep(1000);
	}
	return -1;
}

static int hold(long n, long seconds)
{
	pid_t self = getpid();
	signal(SIGCHLD, SIG_IGN);
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		pid_t pid = fork_retrying();
		if (pid < 0) {
			fprintf(stderr, "forker: fork failed after %ld children: %s\n", i,
				strerror(errno));
			return 1; /* the children die with us (PDEATHSIG) */
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != self) /* the parent is already gone */
				_exit(0);
			alarm((unsigned)seconds + 5);
			for (;;)
				pause();
		}
	}
	printf("hold: %ld children in %.3f s; ending in %ld s\n", n, now_s() - t0, seconds);
	fflush(stdout);
	alarm((unsigned)seconds); /* SIGALRM's default action ends us, and so the children */
	for (;;)
		pause();
}

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static int forks(long rate, long count)
{
	/* The benchmark sends SIGUSR1 once it sees the handler (SigCgt in /proc/PID/status). */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGCHLD, SIG_IGN);
	double deadline = now_s() + START_WAIT_S;
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 1000000};
	while (!go) {
		if (now_s() > deadline) {
			fprintf(stderr, "forker: no SIGUSR1 within %d s: giving up\n", START_WAIT_S);
			return 1;
		}
		nanosleep(&tick, NULL);
	}
	alarm((unsigned)(rate > 0 ? count / rate : 0) + 60);

	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	double t0 = now_s();
	for (long i = 0; i < count; i++) {
		if (rate > 0) {
			long long at = (long long)start.tv_sec * 1000000000LL + start.tv_nsec +
				       i * 1000000000LL / rate;
			struct timespec due = {.tv_sec = at / 1000000000LL,
					       .tv_nsec = at % 1000000000LL};
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
				;
		}
		pid_t pid = fork_retrying();
		if (pid < 0) {
			fprintf(stderr, "forker: fork failed after %ld children: %s\n", i,
				strerror(errno));
			return 1;
		}
		if (pid == 0)
			_exit(0);
	}
	double took = now_s() - t0;
	printf("forks: %ld children in %.3f s (%.0f forks/s)\n", count, took,
	       took > 0 ? (double)count / took : 0.0);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return usage("give a mode and two numbers");
	long a, b;
	if (strcmp(argv[1], "hold") == 0) {
		if (number(argv[2], 1, MAX_CHILDREN, &a) || number(argv[3], 1, 3600, &b))
			return usage("hold N SECONDS: 1 <= N <= 20000, 1 <= SECONDS <= 3600");
		return hold(a, b);
	}
	if (strcmp(argv[1], "forks") == 0) {
		if (number(argv[2], 0, 100000, &a) || number(argv[3], 1, MAX_CHILDREN, &b))
			return usage("forks RATE COUNT: 0 <= RATE <= 100000, 1 <= COUNT <= 20000");
		return forks(a, b);
	}
	return usage("mode must be hold or forks");
}
