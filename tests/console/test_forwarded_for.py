"""Behind Caddy, the console takes client addresses from X-Forwarded-For of the proxy only.

Sign-in throttling counts failures per client address. Without FORWARDED_ALLOW_IPS set to
the proxy, every client behind Caddy counted as Caddy's one address (one attacker slowed
everybody's sign-in); with the header believed from anyone, a client could name any
address it liked. The console's server (the real uvicorn, `console_server_config`) is run
here on 127.0.0.1 and a client sends a forged X-Forwarded-For; the compose file is checked
for the address it trusts.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
import yaml
from sqlalchemy.engine import Engine

from console.service import console_server_config
from console.web import create_app
from storage.console_models import LoginThrottle
from storage.dialect import table

ROOT = Path(__file__).resolve().parents[2]
CLIENT = "203.0.113.7"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(app: Any) -> Iterator[str]:
    port = _free_port()
    config = console_server_config(app, "127.0.0.1", port)
    config.lifespan = "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _failed_sign_in(base: str, forwarded_for: str) -> None:
    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as http:
        token = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text)
        assert token
        answer = http.post("/login", headers={"X-Forwarded-For": forwarded_for},
                           data={"username": "alice", "password": "wrong", "csrf": token.group(1), "next": "/queue"})
        assert answer.status_code == 401


def _counted_addresses(engine: Engine) -> set[str]:
    lt = table(LoginThrottle)
    with engine.connect() as conn:
        keys = conn.execute(sa.select(lt.c.key).where(lt.c.key.like("ip:%"))).scalars()
        return {k.removeprefix("ip:") for k in keys}


@pytest.mark.parametrize(("trusted", "counted"), [
    ("172.28.0.10", "127.0.0.1"),  # the proxy is elsewhere: a client's own header is ignored
    ("127.0.0.1", CLIENT),  # the request came through the trusted proxy: its header counts
])
def test_x_forwarded_for_is_believed_from_the_trusted_proxy_only(db: Engine, rules: Any, monkeypatch: pytest.MonkeyPatch,
                                                                 trusted: str, counted: str) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", trusted)
    for base in _serve(create_app(db, lambda: rules)):
        _failed_sign_in(base, CLIENT)
    assert _counted_addresses(db) == {counted}


def test_without_the_setting_only_loopback_is_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    config = console_server_config(object(), "0.0.0.0", 8000)
    assert config.proxy_headers and config.forwarded_allow_ips == "127.0.0.1,::1"


def test_compose_trusts_exactly_caddys_fixed_address() -> None:
    """docker-compose.yml: the replicas' FORWARDED_ALLOW_IPS is Caddy's static address on
    the compose network, an address Docker never hands to another container (outside the
    subnet's ip_range); only Caddy's port is published; Caddy trusts no upstream headers."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    trusted = services["socialear"]["environment"]["FORWARDED_ALLOW_IPS"]
    caddy_ip = services["caddy"]["networks"]["default"]["ipv4_address"]
    assert trusted == caddy_ip
    [ipam] = compose["networks"]["default"]["ipam"]["config"]
    address = ipaddress.ip_address(caddy_ip)
    assert address in ipaddress.ip_network(ipam["subnet"])
    assert address not in ipaddress.ip_network(ipam["ip_range"])
    assert ipaddress.ip_network(ipam["ip_range"]).subnet_of(ipaddress.ip_network(ipam["subnet"]))  # type: ignore[arg-type]
    assert "ports" not in services["socialear"] and services["caddy"]["ports"]
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "trusted_proxies" not in re.sub(r"#.*", "", caddyfile)  # Caddy replaces a client's X-Forwarded-For
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"FORWARDED_ALLOW_IPS=127\.0\.0\.1,::1\b", dockerfile)  # one container, no proxy: loopback only
