#!/usr/bin/env python3
"""Many busy clients: N connections from 127.0.4.2.. (50 per address) each sent 16 KiB and read
back, round after round, from a child process; meanwhile another client from 127.0.0.1 asks for
a 5-byte echo every 0.1 s for SECS seconds, and the times are printed.
usage: busy_clients.py PORT N SECS"""
import os, resource, socket, sys, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
conns = []
for i in range(n):
    s = socket.socket()
    s.bind((f"127.0.{4 + i // 50 // 250}.{2 + (i // 50) % 250}", 0))
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    conns.append(s)
child = os.fork()
if child == 0:
    block, end = b"z" * 16384, time.time() + secs + 2
    while time.time() < end:
        for s in conns:
            try:
                s.send(block)
            except (BlockingIOError, ConnectionError):
                pass
            try:
                while s.recv(1 << 20):
                    pass
            except (BlockingIOError, ConnectionError):
                pass
    os._exit(0)
time.sleep(1.5)  # the busy ones get going
v = socket.create_connection(("127.0.0.1", port), timeout=30)
times, start = [], time.time()
while time.time() - start < secs:
    t = time.time()
    v.sendall(b"ping\n")
    got = b""
    while len(got) < 5:
        got += v.recv(10)
    times.append(time.time() - t)
    time.sleep(0.1)
os.waitpid(child, 0)
times.sort()
print(f"{n} busy clients: {len(times)} echoes in {secs:.0f} s, median {1000 * times[len(times) // 2]:.1f} ms, "
      f"slowest {1000 * times[-1]:.1f} ms")
