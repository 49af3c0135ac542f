"""The one transport: the same User-Agent everywhere, keys never follow redirects, no
credential crosses hosts, proxies from the environment honoured except for loopback."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from lumen_cli.api.client import LumenClient
from lumen_cli.api.transport import new_client, user_agent
from lumen_cli.clock import FakeClock
from lumen_cli.download.fetch import Downloader
from lumen_cli.errors import BadResponse
from lumen_cli.sandbox import SandboxServer
from lumen_cli.serving import BackgroundHTTPServer
from lumen_cli.webhook.sender import Sender
from tests.conftest import CLI
from tests.support import JOBS_PATH, TEST_KEY, Receiver, free_port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hook:
        yield hook


def test_every_client_sends_the_same_user_agent_and_only_the_api_client_a_key(
    receiver: Receiver, tmp_path: Path
) -> None:
    with LumenClient(receiver.server.url, TEST_KEY, clock=FakeClock()) as api:
        with pytest.raises(BadResponse):  # {"ok": true} is not a job
            api.get_job("v1")
    with Downloader(clock=FakeClock()) as downloader:
        downloader.fetch(receiver.server.url + "/file.mp4", tmp_path / "file.mp4")
    with Sender() as sender:
        sender.post(receiver.url, b"{}", {"Authorization": "Bearer smuggled"})
    agents = {call.headers["User-Agent"] for call in receiver.received}
    assert agents == {user_agent()}
    keys = [call.headers.get("Authorization") for call in receiver.received]
    assert keys == [f"Bearer {TEST_KEY}", None, None]  # even a header handed to the sender


def test_a_client_that_holds_the_key_cannot_follow_redirects() -> None:
    with pytest.raises(ValueError, match="never follows redirects"):
        new_client(api_key=TEST_KEY, follow_redirects=True)


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy for plain http: answers every absolute-form GET with its own bytes."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Proxy.seen.append(self.path)
        body = b"via the proxy"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = BackgroundHTTPServer("127.0.0.1", 0, _Proxy, name="test-proxy")
    server.start()
    yield server.url
    server.stop()


def test_environment_proxies_carry_remote_hosts(
    proxy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with Downloader(clock=FakeClock()) as downloader:
        saved = downloader.fetch("http://results.example/clip.mp4", tmp_path / "clip.mp4")
    assert saved.path.read_bytes() == b"via the proxy"
    assert _Proxy.seen == ["http://results.example/clip.mp4"]


def test_loopback_is_never_proxied(
    proxy: str, sandbox: SandboxServer, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(variable, dead)
    run = cli("submit", "a cat", "-q")  # the sandbox is on 127.0.0.1
    assert run.code == 0, run.stderr
    assert _Proxy.seen == []


def test_unusable_proxy_settings_are_a_clear_error(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("socksio") is not None:
        pytest.skip("socks support is installed here, so a socks proxy is usable")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1")
    run = cli("status", "v1")
    assert run.code == 2
    assert "proxy settings" in run.stderr
    assert "Traceback" not in run.stderr


def test_ca_certificates_are_loaded_for_https_only(
    home: Path, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(home / "no-such-bundle.pem"))
    job_id = api.post(JOBS_PATH, json={"model": "seedance-2", "prompt": "a cat"}).json()["id"]

    def status(*flags: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "lumen_cli", *flags, "status", job_id]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    plain = status()  # the sandbox, on http: no certificate is needed, nor read
    assert plain.returncode == 0, plain.stderr
    secure = status("--base-url", "https://127.0.0.1:9")
    assert secure.returncode == 2
    assert secure.stderr.startswith("error: the CA certificates are unusable: ")
    assert "SSL_CERT_FILE" in secure.stderr
