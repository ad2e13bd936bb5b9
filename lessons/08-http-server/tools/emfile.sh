#!/bin/sh
# Descriptor exhaustion: SERVER under `ulimit -n 32`, 40 idle connections from 127.0.0.2..5,
# then one newcomer from 127.0.0.1 asks REQUEST; prints what it got within 5 s and the server's
# CPU time over those 5 s (a spin on EMFILE shows as ~500 ticks/5 s... here: clock ticks).
# usage: emfile.sh 'REQUEST' SERVER [flags...]
REQ=$1; shift
LOG=$(mktemp)
sh -c 'ulimit -n 32 && exec "$@"' sh "$@" --port 0 > "$LOG" 2>&1 & SP=$!
while ! grep -q listening "$LOG"; do sleep 0.1; done
P=$(head -1 "$LOG" | sed 's/.*:\([0-9]*\) .*/\1/')
python3 - "$P" "$SP" "$REQ" <<'PY'
import socket, sys, time
port, pid, req = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode().decode('unicode_escape').encode()
def ticks():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
held = []
for i in range(40):
    s = socket.socket(); s.bind((f"127.0.0.{2 + i % 4}", 0)); s.settimeout(2)
    try: s.connect(("127.0.0.1", port)); held.append(s)
    except OSError as e: print("attacker connect", i, e)
time.sleep(0.5)
t0 = ticks()
v = socket.create_connection(("127.0.0.1", port), timeout=5)
v.sendall(req)
try: got = v.recv(200)
except OSError as e: got = repr(e).encode()
time.sleep(2)
print(f"held {len(held)}; newcomer got {got[:100]!r}; server CPU {ticks() - t0} ticks in ~2.5 s")
PY
kill $SP; grep -v "^received\|^GET\|^\"\|^no request\|^closed" "$LOG" | head -8; rm -f "$LOG"
