# One of several servers on the same port: each counts the connections the kernel gives it.
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", 10060))
s.listen()
print(f"pid {os.getpid()} listening", flush=True)
n = 0
while True:
    c, _ = s.accept()
    n += 1
    c.sendall(f"pid {os.getpid()}, connection {n}\n".encode())
    c.close()
