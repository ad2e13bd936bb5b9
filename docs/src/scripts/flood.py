# Send N datagrams of 100 bytes as fast as possible, without waiting for answers.
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"x" * 100, ("127.0.0.1", int(sys.argv[1])))
