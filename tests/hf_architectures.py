"""Small configurations of transformers architectures, for the library-model tests.

Each entry: (model class, config class, config kwargs). Sizes are tiny so building the real
model takes milliseconds; the analysis reads the installed transformers' source.
"""

from __future__ import annotations

from typing import Any

TEXT: dict[str, Any] = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
    "vocab_size": 99, "max_position_embeddings": 64,
}
DECODER: dict[str, Any] = {**TEXT, "num_key_value_heads": 2}
VISION: dict[str, Any] = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
    "image_size": 32, "patch_size": 8,
}
SEQ2SEQ: dict[str, Any] = {
    "d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
    "decoder_attention_heads": 4, "encoder_ffn_dim": 37, "decoder_ffn_dim": 37, "vocab_size": 99,
    "max_position_embeddings": 64, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
    "decoder_start_token_id": 2,
}

ARCHITECTURES: list[tuple[str, str, dict[str, Any]]] = [
    # encoders
    ("BertModel", "BertConfig", TEXT),
    ("BertForSequenceClassification", "BertConfig", {**TEXT, "num_labels": 3}),
    ("BertForMaskedLM", "BertConfig", TEXT),
    ("RobertaModel", "RobertaConfig", TEXT),
    ("DistilBertModel", "DistilBertConfig", {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37, "vocab_size": 99}),
    ("AlbertModel", "AlbertConfig", {**TEXT, "embedding_size": 16}),
    ("ElectraModel", "ElectraConfig", {**TEXT, "embedding_size": 16}),
    ("DebertaV2Model", "DebertaV2Config", TEXT),
    ("XLMRobertaModel", "XLMRobertaConfig", TEXT),
    ("MobileBertModel", "MobileBertConfig", {**TEXT, "embedding_size": 16, "intra_bottleneck_size": 16, "true_hidden_size": 16}),
    # decoders
    ("GPT2LMHeadModel", "GPT2Config", {"n_embd": 32, "n_layer": 2, "n_head": 4, "vocab_size": 99, "n_positions": 64}),
    ("LlamaForCausalLM", "LlamaConfig", DECODER),
    ("MistralForCausalLM", "MistralConfig", DECODER),
    ("Qwen2ForCausalLM", "Qwen2Config", DECODER),
    ("PhiForCausalLM", "PhiConfig", DECODER),
    ("GemmaForCausalLM", "GemmaConfig", {**DECODER, "head_dim": 8}),
    ("OPTForCausalLM", "OPTConfig", {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "ffn_dim": 37, "vocab_size": 99, "max_position_embeddings": 64, "word_embed_proj_dim": 32}),
    ("GPTNeoXForCausalLM", "GPTNeoXConfig", TEXT),
    ("FalconForCausalLM", "FalconConfig", {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 99}),
    # encoder-decoders
    ("T5ForConditionalGeneration", "T5Config", {"d_model": 32, "num_layers": 2, "num_heads": 4, "d_ff": 37, "d_kv": 8, "vocab_size": 99}),
    ("BartForConditionalGeneration", "BartConfig", SEQ2SEQ),
    ("MBartForConditionalGeneration", "MBartConfig", SEQ2SEQ),
    ("PegasusForConditionalGeneration", "PegasusConfig", SEQ2SEQ),
    ("MarianMTModel", "MarianConfig", SEQ2SEQ),
    # vision
    ("ViTModel", "ViTConfig", VISION),
    ("ViTForImageClassification", "ViTConfig", {**VISION, "num_labels": 5}),
    ("DeiTModel", "DeiTConfig", VISION),
    ("ConvNextModel", "ConvNextConfig", {"hidden_sizes": [8, 16, 24, 32], "depths": [1, 1, 2, 1]}),
    ("ResNetModel", "ResNetConfig", {"embedding_size": 8, "hidden_sizes": [8, 16, 24, 32], "depths": [1, 1, 2, 1]}),
    ("SwinModel", "SwinConfig", {"image_size": 32, "patch_size": 4, "embed_dim": 16, "depths": [1, 1], "num_heads": [2, 4], "window_size": 4}),
    # composite: towers built with AutoModel.from_config / sub-config classes
    ("CLIPModel", "CLIPConfig", {"text_config": {k: v for k, v in TEXT.items() if k != "max_position_embeddings"},
                                 "vision_config": VISION, "projection_dim": 16}),
    ("LlavaForConditionalGeneration", "LlavaConfig", {
        "text_config": {"model_type": "llama", **DECODER},
        "vision_config": {"model_type": "clip_vision_model", **VISION},
        "vision_feature_layer": -1,
    }),
    # speech
    ("Wav2Vec2Model", "Wav2Vec2Config", {**TEXT, "conv_dim": [8, 8], "conv_stride": [2, 2], "conv_kernel": [3, 3], "num_conv_pos_embeddings": 4, "num_conv_pos_embedding_groups": 2}),
    ("WhisperForConditionalGeneration", "WhisperConfig", {"d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 37, "decoder_ffn_dim": 37, "vocab_size": 99, "num_mel_bins": 8, "max_source_positions": 16, "max_target_positions": 16, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "decoder_start_token_id": 2}),
    ("HubertModel", "HubertConfig", {**TEXT, "conv_dim": [8, 8], "conv_stride": [2, 2], "conv_kernel": [3, 3], "num_conv_pos_embeddings": 4, "num_conv_pos_embedding_groups": 2}),
]
