# A 1,473-byte datagram with "don't fragment" (IP_PMTUDISC_DO) over a 1,500-byte MTU.
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER, IP_PMTUDISC_DO (Linux)
for n in (1472, 1473):
    try:
        s.sendto(b"x" * n, ("10.9.1.2", 8080))
        print(n, "bytes: sent")
    except OSError as e:
        print(n, "bytes:", e)
