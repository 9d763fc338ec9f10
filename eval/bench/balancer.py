"""Debian's nginx in front of ``healthqa serve`` replicas, on loopback: for the replicas bench and test.

The configuration is the shipped example, ``deploy/nginx/healthqa.conf``, with its
upstream servers and listening port replaced, so what is measured and tested is
what people deploy. nginx runs in the foreground from a work folder of its own
(pid, logs, temp files), with an access log that names the replica that answered.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eval.bench.server import ROOT, ServerError, free_port

NGINX_EXAMPLE = ROOT / "deploy" / "nginx" / "healthqa.conf"
ACCESS_FORMAT = "$msec $status $upstream_addr $healthqa_request_id"
_SERVER_LINE = re.compile(r"^( *)server 127\.0\.0\.1:\d+( [^;]*)?;")
_LISTEN_LINE = re.compile(r"^( *)listen \d+;")


class BalancerError(ServerError):
    """nginx is missing, refused the configuration, or did not start (a server of the bench, like the API)."""


def nginx_binary() -> str | None:
    """Debian's nginx, if installed (``apt-get install nginx``)."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def site_config(upstreams: Sequence[str], *, port: int, example: Path = NGINX_EXAMPLE) -> str:
    """The example's site configuration with ``upstreams`` (``host:port``) and a loopback listening port."""
    lines = example.read_text(encoding="utf-8").splitlines()
    templates = [m for m in map(_SERVER_LINE.match, lines) if m]
    if not templates or not any(map(_LISTEN_LINE.match, lines)) or "upstream healthqa {" not in lines:
        raise BalancerError(f"{example} lacks 'upstream healthqa {{', 'server 127.0.0.1:PORT ...;' or 'listen PORT;'")
    indent, params = templates[0].group(1), templates[0].group(2) or ""
    rendered = []
    for line in lines:
        if _SERVER_LINE.match(line):
            continue
        listen = _LISTEN_LINE.match(line)
        rendered.append(f"{listen.group(1)}listen 127.0.0.1:{port};" if listen else line)
        if line == "upstream healthqa {":
            rendered += [f"{indent}server {address}{params};" for address in upstreams]
    return "\n".join(rendered) + "\n"


def main_config(site: Path, work_dir: Path) -> str:
    """An nginx.conf that runs in the foreground from ``work_dir`` and includes ``site``."""
    temp = {name: work_dir / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir(parents=True, exist_ok=True)
    return f"""daemon off;
worker_processes 1;
pid {work_dir / "nginx.pid"};
error_log {work_dir / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '{ACCESS_FORMAT}';
    access_log {work_dir / "access.log"} upstreams;
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""


def check_config(config: Path, work_dir: Path) -> None:
    """``nginx -t`` on ``config``.

    Raises:
        BalancerError: nginx is missing or refuses the configuration (its message included).
    """
    binary = nginx_binary()
    if binary is None:
        raise BalancerError("nginx is not installed (apt-get install nginx)")
    config, work_dir = config.resolve(), work_dir.resolve()
    command = [binary, "-t", "-q", "-p", str(work_dir), "-c", str(config), "-e", str(work_dir / "error.log")]
    checked = subprocess.run(command, capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise BalancerError(f"nginx -t refused {config}:\n{checked.stderr.strip()}")


@dataclass(frozen=True)
class Balancer:
    """A running nginx: its base URL and its access log (``ACCESS_FORMAT``)."""

    url: str
    access_log: Path
    pid: int


def answered_by(access_log: Path) -> dict[str, str]:
    """Request id -> the replica (``host:port``) that gave the final answer, from the access log."""
    found = {}
    for line in access_log.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            upstreams, _, request_id = parts[2].rpartition(" ")
            found[request_id] = upstreams.split(",")[-1].strip()  # after retries, the last one answered
    return found


@contextmanager
def running_nginx(upstreams: Sequence[str], *, work_dir: Path, timeout: float = 20.0) -> Iterator[Balancer]:
    """nginx on a free loopback port, round robin over ``upstreams``; stopped after.

    Raises:
        BalancerError: nginx is missing, refuses the configuration, or does not start.
    """
    work_dir = work_dir.resolve()  # nginx reads relative paths from its prefix (-p), not from here
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    site = work_dir / "healthqa.conf"
    site.write_text(site_config(upstreams, port=port), encoding="utf-8")
    config = work_dir / "nginx.conf"
    config.write_text(main_config(site, work_dir), encoding="utf-8")
    check_config(config, work_dir)
    binary = nginx_binary()
    assert binary is not None  # check_config found it
    command = [binary, "-p", str(work_dir), "-c", str(config), "-e", str(work_dir / "error.log")]
    with (work_dir / "nginx.out").open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, process, timeout=timeout, log=work_dir / "error.log")
        yield Balancer(url=f"http://127.0.0.1:{port}", access_log=work_dir / "access.log", pid=process.pid)
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(port: int, process: subprocess.Popen[bytes], *, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BalancerError(f"nginx exited with {process.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise BalancerError(f"nginx did not listen on 127.0.0.1:{port} within {timeout:g} s")
