#!/usr/bin/python3
"""What a web connection costs weft-chat: memory and latency.

Starts the given weft-chat (private ports, a temporary --data), then
  1. memory: opens N WebSocket clients that say hello and join one room,
     and reads the server's VmRSS before and after (the page's idle users);
  2. latency: two web users in a room play ping-pong, one message at a
     time; a round trip is A's message reaching B and B's answer reaching A.

    /usr/bin/python3 tests/chat/web_cost.py build/release/samples/chat/weft-chat [--clients 200] [--rounds 2000] [--no-fsync]

A minimal WebSocket client on the standard library (RFC 6455: masked
client frames, no extensions): nothing here measures a library. Not a
ctest: it prints numbers, it does not judge them.
"""

import argparse
import base64
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time


class ws_client:
    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(('GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                           'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n' % (port, key)).encode())
        self.buffer = b''
        while b'\r\n\r\n' not in self.buffer:
            self.buffer += self.recv_some()
        head, self.buffer = self.buffer.split(b'\r\n\r\n', 1)
        if not head.startswith(b'HTTP/1.1 101'):
            raise RuntimeError('no upgrade: %r' % head[:80])

    def recv_some(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError('the server closed')
        return chunk

    def send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack('>H', n))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def next(self):
        while True:
            if len(self.buffer) >= 2:
                n, at = self.buffer[1] & 0x7f, 2
                if n == 126:
                    n, at = struct.unpack('>H', self.buffer[2:4])[0], 4
                elif n == 127:
                    n, at = struct.unpack('>Q', self.buffer[2:10])[0], 10
                if len(self.buffer) >= at + n:
                    opcode, payload = self.buffer[0] & 0x0f, self.buffer[at:at + n]
                    self.buffer = self.buffer[at + n:]
                    if opcode == 1:
                        return json.loads(payload)
                    continue  # pings are not answered: the test is shorter than ping_after
            self.buffer += self.recv_some()

    def wait_type(self, kind, **fields):
        while True:
            m = self.next()
            if m.get('type') == kind and all(m.get(k) == v for k, v in fields.items()):
                return m


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('binary')
    parser.add_argument('--clients', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=2000)
    parser.add_argument('--no-fsync', action='store_true', help="pass --no-fsync: leave the disk out of the latency")
    args = parser.parse_args()
    irc_port, ws_port = random.sample(range(18100, 19000), 2)
    scratch = tempfile.mkdtemp(prefix='weft-chat-cost-')
    server = subprocess.Popen([args.binary, '--irc-port', str(irc_port), '--ws-port', str(ws_port), '--bind',
                               '127.0.0.1', '--data', scratch, '--input-rate', '0'] + (['--no-fsync'] if args.no_fsync else []),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in server.stdout:
            if 'web on' in line:
                break
        # Warm up: one user through every step, so the room and the
        # first-use allocations are in the baseline.
        warm = ws_client(ws_port)
        warm.send({'type': 'hello', 'nick': 'warm'})
        warm.wait_type('welcome')
        warm.send({'type': 'join', 'room': '#idle'})
        warm.wait_type('joined')
        before = rss_kb(server.pid)
        clients = []
        for i in range(args.clients):
            c = ws_client(ws_port)
            c.send({'type': 'hello', 'nick': 'idle%d' % i})
            c.wait_type('welcome')
            c.send({'type': 'join', 'room': '#idle'})
            c.wait_type('joined')
            clients.append(c)
        after = rss_kb(server.pid)
        print('memory: %d idle web clients (hello + join #idle): VmRSS %d kB -> %d kB: %.1f kB per client'
              % (args.clients, before, after, (after - before) / args.clients))
        for c in clients:
            c.sock.close()

        a, b = ws_client(ws_port), ws_client(ws_port)
        for c, nick in ((a, 'ping'), (b, 'pong')):
            c.send({'type': 'hello', 'nick': nick})
            c.wait_type('welcome')
            c.send({'type': 'join', 'room': '#lat'})
            c.wait_type('joined')
        a.wait_type('join', nick='pong')
        times = []
        for i in range(args.rounds):
            start = time.perf_counter()
            a.send({'type': 'say', 'room': '#lat', 'text': 'ping %d' % i})
            b.wait_type('message', nick='ping', text='ping %d' % i)
            b.send({'type': 'say', 'room': '#lat', 'text': 'pong %d' % i})
            a.wait_type('message', nick='pong', text='pong %d' % i)
            times.append((time.perf_counter() - start) * 1e6)
        times.sort()
        print('latency: %d round trips web -> web -> web (each message %s): '
              'median %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us'
              % (len(times), 'written to the journal, no fsync' if args.no_fsync else 'made durable in the journal first',
                 statistics.median(times), times[len(times) * 9 // 10], times[len(times) * 99 // 100],
                 times[-1]))
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
