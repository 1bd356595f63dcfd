"""The research corpus: model classes and builders from public research repositories, each with
the constructor values a user typically passes.

A case names a file (relative to its repository's root under `corpus/`), a class or builder
function in it, and its constructor values: `init` (keyword arguments) or `config` (a config
mapping; torch gets `config_class(**config)` as the one positional argument). `truth` overrides how
torch builds it (a Python expression evaluated in the module's namespace, for a config that is no
plain keyword class). `floor` is what the prediction must stay at: "exact" or "unknown-only".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    repo: str  # owner/name
    path: str  # the file, relative to the repository root
    name: str  # class or builder function
    init: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    config_class: str | None = None  # torch: name(config_class(**config))
    truth: str | None = None  # torch: this expression instead
    stubs: tuple[str, ...] = ()  # modules torch's import replaces by placeholders (an optional logger)
    root: str = ""  # the folder (relative to the repository) that goes on sys.path, e.g. "src"
    label: str = ""  # distinguishes two cases of one name

    @property
    def id(self) -> str:
        tail = f"[{self.label}]" if self.label else ""
        return f"{self.repo}:{self.path}:{self.name}{tail}"


# nanoGPT's train.py saves `model_args` with exactly these keys
NANOGPT = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 256, "bias": True, "vocab_size": 1000,
           "dropout": 0.0}
MINGPT = {"model_type": None, "n_layer": 3, "n_head": 3, "n_embd": 48, "vocab_size": 100, "block_size": 32,
          "embd_pdrop": 0.1, "resid_pdrop": 0.1, "attn_pdrop": 0.1}
WHISPER = {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6, "n_audio_layer": 4,
           "n_vocab": 51865, "n_text_ctx": 448, "n_text_state": 384, "n_text_head": 6, "n_text_layer": 4}
CLIP_VIT = {"embed_dim": 512, "image_resolution": 224, "vision_layers": 12, "vision_width": 768,
            "vision_patch_size": 32, "context_length": 77, "vocab_size": 49408, "transformer_width": 512,
            "transformer_heads": 8, "transformer_layers": 12}
CLIP_RN = {**CLIP_VIT, "embed_dim": 1024, "vision_layers": (3, 4, 6, 3), "vision_width": 64,
           "vision_patch_size": None}
GUIDED = {"image_size": 64, "in_channels": 3, "model_channels": 128, "out_channels": 6, "num_res_blocks": 2,
          "attention_resolutions": (2, 4, 8), "channel_mult": (1, 2, 3, 4), "num_heads": 4,
          "num_head_channels": 64, "use_scale_shift_norm": True, "resblock_updown": True,
          "num_classes": 1000}
SD_UNET = {"image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 320,
           "attention_resolutions": [4, 2, 1], "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4], "num_heads": 8,
           "use_spatial_transformer": True, "transformer_depth": 1, "context_dim": 768, "legacy": False}
SD_VAE = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
          "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}

CASES: list[Case] = [
    # karpathy
    Case("karpathy/nanoGPT", "model.py", "GPT", config=NANOGPT, config_class="GPTConfig"),
    Case("karpathy/nanoGPT", "model.py", "GPT", config={**NANOGPT, "bias": False}, config_class="GPTConfig",
         label="no-bias"),
    # a config without `bias`: GPTConfig's default (True) is unknown to a plain `config` parameter,
    # so the biases are unknown keys (they were missing: a false `unexpected-key`)
    Case("karpathy/nanoGPT", "model.py", "GPT", config={k: v for k, v in NANOGPT.items() if k != "bias"},
         config_class="GPTConfig", label="partial-config"),
    Case("karpathy/minGPT", "mingpt/model.py", "GPT", config=MINGPT, truth="GPT(CN(**CONFIG))"),
    Case("karpathy/llama2.c", "model.py", "Transformer",
         config={"dim": 288, "n_layers": 6, "n_heads": 6, "n_kv_heads": 6, "vocab_size": 32000,
                 "multiple_of": 32, "max_seq_len": 256}, config_class="ModelArgs"),
    Case("johnma2006/mamba-minimal", "model.py", "Mamba",
         config={"d_model": 128, "n_layer": 2, "vocab_size": 1000}, config_class="ModelArgs"),
    # openai
    Case("openai/CLIP", "clip/model.py", "CLIP", init=CLIP_VIT, label="vit"),
    Case("openai/CLIP", "clip/model.py", "CLIP", init=CLIP_RN, label="resnet"),
    Case("openai/whisper", "whisper/model.py", "Whisper", config=WHISPER, config_class="ModelDimensions"),
    Case("openai/guided-diffusion", "guided_diffusion/unet.py", "UNetModel", init=GUIDED),
    Case("openai/guided-diffusion", "guided_diffusion/unet.py", "EncoderUNetModel",
         init={"image_size": 64, "in_channels": 3, "model_channels": 128, "out_channels": 1000,
               "num_res_blocks": 2, "attention_resolutions": (2, 4, 8), "channel_mult": (1, 2, 3, 4),
               "num_head_channels": 64, "use_scale_shift_norm": True, "resblock_updown": True,
               "pool": "attention"}),
    Case("openai/guided-diffusion", "guided_diffusion/script_util.py", "create_model",
         init={"image_size": 64, "num_channels": 128, "num_res_blocks": 2}),
    # facebookresearch
    Case("facebookresearch/ConvNeXt", "models/convnext.py", "convnext_tiny"),
    Case("facebookresearch/ConvNeXt", "models/convnext.py", "ConvNeXt", init={"depths": [2, 2, 6, 2]}),
    Case("facebookresearch/ConvNeXt", "models/convnext_isotropic.py", "convnext_isotropic_small"),
    Case("facebookresearch/deit", "models.py", "deit_tiny_patch16_224"),
    Case("facebookresearch/deit", "models.py", "deit_base_distilled_patch16_224"),
    Case("facebookresearch/deit", "models_v2.py", "deit_small_patch16_LS"),
    Case("facebookresearch/deit", "cait_models.py", "cait_XXS24_224"),
    Case("facebookresearch/deit", "resmlp_models.py", "resmlp_12"),
    Case("facebookresearch/dinov2", "dinov2/models/vision_transformer.py", "vit_small",
         init={"patch_size": 14, "num_register_tokens": 4, "img_size": 518, "block_chunks": 0}),
    Case("facebookresearch/dinov2", "dinov2/models/vision_transformer.py", "vit_base",
         init={"patch_size": 14, "img_size": 518, "block_chunks": 4, "ffn_layer": "swiglufused"}),
    Case("facebookresearch/segment-anything", "segment_anything/build_sam.py", "build_sam_vit_b"),
    Case("facebookresearch/detr", "models/transformer.py", "Transformer",
         init={"d_model": 256, "nhead": 8, "num_encoder_layers": 6, "num_decoder_layers": 6,
               "dim_feedforward": 2048, "return_intermediate_dec": True}),
    Case("facebookresearch/xcit", "xcit.py", "xcit_nano_12_p16"),
    Case("facebookresearch/xcit", "xcit.py", "xcit_small_12_p8"),
    Case("facebookresearch/DiT", "models.py", "DiT_S_2"),
    Case("facebookresearch/mae", "models_vit.py", "vit_base_patch16", init={"global_pool": True}),
    # microsoft
    Case("microsoft/Swin-Transformer", "models/swin_transformer.py", "SwinTransformer"),
    Case("microsoft/Swin-Transformer", "models/swin_transformer_v2.py", "SwinTransformerV2"),
    Case("microsoft/Swin-Transformer", "models/swin_mlp.py", "SwinMLP"),
    # CompVis
    Case("CompVis/stable-diffusion", "ldm/modules/diffusionmodules/openaimodel.py", "UNetModel", init=SD_UNET),
    Case("CompVis/stable-diffusion", "ldm/modules/diffusionmodules/model.py", "Encoder", init=SD_VAE),
    Case("CompVis/stable-diffusion", "ldm/modules/diffusionmodules/model.py", "Decoder", init=SD_VAE),
    # lucidrains
    Case("lucidrains/vit-pytorch", "vit_pytorch/vit.py", "ViT",
         init={"image_size": 256, "patch_size": 32, "num_classes": 1000, "dim": 1024, "depth": 6, "heads": 16,
               "mlp_dim": 2048}),
    Case("lucidrains/vit-pytorch", "vit_pytorch/simple_vit.py", "SimpleViT",
         init={"image_size": 256, "patch_size": 32, "num_classes": 1000, "dim": 1024, "depth": 6, "heads": 16,
               "mlp_dim": 2048}),
    Case("lucidrains/vit-pytorch", "vit_pytorch/cait.py", "CaiT",
         init={"image_size": 256, "patch_size": 32, "num_classes": 1000, "dim": 1024, "depth": 12,
               "cls_depth": 2, "heads": 16, "mlp_dim": 2048}),
    Case("lucidrains/vit-pytorch", "vit_pytorch/cross_vit.py", "CrossViT",
         init={"image_size": 256, "num_classes": 1000, "depth": 4, "sm_dim": 192, "sm_patch_size": 16,
               "sm_enc_depth": 2, "sm_enc_heads": 8, "sm_enc_mlp_dim": 2048, "lg_dim": 384,
               "lg_patch_size": 64, "lg_enc_depth": 3, "lg_enc_heads": 8, "lg_enc_mlp_dim": 2048,
               "cross_attn_depth": 2, "cross_attn_heads": 8}),
    Case("lucidrains/vit-pytorch", "vit_pytorch/levit.py", "LeViT",
         init={"image_size": 224, "num_classes": 1000, "stages": 3, "dim": (256, 384, 512), "depth": 4,
               "heads": (4, 6, 8), "mlp_mult": 2}),
    Case("lucidrains/vit-pytorch", "vit_pytorch/cvt.py", "CvT", init={"num_classes": 1000}),
    Case("lucidrains/vit-pytorch", "vit_pytorch/max_vit.py", "MaxViT",
         init={"num_classes": 1000, "dim_conv_stem": 64, "dim": 96, "dim_head": 32, "depth": (2, 2, 5, 2),
               "window_size": 7}),
    Case("lucidrains/vit-pytorch", "vit_pytorch/mobile_vit.py", "MobileViT",
         init={"image_size": (256, 256), "dims": [96, 120, 144],
               "channels": [16, 32, 48, 48, 64, 64, 80, 80, 96, 96, 384], "num_classes": 1000}),
    Case("lucidrains/vit-pytorch", "vit_pytorch/t2t.py", "T2TViT",
         init={"dim": 512, "image_size": 224, "depth": 5, "heads": 8, "mlp_dim": 512, "num_classes": 1000,
               "t2t_layers": ((7, 4), (3, 2), (3, 2))}),
    Case("lucidrains/vit-pytorch", "vit_pytorch/na_vit.py", "NaViT",
         init={"image_size": 256, "patch_size": 32, "num_classes": 1000, "dim": 1024, "depth": 6, "heads": 16,
               "mlp_dim": 2048}),
    Case("lucidrains/denoising-diffusion-pytorch", "denoising_diffusion_pytorch/denoising_diffusion_pytorch.py",
         "Unet", init={"dim": 64, "dim_mults": (1, 2, 4, 8), "flash_attn": False}),
    Case("lucidrains/vit-pytorch", "vit_pytorch/normalized_vit.py", "nViT",
         init={"image_size": 256, "patch_size": 16, "num_classes": 1000, "dim": 512, "depth": 4, "heads": 8,
               "mlp_dim": 1024}),
    Case("lucidrains/denoising-diffusion-pytorch", "denoising_diffusion_pytorch/simple_diffusion.py", "UViT",
         init={"dim": 64, "vit_depth": 2, "channels": 3}),
    Case("lucidrains/denoising-diffusion-pytorch", "denoising_diffusion_pytorch/denoising_diffusion_pytorch_1d.py",
         "Unet1D", init={"dim": 64, "dim_mults": (1, 2, 4, 8), "channels": 32}),
    Case("lucidrains/denoising-diffusion-pytorch", "denoising_diffusion_pytorch/karras_unet.py", "KarrasUnet",
         init={"image_size": 64, "dim": 192, "dim_max": 768, "num_classes": 1000, "channels": 4,
               "num_downsamples": 3, "num_blocks_per_stage": 4}),
    Case("lucidrains/x-transformers", "x_transformers/x_transformers.py", "Decoder",
         init={"dim": 512, "depth": 6, "heads": 8}),
    Case("lucidrains/x-transformers", "x_transformers/x_transformers.py", "Encoder",
         init={"dim": 512, "depth": 6, "heads": 8, "rotary_pos_emb": True, "attn_flash": False}),
    Case("lucidrains/x-transformers", "x_transformers/x_transformers.py", "Decoder",
         init={"dim": 256, "depth": 4, "heads": 4, "attn_num_mem_kv": 4, "ff_glu": True, "use_rmsnorm": True,
               "cross_attend": True, "attn_qk_norm": True, "macaron": True, "attn_kv_heads": 2,
               "ff_mult": 2, "residual_attn": True}, label="features"),
    Case("lucidrains/x-transformers", "x_transformers/x_transformers.py", "LoRALinear", init={"dim_in": 32}),
    Case("lucidrains/x-transformers", "x_transformers/x_transformers.py", "LoRALinear",
         init={"dim_in": 32, "dim_out": 64, "dim": 4}, label="rank"),
    # pytorch/examples
    Case("pytorch/examples", "word_language_model/model.py", "RNNModel",
         init={"rnn_type": "LSTM", "ntoken": 1000, "ninp": 200, "nhid": 200, "nlayers": 2}),
    Case("pytorch/examples", "word_language_model/model.py", "RNNModel",
         init={"rnn_type": "GRU", "ntoken": 1000, "ninp": 200, "nhid": 200, "nlayers": 2, "tie_weights": True},
         label="gru-tied"),
    Case("pytorch/examples", "word_language_model/model.py", "TransformerModel",
         init={"ntoken": 1000, "ninp": 200, "nhead": 2, "nhid": 200, "nlayers": 2}),
    Case("pytorch/examples", "super_resolution/model.py", "Net", init={"upscale_factor": 3}),
    Case("pytorch/examples", "mnist/main.py", "Net"),
    Case("pytorch/examples", "fast_neural_style/neural_style/transformer_net.py", "TransformerNet"),
    Case("pytorch/examples", "gat/main.py", "GAT",
         init={"in_features": 1433, "n_hidden": 64, "n_heads": 8, "num_classes": 7}),
    Case("pytorch/examples", "language_translation/src/model.py", "Translator",
         init={"num_encoder_layers": 3, "num_decoder_layers": 3, "embed_size": 512, "num_heads": 8,
               "src_vocab_size": 1000, "tgt_vocab_size": 1200, "dim_feedforward": 512, "dropout": 0.1}),
    Case("openai/improved-diffusion", "improved_diffusion/unet.py", "UNetModel",
         init={"in_channels": 3, "model_channels": 128, "out_channels": 6, "num_res_blocks": 3,
               "attention_resolutions": (2, 4), "dropout": 0.1, "channel_mult": (1, 2, 2, 2), "num_heads": 4,
               "use_scale_shift_norm": True}),
    Case("karpathy/nanochat", "nanochat/gpt.py", "GPT",
         config={"sequence_len": 256, "vocab_size": 1000, "n_layer": 4, "n_head": 4, "n_kv_head": 2, "n_embd": 128,
                 "window_pattern": "SL"}, config_class="GPTConfig"),
    Case("kuangliu/pytorch-cifar", "models/vgg.py", "VGG", init={"vgg_name": "VGG16"}),
    Case("kuangliu/pytorch-cifar", "models/resnet.py", "ResNet50"),
    Case("kuangliu/pytorch-cifar", "models/densenet.py", "DenseNet121"),
    Case("kuangliu/pytorch-cifar", "models/dla.py", "DLA"),
    Case("kuangliu/pytorch-cifar", "models/dpn.py", "DPN26"),
    Case("kuangliu/pytorch-cifar", "models/efficientnet.py", "EfficientNetB0"),
    Case("kuangliu/pytorch-cifar", "models/googlenet.py", "GoogLeNet"),
    Case("kuangliu/pytorch-cifar", "models/mobilenetv2.py", "MobileNetV2"),
    Case("kuangliu/pytorch-cifar", "models/pnasnet.py", "PNASNetB"),
    Case("kuangliu/pytorch-cifar", "models/regnet.py", "RegNetY_400MF"),
    Case("kuangliu/pytorch-cifar", "models/resnext.py", "ResNeXt29_2x64d"),
    Case("kuangliu/pytorch-cifar", "models/senet.py", "SENet18"),
    Case("kuangliu/pytorch-cifar", "models/shufflenetv2.py", "ShuffleNetV2", init={"net_size": 1}),
    Case("akamaster/pytorch_resnet_cifar10", "resnet.py", "resnet20"),
    Case("d-li14/mobilenetv3.pytorch", "mobilenetv3.py", "mobilenetv3_large"),
    Case("d-li14/mobilenetv3.pytorch", "mobilenetv3.py", "mobilenetv3_small"),
    Case("Megvii-BaseDetection/YOLOX", "yolox/models/yolox.py", "YOLOX"),
    Case("Megvii-BaseDetection/YOLOX", "yolox/models/yolo_pafpn.py", "YOLOPAFPN", init={"depth": 0.33, "width": 0.5}),
    Case("Megvii-BaseDetection/YOLOX", "yolox/models/yolo_head.py", "YOLOXHead",
         init={"num_classes": 80, "width": 0.5, "depthwise": True}),
    Case("Megvii-BaseDetection/YOLOX", "yolox/models/darknet.py", "Darknet", init={"depth": 53}),
    Case("JingyunLiang/SwinIR", "models/network_swinir.py", "SwinIR",
         init={"upscale": 2, "img_size": (64, 64), "window_size": 8, "img_range": 1.0, "depths": [6, 6, 6, 6],
               "embed_dim": 60, "num_heads": [6, 6, 6, 6], "mlp_ratio": 2, "upsampler": "pixelshuffledirect"}),
    Case("facebookresearch/dino", "vision_transformer.py", "vit_small", init={"patch_size": 8}),
    Case("facebookresearch/dino", "vision_transformer.py", "DINOHead", init={"in_dim": 384, "out_dim": 65536}),
    Case("microsoft/LoRA", "loralib/layers.py", "Linear", init={"in_features": 64, "out_features": 32, "r": 8}),
    Case("microsoft/LoRA", "loralib/layers.py", "MergedLinear",
         init={"in_features": 64, "out_features": 192, "r": 8, "enable_lora": [True, False, True]}),
    Case("microsoft/LoRA", "loralib/layers.py", "Conv2d",
         init={"in_channels": 8, "out_channels": 16, "kernel_size": 3, "r": 4}),
    Case("eriklindernoren/PyTorch-GAN", "implementations/cyclegan/models.py", "GeneratorResNet",
         init={"input_shape": (3, 256, 256), "num_residual_blocks": 9}),
    Case("eriklindernoren/PyTorch-GAN", "implementations/cyclegan/models.py", "Discriminator",
         init={"input_shape": (3, 256, 256)}),
    Case("eriklindernoren/PyTorch-GAN", "implementations/pix2pix/models.py", "GeneratorUNet"),
    Case("eriklindernoren/PyTorch-GAN", "implementations/srgan/models.py", "GeneratorResNet"),
    Case("whai362/PVT", "classification/pvt.py", "pvt_tiny"),
    Case("CompVis/latent-diffusion", "ldm/modules/diffusionmodules/openaimodel.py", "UNetModel",
         init={"image_size": 64, "in_channels": 3, "out_channels": 3, "model_channels": 224,
               "attention_resolutions": [8, 4, 2], "num_res_blocks": 2, "channel_mult": [1, 2, 3, 4],
               "num_head_channels": 32}),
    Case("CompVis/latent-diffusion", "ldm/modules/diffusionmodules/openaimodel.py", "UNetModel",
         init={**SD_UNET, "legacy": True}, label="cross-attention"),
    Case("CompVis/taming-transformers", "taming/modules/discriminator/model.py", "NLayerDiscriminator",
         init={"input_nc": 3, "ndf": 64, "n_layers": 3}),
    Case("CompVis/taming-transformers", "taming/modules/discriminator/model.py", "NLayerDiscriminator",
         init={"input_nc": 3, "ndf": 64, "n_layers": 3, "use_actnorm": True}, label="actnorm"),
    Case("CompVis/taming-transformers", "taming/modules/diffusionmodules/model.py", "Encoder",
         init={**SD_VAE, "double_z": False, "z_channels": 256, "attn_resolutions": [16]}),
    Case("black-forest-labs/flux", "src/flux/model.py", "Flux", root="src",
         config={"in_channels": 64, "out_channels": 64, "vec_in_dim": 768, "context_in_dim": 4096, "hidden_size": 256,
                 "mlp_ratio": 4.0, "num_heads": 4, "depth": 2, "depth_single_blocks": 2, "axes_dim": [16, 24, 24],
                 "theta": 10000, "qkv_bias": True, "guidance_embed": True}, config_class="FluxParams"),
    Case("suno-ai/bark", "bark/model.py", "GPT",
         config={"block_size": 1024, "input_vocab_size": 10048, "output_vocab_size": 10048, "n_layer": 4,
                 "n_head": 4, "n_embd": 128, "dropout": 0.0, "bias": False}, config_class="GPTConfig"),
    Case("suno-ai/bark", "bark/model_fine.py", "FineGPT",
         config={"block_size": 1024, "input_vocab_size": 1056, "output_vocab_size": 1056, "n_layer": 4,
                 "n_head": 4, "n_embd": 128, "dropout": 0.0, "bias": True, "n_codes_total": 8, "n_codes_given": 1},
         config_class="FineGPTConfig"),
    Case("jik876/hifi-gan", "models.py", "Generator", truth="Generator(__import__('env').AttrDict(CONFIG))",
         config={"resblock": "1", "upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
                 "upsample_initial_channel": 512, "resblock_kernel_sizes": [3, 7, 11],
                 "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "num_mels": 80}),
    Case("jik876/hifi-gan", "models.py", "MultiPeriodDiscriminator"),
    Case("jik876/hifi-gan", "models.py", "MultiScaleDiscriminator"),
    Case("google/gemma_pytorch", "gemma/model.py", "GemmaModel",
         config={"vocab_size": 1000, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1,
                 "hidden_size": 256, "intermediate_size": 512, "head_dim": 64},
         truth="GemmaModel(gemma_config.GemmaConfig(**CONFIG))"),
    # makemore.py imports TensorBoard's SummaryWriter for its training loop
    Case("karpathy/makemore", "makemore.py", "Transformer", stubs=("torch.utils.tensorboard",),
         config={"vocab_size": 27, "block_size": 16, "n_layer": 4, "n_embd": 64, "n_embd2": 64, "n_head": 4},
         config_class="ModelConfig"),
    Case("karpathy/makemore", "makemore.py", "RNN", stubs=("torch.utils.tensorboard",),
         truth="RNN(ModelConfig(**CONFIG), cell_type='gru')",
         config={"vocab_size": 27, "block_size": 16, "n_layer": 4, "n_embd": 64, "n_embd2": 64, "n_head": 4},
         init={"cell_type": "gru"}),
    Case("karpathy/makemore", "makemore.py", "MLP", stubs=("torch.utils.tensorboard",),
         config={"vocab_size": 27, "block_size": 16, "n_layer": 4, "n_embd": 64, "n_embd2": 64, "n_head": 4},
         config_class="ModelConfig"),
    Case("DingXiaoH/RepVGG", "repvgg.py", "create_RepVGG_A0"),
    Case("DingXiaoH/RepVGG", "repvgg.py", "create_RepVGG_B1g2", init={"deploy": True}),
    Case("megvii-research/NAFNet", "basicsr/models/archs/NAFNet_arch.py", "NAFNet",
         init={"img_channel": 3, "width": 32, "middle_blk_num": 12, "enc_blk_nums": [2, 2, 4, 8],
               "dec_blk_nums": [2, 2, 2, 2]}),
    Case("facebookresearch/demucs", "demucs/htdemucs.py", "HTDemucs", init={"sources": ["drums", "bass", "other", "vocals"]}),
    Case("facebookresearch/demucs", "demucs/demucs.py", "Demucs", init={"sources": ["drums", "bass", "other", "vocals"]}),
    Case("willisma/SiT", "models.py", "SiT_S_2"),
    Case("mistralai/mistral-inference", "src/mistral_inference/transformer.py", "Transformer", root="src",
         config={"dim": 256, "n_layers": 2, "head_dim": 64, "hidden_dim": 512, "n_heads": 4, "n_kv_heads": 2,
                 "norm_eps": 1e-5, "vocab_size": 1000}, truth="Transformer(TransformerArgs(**CONFIG))"),
    Case("facebookresearch/hiera", "hiera/hiera.py", "hiera_tiny_224"),
    Case("xinntao/BasicSR", "basicsr/models/archs/rrdbnet_arch.py", "RRDBNet", init={"num_in_ch": 3, "num_out_ch": 3}),
    Case("xinntao/BasicSR", "basicsr/models/archs/edsr_arch.py", "EDSR", init={"num_in_ch": 3, "num_out_ch": 3}),
    Case("xinntao/BasicSR", "basicsr/models/archs/rcan_arch.py", "RCAN", init={"num_in_ch": 3, "num_out_ch": 3}),
    Case("xinntao/BasicSR", "basicsr/models/archs/srresnet_arch.py", "MSRResNet"),
    Case("xinntao/BasicSR", "basicsr/models/archs/discriminator_arch.py", "VGGStyleDiscriminator128",
         init={"num_in_ch": 3, "num_feat": 64}),
    # milesial (GPL: swept, not vendored)
    Case("milesial/Pytorch-UNet", "unet/unet_model.py", "UNet", init={"n_channels": 3, "n_classes": 2}),
    Case("milesial/Pytorch-UNet", "unet/unet_model.py", "UNet", init={"n_channels": 3, "n_classes": 2,
                                                                      "bilinear": True}, label="bilinear"),
]


# Cases that are not exact, and why (each is unknown-only: no known key or dim is wrong). Every
# other case of the vendored corpus must stay exact (a floor: fix one, then drop its entry).
NOT_EXACT: dict[str, str] = {
    "karpathy/nanoGPT:model.py:GPT[partial-config]":
        "`bias` missing from the config: GPTConfig's default is unknown to a plain `config` parameter",
    "facebookresearch/dinov2:dinov2/models/vision_transformer.py:vit_base":
        "SwiGLUFFNFused's base is xformers' SwiGLU when xformers imports, else SwiGLUFFN: it depends on the machine",
    "CompVis/latent-diffusion:ldm/modules/diffusionmodules/openaimodel.py:UNetModel[cross-attention]":
        "`type(context_dim) == ListConfig` with omegaconf not installed: the cross-attention widths are unknown",
    "CompVis/stable-diffusion:ldm/modules/diffusionmodules/openaimodel.py:UNetModel":
        "as latent-diffusion's cross-attention UNet (omegaconf's ListConfig)",
    "mistralai/mistral-inference:src/mistral_inference/transformer.py:Transformer":
        "TransformerArgs subclasses simple_parsing's Serializable (not installed): its fields are unknown",
}

