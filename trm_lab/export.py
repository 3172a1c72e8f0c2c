"""Export a solution (text / CSV / JSON / ARC submission), the grid as PNG, the refinement as GIF or PNG strip,
and a model's checkpoint with its card. Every write is atomic (temp file in the same folder + os.replace).

The GIF encoder is our own (LZW, ~60 lines): frames are flat-coloured grids with few colours, so a global palette
and plain LZW are exact, and it spares the project an imaging dependency.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from engine.atomic import atomic_copy, atomic_write_bytes, atomic_write_text
from trm_lab import theme

# ---------------------------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------------------
# Solutions as text
# ---------------------------------------------------------------------------------------------------------------
def solution_text(kind: str, grid: np.ndarray) -> str:
    from engine.puzzles.kind import get_kind

    return get_kind(kind).to_text(np.asarray(grid))


def solution_csv(grid: np.ndarray) -> str:
    return "\n".join(",".join(str(int(v)) for v in row) for row in np.asarray(grid)) + "\n"


def solution_json(kind: str, grid: np.ndarray, *, task_id: str | None = None,
                  attempts: Sequence[Sequence[np.ndarray]] | None = None) -> str:
    """ARC: the ARC Prize submission format, one {attempt_1, attempt_2} per test input (`attempts` holds each test
    input's one or two grids; one is repeated as attempt 2); other kinds: {"kind", "grid"}."""
    from engine.puzzles.kind import get_kind

    return json.dumps(get_kind(kind).solution_json(grid, task_id, attempts))


def export_solution(path: str | os.PathLike, kind: str, grid: np.ndarray, *, task_id: str | None = None,
                    attempts: Sequence[Sequence[np.ndarray]] | None = None) -> None:
    """Pick the format from the suffix: .csv, .json, anything else is text."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        text = solution_csv(grid)
    elif suffix == ".json":
        text = solution_json(kind, grid, task_id=task_id, attempts=attempts)
    else:
        text = solution_text(kind, grid)
    atomic_write_text(path, text)


# ---------------------------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------------------------
def render_grid(kind: str, grid: np.ndarray, *, cell: int = 28, **overlays) -> QImage:
    """Draw a grid with the lab's renderer into an image (no window needed)."""
    from trm_lab.widgets.grid_view import GridView

    view = GridView(kind)
    view.set_grid(grid, **overlays)
    rows, cols = np.asarray(grid).shape
    view.resize(cols * cell + 2, rows * cell + 2)
    image = QImage(view.size(), QImage.Format.Format_RGB32)
    image.fill(QColor(theme.current().base))
    view.render(image)
    view.deleteLater()
    return image


def image_to_rgb(image: QImage) -> np.ndarray:
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def rgb_to_image(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buf, "PNG"):
        raise OSError("could not encode PNG")
    buf.close()
    return bytes(data.data())


def write_png(path: str | os.PathLike, image: QImage) -> None:
    atomic_write_bytes(path, png_bytes(image))


def strip(images: Sequence[QImage], gap: int = 6) -> QImage:
    """Frames side by side (for a PNG strip of the refinement)."""
    if not images:
        raise ValueError("no frames to export")
    w = sum(i.width() for i in images) + gap * (len(images) - 1)
    h = max(i.height() for i in images)
    out = QImage(w, h, QImage.Format.Format_RGB32)
    out.fill(QColor(theme.current().window))
    p = QPainter(out)
    x = 0
    for i in images:
        p.drawImage(x, 0, i)
        x += i.width() + gap
    p.end()
    return out


def caption(image: QImage, text: str, height: int = 22) -> QImage:
    """Add a caption band under a frame (step number, halting probability)."""
    t = theme.current()
    out = QImage(image.width(), image.height() + height, QImage.Format.Format_RGB32)
    out.fill(QColor(t.base))
    p = QPainter(out)
    p.drawImage(0, 0, image)
    p.setPen(QColor(t.text))
    font = p.font()
    font.setPixelSize(max(9, height - 9))
    p.setFont(font)
    p.drawText(0, image.height(), image.width(), height, Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return out


# ---------------------------------------------------------------------------------------------------------------
# GIF
# ---------------------------------------------------------------------------------------------------------------
def quantize(frames: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """RGB frames -> index frames over one shared palette (exact if <= 256 colours, else a 6x7x6 colour cube)."""
    stacked = np.concatenate([f.reshape(-1, 3) for f in frames])
    keys = (stacked[:, 0].astype(np.int32) << 16) | (stacked[:, 1].astype(np.int32) << 8) | stacked[:, 2]
    uniq = np.unique(keys)
    if len(uniq) <= 256:
        palette = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1).astype(np.uint8)
        out = []
        for f in frames:
            k = (f[..., 0].astype(np.int32) << 16) | (f[..., 1].astype(np.int32) << 8) | f[..., 2]
            out.append(np.searchsorted(uniq, k).astype(np.uint8))
        return out, palette
    levels = np.array([6, 7, 6])
    r, g, b = np.meshgrid(*(np.linspace(0, 255, n).round() for n in levels), indexing="ij")
    palette = np.stack([r.ravel(), g.ravel(), b.ravel()], 1).astype(np.uint8)
    out = []
    for f in frames:
        q = np.rint(f.astype(np.float32) / 255 * (levels - 1)).astype(np.int32)
        out.append((q[..., 0] * 42 + q[..., 1] * 6 + q[..., 2]).astype(np.uint8))
    return out, palette


def encode_gif(frames: Sequence[np.ndarray], delays_ms: Sequence[int] | int = 500, loop: int = 0) -> bytes:
    """Animated GIF from RGB frames (H x W x 3 uint8, all the same size), over one shared palette (`quantize`),
    encoded by Pillow."""
    if not frames:
        raise ValueError("no frames to export")
    h, w = frames[0].shape[:2]
    if any(f.shape[:2] != (h, w) for f in frames):
        raise ValueError("all GIF frames must have the same size")
    index_frames, palette = quantize(frames)
    if isinstance(delays_ms, int):
        delays_ms = [delays_ms] * len(frames)
    images = []
    for idx in index_frames:
        image = Image.fromarray(idx)  # mode "L"; the palette makes it a "P" image
        image.putpalette(palette.reshape(-1).tolist())
        images.append(image)
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=loop, optimize=False,
                   duration=[int(d) for d in delays_ms])
    return buf.getvalue()


def write_gif(path: str | os.PathLike, images: Sequence[QImage], delay_ms: int = 500) -> None:
    frames = [image_to_rgb(i) for i in images]
    atomic_write_bytes(path, encode_gif(frames, delay_ms))


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------------
def export_checkpoint(model_path: str | os.PathLike, dest: str | os.PathLike, card: dict | None = None) -> list[Path]:
    """Copy a checkpoint and its model card (a `.json`/`.md` beside it, else `card` written as JSON) to `dest`."""
    from trainers.checkpointing import export_model

    src, dest = Path(model_path), Path(dest)
    if dest.suffix != src.suffix:
        dest = dest.with_suffix(src.suffix)
    export_model(src, dest)
    written = [dest]
    copied_card = False
    for suffix in (".json", ".md", ".card.json"):
        side = src.with_name(src.stem + suffix)
        if side.is_file():
            target = dest.with_name(dest.stem + suffix)
            atomic_copy(side, target)
            written.append(target)
            copied_card = True
    if not copied_card and card:
        target = dest.with_name(dest.stem + ".json")
        atomic_write_text(target, json.dumps(card, indent=2, default=str))
        written.append(target)
    return written
