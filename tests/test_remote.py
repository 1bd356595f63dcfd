"""Remote checkpoints (issue 16) against local stand-ins, 127.0.0.1 only: a Hub stand-in
(tests/hub_standin.py, `HF_ENDPOINT` pointed at it) serving a sharded safetensors repo, a `.pt`,
a legacy `.pt` and a Lightning `.ckpt`, and moto's S3 server read through s3fs. Each read is
compared with the local read of the same files, and the bytes the server sent are counted on
the server's side."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ckptlens.checkpoint import read_checkpoint
from ckptlens.checkpoint.index import CheckpointError, LimitExceeded
from ckptlens.checkpoint.remote import parse_ref
from ckptlens.checkpoint.remote.rangefile import Budget, RangeFile, RemoteObject
from ckptlens.render.inspect import index_to_json
from hub_standin import HubStandIn, Repo

SERVER = str(Path(__file__).resolve().parents[1] / "server")
MODEL = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, hidden: int = 1024):
        super().__init__()
        self.inp = nn.Linear(256, hidden)
        self.act = nn.ReLU()
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 10)
'''
READ_AHEAD = 64 << 10


def _state_dict() -> dict[str, Any]:
    import torch

    namespace: dict[str, Any] = {}
    exec(compile(MODEL, "net.py", "exec"), namespace)
    torch.manual_seed(0)
    return {k: v.contiguous() for k, v in namespace["Net"]().state_dict().items()}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("remote")
    (root / "net.py").write_text(MODEL)
    sd = _state_dict()
    sharded = root / "sharded"
    sharded.mkdir()
    groups = [["inp.weight", "inp.bias"], ["mid.weight", "mid.bias"], ["out.weight", "out.bias"]]
    weight_map = {}
    for i, keys in enumerate(groups, 1):
        name = f"model-{i:05d}-of-00003.safetensors"
        save_file({k: sd[k] for k in keys}, str(sharded / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(keys, name))
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (sharded / "config.json").write_text(json.dumps({"hidden": 1024}))
    renamed = root / "renamed"
    renamed.mkdir()
    save_file({k.replace("mid.", "middle."): v for k, v in sd.items()}, str(renamed / "model.safetensors"))
    torch.save(sd, root / "net.pt")
    torch.save(sd, root / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(
        {"state_dict": sd, "hyper_parameters": {"hidden": 1024}, "epoch": 3, "pytorch-lightning_version": "2.6.6"},
        root / "lightning.ckpt",
    )
    # a safetensors header that claims 5 GB, in a sparse 6 GB file: refused before any read
    with open(root / "liar.safetensors", "wb") as fh:
        fh.write(struct.pack("<Q", 5 << 30) + b'{"a":')
        fh.truncate(6 << 30)
    return root


@pytest.fixture
def hub(data: Path) -> Iterator[HubStandIn]:
    with HubStandIn() as standin:
        standin.repos["org/sharded"] = Repo({p.name: str(p) for p in (data / "sharded").iterdir()})
        standin.repos["org/renamed"] = Repo({"model.safetensors": str(data / "renamed" / "model.safetensors")})
        standin.repos["org/files"] = Repo(
            {n: str(data / n) for n in ("net.pt", "legacy.pt", "lightning.ckpt")}
        )
        standin.repos["org/private"] = Repo({"net.pt": str(data / "net.pt")}, token="hf_secret_token_1234")
        standin.repos["org/gated"] = Repo({"net.pt": str(data / "net.pt")}, gated=True)
        for name in ("net.pt", "legacy.pt", "lightning.ckpt", "liar.safetensors"):
            standin.files[name] = str(data / name)
        for path in (data / "sharded").iterdir():
            standin.files[f"sharded/{path.name}"] = str(path)
        yield standin


def env_for(hub: HubStandIn, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CKPTLENS_REMOTE", "AWS_", "FSSPEC_"))}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HOME=str(tmp_path / "hf-home"),  # an empty Hugging Face cache, no stored login
        CKPTLENS_REMOTE_CACHE=str(tmp_path / "remote-cache"),
        CKPTLENS_REMOTE_OFFLINE="0",
        CKPTLENS_REMOTE_RETRIES="0",
        PYTHONPATH=os.pathsep.join([SERVER, os.environ.get("PYTHONPATH", "")]),
    )
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ckptlens", *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd
    )


def inspect(env: dict[str, str], ref: str) -> dict[str, Any]:
    result = cli(env, "inspect", ref, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def resolve_bytes(hub: HubStandIn) -> int:
    """Body bytes the stand-in sent for file reads (not the API's JSON)."""
    return sum(n for _, path, n in hub.stats.requests if "/resolve/" in path or path.startswith("/files/"))


def local(path: Path) -> dict[str, Any]:
    return index_to_json(read_checkpoint(str(path)))


# -- the Hub ------------------------------------------------------------------------------


def test_sharded_hub_repo_reads_headers_only(hub: HubStandIn, data: Path, tmp_path: Path) -> None:
    remote = inspect(env_for(hub, tmp_path), "hf://org/sharded")
    expected = local(data / "sharded")
    for field in ("format", "tensors", "config", "metadata", "safety", "size"):
        assert remote[field] == expected[field], field
    assert remote["path"] == "hf://org/sharded"
    # one ranged read per shard (header + read-ahead), the index and config.json whole
    shards = sorted((data / "sharded").glob("*.safetensors"))
    small = sum(p.stat().st_size for p in (data / "sharded").glob("*.json"))
    assert remote["bytes_read"] == sum(min(p.stat().st_size, READ_AHEAD) for p in shards) + small
    assert resolve_bytes(hub) == remote["bytes_read"]
    assert remote["bytes_read"] < remote["size"] / 20


@pytest.mark.parametrize("name", ["net.pt", "legacy.pt", "lightning.ckpt"])
def test_torch_files_on_the_hub_and_by_url(hub: HubStandIn, data: Path, tmp_path: Path, name: str) -> None:
    expected = local(data / name)
    for ref in (f"hf://org/files/{name}", f"{hub.url}/files/{name}"):
        hub.stats.reset()
        remote = inspect(env_for(hub, tmp_path / ref.split(":")[0]), ref)
        for field in ("format", "state_dict_path", "tensors", "hyper_parameters", "entries", "versions", "safety", "size"):
            assert remote[field] == expected[field], (ref, field)
        assert resolve_bytes(hub) == remote["bytes_read"]
        # the zip's two ends and its local headers, or the legacy file's pickles: not its data
        assert 0 < remote["bytes_read"] < remote["size"] / 10, ref


def test_check_against_the_hub(hub: HubStandIn, data: Path, tmp_path: Path) -> None:
    env = env_for(hub, tmp_path)
    net = str(data / "net.py")
    fits = cli(env, "check", net, "--class", "Net", "--checkpoint", "hf://org/sharded", "--format", "json")
    assert fits.returncode == 0, fits.stderr
    report = json.loads(fits.stdout)
    assert report["findings"] == []
    assert report["coverage"] == {"tensors": 6, "checked": 6, "keys_only": 0, "unchecked": 0}
    renamed = cli(env, "check", net, "--class", "Net", "--checkpoint", "hf://org/renamed", "--format", "json")
    assert renamed.returncode == 1, renamed.stderr
    codes = {f["code"] for f in json.loads(renamed.stdout)["findings"]}
    assert "renamed-module" in codes


def test_second_read_costs_no_network(hub: HubStandIn, tmp_path: Path) -> None:
    env = env_for(hub, tmp_path)
    first = inspect(env, "hf://org/sharded")
    assert hub.stats.count > 0
    hub.stats.reset()
    second = inspect(env, "hf://org/sharded")
    assert hub.stats.count == 0
    assert second["bytes_read"] == 0
    assert second["tensors"] == first["tensors"]
    # offline, the cache still answers; past the TTL, the revision is asked again but the
    # shards' bytes (keyed by commit) come from the cache
    assert inspect({**env, "HF_HUB_OFFLINE": "1"}, "hf://org/sharded")["tensors"] == first["tensors"]
    assert hub.stats.count == 0
    stale = inspect({**env, "CKPTLENS_REMOTE_TTL": "0"}, "hf://org/sharded")
    assert stale["bytes_read"] == 0
    asked = [path.split("?")[0] for _, path, _ in hub.stats.requests if "/api/agent-" not in path]
    assert asked == ["/api/models/org/sharded/revision/main"]


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_error_lines(hub: HubStandIn, tmp_path: Path) -> None:
    env = env_for(hub, tmp_path)
    line = _one_error_line(cli(env, "inspect", "hf://org/missing"))
    assert "hf://org/missing: no such repository, or a private one you cannot read (HTTP 401)" in line
    assert "HF_TOKEN" in line
    line = _one_error_line(cli({**env, "HF_TOKEN": "hf_wrong_token_5678"}, "inspect", "hf://org/private/net.pt"))
    assert "(HTTP 401)" in line and "hf_wrong_token_5678" not in line
    assert inspect({**env, "HF_TOKEN": "hf_secret_token_1234"}, "hf://org/private/net.pt")["format"] == "torch-zip"
    line = _one_error_line(cli(env, "inspect", "hf://org/gated"))
    assert "hf://org/gated: a gated repository: accept its conditions" in line
    line = _one_error_line(cli(env, "inspect", "hf://org/files@v9/net.pt"))
    assert "has no revision 'v9'" in line
    line = _one_error_line(cli(env, "inspect", "hf://org/files/nothing.pt"))
    assert "nothing.pt" in line
    line = _one_error_line(cli(env, "inspect", f"{hub.url}/files/nothing.pt"))
    assert line.endswith("/files/nothing.pt: not found (HTTP 404)")
    line = _one_error_line(cli({**env, "HF_HUB_OFFLINE": "1"}, "inspect", "hf://org/sharded"))
    assert "offline" in line
    secret = f"http://user:pa55word@127.0.0.1:{hub.url.rsplit(':', 1)[1]}/files/nothing.pt?sig=s3cr3t"
    line = _one_error_line(cli(env, "inspect", secret))
    assert "pa55word" not in line and "s3cr3t" not in line and "user" not in line


def test_bounded(hub: HubStandIn, tmp_path: Path) -> None:
    env = env_for(hub, tmp_path)
    line = _one_error_line(cli({**env, "CKPTLENS_REMOTE_MAX_BYTES": "20000"}, "inspect", "hf://org/sharded"))
    assert "cap per checkpoint" in line
    hub.stats.reset()
    line = _one_error_line(cli(env, "inspect", f"{hub.url}/files/liar.safetensors"))
    assert "exceeds the 10 MiB limit" in line
    assert resolve_bytes(hub) == READ_AHEAD  # the first block, for a 6 GB file


def test_reference_parsing() -> None:
    ref = parse_ref("hf://org/name@v1.0/sub/folder")
    assert (ref.repo, ref.revision, ref.subfolder) == ("org/name", "v1.0", "sub/folder")
    assert parse_ref("hf://gpt2").repo == "gpt2"
    with pytest.raises(CheckpointError, match="malformed hub reference"):
        parse_ref("hf://org/na me")
    assert parse_ref("https://u:p@host/x.pt?token=1").shown == "https://host/x.pt"


def test_range_file_reads_ahead_and_counts() -> None:
    blob = bytes(range(256)) * 4096  # 1 MiB
    calls: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        calls.append((start, end))
        return blob[start:end]

    budget = Budget(max_bytes=200_000)
    fh = RangeFile(RemoteObject("x", "x", len(blob), "x", fetch), budget, read_ahead=1000)
    assert fh.read(10) == blob[:10]
    assert fh.read(10) == blob[10:20]  # inside the read-ahead: no request
    fh.seek(5000)
    assert fh.read(100) == blob[5000:5100]
    fh.prefetch([(9000, 30), (9040, 30), (700_000, 30)])  # neighbours merged, no read-ahead
    fh.seek(990)
    assert fh.read(20) == blob[990:1010]  # across the end of the first block
    assert calls == [(0, 1000), (5000, 6000), (9000, 9070), (700_000, 700_030), (1000, 2000)]
    assert budget.transferred == 1000 + 1000 + 70 + 30 + 1000
    with pytest.raises(LimitExceeded):
        fh.pread(300_000, 500_000)


def test_cli_start_up_imports_no_remote_library() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ckptlens", "--help"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([SERVER, os.environ.get("PYTHONPATH", "")])},
    )
    assert result.returncode == 0
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "ckptlens.cli" in imported
    assert not {m for m in imported if m.split(".")[0] in ("huggingface_hub", "fsspec", "s3fs", "httpx2")}


def test_workspace_check_of_a_hub_load_call(hub: HubStandIn, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (project / "models.py").write_text(MODEL + '\n\nmodel = Net.from_pretrained("org/renamed")\n')
    env = env_for(hub, tmp_path)
    offline = cli({**env, "HF_HUB_OFFLINE": "1"}, "check", "--no-cache", "--format", "json", cwd=project)
    assert offline.returncode == 0, offline.stderr  # information only: nothing could be checked
    (finding,) = json.loads(offline.stdout)["findings"]
    assert (finding["code"], finding["severity"], finding["link"]) == ("hub-not-cached", "information", "org/renamed")
    assert "the Hub could not be read" in finding["message"] and "offline" in finding["message"]
    assert hub.stats.count == 0
    first = cli(env, "check", "--format", "json", cwd=project)
    assert first.returncode == 1, first.stderr
    findings = json.loads(first.stdout)["findings"]
    assert {(f["code"], f["link"]) for f in findings} == {("renamed-module", "hf://org/renamed")}
    assert hub.stats.count > 0
    hub.stats.reset()
    again = cli(env, "check", "--format", "json", cwd=project)  # the run cache: no request
    assert (again.returncode, json.loads(again.stdout)) == (1, json.loads(first.stdout))
    assert hub.stats.count == 0
    stale = cli({**env, "CKPTLENS_REMOTE_TTL": "0"}, "check", "--format", "json", cwd=project)
    assert json.loads(stale.stdout) == json.loads(first.stdout)
    asked = [path.split("?")[0] for _, path, _ in hub.stats.requests]
    assert asked == ["/api/models/org/renamed/revision/main"]  # the revision again, no file


def test_sharded_index_by_url(hub: HubStandIn, data: Path, tmp_path: Path) -> None:
    """A `*.index.json` URL: its shards and config.json are found beside it (a HEAD each)."""
    remote = inspect(env_for(hub, tmp_path), f"{hub.url}/files/sharded/model.safetensors.index.json")
    expected = local(data / "sharded")
    for field in ("format", "tensors", "config", "size"):
        assert remote[field] == expected[field], field
    assert resolve_bytes(hub) == remote["bytes_read"]


def test_map_write_needs_a_local_checkpoint(hub: HubStandIn, data: Path, tmp_path: Path) -> None:
    result = cli(
        env_for(hub, tmp_path), "map", str(data / "net.py"), "--class", "Net", "--checkpoint",
        "hf://org/sharded", "--write", str(tmp_path / "out.safetensors"),
    )
    assert result.returncode == 2
    assert "download the remote checkpoint first" in result.stderr
    assert hub.stats.count == 0 and not (tmp_path / "out.safetensors").exists()


def test_retries_then_reads(hub: HubStandIn, data: Path, tmp_path: Path) -> None:
    hub.fail_next = 2
    remote = inspect(env_for(hub, tmp_path, CKPTLENS_REMOTE_RETRIES="2"), f"{hub.url}/files/net.pt")
    assert remote["tensors"] == local(data / "net.pt")["tensors"]
    # two 503 answers, then the HEAD that got through, then the ranged reads
    assert [(m, p) for m, p, _ in hub.stats.requests[:3]] == [("HEAD", "/files/net.pt")] * 3
    assert {(m, p) for m, p, _ in hub.stats.requests[3:]} == {("GET", "/files/net.pt"), ("HEAD", "/files/config.json")}
    hub.fail_next = 3
    line = _one_error_line(cli(env_for(hub, tmp_path / "again", CKPTLENS_REMOTE_RETRIES="2"), "inspect", f"{hub.url}/files/net.pt"))
    assert line.endswith("/files/net.pt: the server answered HTTP 503")


def test_changed_file_is_read_again(hub: HubStandIn, data: Path, tmp_path: Path) -> None:
    """Ranges are cached by URL + ETag: a file replaced on the server is read anew."""
    import torch

    path = tmp_path / "moving.pt"
    sd = _state_dict()
    torch.save(sd, path)
    hub.files["moving.pt"] = str(path)
    env = env_for(hub, tmp_path, CKPTLENS_REMOTE_TTL="0")
    first = inspect(env, f"{hub.url}/files/moving.pt")
    torch.save({k.replace("mid.", "middle."): v for k, v in sd.items()}, path)
    second = inspect(env, f"{hub.url}/files/moving.pt")
    assert "middle.weight" in second["tensors"] and "middle.weight" not in first["tensors"]
    assert second["bytes_read"] > 0
    third = inspect(env, f"{hub.url}/files/moving.pt")  # same ETag: only the HEAD
    assert third["bytes_read"] == 0 and third["tensors"] == second["tensors"]


def test_legacy_pickle_longer_than_the_first_read(hub: HubStandIn, tmp_path: Path) -> None:
    """A legacy file whose pickles outgrow the first 64 KiB: the prefix grows until they parse."""
    import torch

    path = tmp_path / "many.pt"
    torch.save({f"blocks.{i}.weight": torch.zeros(64, 64) for i in range(3000)}, path, _use_new_zipfile_serialization=False)
    hub.files["many.pt"] = str(path)
    remote = inspect(env_for(hub, tmp_path), f"{hub.url}/files/many.pt")
    assert remote["tensors"] == local(path)["tensors"]
    assert remote["bytes_read"] == resolve_bytes(hub) < path.stat().st_size / 10


def test_a_remote_check_answers_from_the_result_cache_while_the_reference_is_fresh(
    hub: HubStandIn, data: Path, tmp_path: Path
) -> None:
    """The CLI's result cache (`ckptlens.result_cache`) with a remote checkpoint: a second check
    asks nothing of the network and loads no engine; once the reference's resolution is stale
    (`CKPTLENS_REMOTE_TTL`), it is asked again; a new commit gives a new answer."""
    import time

    project = tmp_path / "project"
    project.mkdir()
    (project / "net.py").write_text(MODEL)
    old = time.time() - 100  # older than the result cache's 2 s "racily modified" window
    for path in (project / "net.py", project):
        os.utime(path, (old, old))
    env = env_for(hub, tmp_path, CKPTLENS_CACHE_DIR=str(tmp_path / "cache"))
    code = (
        "import sys; from ckptlens.cli import main; c = main(sys.argv[1:]); "
        "sys.stderr.write(str('ckptlens.engine.interp' in sys.modules) + '\\n'); raise SystemExit(c)"
    )
    args = ["check", str(project / "net.py"), "--class", "Net", "--checkpoint", "hf://org/sharded", "--format", "json"]

    def run(extra: dict[str, str] | None = None) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, "-c", code, *args], env={**env, **(extra or {})}, capture_output=True, text=True, timeout=120
        )
        return done.returncode, done.stdout, done.stderr.strip().splitlines()[-1]

    hub.stats.reset()
    first = run()
    assert first[0] == 0 and first[2] == "True" and hub.stats.count > 0
    hub.stats.reset()
    assert run() == (0, first[1], "False")  # the answer, from the result cache
    assert hub.stats.count == 0
    stale = run({"CKPTLENS_REMOTE_TTL": "0"})  # the same entry, its resolution now stale
    assert stale == (0, first[1], "True")  # analysed again after asking the Hub
    assert [p.split("?")[0] for _, p, _ in hub.stats.requests] == ["/api/models/org/sharded/revision/main"]
    # a new commit of the repository, with a shard that no longer fits
    files = dict(hub.repos["org/sharded"].files)
    renamed = hub.repos["org/renamed"].files["model.safetensors"]
    hub.repos["org/sharded"] = Repo({"model.safetensors": renamed})
    try:
        changed = run({"CKPTLENS_REMOTE_TTL": "0"})
        assert changed[0] == 1 and changed[2] == "True"
        assert "renamed-module" in {f["code"] for f in json.loads(changed[1])["findings"]}
    finally:
        hub.repos["org/sharded"] = Repo(files)
