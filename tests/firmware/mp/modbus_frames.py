# Modbus RTU frames and float32 scaling against tests/vectors/modbus_rtu_v1.json.
from binascii import hexlify, unhexlify

from harness import cases, result
from meter.modbus_rtu import ModbusError, parse_read_response, read_request
from meter.reading import scaled_f32

for c in cases():
    kind = c["kind"]
    if kind == "request":
        frame = read_request(c["unit"], c["function"], c["start"], c["count"])
        result(hexlify(frame).decode())
    elif kind == "response":
        try:
            data = parse_read_response(unhexlify(c["frame"]), c["unit"], c["function"], c["count"])
            result({"data": hexlify(data).decode()})
        except ModbusError as exc:
            result({"reason": exc.reason, "code": exc.code})
    elif kind == "float32":
        result(scaled_f32(c["bits"], c["scale"]))
    elif kind == "bad_request":
        try:
            read_request(c["unit"], c["function"], c["start"], c["count"])
            result("accepted")
        except ModbusError as exc:
            result(exc.reason)
