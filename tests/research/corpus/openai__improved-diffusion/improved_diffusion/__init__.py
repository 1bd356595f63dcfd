# ckptlens research corpus: from openai/improved-diffusion@1bc7bbbdc414 improved_diffusion/__init__.py, MIT (LICENSE beside)
"""
Codebase for "Improved Denoising Diffusion Probabilistic Models".
"""
