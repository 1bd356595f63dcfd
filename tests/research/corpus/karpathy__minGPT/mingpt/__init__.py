# ckptlens research corpus: from karpathy/minGPT@37baab71b9ab mingpt/__init__.py, MIT (LICENSE beside)
