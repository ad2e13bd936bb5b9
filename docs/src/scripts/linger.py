# Connect, send a line, then close: normally (FIN), or with SO_LINGER {on, 0 s} (RST).
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"hi\n")
s.recv(100)
if sys.argv[2] == "abort":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
