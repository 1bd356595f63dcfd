# ckptlens research corpus: from facebookresearch/segment-anything@dca509fe793f segment_anything/__init__.py, Apache-2.0 (LICENSE beside); trimmed: left empty, the original imports non-model code
