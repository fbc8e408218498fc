#!/usr/bin/env python3
"""A stand-in for x402-gateway, to check the harness itself: `stub-gateway.py --config FILE`
reads the `listen`, `mode` and `upstream` lines of the harness's config and then, by
`X402_STUB=`:

- `strict` (default): only the exact targets `/`, `/index.html` and `/free/info` are let
  through (forwarded byte for byte, or 200 in forward-auth mode); everything else gets 402.
  The harness must report no bypass: it does not false-positive.
- `leaky`: everything is let through unpriced. The harness must report, on every proxy chain,
  exactly as many bypasses as targets the upstream serves as priced: it catches them all.

    X402_GATEWAY_BIN=tests/pathsafety/stub-gateway.py python3 tests/pathsafety/run.py
    X402_STUB=leaky X402_GATEWAY_BIN=tests/pathsafety/stub-gateway.py python3 tests/pathsafety/run.py
"""

from __future__ import annotations

import os
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FREE = {"/", "/index.html", "/free/info"}
LEAKY = os.environ.get("X402_STUB", "strict") == "leaky"


def load(path: str) -> dict[str, str]:
    out = {}
    for line in open(path):
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "-", "#")):
            out[key.strip()] = value.split("#")[0].strip()
    return out


def forward(port: int, target: str) -> tuple[int, bytes, bytes]:
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request.encode("latin-1"))
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    ctype = b"text/plain"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import client  # noqa: PLC0415
            body = client._dechunk(body)
        if name.strip().lower() == b"content-type":
            ctype = value.strip()
    return status, ctype, body


def main() -> None:
    args = sys.argv[1:]
    config = load(args[args.index("--config") + 1])
    host, _, port = config["listen"].rpartition(":")
    mode = config["mode"]
    upstream = int(config["upstream"].rpartition(":")[2]) if "upstream" in config else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status: int, body: bytes, ctype: bytes = b"text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype.decode("latin-1"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            if mode == "forward-auth":
                uri = self.headers.get("X-Forwarded-Uri", "")
                self.reply(200 if LEAKY or uri in FREE else 402, b"stub\n")
            elif LEAKY or self.path in FREE:
                self.relay()
            else:
                self.reply(402, b"payment required (stub)\n")

        def relay(self) -> None:
            try:
                status, ctype, body = forward(upstream, self.path)
            except (OSError, ValueError, IndexError):
                self.reply(502, b"bad gateway (stub)\n")
                return
            self.reply(status, body, ctype)

        def log_message(self, *_args) -> None:
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
