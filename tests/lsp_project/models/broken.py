from torch import nn


# ckptlens: checkpoint=../ckpts/corrupt.pt
class CorruptNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)


# ckptlens: checkpoint=../ckpts/evil.pt
class EvilNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
