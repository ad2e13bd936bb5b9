#!/usr/bin/env python3
"""An echo client that sends as fast as it can and never reads: does the server's memory grow
with what it cannot send back? Sends for SECS seconds (non-blocking, so it never hangs), then
prints the bytes the server took and the server's VmRSS.
usage: never_reads.py PORT PID [SECS=10] [CONNS=1]"""
import socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
secs = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
conns = int(sys.argv[4]) if len(sys.argv) > 4 else 1
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"):
            return l.split()[1] + " kB"
print("before:", rss())
socks = []
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
chunk = b"x" * 65536
sent = 0
end = time.monotonic() + secs
while socks and time.monotonic() < end:
    progress = False
    for s in list(socks):
        try:
            sent += s.send(chunk); progress = True
        except BlockingIOError:
            pass
        except (ConnectionResetError, BrokenPipeError) as e:
            # What the server does to a client that reads none of its echo (--idle-timeout).
            print(f"the server reset a connection ({e.strerror}) after {sent} bytes in all")
            socks.remove(s); s.close()
    if not progress:
        time.sleep(0.05)
print(f"sent {sent} bytes on {conns} connection(s) in {secs:.0f} s; server VmRSS {rss()}")
time.sleep(2)
print(f"2 s later: VmRSS {rss()}")
for s in socks: s.close()
