# The firmware's MQTT client against a real broker. Cases:
#   publish  connect, publish QoS 1 (retained status + one message), ping, DISCONNECT
#   die      connect with a will, then drop the socket without DISCONNECT
#   refused  connect to a broker that refuses (expects connect_refused)
from harness import cases, result
from transport.mqtt import MQTTClient, MQTTError
from transport.net import open_stream

for c in cases():
    client = MQTTClient(c["client_id"], 30, will=(c["status"], b"offline", 1, True))
    try:
        client.connect(open_stream(c["host"], c["port"], 2000))
        if c["op"] == "publish":
            client.publish(c["status"], b"online", 1, True)
            pid = client.publish(c["topic"], bytes.fromhex(c["payload"]), 1)
            client.ping()
            client.disconnect()
            result({"pid": pid, "connected": client.connected})
        elif c["op"] == "die":
            client.close()
            result({"closed": not client.connected})
        else:
            result({"unexpected": "connected"})
    except MQTTError as exc:
        result({"reason": exc.reason, "code": exc.code})
