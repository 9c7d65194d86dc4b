"""Minimal MQTT 3.1.1 client: CONNECT, PUBLISH QoS 0/1, PINGREQ, DISCONNECT.

Protocol only: no retries, no reconnects (that is transport/uplink.py).
The client writes to and reads from a connected stream (a socket, or the
TLS-wrapped socket from transport/net.py) with a timeout already set, so
the same code runs on the ESP32 and on the unix port.

A meter only publishes, one QoS 1 message in flight at a time: publish()
returns once the broker's PUBACK for that packet id has arrived, which is
the moment the store-and-forward ring may forget the record.
"""

import struct

from micropython import const


class MQTTError(Exception):
    """``reason``: connect_refused (``code`` = CONNACK return code), closed,
    io_error, timeout, protocol."""

    def __init__(self, reason, detail="", code=0):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
        self.code = code


_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)


def _str(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack(">H", len(b)) + b


def _remaining_length(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def connect_packet(client_id, keepalive_s, clean_session=True, username="", password="",
                   will=None):
    """CONNECT bytes; ``will`` is (topic, message, qos, retain) or None."""
    flags = 0x02 if clean_session else 0
    payload = _str(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _str(topic) + _str(message)
    if username:
        flags |= 0x80
        payload += _str(username)
        if password:
            flags |= 0x40
            payload += _str(password)
    var = _str("MQTT") + bytes((4, flags)) + struct.pack(">H", keepalive_s)
    body = var + payload
    return bytes((_CONNECT,)) + _remaining_length(len(body)) + body


def publish_packet(topic, payload, qos, packet_id, retain=False):
    """PUBLISH as (fixed header + topic + packet id, payload), QoS 0 or 1.

    Never flagged DUP: every connect is a clean session, so a record re-sent
    after a reconnect is a new message for the broker (receivers deduplicate
    on the envelope's (meter, seq))."""
    head = _PUBLISH | (qos << 1) | (1 if retain else 0)
    var = _str(topic) + (struct.pack(">H", packet_id) if qos else b"")
    n = len(var) + len(payload)
    return bytes((head,)) + _remaining_length(n) + var, payload


class MQTTClient:
    """One MQTT session over one stream (``read(n)``, ``write(b)``, ``close()``)."""

    def __init__(self, client_id, keepalive_s=60, username="", password="", will=None):
        self.client_id = client_id
        self.keepalive_s = keepalive_s
        self._username = username
        self._password = password
        self._will = will
        self._stream = None
        self._pid = 0
        self.last_error = None

    @property
    def connected(self):
        return self._stream is not None

    # ------------------------------------------------------------ stream io

    def _live_stream(self):
        stream = self._stream
        if stream is None:
            raise MQTTError("closed", "not connected")
        return stream

    def _write(self, data):
        stream = self._live_stream()
        mv = memoryview(data)
        try:
            while mv:
                n = stream.write(mv)
                if n is None:
                    raise MQTTError("timeout", "write")
                mv = mv[n:]
        except OSError as exc:
            raise MQTTError("io_error", str(exc))

    def _read_exact(self, n):
        stream = self._live_stream()
        buf = b""
        try:
            while len(buf) < n:
                chunk = stream.read(n - len(buf))
                if chunk is None:
                    raise MQTTError("timeout", "read")
                if not chunk:
                    raise MQTTError("closed")
                buf += chunk
        except OSError as exc:
            raise MQTTError("io_error", str(exc))
        return buf

    def _read_packet(self):
        """(first byte, body bytes) of the next packet from the broker."""
        head = self._read_exact(1)[0]
        n = 0
        shift = 0
        while True:
            b = self._read_exact(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("protocol", "remaining length")
        return head, self._read_exact(n) if n else b""

    # ------------------------------------------------------------ commands

    def connect(self, stream, clean_session=True):
        """Send CONNECT over ``stream`` and wait for CONNACK; True if a session
        was resumed (session present)."""
        self._stream = stream
        try:
            self._write(
                connect_packet(self.client_id, self.keepalive_s, clean_session,
                               self._username, self._password, self._will)
            )
            head, body = self._read_packet()
            if head != _CONNACK or len(body) != 2:
                raise MQTTError("protocol", "expected CONNACK, got 0x%02x" % head)
            if body[1] != 0:
                raise MQTTError("connect_refused", "code %d" % body[1], body[1])
        except MQTTError:
            self.close()
            raise
        return bool(body[0] & 1)

    def publish(self, topic, payload, qos=1, retain=False):
        """Publish; with QoS 1 return only after the matching PUBACK."""
        self._live_stream()
        pid = 0
        if qos:
            self._pid = self._pid % 0xFFFF + 1
            pid = self._pid
        head, body = publish_packet(topic, payload, qos, pid, retain)
        try:
            # One write: header and payload in separate TCP segments would
            # meet Nagle + delayed ACK and cost ~40 ms per publish.
            self._write(head + body)
            while qos:
                ptype, pbody = self._read_packet()
                # Skip anything else: a late PUBACK for an earlier attempt, or
                # a PINGRESP. A clean session with no subscriptions receives
                # no PUBLISH.
                if ptype & 0xF0 == _PUBACK and pbody == struct.pack(">H", pid):
                    return pid
        except MQTTError:
            self.close()
            raise
        return pid

    def ping(self):
        """PINGREQ and wait for PINGRESP (proves the link is alive)."""
        self._live_stream()
        try:
            self._write(bytes((_PINGREQ, 0)))
            while True:
                if self._read_packet()[0] & 0xF0 == _PINGRESP:
                    return
        except MQTTError:
            self.close()
            raise

    def disconnect(self):
        """Clean DISCONNECT (the broker then does not publish the will)."""
        if self._stream is not None:
            try:
                self._write(bytes((_DISCONNECT, 0)))
            except MQTTError as exc:
                # Already gone: the broker will publish the will instead.
                self.last_error = exc
        self.close()

    def close(self):
        """Drop the stream without DISCONNECT (the broker publishes the will)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except OSError as exc:
                self.last_error = exc
