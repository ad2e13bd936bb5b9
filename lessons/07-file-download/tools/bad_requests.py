#!/usr/bin/env python3
"""Bad requests (a control byte, then a newline), one connection each, for SECS seconds, from
127.0.0.1 to 127.0.0.1:PORT; then how much LOGFILE grew (the server's stdout, or its stderr).
Each connection reads its ERR and closes, or with `reset` closes at once with a reset
(SO_LINGER 0), before the ERR can be sent.

usage: bad_requests.py PORT LOGFILE [SECS=5] [reset]   (SECS <= 60)
"""
import os
import socket
import struct
import sys
import time

port, log = int(sys.argv[1]), sys.argv[2]
secs = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
reset = len(sys.argv) > 4 and sys.argv[4] == "reset"
assert secs <= 60
before = os.path.getsize(log)
n, end = 0, time.monotonic() + secs
while time.monotonic() < end:
    s = socket.socket()
    s.settimeout(2)
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"\x01\n")
        while not reset and s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
    n += 1
time.sleep(1)
grew = os.path.getsize(log) - before
print(f"{n} bad requests in {secs:.0f} s, {log} grew {grew} B")
