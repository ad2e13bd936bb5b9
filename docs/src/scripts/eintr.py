# A signal handler installed without SA_RESTART interrupts a blocking recv.
import signal, socket
signal.signal(signal.SIGALRM, lambda signum, frame: print("SIGALRM handled"))
a, b = socket.socketpair()
signal.setitimer(signal.ITIMER_REAL, 0.5)       # SIGALRM in 0.5 s
b.settimeout(1.5)
try:
    b.recv(100)                                 # nobody sends: wait
except TimeoutError:
    print("timed out after 1.5 s")
