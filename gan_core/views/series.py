"""The series the charts draw: a run's metrics.csv read incrementally (``MetricsTail``: a refresh parses only
the new bytes) and thinned for plotting (``downsample``: each bucket keeps its min and max, so spikes
survive). No plotly, no streamlit, no torch.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import pandas as pd

from gan_core.files import NotRegularFile, open_regular

# --- reading metrics.csv ---------------------------------------------------------------------------

class MetricsTail:
    """Incremental reader of a run's metrics.csv.

    ``read()`` parses only complete lines added since the previous call (a line still being written is
    left for next time) and returns every row so far as a float DataFrame (empty cells → NaN). A file
    that shrank or was replaced (a resumed run rewrites it without the rows after its checkpoint) is
    read again from the start. The returned frame shares memory with the reader: treat it as read-only.
    What the trainer never writes is left out and said in ``problem`` (one line, for the page): rows with bytes
    that are not text, or a metrics.csv that is not a regular file (a folder, a FIFO: never blocks).
    """

    def __init__(self, path):
        self.path = Path(path)
        self._reset()

    def _reset(self) -> None:
        self.offset = 0               # bytes consumed (header + complete rows)
        self.lines = 0                # lines consumed, to name a bad one
        self.problem: Optional[str] = None
        self.inode: Optional[int] = None
        self.columns: Optional[list[str]] = None
        self._buf = np.empty((0, 0))  # rows × columns, grown by doubling so appends are amortised O(new)
        self._n = 0

    def read(self) -> pd.DataFrame:
        try:
            f = open_regular(self.path)
        except FileNotFoundError:
            self._reset()
            return self.frame()
        except OSError as e:
            self._reset()
            self.problem = str(e) if isinstance(e, NotRegularFile) else f"{self.path.name}: {e.strerror or e}"
            return self.frame()
        with f:
            st = os.fstat(f.fileno())  # of the file we opened, so a replace between stat and open can't fool us
            if self.inode is not None and (st.st_ino != self.inode or st.st_size < self.offset):
                self._reset()
            self.inode = st.st_ino
            if st.st_size > self.offset:
                f.seek(self.offset)
                data = f.read(st.st_size - self.offset)
                end = data.rfind(b"\n")
                if end >= 0:  # the tail after the last newline is an unfinished row
                    self._parse(self._text_lines(data[: end + 1]))
                    self.offset += end + 1
                    self.lines += data.count(b"\n", 0, end + 1)
        return self.frame()

    def _text_lines(self, chunk: bytes) -> bytes:
        """chunk without its lines that are not UTF-8 text (named in self.problem): the trainer writes numbers."""
        try:
            chunk.decode("utf-8")
            return chunk
        except UnicodeDecodeError:
            pass
        kept, first_bad = [], None
        for i, line in enumerate(line + b"\n" for line in chunk.split(b"\n")[:-1]):  # chunk ends with one
            try:
                if self.lines + i > 0:  # the header is kept (its bad bytes replaced): it names the columns
                    line.decode("utf-8")
                kept.append(line)
            except UnicodeDecodeError:
                first_bad = self.lines + i + 1 if first_bad is None else first_bad
        if first_bad is None:
            first_bad = 1
        self.problem = f"{self.path.name}: line {first_bad} holds bytes that are not text; such lines are left out"
        return b"".join(kept)

    def _parse(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self.columns is None:
            nl = chunk.index(b"\n")
            self.columns = [c.strip() for c in chunk[:nl].decode("utf-8", "replace").split(",")]
            self._buf = np.full((1024, len(self.columns)), np.nan)
            chunk = chunk[nl + 1:]
        if not chunk.strip():
            return
        opts = dict(header=None, names=self.columns, index_col=False, on_bad_lines="skip", skip_blank_lines=True)
        try:  # the fast path: every cell a number or empty (→ NaN)
            values = pd.read_csv(io.BytesIO(chunk), dtype=np.float64, **opts).to_numpy()
        except ValueError:  # a stray non-numeric cell: coerce it to NaN rather than lose the chunk
            df = pd.read_csv(io.BytesIO(chunk), dtype=str, keep_default_na=False, **opts)
            values = np.column_stack([pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                                      for c in self.columns]) if len(df) else np.empty((0, len(self.columns)))
        need = self._n + len(values)
        if need > len(self._buf):
            grown = np.full((max(need, 2 * len(self._buf)), len(self.columns)), np.nan)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n: need] = values
        self._n = need

    def frame(self) -> pd.DataFrame:
        if self.columns is None:
            return pd.DataFrame()
        view = self._buf[: self._n]
        view.flags.writeable = False  # no copy, and a caller's write raises instead of corrupting the reader
        return pd.DataFrame(view, columns=self.columns, copy=False)


# --- downsampling ------------------------------------------------------------------------------------

def downsample(df: pd.DataFrame, x: str = "iteration", max_points: int = 2000,
               columns: Optional[Iterable[str]] = None) -> pd.DataFrame:
    """At most ``max_points`` rows, keeping the first and last row and, for every series, the rows of
    its minimum and maximum within each of equal-count buckets (so each series' global min and max
    survive). Vectorised: a million rows take a few milliseconds per series."""
    cols = [c for c in (df.columns if columns is None else columns) if c != x and c in df.columns]
    n = len(df)
    if n <= max_points:
        return df if columns is None else df[[x, *cols]] if x in df.columns else df[cols]
    k = max(1, len(cols))
    n_buckets = max(1, (max_points - 2) // (2 * k))  # two kept rows per bucket and series
    size = math.ceil(n / n_buckets)
    n_buckets = math.ceil(n / size)
    pad = n_buckets * size - n
    starts = np.arange(n_buckets) * size
    keep = np.zeros(n, bool)
    keep[0] = keep[-1] = True
    work = np.empty(n_buckets * size)
    for c in cols:
        v = df[c].to_numpy(dtype=float, na_value=np.nan)
        nan = np.isnan(v)
        if nan.all():
            continue
        has = ~np.concatenate([nan, np.ones(pad, bool)]).reshape(n_buckets, size).all(1)
        for fill, pick in ((np.inf, np.argmin), (-np.inf, np.argmax)):  # NaN and padding never win
            work[:n] = v
            work[:n][nan] = fill
            work[n:] = fill
            keep[(starts + pick(work.reshape(n_buckets, size), axis=1))[has]] = True
    out = df.iloc[np.flatnonzero(keep)]
    return out if columns is None else out[[x, *cols]] if x in df.columns else out[cols]
