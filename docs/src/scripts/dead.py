# A client that notices a dead peer: keepalive probes after 2 s idle, or a 3 s
# TCP_USER_TIMEOUT on unacknowledged data.
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 10050))
s.recv(0)
if sys.argv[1] == "keepalive":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 2)   # idle seconds before the first probe
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)  # seconds between probes
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)    # unanswered probes before giving up
else:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 3000)  # milliseconds
print("connected; now cut the network", flush=True)
input()
start = time.monotonic()
try:
    if sys.argv[1] == "user-timeout":
        s.sendall(b"anyone there?\n")
    print("recv:", s.recv(100))
except OSError as e:
    print(f"after {time.monotonic() - start:.1f} s: {e}")
