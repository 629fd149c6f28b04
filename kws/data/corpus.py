"""The dataset layout: which folders hold which clips, how they split, and what they are labelled.

Every script that reads a data folder, a test folder or a pseudo-label list reads it through this
module, so each rule below is written down once (docs/ARCHITECTURE.md, "Data layout"). It decodes
no audio and imports no TensorFlow: `python input_data.py DIR`, freeze_graph.py's clip choice and
the Raspberry Pi script (`list_test_wavs`) use it as it is. This module is a library: nothing runs
at import.

- Data folders (`index_folder`): `X/` holding `audio/<word>/*.wav` (Kaggle layout, list files in
  `X/`), `X/<word>/*.wav` (the dataset tarball, list files in `X/`) or `X/audio` itself (list files
  in its parent). `_background_noise_/*.wav` holds noise recordings, every other sub-folder is a
  word.
- Splits: where `validation_list.txt`/`testing_list.txt` exist (paths relative to the audio root)
  they decide and everything else is training; elsewhere `which_set`, the TensorFlow tutorial's
  speaker hash, with `SPLIT_PERCENTAGE` each for validation and testing unless told otherwise.
- Test folders (`test_wav_folder`, `list_test_wavs`): a folder of WAVs, or a folder whose `audio/`
  holds them (a Kaggle or synthetic `test/`); read non-recursively.
- Words and labels: `resolve_wanted_words` (default the ten Kaggle command words, "all" = every word
  found); a clip's model label is `labels.model_label(word, wanted_words)`.
- Pseudo-label lists (`read_pseudo_labels`, `write_pseudo_labels`): CSV `path,label`, paths
  absolute or relative to the CSV's folder.
"""

import csv
import dataclasses
import hashlib
import logging
import os
import re

from kws import cli
from kws.data import labels

logger = logging.getLogger(__name__)

AUDIO_DIR = "audio"  # the clips' folder inside a Kaggle-layout data or test folder
SPLITS = ("training", "validation", "testing")
LIST_FILES = {"validation": "validation_list.txt", "testing": "testing_list.txt"}
SPLIT_PERCENTAGE = 10.0  # validation and testing share each by the speaker hash (the tutorial's default)
MAX_NUM_WAVS_PER_CLASS = 2 ** 27 - 1  # the tutorial's constant (~134M); kept so splits match it
PSEUDO_LABELS_FILE = "pseudo_labels.csv"  # the name the scripts that write pseudo-label lists give them


def speaker_of(filename):
    """A Speech Commands speaker id: the base name with `_nohash_...` removed."""
    return re.sub(r"_nohash_.*$", "", os.path.basename(filename))


def which_set(filename, validation_percentage, testing_percentage):
    """'training', 'validation' or 'testing' by the TensorFlow tutorial's stable speaker hash.

    All clips of a speaker share a split, and adding files never moves one: the split depends
    only on the speaker name and the percentages.
    """
    digest = hashlib.sha1(speaker_of(filename).encode("utf-8")).hexdigest()
    percentage_hash = (int(digest, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < validation_percentage + testing_percentage:
        return "testing"
    return "training"


# ---------------------------------------------------------------------------- data folders

@dataclasses.dataclass
class FolderIndex:
    """What one data folder holds: clips (key, path, word, split), noise files, list problems."""

    data_dir: str
    audio_root: str
    split_by: str  # "list files" or "speaker hash"
    clips: list
    noise_paths: list
    missing_list_entries: list


def find_audio_root(data_dir):
    """(audio root, folder of the list files) for the three accepted folder forms."""
    if not os.path.isdir(data_dir):
        raise cli.UserError(f"{data_dir}: data folder not found")
    if os.path.isdir(os.path.join(data_dir, AUDIO_DIR)):
        return os.path.join(data_dir, AUDIO_DIR), data_dir
    parent = os.path.dirname(os.path.abspath(data_dir))
    if (not _has_list_files(data_dir) and os.path.basename(os.path.abspath(data_dir)) == AUDIO_DIR
            and _has_list_files(parent)):
        return data_dir, parent
    return data_dir, data_dir


def _has_list_files(folder):
    return any(os.path.isfile(os.path.join(folder, name)) for name in LIST_FILES.values())


def _read_list_file(path):
    """Normalised entries ('word/file.wav') of a split list; empty if the file does not exist."""
    if not os.path.isfile(path):
        return set()
    with open(path, encoding="utf-8") as f:
        entries = (line.strip().replace("\\", "/") for line in f)
        return {os.path.normpath(e).replace(os.sep, "/") for e in entries if e}


def index_folder(data_dir, validation_percentage=SPLIT_PERCENTAGE, testing_percentage=SPLIT_PERCENTAGE):
    """Lists a data folder's clips with their split (list files, else `which_set`) and noise files."""
    audio_root, list_dir = find_audio_root(data_dir)
    use_lists = _has_list_files(list_dir)
    lists = {split: _read_list_file(os.path.join(list_dir, name)) for split, name in LIST_FILES.items()}
    clips, noise_paths = [], []
    for entry in sorted(os.scandir(audio_root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        names = sorted(n for n in os.listdir(entry.path) if _is_wav(n))
        if entry.name == labels.BACKGROUND_NOISE_DIR:
            noise_paths += [os.path.join(entry.path, n) for n in names]
            continue
        for name in names:
            key = f"{entry.name}/{name}"
            if use_lists:
                split = next((s for s in ("validation", "testing") if key in lists[s]), "training")
            else:
                split = which_set(key, validation_percentage, testing_percentage)
            clips.append((key, os.path.join(entry.path, name), entry.name, split))
    if not clips and not noise_paths:
        raise cli.UserError(f"{data_dir}: no <word>/*.wav folders and no {labels.BACKGROUND_NOISE_DIR}/ "
                            f"(expected X/{AUDIO_DIR}/<word>/, X/<word>/ or X/{AUDIO_DIR})")
    missing = sorted((lists["validation"] | lists["testing"]) - {c[0] for c in clips})
    if missing:
        logger.warning("%s: %d list-file entries have no file, e.g. %s", list_dir, len(missing), missing[:3])
    return FolderIndex(data_dir, audio_root, "list files" if use_lists else "speaker hash",
                       clips, noise_paths, missing)


def index_folders(data_dirs, validation_percentage=SPLIT_PERCENTAGE, testing_percentage=SPLIT_PERCENTAGE):
    """`index_folder` of each data folder, in order."""
    return [index_folder(os.fspath(d), validation_percentage, testing_percentage) for d in data_dirs]


def split_paths(folders, split):
    """Sorted paths of the clips of one split of indexed folders (`index_folders`)."""
    return sorted(path for folder in folders for _, path, _, clip_split in folder.clips if clip_split == split)


def resolve_wanted_words(wanted_words, found_words):
    """The wanted word list: None -> the command words, "all" -> every word found, else as given."""
    if wanted_words is None:
        words = list(labels.COMMAND_WORDS)
    elif isinstance(wanted_words, str) and wanted_words != "all":
        words = [w.strip() for w in wanted_words.split(",") if w.strip()]
    else:
        words = list(found_words) if wanted_words in ("all", ["all"], ("all",)) else list(wanted_words)
    missing = [w for w in words if w not in found_words]
    if missing:
        raise cli.UserError(f"wanted word(s) {missing} have no readable clips; words found: {list(found_words)} "
                            "(pass wanted_words explicitly or 'all')")
    return words


# ---------------------------------------------------------------------------- test folders

def _is_wav(name):
    return name.lower().endswith(".wav")


def _holds_wavs(folder):
    with os.scandir(folder) as entries:
        return any(_is_wav(e.name) and e.is_file() for e in entries)


def test_wav_folder(test_dir):
    """The folder of a test set's WAVs: `test_dir` itself when it holds any, else its `audio/` where
    that exists (the one rule of every script that reads a test folder); `test_dir` otherwise."""
    nested = os.path.join(test_dir, AUDIO_DIR)
    if os.path.isdir(test_dir) and not _holds_wavs(test_dir) and os.path.isdir(nested):
        return nested
    return test_dir


def list_test_wavs(test_dir):
    """{fname: path} of the `.wav` (and `.WAV`) files in `test_wav_folder(test_dir)`, sorted by fname;
    sub-folders are not read. A missing folder or one without WAVs is an error naming it."""
    if not os.path.isdir(test_dir):
        raise FileNotFoundError(f"{test_dir}: no such test folder")
    folder = test_wav_folder(test_dir)
    with os.scandir(folder) as entries:
        wavs = {e.name: e.path for e in entries if _is_wav(e.name) and e.is_file()}
    if not wavs:
        raise cli.UserError(f"{test_dir}: no .wav files in the test folder (nor in its {AUDIO_DIR}/ sub-folder)")
    return dict(sorted(wavs.items()))


# ---------------------------------------------------------------------------- pseudo-label lists

def read_pseudo_labels(csv_path):
    """(key, absolute path, label as written) per row of a `path,label` CSV.

    The key is the path relative to the CSV's folder (`audio/yes/clip_0a1b.wav`; the absolute
    path for a file outside it), with `/` separators: unique where base names are not (the
    synthetic corpus has `<speaker>_nohash_0.wav` under several words).
    """
    folder = os.path.dirname(os.path.abspath(csv_path))
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise cli.UserError(f"{csv_path}: expected the header 'path,label', found {reader.fieldnames}")
        rows = []
        for line_number, row in enumerate(reader, start=2):
            path, label = (row["path"] or "").strip(), (row["label"] or "").strip()
            if not path or not label:
                raise cli.UserError(f"{csv_path}:{line_number}: empty path or label")
            path = os.path.normpath(path if os.path.isabs(path) else os.path.join(folder, path))
            relative = os.path.relpath(path, folder)
            key = path if relative.startswith(os.pardir) else relative.replace(os.sep, "/")
            rows.append((key, path, label))
    missing = [path for _, path, _ in rows if not os.path.isfile(path)]
    if missing:
        raise cli.UserError(f"{csv_path}: {len(missing)} of {len(rows)} listed files do not exist, "
                            f"e.g. {missing[:5]}")
    if not rows:
        raise cli.UserError(f"{csv_path}: no pseudo-labelled clips listed")
    return rows


def read_pseudo_label_files(csv_paths):
    """The rows of several pseudo-label CSVs (see `read_pseudo_labels`); a key listed twice is an error."""
    rows, seen = [], {}
    for csv_path in csv_paths:
        for row in read_pseudo_labels(csv_path):
            if row[0] in seen:
                raise cli.UserError(f"{csv_path}: the clip {row[0]} is also listed in {seen[row[0]]}")
            seen[row[0]] = csv_path
            rows.append(row)
    return rows


def write_pseudo_labels(path, rows):
    """Writes a `path,label` CSV atomically from (path relative to the CSV's folder, label) rows;
    names with commas or quotes are quoted."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["path", "label"])
            writer.writerows(rows)
    return cli.write_atomic(path, write)
