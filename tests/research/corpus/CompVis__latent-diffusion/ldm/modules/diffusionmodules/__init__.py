# ckptlens research corpus: from CompVis/latent-diffusion@a506df575647 ldm/modules/diffusionmodules/__init__.py, MIT (LICENSE beside)
