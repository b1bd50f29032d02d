"""A small CenterNet-style convolutional aircraft detector, trained from scratch on CPU.

Training needs the optional ``torch`` dependency (``pip install sitewatch[cnn]``);
it is imported only inside :func:`train_cnn`, so this module imports without it.
The trained network is returned as ONNX bytes that follow the box-model
contract of :mod:`pipeline.detect.onnx_adapter` (centre heat map at stride 4,
log box height/width in metres and centre offsets, input resampled to
``input_gsd_m``); inference runs through onnxruntime with no torch.

Network: three strided 3 x 3 convolutions down to stride 4, a stack of
dilated residual 3 x 3 blocks (receptive field ~ 130 m at 1 m pixels), and
two heads. Loss: CenterNet's penalty-reduced focal loss on Gaussian centre
targets plus L1 on log sizes and offsets at the centre cells. Crops are drawn
from the prepared (resampled, stretched) images, half of them centred near a
random object, with flips, 90-degree rotations and brightness/contrast jitter.
Everything is seeded by ``params.seed``.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from pipeline.detect.onnx_adapter import FLIP_TTA_KEY, GSD_KEY, THRESHOLD_KEY, prepare

#: Format tag written into the ONNX metadata of every exported model.
FORMAT = "sitewatch-cnn-centre/1"
#: Inference defaults written into every exported model (the ONNX adapter uses them
#: unless told otherwise): peak heat 0.30 with the maps averaged over four flips.
#: Chosen on Airbus development folds 0 and 1 (11 images, 334 aircraft once doubly
#: labelled ones are merged) as the best pooled F1: 0.963 (P 0.961, R 0.964),
#: against 0.940 without flips at the same threshold (benchmarks/airbus_cnn.py).
DEFAULT_THRESHOLD = 0.30
DEFAULT_FLIP_TTA = True
#: Output stride of the network (model input pixels per output cell).
STRIDE = 4


@dataclass(frozen=True)
class CnnParams:
    """Training settings.

    Attributes
    ----------
    input_gsd_m : float
        GSD the images are resampled to (metres per pixel).
    crop_px : int
        Side of a training crop (model pixels, a multiple of 64).
    batch : int
        Crops per step.
    steps : int
        Optimiser steps.
    lr : float
        Peak AdamW learning rate (linear warm-up, cosine decay).
    width : int
        Channels of the stride-4 blocks.
    object_crop_fraction : float
        Share of crops placed so that a random object lies inside.
    seed : int
        Seed of crops, augmentation and initial weights.
    threads : int
        torch CPU threads.
    """

    input_gsd_m: float = 1.0
    crop_px: int = 256
    batch: int = 8
    steps: int = 1500
    lr: float = 2e-3
    width: int = 48
    object_crop_fraction: float = 0.5
    seed: int = 0
    threads: int = 2

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CnnParams:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        bad = set(d) - names
        if bad:
            raise ValueError(f"unknown CnnParams keys {sorted(bad)}; known: {sorted(names)}")
        return cls(**dict(d))


@dataclass(frozen=True)
class CnnTrainingImage:
    """One training image: ``(bands, rows, cols)`` pixels, GSD (metres), boxes.

    ``boxes`` are axis-aligned ``(row0, col0, row1, col1)`` in image pixels.
    """

    image: np.ndarray
    gsd_m: float
    boxes: Sequence[tuple[float, float, float, float]]


@dataclass(frozen=True)
class CnnResult:
    """A trained model: ONNX bytes, its version, the loss curve and the training time."""

    onnx: bytes
    version: str
    params: CnnParams
    losses: list[float] = field(default_factory=list)
    train_s: float = 0.0


def _targets(
    boxes: np.ndarray, out: int, pixel_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heat ``(out, out)``, regression ``(4, out, out)`` and centre mask for crop boxes.

    ``boxes`` are ``(n, 4)`` in crop pixels; a box owns the cell holding its
    centre when the centre lies in the crop.
    """
    heat = np.zeros((out, out), dtype=np.float32)
    reg = np.zeros((4, out, out), dtype=np.float32)
    mask = np.zeros((out, out), dtype=np.float32)
    grid = np.arange(out, dtype=np.float32) + 0.5
    for r0, c0, r1, c1 in boxes:
        cy, cx = (r0 + r1) / 2 / STRIDE, (c0 + c1) / 2 / STRIDE
        hh, ww = (r1 - r0) / STRIDE, (c1 - c0) / STRIDE
        if hh <= 0 or ww <= 0:
            continue
        sy, sx = max(0.5, hh / 6), max(0.5, ww / 6)
        g = np.exp(-(((grid[:, None] - cy) / sy) ** 2) / 2 - (((grid[None, :] - cx) / sx) ** 2) / 2)
        np.maximum(heat, g.astype(np.float32), out=heat)
        i, j = int(np.floor(cy)), int(np.floor(cx))
        if 0 <= i < out and 0 <= j < out:
            heat[i, j] = 1.0
            reg[:, i, j] = (
                np.log(hh * STRIDE * pixel_m),
                np.log(ww * STRIDE * pixel_m),
                cy - i - 0.5,
                cx - j - 0.5,
            )
            mask[i, j] = 1.0
    return heat, reg, mask


def _augment(
    x: np.ndarray, boxes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random flips / 90-degree rotation / brightness-contrast of a square crop and its boxes."""
    n = x.shape[1]
    b = boxes.copy()
    if rng.random() < 0.5:  # flip columns
        x = x[:, :, ::-1]
        b = np.stack([b[:, 0], n - b[:, 3], b[:, 2], n - b[:, 1]], axis=1)
    if rng.random() < 0.5:  # flip rows
        x = x[:, ::-1, :]
        b = np.stack([n - b[:, 2], b[:, 1], n - b[:, 0], b[:, 3]], axis=1)
    if rng.random() < 0.5:  # rot90: out[i, j] = in[j, n-1-i]; (r, c) -> (n - c, r)
        x = np.rot90(x, 1, axes=(1, 2))
        b = np.stack([n - b[:, 3], b[:, 0], n - b[:, 1], b[:, 2]], axis=1)
    gain = rng.uniform(0.75, 1.25)
    bias = rng.uniform(-0.15, 0.15)
    chan = rng.uniform(0.93, 1.07, size=(x.shape[0], 1, 1))
    x = np.clip((x - 0.5) * gain * chan + 0.5 + bias, 0.0, 1.0)
    return np.ascontiguousarray(x, dtype=np.float32), b.reshape(-1, 4)


def _crop(
    x: np.ndarray,
    boxes: np.ndarray,
    size: int,
    rng: np.random.Generator,
    object_fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = x.shape[1:]
    if len(boxes) and rng.random() < object_fraction:
        r0, c0, r1, c1 = boxes[rng.integers(len(boxes))]
        cy, cx = (r0 + r1) / 2, (c0 + c1) / 2
        top = int(np.clip(cy - rng.uniform(0.1, 0.9) * size, 0, rows - size))
        left = int(np.clip(cx - rng.uniform(0.1, 0.9) * size, 0, cols - size))
    else:
        top = int(rng.integers(0, rows - size + 1))
        left = int(rng.integers(0, cols - size + 1))
    b = boxes - np.array([top, left, top, left], dtype=np.float64)
    keep = (b[:, 2] > 0) & (b[:, 3] > 0) & (b[:, 0] < size) & (b[:, 1] < size)
    return x[:, top : top + size, left : left + size], b[keep]


def _network(width: int) -> Any:
    import torch
    from torch import nn

    def cbr(i: int, o: int, s: int = 1, d: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(i, o, 3, s, padding=d, dilation=d, bias=False),
            nn.BatchNorm2d(o),
            nn.ReLU(inplace=True),
        )

    class Res(nn.Module):
        def __init__(self, c: int, d: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=d, dilation=d, bias=False)
            self.bn = nn.BatchNorm2d(c)

        def forward(self, x: Any) -> Any:
            return torch.relu(x + self.bn(self.conv(x)))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                cbr(3, 16, 2),
                cbr(16, 32),
                cbr(32, width, 2),
                *[Res(width, d) for d in (1, 2, 4, 8, 1, 2)],
            )
            heat_out = nn.Conv2d(width, 1, 1)
            box_out = nn.Conv2d(width, 4, 1)
            hb: Any = heat_out.bias
            bb: Any = box_out.bias
            with torch.no_grad():
                hb.fill_(-2.19)  # prior 0.1
                bb.copy_(torch.tensor([np.log(30.0), np.log(30.0), 0.0, 0.0]))
            self.heat = nn.Sequential(cbr(width, width), heat_out)
            self.box = nn.Sequential(cbr(width, width), box_out)

        def forward(self, x: Any) -> tuple[Any, Any]:
            f = self.body(x)
            return torch.sigmoid(self.heat(f)), self.box(f)

    return Net()


def _focal(pred: Any, gt: Any) -> Any:
    import torch

    p = pred.clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    neg = 1 - pos
    pos_l = torch.log(p) * (1 - p) ** 2 * pos
    neg_l = torch.log(1 - p) * p**2 * (1 - gt) ** 4 * neg
    return -(pos_l.sum() + neg_l.sum()) / pos.sum().clamp(min=1.0)


def train_cnn(
    images: Sequence[CnnTrainingImage],
    *,
    params: CnnParams | None = None,
    log_every: int = 0,
) -> CnnResult:
    """Train the network on ``images`` and export it to ONNX bytes.

    Parameters
    ----------
    images : sequence of CnnTrainingImage
        Training images with their boxes (any GSD; resampled to
        ``params.input_gsd_m``).
    params : CnnParams, optional
        Settings (defaults: :class:`CnnParams`).
    log_every : int
        Print the mean loss every this many steps (0: silent; the loss curve
        then has 20 points).

    Returns
    -------
    CnnResult
    """
    import torch

    p = params or CnnParams()
    if p.crop_px % 64:
        raise ValueError(f"crop_px={p.crop_px} must be a multiple of 64")
    t0 = time.monotonic()
    torch.set_num_threads(p.threads)
    torch.manual_seed(p.seed)
    rng = np.random.default_rng(p.seed)
    data: list[tuple[np.ndarray, np.ndarray, float]] = []
    digest = hashlib.sha256(json.dumps(p.to_dict(), sort_keys=True).encode())
    for ti in images:
        x, _ = prepare(ti.image, gsd_m=ti.gsd_m, input_gsd_m=p.input_gsd_m)
        if x.shape[0] < 3:
            x = np.concatenate([x] + [x[-1:]] * (3 - x.shape[0]), axis=0)
        x = x[:3]
        f = ti.image.shape[-2] / x.shape[1]
        b = np.asarray(ti.boxes, dtype=np.float64).reshape(-1, 4) / f
        if min(x.shape[1:]) < p.crop_px:
            pad = [(0, 0), (0, max(0, p.crop_px - x.shape[1])), (0, max(0, p.crop_px - x.shape[2]))]
            x = np.pad(x, pad)
        data.append((x, b, ti.gsd_m * f))
        digest.update(np.ascontiguousarray(ti.image).tobytes())
        digest.update(b.tobytes())
    if not data:
        raise ValueError("train_cnn needs at least one training image")
    net = _network(p.width)
    opt = torch.optim.AdamW(net.parameters(), lr=p.lr, weight_decay=1e-4)
    warm = max(1, min(200, p.steps // 10))

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + np.cos(np.pi * (step - warm) / max(1, p.steps - warm))) * 0.98 + 0.02

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    out = p.crop_px // STRIDE
    losses: list[float] = []  # mean loss per chunk of steps
    chunk = log_every or max(1, p.steps // 20)
    run: list[float] = []
    net.train()
    for step in range(p.steps):
        xs, hs, rs, ms = [], [], [], []
        for _ in range(p.batch):
            x, b, pix = data[int(rng.integers(len(data)))]
            cx, cb = _crop(x, b, p.crop_px, rng, p.object_crop_fraction)
            cx, cb = _augment(cx, cb, rng)
            h, r, m = _targets(cb, out, pix)
            xs.append(cx)
            hs.append(h)
            rs.append(r)
            ms.append(m)
        xt = torch.from_numpy(np.stack(xs))
        ht = torch.from_numpy(np.stack(hs))[:, None]
        rt = torch.from_numpy(np.stack(rs))
        mt = torch.from_numpy(np.stack(ms))[:, None]
        heat, reg = net(xt)
        npos = mt.sum().clamp(min=1.0)
        l1 = (torch.abs(reg - rt) * mt).sum(dim=(0, 2, 3))
        loss = _focal(heat, ht) + (l1[0] + l1[1] + l1[2] + l1[3]) / npos
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run.append(float(loss.detach()))
        if (step + 1) % chunk == 0:
            losses.append(float(np.mean(run)))
            run = []
            if log_every:
                print(f"step {step + 1}/{p.steps} loss {losses[-1]:.3f}", flush=True)
    if run:
        losses.append(float(np.mean(run)))
    net.eval()
    version = f"cnn:{digest.hexdigest()[:16]}"
    onnx_bytes = _export(net, version=version, params=p)
    return CnnResult(onnx_bytes, version, p, losses, round(time.monotonic() - t0, 1))


def _export(net: Any, *, version: str, params: CnnParams) -> bytes:
    import onnx
    import torch

    buf: Any = io.BytesIO()  # torch's stubs name only paths; it writes file objects too
    dummy = torch.zeros(1, 3, 128, 128)
    # The TorchScript exporter needs no onnxscript; torch >= 2.9 warns that it is not
    # the default any more, and its internals use deprecated helpers. Silence
    # DeprecationWarning for the export call only.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            (dummy,),
            buf,
            dynamo=False,
            input_names=["x"],
            output_names=["heat", "box"],
            dynamic_axes={
                "x": {2: "h", 3: "w"},
                "heat": {2: "h4", 3: "w4"},
                "box": {2: "h4", 3: "w4"},
            },
            opset_version=17,
        )
    model = onnx.load_from_string(buf.getvalue())
    meta = {
        GSD_KEY: repr(float(params.input_gsd_m)),
        THRESHOLD_KEY: repr(DEFAULT_THRESHOLD),
        FLIP_TTA_KEY: "1" if DEFAULT_FLIP_TTA else "0",
        "sitewatch.format": FORMAT,
        "sitewatch.version": version,
        "sitewatch.params": json.dumps(params.to_dict(), sort_keys=True),
    }
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    return bytes(model.SerializeToString())


__all__ = ["FORMAT", "CnnParams", "CnnResult", "CnnTrainingImage", "train_cnn"]
