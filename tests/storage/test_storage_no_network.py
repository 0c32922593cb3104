"""The shared `no_network` fixture (tests/conftest.py): loopback only, loudly."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert socket.getaddrinfo("localhost", 80)


@pytest.mark.network_attempt_expected
def test_remote_addresses_and_dns_are_refused() -> None:
    with pytest.raises(RuntimeError, match="network access attempted"):
        socket.create_connection(("203.0.113.7", 443), timeout=1)
    with pytest.raises(RuntimeError, match="DNS look-up attempted"):
        socket.getaddrinfo("api.twitter.com", 443)


def test_a_swallowed_attempt_still_fails_the_test(tmp_path: Path) -> None:
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sneaky.py").write_text(
        "import socket\n"
        "def test_sneaky():\n"
        "    try:\n"
        "        socket.create_connection(('198.51.100.1', 80), timeout=1)\n"
        "    except Exception:\n"
        "        pass  # a broad except in the code under test\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode != 0, run.stdout
    assert "test tried to reach the network: ('198.51.100.1', 80)" in run.stdout
