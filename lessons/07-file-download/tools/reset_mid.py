#!/usr/bin/env python3
"""Resets in the middle of an answer: connect from 127.0.0.2..201 in turn, send REQUEST, read
the first bytes of the answer (with a 4 KiB receive buffer the rest waits), then close with
SO_LINGER 0 (a reset), for SECS seconds.
usage: reset_mid.py PORT 'REQUEST' SECS   (REQUEST with \\n escapes, e.g. 'GET 0 - huge.bin\\n')"""
import socket, struct, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[3])
req = sys.argv[2].encode().decode("unicode_escape").encode()
n, start = 0, time.time()
while time.time() - start < secs:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((f"127.0.0.{2 + n % 200}", 0))
    s.connect(("127.0.0.1", port))
    s.sendall(req)
    try:
        s.recv(1000)
    except OSError:
        pass
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    n += 1
print(f"{n} answers reset in {secs:.0f} s")
