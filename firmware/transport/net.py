"""Open the TCP (optionally TLS) stream the MQTT client talks over.

Kept apart from the MQTT protocol so tests and the device share the client,
and so TLS stays optional: ``tls`` false means plain TCP on a trusted LAN
(the edge gateway's local broker); true wraps the socket with the port's
``ssl`` module, verifying the broker (certificate chain and host name)
against ``ca_file`` when one is given.
"""

import socket
from binascii import a2b_base64


def ca_der(path):
    """The CA certificate at ``path`` as DER, from a DER or PEM file.

    The port's TLS stack takes DER (the unix build rejects PEM), so a PEM
    file is decoded here; only its first certificate is used.
    """
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"-----BEGIN"):
        return data
    body = []
    for line in data.split(b"\n")[1:]:
        if line.startswith(b"-----END"):
            break
        body.append(line.strip())
    return a2b_base64(b"".join(body))


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
            ctx.load_verify_locations(cadata=ca_der(ca_file))
        else:
            # No CA configured: encrypt, but do not authenticate the broker.
            ctx.verify_mode = ssl.CERT_NONE  # type: ignore[attr-defined]
        return ctx.wrap_socket(sock, server_hostname=host)
    except OSError:
        sock.close()
        raise
    except Exception as exc:
        # A failed TLS handshake or a bad CA file raises ValueError on the
        # port; the uplink treats every connect failure as OSError (backoff).
        sock.close()
        raise OSError("tls: %s" % exc)
