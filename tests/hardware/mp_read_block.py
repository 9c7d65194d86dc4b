"""MicroPython client used by test_hw_micropython.py: one block read over a raw pty.

Run as: micropython mp_read_block.py PORT MODEL (with MICROPYPATH pointing at
firmware/meter so the generated regmap imports). Prints "crc_ok name=value ...".
"""
import sys
import struct
import select
import termios

def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc

def main(port, model):
    import regmap
    m = regmap.MODELS[model]
    f = open(port, "r+b")
    fd = f.fileno()
    termios.setraw(fd)
    body = bytes([m["unit_id"], 4]) + struct.pack(">HH", m["block_start"], m["block_count"])
    c = crc16(body)
    f.write(body + bytes([c & 0xFF, c >> 8]))
    want = 5 + 2 * m["block_count"]
    p = select.poll()
    p.register(f, select.POLLIN)
    got = b""
    while len(got) < want:
        if not p.poll(3000):
            break
        got += f.read(want - len(got))
    f.close()
    ok = len(got) == want and crc16(got[:-2]) == got[-2] | (got[-1] << 8)
    out = ["crc_ok" if ok else "crc_bad"]
    for name in sorted(m["fields"]):
        off = 3 + 2 * m["fields"][name]
        out.append("%s=%r" % (name, struct.unpack(">f", got[off:off + 4])[0]))
    print(" ".join(out))

main(sys.argv[1], sys.argv[2])
