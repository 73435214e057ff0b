#!/usr/bin/env python3
"""SMC-R tools for smc-guest.sh (inside the test VM), standard library only.

Debian ships no smc-tools for amd64, so this speaks the kernel's two generic-netlink families
(include/uapi/linux/smc.h) itself:
  pnet PNETID NETDEV IBDEV     SMC_PNETID: put NETDEV and port 1 of IBDEV on one physical network
  ueid EID                     SMC_GEN_NETLINK: add a user EID (SMC-Rv2 is proposed only with one)
  state                        SMC-R statistics, fallback reasons and links, as one JSON line
and moves bytes over AF_SMC or AF_INET (the same code for both, to compare them):
  serve FAMILY HOST PORT       accept connections; per connection read to EOF, answer the byte
                               count and a CRC-32 of the bytes (with --crc), as one JSON line
  send FAMILY HOST PORT BYTES  send BYTES (a repeating pattern), half-close, print the reply
                               and the seconds from connect to reply as one JSON line
"""
import json
import os
import socket
import struct
import sys
import time
import zlib

AF_SMC = 43  # SMCPROTO_SMC (protocol 0): IPv4 addresses, as sockaddr_in

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 3, 1, 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_F_NESTED = 0x8000

# include/uapi/linux/smc.h
SMC_PNETID_ADD = 2
SMC_PNETID_NAME, SMC_PNETID_ETHNAME, SMC_PNETID_IBNAME, SMC_PNETID_IBPORT = 1, 2, 3, 4
SMC_NETLINK_GET_LINK_SMCR, SMC_NETLINK_GET_STATS, SMC_NETLINK_GET_FBACK_STATS = 3, 7, 8
SMC_NETLINK_ADD_UEID = 10
SMC_NLA_EID_TABLE_ENTRY = 1
SMC_MAX_EID_LEN = 32
SMC_GEN_LINK_SMCR, SMC_GEN_STATS, SMC_GEN_FBACK_STATS = 3, 7, 8
LINK_ATTRS = {2: ("ib_dev", "str"), 3: ("ib_port", "u8"), 7: ("net_dev_ifindex", "u32"),
              6: ("conn_cnt", "u32"), 10: ("state", "u32")}
STATS_SMCR_TECH = 2
STATS_TECH_ATTRS = {7: "clnt_v1_succ", 8: "clnt_v2_succ", 9: "srv_v1_succ", 10: "srv_v2_succ",
                    15: "rx_bytes", 16: "tx_bytes", 17: "rx_cnt", 18: "tx_cnt"}
STATS_TOP_ATTRS = {3: "clnt_hs_err", 4: "srv_hs_err"}
FBACK_ATTRS = {1: "is_server", 2: "srv_fallbacks", 3: "clnt_fallbacks", 4: "reason", 5: "count"}


def nla(kind, payload):
    raw = struct.pack("HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def nla_str(kind, text):
    return nla(kind, text.encode() + b"\0")


def parse_nla(data):
    """{type: payload} of one level of attributes (the last of a repeated type wins)."""
    out, i = {}, 0
    while i + 4 <= len(data):
        length, kind = struct.unpack_from("HH", data, i)
        if length < 4:
            break
        out[kind & ~NLA_F_NESTED] = data[i + 4:i + length]
        i += (length + 3) & ~3
    return out


def value(raw, kind):
    if kind == "str":
        return raw.split(b"\0", 1)[0].decode()
    return int.from_bytes(raw, "little")


class Genl:
    def __init__(self, family):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sock.bind((0, 0))
        self.seq = 0
        reply = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                             nla_str(CTRL_ATTR_FAMILY_NAME, family))
        self.family = value(parse_nla(reply[0])[CTRL_ATTR_FAMILY_ID], "u16")

    def request(self, family, cmd, attrs=b"", dump=False):
        """Payloads (after the genl header) of the replies; raises OSError on a netlink error."""
        self.seq += 1
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        body = struct.pack("BBH", cmd, 1, 0) + attrs
        self.sock.send(struct.pack("IHHII", 16 + len(body), family, flags, self.seq, 0) + body)
        replies = []
        while True:
            data = self.sock.recv(1 << 20)
            i = 0
            while i + 16 <= len(data):
                length, kind, _, seq, _ = struct.unpack_from("IHHII", data, i)
                payload = data[i + 16:i + length]
                i += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if kind == NLMSG_DONE:
                    return replies
                if kind == NLMSG_ERROR:
                    err = -struct.unpack_from("i", payload)[0]
                    if err:
                        raise OSError(err, f"netlink cmd {cmd}: {os.strerror(err)}")
                    return replies
                replies.append(payload[4:])

    def do(self, cmd, attrs=b"", dump=False):
        return self.request(self.family, cmd, attrs, dump)


def pnet(pnetid, netdev, ibdev):
    Genl("SMC_PNETID").do(SMC_PNETID_ADD, nla_str(SMC_PNETID_NAME, pnetid)
                          + nla_str(SMC_PNETID_ETHNAME, netdev)
                          + nla_str(SMC_PNETID_IBNAME, ibdev)
                          + nla(SMC_PNETID_IBPORT, bytes([1])))


def ueid(eid):
    # The kernel takes exactly 32 characters, blank-padded, plus the NUL.
    Genl("SMC_GEN_NETLINK").do(SMC_NETLINK_ADD_UEID,
                               nla_str(SMC_NLA_EID_TABLE_ENTRY, eid.ljust(SMC_MAX_EID_LEN)))


def state():
    genl = Genl("SMC_GEN_NETLINK")
    out = {"smcr": {}, "fallbacks": [], "links": []}
    for reply in genl.do(SMC_NETLINK_GET_STATS, dump=True):
        top = parse_nla(parse_nla(reply)[SMC_GEN_STATS])
        tech = parse_nla(top[STATS_SMCR_TECH])
        out["smcr"] = {name: value(tech[k], "u64") for k, name in STATS_TECH_ATTRS.items() if k in tech}
        out.update({name: value(top[k], "u64") for k, name in STATS_TOP_ATTRS.items() if k in top})
    for reply in genl.do(SMC_NETLINK_GET_FBACK_STATS, dump=True):
        attrs = parse_nla(parse_nla(reply)[SMC_GEN_FBACK_STATS])
        entry = {name: value(attrs[k], "u64") for k, name in FBACK_ATTRS.items() if k in attrs}
        if "reason" in entry:
            entry["reason"] = f"0x{entry['reason']:08x}"
        out["fallbacks"].append(entry)
    for reply in genl.do(SMC_NETLINK_GET_LINK_SMCR, dump=True):
        attrs = parse_nla(parse_nla(reply)[SMC_GEN_LINK_SMCR])
        out["links"].append({name: value(attrs[k], kind)
                             for k, (name, kind) in LINK_ATTRS.items() if k in attrs})
    return out


def stream_socket(family):
    if family == "tcp":
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if family != "smc":
        raise SystemExit(f"family must be smc or tcp, not {family}")
    # Python's socket module builds addresses only for the families it knows; an AF_SMC socket
    # takes a sockaddr_in, so hand its descriptor to an AF_INET socket object.
    smc = socket.socket(AF_SMC, socket.SOCK_STREAM, 0)
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, fileno=smc.detach())


def serve(family, host, port, crc):
    server = stream_socket(family)
    server.bind((host, int(port)))
    server.listen(8)
    print(json.dumps({"listening": f"{host}:{port}", "family": family}), flush=True)
    buf = bytearray(1 << 20)
    while True:
        conn, _ = server.accept()
        with conn:
            total, check = 0, 0
            while True:
                n = conn.recv_into(buf)
                if not n:
                    break
                total += n
                if crc:
                    check = zlib.crc32(memoryview(buf)[:n], check)
            conn.sendall(json.dumps({"bytes": total, "crc32": check if crc else None}).encode())


def pattern(size):
    unit = bytes(range(251))  # a prime length, so chunks do not line up with buffer sizes
    return (unit * (size // len(unit) + 1))[:size]


def send(family, host, port, size):
    size = int(size)
    chunk = memoryview(pattern(1 << 20))
    expected = 0
    for off in range(0, size, len(chunk)):
        expected = zlib.crc32(chunk[:min(len(chunk), size - off)], expected)
    sock = stream_socket(family)
    start = time.monotonic()
    sock.connect((host, int(port)))
    sent = 0
    while sent < size:
        n = min(len(chunk), size - sent)
        sock.sendall(chunk[:n])
        sent += n
    sock.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        data = sock.recv(4096)
        if not data:
            break
        reply += data
    seconds = time.monotonic() - start
    sock.close()
    answer = json.loads(reply)
    ok = answer["bytes"] == size and answer["crc32"] in (None, expected)
    print(json.dumps({"family": family, "bytes": size, "seconds": round(seconds, 4),
                      "mb_per_s": round(size / seconds / 1e6, 2), "reply": answer, "ok": ok}),
          flush=True)
    return 0 if ok else 1


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "pnet":
        pnet(*args)
    elif cmd == "ueid":
        ueid(*args)
    elif cmd == "state":
        print(json.dumps(state()))
    elif cmd == "serve":
        serve(*args[:3], crc="--crc" in args[3:])
    elif cmd == "send":
        return send(*args)
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
