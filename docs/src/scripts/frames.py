# Three messages, each a 2-byte big-endian length and its bytes, in three writes.
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for text in ["hello", "你好", "bye"]:
    body = text.encode("utf-8")
    s.sendall(len(body).to_bytes(2, "big") + body)
s.shutdown(socket.SHUT_WR)
# Reading them back: the echo comes in pieces of any size; a message is complete
# when its length and all its bytes have arrived.
buf = b""
while chunk := s.recv(4096):
    print(f"read {len(chunk)} bytes")
    buf += chunk
    while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
        n = int.from_bytes(buf[:2], "big")
        print("message:", buf[2:2 + n].decode("utf-8"))
        buf = buf[2 + n:]
