# The seed's UDP客户端, changed only where it must be to run in a test (each change marked).
import socket
import sys


def main():
    upd_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # changed: the seed binds ("", 10086); a test lets the OS choose the port.
    upd_socket.bind(("127.0.0.1", 0))
    book = input()
    # changed: the seed sends to ("192.168.113.85", 8081); the server is argv[1]:argv[2].
    upd_socket.sendto(book.encode(), (sys.argv[1], int(sys.argv[2])))
    while True:
        data, adder = upd_socket.recvfrom(1024)
        if data:
            print("%s" % str(adder))
            print("%s" % data.decode())
            # changed: the seed waits for more forever; a test stops after the answer.
            break
        else:
            print("服务器已关闭")
            break
    upd_socket.close()


if __name__ == '__main__':
    main()
