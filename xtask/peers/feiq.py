# The seed's UDP发送飞秋消息, changed only where it must be to run in a test (each change marked).
import socket
import sys


def main():  # changed: the seed's `def main()` lacks its colon.
    # 发送飞秋消息
    udp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while True:
        # changed: the seed prompts with input("请输入内容："); a test prompts with nothing
        # and stops at the end of its input.
        try:
            str1 = input()
        except EOFError:
            break
        str2 = "1:324244:小道士:ubuntu:32:" + str1
        # changed: the seed sends to ("192.168.113." + str(i), 2425), a classmate's machine;
        # a test sends to argv[1]:argv[2].
        udp_socket.sendto((str2).encode("gbk"), (sys.argv[1], int(sys.argv[2])))
    udp_socket.close()


if __name__ == '__main__':
    main()
