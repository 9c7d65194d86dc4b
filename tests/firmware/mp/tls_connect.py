# open_stream over TLS with the case's CA file; "ok" or the error text.
from harness import cases, result
from transport.mqtt import MQTTClient
from transport.net import open_stream

for c in cases():
    try:
        stream = open_stream(c["host"], c["port"], 2000, True, c["ca_file"])
        client = MQTTClient("gtx-tls-probe", 30)
        client.connect(stream)
        client.disconnect()
        result("ok")
    except OSError as exc:
        result(str(exc))
