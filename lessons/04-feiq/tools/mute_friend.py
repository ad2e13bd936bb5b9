#!/usr/bin/env python3
"""Muting a friend: datagrams of one byte from the friend's IP address FRIEND (any port: on
a LAN a raw socket writes that source; on loopback a socket bound to the address does),
BURST at once and then RATE a second for SECS seconds, spend that address's share of the
listener's screen, so that the friend's messages are not shown.
usage: mute_friend.py PORT FRIEND SECS [RATE=50] [BURST=120]"""
import socket, sys, time

port, friend, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 50.0
burst = int(sys.argv[5]) if len(sys.argv) > 5 else 120
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((friend, 0))
listener = ("127.0.0.1", port)
for _ in range(burst):
    s.sendto(b"x", listener)
sent = burst
start = time.monotonic()
while time.monotonic() - start < secs:
    s.sendto(b"x", listener)
    sent += 1
    time.sleep(1 / rate)
print(f"{sent} datagrams of 1 byte from {friend} in {time.monotonic() - start:.1f} s")
