import torch
from models.seqnet import SeqNet


def from_lightning():
    return SeqNet.load_from_checkpoint("ckpts/seq_lightning.ckpt", num_classes=7)


def from_hub():
    return SeqNet.from_pretrained("acme/seqnet-tiny")


def from_gpu_box():
    net = SeqNet()
    net.load_state_dict(torch.load("ckpts/seq_cuda.pt"))
    return net


def from_nowhere():
    net = SeqNet()
    net.load_state_dict(torch.load("ckpts/nope.pt", map_location="cpu"))
    return net
