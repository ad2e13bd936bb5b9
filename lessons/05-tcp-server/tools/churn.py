#!/usr/bin/env python3
"""Connect and close in a loop for SECS seconds, from 127.0.0.1 to 127.0.0.1:PORT, then the
growth of the server's log. Each connection sends SEND (Python escapes: 'x\\n\\n' is a bad HTTP
request; nothing by default), reads until the server closes if it sent something, and
closes with a reset (SO_LINGER 0). HOLD connections are opened first and kept, so that with
HOLD = --max-per-address every later one is refused.
usage: churn.py PORT LOGFILE SECS [SEND [HOLD]]   (SECS <= 60)"""
import os, socket, struct, sys, time
port, log, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
send = sys.argv[4].encode().decode("unicode_escape").encode("latin-1") if len(sys.argv) > 4 else b""
hold = int(sys.argv[5]) if len(sys.argv) > 5 else 0
assert secs <= 60
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(hold)]
before = os.path.getsize(log)
n, end = 0, time.time() + secs
while time.time() < end:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        if send:
            s.sendall(send)
            while s.recv(4096):
                pass
    except OSError:
        pass
    s.close()
    n += 1
time.sleep(1)
grew = os.path.getsize(log) - before
print(f"RESULT {n} connections in {secs:.0f} s, log grew {grew} B ({grew / secs / 1e3:.0f} kB/s)")
