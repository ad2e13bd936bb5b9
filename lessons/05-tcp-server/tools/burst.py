# 500 connects fired at once (non-blocking, sockets made first), before any is accepted or
# read; the time until every handshake has completed.
import socket, selectors, sys, time
port = int(sys.argv[1]); n = 500
socks = [socket.socket() for _ in range(n)]
for s in socks: s.setblocking(False)
sel = selectors.DefaultSelector()
t0 = time.monotonic()
for s in socks:
    s.connect_ex(("127.0.0.1", port))
for s in socks: sel.register(s, selectors.EVENT_WRITE)
done = 0; last = 0
while done < n:
    ev = sel.select(timeout=10)
    if not ev: break
    for key, _ in ev:
        sel.unregister(key.fileobj); done += 1; last = time.monotonic() - t0
print(f"{done} of {n} connects in {last:.3f} s")
