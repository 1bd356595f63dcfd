# ckptlens research corpus: from microsoft/LoRA@c4593f060e6a loralib/__init__.py, MIT (LICENSE beside)
name = "lora"

from .layers import *
from .utils import *