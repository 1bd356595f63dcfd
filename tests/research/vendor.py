"""Rebuild tests/research/corpus/ from snapshots of the public repositories (by hand, never in CI).

    python tests/research/vendor.py MIRRORS   # MIRRORS/<owner>+<name>/repo is a git directory

Only repositories under a permissive license (MIT, BSD, Apache-2.0) are vendored, each with its
LICENSE beside the files, and only the files the cases need to build. Every file starts with
one line saying where it came from. `TRIMMED` package `__init__.py` files are left empty
(the originals import the package's training, data or tokenizer modules, which the models never
use); `EDITS` lists the few lines removed from a file for the same reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

# repository -> (license, files)
VENDORED: dict[str, tuple[str, tuple[str, ...]]] = {
    "karpathy/nanoGPT": ("MIT", ("model.py",)),
    "karpathy/minGPT": ("MIT", ("mingpt/__init__.py", "mingpt/model.py", "mingpt/utils.py")),
    "karpathy/llama2.c": ("MIT", ("model.py",)),
    "karpathy/makemore": ("MIT", ("makemore.py",)),
    "johnma2006/mamba-minimal": ("Apache-2.0", ("model.py",)),
    "openai/CLIP": ("MIT", ("clip/__init__.py", "clip/model.py")),
    "openai/whisper": ("MIT", ("whisper/__init__.py", "whisper/model.py")),
    "openai/improved-diffusion": ("MIT", ("improved_diffusion/__init__.py", "improved_diffusion/fp16_util.py",
                                          "improved_diffusion/nn.py", "improved_diffusion/unet.py")),
    "facebookresearch/ConvNeXt": ("MIT", ("models/convnext.py", "models/convnext_isotropic.py")),
    "facebookresearch/deit": ("Apache-2.0", ("models.py", "models_v2.py", "cait_models.py", "resmlp_models.py")),
    "facebookresearch/dinov2": ("Apache-2.0", (
        "dinov2/__init__.py", "dinov2/layers/__init__.py", "dinov2/layers/attention.py", "dinov2/layers/block.py",
        "dinov2/layers/dino_head.py", "dinov2/layers/drop_path.py", "dinov2/layers/layer_scale.py",
        "dinov2/layers/mlp.py", "dinov2/layers/patch_embed.py", "dinov2/layers/swiglu_ffn.py",
        "dinov2/models/__init__.py", "dinov2/models/vision_transformer.py")),
    "facebookresearch/segment-anything": ("Apache-2.0", (
        "segment_anything/__init__.py", "segment_anything/build_sam.py", "segment_anything/modeling/__init__.py",
        "segment_anything/modeling/common.py", "segment_anything/modeling/image_encoder.py",
        "segment_anything/modeling/mask_decoder.py", "segment_anything/modeling/prompt_encoder.py",
        "segment_anything/modeling/sam.py", "segment_anything/modeling/transformer.py")),
    "facebookresearch/detr": ("Apache-2.0", ("models/__init__.py", "models/transformer.py")),
    "facebookresearch/xcit": ("Apache-2.0", ("xcit.py",)),
    "microsoft/Swin-Transformer": ("MIT", ("models/__init__.py", "models/swin_transformer.py",
                                           "models/swin_transformer_v2.py", "models/swin_mlp.py")),
    "microsoft/LoRA": ("MIT", ("loralib/__init__.py", "loralib/layers.py", "loralib/utils.py")),
    "lucidrains/vit-pytorch": ("MIT", (
        "vit_pytorch/__init__.py", "vit_pytorch/vit.py", "vit_pytorch/simple_vit.py", "vit_pytorch/cait.py",
        "vit_pytorch/cross_vit.py", "vit_pytorch/levit.py", "vit_pytorch/cvt.py", "vit_pytorch/max_vit.py",
        "vit_pytorch/mobile_vit.py", "vit_pytorch/t2t.py", "vit_pytorch/na_vit.py", "vit_pytorch/normalized_vit.py")),
    "lucidrains/denoising-diffusion-pytorch": ("MIT", (
        "denoising_diffusion_pytorch/__init__.py", "denoising_diffusion_pytorch/denoising_diffusion_pytorch.py",
        "denoising_diffusion_pytorch/attend.py", "denoising_diffusion_pytorch/version.py",
        "denoising_diffusion_pytorch/karras_unet.py", "denoising_diffusion_pytorch/simple_diffusion.py")),
    "pytorch/examples": ("BSD-3-Clause", (
        "word_language_model/model.py", "super_resolution/model.py", "mnist/main.py",
        "fast_neural_style/neural_style/__init__.py", "fast_neural_style/neural_style/transformer_net.py",
        "gat/main.py", "language_translation/src/model.py")),
    "kuangliu/pytorch-cifar": ("MIT", tuple(f"models/{n}.py" for n in (
        "__init__", "vgg", "resnet", "densenet", "dla", "dpn", "efficientnet", "googlenet", "mobilenetv2",
        "pnasnet", "regnet", "resnext", "senet", "shufflenetv2"))),
    "akamaster/pytorch_resnet_cifar10": ("BSD-2-Clause", ("resnet.py",)),
    "d-li14/mobilenetv3.pytorch": ("MIT", ("mobilenetv3.py",)),
    "Megvii-BaseDetection/YOLOX": ("Apache-2.0", ("yolox/__init__.py", "yolox/models/__init__.py",
                                                  "yolox/models/network_blocks.py", "yolox/models/darknet.py",
                                                  "yolox/models/yolo_pafpn.py")),
    "JingyunLiang/SwinIR": ("Apache-2.0", ("models/network_swinir.py",)),
    "eriklindernoren/PyTorch-GAN": ("MIT", ("implementations/cyclegan/models.py", "implementations/pix2pix/models.py",
                                            "implementations/srgan/models.py")),
    "whai362/PVT": ("Apache-2.0", ("classification/pvt.py",)),
    "CompVis/latent-diffusion": ("MIT", ("ldm/util.py", "ldm/modules/attention.py",
                                         "ldm/modules/diffusionmodules/__init__.py",
                                         "ldm/modules/diffusionmodules/openaimodel.py",
                                         "ldm/modules/diffusionmodules/util.py")),
    "CompVis/taming-transformers": ("MIT", ("taming/modules/util.py", "taming/modules/discriminator/model.py")),
    "black-forest-labs/flux": ("Apache-2.0", ("src/flux/__init__.py", "src/flux/math.py", "src/flux/model.py",
                                              "src/flux/modules/layers.py", "src/flux/modules/lora.py")),
    "suno-ai/bark": ("MIT", ("bark/__init__.py", "bark/model.py", "bark/model_fine.py")),
    "jik876/hifi-gan": ("MIT", ("env.py", "models.py", "utils.py")),
    "DingXiaoH/RepVGG": ("MIT", ("repvgg.py", "se_block.py")),
    "willisma/SiT": ("MIT", ("models.py",)),
}

# package __init__.py files vendored empty: the originals import training/data/tokenizer code
TRIMMED = {
    "openai/CLIP": ("clip/__init__.py",),
    "openai/whisper": ("whisper/__init__.py",),
    "facebookresearch/segment-anything": ("segment_anything/__init__.py",),
    "facebookresearch/detr": ("models/__init__.py",),
    "microsoft/Swin-Transformer": ("models/__init__.py",),
    "lucidrains/vit-pytorch": ("vit_pytorch/__init__.py",),
    "lucidrains/denoising-diffusion-pytorch": ("denoising_diffusion_pytorch/__init__.py",),
    "kuangliu/pytorch-cifar": ("models/__init__.py",),
    "Megvii-BaseDetection/YOLOX": ("yolox/__init__.py", "yolox/models/__init__.py"),
    "black-forest-labs/flux": ("src/flux/__init__.py",),
    "suno-ai/bark": ("bark/__init__.py",),
}

# lines removed: (repository, file) -> the exact lines (imports of decoding/transcription code)
EDITS = {
    ("openai/whisper", "whisper/model.py"): (
        "from .decoding import decode as decode_function\n",
        "from .decoding import detect_language as detect_language_function\n",
        "from .transcribe import transcribe as transcribe_function\n",
        "    detect_language = detect_language_function\n",
        "    transcribe = transcribe_function\n",
        "    decode = decode_function\n",
    ),
}

LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "License.txt")


def git(gitdir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(gitdir), *args], check=True, capture_output=True).stdout


def main(mirrors: Path) -> None:
    for repo, (license_name, files) in VENDORED.items():
        gitdir = mirrors / repo.replace("/", "+") / "repo"
        if (gitdir / ".git").is_dir():
            gitdir = gitdir / ".git"
        commit = git(gitdir, "rev-parse", "HEAD").decode().strip()
        target = CORPUS / repo.replace("/", "__")
        for name in LICENSE_FILES:
            try:
                text = git(gitdir, "show", f"HEAD:{name}")
            except subprocess.CalledProcessError:
                continue
            target.mkdir(parents=True, exist_ok=True)
            (target / "LICENSE").write_bytes(text)
            break
        else:
            raise SystemExit(f"{repo}: no license file")
        for path in files:
            trimmed = path in TRIMMED.get(repo, ())
            text = "" if trimmed else git(gitdir, "show", f"HEAD:{path}").decode()
            for line in EDITS.get((repo, path), ()):
                assert line in text, (repo, path, line)
                text = text.replace(line, "", 1)
            note = "; trimmed: left empty, the original imports non-model code" if trimmed else ""
            if (repo, path) in EDITS:
                note = "; trimmed: the imports of its decoding/transcription code removed"
            header = f"# ckptlens research corpus: from {repo}@{commit[:12]} {path}, {license_name} (LICENSE beside){note}\n"
            out = target / path
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(header + text)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
