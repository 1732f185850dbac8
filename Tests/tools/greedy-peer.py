#!/usr/bin/env python3
"""A greedy local client for jpkid's fairness tests (never used against anything but a test daemon).

greedy-peer.py SOCKET UID COUNT MODE
  Switches to UID (no groups), opens COUNT connections to SOCKET and holds them. MODE `idle` only
  connects; MODE `events` subscribes each connection to /v1/events and never reads an answer.
  Prints {"opened": N} once all connections are made, then, for every line `report` on stdin, one
  JSON line counting the connections by the daemon's first answer (status code, or "none") and by
  whether the daemon closed them — without reading anything (MSG_PEEK + POLLRDHUP), so a stream
  that is not read stays unread. Exits when stdin closes.
"""
import json
import os
import resource
import select
import socket
import sys

path, uid, count, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, count + 64), max(hard, count + 64)))
os.setgroups([])
os.setgid(uid)
os.setuid(uid)

socks = []
failed = 0
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        if mode == "events":
            s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        socks.append(s)
    except OSError:
        failed += 1
        s.close()
print(json.dumps({"opened": len(socks), "failed": failed}), flush=True)


def report():
    poller = select.poll()
    for s in socks:
        poller.register(s.fileno(), select.POLLRDHUP)
    hung = {fd for fd, ev in poller.poll(0) if ev & (select.POLLRDHUP | select.POLLHUP)}
    counts = {}
    for s in socks:
        try:
            head = s.recv(16, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            head = b""
        except OSError:
            head = b""
        parts = head.split(b" ")
        status = parts[1].decode() if head.startswith(b"HTTP/1.1 ") and len(parts) > 1 else "none"
        key = status + (" closed" if s.fileno() in hung else " open")
        counts[key] = counts.get(key, 0) + 1
    return counts


for line in sys.stdin:
    if line.strip() == "report":
        print(json.dumps(report()), flush=True)
