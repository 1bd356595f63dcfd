# ckptlens research corpus: from lucidrains/denoising-diffusion-pytorch@faed4db28e72 denoising_diffusion_pytorch/version.py, MIT (LICENSE beside)
__version__ = '2.3.1'
