#!/usr/bin/env python3
"""Clients that hold a server's places, and a victim that asks every 0.5 s. For http-server
(--protocol http, the default) and file-download serve (--protocol download). Bounded:
ADDRS*PER_ADDR <= 512, SECS <= 60. Sources 127.0.0.2 .. 127.0.0.(1+ADDRS); the victim is at
127.0.0.1 and asks `GET /a.txt` (http) or `LIST` (download); "+" answered, "5" busy (503,
ERR busy).

slow PORT ADDRS PER_ADDR SECS: PER_ADDR connections from each address each send one byte of
  a request every 2 s (a head, a request line, that never ends) and reconnect at once when
  the server drops them (slowloris that reconnects).
nonreaders PORT PATH ADDRS PER_ADDR CYCLE SECS: each connection asks for PATH (a big file)
  and never reads (SO_RCVBUF 4 KiB); every CYCLE seconds each is closed and opened again
  (before the server's --timeout would drop it), and at once if it was told busy.
readers PORT PATH ADDRS PER_ADDR RATE SECS: each connection asks for PATH (a big file)
  and reads RATE bytes a second of it (in ten pieces), just above --min-rate, so that it is
  never stalled nor too slow; reconnects at once when dropped or told busy.
bodies PORT ADDRS PER_ADDR SECS (http): each connection sends a whole head that announces a
  body (Content-Length: 65536) and never sends the body; reconnects at once when dropped.
bad PORT ADDRS PER_ADDR SECS (http): each connection sends a head the server refuses (400),
  reads the answer, sends a byte every 20 ms while the server lingers, and reconnects at
  once when the server closes.
pipelined PORT ADDRS PER_ADDR SECS (http): each connection sends at once a request for 300 KB
  of /big (which fills most of the send buffer) and 3,000 HEAD /a.txt, and reads none of the
  answers (SO_RCVBUF 4 KiB); reconnects at once when dropped.

usage: lockout.py [--protocol http|download] slow|nonreaders|readers|bodies|bad|pipelined ARGS..."""
import socket, sys, time, selectors

HTTP = {
    "slow": b"GET / HTTP/1.1\r\nHost: x\r\nX-a: " + b"b" * 10000,
    "bodies": b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n",
    "bad": b"x\r\n\r\n",
    "pipelined": b"GET /big HTTP/1.1\r\nHost: x\r\nRange: bytes=0-299999\r\n\r\n"
        + b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n" * 3000,
    "get": lambda path: f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "victim": b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "ok": lambda r: b" 200 " in r, "busy": lambda r: b" 503 " in r,
    "refused": lambda r: r.startswith(b"HTTP/1.1 503"),
    "busy_name": "503", "slow_name": "slowloris",
}
DOWNLOAD = {
    "slow": b"GET 0 - " + b"b" * 3000,
    "get": lambda path: f"GET 0 - {path.lstrip('/')}\n".encode(),
    "victim": b"LIST\n",
    "ok": lambda r: r.startswith(b"OK"), "busy": lambda r: r.startswith(b"ERR busy"),
    "refused": lambda r: r.startswith(b"ERR busy"),
    "busy_name": "busy", "slow_name": "slow requests",
}

args = sys.argv[1:]
proto = HTTP
if args[:1] == ["--protocol"]:
    proto = {"http": HTTP, "download": DOWNLOAD}[args[1]]
    args = args[2:]
mode, args = args[0], args[1:]

class Victim:
    """Asks every 0.5 s on a new connection; tallies the answers."""
    def __init__(self, port):
        self.port, self.last, self.ok, self.busy, self.other, self.answers = port, 0, 0, 0, 0, []
    def maybe_ask(self, now):
        if now - self.last < 0.5:
            return
        self.last = now
        try:
            v = socket.create_connection(("127.0.0.1", self.port), timeout=3)
            v.sendall(proto["victim"])
            r = v.recv(100); v.close()
            if proto["ok"](r): self.ok += 1; self.answers.append("+")
            elif proto["busy"](r): self.busy += 1; self.answers.append("5")
            else: self.other += 1; self.answers.append("?")
        except OSError: self.other += 1; self.answers.append("x")
    def report(self, first):
        print(f"{first}; victim ok={self.ok} {proto['busy_name']}={self.busy} other={self.other}")
        print("victim, every 0.5 s:", "".join(self.answers))

def slow(port, addrs, per, secs):
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
    victim = Victim(port)
    t0 = time.monotonic(); last_byte = 0; reconnects = 0
    while time.monotonic() - t0 < secs:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try: s.recv(4096)
            except OSError: pass
            # any answer (408, 503, ERR, close) ends it: reconnect from the same address
            src = conns.pop(s)[0]; sel.unregister(s); s.close()
            n = opened(src); conns[n] = [src, 0]; sel.register(n, selectors.EVENT_READ); reconnects += 1
        now = time.monotonic()
        if now - last_byte >= 2:
            last_byte = now
            for s, st in conns.items():
                try: s.send(proto["slow"][st[1]:st[1] + 1]); st[1] += 1
                except OSError: pass
        victim.maybe_ask(now)
    victim.report(f"{addrs}x{per} {proto['slow_name']}, {reconnects} reconnects in {secs:.0f} s")

def nonreaders(port, path, addrs, per, cycle, secs):
    req = proto["get"](path)
    def opened(src):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); s.bind((src, 0))
        try: s.connect(("127.0.0.1", port)); s.sendall(req)
        except OSError: pass
        return [s, time.monotonic()]
    srcs = [f"127.0.0.{2 + a}" for a in range(addrs) for _ in range(per)]
    conns = [opened(src) for src in srcs]
    victim = Victim(port)
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        now = time.monotonic()
        for i, (s, since) in enumerate(conns):
            refused = False
            try: refused = proto["refused"](s.recv(12, socket.MSG_PEEK | socket.MSG_DONTWAIT))
            except OSError: pass
            if refused or now - since >= cycle:
                s.close(); conns[i] = opened(srcs[i])
        victim.maybe_ask(now)
        time.sleep(0.02)
    victim.report(f"{addrs}x{per} non-readers renewed every {cycle} s")

def at_once(port, addrs, per, secs, what):
    """Connections that each send `what` at once, read nothing, and reconnect when dropped."""
    payload = proto[what]
    def opened(src):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind((src, 0)); s.setblocking(False)
        try: s.connect(("127.0.0.1", port))
        except BlockingIOError: pass
        return [s, src, 0]
    conns = [opened(f"127.0.0.{2 + a}") for a in range(addrs) for _ in range(per)]
    victim = Victim(port)
    t0 = time.monotonic(); reconnects = 0
    while time.monotonic() - t0 < secs:
        for c in conns:
            s = c[0]
            if c[2] < len(payload):
                try: c[2] += s.send(payload[c[2]:])
                except (BlockingIOError, InterruptedError): continue
                except OSError: pass
                else: continue
            dead = False
            if what == "pipelined":
                # it reads nothing: the server's close shows in the state, not in a read
                try: dead = s.getsockopt(socket.SOL_TCP, socket.TCP_INFO, 1)[0] != 1
                except OSError: dead = True
            elif what == "bad":
                # the server's FIN comes first and its close a second later (lingering): a
                # byte sent after the close brings a reset
                try: s.recv(4096, socket.MSG_DONTWAIT); s.send(b"x")
                except (BlockingIOError, InterruptedError): pass
                except OSError: dead = True
            else:
                try: dead = s.recv(4096, socket.MSG_DONTWAIT) == b""
                except (BlockingIOError, InterruptedError): pass
                except OSError: dead = True
            if dead:
                s.close(); c[:] = opened(c[1]); reconnects += 1
        victim.maybe_ask(time.monotonic())
        time.sleep(0.02)
    victim.report(f"{addrs}x{per} {what}, {reconnects} reconnects in {secs:.0f} s")

def readers(port, path, addrs, per, rate, secs):
    req = proto["get"](path)
    def opened(src):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); s.bind((src, 0))
        try: s.connect(("127.0.0.1", port)); s.sendall(req)
        except OSError: pass
        s.setblocking(False)
        return s
    srcs = [f"127.0.0.{2 + a}" for a in range(addrs) for _ in range(per)]
    conns = [opened(src) for src in srcs]
    victim = Victim(port)
    t0 = time.monotonic(); last = 0; reconnects = 0
    while time.monotonic() - t0 < secs:
        now = time.monotonic()
        if now - last >= 0.1:
            last = now
            for i, s in enumerate(conns):
                try: d = s.recv(max(1, int(rate / 10)))
                except (BlockingIOError, InterruptedError): continue
                except OSError: d = b""
                if not d or proto["refused"](d):
                    s.close(); conns[i] = opened(srcs[i]); reconnects += 1
        victim.maybe_ask(now)
        time.sleep(0.01)
    victim.report(f"{addrs}x{per} readers at {rate:.0f} B/s, {reconnects} reconnects in {secs:.0f} s")

if mode == "slow":
    port, addrs, per, secs = int(args[0]), int(args[1]), int(args[2]), float(args[3])
    assert addrs * per <= 512 and secs <= 60
    slow(port, addrs, per, secs)
elif mode == "nonreaders":
    port, path, addrs, per, cycle, secs = int(args[0]), args[1], int(args[2]), int(args[3]), float(args[4]), float(args[5])
    assert addrs * per <= 512 and secs <= 60
    nonreaders(port, path, addrs, per, cycle, secs)
elif mode == "readers":
    port, path, addrs, per, rate, secs = int(args[0]), args[1], int(args[2]), int(args[3]), float(args[4]), float(args[5])
    assert addrs * per <= 512 and secs <= 60
    readers(port, path, addrs, per, rate, secs)
elif mode in ("bodies", "bad", "pipelined"):
    port, addrs, per, secs = int(args[0]), int(args[1]), int(args[2]), float(args[3])
    assert addrs * per <= 512 and secs <= 60 and proto is HTTP
    at_once(port, addrs, per, secs, mode)
else:
    sys.exit(__doc__)
