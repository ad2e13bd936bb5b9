#!/usr/bin/env python3
"""A client that reads 342 bytes a second: `GET 0 - NAME` with a 4 KiB receive buffer, then
one recv(342) a second until the connection ends. It prints how it ended, and when.

usage: slow_reader.py PORT [NAME=big.bin]
"""
import socket
import sys
import time

port = int(sys.argv[1])
name = sys.argv[2] if len(sys.argv) > 2 else "big.bin"
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
t0 = time.monotonic()
s.sendall(f"GET 0 - {name}\n".encode())
total = 0
while True:
    try:
        b = s.recv(342)
    except OSError as e:
        print(f"{time.monotonic() - t0:.1f} s: {e!r} after {total} bytes", flush=True)
        break
    if not b:
        print(f"{time.monotonic() - t0:.1f} s: EOF after {total} bytes", flush=True)
        break
    total += len(b)
    time.sleep(1)
