import socket
def main():
    upd_socket = socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
    upd_socket.bind(("", 10086))
    book = input()
    upd_socket.sendto(book.encode(),("192.168.113.85",8081))
    while True:
        data,adder = upd_socket.recvfrom(1024)
        if data:
            print("%s" % str(adder))
            print("%s" % data.decode())
        else:
            print("服务器已关闭")
            break
    upd_socket.close()
if __name__ == '__main__':
    main()
