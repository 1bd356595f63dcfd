# ckptlens research corpus: from black-forest-labs/flux@802fb4713906 src/flux/__init__.py, Apache-2.0 (LICENSE beside); trimmed: left empty, the original imports non-model code
