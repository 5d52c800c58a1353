"""The project's own rules, read from the source (the linter, ruff, checks the general ones: pyproject.toml).

Nothing a user can hand the product is unpickled or run: every np.load says allow_pickle=False and every
torch.load says weights_only=True; no eval/exec in product code."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = [p for d in ("gan_core", "pages", "ui") for p in (ROOT / d).rglob("*.py")] + [ROOT / "app.py"]


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
            yield owner, name, node


def _kw(node: ast.Call, name: str):
    for k in node.keywords:
        if k.arg == name:
            return k.value.value if isinstance(k.value, ast.Constant) else "non-constant"
    return None


def test_rule_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nnp.load('x.npy')\nnet.eval()\neval('1')\n")
    calls = list(_calls(bad))
    assert [(o, n) for o, n, c in calls if n == "load" and _kw(c, "allow_pickle") is not False] == [("np", "load")]
    assert [c.lineno for o, n, c in calls if n == "eval" and isinstance(c.func, ast.Name)] == [4]


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_loads_are_data_only_and_nothing_is_evaluated(path):
    for owner, name, call in _calls(path):
        where = f"{path.relative_to(ROOT)}:{call.lineno}"
        if owner == "np" and name == "load":
            assert _kw(call, "allow_pickle") is False, f"{where}: np.load without allow_pickle=False"
        if owner == "torch" and name == "load":
            assert _kw(call, "weights_only") is True, f"{where}: torch.load without weights_only=True"
        is_builtin = isinstance(call.func, ast.Name)
        assert not (is_builtin and name in ("eval", "exec")), f"{where}: {name}() in product code"
