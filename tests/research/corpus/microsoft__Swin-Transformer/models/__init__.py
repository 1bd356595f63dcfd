# ckptlens research corpus: from microsoft/Swin-Transformer@f82860bfb522 models/__init__.py, MIT (LICENSE beside); trimmed: left empty, the original imports non-model code
