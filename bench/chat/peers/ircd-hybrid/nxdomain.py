#!/usr/bin/env python3
"""A stub DNS server for ircd-hybrid's benchmark runs: answers every query
at once with NXDOMAIN ("no such name").

Why: ircd-hybrid looks up the reverse DNS of every connecting client before
it registers it, and has no option to turn that off; it reads the
nameserver from /etc/resolv.conf. The other servers are configured not to
look up at all. Where the system resolver rate-limits bursts (this bench
machine's answers about 50 of 200 queries sent at once), hybrid would wait
its resolver timeout (4-12 s) per client, and 10,000 clients could not
even be set up. run.sh starts this stub on a loopback address and runs
hybrid in a private mount namespace whose /etc/resolv.conf names it; every
lookup then fails at once, as it does for a client without reverse DNS.

    nxdomain.py ADDRESS [PORT]     (default port 53)

Runs until killed. Malformed packets are ignored.
"""
import socket
import struct
import sys


def answer(query: bytes) -> bytes | None:
    if len(query) < 12:
        return None
    ident, flags, qdcount = struct.unpack(">HHH", query[:6])
    if flags & 0x8000 or qdcount != 1:  # a response, or not one question
        return None
    # Skip the question's name (labels up to a zero byte), then type and class.
    at = 12
    while at < len(query) and query[at] != 0:
        if query[at] & 0xC0:  # compression has no place in a question
            return None
        at += 1 + query[at]
    at += 1 + 4
    if at > len(query):
        return None
    # Response, same opcode, recursion desired copied, recursion available, NXDOMAIN.
    reply_flags = 0x8000 | (flags & 0x7900) | 0x0080 | 3
    return struct.pack(">HHHHHH", ident, reply_flags, 1, 0, 0, 0) + query[12:at]


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: nxdomain.py ADDRESS [PORT]")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 53))
    while True:
        query, peer = sock.recvfrom(4096)
        reply = answer(query)
        if reply is not None:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
