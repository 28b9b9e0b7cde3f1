/*
 * execstorm: the workload of the exec-identification benchmark, and the keeper of its ground
 * truth.
 *
 *   execstorm N OUT
 *
 * Starts N children by vfork, one after the other; child i execs "/bin/true ID-i", an argv no
 * other process of the run has. Children are reaped as they end (after each vfork, whatever has
 * ended), as shells and make do: a zombie's /proc/PID/comm stays readable, which would make
 * naming too easy. When all are reaped it writes OUT, one line per child in launch order:
 * "PID ID-i", the argv it launched under that PID. A PID may serve twice in a run only if the
 * machine's PIDs wrapped meanwhile; launch order tells the two apart.
 * Bounded: N <= 10,000, and alarm(120) ends it whatever happens.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 10000L
#define TIME_LIMIT_S 120

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: execstorm N OUT\n");
		return 2;
	}
	char *end = NULL;
	errno = 0;
	long n = strtol(argv[1], &end, 10);
	if (errno || end == argv[1] || *end != '\0' || n < 1 || n > MAX_CHILDREN) {
		fprintf(stderr, "execstorm: N must be in 1..%ld\n", MAX_CHILDREN);
		return 2;
	}
	alarm(TIME_LIMIT_S);
	pid_t *pids = calloc((size_t)n, sizeof *pids);
	if (pids == NULL) {
		fprintf(stderr, "execstorm: out of memory\n");
		return 1;
	}
	long started = 0, reaped = 0, failed = 0;
	for (long i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof id, "ID-%ld", i);
		char *child_argv[] = {"/bin/true", id, NULL};
		pid_t pid = vfork();
		if (pid < 0) {
			perror("execstorm: vfork");
			break;
		}
		if (pid == 0) {
			execv("/bin/true", child_argv);
			_exit(127);
		}
		pids[i] = pid;
		started++;
		int status;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			reaped++;
			failed += status != 0;
		}
	}
	while (reaped < started) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);
		if (pid > 0) {
			reaped++;
			failed += status != 0;
		} else if (errno == ECHILD) {
			break;
		}
	}
	FILE *out = fopen(argv[2], "w");
	if (out == NULL) {
		perror("execstorm: cannot write OUT");
		return 1;
	}
	for (long i = 0; i < started; i++)
		fprintf(out, "%d ID-%ld\n", (int)pids[i], i);
	return fclose(out) == 0 && failed == 0 && started == n ? 0 : 1;
}
