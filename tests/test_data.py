import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from gan_core.data.datasets import builtin
from gan_core.data.uploads import load_file
from gan_core.errors import DataError


def test_builtin_parameters_follow_the_spec():
    g = builtin("gaussian1d")
    x = g.sample(20000, seed=1)
    assert x.shape == (20000, 1) and abs(x.mean() - 4.0) < 0.02 and abs(x.std() - 0.5) < 0.02
    r = builtin("ring8")
    assert r.centers.shape == (8, 2) and np.allclose(np.linalg.norm(r.centers, axis=1), 2.0) and r.std == 0.02
    grid = builtin("grid25")
    assert grid.centers.shape == (25, 2) and set(np.unique(grid.centers)) == {-4, -2, 0, 2, 4} and grid.std == 0.05
    d = builtin("digits")
    assert d.data.shape == (1797, 1, 8, 8) and d.data.min() == 0.0 and d.data.max() == 1.0


def test_known_density_integrates_to_one():
    r = builtin("grid25")
    (x0, x1), (y0, y1) = r.bounds()
    xs, ys = np.linspace(x0, x1, 1200), np.linspace(y0, y1, 1200)
    pts = np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
    mass = r.density(pts).sum() * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert abs(mass - 1.0) < 1e-3


def test_csv_with_and_without_header(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n3,4.5\n")
    (tmp_path / "b.csv").write_text("1,2\n3,4.5\n")
    a, b = load_file(tmp_path / "a.csv", "a.csv"), load_file(tmp_path / "b.csv", "b.csv")
    assert a.kind == "points" and a.data.tolist() == [[1, 2], [3, 4.5]]
    assert np.array_equal(a.data, b.data)


@pytest.mark.parametrize("text, words", [
    ("x,y\n1,2\n3,abc\n", "row 3, column 'y' is not a number ('abc')"),
    ("x,y\n1,2\n3,\n", "row 3, column 'y' is empty or NaN"),
    ("x,y\n1,nan\n", "row 2, column 'y' is empty or NaN"),
    ("", "the file is empty"),
    ("x,y\n", "no rows"),
])
def test_bad_csv_gets_one_clear_line(tmp_path, text, words):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError) as e:
        load_file(p, "bad.csv")
    assert words in str(e.value) and "\n" not in str(e.value)


def _png(size, mode="L", value=128):
    buf = io.BytesIO()
    Image.new(mode, size, value).save(buf, format="PNG")
    return buf.getvalue()


def test_zip_of_mixed_sizes_is_resized(tmp_path):
    p = tmp_path / "imgs.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a.png", _png((10, 12)))
        z.writestr("b.png", _png((40, 40), value=255))
        z.writestr("notes.txt", "hello")
    ds = load_file(p, "imgs.zip", image_size=16)
    assert ds.kind == "image" and ds.data.shape == (2, 1, 16, 16)
    assert abs(ds.data[0].mean() - 128 / 255) < 0.01 and abs(ds.data[1].mean() - 1.0) < 1e-6


def test_rgb_folder(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(_png((8, 8), "RGB", (255, 0, 0)))
    ds = load_file(tmp_path, str(tmp_path), image_size=8)
    assert ds.data.shape == (3, 3, 8, 8) and ds.data[:, 0].min() == 1.0 and ds.data[:, 1].max() == 0.0


@pytest.mark.parametrize("make, words", [
    (lambda p: zipfile.ZipFile(p, "w").writestr("x.png", b"not an image"), "no readable image"),
    (lambda p: zipfile.ZipFile(p, "w").writestr("x.txt", b"hi"), "no readable image"),
    (lambda p: p.write_bytes(b"PK garbage"), "not a valid .zip"),
    (lambda p: p.write_bytes(b""), "empty"),
])
def test_bad_zip_is_refused(tmp_path, make, words):
    p = tmp_path / "x.zip"
    make(p)
    with pytest.raises(DataError, match=words):
        load_file(p, "x.zip")


def test_npy_points_images_and_bad(tmp_path):
    np.save(tmp_path / "p.npy", np.arange(10.0).reshape(5, 2))
    assert load_file(tmp_path / "p.npy", "p.npy").data.shape == (5, 2)
    np.save(tmp_path / "i.npy", np.full((4, 16, 16, 3), 255, np.uint8))
    ds = load_file(tmp_path / "i.npy", "i.npy", image_size=8)
    assert ds.data.shape == (4, 3, 8, 8) and np.allclose(ds.data, 1.0)
    np.save(tmp_path / "n.npy", np.array([[1.0, np.nan]]))
    with pytest.raises(DataError, match="NaN"):
        load_file(tmp_path / "n.npy", "n.npy")
    (tmp_path / "t.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable .npy"):
        load_file(tmp_path / "t.npy", "t.npy")


def test_unsupported_extension():
    with pytest.raises(DataError, match="unsupported file type"):
        load_file(io.BytesIO(b"x"), "model.txt")
