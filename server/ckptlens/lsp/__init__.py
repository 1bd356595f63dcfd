"""The language server (`ckptlens lsp`): the only package that imports pygls and lsprotocol."""
