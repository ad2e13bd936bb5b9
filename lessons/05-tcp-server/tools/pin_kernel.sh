#!/bin/sh
# Kernel memory pinned on the server's side by clients that send and never read:
# starts SERVER (an echo server binary) on port 0, runs never_reads.py with CONNS connections
# for 8 s, and sums r (receive queue) + w (send queue) of the server's sockets from `ss -tm`.
# usage: pin_kernel.sh SERVER CONNS [server flags...]
SERVER=$1; CONNS=$2; shift 2
HERE=$(dirname "$0")
LOG=$(mktemp)
"$SERVER" --port 0 --quiet "$@" > "$LOG" 2>&1 & PID=$!
while ! grep -q listening "$LOG"; do sleep 0.1; done
PORT=$(head -1 "$LOG" | sed 's/.*:\([0-9]*\) .*/\1/')
python3 "$HERE/never_reads.py" "$PORT" "$PID" 8 "$CONNS" > /dev/null & PY=$!
sleep 7
ss -tmn "sport = :$PORT" | grep -o 'skmem:([^)]*' | sed 's/skmem:(//' | \
  awk -F, '{ for (i=1;i<=NF;i++) { if ($i ~ /^r[0-9]/) r+=substr($i,2); if ($i ~ /^w[0-9]/) w+=substr($i,2) } n++ }
           END { printf "%d server sockets: receive queues %d B, send queues %d B, %.1f MB in all, %.2f MB each\n", n, r, w, (r+w)/1e6, (r+w)/1e6/n }'
wait $PY
kill $PID; rm -f "$LOG"
