#!/bin/sh
# IPv6 makes addresses free: one machine can take thousands of its LAN's /64. In a private
# network namespace (root), the server binds 2001:db8::1; the attacker holds PER connections
# from each of ADDRS addresses 2001:db8::1:0 onwards, each sending a byte a second and
# connecting again when closed (evict_active.py's attack); a person at 2001:db8::ffff types a
# line every 3 s for 30 s. Prints how many times the person was closed.
# usage: v6_many_addresses.sh BINARY ADDRS PER [extra server flags...]
bin=$(readlink -f "$1"); addrs=$2; per=$3; shift 3
ns=att6m-$$
ip netns add $ns || exit 1
trap 'kill $pid 2>/dev/null; ip netns del $ns; rm -f /tmp/$ns.*' EXIT
ip -n $ns link set lo up
ip -n $ns -6 addr add 2001:db8::1/64 dev lo nodad
ip -n $ns -6 addr add 2001:db8::ffff/64 dev lo nodad
python3 -c "
for a in range($addrs): print(f'addr add 2001:db8::1:{a:x}/64 dev lo nodad')" > /tmp/$ns.batch
ip -n $ns -6 -batch /tmp/$ns.batch
ip netns exec $ns sh -c "ulimit -n 20000; exec \"$bin\" --bind 2001:db8::1 --port 10050 --quiet $*" > /tmp/$ns.log 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q 'listening on' /tmp/$ns.log && break; sleep 0.1; done
ip netns exec $ns python3 - $addrs $per <<'PY'
import resource, selectors, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
addrs, per = int(sys.argv[1]), int(sys.argv[2])
SERVER = ("2001:db8::1", 10050)
sel = selectors.DefaultSelector(); conns = {}; reconnects = 0
def connect(src):
    s = socket.socket(socket.AF_INET6); s.bind((src, 0)); s.setblocking(False)
    try: s.connect(SERVER)
    except BlockingIOError: pass
    sel.register(s, selectors.EVENT_READ); conns[s] = [src, time.monotonic() + 1.0]
for a in range(addrs):
    for _ in range(per):
        connect(f"2001:db8::1:{a:x}")
def pump(until):
    global reconnects
    while time.monotonic() < until:
        for key, _ in sel.select(0.05):
            s = key.fileobj
            try: data = s.recv(4096)
            except OSError: data = b""
            if not data:
                src = conns.pop(s)[0]; sel.unregister(s); s.close()
                if reconnects < 20000: reconnects += 1; connect(src)
        now = time.monotonic()
        for s, st in list(conns.items()):
            if st[1] <= now:
                st[1] = now + 1.0
                try: s.send(b"x")
                except OSError: pass
pump(time.monotonic() + 4)
start = time.monotonic(); evictions = 0; v = None; next_line = start; lines = 0
while time.monotonic() - start < 30:
    if v is None:
        v = socket.socket(socket.AF_INET6); v.bind(("2001:db8::ffff", 0)); v.settimeout(5); v.connect(SERVER); v.setblocking(False)
    now = time.monotonic()
    if now >= next_line:
        next_line = now + 3
        try: v.send(b"hello from the victim\n"); lines += 1
        except OSError: pass
    pump(min(next_line, time.monotonic() + 0.2))
    try:
        if v.recv(4096) == b"": raise ConnectionResetError
    except BlockingIOError: pass
    except OSError: evictions += 1; v.close(); v = None
print(f"attacker {addrs} addresses x {per}: {len(conns)} connections; victim typed {lines} lines in 30 s, closed {evictions} times; attacker reconnects {reconnects}", flush=True)
PY
