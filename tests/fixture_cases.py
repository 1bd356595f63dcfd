"""The fixture manifest: which class of which fixture file is built with which arguments.

`init` values are Python literals, as `--init KEY=VALUE` would give them. A case is `exact`
when the analysis can know every key, shape and dtype; otherwise `unknown` lists the key
prefixes (a tensor key, or a module path for all its keys) the analysis cannot know, and every
other key must still be exact.

`origins` pins a few origins exactly (line and 0-based column) by a marker: `"<root>"` (the
class or factory name), `"text"` (unique within the case's class or function, else in the
case's file; the origin is where it starts) or `"other.py::text"` (unique in that file). The key prefix selects the tensors: `"fc1"` means every `fc1.*` key. All the
other origins are checked by line against the traced build (see `fixture_truth`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    id: str
    file: str  # relative to fixtures/models
    class_name: str  # a class, or a function returning a module
    init: dict[str, Any] = field(default_factory=dict)
    exact: bool = True
    notes: str = ""
    unknown: tuple[str, ...] = ()  # exact=False: key prefixes whose keys or dims are unknowable
    # the subset of `unknown` whose very keys are unknowable (not only dims): checkpoint
    # tensors under them cannot be compared at all
    unresolved: tuple[str, ...] = ()
    origins: dict[str, str] = field(default_factory=dict)  # key prefix -> origin marker


CASES: list[Case] = [
    # -- literals, defaults, arithmetic
    Case("mlp.MLP", "mlp.py", "MLP", notes="untyped defaults, hidden // 2"),
    Case("mlp.MLP[hidden=20]", "mlp.py", "MLP", {"hidden": 20}, notes="seed: hidden 20 vs 30"),
    Case("mlp.MLP[in=6,out=4]", "mlp.py", "MLP", {"in_features": 6, "out_features": 4}),
    Case("mlp.TwoLayerNet", "mlp.py", "TwoLayerNet", notes="super(Cls, self).__init__()"),
    Case(
        "mlp.DeepMLP",
        "mlp.py",
        "DeepMLP",
        notes="for loop over zip(dims[:-1], dims[1:]), nested ifs, *layers",
        origins={"net.0": "self.net = nn.Sequential(*layers)"},
    ),
    Case(
        "mlp.DeepMLP[dims=4-8-2,norm=False]",
        "mlp.py",
        "DeepMLP",
        {"dims": [4, 8, 2], "norm": False},
    ),
    Case("mlp.DeepMLP[act=gelu]", "mlp.py", "DeepMLP", {"act": "gelu"}),
    Case("mlp.MLPRegressor", "mlp.py", "MLPRegressor"),
    Case("seed_hidden.ModelV1", "seed_hidden.py", "ModelV1"),
    Case("seed_hidden.ModelV2", "seed_hidden.py", "ModelV2"),
    Case("seed_hidden.SimpleModel", "seed_hidden.py", "SimpleModel"),
    Case(
        "seed_hidden.PreTrainedModelV1",
        "seed_hidden.py",
        "PreTrainedModelV1",
        notes="32*5*5, 2-space indent",
    ),
    Case(
        "seed_hidden.PreTrainedModelV2",
        "seed_hidden.py",
        "PreTrainedModelV2",
        origins={"conv1": "self.conv1 = nn.Conv2d(3, 16, kernel_size=5)"},
    ),
    Case("seed_rename.Model1", "seed_rename.py", "Model1"),
    Case(
        "seed_rename.Model2",
        "seed_rename.py",
        "Model2",
        origins={
            "convolution_one": "self.convolution_one = nn.Conv2d",
            "fc1": "self.fc1 = nn.Linear(32 * 22 * 22, 10)",
        },
    ),
    Case(
        "seed_lightning.MyModel",
        "seed_lightning.py",
        "MyModel",
        origins={"layer_1": "self.layer_1 = nn.Linear(10, 5)", "layer2": "self.layer2 = "},
    ),
    Case("seed_lightning.MyModelOld", "seed_lightning.py", "MyModelOld"),
    Case("seed_lightning.MyModelGrown", "seed_lightning.py", "MyModelGrown"),
    Case(
        "seed_lightning.MyAwesomeModel",
        "seed_lightning.py",
        "MyAwesomeModel",
        {"input_size": 10, "hidden_size": 20, "output_size": 5},
        notes="required arguments, no defaults",
    ),
    Case(
        "cnn.SmallCNN",
        "cnn.py",
        "SmallCNN",
        notes="typed defaults, if use_bn, bias=not use_bn",
        origins={
            "bn2": "self.bn2 = nn.BatchNorm2d(width * 2)",
            "fc1": "self.fc1 = nn.Linear(width * 2 * 5 * 5, 32)",
        },
    ),
    Case("cnn.SmallCNN[use_bn=False]", "cnn.py", "SmallCNN", {"use_bn": False}),
    Case("cnn.SmallCNN[classes=7,width=4]", "cnn.py", "SmallCNN", {"num_classes": 7, "width": 4}),
    Case("cnn.LeNet5", "cnn.py", "LeNet5"),
    Case(
        "constants.Tagger",
        "constants.py",
        "Tagger",
        notes="module and class constants, len(LABELS), int(x * ratio)",
    ),
    Case("constants.Tagger[mlp_ratio=2.0]", "constants.py", "Tagger", {"mlp_ratio": 2.0}),
    Case(
        "constants.Bottleneck",
        "constants.py",
        "Bottleneck",
        notes="math.ceil, max, min, **, conditional expression",
    ),
    Case(
        "constants.Bottleneck[wide]",
        "constants.py",
        "Bottleneck",
        {"width": 6, "groups": 4, "wide": True},
    ),
    # -- config objects
    Case(
        "config_models.ConfigNet", "config_models.py", "ConfigNet", notes="cfg: Config = Config()"
    ),
    Case(
        "config_models.TextCNN",
        "config_models.py",
        "TextCNN",
        notes="config or TextCNNConfig(), field(default_factory=...), getattr(cfg, name, default)",
    ),
    Case(
        "config_models.HParamsNet",
        "config_models.py",
        "HParamsNet",
        notes="a plain class as config",
    ),
    Case(
        "config_models.HParamsNet[in_dim=3]",
        "config_models.py",
        "HParamsNet",
        {"in_dim": 3},
        notes="through **overrides and .get",
    ),
    # -- attributes set earlier and attributes of submodules
    Case(
        "vit.VisionTransformer",
        "vit.py",
        "VisionTransformer",
        notes="self.patch_embed.num_patches, self.head_dim, int(dim * mlp_ratio), 0-dim free",
        origins={
            "cls_token": "self.cls_token = nn.Parameter",
            "pos_embed": "self.pos_embed = nn.Parameter",
            "blocks.1.attn.qkv": "self.qkv = nn.Linear(",
            "patch_embed.proj": "self.proj = nn.Conv2d(",
        },
    ),
    Case(
        "vit.VisionTransformer[no-head,no-cls]",
        "vit.py",
        "VisionTransformer",
        {"num_classes": 0, "class_token": False},
    ),
    Case(
        "vit.VisionTransformer[depth=1,dim=24,heads=3]",
        "vit.py",
        "VisionTransformer",
        {"depth": 1, "embed_dim": 24, "num_heads": 3, "qkv_bias": False},
    ),
    # -- helpers building modules, ResNet style
    Case(
        "resnet.ResNetTiny",
        "resnet.py",
        "ResNetTiny",
        notes="_make_layer, self.inplanes mutated by the helper",
        origins={
            "layer2.0.downsample": "self.layer2 = self._make_layer(",
            "layer2.0.conv1": "self.conv1 = conv3x3(inplanes, planes, stride)",
            "fc": "self.fc = nn.Linear(width * 4 * block.expansion, num_classes)",
        },
    ),
    Case(
        "resnet.resnet_tiny[classes=4]",
        "resnet.py",
        "resnet_tiny",
        {"num_classes": 4},
        notes="a factory function, **kwargs",
    ),
    Case("resnet.BottleneckResNet", "resnet.py", "BottleneckResNet", notes="block.expansion = 4"),
    Case("resnet.BottleneckResNet[width=4]", "resnet.py", "BottleneckResNet", {"width": 4}),
    Case(
        "resnet.Classifier",
        "resnet.py",
        "Classifier",
        notes="seed partial backbone: self.resnet.fc.in_features, assignment into a submodule",
        origins={
            "resnet.fc": "self.resnet.fc = nn.Linear(num_ftrs, num_classes)",
            "resnet.conv1": "self.conv1 = nn.Conv2d(3, self.inplanes",
        },
    ),
    Case("resnet.BackboneClassifier", "resnet.py", "BackboneClassifier"),
    # -- sibling files and packages
    Case(
        "blocks.ConvBNAct",
        "blocks.py",
        "ConvBNAct",
        {"in_channels": 3, "out_channels": 8},
        notes="a Sequential subclass at the root: no self.x line, the class name",
        origins={"0": "<root>", "1": "<root>"},
    ),
    Case("blocks.ResBlock", "blocks.py", "ResBlock", {"channels": 8}),
    Case(
        "blocks.make_mlp",
        "blocks.py",
        "make_mlp",
        {"in_dim": 4, "hidden_dims": [8, 8], "out_dim": 2},
        notes="a module-level function as the 'class'",
    ),
    Case(
        "sibling_net.SiblingNet",
        "sibling_net.py",
        "SiblingNet",
        notes="import blocks / from blocks import ...",
        origins={
            "res.0.conv1": "blocks.py::self.conv1 = nn.Conv2d(channels, mid, 1, bias=False)",
            "stem": "self.stem = blocks.ConvBNAct",
            "head": "self.head = make_mlp(",
            "se.fc.reduce": "blocks.py::self.fc = nn.Sequential(OrderedDict([",
        },
    ),
    Case(
        "sibling_net.SiblingNet[no-se,n_res=1]",
        "sibling_net.py",
        "SiblingNet",
        {"se": False, "n_res": 1},
    ),
    Case(
        "pkg.net.PkgNet",
        "pkg/net.py",
        "PkgNet",
        notes="from . import heads, from .layers import Encoder",
        origins={
            "encoder.layers.0.attn": "pkg/layers.py::self.attn = nn.MultiheadAttention",
            "reg_head": "self.reg_head = heads.RegressionHead(dim)",
            "encoder.pos": "pkg/layers.py::self.pos = nn.Parameter",
        },
    ),
    Case(
        "pkg.sub.mixers.MixerStack", "pkg/sub/mixers.py", "MixerStack", notes="from ..layers import"
    ),
    Case(
        "pkg.heads.RegressionHead",
        "pkg/heads.py",
        "RegressionHead",
        {"dim": 5},
        notes="a Linear subclass",
    ),
    Case(
        "pkg_user.Pipeline",
        "pkg_user.py",
        "Pipeline",
        notes="package re-exports, import pkg.heads as heads",
    ),
    # -- Sequential, containers, dynamic registration
    Case(
        "sequential_models.FeatureExtractor",
        "sequential_models.py",
        "FeatureExtractor",
        notes="nested Sequential, OrderedDict, append, add_module on a Sequential",
        origins={"features.5": "self.features.append(nn.BatchNorm2d(chs[2]))"},
    ),
    Case(
        "sequential_models.SequentialNet",
        "sequential_models.py",
        "SequentialNet",
        notes="Sequential subclasses; *list unpacking mixed with positional",
    ),
    Case(
        "sequential_models.SequentialNet[no-norm]",
        "sequential_models.py",
        "SequentialNet",
        {"use_norm": False},
    ),
    Case(
        "sequential_models.Stem",
        "sequential_models.py",
        "Stem",
        notes="root Sequential subclass from an OrderedDict",
    ),
    Case(
        "containers.ListNet",
        "containers.py",
        "ListNet",
        notes="ModuleList literal, comprehension, append loop, extend(generator), item assignment, insert, +=",
        origins={
            "outs.0": "self.outs[0] = nn.Linear(dim, 5)",
            "norms.2": "self.norms.append(nn.LayerNorm(dim))",
            "outs.1": "self.outs.insert(1,",
            "outs.2": "self.outs.extend(",
            "outs.3": "self.outs += [nn.Linear(dim, 9)]",
        },
    ),
    Case(
        "containers.ListNet[depth=1,extra=3]", "containers.py", "ListNet", {"depth": 1, "extra": 3}
    ),
    Case(
        "containers.DictNet",
        "containers.py",
        "DictNet",
        notes="ModuleDict literal/comprehension/setitem/update",
        origins={
            "heads.extra": 'self.heads["extra"] = nn.Linear(dim, 3)',
            "heads.gender": "self.heads.update(",
        },
    ),
    Case("containers.DictNet[tasks=a,b,c]", "containers.py", "DictNet", {"tasks": ["a", "b", "c"]}),
    Case(
        "containers.ParamContainers",
        "containers.py",
        "ParamContainers",
        notes="ParameterList/Dict, 0-dim",
        origins={"table.gamma": 'self.table["gamma"] = nn.Parameter'},
    ),
    Case(
        "dynamic.DynamicNet",
        "dynamic.py",
        "DynamicNet",
        notes="setattr f-string, add_module, register_module, buffers persistent/non-persistent/None, None params",
        origins={
            "fc0": 'setattr(self, f"fc{i}"',
            "fc2": 'setattr(self, f"fc{i}"',
            "out": 'self.add_module("out"',
            "norm": 'self.register_module("norm"',
            "running_avg": 'self.register_buffer("running_avg"',
            "step": 'self.register_buffer("step"',
            "temperature": 'self.register_parameter("temperature"',
            "bias": "self.bias = nn.Parameter(torch.zeros(2))",
        },
    ),
    Case(
        "dynamic.DynamicNet[n=1,no-bias]",
        "dynamic.py",
        "DynamicNet",
        {"n_layers": 1, "bias": False},
    ),
    Case(
        "dynamic.ScaledLinear",
        "dynamic.py",
        "ScaledLinear",
        notes="hand-written parameters, 0-dim scale",
    ),
    Case("dynamic.ScaledLinear[no-bias]", "dynamic.py", "ScaledLinear", {"bias": False}),
    Case(
        "buffers.BufferedModel",
        "buffers.py",
        "BufferedModel",
        notes="buffers from arange/sin/tril/view/expand/full; int64, bool, float64 dtypes",
        origins={
            "pos.pe": "self.register_buffer('pe', pe)",
            "counter": 'self.register_buffer("counter"',
        },
    ),
    Case("buffers.PositionalEncoding", "buffers.py", "PositionalEncoding"),
    Case("buffers.TokenFeatures", "buffers.py", "TokenFeatures"),
    # -- inheritance
    Case("inheritance.BaseEncoder", "inheritance.py", "BaseEncoder"),
    Case(
        "inheritance.Classifier",
        "inheritance.py",
        "Classifier",
        notes="super().__init__(**kwargs), overridden build_head, replaced layer keeps its place",
        origins={
            "input_proj": "self.input_proj = nn.Linear(self.in_dim, self.hidden, bias=False)",
            "head": "self.head = self.build_head()",
        },
    ),
    Case(
        "inheritance.Classifier[classes=5,hidden=8]",
        "inheritance.py",
        "Classifier",
        {"num_classes": 5, "hidden": 8},
    ),
    Case(
        "inheritance.DeepClassifier",
        "inheritance.py",
        "DeepClassifier",
        notes="*args/**kwargs, del self.x",
    ),
    Case(
        "inheritance.DeepClassifier[extra=2,layers=1]",
        "inheritance.py",
        "DeepClassifier",
        {"extra_layers": 2, "num_layers": 1},
    ),
    Case(
        "inheritance.FrozenClassifier",
        "inheritance.py",
        "FrozenClassifier",
        notes="a non-Module mixin first in the MRO",
    ),
    # -- weight tying and weight norm
    Case(
        "tying.RNNModel",
        "tying.py",
        "RNNModel",
        notes="getattr(nn, rnn_type), tied decoder.weight",
        origins={
            "decoder.weight": "self.decoder.weight = self.encoder.weight",
            "decoder.bias": "self.decoder = nn.Linear(nhid, ntoken)",
        },
    ),
    Case(
        "tying.RNNModel[GRU,untied]",
        "tying.py",
        "RNNModel",
        {"rnn_type": "GRU", "tie_weights": False, "nhid": 12},
    ),
    Case(
        "tying.RNNModel[RNN_TANH]", "tying.py", "RNNModel", {"rnn_type": "RNN_TANH", "nlayers": 1}
    ),
    Case(
        "tying.TiedAutoencoder", "tying.py", "TiedAutoencoder", notes="one module under two names"
    ),
    Case(
        "gpt_mini.GPT",
        "gpt_mini.py",
        "GPT",
        notes="nanoGPT: ModuleDict(dict(...)), tied wte/lm_head",
        origins={
            "transformer.wte.weight": "self.transformer.wte.weight = self.lm_head.weight",
            "transformer.h.1.attn.bias": 'self.register_buffer("bias"',
            "transformer.wpe": "self.transformer = nn.ModuleDict(dict(",
        },
    ),
    Case(
        "weight_norm_models.TemporalConvNet",
        "weight_norm_models.py",
        "TemporalConvNet",
        notes="old weight_norm (weight_g/weight_v), one module under two names, layers += [...]",
    ),
    Case(
        "weight_norm_models.TemporalBlock",
        "weight_norm_models.py",
        "TemporalBlock",
        {"n_inputs": 3, "n_outputs": 5, "kernel_size": 2, "stride": 1, "dilation": 1, "padding": 1},
    ),
    Case(
        "weight_norm_models.NormalizedNet",
        "weight_norm_models.py",
        "NormalizedNet",
        notes="parametrizations.weight_norm/spectral_norm, old spectral_norm, weight_norm(self.x) as a statement",
        origins={
            "wn_linear": "self.wn_linear = param_weight_norm(",
            "plain": "self.plain = nn.Linear(dim, dim)",
        },
    ),
    # -- layer catalog coverage
    Case("norms.NormZoo", "norms.py", "NormZoo"),
    Case(
        "norms.NormChoice", "norms.py", "NormChoice", notes="norm layer chosen by a string, lambdas"
    ),
    Case("norms.NormChoice[instance]", "norms.py", "NormChoice", {"norm": "instance"}),
    Case("norms.NormChoice[group]", "norms.py", "NormChoice", {"norm": "group"}),
    Case("norms.NormChoice[none]", "norms.py", "NormChoice", {"norm": "none"}),
    Case("recurrent.RNNClassifier", "recurrent.py", "RNNClassifier", notes="getattr(nn, rnn_type)"),
    Case("recurrent.RNNClassifier[GRU]", "recurrent.py", "RNNClassifier", {"rnn_type": "GRU"}),
    Case(
        "recurrent.RNNClassifier[RNN,uni,1]",
        "recurrent.py",
        "RNNClassifier",
        {"rnn_type": "RNN", "bidirectional": False, "num_layers": 1},
    ),
    Case(
        "recurrent.RecurrentZoo",
        "recurrent.py",
        "RecurrentZoo",
        notes="proj_size, bias=False, cells",
    ),
    Case(
        "recurrent.CRNN",
        "recurrent.py",
        "CRNN",
        notes="nested def adding to a local Sequential, str.format names",
        origins={
            "cnn.conv0": "self.cnn = cnn",
            "cnn.batchnorm2": "self.cnn = cnn",
            "rnn.1.embedding": "self.embedding = nn.Linear(nHidden * 2, nOut)",
        },
    ),
    Case("recurrent.CRNN[leaky]", "recurrent.py", "CRNN", {"leakyRelu": True}),
    Case(
        "seq2seq.Seq2Seq",
        "seq2seq.py",
        "Seq2Seq",
        notes="a module built into a local, then passed in",
        origins={"decoder.attention.v": "self.v = nn.Linear(dec_hid_dim, 1, bias=False)"},
    ),
    Case(
        "attention.CrossAttentionBlock",
        "attention.py",
        "CrossAttentionBlock",
        notes="MHA kdim/vdim, bias, add_bias_kv",
    ),
    Case(
        "transformer_models.TransformerModel",
        "transformer_models.py",
        "TransformerModel",
        notes="TransformerEncoder(layer, n) clones; tutorial positional encoding buffer",
    ),
    Case("transformer_models.CaptionDecoder", "transformer_models.py", "CaptionDecoder"),
    Case(
        "transformer_models.CaptionDecoder[post-norm,1]",
        "transformer_models.py",
        "CaptionDecoder",
        {"norm_first": False, "num_layers": 1},
    ),
    Case("transformer_models.Seq2SeqTransformer", "transformer_models.py", "Seq2SeqTransformer"),
    Case(
        "embeddings.EmbeddingZoo",
        "embeddings.py",
        "EmbeddingZoo",
        notes="from_pretrained, dtype=float64/float16",
    ),
    Case(
        "embeddings.RecSys",
        "embeddings.py",
        "RecSys",
        notes="a dict default, ModuleDict comprehension",
    ),
    Case(
        "convs.ConvZoo",
        "convs.py",
        "ConvZoo",
        notes="conv and transposed conv 1d/2d/3d, PReLU, Bilinear",
    ),
    Case("convs.DepthwiseSeparable", "convs.py", "DepthwiseSeparable"),
    Case("unet.UNet", "unet.py", "UNet"),
    Case("unet.UNet[bilinear]", "unet.py", "UNet", {"bilinear": True}),
    Case(
        "autoencoder.AutoEncoder",
        "autoencoder.py",
        "AutoEncoder",
        notes="import torch only; reversed(), extend",
    ),
    Case(
        "autoencoder.AutoEncoder[10,latent=2]",
        "autoencoder.py",
        "AutoEncoder",
        {"hidden_dims": [10], "latent_dim": 2},
    ),
    Case("autoencoder.VAE", "autoencoder.py", "VAE", notes="torch.Tensor([0.0])"),
    Case(
        "from_imports.TabularNet",
        "from_imports.py",
        "TabularNet",
        notes="from torch.nn import ..., aliases",
    ),
    Case("from_imports.PatchConv", "from_imports.py", "PatchConv"),
    Case("gan.Generator", "gan.py", "Generator", notes="module-level lowercase constants"),
    Case(
        "gan.Discriminator",
        "gan.py",
        "Discriminator",
        notes="spectral_norm chosen by a flag, mult *= 2",
    ),
    Case("gan.Discriminator[no-sn]", "gan.py", "Discriminator", {"use_sn": False}),
    Case(
        "mobilenet.MobileNetV2",
        "mobilenet.py",
        "MobileNetV2",
        notes="_make_divisible, setting table, append",
    ),
    Case("mobilenet.MobileNetV2[width=0.5]", "mobilenet.py", "MobileNetV2", {"width_mult": 0.5}),
    Case(
        "mixer.ConvMixer",
        "mixer.py",
        "ConvMixer",
        notes="a function returning Sequential(*[...])",
        origins={"0": "<root>", "3.0.fn": "self.fn = fn"},
    ),
    Case("mixer.MLPMixer", "mixer.py", "MLPMixer"),
    Case("moe.MoE", "moe.py", "MoE", notes="ModuleList(generator), long buffer"),
    Case("moe.MoE[2,no-shared]", "moe.py", "MoE", {"num_experts": 2, "shared_expert": False}),
    # -- Lightning
    Case(
        "lit_pl.LitClassifier",
        "lit_pl.py",
        "LitClassifier",
        notes="pytorch_lightning, save_hyperparameters, self.hparams.x, CE weight buffer, torchmetrics",
        origins={"criterion.weight": "self.criterion = nn.CrossEntropyLoss("},
    ),
    Case("lit_pl.LitClassifier[hidden=48]", "lit_pl.py", "LitClassifier", {"hidden_dim": 48}),
    Case("lit_lightning.Net", "lit_lightning.py", "Net"),
    Case(
        "lit_lightning.LitWrapper",
        "lit_lightning.py",
        "LitWrapper",
        notes="lightning.pytorch; Lightning nesting",
    ),
    Case(
        "lit_lightning.LitSequence",
        "lit_lightning.py",
        "LitSequence",
        notes='self.hparams["x"], named save_hyperparameters',
    ),
    Case(
        "lit_lightning.LitSequence[bi]", "lit_lightning.py", "LitSequence", {"bidirectional": True}
    ),
    Case(
        "lit_lightning_import.ImageClassifier",
        "lit_lightning_import.py",
        "ImageClassifier",
        notes="from lightning import LightningModule; dict hparams; MulticlassAccuracy",
    ),
    Case(
        "lit_L.LitAutoEncoder",
        "lit_L.py",
        "LitAutoEncoder",
        notes="import lightning as L; BCE pos_weight buffer",
    ),
    # -- what the analysis cannot know
    Case(
        "unknown_env.EnvNet",
        "unknown_env.py",
        "EnvNet",
        exact=False,
        notes="in_features from os.environ, vocab size from a file",
        unknown=("proj.weight", "embed.weight"),
    ),
    Case(
        "unknown_env.EnvDepthNet",
        "unknown_env.py",
        "EnvDepthNet",
        exact=False,
        notes="the number of blocks comes from os.environ",
        unknown=("blocks",),
        unresolved=("blocks",),
    ),
    Case(
        "unknown_import.WithMissingImport",
        "unknown_import.py",
        "WithMissingImport",
        exact=False,
        notes="from some_missing_pkg import FancyBlock",
        unknown=("block", "norm"),
        unresolved=("block", "norm"),
    ),
]

CASES_BY_ID: dict[str, Case] = {case.id: case for case in CASES}
assert len(CASES_BY_ID) == len(CASES), "case ids must be unique"
