"""How classes get their checkpoints in the editor (SPEC section 4), found without running code.

Three ways, all of them:

1. a directive comment above the class (or as the first line of its body):
   `# ckptlens: checkpoint=path.ckpt config=cfg.json init:hidden=64`;
2. `[[tool.ckptlens.link]]` tables in `pyproject.toml`, and the same list in the
   `ckptlens.links` editor setting;
3. load calls: `Net.load_from_checkpoint("x.ckpt", num_classes=7)`, `Net.from_pretrained("dir")`,
   and `net = Net(...)` then `net.load_state_dict(...torch.load("x.pt")...)` (or safetensors'
   `load_file`) in the same scope.

`model` (the link model), `scan` (one file), `directives`, `sites` (load calls), `pyproject`,
`resolution` (where a checkpoint is), `index` (the workspace), `rules` (the findings about a
link). The language server and `ckptlens check` with no SOURCE (`ckptlens.workspace_check`)
use them.

Everything here is pure: `ast`, `tomllib` and the file system. Source files are read with `ast`
(a few ms per file) and cached by content, so the whole workspace can be scanned lazily.
"""
