#!/usr/bin/env python3
"""Forged copies: a forger sends FORGED messages numbered 1, 2, 3... (as iptux numbers its
packets) from a friend's address and port, each asking for an acknowledgement; then the
friend sends REAL messages numbered 1, 2, 3... On loopback one socket at 127.0.0.5 plays
both, as a raw socket writing the friend's source address and port would on a LAN. Counts
the acknowledgements of the real messages, and reads the listener's output file (OUT) for
the real messages shown and the lines about copies.
usage: forge_copies.py PORT OUT FORGED REAL"""
import socket, sys, time

port, out, forged, real = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
listener = ("127.0.0.1", port)
friend = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
friend.bind(("127.0.0.5", 0))
friend.settimeout(2)
for n in range(1, forged + 1):
    friend.sendto(b"1:%d:friend:pc:288:forged %d\0" % (n, n), listener)
    friend.recvfrom(2000)
acked = 0
for n in range(1, real + 1):
    friend.sendto(b"1:%d:friend:pc:288:real message %d\0" % (n, n), listener)
    try:
        friend.recvfrom(2000)
        acked += 1
    except TimeoutError:
        pass
time.sleep(0.3)
lines = open(out, encoding="utf-8", errors="replace").read().splitlines()
shown = sum("friend@pc: real message" in l for l in lines)
copies = sum("a copy" in l for l in lines)
print(f"{forged} forged, {real} real; real acknowledged: {acked}, shown: {shown}; copy lines: {copies}")
