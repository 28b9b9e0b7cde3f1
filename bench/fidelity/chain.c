/* chain K FILE: append "argv[0] TAB argv[1] TAB argv[2]" to FILE, then exec itself as
   chain K-1 FILE (through /proc/self/exe: no path lookup), down to 0, which exits 0.
   One PID runs K+1 programs, each ~100-200 us, and writes down the argv it really had: the
   ground truth that tractui's record of each exec is checked against. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int k = atoi(argv[1]);
    FILE *f = fopen(argv[2], "a");
    if (!f) return 3;
    fprintf(f, "%s\t%s\t%s\n", argv[0], argv[1], argv[2]);
    fclose(f);
    if (k <= 0) return 0;
    char next[16];
    snprintf(next, sizeof next, "%d", k - 1);
    char *nargv[] = {argv[0], next, argv[2], NULL};
    execv("/proc/self/exe", nargv);
    return 5;
}
