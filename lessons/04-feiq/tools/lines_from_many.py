#!/usr/bin/env python3
"""One datagram that is not IPMsg (one line of listen's output) from each of N loopback
addresses, 127.0.1.1 onwards: N lines, none over its address's share.

    python3 lessons/04-feiq/tools/lines_from_many.py PORT N
"""
import socket
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((f"127.0.{1 + i // 250}.{1 + i % 250}", 0))
    s.sendto(b"x" * 40, ("127.0.0.1", port))
    s.close()
print(f"sent one datagram from each of {n} addresses")
