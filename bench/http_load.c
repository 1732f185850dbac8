/*
 * http_load: a closed-loop HTTP/1.1 keep-alive load generator over a Unix socket, for
 * bench/run's daemon-under-load figures. CLIENTS connections, each sends the next request as
 * soon as the previous response is complete; one epoll loop per thread, no allocation per
 * request. Latency = request written -> response fully read.
 *
 *   http_load SOCKET URL_PATH CLIENTS SECONDS WARMUP_SECONDS [THREADS [JSON_BODY]]
 *
 * With JSON_BODY every request is a POST of that body (Content-Type: application/json), e.g.
 * an eligibility request on one card session; without it a GET.
 *
 * Prints one JSON object: requests, rps, p50/p90/p99/max latency (µs), non-200 responses,
 * errors, and the generator's own CPU use (so one can see it was not the bottleneck).
 * Build: gcc -O2 -pthread -o http_load http_load.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536

typedef struct {
    int fd;
    size_t have;
    double sent_at;
    char buf[BUF];
} conn_t;

typedef struct {
    int index, nconns;
    conn_t *conns;
    double *samples;
    size_t nsamples, cap;
    long non200, errors, requests;
} worker_t;

static const char *sock_path;
static char request[2048];
static size_t request_len;
static double t_start, t_measure, t_end;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int open_conn(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, sock_path, sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static int send_request(conn_t *c) {
    c->sent_at = now_us();
    size_t off = 0;
    while (off < request_len) {
        ssize_t n = write(c->fd, request + off, request_len - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1; /* a 60-byte request on an idle keep-alive socket never blocks */
        }
    }
    return 0;
}

/* Length of a complete response at the start of buf, 0 if incomplete, -1 if malformed. */
static long complete_response(const char *buf, size_t have, int *status) {
    const char *end = memmem(buf, have, "\r\n\r\n", 4);
    if (!end) return have >= BUF ? -1 : 0;
    size_t head = (size_t)(end - buf) + 4;
    if (have < 12 || memcmp(buf, "HTTP/1.1 ", 9) != 0) return -1;
    *status = atoi(buf + 9);
    long clen = -1;
    const char *p = buf;
    while (p < end) {
        const char *nl = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!nl) break;
        if ((size_t)(nl - p) > 15 && strncasecmp(p, "content-length:", 15) == 0) clen = atol(p + 15);
        p = nl + 2;
    }
    if (clen < 0) return -1; /* the daemon always sends content-length for JSON */
    if (have < head + (size_t)clen) return 0;
    return (long)(head + (size_t)clen);
}

static void record(worker_t *w, double latency) {
    if (w->nsamples == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 65536;
        w->samples = realloc(w->samples, w->cap * sizeof(double));
        if (!w->samples) abort();
    }
    w->samples[w->nsamples++] = latency;
}

static void *run_worker(void *arg) {
    worker_t *w = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < w->nconns; i++) {
        conn_t *c = &w->conns[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        if (send_request(c) != 0) w->errors++;
    }
    int open_conns = w->nconns;
    struct epoll_event events[256];
    while (open_conns > 0) {
        double t = now_us();
        if (t >= t_end) break;
        int timeout = (int)((t_end - t) / 1000) + 1;
        int n = epoll_wait(ep, events, 256, timeout);
        if (n < 0 && errno == EINTR) continue;
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            for (;;) {
                ssize_t r = read(c->fd, c->buf + c->have, BUF - c->have);
                if (r > 0) {
                    c->have += (size_t)r;
                    int status = 0;
                    long len = complete_response(c->buf, c->have, &status);
                    if (len < 0) goto broken;
                    if (len == 0) continue;
                    double done = now_us();
                    if (c->have != (size_t)len) goto broken; /* one request in flight: nothing may follow */
                    c->have = 0;
                    if (c->sent_at >= t_measure && done <= t_end) {
                        w->requests++;
                        record(w, done - c->sent_at);
                        if (status != 200) w->non200++;
                    }
                    if (done < t_end && send_request(c) != 0) goto broken;
                    break;
                }
                if (r < 0 && errno == EINTR) continue;
                if (r < 0 && errno == EAGAIN) break;
            broken:
                w->errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                open_conns--;
                break;
            }
        }
    }
    close(ep);
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *s, size_t n, double p) {
    if (n == 0) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return s[i];
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: http_load SOCKET URL_PATH CLIENTS SECONDS WARMUP_SECONDS [THREADS [JSON_BODY]]\n");
        return 64;
    }
    sock_path = argv[1];
    int clients = atoi(argv[3]);
    double seconds = atof(argv[4]), warmup = atof(argv[5]);
    int threads = argc > 6 ? atoi(argv[6]) : 1;
    if (clients < 1 || seconds <= 0 || warmup < 0 || threads < 1) return 64;
    if (threads > clients) threads = clients;
    int n;
    if (argc > 7)
        n = snprintf(request, sizeof request,
                     "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     argv[2], strlen(argv[7]), argv[7]);
    else
        n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", argv[2]);
    if (n < 0 || (size_t)n >= sizeof request) return 64;
    request_len = (size_t)n;

    conn_t *conns = calloc((size_t)clients, sizeof(conn_t));
    for (int i = 0; i < clients; i++) {
        conns[i].fd = open_conn();
        if (conns[i].fd < 0) {
            fprintf(stderr, "http_load: cannot connect to %s: %s\n", sock_path, strerror(errno));
            return 1;
        }
    }
    worker_t *ws = calloc((size_t)threads, sizeof(worker_t));
    pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    t_start = now_us();
    t_measure = t_start + warmup * 1e6;
    t_end = t_measure + seconds * 1e6;
    int per = clients / threads, extra = clients % threads, next = 0;
    for (int i = 0; i < threads; i++) {
        ws[i].index = i;
        ws[i].nconns = per + (i < extra);
        ws[i].conns = conns + next;
        next += ws[i].nconns;
        pthread_create(&tids[i], NULL, run_worker, &ws[i]);
    }
    long requests = 0, non200 = 0, errors = 0;
    size_t total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        requests += ws[i].requests;
        non200 += ws[i].non200;
        errors += ws[i].errors;
        total += ws[i].nsamples;
    }
    double wall = (now_us() - t_start) / 1e6;
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, ws[i].samples, ws[i].nsamples * sizeof(double));
        k += ws[i].nsamples;
    }
    qsort(all, total, sizeof(double), cmp);
    printf("{\"clients\":%d,\"threads\":%d,\"seconds\":%.3f,\"requests\":%ld,\"rps\":%.1f,"
           "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"non200\":%ld,\"errors\":%ld,"
           "\"loadgen_cpu_fraction_of_one_core\":%.3f}\n",
           clients, threads, seconds, requests, (double)requests / seconds, pct(all, total, 0.5), pct(all, total, 0.9),
           pct(all, total, 0.99), total ? all[total - 1] : 0, non200, errors, cpu / wall);
    for (int i = 0; i < clients; i++)
        if (conns[i].fd >= 0) close(conns[i].fd);
    return errors > 0 && requests == 0 ? 1 : 0;
}
