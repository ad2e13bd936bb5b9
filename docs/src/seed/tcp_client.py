import socket
def main():
    # 创建客户端套接字
    tcp_socket = socket.socket(socket.AF_INET,socket.SOCK_STREAM)
    # connect填写远程服务器ip
    tcp_socket.connect(("192.168.113.146", 10050))
    while True:
        data = input("输入：")
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
