#!/usr/bin/env python3
"""Slow requests that reconnect, against file-download serve: PER_ADDR connections from each of
127.0.0.2 .. 127.0.0.(1+ADDRS) each send one byte of a request line every 2 s (the line never
ends) and reconnect at once when the server drops them; a victim at 127.0.0.1 asks
`LIST` every 0.5 s ("+" answered, "5" ERR busy). Bounded: ADDRS*PER_ADDR <= 512, SECS <= 60.
usage: slow_requests.py PORT ADDRS PER_ADDR SECS"""
import socket, sys, time, selectors
port, addrs, per, secs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
assert addrs * per <= 512 and secs <= 60
head = b"GET 0 - " + b"b" * 3000
def opened(src):
    s = socket.socket(); s.bind((src, 0)); s.setblocking(False)
    try: s.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    return s
sel = selectors.DefaultSelector()
conns = {}
for a in range(addrs):
    for _ in range(per):
        s = opened(f"127.0.0.{2 + a}"); conns[s] = [f"127.0.0.{2 + a}", 0]; sel.register(s, selectors.EVENT_READ)
t0 = time.monotonic(); last_byte = 0; last_victim = 0; ok = busy = other = reconnects = 0; answers = []
while time.monotonic() - t0 < secs:
    for key, _ in sel.select(timeout=0.05):
        s = key.fileobj
        try: d = s.recv(4096)
        except OSError: d = b""
        # any answer (ERR, close) ends it: reconnect from the same address
        src = conns.pop(s)[0]; sel.unregister(s); s.close()
        n = opened(src); conns[n] = [src, 0]; sel.register(n, selectors.EVENT_READ); reconnects += 1
    now = time.monotonic()
    if now - last_byte >= 2:
        last_byte = now
        for s, st in conns.items():
            try: s.send(head[st[1]:st[1] + 1]); st[1] += 1
            except OSError: pass
    if now - last_victim >= 0.5:
        last_victim = now
        try:
            v = socket.create_connection(("127.0.0.1", port), timeout=3)
            v.sendall(b"LIST\n")
            r = v.recv(100); v.close()
            if r.startswith(b"OK"): ok += 1; answers.append("+")
            elif r.startswith(b"ERR busy"): busy += 1; answers.append("5")
            else: other += 1; answers.append("?")
        except OSError: other += 1; answers.append("x")
print(f"{addrs}x{per} slow requests, {reconnects} reconnects in {secs:.0f} s; victim ok={ok} busy={busy} other={other}")
print("victim, every 0.5 s:", "".join(answers))
