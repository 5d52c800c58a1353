"""The package's shape (the brief's architecture): gan_core never imports streamlit, its modules import
each other without circles (imports inside functions count too: a lazy import hides a circle, it does not
end it), process launching (gan_core.jobs) sits above everything else in gan_core, and no package is a
flat heap of modules."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "gan_core"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else None
            if base is None:
                raise AssertionError(f"{path}: relative import; gan_core uses absolute ones")
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return out


MODULES = {_module(p): p for p in PKG.rglob("*.py")}


def test_gan_core_never_imports_streamlit():
    bad = [m for m, p in MODULES.items() if any(i.split(".")[0] == "streamlit" for i in _imports(p, False))]
    assert bad == []


def test_no_import_circles():
    graph = {m: {i for i in _imports(p, False) if i in MODULES and i != m} for m, p in MODULES.items()}
    state: dict = {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", "import circle: " + " -> ".join(path + [m])
        state[m] = "open"
        for n in sorted(graph[m]):
            visit(n, path + [m])
        state[m] = "done"

    for m in sorted(graph):
        visit(m, [])


def test_nothing_below_jobs_imports_it():
    """gan_core.jobs starts processes that run the command line: it may import all of gan_core, and the
    command line, engine, runs, share, data, theory and views never import it (not even inside a function)."""
    assert "gan_core.jobs.worker" in MODULES and "gan_core.jobs.launch" in MODULES
    bad = {m: sorted(i for i in _imports(p, False) if i == "gan_core.jobs" or i.startswith("gan_core.jobs."))
           for m, p in MODULES.items() if not (m == "gan_core.jobs" or m.startswith("gan_core.jobs."))}
    assert {m: i for m, i in bad.items() if i} == {}


def test_files_helper_imports_nothing_of_gan_core_but_errors():
    """gan_core.files (atomic writes, read_json, process_alive) serves every layer: it stands below them all."""
    ours = {i.split(".")[1] for i in _imports(MODULES["gan_core.files"], False) if i.startswith("gan_core.")}
    assert ours <= {"errors"}


def test_packages_stay_small():
    for d in [PKG, *[p for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()]]:
        mods = [p for p in d.glob("*.py") if p.name != "__init__.py"]
        assert len(mods) <= 15, (d, len(mods))
