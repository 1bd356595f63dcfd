# ckptlens research corpus: from openai/CLIP@d05afc436d78 clip/__init__.py, MIT (LICENSE beside); trimmed: left empty, the original imports non-model code
