# The seed's 文件下载服务器, changed only where it must be to run in a test (each change marked).
import socket


def get_add(file_name):
    # 读取文件，判断是否存在
    print(file_name)
    try:  # 读取的文件不存在会报错，需要加入判断
        file = open(file_name, "rb")
        # 将打开的文件全部读取给data
        data = file.read()
        print(data)
    except Exception as err:  # 若是报错了不需要，关闭文件，因为没有打开
        print("你下载的文件不存在")
        # 若是没有报错，执行else
    else:
        # 关闭打开的文件/
        file.close()
        # 关闭了，文件需要返回一个结果，进行二次运算
        return data


def main():
    # 创建服务器套接字
    tcp_server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # 设置套接字选项 地址重用现象 套接字 选项 重用地址 1代表设置 0代表取消
    # changed: the seed calls this on `server_socket`, a name it never defined.
    tcp_server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # changed: the seed binds ("", 6664); a test binds loopback, on a port the OS chooses,
    # and says which, as the lessons do.
    tcp_server.bind(("127.0.0.1", 0))
    # 变被动套接字 ，起到监听的功能
    tcp_server.listen(128)
    print("listening on %s:%d (tcp)" % tcp_server.getsockname())
    # 需要多次进行接收每个客户信息，需要无限循环
    while True:
        # 取出每个客户的套接字，进行每个客户端服务
        clie_socket, adder_ip = tcp_server.accept()
        # 收到的每个客户端消息
        file_name = clie_socket.recv(1024)
        print(file_name)
        # 判断客户端传过来的文件是否存在 通过封装函数，用reuten返回结果给data，
        data = get_add(file_name)
        # changed: in the seed, the send and the close below stand outside the loop, so no
        # client would ever get a byte.
        if data:
            # 需要用每个客户的socket进项发送消息，不能使用接收的scoket
            clie_socket.send(data)
        # 关闭客户socket
        clie_socket.close()


if __name__ == '__main__':
    main()
