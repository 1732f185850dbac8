/*
 * raw_transmit: the baseline for bench/run's per-APDU cost. A plain C loop of SCardTransmit
 * calls against one reader, inside one SCardBeginTransaction/SCardEndTransaction (as our
 * PCSCCard.perform does), with no processing beyond checking SW 90 00.
 *
 *   raw_transmit READER APDU_HEX COUNT WARMUP
 *
 * Prints one JSON line: wall and CPU (user + system, this process) microseconds per APDU.
 * Build: gcc -O2 -o raw_transmit raw_transmit.c $(pkg-config --cflags --libs libpcsclite)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <winscard.h>

static int parse_hex(const char *s, BYTE *out, size_t max) {
    size_t n = strlen(s);
    if (n % 2 != 0 || n / 2 > max) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (BYTE)v;
    }
    return (int)(n / 2);
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static int transmit_loop(SCARDHANDLE h, const SCARD_IO_REQUEST *pci, const BYTE *cmd, DWORD len, long n) {
    static BYTE resp[MAX_BUFFER_SIZE_EXTENDED];
    for (long i = 0; i < n; i++) {
        DWORD rlen = sizeof resp;
        LONG rc = SCardTransmit(h, pci, cmd, len, NULL, resp, &rlen);
        if (rc != SCARD_S_SUCCESS) {
            fprintf(stderr, "raw_transmit: SCardTransmit: %s\n", pcsc_stringify_error(rc));
            return -1;
        }
        if (rlen < 2 || resp[rlen - 2] != 0x90 || resp[rlen - 1] != 0x00) {
            fprintf(stderr, "raw_transmit: unexpected status word\n");
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: raw_transmit READER APDU_HEX COUNT WARMUP\n");
        return 64;
    }
    BYTE cmd[512];
    int len = parse_hex(argv[2], cmd, sizeof cmd);
    long count = atol(argv[3]), warmup = atol(argv[4]);
    if (len < 4 || count <= 0 || warmup < 0) {
        fprintf(stderr, "raw_transmit: bad APDU or counts\n");
        return 64;
    }
    SCARDCONTEXT ctx;
    SCARDHANDLE h;
    DWORD proto;
    LONG rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
    if (rc != SCARD_S_SUCCESS) {
        fprintf(stderr, "raw_transmit: SCardEstablishContext: %s\n", pcsc_stringify_error(rc));
        return 1;
    }
    rc = SCardConnect(ctx, argv[1], SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &h, &proto);
    if (rc != SCARD_S_SUCCESS) {
        fprintf(stderr, "raw_transmit: SCardConnect: %s\n", pcsc_stringify_error(rc));
        return 1;
    }
    const SCARD_IO_REQUEST *pci = proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    rc = SCardBeginTransaction(h);
    if (rc != SCARD_S_SUCCESS) {
        fprintf(stderr, "raw_transmit: SCardBeginTransaction: %s\n", pcsc_stringify_error(rc));
        return 1;
    }
    int status = 0;
    if (transmit_loop(h, pci, cmd, (DWORD)len, warmup) != 0) status = 1;
    double t0 = now_us(), c0 = cpu_us();
    if (status == 0 && transmit_loop(h, pci, cmd, (DWORD)len, count) != 0) status = 1;
    double t1 = now_us(), c1 = cpu_us();
    SCardEndTransaction(h, SCARD_LEAVE_CARD);
    SCardDisconnect(h, SCARD_LEAVE_CARD);
    SCardReleaseContext(ctx);
    if (status != 0) return 1;
    printf("{\"tool\":\"raw_transmit\",\"us_per_apdu\":%.3f,\"cpu_us_per_apdu\":%.3f,\"count\":%ld}\n",
           (t1 - t0) / (double)count, (c1 - c0) / (double)count, count);
    return 0;
}
