#!/usr/bin/env python3
"""A head trickled in three bytes a write (TCP_NODELAY, GAP seconds between writes), until
the server answers: KIND `newlines` is 16 KiB of empty lines (`\\n`), KIND `letters` is a
request line, a Host header and a header line of 16 KiB of letters. Prints the answer's
status line and the CPU time the server (process PID, from /proc/PID/stat) spent meanwhile.
usage: trickle_head.py PORT PID KIND [GAP]   (GAP: 0.001 unless given)"""
import os, socket, sys, time

port, pid, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
gap = float(sys.argv[4]) if len(sys.argv) > 4 else 0.001
head = {
    "newlines": b"\n" * (16 * 1024 + 3),
    "letters": b"GET / HTTP/1.1\r\nHost: x\r\nX-" + b"a" * (16 * 1024 + 3),
}[kind]


def cpu():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setblocking(False)
before, start, sent, answer = cpu(), time.monotonic(), 0, b""
while sent < len(head) and not answer:
    try:
        sent += s.send(head[sent:sent + 3])
        answer = s.recv(4096)
    except BlockingIOError:
        pass
    except OSError:
        break
    time.sleep(gap)
s.settimeout(30)
try:
    while b"\r\n" not in answer:
        more = s.recv(4096)
        if not more:
            break
        answer += more
except OSError:
    pass
status = answer.split(b"\r\n")[0].decode(errors="replace")
print(f"{sent:,} bytes sent in {time.monotonic() - start:.1f} s; answer: {status or 'none'}; "
      f"server CPU meanwhile: {cpu() - before:.2f} s")
