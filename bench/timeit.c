/*
 * timeit: runs a command and prints its wall time and CPU time (user + system, from wait4's
 * rusage of the child) as one JSON object, for bench/run's whole-process comparisons. The CPU
 * figure is less disturbed than wall time when other work shares the cores.
 *
 *   timeit STDOUT_FILE STDERR_FILE COMMAND [ARG...]
 *
 * The command is killed (SIGKILL) after 60 s, so a hung tool cannot stall the benchmark.
 *
 * Build: gcc -O2 -o timeit timeit.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static volatile pid_t child;
static void on_alarm(int sig) {
    (void)sig;
    if (child > 0) kill(child, SIGKILL);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: timeit STDOUT_FILE STDERR_FILE COMMAND [ARG...]\n");
        return 64;
    }
    double t0 = now_us();
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0) _exit(126);
        dup2(out, 1);
        dup2(err, 2);
        execvp(argv[3], argv + 3);
        _exit(127);
    }
    child = pid;
    signal(SIGALRM, on_alarm);
    alarm(60);
    int status;
    struct rusage ru;
    pid_t w;
    while ((w = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR) {
    }
    if (w != pid) return 1;
    double t1 = now_us();
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    double cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    printf("{\"exit\":%d,\"wall_us\":%.0f,\"cpu_us\":%.0f,\"maxrss_kb\":%ld}\n", code, t1 - t0, cpu, ru.ru_maxrss);
    return 0;
}
