# ckptlens research corpus: from Megvii-BaseDetection/YOLOX@6ddff4824372 yolox/__init__.py, Apache-2.0 (LICENSE beside); trimmed: left empty, the original imports non-model code
