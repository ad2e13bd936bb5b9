#!/usr/bin/env python3
"""Eviction abused: 64 loopback addresses x PER connections fill an echo server's places
and each sends one byte every PERIOD s, so every attacker connection looks busier than a
person typing. A victim from 127.0.0.1 types one line every TYPE s. Whenever the server
evicts an attacker connection (to make room for the victim) the attacker reconnects, and the
server must evict someone: the client idle longest, which is now the victim.

usage: evict_active.py PORT [ADDRS=64] [PER=64] [PERIOD=1.0] [TYPE=3.0] [SECS=30]
Bounded: ADDRS*PER connections, at most 20,000 reconnects, SECS seconds."""
import resource, selectors, socket, sys, time

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

port = int(sys.argv[1])
addrs = int(sys.argv[2]) if len(sys.argv) > 2 else 64
per = int(sys.argv[3]) if len(sys.argv) > 3 else 64
period = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
typing = float(sys.argv[5]) if len(sys.argv) > 5 else 3.0
secs = float(sys.argv[6]) if len(sys.argv) > 6 else 30.0

sel = selectors.DefaultSelector()
conns = {}  # socket -> (source, next send time)
reconnects = 0


def connect(src):
    s = socket.socket()
    s.bind((src, 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    sel.register(s, selectors.EVENT_READ)
    conns[s] = [src, time.monotonic() + period]


for a in range(addrs):
    for _ in range(per):
        connect(f"127.0.0.{a + 2}")
        for key, _ in sel.select(0):
            pass
print(f"attacker: {len(conns)} connections from {addrs} addresses", flush=True)


def pump(until):
    global reconnects
    while time.monotonic() < until:
        for key, _ in sel.select(0.05):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                src = conns.pop(s)[0]
                sel.unregister(s)
                s.close()
                if reconnects < 20000:
                    reconnects += 1
                    connect(src)
        now = time.monotonic()
        for s, st in list(conns.items()):
            if st[1] <= now:
                st[1] = now + period
                try:
                    s.send(b"x")
                except OSError:
                    pass


# Let every attacker connection be accepted and send once.
pump(time.monotonic() + period + 2)

start = time.monotonic()
victim_lines = 0
evictions = 0
held = []
v = None
v_since = None
next_line = start
while time.monotonic() - start < secs:
    if v is None:
        v = socket.create_connection(("127.0.0.1", port), timeout=5)
        v.setblocking(False)
        v_since = time.monotonic()
    now = time.monotonic()
    if now >= next_line:
        next_line = now + typing
        try:
            v.send(b"hello from the victim\n")
            victim_lines += 1
        except OSError:
            pass
    pump(min(next_line, time.monotonic() + 0.2))
    try:
        data = v.recv(4096)
        if data == b"":
            raise ConnectionResetError
    except BlockingIOError:
        pass
    except OSError:
        evictions += 1
        held.append(time.monotonic() - v_since)
        v.close()
        v = None
print(f"victim: {victim_lines} lines typed in {secs:.0f} s, evicted {evictions} times; "
      f"held {['%.1f' % h for h in held]} s; attacker reconnects {reconnects}", flush=True)
