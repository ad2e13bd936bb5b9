# Request and answer over loopback: a 4-byte header and a 100-byte body, answered by 4 bytes.
# python3 nagle.py MODE N [PORT]: MODE is two-writes, one-write, nodelay, msg-more or cork.
import socket, sys, threading, time
MODE, N = sys.argv[1], int(sys.argv[2])
def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b: raise EOFError
        buf += b
    return buf
def server(ls):
    c, _ = ls.accept()
    try:
        while True:
            size = int.from_bytes(recv_exact(c, 4), "big")
            recv_exact(c, size)
            c.sendall(b"done")
    except EOFError:
        pass
ls = socket.create_server(("127.0.0.1", int(sys.argv[3]) if len(sys.argv) > 3 else 0))
threading.Thread(target=server, args=(ls,), daemon=True).start()
s = socket.create_connection(ls.getsockname())
if MODE == "nodelay":
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
body = b"x" * 100
header = len(body).to_bytes(4, "big")
t = time.perf_counter()
for _ in range(N):
    if MODE == "one-write":
        s.sendall(header + body)
    elif MODE == "msg-more":
        s.send(header, socket.MSG_MORE)
        s.sendall(body)
    elif MODE == "cork":
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        s.sendall(header); s.sendall(body)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    else:  # two-writes, nodelay
        s.sendall(header); s.sendall(body)
    recv_exact(s, 4)
ms = (time.perf_counter() - t) * 1000 / N
print(f"{MODE:10} {N} exchanges: {ms:.3f} ms each")
