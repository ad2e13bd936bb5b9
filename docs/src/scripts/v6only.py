# An IPv6 socket on [::]:10063 with IPV6_V6ONLY set: IPv6 clients only.
import socket
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(("::", 10063))
s.listen()
print("listening on [::]:10063, IPv6 only", flush=True)
while True:
    c, a = s.accept()
    print("accepted", a, flush=True)
    c.close()
