"""The layout: thin scripts at the top, the library in the kws package, no script imported by another
module, no sys.path edits, package __init__ files that import nothing (the Pi path stays numpy-only)."""

import ast
import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "*.py")))
SCRIPT_NAMES = {os.path.splitext(os.path.basename(path))[0] for path in SCRIPTS}
CODE = sorted(glob.glob(os.path.join(ROOT, "kws", "**", "*.py"), recursive=True) +
              glob.glob(os.path.join(ROOT, "benchmarks", "*.py")) + glob.glob(os.path.join(ROOT, "tests", "*.py")))


def _tree(path):
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


@pytest.mark.parametrize("path", SCRIPTS, ids=os.path.basename)
def test_a_script_is_its_docstring_and_the_entry_point_of_a_kws_module(path):
    body = _tree(path).body
    assert [type(node).__name__ for node in body] == ["Expr", "ImportFrom", "ImportFrom", "If"], path
    assert ast.get_docstring(_tree(path)), path
    assert (body[1].module, [a.name for a in body[1].names]) == ("kws", ["cli"])
    assert body[2].module.startswith("kws.") and [a.name for a in body[2].names] == ["main"]
    assert os.path.exists(os.path.join(ROOT, *body[2].module.split(".")) + ".py")


def _imported(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split(".")[0]


def _sys_path_edits(tree):
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "path"
            and isinstance(node.func.value.value, ast.Name) and node.func.value.value.id == "sys"]


@pytest.mark.parametrize("path", CODE + SCRIPTS, ids=lambda p: os.path.relpath(p, ROOT))
def test_no_script_is_imported_and_nothing_edits_sys_path(path):
    tree = _tree(path)
    assert not SCRIPT_NAMES & set(_imported(tree)), f"{path} imports a script"
    assert not _sys_path_edits(tree), f"{path} edits sys.path at lines {_sys_path_edits(tree)}"


def test_the_package_inits_import_nothing():
    inits = glob.glob(os.path.join(ROOT, "kws", "**", "__init__.py"), recursive=True)
    assert len(inits) == 7
    for path in inits:
        assert [type(node).__name__ for node in _tree(path).body] == ["Expr"], path


def test_the_checks_see_an_import_of_a_script_and_a_sys_path_edit():
    tree = ast.parse("import sys\nimport train\nsys.path.insert(0, 'x')\n")
    assert "train" in SCRIPT_NAMES & set(_imported(tree)) and _sys_path_edits(tree) == [3]
