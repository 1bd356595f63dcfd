"""An `s3://` shard set through fsspec/s3fs, against moto's S3 server on 127.0.0.1 (its WSGI
app wrapped to count the object bytes it sends), as a training cluster would have written it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_remote import SERVER, cli, data, local  # noqa: F401 - `data` is a fixture

pytest.importorskip("s3fs")
pytest.importorskip("moto")


class Counted:
    """WSGI middleware: body bytes of GET answers, per request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.gets: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = list(self.app(environ, start_response))
        if environ["REQUEST_METHOD"] == "GET":
            with self.lock:
                self.gets.append((environ.get("PATH_INFO", ""), sum(len(b) for b in body)))
        return body


@pytest.fixture(scope="module")
def s3(data: Path) -> Iterator[tuple[str, Counted]]:  # noqa: F811
    import boto3
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = Counted(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    client = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client.create_bucket(Bucket="runs")
    for path in (data / "sharded").iterdir():
        client.upload_file(str(path), "runs", f"exp1/final/{path.name}")
    client.upload_file(str(data / "lightning.ckpt"), "runs", "exp1/last.ckpt")
    app.gets.clear()
    try:
        yield url, app
    finally:
        server.shutdown()


def s3_env(url: str, tmp_path: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CKPTLENS_REMOTE", "AWS_", "FSSPEC_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        FSSPEC_S3_ENDPOINT_URL=url,  # fsspec's own setting: s3fs gets endpoint_url=...
        CKPTLENS_REMOTE_CACHE=str(tmp_path / "remote-cache"),
        CKPTLENS_REMOTE_OFFLINE="0",
        PYTHONPATH=os.pathsep.join([SERVER, os.environ.get("PYTHONPATH", "")]),
    )
    return env


def test_s3_shard_set(s3: tuple[str, Counted], data: Path, tmp_path: Path) -> None:  # noqa: F811
    url, app = s3
    env = s3_env(url, tmp_path)
    result = cli(env, "inspect", "s3://runs/exp1/final/", "--format", "json")
    assert result.returncode == 0, result.stderr
    remote = json.loads(result.stdout)
    expected = local(data / "sharded")
    for field in ("format", "tensors", "config", "safety", "size"):
        assert remote[field] == expected[field], field
    assert remote["path"] == "s3://runs/exp1/final/"
    sent = sum(n for path, n in app.gets if path.startswith("/runs/exp1/final/"))
    assert sent == remote["bytes_read"]
    assert remote["bytes_read"] < remote["size"] / 20

    check = cli(env, "check", str(data / "net.py"), "--class", "Net", "--checkpoint", "s3://runs/exp1/final", "--format", "json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["findings"] == []

    app.gets.clear()
    ckpt = cli(env, "inspect", "s3://runs/exp1/last.ckpt", "--format", "json")
    assert ckpt.returncode == 0, ckpt.stderr
    remote = json.loads(ckpt.stdout)
    assert remote["tensors"] == local(data / "lightning.ckpt")["tensors"]
    assert remote["hyper_parameters"] == {"hidden": 1024}
    assert 0 < remote["bytes_read"] < remote["size"] / 10


def test_s3_errors(s3: tuple[str, Counted], tmp_path: Path) -> None:
    url, _ = s3
    result = cli(s3_env(url, tmp_path), "inspect", "s3://runs/exp2/none.pt")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["ckptlens: error: s3://runs/exp2/none.pt: not found"]
