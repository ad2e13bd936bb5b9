# A server that half-closes each connection as soon as it accepts it (shutdown(SHUT_WR): it
# will send nothing), then reads to the client's FIN and prints what came.
# usage: half_close.py PORT
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen()
while True:
    c, peer = l.accept()
    c.shutdown(socket.SHUT_WR)
    got = b""
    while data := c.recv(4096):
        got += data
    print(peer[1], "sent", got, flush=True)
    c.close()
