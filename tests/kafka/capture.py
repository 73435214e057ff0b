"""What the loopback carried between TLS brokers (tests/kafka/lines.sh), from a tcpdump capture.

Usage: capture.py PCAP --replication PORT... --client PORT... --marker TEXT [--secret FILE]

Reassembles every TCP connection of the capture (loopback: in order, one direction after the
other) and checks, failing with exit 1 and the reason:
  - the client connections (a PLAINTEXT listener) carry MARKER in clear: the check can see a
    record's payload when it is there;
  - no replication connection carries MARKER (or the SASL password in FILE) in clear, so the
    records went between brokers encrypted;
  - replication connections opened with Ferry's preamble (FF FE 46 52) and then carried a TLS
    handshake record (16 03 0x): TLS runs end to end inside the Ferry stream;
  - at least 1 MB went over replication connections (there was something to look at).
"""

import argparse
import struct
import sys
from collections import defaultdict

FERRY_MAGIC = b"\xff\xfe\x46\x52"
LINKTYPE_ETHERNET = 1  # Linux loopback captures: a 14-byte Ethernet header of zeros
LINKTYPE_LINUX_SLL = 113  # tcpdump -i any


def streams(path):
    """Returns {(src_port, dst_port): bytes} for every TCP direction in the capture, in order."""
    data = open(path, "rb").read()
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
              b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None:
        raise SystemExit("capture: %s is not a pcap file" % path)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    link_header = {LINKTYPE_ETHERNET: 14, LINKTYPE_LINUX_SLL: 16}.get(linktype)
    if link_header is None:
        raise SystemExit("capture: link type %d not handled" % linktype)
    out = defaultdict(bytearray)
    seen = defaultdict(set)  # a retransmitted segment (same sequence number) counts once
    pos = 24
    while pos + 16 <= len(data):
        _, _, captured, original = struct.unpack(endian + "IIII", data[pos:pos + 16])
        if captured != original:
            raise SystemExit("capture: a packet was cut to %d of %d bytes (tcpdump -s 0)" % (captured, original))
        packet = data[pos + 16:pos + 16 + captured]
        pos += 16 + captured
        ip = packet[link_header:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ip_len = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[(ip[0] & 0x0F) * 4:ip_len]
        src, dst, seq = struct.unpack("!HHI", tcp[:8])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload and seq not in seen[(src, dst)]:
            seen[(src, dst)].add(seq)
            out[(src, dst)] += payload
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pcap")
    parser.add_argument("--replication", type=int, nargs="+", required=True)
    parser.add_argument("--client", type=int, nargs="+", required=True)
    parser.add_argument("--marker", required=True)
    parser.add_argument("--secret")
    args = parser.parse_args()
    marker = args.marker.encode()
    secret = open(args.secret).read().strip().encode() if args.secret else None

    replication = client = 0
    client_marker = ferry_tls = 0
    problems = []
    for (src, dst), data in streams(args.pcap).items():
        if src in args.client or dst in args.client:
            client += len(data)
            client_marker += marker in data
            continue
        if src not in args.replication and dst not in args.replication:
            continue
        replication += len(data)
        if marker in data:
            problems.append("the record marker in clear on replication connection %d->%d" % (src, dst))
        if secret and secret in data:
            problems.append("the SASL password in clear on replication connection %d->%d" % (src, dst))
        # The connecting side's bytes: Ferry's preamble, then (after the Ferry handshake) TLS.
        if dst in args.replication and data.startswith(FERRY_MAGIC):
            tls = data.find(b"\x16\x03", 4, 512)
            if tls >= 0 and data[tls + 2] in (1, 2, 3):
                ferry_tls += 1
    print("capture: replication connections carried %d bytes (%d opened with Ferry's preamble and then "
          "a TLS handshake); client connections %d bytes (%d with the record marker in clear)"
          % (replication, ferry_tls, client, client_marker))
    if client_marker == 0:
        problems.append("the record marker never showed on the plaintext client connections: the check sees nothing")
    if ferry_tls == 0:
        problems.append("no replication connection opened with Ferry's preamble followed by TLS")
    if replication < 1_000_000:
        problems.append("only %d bytes on replication connections" % replication)
    for p in problems:
        print("capture: FAIL " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
