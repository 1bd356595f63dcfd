# ckptlens research corpus: from suno-ai/bark@f4f32d4cd480 bark/__init__.py, MIT (LICENSE beside); trimmed: left empty, the original imports non-model code
