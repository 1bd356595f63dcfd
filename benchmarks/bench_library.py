"""`ckptlens check` on transformers classes, per CLI call, against from_pretrained-style loading.

Run by hand (needs the test extra): `python benchmarks/bench_library.py`.

For every architecture of tests/hf_architectures.py it writes a `save_pretrained` folder once,
then times, each in a fresh process:
- ckptlens: `python -m ckptlens check user.py --class NAME --checkpoint FOLDER` (config.json
  beside the weights; transformers' sources are read, never imported);
- transformers: `NAME.from_pretrained(FOLDER)` (imports torch and transformers, builds the
  model, loads the weights) — what a user runs today to find a mismatch.
Prints p50/p95 and the ratio. Target (issue 7): p50 < 400 ms per CLI call.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_check import _percentile, real_install_env  # noqa: E402

LOAD = "import transformers; transformers.{cls}.from_pretrained({folder!r})"


def main() -> None:
    import transformers

    from hf_architectures import ARCHITECTURES

    env = real_install_env()
    out = Path(tempfile.mkdtemp(prefix="ckptlens-bench-lib-"))
    user = out / "user.py"
    user.write_text("from transformers import *\n")
    ours: list[float] = []
    theirs: list[float] = []
    for cls_name, cfg_name, cfg in ARCHITECTURES:
        folder = out / cls_name
        model = getattr(transformers, cls_name)(getattr(transformers, cfg_name)(**cfg))
        model.save_pretrained(folder)
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "ckptlens", "check", str(user), "--class", cls_name,
             "--checkpoint", str(folder), "--format", "json"],
            capture_output=True, text=True, env=env,
        )
        ours.append(time.perf_counter() - start)
        if run.returncode != 0:
            print(f"  ! {cls_name}: exit {run.returncode} {run.stderr.strip()[:200]}")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", LOAD.format(cls=cls_name, folder=str(folder))],
                       capture_output=True, check=True, env=env)
        theirs.append(time.perf_counter() - start)
        print(f"  {cls_name:36} ckptlens {ours[-1] * 1000:6.0f} ms   from_pretrained {theirs[-1] * 1000:6.0f} ms")
    print(f"architectures: {len(ours)}")
    print(f"{'':22}{'p50':>10}{'p95':>10}{'mean':>10}")
    for label, values in (("ckptlens check", ours), ("from_pretrained", theirs)):
        print(f"{label:22}{_percentile(values, .5) * 1000:>9.0f}ms{_percentile(values, .95) * 1000:>9.0f}ms"
              f"{statistics.mean(values) * 1000:>9.0f}ms")
    print(f"ratio (from_pretrained / ckptlens), p50: {_percentile(theirs, .5) / _percentile(ours, .5):.1f}x")


if __name__ == "__main__":
    main()
