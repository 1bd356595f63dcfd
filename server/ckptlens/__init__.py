"""ckptlens: does this checkpoint fit this nn.Module? Answered statically, before anything runs."""

__version__ = "0.1.0"
