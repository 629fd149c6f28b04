"""create_pseudo_with_thresh.py: threshold selection, folder layout, silence noise files, precision."""

import numpy as np
import pytest

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.submit import create_pseudo_with_thresh as pseudo
from kws.submit import probs

CLASSES = ["_silence_", "_unknown_", "yes", "cat"]
# fname: (top class, top probability)
ROWS = {"c0.wav": ("yes", 0.95), "c1.wav": ("yes", 0.60), "c2.wav": ("cat", 0.80),
        "c3.wav": ("_silence_", 0.99), "c4.wav": ("_silence_", 0.75), "c5.wav": ("_silence_", 0.70),
        "c6.wav": ("_unknown_", 0.71), "c7.wav": ("_silence_", 0.30)}


@pytest.fixture
def test_set(tmp_path):
    """A flat test folder of 0.5 s clips with distinct levels, their probabilities and a solution."""
    clip_dir = tmp_path / "test" / "audio"
    clip_dir.mkdir(parents=True)
    values = np.zeros((len(ROWS), len(CLASSES)), np.float32)
    for i, (fname, (top, p)) in enumerate(ROWS.items()):
        audio.write_wav(clip_dir / fname, np.full(8000, 0.01 * (i + 1), np.float32))
        values[i] = (1 - p) / (len(CLASSES) - 1)
        values[i, CLASSES.index(top)] = p
    probs_path = tmp_path / "N_probs.csv"
    probs.write_probs_csv(probs_path, probs.ProbTable(list(ROWS), CLASSES, values))
    solution = tmp_path / "solution.csv"
    # c6 (pseudo unknown) is really "yes"; c2 (cat -> unknown) is right
    solution.write_text("fname,label,word\nc0.wav,yes,yes\nc1.wav,yes,yes\nc2.wav,unknown,cat\n"
                        "c3.wav,silence,\nc4.wav,silence,\nc5.wav,silence,\nc6.wav,yes,yes\nc7.wav,silence,\n")
    return tmp_path, clip_dir, probs_path, solution


def test_selection_layout_noise_files_and_precision(test_set, capsys):
    root, clip_dir, probs_path, solution = test_set
    out = root / "pseudo"
    result = pseudo.main(["--probs", str(probs_path), "--threshold", "0.7", "--test_dir", str(root / "test"),
                          "--out", str(out), "--solution", str(solution), "--silence_clips_per_file", "2"])
    assert result["kept"] == 6 and result["total"] == 8  # c1 (0.60) and c7 (0.30) are below 0.7
    assert result["counts"] == {"yes": 1, "cat": 1, "_silence_": 3, "_unknown_": 1}
    assert (out / "pseudo_labels.csv").read_text().splitlines() == [
        "path,label", "audio/yes/c0.wav,yes", "audio/cat/c2.wav,cat", "silence/c3.wav,_silence_",
        "silence/c4.wav,_silence_", "silence/c5.wav,_silence_", "audio/_unknown_/c6.wav,_unknown_"]
    assert (out / "audio" / "yes" / "c0.wav").read_bytes() == (clip_dir / "c0.wav").read_bytes()
    noise = sorted(p.name for p in (out / "audio" / "_background_noise_").iterdir())
    assert noise == ["pseudo_silence_000.wav", "pseudo_silence_001.wav"]
    joined = audio.read_wav(out / "audio" / "_background_noise_" / "pseudo_silence_000.wav")
    expected = np.concatenate([np.full(8000, 0.04), np.full(8000, 0.05)])  # c3 then c4
    np.testing.assert_allclose(joined, expected, atol=1 / 32768)
    assert len(audio.read_wav(out / "audio" / "_background_noise_" / "pseudo_silence_001.wav")) == 8000
    assert result["precision"] == pytest.approx(5 / 6)
    assert result["per_label_precision"] == {"silence": (1.0, 3), "unknown": (0.5, 2), "yes": (1.0, 1)}
    text = capsys.readouterr().out
    assert "kept 6 of 8 clips" in text and "precision of the pseudo labels (Kaggle labels): 0.8333" in text

    # what the AudioProcessor reads: the CSV's files exist, the noise files are found in OUT
    rows = corpus.read_pseudo_labels(str(out / "pseudo_labels.csv"))
    assert [(key, label) for key, _, label in rows][:2] == [("audio/yes/c0.wav", "yes"), ("audio/cat/c2.wav", "cat")]
    assert len(corpus.index_folder(str(out)).noise_paths) == 2


def test_kaggle_order_probabilities_and_overwrite(test_set):
    root, clip_dir, probs_path, _ = test_set
    kaggle_prefix = str(root / "N_kaggle")
    probs.write_probs_memmap(kaggle_prefix, probs.to_kaggle(probs.read_probs(probs_path)))
    out = root / "pseudo"
    args = ["--probs", kaggle_prefix, "--threshold", "0.7", "--test_dir", str(clip_dir), "--out", str(out)]
    pseudo.main(args)
    lines = (out / "pseudo_labels.csv").read_text().splitlines()
    assert "audio/_unknown_/c2.wav,_unknown_" in lines and "silence/c3.wav,_silence_" in lines
    with pytest.raises(cli.UserError, match="--overwrite"):
        pseudo.main(args)
    result = pseudo.main(args[:3] + ["0.9"] + args[4:] + ["--overwrite"])
    assert result["kept"] == 2  # c0 (0.95), c3 (0.99)
    assert not (out / "audio" / "_unknown_").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_missing_clips_are_named(test_set):
    root, clip_dir, probs_path, _ = test_set
    (clip_dir / "c2.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of the 6 kept clips are missing, e.g. \['c2.wav'\]"):
        pseudo.main(["--probs", str(probs_path), "--threshold", "0.7", "--test_dir", str(clip_dir),
                     "--out", str(root / "pseudo")])
