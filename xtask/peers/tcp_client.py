# The seed's TCP客户端, changed only where it must be to run in a test (each change marked).
import socket
import sys


def main():
    # 创建客户端套接字
    tcp_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # connect填写远程服务器ip
    # changed: the seed connects to ("192.168.113.146", 10050); the server is argv[1]:argv[2].
    tcp_socket.connect((sys.argv[1], int(sys.argv[2])))
    while True:
        # changed: the seed prompts with input("输入："); a test prompts with nothing and
        # stops at the end of its input instead of crashing on EOFError.
        try:
            data = input()
        except EOFError:
            break
        tcp_socket.send(data.encode("GBK"))
        recv_data = tcp_socket.recv(10)
        # tcp需要判断服务器是否关闭
        if recv_data:
            print("收到数据" + recv_data.decode("GBK"))
        else:
            print("对方关闭了链接")
            break
    tcp_socket.close()


if __name__ == '__main__':
    main()
