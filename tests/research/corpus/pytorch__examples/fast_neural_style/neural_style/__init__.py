# ckptlens research corpus: from pytorch/examples@77f55b912142 fast_neural_style/neural_style/__init__.py, BSD-3-Clause (LICENSE beside)
