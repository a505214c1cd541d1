"""The two additions of the seed article, each built to start as the identity.

Both add a learned term to an existing feature map through a zero-initialised last layer (a gate
or a convolution), so a fresh module returns its input unchanged while its gradients are not zero:
fine-tuning starts from exactly the pretrained network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al., ECCV 2018) behind a per-channel gate.

    y = x + gamma * (cbam(x) - x), where cbam(x) = x * channel_att(x) * spatial_att(x * channel_att(x))
    and gamma starts at 0.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel: int = 7) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
        self.spatial = nn.Conv2d(2, 1, kernel, padding=kernel // 2)
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(torch.mean(x, dim=(2, 3), keepdim=True))
        mx = self.mlp(torch.amax(x, dim=(2, 3), keepdim=True))
        x = x * torch.sigmoid(avg + mx)
        s = torch.cat((x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)), 1)
        return x * torch.sigmoid(self.spatial(s))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * (self.attend(x) - x)


def _zero(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class PyramidFusion(nn.Module):
    """FPN top-down then PANet bottom-up over the decoder maps, finest first (1/1 ... 1/32).

    t_L = f_L;  t_k = f_k + td_k(up(t_{k+1}))          (semantics flow down to the fine maps)
    b_1 = t_1;  b_k = t_k + bu_k(maxpool(b_{k-1}))     (fine detail flows up to the coarse maps)

    td/bu are zero-initialised 1x1 convolutions (cheap at full resolution), so the fused maps equal
    the inputs at the start. The max-pool uses the encoder's ceil mode, so every level's size matches.
    """

    def __init__(self, channels: int, levels: int) -> None:
        super().__init__()
        self.td = nn.ModuleList([_zero(nn.Conv2d(channels, channels, 1)) for _ in range(levels - 1)])
        self.bu = nn.ModuleList([_zero(nn.Conv2d(channels, channels, 1)) for _ in range(levels - 1)])

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        n = len(feats)
        top = [feats[-1]]
        for k in range(n - 2, -1, -1):
            up = F.interpolate(top[0], size=feats[k].shape[2:], mode="bilinear", align_corners=False)
            top.insert(0, feats[k] + self.td[k](up))
        out = [top[0]]
        for k in range(1, n):
            down = F.max_pool2d(out[-1], 2, stride=2, ceil_mode=True)
            out.append(top[k] + self.bu[k - 1](down))
        return out
