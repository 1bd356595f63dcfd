"""Write a real Lightning checkpoint from an earlier version of fixtures/examples/lightning_net.py's
`Net`: its layers sat in `self.model` (every key starts with `model.`), the encoder was called
`enc`, and it was trained with hidden=16. Usage: python make_lightning_ckpt.py OUT.ckpt"""

import sys

import lightning as L
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Backbone(nn.Module):
    def __init__(self, in_features: int, hidden: int, num_classes: int):
        super().__init__()
        self.enc = nn.Linear(in_features, hidden)
        self.act = nn.ReLU()
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.head(self.act(self.enc(x)))


class Net(L.LightningModule):
    def __init__(self, in_features: int = 8, hidden: int = 32, num_classes: int = 3):
        super().__init__()
        self.save_hyperparameters()
        self.model = Backbone(in_features, hidden, num_classes)

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main(out: str) -> None:
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(16, 8), torch.randint(0, 3, (16,)))
    trainer = L.Trainer(
        max_steps=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(Net(hidden=16), DataLoader(data, batch_size=8))
    trainer.save_checkpoint(out)


if __name__ == "__main__":
    main(sys.argv[1])
