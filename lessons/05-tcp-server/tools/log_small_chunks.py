#!/usr/bin/env python3
"""Log amplification by tiny chunks: N one-byte writes to an echo server, each waiting for its
echo (so each is a separate chunk), then the growth of the server's log.
usage: log_small_chunks.py PORT LOGFILE N   (N <= 50000)"""
import os, socket, sys, time
port, log, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
assert n <= 50000
before = os.path.getsize(log)
s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); s.settimeout(5)
t0 = time.time()
for i in range(n):
    s.sendall(b"\x7f"); s.recv(16)
dt = time.time() - t0
s.close(); time.sleep(1)
grew = os.path.getsize(log) - before
print(f"RESULT {n} B sent as {n} chunks in {dt:.1f}s, log grew {grew} B (x{grew/n:.0f}), {grew/dt/1e6:.2f} MB/s of log")
