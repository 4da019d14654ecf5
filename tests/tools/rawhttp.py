#!/usr/bin/python3
"""Sends raw bytes to HOST:PORT and prints the status line of the answer
(or NONE when the server just closed). For malformed-request tests.

rawhttp.py PORT < request-bytes
"""
import socket
import sys

data = sys.stdin.buffer.read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
try:
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass
buf = b""
try:
    while len(buf) < 65536:
        b = s.recv(4096)
        if not b:
            break
        buf += b
except OSError:
    pass
line = buf.split(b"\r\n", 1)[0].decode("latin-1")
print(line if line else "NONE")
sys.stdout.write(buf.decode("latin-1"))
