"""The real VS Code, end to end: code-server 4.100.3 (VS Code 1.100.3) with the built linux-x64
`.vsix` installed, driven from headless Chromium through Playwright, the way a user works:

- the shipped example (fixtures/examples/mlp.py, linked by a directive to mlp_module_prefix.pt)
  and a LightningModule (fixtures/examples/lightning_net.py, linked only by its
  `Net.load_from_checkpoint("x.ckpt")` call, with a real Lightning checkpoint written here from an
  earlier version of the class);
- the diagnostics in the Problems panel on the right lines, the code lens text, the hover table;
- the rename quick fix chosen from the quick-fix menu (the assignment and its uses change, the
  finding clears);
- "Generate key mapping" from the quick-fix menu, from the code lens and from the command palette,
  each on its own copy of the file; then the saved file, run with torch, loads the checkpoint with
  strict=True the way the user's code loads it (`model.load_state_dict(torch.load(path))`,
  `Net.load_from_checkpoint(path)`), every tensor equal to the checkpoint's.

Screenshots of every step go to artifacts/vscode-e2e/ (or $CKPTLENS_E2E_ARTIFACTS).

Needs code-server (vscode-extension/scripts/e2e-setup.sh installs it into ~/.cache/ckptlens-e2e;
or $CKPTLENS_CODE_SERVER), Chromium (/usr/lib/chromium/chromium or $CKPTLENS_CHROMIUM), the
`playwright` package and the built .vsix (vscode-extension/scripts/ci.sh). Without them the test
skips, unless CKPTLENS_REQUIRE_EDITORS=1 (CI), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "fixtures" / "examples"
CODE_SERVER_VERSION = "4.100.3"
REQUIRE = os.environ.get("CKPTLENS_REQUIRE_EDITORS") == "1"
ARTIFACTS = Path(os.environ.get("CKPTLENS_E2E_ARTIFACTS") or ROOT / "artifacts" / "vscode-e2e")
TIMEOUT = 90.0  # seconds for any one condition (a loaded 2-core CI machine)


def _code_server() -> str | None:
    explicit = os.environ.get("CKPTLENS_CODE_SERVER")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    cache = os.environ.get("CKPTLENS_E2E_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ckptlens-e2e"
    )
    cached = Path(cache) / f"code-server-{CODE_SERVER_VERSION}" / "node_modules" / ".bin" / "code-server"
    return str(cached) if cached.exists() else shutil.which("code-server")


def _chromium() -> str | None:
    path = os.environ.get("CKPTLENS_CHROMIUM") or "/usr/lib/chromium/chromium"
    return path if os.access(path, os.X_OK) else None


def _vsix() -> Path | None:
    built = sorted((ROOT / "vscode-extension").glob("ckptlens-linux-x64-*.vsix"), key=os.path.getmtime)
    return built[-1] if built else None


try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

CODE_SERVER, CHROMIUM, VSIX = _code_server(), _chromium(), _vsix()
_missing = [
    what
    for what, ok in (
        ("code-server (bash vscode-extension/scripts/e2e-setup.sh)", CODE_SERVER),
        ("Chromium (apt-get install chromium)", CHROMIUM),
        ("playwright (pip install playwright)", sync_playwright),
        ("the .vsix (bash vscode-extension/scripts/ci.sh)", VSIX),
    )
    if not ok
]
if _missing and REQUIRE:
    pytest.fail("CKPTLENS_REQUIRE_EDITORS=1 but missing: " + "; ".join(_missing), pytrace=False)
pytestmark = pytest.mark.skipif(bool(_missing), reason="missing: " + "; ".join(_missing))

T = TypeVar("T")

MISMATCH_CODES = {"missing-key", "unexpected-key", "shape-mismatch", "renamed-module", "key-prefix"}

# What the test runs with torch after the editor saved the file: the model module loaded the
# user's way, every tensor compared with the checkpoint's (EXPECTED: model key -> path inside it).
LOAD_CHECK = r"""
import importlib, json, sys
import torch

loaded = []
for module_name, kind, ckpt, expected in json.loads(sys.argv[1]):
    module = importlib.import_module(module_name)
    if kind == "torch.load":
        model = module.MLP()
        result = model.load_state_dict(torch.load(ckpt), strict=True)
        assert not result.missing_keys and not result.unexpected_keys, result
    elif kind == "load()":
        model = module.load()  # the user's own function: Net.load_from_checkpoint("x.ckpt")
    else:
        model = module.Net.load_from_checkpoint(ckpt)
    raw = torch.load(ckpt, weights_only=False)
    state = model.state_dict()
    assert sorted(state) == sorted(expected), (module_name, kind, sorted(state), sorted(expected))
    for key, (outer, inner) in expected.items():
        assert torch.equal(state[key], raw[outer][inner]), (module_name, kind, key)
    loaded.append([module_name, kind, len(state)])
print(json.dumps(loaded))
"""


@dataclass
class Marker:
    file: str
    severity: str
    code: str
    line: int  # 1-based, as the Problems panel shows it
    col: int
    message: str


def until(what: str, probe: Callable[[], T | None], timeout: float = TIMEOUT) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class VSCode:
    """The browser page of code-server, driven with the keyboard the way a user would."""

    def __init__(self, page: Any, workspace: Path) -> None:
        self.page = page
        self.workspace = workspace
        self.shots = 0

    def shot(self, name: str) -> Path:
        self.shots += 1
        path = ARTIFACTS / f"{self.shots:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def until(self, what: str, probe: Callable[[], T | None], timeout: float = TIMEOUT) -> T:
        try:
            return until(what, probe, timeout)
        except AssertionError as failure:
            shot = self.shot("FAILED-" + re.sub(r"\W+", "-", what)[:60])
            tab = self.page.locator(".tabs-container .tab.active").get_attribute("aria-label")
            state = f"active tab {tab!r}, code lens {self.lens()!r}, screenshot {shot}"
            raise AssertionError(f"{failure} ({state})") from None

    # -- editor ------------------------------------------------------------------------------

    def quick_input(self, keys: str, text: str, row: str, shot: str | None = None) -> None:
        """Open a quick input (Ctrl+P, F1), type `text`, wait until the focused row is `row`,
        accept it."""
        self.page.keyboard.press(keys)
        self.page.locator(".quick-input-widget input").wait_for(state="visible")
        self.page.keyboard.type(text)
        focused = self.page.locator(".quick-input-list .monaco-list-row.focused")
        self.until(
            f"quick input row {row!r}",
            lambda: focused.count() == 1 and row in (focused.get_attribute("aria-label") or ""),
        )
        if shot:
            self.shot(shot)
        self.page.keyboard.press("Enter")
        self.page.locator(".quick-input-widget").wait_for(state="hidden")

    def open(self, name: str) -> None:
        self.quick_input("Control+P", name, name)
        tab = self.page.locator(".tabs-container .tab.active")
        self.until(f"the editor of {name}", lambda: (tab.get_attribute("aria-label") or "").startswith(name))
        self.page.locator(".editor-instance .monaco-editor.focused").wait_for()

    def goto(self, line: int, col: int) -> None:
        self.page.keyboard.press("Control+G")
        self.page.locator(".quick-input-widget input").wait_for(state="visible")
        self.page.keyboard.type(f"{line}:{col}")
        self.page.keyboard.press("Enter")
        status = self.page.locator("#status\\.editor\\.selection")
        self.until(f"the cursor at {line}:{col}", lambda: status.inner_text().strip() == f"Ln {line}, Col {col}")

    def save(self, path: Path, changed_from: str) -> str:
        """Wait for the edit, save it with Ctrl+S unless VS Code did (it saves the files of a
        workspace edit itself: `files.refactoring.autoSave`), and return the text on disk."""
        dirty = self.page.locator(".tabs-container .tab.active.dirty")
        self.until(f"{path.name} edited", lambda: dirty.count() == 1 or _written(path, changed_from))
        if dirty.count() == 1:
            self.page.keyboard.press("Control+S")
        return self.until(f"{path.name} saved", lambda: dirty.count() == 0 and _written(path, changed_from))

    def lenses(self) -> list[str]:
        """The titles of the code lenses shown, each on its own."""
        items = self.page.locator(".editor-instance .codelens-decoration > a, .editor-instance .codelens-decoration > span")
        return [t for t in (x.replace("\xa0", " ").strip() for x in items.all_inner_texts()) if t not in ("", "|")]

    def lens(self) -> str:
        """The fit lenses (the size lens every module class also gets is left out)."""
        return " | ".join(t for t in self.lenses() if not _SIZE_LENS.match(t))

    def click_lens(self, text: str, path: Path) -> None:
        """Click the code lens. A lens the server refreshes at that moment is replaced under the
        pointer and the click is lost: click again while nothing was edited and it still shows."""
        lens = self.page.locator(".editor-instance .codelens-decoration a", has_text=text)
        dirty = self.page.locator(".tabs-container .tab.active.dirty")
        before = path.read_text()
        for _ in range(2):
            lens.click()
            try:
                until("the code lens' edit", lambda: dirty.count() == 1 or _written(path, before), timeout=40)
                return
            except AssertionError:
                if self.lens() != text:
                    return  # edited and saved already, or changed: save() tells
        raise AssertionError(f"clicking the code lens {text!r} edits nothing")

    def wait_lens(self, text: str) -> None:
        self.until(f"the code lens {text!r}", lambda: self.lens() == text)

    def hover(self, shot: str) -> list[list[str]]:
        """Show the hover at the cursor (Ctrl+K Ctrl+I), screenshot it, and return its table, one
        list of cell texts per row (the header row first)."""
        self.page.keyboard.press("Control+K")
        self.page.keyboard.press("Control+I")
        table = self.page.locator(".monaco-hover .hover-contents table")
        self.until("the hover table", lambda: table.count() > 0 and table.first.is_visible())
        rows = table.first.locator("tr")
        out = [[c.strip() for c in rows.nth(i).locator("th, td").all_inner_texts()] for i in range(rows.count())]
        self.shot(shot)
        self.page.keyboard.press("Escape")
        return out

    def quick_fix(self, title: str, shot: str) -> None:
        """Ctrl+. at the cursor, then the arrow keys down to `title` and Enter: VS Code ignores
        the mouse over the menu until the mouse moves."""
        self.page.keyboard.press("Control+.")
        rows = self.page.locator(".action-widget .monaco-list-row.action")
        self.until("the quick-fix menu", lambda: rows.count() > 0)
        titles = [t.strip() for t in rows.all_inner_texts()]
        assert any(title in t for t in titles), titles
        focused = self.page.locator(".action-widget .monaco-list-row.action.focused")
        for _ in range(len(titles) + 1):
            if focused.count() == 1 and title in focused.inner_text():
                break
            self.page.keyboard.press("ArrowDown")
        assert title in focused.inner_text(), titles
        self.shot(shot)
        self.page.keyboard.press("Enter")
        self.page.locator(".action-widget").wait_for(state="hidden")

    def palette(self, command: str, shot: str) -> None:
        self.quick_input("F1", command, command, shot)

    # -- Problems panel ----------------------------------------------------------------------

    def show_problems(self) -> None:
        panel = self.page.locator(".markers-panel")
        if not (panel.count() and panel.first.is_visible()):
            self.page.keyboard.press("Control+Shift+M")
            panel.first.wait_for(state="visible")

    def markers(self, file: str) -> list[Marker]:
        """The problems listed under `file` in the Problems panel."""
        out: list[Marker] = []
        current = None
        for row in self.page.locator(".markers-panel .monaco-list-row").all():
            label = row.get_attribute("aria-label") or ""
            header = re.match(r"^\d+ problems? in file (.+) of folder ", label)
            if header:
                current = header.group(1)
                continue
            marker = re.match(r"^(Error|Warning|Info): (.*) at line (\d+) and character (\d+)\.", label)
            if marker and current == file:
                parts = row.inner_text().split("\n")
                code = next((p for p in parts if re.fullmatch(r"[a-z]+(-[a-z]+)*", p) and p != "ckptlens"), "")
                out.append(
                    Marker(file, marker.group(1), code, int(marker.group(3)), int(marker.group(4)), marker.group(2))
                )
        return out

    def wait_markers(self, file: str, what: str, check: Callable[[list[Marker]], bool]) -> list[Marker]:
        self.show_problems()
        found: list[list[Marker]] = []

        def probe() -> bool:
            found[:] = [self.markers(file)]
            return check(found[0])

        self.until(f"{what} in the Problems panel", probe)
        return found[0]


def _written(path: Path, before: str) -> str | None:
    """The file's new text once VS Code has written all of it: it truncates the file, then writes,
    so a read in between sees an empty (or cut) file, which does not compile."""
    text = path.read_text()
    if text == before or not text.strip():
        return None
    try:
        compile(text, str(path), "exec")
    except SyntaxError:
        return None
    return text


def _position(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """1-based line and column of `needle` (+ offset) in `text`."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number, line.index(needle) + 1 + offset
    raise AssertionError(needle)


def _load_check(workspace: Path, runs: list[tuple[str, str, str, dict[str, tuple[str, str]]]]) -> list[list[Any]]:
    """Run the saved files with torch in one process (importing lightning once): for each
    (module, how it is loaded, checkpoint, expected tensors), load and compare; returns
    [module, how, number of tensors] per run."""
    run = subprocess.run(
        [sys.executable, "-c", LOAD_CHECK, json.dumps(runs)],
        cwd=workspace, capture_output=True, text=True, timeout=600,
        env={
            **os.environ,
            # the workspace's modules, and the test start-up (tests/conftest.py) kept
            "PYTHONPATH": os.pathsep.join(p for p in (str(workspace), os.environ.get("PYTHONPATH")) if p),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )
    assert run.returncode == 0, f"the saved files do not load:\n{run.stderr[-3000:]}"
    return list(json.loads(run.stdout.strip().splitlines()[-1]))


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped example three times (each copy gets its key mapping another way), linked by a
    directive, and the Lightning example three times beside the checkpoint its load call names."""
    ws = tmp_path_factory.mktemp("vscode-ws")
    shutil.copy(EXAMPLES / "mlp_module_prefix.pt", ws / "mlp_module_prefix.pt")
    mlp = (EXAMPLES / "mlp.py").read_text()
    mlp = mlp.replace("class MLP(", "# ckptlens: checkpoint=mlp_module_prefix.pt\nclass MLP(", 1)
    lightning = (EXAMPLES / "lightning_net.py").read_text()
    for suffix in ("", "_lens", "_palette"):
        (ws / f"mlp{suffix}.py").write_text(mlp)
        (ws / f"net{suffix}.py").write_text(lightning)
    made = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "vscode" / "make_lightning_ckpt.py"), str(ws / "x.ckpt")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert made.returncode == 0, made.stderr[-3000:]
    return ws


@pytest.fixture(scope="module")
def vscode(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VSCode]:
    assert CODE_SERVER and CHROMIUM and VSIX and sync_playwright
    home = tmp_path_factory.mktemp("code-server")
    extensions, user_data = home / "extensions", home / "user-data"
    (user_data / "User").mkdir(parents=True)
    (user_data / "User" / "settings.json").write_text(
        json.dumps(
            {
                "ckptlens.interpreter": sys.executable,  # the Python the .vsix was bundled for
                "workbench.startupEditor": "none",
                "workbench.tips.enabled": False,
                "workbench.welcomePage.walkthroughs.openOnInstall": False,
                "workbench.enableExperiments": False,
                "telemetry.telemetryLevel": "off",
                "security.workspace.trust.enabled": False,
                "extensions.autoCheckUpdates": False,
                "extensions.autoUpdate": False,
                "editor.minimap.enabled": False,
                "chat.commandCenter.enabled": False,
                "window.commandCenter": False,
            }
        )
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data")}
    common = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]
    installed = subprocess.run(
        [CODE_SERVER, *common, "--install-extension", str(VSIX)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert installed.returncode == 0 and "successfully installed" in installed.stdout, installed.stdout + installed.stderr
    log_path = home / "code-server.log"
    log = log_path.open("w")
    server = subprocess.Popen(
        [CODE_SERVER, *common, "--auth", "none", "--bind-addr", "127.0.0.1:0", "--disable-telemetry",
         "--disable-update-check", "--disable-workspace-trust", str(workspace)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        port = until(
            "code-server to listen",
            lambda: (m := re.search(r"HTTP server listening on http://127\.0\.0\.1:(\d+)/", log_path.read_text()))
            and m.group(1)
            or (server.poll() is not None and pytest.fail(f"code-server exited:\n{log_path.read_text()}")),
        )
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
                    return answer.status == 200
            except OSError:
                return False

        until("code-server /healthz", healthy)
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True)
        print(f"\nVS Code end-to-end screenshots: {ARTIFACTS}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(TIMEOUT * 1000)
                page.goto(f"{base}/?folder={workspace}")
                page.locator(".explorer-folders-view .monaco-list-row").first.wait_for()
                yield VSCode(page, workspace)
            finally:
                browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


# -- the stories -----------------------------------------------------------------------------


@dataclass
class Story:
    stem: str  # the first file; its copies are {stem}_lens.py, {stem}_palette.py
    class_name: str
    checkpoint: str
    renamed: tuple[str, str]  # (attribute in the source, name in the checkpoint)
    prefix: str  # the wrapper prefix of every checkpoint key
    outer: str  # the entry of the checkpoint object that holds the state_dict
    kept: str  # the other layer with parameters, under the same name in both
    shapes: dict[str, str]  # the renamed layer's weight and bias, as the hover shows them
    tensors: int
    loads: tuple[str, ...]  # how the user's code loads it
    size_lens: str = ""  # the size lens every module class gets (of the linked prediction)

    def expected(self, renamed: bool) -> dict[str, tuple[str, str]]:
        """Model key -> (entry of the checkpoint object, key inside it)."""
        new, old = self.renamed
        return {
            f"{attr}.{p}": (self.outer, f"{self.prefix}{saved}.{p}")
            for attr, saved in ((old if renamed else new, old), (self.kept, self.kept))
            for p in ("weight", "bias")
        }


MLP_STORY = Story(
    "mlp", "MLP", "mlp_module_prefix.pt", ("layer_1", "layer1"), "module.", "model_state_dict",
    "layer2", {"weight": "[20, 10]", "bias": "[20]"}, 4, ("torch.load",),
    size_lens="262 params · 1.0 KiB fp32",
)
# Linear(8, hidden): hidden=16 as trained (the checkpoint's hyper_parameters), not the default 32
NET_STORY = Story(
    "net", "Net", "x.ckpt", ("encoder", "enc"), "model.", "state_dict",
    "head", {"weight": "[16, 8]", "bias": "[16]"}, 4, ("load()", "load_from_checkpoint"),
    size_lens="195 params · 780 B fp32",  # hidden=16 from the checkpoint: 8*16+16 + 16*3+3
)


def _story(vs: VSCode, story: Story) -> None:
    ws = vs.workspace
    name = f"{story.stem}.py"
    path = ws / name
    original = path.read_text()
    new, old = story.renamed
    class_pos = _position(original, f"class {story.class_name}(", len("class "))
    attr_pos = _position(original, f"self.{new} =")
    lens_before = f"✗ 1 renamed · 1 prefix · {story.checkpoint}"
    lens_fits = f"✓ {story.tensors}/{story.tensors} tensors match · {story.checkpoint}"
    mapping_title = f"Generate key mapping for `{story.class_name}` ({story.checkpoint})"

    # 1. diagnostics in the Problems panel, on the class (prefix) and on the renamed attribute
    vs.open(name)
    vs.wait_lens(lens_before)
    markers = vs.wait_markers(name, "the two findings", lambda m: len(m) == 2)
    vs.shot(f"{story.stem}-problems")
    assert [(m.severity, m.code, m.line, m.col) for m in markers] == [
        ("Error", "key-prefix", *class_pos),
        ("Error", "renamed-module", *attr_pos),
    ]
    assert f'"{story.prefix}"' in markers[0].message
    assert f"`self.{new}`" in markers[1].message and f"`{old}`" in markers[1].message

    # 2. the code lens on the class, beside the model's size from the source alone
    vs.shot(f"{story.stem}-code-lens")
    assert vs.lens() == lens_before
    vs.until(f"the size lens {story.size_lens!r}", lambda: story.size_lens in vs.lenses())

    # 3. the hover table on the renamed attribute: model vs checkpoint tensor, key by key
    vs.goto(*attr_pos)
    table = vs.hover(f"{story.stem}-hover")
    shapes = story.shapes
    assert table[0] == ["key", "model", "checkpoint", ""]
    assert table[1:] == [
        [f"{new}.{p}", shapes[p], f"{story.prefix}{old}.{p} {shapes[p]}", "✓"] for p in ("weight", "bias")
    ]

    # 4. the rename quick fix from the menu: the assignment and its use in forward change
    vs.quick_fix(f"Rename `self.{new}` to `self.{old}` (as in the checkpoint)", f"{story.stem}-rename-menu")
    renamed = vs.save(path, original)
    vs.shot(f"{story.stem}-renamed")
    assert f"self.{new}" not in renamed and renamed.count(f"self.{old}") == 2
    assert renamed == original.replace(f"self.{new}", f"self.{old}")
    vs.wait_markers(name, "the rename finding cleared", lambda m: [x.code for x in m] == ["key-prefix"])
    vs.wait_lens(f"✗ 1 prefix · {story.checkpoint}")

    # 5. Generate key mapping from the quick-fix menu on the class
    vs.goto(*class_pos)
    vs.quick_fix(mapping_title, f"{story.stem}-mapping-menu")
    _mapped(vs, story, path, renamed, lens_fits, "menu")

    # 6. from the code lens, on a copy that was not renamed
    lens_path = ws / f"{story.stem}_lens.py"
    vs.open(lens_path.name)
    vs.wait_lens(lens_before)
    vs.click_lens(lens_before, lens_path)
    _mapped(vs, story, lens_path, original, lens_fits, "lens")

    # 7. from the command palette, the cursor in the class
    palette_path = ws / f"{story.stem}_palette.py"
    vs.open(palette_path.name)
    vs.wait_lens(lens_before)
    vs.goto(*attr_pos)
    vs.palette("ckptlens: Generate Key Mapping", f"{story.stem}-mapping-palette")
    _mapped(vs, story, palette_path, original, lens_fits, "palette")

    # 8. each saved file, run with torch, loads the checkpoint as the user's code loads it
    ckpt = str(ws / story.checkpoint)
    runs = [
        (file.stem, kind, ckpt, story.expected(renamed=file == path))
        for file in (path, lens_path, palette_path)
        for kind in story.loads
    ]
    assert _load_check(ws, runs) == [[module, kind, story.tensors] for module, kind, _, _ in runs]


_SIZE_LENS = re.compile(r"^≥?\s*[\d.,]+( [kMGT])? params · ")


def _mapped(vs: VSCode, story: Story, path: Path, before: str, lens_fits: str, how: str) -> None:
    saved = vs.save(path, before)
    vs.shot(f"{story.stem}-mapping-from-{how}")
    assert "register_load_state_dict_pre_hook" in saved and f'"{story.prefix}"' in saved
    vs.wait_markers(
        path.name, "no finding left", lambda m: not [x for x in m if x.code in MISMATCH_CODES]
    )
    vs.wait_lens(lens_fits)
    vs.shot(f"{story.stem}-clean-after-{how}")


def test_shipped_example_in_vscode(vscode: VSCode) -> None:
    _story(vscode, MLP_STORY)


def test_lightning_module_in_vscode(vscode: VSCode) -> None:
    _story(vscode, NET_STORY)
