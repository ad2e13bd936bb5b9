# A blocking send() of 50,000,000 bytes to a client that reads a little, then resets:
# the reset cuts the send short, and the next send raises ConnectionResetError.
import socket, struct, threading, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
port = l.getsockname()[1]
def client():
    c = socket.create_connection(("127.0.0.1", port))
    c.recv(1000)
    time.sleep(0.2)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # RST
threading.Thread(target=client).start()
s, _ = l.accept()
n = s.send(b"x" * 50_000_000)
print("send returned", n)
try:
    s.send(b"x")
except Exception as e:
    print("next:", repr(e))
