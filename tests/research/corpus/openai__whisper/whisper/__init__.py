# ckptlens research corpus: from openai/whisper@c0d2f624c09d whisper/__init__.py, MIT (LICENSE beside); trimmed: left empty, the original imports non-model code
