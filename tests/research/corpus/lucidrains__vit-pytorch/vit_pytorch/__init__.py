# ckptlens research corpus: from lucidrains/vit-pytorch@69d24fe9e302 vit_pytorch/__init__.py, MIT (LICENSE beside); trimmed: left empty, the original imports non-model code
