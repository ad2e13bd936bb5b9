# What TCP_CORK and MSG_MORE hold back, on loopback: a corked socket (never uncorked) and a
# send with MSG_MORE (never followed by one without), each with a short and a long write.
import socket, sys, time

ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen()

def run(how, size):
    c = socket.create_connection(ls.getsockname()); s, _ = ls.accept()
    flags = 0
    if how == "cork":
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    else:
        flags = socket.MSG_MORE
    t = time.monotonic()
    c.sendall(b"x" * size, flags)
    s.settimeout(2)
    got, first = 0, None
    try:
        while got < size:
            got += len(s.recv(1 << 20))
            first = first or time.monotonic() - t
    except socket.timeout:
        pass
    print(f"{how:8} {size:6} bytes: first ones after {first * 1000:5.1f} ms, {got} in all")
    c.close(); s.close()

for how in ("cork", "msg-more"):
    for size in (100, 200_000):
        run(how, size)
