"""A contact centre on 127.0.0.1 for benchmarks and outage tests: a real HTTP server
that verifies socialear's webhook signatures and can be taken down on command.

    receiver = WebhookReceiver(secret)        # listening on an ephemeral loopback port
    receiver.phase("refuse")                  # listening socket closed: connection refused
    receiver.phase("500")                     # answers 500
    receiver.phase("429", retry_after=5)      # answers 429 with Retry-After: 5
    receiver.phase("up")                      # accepts (202) and records

What it records, per Idempotency-Key: when it was first accepted, and how often it was
accepted (more than once = a duplicate ticket). A request that arrives while an earlier
429's Retry-After is still running counts as a `retry_after_violation`, unless it arrived
within `grace_s` of that 429: a request already in flight when the 429 went out (parallel
deliveries) could not have honoured an answer it had not received yet.

"refuse" closes the listening socket (new connections are refused by the kernel) and
drops any kept-alive connection at its next request, so a client with a pooled
connection sees a network error too, as it would when the far end restarts.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from responders.sinks.webhook import verify_signature

PHASES = ("up", "refuse", "500", "429")


class WebhookReceiver:
    def __init__(self, secret: str, *, port: int = 0, grace_s: float = 0.25, clock: Any = time.monotonic):
        self.secret = secret
        self.grace_s = grace_s
        self.clock = clock
        self.lock = threading.Lock()
        self.arrived: dict[str, float] = {}  # key -> first accepted (clock)
        self.accepted: Counter[str] = Counter()
        self.priority: dict[str, str] = {}
        self.order: list[str] = []  # keys in order of first acceptance
        self.requests = 0
        self.bad_signatures = 0
        self.rejected: Counter[str] = Counter()  # phase -> requests answered with an error
        self.retry_after_violations = 0
        self._limits: list[tuple[float, float]] = []  # (429 sent at, Retry-After until)
        self._phase = "up"
        self._retry_after = 0.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self._listen()

    # -- control --------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/escalations"

    def phase(self, name: str, *, retry_after: float = 0.0) -> None:
        if name not in PHASES:
            raise ValueError(f"phase {name!r}: one of {', '.join(PHASES)}")
        with self.lock:
            self._phase, self._retry_after = name, retry_after
        if name == "refuse":
            self._close()
        elif self._server is None:
            self._listen()

    def close(self) -> None:
        self._close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    @property
    def duplicates(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.accepted.values() if n > 1)

    # -- server ---------------------------------------------------------------------
    def _listen(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as any real contact-centre endpoint

            def do_POST(self) -> None:  # http.server's naming
                receiver._handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        for attempt in range(100):  # the port may linger for a moment after "refuse"
            try:
                server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                if attempt == 99:
                    raise
                time.sleep(0.05)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="receiver", daemon=True)
        self._thread.start()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        now = self.clock()
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.lock:
            self.requests += 1
            phase, retry_after = self._phase, self._retry_after
            if any(sent + self.grace_s < now < until for sent, until in self._limits):
                self.retry_after_violations += 1
        if phase == "refuse":  # a kept-alive connection: drop it, no answer
            h.close_connection = True
            return
        if phase in ("500", "429"):
            with self.lock:
                self.rejected[phase] += 1
                if phase == "429":
                    self._limits.append((self.clock(), self.clock() + retry_after))
            h.send_response(int(phase))
            if phase == "429":
                h.send_header("Retry-After", f"{retry_after:g}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        ok = verify_signature(self.secret, h.headers.get("X-Socialear-Timestamp", ""), body,
                              h.headers.get("X-Socialear-Signature", ""))
        key = h.headers.get("Idempotency-Key", "")
        with self.lock:
            if not ok:
                self.bad_signatures += 1
            else:
                self.accepted[key] += 1
                if key not in self.arrived:
                    self.arrived[key] = now
                    self.order.append(key)
                    try:
                        self.priority[key] = json.loads(body)["escalation"]["priority"]
                    except (ValueError, KeyError, TypeError):
                        pass
        h.send_response(202 if ok else 401)
        h.send_header("Content-Length", "0")
        h.end_headers()


# -- the receiver in its own process ------------------------------------------------------
# A benchmark that runs socialear in-process must not also run the contact centre there:
# the receiver's threads would queue for the same interpreter lock as the pipeline and
# the measured latency would be the bench's own. `RemoteReceiver` starts this module as
# a child process and drives it through a small control server on a second port (the
# webhook port itself goes away in the "refuse" phase).


def snapshot(r: WebhookReceiver) -> dict[str, Any]:
    with r.lock:
        return {
            "arrived": dict(r.arrived), "accepted": dict(r.accepted), "priority": dict(r.priority),
            "order": list(r.order), "requests": r.requests, "bad_signatures": r.bad_signatures,
            "rejected": dict(r.rejected), "retry_after_violations": r.retry_after_violations,
            "duplicates": sum(n - 1 for n in r.accepted.values() if n > 1), "port": r.port,
        }


def serve(secret: str, port: int = 0) -> None:
    """Child process: the receiver plus a control server; prints both ports, then serves."""
    receiver = WebhookReceiver(secret, port=port)

    class Control(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(snapshot(receiver)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            order = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            receiver.phase(order["phase"], retry_after=float(order.get("retry_after", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    control = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    print(json.dumps({"port": receiver.port, "control": control.server_address[1]}), flush=True)
    try:
        control.serve_forever(poll_interval=0.05)
    finally:
        receiver.close()


class RemoteReceiver:
    """A `WebhookReceiver` in a child process; `arrived` times are time.monotonic(),
    which is system-wide on Linux, so they compare with the parent's."""

    def __init__(self, secret: str, port: int = 0):
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--secret", secret, "--port", str(port)],
            stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            raise RuntimeError("receiver process did not start")
        ports = json.loads(line)
        self.port, self._control = ports["port"], f"http://127.0.0.1:{ports['control']}/"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/escalations"

    def phase(self, name: str, *, retry_after: float = 0.0) -> None:
        import urllib.request

        data = json.dumps({"phase": name, "retry_after": retry_after}).encode()
        urllib.request.urlopen(urllib.request.Request(self._control, data=data, method="POST"), timeout=30).read()

    def snapshot(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(self._control, timeout=30) as resp:
            return json.loads(resp.read())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> RemoteReceiver:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="a signed-webhook receiver on 127.0.0.1, driven over a control port")
    ap.add_argument("--secret", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    serve(args.secret, args.port)
