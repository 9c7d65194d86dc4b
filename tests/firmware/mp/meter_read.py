# One Modbus block read per case through the pty adapter (hw/posix.TtyUart).
from harness import cases, result
from hw.posix import TtyUart
from meter.modbus_rtu import ModbusError, ModbusMaster

uart = None
for c in cases():
    if uart is None:
        uart = TtyUart(c["device"])
    master = ModbusMaster(uart, c["timeout_ms"], 9600)
    try:
        data = master.read_registers(c["unit"], c["start"], c["count"])
        result({"bytes": len(data)})
    except ModbusError as exc:
        result({"reason": exc.reason, "code": exc.code})
