#!/usr/bin/env python3
"""Readers that read nothing, renewed: PER_ADDR connections from each of 127.0.0.2 ..
127.0.0.(1+ADDRS) ask for PATH (a big file) and never read (SO_RCVBUF 4 KiB); every CYCLE
seconds each is closed and opened again (before the server's --timeout would drop it), and
at once if it was answered 503. A
victim at 127.0.0.1 asks `GET /a.txt` every 0.5 s. Bounded: ADDRS*PER_ADDR <= 512, SECS <= 60.
usage: nonreaders.py PORT PATH ADDRS PER_ADDR CYCLE SECS"""
import socket, sys, time
port, path, addrs, per, cycle, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
assert addrs * per <= 512 and secs <= 60
req = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
def opened(src):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); s.bind((src, 0))
    try: s.connect(("127.0.0.1", port)); s.sendall(req)
    except OSError: pass
    return [s, time.monotonic()]
srcs = [f"127.0.0.{2 + a}" for a in range(addrs) for _ in range(per)]
conns = [opened(src) for src in srcs]
t0 = time.monotonic(); last_victim = 0; ok = busy = other = 0; answers = []
while time.monotonic() - t0 < secs:
    now = time.monotonic()
    for i, (s, since) in enumerate(conns):
        refused = False
        try: refused = s.recv(12, socket.MSG_PEEK | socket.MSG_DONTWAIT).startswith(b"HTTP/1.1 503")
        except OSError: pass
        if refused or now - since >= cycle:
            s.close(); conns[i] = opened(srcs[i])
    if now - last_victim >= 0.5:
        last_victim = now
        try:
            v = socket.create_connection(("127.0.0.1", port), timeout=3)
            v.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            r = v.recv(100); v.close()
            if b" 200 " in r: ok += 1; answers.append("+")
            elif b" 503 " in r: busy += 1; answers.append("5")
            else: other += 1; answers.append("?")
        except OSError: other += 1; answers.append("x")
    time.sleep(0.02)
print(f"{addrs}x{per} non-readers renewed every {cycle} s; victim ok={ok} 503={busy} other={other}")
print("victim, every 0.5 s:", "".join(answers))
