#!/usr/bin/env python3
"""Kills a process with SIGKILL a given time after an event in a log:

    killafter.py LOG OFFSET REGEX COUNT DELAY_MS PID [TIMEOUT_S]

Watches LOG (an access log, appended to) from byte OFFSET until COUNT
lines matching REGEX have appeared, waits DELAY_MS milliseconds, then
kills PID. If the lines do not appear within TIMEOUT_S seconds (default
20), PID is killed anyway and the exit status is 1. Polls every half
millisecond, so the kill lands within about a millisecond of the aim.
"""
import os
import re
import signal
import sys
import time


def main():
    log, offset, regex, count, delay_ms, pid = sys.argv[1:7]
    timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 20.0
    offset, count, pid = int(offset), int(count), int(pid)
    pattern = re.compile(regex)
    deadline = time.monotonic() + timeout
    seen, pending = 0, b""
    with open(log, "rb") as f:
        f.seek(offset)
        while seen < count and time.monotonic() < deadline:
            chunk = f.read()
            if not chunk:
                time.sleep(0.0005)
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            seen += sum(1 for l in lines
                        if pattern.search(l.decode("latin-1")))
    reached = seen >= count
    if reached:
        time.sleep(int(delay_ms) / 1000.0)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    sys.exit(0 if reached else 1)


if __name__ == "__main__":
    main()
