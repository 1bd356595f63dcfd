"""Where the Hugging Face cache is, as huggingface_hub finds it: `$HF_HUB_CACHE`, else
`$HF_HOME/hub`, else `~/.cache/huggingface/hub`. One answer for the checkpoint links, the remote
reader and `from_pretrained`; it imports nothing of ckptlens."""

from __future__ import annotations

import os


def hub_cache_dir() -> str:
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return os.path.join(home, "hub")
