# ckptlens research corpus: from facebookresearch/detr@29901c51d7fe models/__init__.py, Apache-2.0 (LICENSE beside); trimmed: left empty, the original imports non-model code
