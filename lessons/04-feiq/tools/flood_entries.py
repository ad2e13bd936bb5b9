#!/usr/bin/env python3
"""Reflection from many forged sources: BR_ENTRY packets (1:1:a:b:1:, 10 bytes) from ADDRS
source addresses (127.1.0.1, 127.1.0.2, ... 127.1.0.250, 127.1.1.1, ...: loopback, bound
like forged ones), one from each per round, ROUNDS rounds spread over SECS seconds. A
newcomer at 127.2.0.1 sends one entry of its own after each round. Answers are counted once
the flood is over, plus 1.5 s: how many ANSENTRYs came back to the forged addresses, and how
many of the newcomer's entries were answered.
usage: flood_entries.py PORT ADDRS ROUNDS SECS"""
import socket, sys, time

port, addrs, rounds, secs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
listener = ("127.0.0.1", port)
entry = b"1:1:a:b:1:"
socks = []
for i in range(addrs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((f"127.1.{i // 250}.{1 + i % 250}", 0))
    s.setblocking(False)
    socks.append(s)
newcomer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
newcomer.bind(("127.2.0.1", 0))
newcomer.setblocking(False)
sent = 0
start = time.monotonic()
for r in range(rounds):
    time.sleep(max(0.0, start + r * secs / rounds - time.monotonic()))
    for s in socks:
        try:
            s.sendto(entry, listener)
            sent += 1
        except OSError:
            pass
    newcomer.sendto(b"1:7:friend:pc:1:", listener)
took = time.monotonic() - start
time.sleep(1.5)


def answers(s):
    count = size = 0
    while True:
        try:
            size += len(s.recv(2048))
            count += 1
        except BlockingIOError:
            return count, size


got = [answers(s) for s in socks]
count, size = sum(c for c, _ in got), sum(b for _, b in got)
print(f"sent {sent} entries ({sent * len(entry):,} bytes) from {addrs} addresses in {took:.1f} s; "
      f"{count:,} answers came back ({size:,} bytes); the newcomer's {rounds} entries got "
      f"{answers(newcomer)[0]} answers")
