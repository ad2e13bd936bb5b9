import socket
def main()
    upd_socket = socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
    upd_socket.bind(("", 8080))
while True:
    data,adder = upd_socket.recvfrom(1024)
    print("%s" % str(adder))
    print("%s" % data.decode())
    nook = input()
    upd_socket.sendto(nook.encode(),("192.168.113.119", 10086))
if __name__ == '__main__':
    main()
