#!/usr/bin/env python3
"""Hostile and clumsy HTTP clients for tests/integration/limits.sh.

Every loop is bounded by a count or a deadline; every socket is closed
on exit.

  hostile.py idle PORT N HOLD SRC...      N connections that send nothing,
                                          from the SRC addresses in turn,
                                          held HOLD seconds; prints opened
  hostile.py busy PORT PATH N HOLD SRC    N connections that ask for PATH and
                                          never read; prints "N503 N"
  hostile.py trickle PORT EVERY MAX       a request head, a byte every EVERY
                                          seconds; prints the seconds until
                                          the daemon closed, or "open"
  hostile.py sender PORT PATH SECS PID CAP
                                          asks for PATH, reads slowly and
                                          sends 64 KiB chunks meanwhile (up
                                          to CAP bytes); prints
                                          "sent RSS_KIB_MAX" of process PID
  hostile.py neverread PORT PATH SECS     asks for PATH, never reads
  hostile.py pipeline PORT PATH SIZE      PATH and /healthz (a 12 KB header)
                                          in one go, the second sent while
                                          the first answer is held up;
                                          prints "ok" if both answers are right
"""
import resource
import select
import socket
import sys
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def request(path, extra=""):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path, extra)).encode()


def connect(port, src="127.0.0.1", rcvbuf=0, timeout=2.0):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmd_idle(port, n, hold, *srcs):
    raise_nofile()
    socks, opened, errors = [], 0, {}
    end = time.time() + 30
    for i in range(int(n)):
        if time.time() > end:
            break
        try:
            socks.append(connect(int(port), srcs[i % len(srcs)], timeout=3.0))
            opened += 1
        except OSError as e:
            errors[str(e)] = errors.get(str(e), 0) + 1
    if errors:
        print("idle: %r" % errors, file=sys.stderr)
    print(opened, flush=True)
    time.sleep(float(hold))
    for s in socks:
        s.close()


def cmd_busy(port, path, n, hold, src):
    raise_nofile()
    socks, refused = [], 0
    for _ in range(int(n)):
        try:
            s = connect(int(port), src, rcvbuf=4096, timeout=1.0)
            s.sendall(request(path))
            socks.append(s)
        except OSError:
            pass
    deadline = time.time() + 3
    for s in socks:
        s.settimeout(max(0.01, min(0.2, deadline - time.time())))
        try:
            if s.recv(64).startswith(b"HTTP/1.1 503"):
                refused += 1
        except OSError:
            pass
    print("%d %d" % (refused, len(socks)), flush=True)
    time.sleep(float(hold))
    for s in socks:
        s.close()


def cmd_trickle(port, every, maxsecs):
    head = request("/healthz", "X-Slow: " + "a" * 64 + "\r\n")
    s = connect(int(port))
    t0 = time.time()
    try:
        for b in head:
            if time.time() - t0 > float(maxsecs):
                print("open")
                return
            s.send(bytes([b]))
            r, _, _ = select.select([s], [], [], float(every))
            if r:
                s.recv(4096)   # an answer or the end: closed either way
                print("%.1f" % (time.time() - t0))
                return
        print("complete")
    except OSError:
        print("%.1f" % (time.time() - t0))
    finally:
        s.close()


def cmd_sender(port, path, secs, pid, cap):
    s = connect(int(port), timeout=5)
    s.sendall(request(path))
    s.setblocking(False)
    junk = b"x" * 65536
    sent, peak, end = 0, rss_kib(int(pid)), time.time() + float(secs)
    while time.time() < end:
        r, w, _ = select.select([s], [s], [], 0.05)
        try:
            if w and sent < int(cap):
                sent += s.send(junk)
            if r:
                if not s.recv(16384):
                    break
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            break
        peak = max(peak, rss_kib(int(pid)))
        time.sleep(0.005)
    s.close()
    print("%d %d" % (sent, peak))


def cmd_neverread(port, path, secs):
    s = connect(int(port), rcvbuf=4096, timeout=5)
    s.sendall(request(path))
    time.sleep(float(secs))
    s.close()


def read_answer(s, buf):
    """One answer from buf + s: (status, body, rest)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise OSError("closed in the head")
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ")[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, v = line.split(b":", 1)
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(buf) < length:
        d = s.recv(1 << 20)
        if not d:
            raise OSError("closed in the body")
        buf += d
    return status, buf[:length], buf[length:]


def cmd_pipeline(port, path, size):
    s = connect(int(port), timeout=10)
    s.sendall(request(path))
    time.sleep(0.5)          # the answer is held up: we do not read
    s.sendall(request("/healthz", "X-Pad: " + "p" * 12000 + "\r\n"))
    try:
        st1, body1, rest = read_answer(s, b"")
        st2, body2, _ = read_answer(s, rest)
    except OSError as e:
        print("broken: %s" % e)
        return
    finally:
        s.close()
    ok = st1 == 200 and len(body1) == int(size) and st2 == 200 and body2 == b"ok\n"
    print("ok" if ok else "wrong: %d %d %d %r" % (st1, len(body1), st2, body2[:20]))


if __name__ == "__main__":
    cmds = {"idle": cmd_idle, "busy": cmd_busy, "trickle": cmd_trickle,
            "sender": cmd_sender, "neverread": cmd_neverread,
            "pipeline": cmd_pipeline}
    cmds[sys.argv[1]](*sys.argv[2:])
