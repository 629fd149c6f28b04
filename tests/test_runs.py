"""runs.code_fingerprint: which edits of the training code make finished runs stale."""
import pathlib
import shutil

from kws import runs

ROOT = pathlib.Path(__file__).resolve().parents[1]  # the project
TRAIN = "kws/training/train.py"  # what train.py runs, and fingerprints

CODE = '''"""Module docstring."""
import numpy as np


def scale(x):
    """Doubles x."""
    return 2 * x  # why: the gain
'''


def fingerprint_of(tmp_path, monkeypatch, source):
    (tmp_path / "train.py").write_text(source, encoding="utf-8")
    monkeypatch.setattr(runs, "PROJECT_DIR", str(tmp_path))
    return runs.code_fingerprint(("train.py",))


def test_comments_and_docstrings_do_not_change_the_fingerprint(tmp_path, monkeypatch):
    before = fingerprint_of(tmp_path, monkeypatch, CODE)
    reworded = (CODE.replace("Module docstring.", "Another module text.").replace("Doubles x.", "Twice x,\n    reworded.")
                .replace("# why: the gain", "# a longer comment") + "# trailing comment\n")
    assert fingerprint_of(tmp_path, monkeypatch, reworded) == before


def test_a_change_of_code_or_of_a_string_value_changes_the_fingerprint(tmp_path, monkeypatch):
    before = fingerprint_of(tmp_path, monkeypatch, CODE)
    assert fingerprint_of(tmp_path, monkeypatch, CODE.replace("2 * x", "3 * x")) != before
    assert fingerprint_of(tmp_path, monkeypatch, CODE.replace('    return 2', '    s = "Doubles"\n    return 2')) != before
    # A docstring-only function keeps a body: removing its docstring must not collapse two functions into one.
    assert fingerprint_of(tmp_path, monkeypatch, CODE + '\n\ndef f():\n    """Only a docstring."""\n') != before


def module_path(found, name):
    """The path in `found` of module file `name` (at the top or, later, inside a package)."""
    return next(path for path in found if path == name or path.endswith("/" + name))


def test_the_training_code_is_what_train_py_imports():
    found = runs.imported_code(str(ROOT / TRAIN))
    assert found == sorted(found) and TRAIN in found
    # tta.py and probs.py are imported by teachers.py (the teacher ensemble), not by train.py
    for name in ("tta.py", "probs.py", "teachers.py", "model.py", "audio.py"):
        assert module_path(found, name)
    assert not {"kws/demo.py", "kws/export/freeze_graph.py"} & set(found)
    assert not [path for path in found if path.startswith(("tests/", "benchmarks/"))]


def test_an_edit_of_any_imported_module_changes_the_fingerprint(tmp_path):
    found = runs.imported_code(str(ROOT / TRAIN))
    for relative in [*found, "kws/demo.py"]:  # the training code and a script train.py does not import
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    script = str(tmp_path / TRAIN)
    before = runs.script_fingerprint(script)
    assert runs.imported_code(script) == found
    with open(tmp_path / "kws" / "demo.py", "a", encoding="utf-8") as f:
        f.write("\nUNUSED = 1\n")
    assert runs.script_fingerprint(script) == before
    with open(tmp_path / module_path(found, "probs.py"), "a", encoding="utf-8") as f:  # imported through teachers.py
        f.write("\nUNUSED = 1\n")
    assert runs.script_fingerprint(script) != before


def test_modules_of_a_package_count_through_absolute_and_relative_imports(tmp_path):
    """The same walk once the library lives in a package (kws/...)."""
    for folder in ("kws", "kws/data", "tests"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "train.py").write_text("import numpy\nfrom kws.data import audio\n\n\ndef f():\n    import kws.runs\n")
    (tmp_path / "kws" / "data" / "audio.py").write_text("from .. import probs\nfrom ..labels import KAGGLE\n")
    (tmp_path / "kws" / "probs.py").write_text("import tests.helpers\n")
    (tmp_path / "kws" / "labels.py").write_text("KAGGLE = ()\n")
    (tmp_path / "kws" / "runs.py").write_text("")
    (tmp_path / "kws" / "unused.py").write_text("")
    (tmp_path / "tests" / "helpers.py").write_text("")
    assert runs.imported_code(str(tmp_path / "train.py")) == [
        "kws/__init__.py", "kws/data/__init__.py", "kws/data/audio.py", "kws/labels.py", "kws/probs.py",
        "kws/runs.py", "train.py"]
