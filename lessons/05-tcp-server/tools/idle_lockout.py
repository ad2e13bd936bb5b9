#!/usr/bin/env python3
"""Idle lockout from many addresses: A source addresses (127.0.0.10..) x C connections, each
served once, then idle; then V victims from 127.0.0.1 try to get an echo.
usage: idle_lockout.py PORT A C V"""
import socket, sys, time, resource
port, A, C, V = map(int, sys.argv[1:5])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
t0 = time.time()
for a in range(A):
    for c in range(C):
        s = socket.socket()
        s.bind((f"127.0.0.{10 + a}", 0))
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"x")
            if s.recv(1) == b"x":
                held.append(s)
                continue
        except OSError:
            pass
        s.close()  # refused: the server has no room for it
print(f"attacker holds {len(held)} connections after {time.time()-t0:.1f}s")
served = 0
lat = []
for v in range(V):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    t = time.time()
    try:
        s.sendall(b"hello")
        got = b""
        while len(got) < 5:
            d = s.recv(5)
            if not d:
                break
            got += d
        if got == b"hello":
            served += 1
            lat.append(time.time() - t)
    except OSError as e:
        pass
    held.append(s)  # the victim stays connected (idle), like a real user
closed = 0
attackers = len(held) - V
for s in held[:attackers]:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print(f"RESULT victims served {served} of {V}, max latency {max(lat or [0])*1000:.0f} ms; attacker connections closed: {closed}")
