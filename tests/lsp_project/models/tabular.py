from torch import nn


class TabularNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 30)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))


class WideNet(nn.Module):
    def __init__(self, hidden: int = 30):
        super().__init__()
        self.fc = nn.Linear(10, hidden)
        self.norm = nn.BatchNorm1d(hidden)

    def forward(self, x):
        return self.norm(self.fc(x))
