#!/usr/bin/env python3
"""Screen flood from many forged sources: a stranger cycles ADDRS source addresses
(127.0.1.0 upwards: on a LAN, forged sources cost nothing), each sending datagrams in turn,
RATE datagrams a second in all for SECS seconds; a friend at 127.0.0.1 sends one message a
second. Prints lines in the victim's output (file OUT), how many came from the stranger, and
how many of the friend's messages were shown (and whether notes of unshown ones appeared).
usage: flood_many.py PORT OUT ADDRS RATE SECS PAYLOAD FRIEND_PAYLOAD"""
import socket, sys, time
port, out, addrs, rate, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
payload, fpayload = sys.argv[6].encode(), sys.argv[7].encode()
socks = []
for i in range(addrs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((f"127.0.{1 + i // 250}.{1 + i % 250}", 0)); socks.append(s)
f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); f.bind(("127.0.0.1", 0))
t0 = time.monotonic(); sent = 0; fsent = 0; i = 0
while time.monotonic() - t0 < secs:
    now = time.monotonic() - t0
    while sent < now * rate:
        socks[i % addrs].sendto(payload.replace(b"#", str(sent).encode()), ("127.0.0.1", port))
        sent += 1; i += 1
    if fsent < now:
        f.sendto(fpayload.replace(b"#", str(fsent).encode()), ("127.0.0.1", port)); fsent += 1
    time.sleep(0.001)
time.sleep(1)
lines = open(out, errors="replace").read().splitlines()
fport = str(f.getsockname()[1])
friend = [l for l in lines if fport in l]
print(f"{sent} datagrams from {addrs} addresses in {secs} s; friend sent {fsent}; output {len(lines)} lines; "
      f"from 127.0.1-: {sum('127.0.1.' in l or '127.0.2.' in l or '127.0.3.' in l or '127.0.4.' in l or '127.0.5.' in l for l in lines)}; "
      f"friend lines shown: {sum('friend' in l for l in friend)}; notes: {sum('not shown' in l for l in lines)}")
for l in lines:
    if 'not shown' in l: print('  note:', l[:160]); break
