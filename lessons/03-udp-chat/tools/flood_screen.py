#!/usr/bin/env python3
"""Screen flood: a stranger at 127.0.0.2 sends N datagrams (PAYLOAD) to a UDP peer that prints
what arrives (udp-chat, feiq listen); a friend at 127.0.0.1 sends FRIEND messages spread among
them. Prints how many lines the victim's output (stdout in the file OUT) has in all, and how
many of them came from the stranger.
usage: flood_screen.py PORT OUT N FRIEND PAYLOAD FRIEND_PAYLOAD"""
import socket, sys, time
port, out, n, friend = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
payload, fpayload = sys.argv[5].encode(), sys.argv[6].encode()
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.2", 0))
f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); f.bind(("127.0.0.1", 0))
t0 = time.monotonic()
every = max(1, n // max(friend, 1))
for i in range(n):
    a.sendto(payload.replace(b"#", str(i).encode()), ("127.0.0.1", port))
    if i % every == 0 and friend:
        f.sendto(fpayload.replace(b"#", str(i).encode()), ("127.0.0.1", port)); friend -= 1
    if i % 200 == 0:
        time.sleep(0.002)  # let the receiver keep up a little, so the kernel drops fewer
dt = time.monotonic() - t0
time.sleep(1)
lines = open(out, errors="replace").read().splitlines()
print(f"{n} datagrams in {dt:.1f} s; output: {len(lines)} lines, {sum(len(l)+1 for l in lines)} B; "
      f"from the stranger: {sum('127.0.0.2' in l for l in lines)}; "
      f"friend {f.getsockname()[1]}: {sum(str(f.getsockname()[1]) in l for l in lines)}")
