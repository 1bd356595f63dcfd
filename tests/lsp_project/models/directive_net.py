import torch
from torch import nn


# ckptlens: checkpoint=../ckpts/directive.pt
class DirectiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_1 = nn.Linear(8, 16)
        self.act = nn.ReLU()
        self.out = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.layer_1(x)))

    def copy_from(self, other: "DirectiveNet") -> None:
        self.layer_1.load_state_dict(other.layer_1.state_dict())
