import socket
def main()
    # 发送飞秋消息
    udp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    i =116
    while True:
        str1 = input("请输入内容：")
        str2 = "1:324244:小道士:ubuntu:32:" + str1
        ip_num = "192.168.113." + str(i)
        udp_socket.sendto((str2).encode("gbk"),(ip_num,2425))
    udp_socket.close()
if __name__ == '__main__':
    main()
