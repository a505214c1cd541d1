"""U2NETP in PyTorch, laid out like the shipped `u2netp.onnx` so its weights load one-to-one.

The ONNX export folded every BatchNorm into the preceding convolution, so each REBNCONV here is
a biased 3x3 convolution plus ReLU: the network computes exactly what the ONNX graph computes, and
fine-tuning it behaves like training with frozen BatchNorm statistics.

The two variants of the seed article are switches on the same class:
- `cbam=True`: CBAM channel-spatial attention on the outputs of encoder stages 1 and 2 (section 3.3);
- `fpn=True`: an FPN top-down + PANet bottom-up path over the decoder features that feeds the six
  side outputs (section 3.2).
Both start as the identity of the pretrained network (zero-initialised gates and convolutions), so
a fresh variant with imported weights predicts exactly what u2netp predicts and training can only
move it away from there when the loss says so.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import CBAM, PyramidFusion


def upsample_like(src: torch.Tensor, tar: torch.Tensor) -> torch.Tensor:
    """Bilinear, half-pixel centres: ONNX Resize(linear, pytorch_half_pixel) of the shipped graph."""
    return F.interpolate(src, size=tar.shape[2:], mode="bilinear", align_corners=False)


class REBNCONV(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, dirate: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=dirate, dilation=dirate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


def _pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 2, stride=2, ceil_mode=True)


class RSU(nn.Module):
    """Residual U-block of `height` levels (RSU7 ... RSU4): pooling encoder, dilated bottom."""

    def __init__(self, height: int, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.height = height
        self.conv_in = REBNCONV(in_ch, out_ch)
        self.enc = nn.ModuleList([REBNCONV(out_ch, mid_ch)] + [REBNCONV(mid_ch, mid_ch) for _ in range(height - 2)])
        self.bottom = REBNCONV(mid_ch, mid_ch, dirate=2)
        self.dec = nn.ModuleList([REBNCONV(mid_ch * 2, mid_ch) for _ in range(height - 2)] + [REBNCONV(mid_ch * 2, out_ch)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.conv_in(x)
        feats = []
        hx = hxin
        for i, conv in enumerate(self.enc):
            if i > 0:
                hx = _pool(hx)
            hx = conv(hx)
            feats.append(hx)
        hx = self.bottom(hx)
        for i, conv in enumerate(self.dec):
            skip = feats[-1 - i]
            if i > 0:
                hx = upsample_like(hx, skip)
            hx = conv(torch.cat((hx, skip), 1))
        return hx + hxin


class RSU4F(nn.Module):
    """RSU4 with dilations instead of pooling (the two deepest, smallest stages)."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv_in = REBNCONV(in_ch, out_ch)
        self.enc = nn.ModuleList([REBNCONV(out_ch, mid_ch, 1), REBNCONV(mid_ch, mid_ch, 2), REBNCONV(mid_ch, mid_ch, 4)])
        self.bottom = REBNCONV(mid_ch, mid_ch, dirate=8)
        self.dec = nn.ModuleList([REBNCONV(mid_ch * 2, mid_ch, 4), REBNCONV(mid_ch * 2, mid_ch, 2), REBNCONV(mid_ch * 2, out_ch, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.conv_in(x)
        feats = []
        hx = hxin
        for conv in self.enc:
            hx = conv(hx)
            feats.append(hx)
        hx = self.bottom(hx)
        for i, conv in enumerate(self.dec):
            hx = conv(torch.cat((hx, feats[-1 - i]), 1))
        return hx + hxin


class U2NETP(nn.Module):
    """U2NETP (1.1 M parameters). `forward` returns the fused map and the six side maps, as logits."""

    def __init__(self, cbam: bool = False, fpn: bool = False) -> None:
        super().__init__()
        self.stage1 = RSU(7, 3, 16, 64)
        self.stage2 = RSU(6, 64, 16, 64)
        self.stage3 = RSU(5, 64, 16, 64)
        self.stage4 = RSU(4, 64, 16, 64)
        self.stage5 = RSU4F(64, 16, 64)
        self.stage6 = RSU4F(64, 16, 64)
        self.stage5d = RSU4F(128, 16, 64)
        self.stage4d = RSU(4, 128, 16, 64)
        self.stage3d = RSU(5, 128, 16, 64)
        self.stage2d = RSU(6, 128, 16, 64)
        self.stage1d = RSU(7, 128, 16, 64)
        self.side = nn.ModuleList([nn.Conv2d(64, 1, 3, padding=1) for _ in range(6)])
        self.outconv = nn.Conv2d(6, 1, 1)
        self.cbam = nn.ModuleList([CBAM(64), CBAM(64)]) if cbam else None
        self.fusion = PyramidFusion(64, 6) if fpn else None

    def pretrained_modules(self) -> list[nn.Module]:
        """Everything that exists in the shipped u2netp (what `onnx_import` fills)."""
        return [m for n, m in self.named_children() if n not in ("cbam", "fusion")]

    def new_modules(self) -> list[nn.Module]:
        return [m for m in (self.cbam, self.fusion) if m is not None]

    def forward_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        hx1 = self.stage1(x)
        if self.cbam is not None:
            hx1 = self.cbam[0](hx1)
        hx2 = self.stage2(_pool(hx1))
        if self.cbam is not None:
            hx2 = self.cbam[1](hx2)
        hx3 = self.stage3(_pool(hx2))
        hx4 = self.stage4(_pool(hx3))
        hx5 = self.stage5(_pool(hx4))
        hx6 = self.stage6(_pool(hx5))

        hx5d = self.stage5d(torch.cat((upsample_like(hx6, hx5), hx5), 1))
        hx4d = self.stage4d(torch.cat((upsample_like(hx5d, hx4), hx4), 1))
        hx3d = self.stage3d(torch.cat((upsample_like(hx4d, hx3), hx3), 1))
        hx2d = self.stage2d(torch.cat((upsample_like(hx3d, hx2), hx2), 1))
        hx1d = self.stage1d(torch.cat((upsample_like(hx2d, hx1), hx1), 1))

        feats = [hx1d, hx2d, hx3d, hx4d, hx5d, hx6]
        if self.fusion is not None:
            feats = self.fusion(feats)
        sides = [self.side[0](feats[0])]
        for conv, f in zip(self.side[1:], feats[1:]):
            sides.append(upsample_like(conv(f), sides[0]))
        d0 = self.outconv(torch.cat(sides, 1))
        return [d0, *sides]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The fused probability map N x 1 x H x W: what the engine reads (first ONNX output)."""
        return torch.sigmoid(self.forward_logits(x)[0])


VARIANTS = {
    "u2netp": {},
    "u2netp_cbam": {"cbam": True},
    "u2netp_fpn": {"fpn": True},
}


def build(variant: str) -> U2NETP:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: one of {', '.join(VARIANTS)}")
    return U2NETP(**VARIANTS[variant])
