# The seed's TCP服务端, changed only where it must be to run in a test (each change marked).
import socket


def main():
    tcp_server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # changed: the seed binds ("", 10050); a test binds loopback, on a port the OS chooses,
    # and says which, as the lessons do.
    tcp_server.bind(("127.0.0.1", 0))
    # listen 变成被动套接字，只有被动套接字才能接受客服端消息
    tcp_server.listen(128)
    print("listening on %s:%d (tcp)" % tcp_server.getsockname())
    # 返回值 客户socket---客户套接字
    clie_socket, addrs = tcp_server.accept()
    while True:
        # recv 是接收从客户端发过来的消息
        recv_data = clie_socket.recv(1024)
        if recv_data:
            clie_socket.send(recv_data)
            print(recv_data)
        else:
            clie_socket.close()
            print("客户端已关闭")
            break
    tcp_server.close()


if __name__ == '__main__':
    main()
