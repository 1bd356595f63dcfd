import torch
from models.seqnet import SeqNet

CHECKPOINT = "ckpts/seq.pt"
FROZEN = ["encoder.0.weight"]


def main():
    net = SeqNet(num_classes=7)
    net.load_state_dict(torch.load(CHECKPOINT, map_location="cpu"))
    return net


def finetune():
    net = SeqNet()
    net.load_state_dict(torch.load("ckpts/other.pt"), strict=False)
    return net


if __name__ == "__main__":
    main()
