# ckptlens research corpus: from kuangliu/pytorch-cifar@49b7aa97b0c1 models/__init__.py, MIT (LICENSE beside); trimmed: left empty, the original imports non-model code
