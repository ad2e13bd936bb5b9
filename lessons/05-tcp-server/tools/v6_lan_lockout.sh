#!/bin/sh
# A classroom LAN with IPv6: every machine of one LAN has an address in the same /64.
# In a private network namespace (root), the server binds 2001:db8::1; the attacker holds
# N idle connections from 2001:db8::2; a classmate from 2001:db8::3 tries to get an echo.
# usage: [SUB=serve] v6_lan_lockout.sh BINARY [N=64] [extra server flags...]
bin=$(readlink -f "$1"); shift
n=${1:-64}; [ $# -gt 0 ] && shift
ns=att6-$$
ip netns add $ns || exit 1
trap 'kill $pid 2>/dev/null; ip netns del $ns' EXIT
ip -n $ns link set lo up
for a in 1 2 3; do ip -n $ns -6 addr add 2001:db8::$a/64 dev lo nodad; done
ip netns exec $ns "$bin" $SUB --bind 2001:db8::1 --port 0 "$@" > /tmp/$ns.log 2>&1 &
pid=$!
for _ in $(seq 50); do port=$(grep -m1 -o 'listening on [^ ]*' /tmp/$ns.log | sed 's/.*://'); [ -n "$port" ] && break; sleep 0.1; done
ip netns exec $ns timeout 30 python3 - "$port" "$n" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(n):
    s = socket.socket(socket.AF_INET6); s.settimeout(3)
    s.bind(("2001:db8::2", 0)); s.connect(("2001:db8::1", port))
    held.append(s)
ok = 0
for i in range(5):
    v = socket.socket(socket.AF_INET6); v.settimeout(3)
    v.bind(("2001:db8::3", 0))
    try:
        v.connect(("2001:db8::1", port)); v.sendall(b"GET /a.txt HTTP/1.0\r\n\r\n")
        data = v.recv(100)
        print(f"classmate try {i}: got {data!r}")
        ok += bool(data) and b" 503 " not in data and b"busy" not in data and b"refused" not in data
    except OSError as e:
        print(f"classmate try {i}: {e}")
    v.close()
print(f"attacker 2001:db8::2 holds {len(held)} idle connections; classmate 2001:db8::3 served {ok} of 5")
PY
grep -m2 "refused\|503" /tmp/$ns.log
rm -f /tmp/$ns.log
