"""Sweeps: ckptlens's prediction against torch's own `state_dict()` across whole model registries
(torchvision builders, timm models, transformers `*Model` classes, the main diffusers models).

- `targets`: per library, the architecture names, the ground truth (torch, meta device) and what
  ckptlens is asked (source file, class or function name, constructor values);
- `classify`: exact / unknown-only / order-only / wrong / error, and key coverage;
- `pool`: worker processes with a per-model timeout; results as JSON-able dicts.

Used by `tests/test_sweeps.py` (a deterministic sample, wrong = 0) and
`benchmarks/bench_sweep.py` (full sweeps, figures per library).
"""
