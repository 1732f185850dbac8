#!/usr/bin/env python3
"""Starts a service the way systemd starts jpkid.service from jpkid.socket, without systemd.

Reads the installed unit files (ListenStream=, SocketMode=, SocketUser=, SocketGroup= of the
socket unit; User=, Group=, ExecStart= of the service unit), creates the listening socket with
that owner and mode, passes it as fd 3 with LISTEN_FDS=1/LISTEN_PID, sets NOTIFY_SOCKET, drops to
the unit's user and group and runs ExecStart. Waits for READY=1 (Type=notify), prints the
service's pid and exits 0; exits 1 when the service exits or does not get ready in time.

    scripts/systemd-activate.py SOCKET_UNIT SERVICE_UNIT [TIMEOUT_SECONDS]
"""
import grp
import time
import os
import pwd
import shlex
import socket
import sys
import tempfile


def unit_values(path):
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";", "[")) or "=" not in line:
                continue
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def main():
    socket_unit, service_unit = sys.argv[1], sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    sock_cfg, svc_cfg = unit_values(socket_unit), unit_values(service_unit)
    path = sock_cfg["ListenStream"][-1]
    mode = int(sock_cfg.get("SocketMode", ["0666"])[-1], 8)
    sock_uid = pwd.getpwnam(sock_cfg.get("SocketUser", ["root"])[-1]).pw_uid
    sock_gid = grp.getgrnam(sock_cfg.get("SocketGroup", ["root"])[-1]).gr_gid
    user = pwd.getpwnam(svc_cfg["User"][-1])
    group = grp.getgrnam(svc_cfg.get("Group", [user.pw_name])[-1])
    argv = shlex.split(svc_cfg["ExecStart"][-1].lstrip("@-:+!"))

    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    os.chown(path, sock_uid, sock_gid)
    os.chmod(path, mode)

    notify_dir = tempfile.mkdtemp(prefix="notify.")
    notify_path = os.path.join(notify_dir, "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    os.chmod(notify_dir, 0o755)
    os.chown(notify_path, user.pw_uid, group.gr_gid)

    pid = os.fork()
    if pid == 0:
        try:
            if listener.fileno() != 3:
                os.dup2(listener.fileno(), 3)
            os.set_inheritable(3, True)
            # Our stdout carries the pid to the caller: the service writes to stderr (as under
            # systemd, where both go to the journal) and must not hold the caller's pipe open.
            os.dup2(2, 1)
            env = {
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "LISTEN_FDS": "1",
                "LISTEN_PID": str(os.getpid()),
                "LISTEN_FDNAMES": os.path.basename(socket_unit).rsplit(".", 1)[0],
                "NOTIFY_SOCKET": notify_path,
                "HOME": "/nonexistent",
                "LANG": "C.UTF-8",
            }
            # systemd sets JOURNAL_STREAM when stderr is the journal; the caller passes it on.
            if "JOURNAL_STREAM" in os.environ:
                env["JOURNAL_STREAM"] = os.environ["JOURNAL_STREAM"]
            os.setgroups([])
            os.setgid(group.gr_gid)
            os.setuid(user.pw_uid)
            os.closerange(4, 1024)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    listener.close()
    deadline = time.monotonic() + timeout
    notify.settimeout(0.2)
    try:
        while True:
            try:
                message = notify.recv(4096).decode(errors="replace")
                if "READY=1" in message.split("\n"):
                    break
            except socket.timeout:
                pass
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                raise RuntimeError("service exited before READY=1")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no READY=1 within {timeout} s")
    except RuntimeError as error:
        print(f"systemd-activate: {argv[0]} not ready: {error}", file=sys.stderr)
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
        sys.exit(1)
    finally:
        notify.close()
        os.unlink(notify_path)
        os.rmdir(notify_dir)
    print(pid)


if __name__ == "__main__":
    main()
