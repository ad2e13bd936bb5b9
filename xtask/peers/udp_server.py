# The seed's UDP服务端, changed only where it must be to run in a test (each change marked).
import socket


def main():  # changed: the seed's `def main()` lacks its colon, and its loop is outside main.
    upd_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # changed: the seed binds ("", 8080); a test binds loopback, on a port the OS chooses,
    # and says which, as the lessons do.
    upd_socket.bind(("127.0.0.1", 0))
    print("listening on %s:%d (udp)" % upd_socket.getsockname())
    while True:
        data, adder = upd_socket.recvfrom(1024)
        print("%s" % str(adder))
        print("%s" % data.decode())
        nook = input()
        # changed: the seed replies to ("192.168.113.119", 10086), one fixed client.
        upd_socket.sendto(nook.encode(), adder)


if __name__ == '__main__':
    main()
