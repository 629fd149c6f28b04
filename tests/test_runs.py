"""runs.code_fingerprint: which edits of the training code make finished runs stale."""
from kws import runs

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
