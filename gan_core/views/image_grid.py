"""Image samples as a person can read them: a grid (or a row) of tiles, each drawn at least MIN_SCALE times
its own size by whole-pixel (nearest-neighbour) upscaling, so 8×8 and 28×28 pictures show crisp pixels.

As a PIL image (st.image, a PNG) or as a plotly image trace of the upscaled array (zsmooth off: plotly.js
then draws it with CSS `image-rendering: pixelated` too). numpy, Pillow and plotly only: the Generate page
uses it (no torch, no streamlit).
"""
from __future__ import annotations

import base64
import io
import math
from typing import Optional

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from gan_core.errors import GanError

MIN_SCALE = 3          # every image is drawn at least 3× its own size
TILE_PX = 64           # small images are scaled up to about this many pixels a side (8×8 → 8×, 28×28 → 3×)
GAP_PX = 2             # screen pixels between tiles
ROW_GAP_PX = 4         # … between the steps of a row, wide enough for the frame of the current step
WIDTH_PX = 760         # a grid gets no more columns than fit this width (a dashboard column beside the sidebar)
ROW_WIDTH_PX = 820     # a row may take the page's whole column: 9 steps of 28×28 at 3× fit at 1280 px
BACKGROUND = 204       # the grey between tiles
MARK = (91, 75, 219)   # the dashboard's primary colour: the frame of the marked tile


def as_batch(images) -> np.ndarray:
    """[n, C, H, W] float32 in [0, 1] (C = 1 or 3; [n, H, W] taken as grey), NaN drawn black."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[0] < 1 or x.shape[1] not in (1, 3):
        raise GanError(f"images must have shape [n, C, H, W] with C = 1 or 3, got {list(x.shape)}")
    return np.nan_to_num(np.clip(x, 0.0, 1.0))


def scale_for(height: int, width: int) -> int:
    """The whole upscaling factor of an image: MIN_SCALE at least, more for tiny ones (up to ~TILE_PX)."""
    return max(MIN_SCALE, math.ceil(TILE_PX / max(1, min(int(height), int(width)))))


def columns_for(n: int, tile_px: int, width_px: int = WIDTH_PX) -> int:
    """A square-ish grid's columns, no more than fit width_px (one at least)."""
    return max(1, min(int(n), math.ceil(math.sqrt(n)), (int(width_px) - GAP_PX) // (tile_px + GAP_PX)))


def grid_pixels(images, ncol: Optional[int] = None, scale: Optional[int] = None, width_px: int = WIDTH_PX,
                mark: Optional[int] = None, gap: int = GAP_PX) -> np.ndarray:
    """The grid as uint8 pixels ([rows, cols] grey or [rows, cols, 3]): each image repeated `scale` times in
    both directions (nearest-neighbour), `gap` pixels between tiles; tile `mark` (if any) framed in MARK's
    colour in the gap around it (grey images then come as RGB)."""
    x = as_batch(images)
    if mark is not None and x.shape[1] == 1:
        x = x.repeat(3, axis=1)
    n, c, h, w = x.shape
    s = int(scale or scale_for(h, w))
    if s < 1:
        raise GanError(f"the scale must be a whole number >= 1, got {scale}")
    ncol = max(1, min(n, int(ncol) if ncol else columns_for(n, w * s, width_px)))
    nrow = math.ceil(n / ncol)
    th, tw, g = h * s, w * s, int(gap)
    canvas = np.full((c, nrow * (th + g) + g, ncol * (tw + g) + g), BACKGROUND, np.uint8)
    tiles = (x * 255.0 + 0.5).astype(np.uint8).repeat(s, axis=2).repeat(s, axis=3)
    for i in range(n):
        r, q = divmod(i, ncol)
        top, left = g + r * (th + g), g + q * (tw + g)
        if i == mark:
            canvas[:, top - g:top + th + g, left - g:left + tw + g] = np.array(MARK, np.uint8)[:, None, None]
        canvas[:, top:top + th, left:left + tw] = tiles[i]
    return canvas[0] if c == 1 else canvas.transpose(1, 2, 0)


def grid_image(images, ncol: Optional[int] = None, scale: Optional[int] = None, width_px: int = WIDTH_PX,
               mark: Optional[int] = None, gap: int = GAP_PX) -> Image.Image:
    """grid_pixels as a PIL image (for st.image and a PNG download)."""
    px = grid_pixels(images, ncol, scale, width_px, mark, gap)
    return Image.fromarray(px, "L" if px.ndim == 2 else "RGB")


def row_image(images, mark: Optional[int] = None, width_px: int = ROW_WIDTH_PX) -> Image.Image:
    """The images side by side in one row (a walk, step by step), wrapping only where it passes width_px;
    image `mark` framed."""
    x = as_batch(images)
    tile = x.shape[3] * scale_for(*x.shape[2:])
    ncol = max(1, min(len(x), (int(width_px) - ROW_GAP_PX) // (tile + ROW_GAP_PX)))
    return grid_image(x, ncol, mark=mark, gap=ROW_GAP_PX)


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def image_figure(images, title: str = "", ncol: Optional[int] = None, max_images: int = 64,
                 width_px: int = WIDTH_PX) -> go.Figure:
    """The first max_images images as a grid in a plotly figure: one image trace of the upscaled pixels
    (an embedded PNG, cheap to send), drawn without smoothing, the figure as tall as the grid so that a
    page as wide as the grid shows every image pixel as scale × scale screen pixels."""
    x = as_batch(images)[: int(max_images)]
    grid = grid_image(x, ncol, width_px=width_px)
    source = "data:image/png;base64," + base64.b64encode(png_bytes(grid)).decode("ascii")
    fig = go.Figure(go.Image(source=source, zsmooth=False, hoverinfo="skip"))
    top = 40 if title else 8
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=15)), margin=dict(l=0, r=0, t=top, b=0),
                      height=grid.height + top, template="plotly_white", dragmode=False)
    fig.update_xaxes(visible=False, range=[-0.5, grid.width - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[grid.height - 0.5, -0.5], scaleanchor="x", constrain="domain")
    return fig
