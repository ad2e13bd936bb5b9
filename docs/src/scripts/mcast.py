# Join the multicast group 239.1.2.3 and answer every datagram sent to it on port 5000.
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5000))
# IP_ADD_MEMBERSHIP: the group, and the address of the interface to join it on.
mreq = struct.pack("4s4s", socket.inet_aton("239.1.2.3"), socket.inet_aton(sys.argv[1]))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
print("joined 239.1.2.3 on", sys.argv[1], flush=True)
while True:
    data, peer = s.recvfrom(2048)
    print(f"received {data!r} from {peer}", flush=True)
    s.sendto(b"member here: " + data, peer)
