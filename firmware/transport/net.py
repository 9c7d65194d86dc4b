"""Open the TCP (optionally TLS) stream the MQTT client talks over.

Kept apart from the MQTT protocol so tests and the device share the client,
and so TLS stays optional: ``tls`` false means plain TCP on a trusted LAN
(the edge gateway's local broker); true wraps the socket with the port's
``ssl`` module, verifying the broker against ``ca_file`` when one is given.
"""

import socket


def open_stream(host, port, timeout_ms, tls=False, ca_file=""):
    """A connected stream with ``read``/``write``/``close`` and a timeout."""
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    sock = socket.socket(addr[0], addr[1], addr[2])
    try:
        sock.settimeout(timeout_ms / 1000)
        sock.connect(addr[-1])
        if not tls:
            return sock
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # verify_mode exists on the port's SSLContext; the 1.29 stubs omit it.
        if ca_file:
            ctx.verify_mode = ssl.CERT_REQUIRED  # type: ignore[attr-defined]
            ctx.load_verify_locations(cafile=ca_file)
        else:
            # No CA configured: encrypt, but do not authenticate the broker.
            ctx.verify_mode = ssl.CERT_NONE  # type: ignore[attr-defined]
        return ctx.wrap_socket(sock, server_hostname=host)
    except Exception:
        sock.close()
        raise
