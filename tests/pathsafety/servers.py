"""The servers of the path-safety harness: four real upstreams, the gateways, the nginx front.

Every process is started in its own process group and tracked; `Procs.stop_all` ends each
group (SIGTERM, then SIGKILL), and run.py calls it on exit, error and signal.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The resources every upstream serves. Priced bodies carry a marker nothing else contains.
MARKERS = {
    "/paid/report": "SECRET-PAID-REPORT-7f3a",
    "/api/v1/items": "SECRET-API-ITEMS-c41e",
}
FREE = {
    "/free/info": "free info: nothing secret here",
    "/index.html": "free index: nothing secret here",
}


class StartError(RuntimeError):
    """A server did not come up; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Procs:
    """The processes this run started, each the leader of its own process group."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list[str], log: Path, env: dict | None = None,
              cwd: Path | None = None) -> subprocess.Popen:
        out = open(log, "ab")
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
        )
        out.close()
        self.procs.append((name, proc, log))
        return proc

    def stop_all(self) -> None:
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 8
        for _, proc, _ in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        # Anything left in a group (a worker, a JVM child), whether or not its leader exited.
        for _, proc, _ in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()

    def wait_listening(self, name: str, proc: subprocess.Popen, port: int, log: Path,
                       timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StartError(f"{name} exited with {proc.returncode} before listening on "
                                 f"{port}; log {log}:\n{tail(log)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise StartError(f"{name} not listening on {port} after {timeout:.0f} s; log {log}:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def make_root(root: Path) -> None:
    """The static files every upstream serves, world-readable."""
    for path, body in {**MARKERS, **FREE}.items():
        file = root / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(body + "\n")
    for dirpath, dirs, files in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)


# --- the upstreams ------------------------------------------------------------------------

def _nginx_conf(prefix: Path, http_body: str) -> str:
    user = "user root root;" if os.geteuid() == 0 else ""
    return f"""
{user}
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type text/plain;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{http_body}
}}
"""


def _start_nginx(procs: Procs, name: str, prefix: Path, http_body: str, ports: list[int]) -> None:
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(_nginx_conf(prefix, http_body))
    log = prefix / "stdout.log"
    argv = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(prefix), "-c", str(conf),
            "-e", str(prefix / "error.log")]
    proc = procs.start(name, argv, log)
    for port in ports:
        procs.wait_listening(name, proc, port, prefix / "error.log", 15)


def start_nginx_static(procs: Procs, tmp: Path, root: Path) -> int:
    port = free_port()
    body = f"""
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
    }}"""
    _start_nginx(procs, "nginx (static)", tmp / "nginx-static", body, [port])
    return port


def start_express(procs: Procs, tmp: Path, root: Path) -> int:
    port = free_port()
    log = tmp / "express.log"
    node = shutil.which("node") or "node"
    proc = procs.start("express", [node, str(HERE / "express-server.mjs"), str(port), str(root)],
                       log, cwd=HERE)
    procs.wait_listening("express", proc, port, log, 20)
    return port


def start_python(procs: Procs, tmp: Path, root: Path) -> int:
    port = free_port()
    log = tmp / "python-http.log"
    proc = procs.start("python http.server",
                       [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                        "--directory", str(root), str(port)], log)
    procs.wait_listening("python http.server", proc, port, log, 15)
    return port


TOMCAT_HOME = Path("/usr/share/tomcat10")
TOMCAT_CONF = Path("/etc/tomcat10")


def start_tomcat(procs: Procs, tmp: Path, root: Path) -> int:
    """Tomcat 10 with its own CATALINA_BASE: the Debian package's conf/ (web.xml holds the
    default servlet and the MIME types), a one-connector server.xml, a ROOT webapp of the
    static files."""
    port = free_port()
    base = tmp / "tomcat"
    for sub in ("logs", "temp", "work", "webapps"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    shutil.copytree(TOMCAT_CONF, base / "conf", dirs_exist_ok=True, symlinks=False,
                    ignore=shutil.ignore_patterns("Catalina", "server.xml", "tomcat-users.xml"))
    (base / "conf" / "server.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{port}" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="10000"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
""")
    shutil.copytree(root, base / "webapps" / "ROOT", dirs_exist_ok=True)
    log = base / "logs" / "console.log"
    env = {
        "CATALINA_HOME": str(TOMCAT_HOME),
        "CATALINA_BASE": str(base),
        "CATALINA_TMPDIR": str(base / "temp"),
        "CATALINA_PID": "",
        "JAVA_OPTS": "-Xms64m -Xmx256m -XX:TieredStopAtLevel=1 -Djava.security.egd=file:/dev/urandom",
    }
    proc = procs.start("tomcat", [str(TOMCAT_HOME / "bin" / "catalina.sh"), "run"], log, env=env)
    procs.wait_listening("tomcat", proc, port, log, 120)
    # The connector listens before the ROOT webapp is deployed: wait for a free page.
    deadline = time.monotonic() + 60
    import client  # noqa: PLC0415 (a sibling module)
    while time.monotonic() < deadline:
        status, body = client.get(port, "/free/info")
        if status == 200:
            return port
        time.sleep(0.3)
    raise StartError(f"tomcat: /free/info not 200 after 60 s; log {log}:\n{tail(log)}")


# --- the gateways and the nginx ForwardAuth front -------------------------------------------

ROUTES_YAML = """
payment:
  wallet: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
  network: base-sepolia
  defaultPrice: "$0.001"
  facilitatorURL: https://x402.org/facilitator
routes:
  - path: /free/**
    free: true
  - path: /
    free: true
  - path: /index.html
    free: true
  - path: /paid/**
    name: paid
    price: "$0.01"
  - path: /api/v1/items
    name: items
    price: "$0.01"
"""


def start_gateway(procs: Procs, tmp: Path, binary: Path, name: str, mode: str,
                  unmatched: str, upstream_port: int | None = None) -> int:
    port = free_port()
    lines = [f"listen: 127.0.0.1:{port}", f"mode: {mode}", f"unmatched: {unmatched}",
             "facilitator: dev"]
    if upstream_port is not None:
        lines.append(f"upstream: http://127.0.0.1:{upstream_port}")
    cfg = tmp / f"gateway-{name}.yaml"
    cfg.write_text("\n".join(lines) + "\n" + ROUTES_YAML)
    log = tmp / f"gateway-{name}.log"
    proc = procs.start(f"gateway {name}", [str(binary), "--config", str(cfg)], log,
                       env={"RUST_LOG": os.environ.get("RUST_LOG", "warn")})
    procs.wait_listening(f"gateway {name}", proc, port, log, 20)
    return port


def start_nginx_front(procs: Procs, tmp: Path, gateway_port: int,
                      upstreams: dict[str, int]) -> dict[str, int]:
    """One nginx, one server block per upstream: `auth_request` to the ForwardAuth gateway with
    the raw `$request_uri`, then `proxy_pass` without a URI part (the request URI goes on as
    the client sent it). A 402 or 400 from the gateway, which auth_request would turn into a
    500, is passed through by status, the 402 with the gateway's `PAYMENT-REQUIRED` challenge;
    403 auth_request passes itself. The README's nginx example is this configuration."""
    ports = {name: free_port() for name in upstreams}
    blocks = []
    for name, up in upstreams.items():
        blocks.append(f"""
    server {{
        listen 127.0.0.1:{ports[name]};
        location / {{
            auth_request /_x402_auth;
            auth_request_set $x402_status $upstream_status;
            auth_request_set $x402_challenge $upstream_http_payment_required;
            error_page 500 = @x402_refused;
            proxy_pass http://127.0.0.1:{up};
            proxy_set_header Host $http_host;
        }}
        location = /_x402_auth {{
            internal;
            proxy_pass http://127.0.0.1:{gateway_port};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Uri $request_uri;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
        location @x402_refused {{
            add_header PAYMENT-REQUIRED $x402_challenge always;
            if ($x402_status = 402) {{ return 402 "payment required (x402 gateway)\\n"; }}
            if ($x402_status = 400) {{ return 400 "bad request (x402 gateway)\\n"; }}
            return 500 "auth error\\n";
        }}
    }}""")
    _start_nginx(procs, "nginx (forward-auth front)", tmp / "nginx-front", "".join(blocks),
                 list(ports.values()))
    return ports
