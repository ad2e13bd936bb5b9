# The seed's UDP简单聊天案例, changed only where it must be to run in a test (each change marked).
import socket


def jieshou(udp_socket):
    data, remote_address = udp_socket.recvfrom(1024)
    print("收到来自%s的数据：%s" % (str(remote_address), data.decode()))
    udp_socket.sendto(data, remote_address)


def fasong(udp_socket):
    ip = input("IP地址：")
    prot = int(input("端口："))
    book = input("输入内容")
    udp_socket.sendto(book.encode(), (ip, prot))


def print_menu():
    """菜单"""
    print("请选择功能：1.发送信息 2.接受信息 3.退出")


def main():
    """显示界面"""
    udp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # changed: the seed binds ("", 6666); a test binds loopback, on a port the OS chooses,
    # and says which, as the lessons do.
    udp_socket.bind(("127.0.0.1", 0))
    print("listening on %s:%d (udp)" % udp_socket.getsockname())
    while True:
        print_menu()
        num = input("请选择额：")
        if num == "1":
            fasong(udp_socket)
        elif num == "2":
            jieshou(udp_socket)
        elif num == "3":
            break
        else:
            print("输入错误哦")
    udp_socket.close()


if __name__ == '__main__':
    main()
