"""The LR-ASD active-speaker network (Liao et al., IJCV 2025) as a plain PyTorch module.

This is our own implementation of the architecture in `shared/notes/asd.md` §1.3. Submodule and
parameter names follow the released checkpoints (§1.4) so that the MIT-licensed weights of
`Junhua-Liao/LR-ASD` load with `strict=True`: the only renaming is the checkpoint's `model.`
prefix (dropped) and its inference head `lossAV.FC` (our `classifier`). The training-only
visual head `lossV.FC` is not part of this module.

Inputs are what the network was trained on: 13 MFCCs at 100 frames/s (4 per video frame) and
normalised 112x112 grayscale face crops at 25 fps. The output is one logit per video frame;
LR-ASD's demo reads `>= 0` as speaking.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = [
    "LRASD",
    "VIDEO_MEAN",
    "VIDEO_STD",
    "checkpoint_to_state_dict",
]

# Grayscale pixel statistics used by LR-ASD's training code: (x / 255 - mean) / std.
VIDEO_MEAN = 0.4161
VIDEO_STD = 0.1688

# Every BatchNorm in LR-ASD uses these; they matter for eps (inference) and must match training.
_BN_MOMENTUM = 0.01
_BN_EPS = 1e-3


def _bn3d(channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, momentum=_BN_MOMENTUM, eps=_BN_EPS)


def _bn2d(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=_BN_MOMENTUM, eps=_BN_EPS)


class VisualBlock(nn.Module):
    """Factorised 3-D conv block: two spatial convs (5x5 then 3x3), then two temporal (5, 3).

    Splitting space and time keeps the parameter count low; each conv is followed by BN and ReLU.
    `downsample` gives the first spatial conv a stride of 2 (used by the first block only).
    """

    def __init__(self, in_channels: int, out_channels: int, *, downsample: bool = False) -> None:
        super().__init__()
        mid = out_channels // 2
        stride = (1, 2, 2) if downsample else (1, 1, 1)
        self.s_1 = nn.Conv3d(
            in_channels, mid, (1, 5, 5), stride=stride, padding=(0, 2, 2), bias=False
        )
        self.s_norm_1 = _bn3d(mid)
        self.s_2 = nn.Conv3d(mid, out_channels, (1, 3, 3), padding=(0, 1, 1), bias=False)
        self.s_norm_2 = _bn3d(out_channels)
        self.t_1 = nn.Conv3d(out_channels, out_channels, (5, 1, 1), padding=(2, 0, 0), bias=False)
        self.t_norm_1 = _bn3d(out_channels)
        self.t_2 = nn.Conv3d(out_channels, out_channels, (3, 1, 1), padding=(1, 0, 0), bias=False)
        self.t_norm_2 = _bn3d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.s_norm_1(self.s_1(x)))
        x = self.relu(self.s_norm_2(self.s_2(x)))
        x = self.relu(self.t_norm_1(self.t_1(x)))
        return self.relu(self.t_norm_2(self.t_2(x)))


class AudioBlock(nn.Module):
    """The 2-D analogue of `VisualBlock` on the (MFCC, time) map: MFCC-axis convs, then time."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        self.m_1 = nn.Conv2d(in_channels, mid, (5, 1), padding=(2, 0), bias=False)
        self.m_norm_1 = _bn2d(mid)
        self.m_2 = nn.Conv2d(mid, out_channels, (3, 1), padding=(1, 0), bias=False)
        self.m_norm_2 = _bn2d(out_channels)
        self.t_1 = nn.Conv2d(out_channels, out_channels, (1, 5), padding=(0, 2), bias=False)
        self.t_norm_1 = _bn2d(out_channels)
        self.t_2 = nn.Conv2d(out_channels, out_channels, (1, 3), padding=(0, 1), bias=False)
        self.t_norm_2 = _bn2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.m_norm_1(self.m_1(x)))
        x = self.relu(self.m_norm_2(self.m_2(x)))
        x = self.relu(self.t_norm_1(self.t_1(x)))
        return self.relu(self.t_norm_2(self.t_2(x)))


class VisualEncoder(nn.Module):
    """(B, 1, T, 112, 112) face crops -> (B, T, 128) per-frame embeddings.

    Spatial size goes 112 -> 56 (stride in block 1) -> 28 -> 14 (the two max-pools); a global
    spatial max-pool then keeps the strongest response per channel, so the embedding does not
    depend on where exactly the mouth sits in the crop.
    """

    def __init__(self) -> None:
        super().__init__()
        self.block1 = VisualBlock(1, 32, downsample=True)
        self.pool1 = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.block2 = VisualBlock(32, 64)
        self.pool2 = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.block3 = VisualBlock(64, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.block1(x))
        x = self.pool2(self.block2(x))
        x = self.block3(x)  # (B, C, T, H, W)
        return torch.amax(x, dim=(3, 4)).transpose(1, 2)


class AudioEncoder(nn.Module):
    """(B, 1, 13, 4T) MFCC map -> (B, T, 128): two stride-2 time pools bring 100 Hz to 25 Hz."""

    def __init__(self) -> None:
        super().__init__()
        self.block1 = AudioBlock(1, 32)
        self.pool1 = nn.MaxPool2d((1, 3), stride=(1, 2), padding=(0, 1))
        self.block2 = AudioBlock(32, 64)
        self.pool2 = nn.MaxPool2d((1, 3), stride=(1, 2), padding=(0, 1))
        self.block3 = AudioBlock(64, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.block1(x))
        x = self.pool2(self.block2(x))
        x = self.block3(x)  # (B, C, 13, T)
        return x.mean(dim=2).transpose(1, 2)


class ChannelAttention(nn.Module):
    """Concatenate two (B, T, C) streams and reweight every channel by a learned sigmoid gate.

    The gate is `sigmoid(BN(conv1x1(x)))` computed per frame, so the network can lean on audio or
    on video frame by frame (e.g. when the face turns away).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.attention = nn.Conv1d(channels, channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm1d(channels, momentum=_BN_MOMENTUM, eps=_BN_EPS)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        x = torch.cat((first, second), dim=2).transpose(1, 2)  # (B, C, T)
        gate = torch.sigmoid(self.bn(self.attention(x)))
        return (x * gate).transpose(1, 2)


class TemporalDetector(nn.Module):
    """Forward and time-reversed GRUs (hidden 64) whose outputs are fused by channel attention.

    Two unidirectional GRUs rather than one bidirectional GRU, because that is how the released
    weights are laid out. Dropout on the inputs only acts in training mode.
    """

    def __init__(self, channels: int = 256) -> None:
        super().__init__()
        hidden = channels // 4
        self.gru_forward = nn.GRU(channels, hidden, num_layers=1, batch_first=True)
        self.gru_backward = nn.GRU(channels, hidden, num_layers=1, batch_first=True)
        self.drop = nn.Dropout(0.5)
        self.attention = ChannelAttention(hidden * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(x)
        ahead, _ = self.gru_forward(x)
        behind, _ = self.gru_backward(torch.flip(x, dims=[1]))
        return self.attention(ahead, torch.flip(behind, dims=[1]))


class LRASD(nn.Module):
    """LR-ASD: audio and visual encoders, channel-attention fusion, GRU detector, 128->2 FC.

    `forward(audio_feats, video)` takes MFCCs `(B, 4T, 13)` and normalised crops
    `(B, T, 112, 112)` and returns the class-1 ("speaking") logit per frame, `(B, T)`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.visualEncoder = VisualEncoder()
        self.audioEncoder = AudioEncoder()
        self.fusion = ChannelAttention(256)
        self.detector = TemporalDetector(256)
        self.classifier = nn.Linear(128, 2)

    def forward(self, audio_feats: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        batch, frames = video.shape[:2]
        if audio_feats.shape[:2] != (batch, 4 * frames):
            raise ValueError(
                f"audio features {tuple(audio_feats.shape)} do not match video "
                f"{tuple(video.shape)}: expected (B, 4T, 13)"
            )
        audio = self.audioEncoder(audio_feats.unsqueeze(1).transpose(2, 3))
        visual = self.visualEncoder(video.unsqueeze(1))
        fused = self.detector(self.fusion(audio, visual))  # (B, T, 128)
        return self.classifier(fused)[..., 1]


def checkpoint_to_state_dict(checkpoint: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map an LR-ASD training checkpoint onto `LRASD`'s state-dict names.

    Drops an optional `module.` prefix (DataParallel) and the training wrapper's `model.` prefix,
    renames `lossAV.FC.*` to `classifier.*`, and discards `lossV.*` (the visual-only auxiliary
    head used in training). Any other key is kept as is, so `load_state_dict(strict=True)`
    reports it instead of it being silently lost.
    """
    state: dict[str, torch.Tensor] = {}
    for key, value in checkpoint.items():
        name = key.removeprefix("module.")
        if name.startswith("lossV."):
            continue
        if name.startswith("lossAV.FC."):
            name = "classifier." + name.removeprefix("lossAV.FC.")
        else:
            name = name.removeprefix("model.")
        state[name] = value
    return state
