#!/usr/bin/env python3
"""Requests for a missing file with a long name, one connection each, for SECS seconds: the
name is 1,333 zero-width spaces (U+200B, 3 bytes each). It prints how many requests it sent,
and how many bytes; compare with the size of the server's log.

usage: long_names.py PORT [SECS=5]
"""
import socket
import sys
import time

port = int(sys.argv[1])
secs = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
request = b"GET 0 - " + "\u200b".encode() * 1333 + b"\n"
n = sent = 0
t0 = time.monotonic()
while time.monotonic() - t0 < secs:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(request)
        sent += len(request)
        try:
            s.recv(4096)
        except OSError:
            pass
    n += 1
print(f"{n} requests, {sent} bytes in {secs:g} s")
