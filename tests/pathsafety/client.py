"""A raw HTTP/1.1 client: the request target goes on the wire byte for byte, unnormalised."""

from __future__ import annotations

import socket

TIMEOUT = 10.0


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            break
        try:
            size = int(line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            return bytes(out) + body  # not chunked after all: keep everything
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


def get(port: int, target: str, headers: tuple[tuple[str, str], ...] = ()) -> tuple[int, bytes]:
    """`GET target` to 127.0.0.1:port; (status, body). Status 0: no parsable response (the
    connection was refused, reset or timed out, or the answer was not HTTP)."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    request = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
               ).encode("latin-1")
    chunks = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            s.sendall(request)
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
    except OSError:
        if not chunks:
            return 0, b""
    raw = b"".join(chunks)
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/"):
        return 0, raw
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return 0, raw
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            body = _dechunk(body)
    return status, body


def head(port: int, target: str) -> bytes:
    """The raw header block of `GET target` to 127.0.0.1:port (empty if there is none)."""
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode("latin-1")
    chunks = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            s.sendall(request)
            while b"\r\n\r\n" not in b"".join(chunks):
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
    except OSError:
        pass
    return b"".join(chunks).partition(b"\r\n\r\n")[0]
