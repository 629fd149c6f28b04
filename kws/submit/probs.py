"""Probability and label files of the test-set scripts: read, write, align by fname, Kaggle classes.

Formats (docs/ARCHITECTURE.md, "Probability files"):

- Probability CSV: `fname,<one column per class>`, one row per clip, rows sorted by fname, values
  written with 9 significant digits (float32 round-trips exactly).
- Probability memmap: `PREFIX.uint8.memmap` holds the probabilities x 255, rounded, as raw uint8
  [rows, classes] in C order; `PREFIX.json` is its sidecar:
  `{"format": "kws-probs", "data_file": "PREFIX.uint8.memmap", "shape": [rows, classes],
    "classes": [...], "dtype": "uint8", "scale": 255, "fnames": [... row order ...]}`
  (`data_file` is relative to the sidecar's folder). Reading divides by `scale`.
- Label CSV (a submission, `*_all_labels.csv`, a solution): `fname,label[,more columns]`.

`read_probs(path)` takes a CSV, a sidecar, a `.uint8.memmap` file or the bare PREFIX and returns
a `ProbTable` whose rows are sorted by fname. Files are never trusted to be in the same order:
`align()` reorders several tables to one fname order and refuses different fname sets, naming
the difference. Every row read must be a probability distribution: values in [0, 1] that sum to 1
(within 1e-4 in a CSV; within the rounding, 0.5/255 per class, in a memmap); a row that does not
-- a torn last number, an edited value -- is an error naming the file and the rows.

Kaggle classes (`to_kaggle`): every model label maps to one of the 12 Kaggle classes through
`labels.kaggle_label` ("_silence_" -> silence, command words -> themselves, `_unknown_` and every
other word -> unknown). Rule "sum" adds the probabilities of the labels of a class (the unknown
class gets the total probability of all non-command words), so the 12 columns still sum to 1.
Rule "max" reproduces the winning entry's conversion: the largest probability among the labels
of a class, then a softmax over the 12 values (a class without any label gets probability 0).

Every writer is atomic (`cli.write_atomic`).
"""

import dataclasses
import json
import os

import numpy as np
import pandas as pd

from kws import cli
from kws.data import labels as label_sets

FNAME = "fname"
LABEL = "label"
MEMMAP_SUFFIX = ".uint8.memmap"
SIDECAR_SUFFIX = ".json"
SIDECAR_FORMAT = "kws-probs"
UINT8_SCALE = 255
CSV_FLOAT_FORMAT = "%.9g"  # 9 significant digits: float32 survives the text round trip
UNKNOWN_RULES = ("sum", "max")
_EXAMPLES = 5  # fnames quoted in an error message
# Every row of a probability file is one distribution. A CSV written here sums to 1 within ~1e-6
# (float32, 9 digits); 1e-4 lets through files written with 6 decimals and catches a torn or edited
# number. A uint8 memmap rounds each value by up to half a step.
CSV_SUM_TOLERANCE = 1e-4


@dataclasses.dataclass
class ProbTable:
    """Probabilities of several clips: `values[i]` belongs to `fnames[i]`, columns are `classes`."""

    fnames: list
    classes: list
    values: np.ndarray  # float32 [rows, classes]
    source: str = "<memory>"

    def __post_init__(self):
        self.fnames = [str(f) for f in self.fnames]
        self.classes = [str(c) for c in self.classes]
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.shape != (len(self.fnames), len(self.classes)):
            raise ValueError(f"{self.source}: values have shape {self.values.shape}, expected "
                             f"({len(self.fnames)}, {len(self.classes)}) (fnames x classes)")
        check_unique(self.fnames, self.source, "fname")
        check_unique(self.classes, self.source, "class")

    def sorted(self):
        """The same table with rows sorted by fname."""
        order = np.argsort(np.array(self.fnames, dtype=object), kind="stable")
        return ProbTable([self.fnames[i] for i in order], self.classes, self.values[order], self.source)

    def argmax_labels(self):
        """The class of the highest probability of every row."""
        return [self.classes[i] for i in self.values.argmax(axis=1)]


def check_unique(names, source, what):
    """Raises ValueError naming the duplicated entries of `names`."""
    series = pd.Series(names, dtype=object)
    duplicated = series[series.duplicated()].unique().tolist()
    if duplicated:
        raise cli.UserError(f"{source}: {len(duplicated)} duplicated {what}(s), e.g. {duplicated[:_EXAMPLES]}")


# ---------------------------------------------------------------------------- probability CSV

def write_probs_csv(path, table):
    """Writes `fname,<classes>` with rows sorted by fname."""
    table = table.sorted()
    frame = pd.DataFrame(table.values, columns=table.classes)
    frame.insert(0, FNAME, table.fnames)
    return cli.write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT))


def read_probs_csv(path):
    """A probability CSV as a ProbTable (rows sorted by fname), with errors naming the file."""
    try:
        frame = pd.read_csv(path, dtype={FNAME: str}, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise cli.UserError(f"{path}: not a probability CSV ({e})") from e
    if frame.columns.empty or frame.columns[0] != FNAME:
        raise cli.UserError(f"{path}: the first column must be '{FNAME}', found {list(frame.columns[:3])}")
    classes = list(frame.columns[1:])
    if not classes:
        raise cli.UserError(f"{path}: no probability columns after '{FNAME}'")
    not_numeric = [c for c in classes if not pd.api.types.is_numeric_dtype(frame[c])]
    if not_numeric:
        raise cli.UserError(f"{path}: column(s) {not_numeric} are not numbers (a label CSV, not probabilities?)")
    values = frame[classes].to_numpy(dtype=np.float32)
    _check_values(values, path, frame[FNAME].tolist(), CSV_SUM_TOLERANCE, first_line=2)
    return ProbTable(frame[FNAME].tolist(), classes, values, str(path)).sorted()


def _check_values(values, source, fnames, sum_tolerance, first_line=None):
    """Raises UserError unless every row is a probability distribution (in [0, 1], summing to 1);
    `first_line`: the file line of row 0 (a CSV's), so the error points at the first bad line."""
    def at(row):
        return f"{source}:{first_line + row}" if first_line is not None else f"{source} row {row}"

    if np.isnan(values).any():
        rows = np.flatnonzero(np.isnan(values).any(axis=1))
        raise cli.UserError(f"{source}: missing or NaN probabilities in {len(rows)} row(s), e.g. rows {rows[:5]}; "
                            f"first at {at(rows[0])}")
    if values.size and (values.min() < -1e-6 or values.max() > 1 + 1e-6):
        row = np.flatnonzero((values < -1e-6).any(axis=1) | (values > 1 + 1e-6).any(axis=1))[0]
        raise cli.UserError(f"{source}: values outside [0, 1] ({values.min()} .. {values.max()}): not probabilities; "
                            f"first at {at(row)}")
    sums = values.astype(np.float64).sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > sum_tolerance)
    if len(off):
        examples = ", ".join(f"{fnames[i]} sums to {sums[i]:.6g}" for i in off[:3])
        raise cli.UserError(f"{source}: {len(off)} row(s) do not sum to 1 (within {sum_tolerance:.2g}): {examples}; "
                            f"{at(off[0])}: probabilities must lie in [0, 1] and sum to 1 in every row, one clip's "
                            "per row (a torn or edited file?)")


# ---------------------------------------------------------------------------- uint8 memmap + sidecar

def memmap_paths(prefix):
    """(data file, sidecar) of a memmap PREFIX."""
    return prefix + MEMMAP_SUFFIX, prefix + SIDECAR_SUFFIX


def quantize(values):
    """Probabilities to uint8 (x 255, rounded, clipped to [0, 255])."""
    return np.rint(np.clip(np.asarray(values, np.float32), 0.0, 1.0) * UINT8_SCALE).astype(np.uint8)


def memmap_writers(prefix, table):
    """{PREFIX.uint8.memmap: write(tmp), PREFIX.json: write(tmp)} for `cli.write_all`, the data file
    first: renamed in that order, a sidecar never points at a partial file."""
    table = table.sorted()
    data_path, sidecar_path = memmap_paths(prefix)
    sidecar = {"format": SIDECAR_FORMAT, "data_file": os.path.basename(data_path),
               "shape": list(table.values.shape), "classes": table.classes, "dtype": "uint8",
               "scale": UINT8_SCALE, "fnames": table.fnames}

    def write_sidecar(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(sidecar, f)
    return {data_path: lambda tmp: quantize(table.values).tofile(tmp), sidecar_path: write_sidecar}


def write_probs_memmap(prefix, table):
    """Writes PREFIX.uint8.memmap and its sidecar PREFIX.json (rows sorted by fname)."""
    return tuple(cli.write_all(memmap_writers(prefix, table)))


def read_probs_memmap(sidecar_path):
    """A memmap + sidecar pair as a ProbTable (values divided by the sidecar's scale)."""
    try:
        with open(sidecar_path, encoding="utf-8") as f:
            sidecar = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise cli.UserError(f"{sidecar_path}: malformed JSON sidecar ({e})") from e
    if not isinstance(sidecar, dict):
        sidecar = {}
    missing = [k for k in ("data_file", "shape", "classes", "dtype", "scale", "fnames") if k not in sidecar]
    if missing or sidecar.get("format") != SIDECAR_FORMAT:
        raise cli.UserError(f"{sidecar_path}: not a probability sidecar (format {sidecar.get('format')!r}, "
                            f"missing keys {missing})")
    shape, scale = sidecar["shape"], sidecar["scale"]
    if (not isinstance(shape, list) or len(shape) != 2 or not all(isinstance(n, int) and n >= 0 for n in shape)
            or sidecar["dtype"] != "uint8" or not isinstance(scale, (int, float)) or scale <= 0
            or not isinstance(sidecar["fnames"], list) or not isinstance(sidecar["classes"], list)
            or not isinstance(sidecar["data_file"], str)):
        raise cli.UserError(f"{sidecar_path}: malformed sidecar (shape [rows, classes], dtype 'uint8', a positive "
                            "scale, lists of fnames and classes and a data_file name are expected)")
    rows, columns = shape
    if len(sidecar["fnames"]) != rows or len(sidecar["classes"]) != columns:
        raise cli.UserError(f"{sidecar_path}: shape {sidecar['shape']} disagrees with {len(sidecar['fnames'])} "
                            f"fnames and {len(sidecar['classes'])} classes")
    data_path = os.path.join(os.path.dirname(os.path.abspath(sidecar_path)), sidecar["data_file"])
    dtype = np.dtype(np.uint8)
    expected_bytes = rows * columns * dtype.itemsize
    actual_bytes = os.path.getsize(data_path) if os.path.isfile(data_path) else None
    if actual_bytes != expected_bytes:
        raise cli.UserError(f"{data_path}: expected {expected_bytes} bytes for shape {sidecar['shape']} "
                            f"{dtype}, found {'no file' if actual_bytes is None else actual_bytes}")
    raw = np.memmap(data_path, dtype=dtype, mode="r", shape=(rows, columns)) if rows else np.zeros((0, columns))
    values = np.asarray(raw, dtype=np.float32) / np.float32(sidecar["scale"])
    _check_values(values, data_path, sidecar["fnames"], columns * 0.5 / float(sidecar["scale"]) + 1e-6)
    return ProbTable(sidecar["fnames"], sidecar["classes"], values, str(sidecar_path)).sorted()


# ---------------------------------------------------------------------------- any format

def _locate(path):
    """(the CSV or sidecar a probability path names, its reader)."""
    path = os.fspath(path)
    if path.endswith(".csv"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such probability file")
        return path, read_probs_csv
    if path.endswith(MEMMAP_SUFFIX):
        path = path[:-len(MEMMAP_SUFFIX)]
    if path.endswith(SIDECAR_SUFFIX) and os.path.isfile(path):
        return path, read_probs_memmap
    for candidate, reader in ((path + SIDECAR_SUFFIX, read_probs_memmap), (path + ".csv", read_probs_csv)):
        if os.path.isfile(candidate):
            return candidate, reader
    raise FileNotFoundError(f"{path}: no probability file (looked for {path}, {path}{SIDECAR_SUFFIX}, "
                            f"{path}.csv)")


def read_probs(path):
    """A probability file: CSV, sidecar `.json`, `.uint8.memmap` or the bare memmap PREFIX."""
    found, reader = _locate(path)
    return reader(found)


def source_files(path):
    """The files `read_probs(path)` reads: the CSV, or the sidecar and its data file (for output checks)."""
    found, reader = _locate(path)
    if reader is read_probs_csv:
        return [found]
    data_file = found[:-len(SIDECAR_SUFFIX)] + MEMMAP_SUFFIX
    try:
        with open(found, encoding="utf-8") as f:
            data_file = os.path.join(os.path.dirname(os.path.abspath(found)), json.load(f)["data_file"])
    except (ValueError, KeyError, TypeError):
        pass  # read_probs names what is wrong with the sidecar
    return [found, data_file]


def describe_difference(a_fnames, b_fnames, a_name, b_name):
    """A sentence naming how two fname sets differ (counts and a few examples each way)."""
    a_set, b_set = set(a_fnames), set(b_fnames)
    only_a, only_b = sorted(a_set - b_set), sorted(b_set - a_set)
    parts = []
    if only_a:
        parts.append(f"{len(only_a)} fname(s) of {a_name} are not in {b_name}, e.g. {only_a[:_EXAMPLES]}")
    if only_b:
        parts.append(f"{len(only_b)} fname(s) of {b_name} are not in {a_name}, e.g. {only_b[:_EXAMPLES]}")
    return "; ".join(parts)


def align(tables):
    """The tables reordered to the first one's fname order; different fname sets raise ValueError."""
    reference = tables[0]
    aligned = [reference]
    for table in tables[1:]:
        difference = describe_difference(reference.fnames, table.fnames, reference.source, table.source)
        if difference:
            raise cli.UserError(f"probability files cover different clips: {difference}")
        order = pd.Index(table.fnames).get_indexer(reference.fnames)
        aligned.append(ProbTable(reference.fnames, table.classes, table.values[order], table.source))
    return aligned


# ---------------------------------------------------------------------------- Kaggle classes

def normalise_rows(values):
    """Each row divided by its sum (rows summing to 0 kept): the up to 0.5/255 per class that a
    uint8 memmap's rounding leaves would otherwise make a derived CSV fail the sum check."""
    sums = values.sum(axis=1, keepdims=True, dtype=np.float64)
    return (values / np.where(sums > 0, sums, 1.0)).astype(np.float32)


def softmax(x):
    shifted = np.exp(x - np.max(x, axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def to_kaggle(table, unknown="sum"):
    """The table in the 12 Kaggle classes (KAGGLE_PROB_ORDER) by the "sum" or "max" rule."""
    if unknown not in UNKNOWN_RULES:
        raise ValueError(f"unknown rule must be one of {UNKNOWN_RULES}, got {unknown!r}")
    membership = label_sets.kaggle_membership(table.classes)
    if unknown == "sum":
        values = normalise_rows(table.values @ membership)  # a memmap's rounding must not outlive it
    else:
        members = membership.T.astype(bool)  # [12, classes]
        values = np.full((len(table.fnames), len(members)), -np.inf, np.float32)
        for k, mask in enumerate(members):
            if mask.any():
                values[:, k] = table.values[:, mask].max(axis=1)
        values = softmax(values)
    return ProbTable(table.fnames, list(label_sets.KAGGLE_PROB_ORDER), values.astype(np.float32), table.source)


def kaggle_predictions(table):
    """The Kaggle label of every row: probabilities summed into the 12 classes, then argmax."""
    return to_kaggle(table, "sum").argmax_labels()


# ---------------------------------------------------------------------------- label CSV

def write_label_csv(path, fnames, row_labels):
    """Writes `fname,label` with rows sorted by fname."""
    frame = pd.DataFrame({FNAME: list(fnames), LABEL: list(row_labels)}).sort_values(FNAME, kind="stable")
    check_unique(frame[FNAME].tolist(), path, "fname")
    return cli.write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))


def read_label_csv(path):
    """A `fname,label[,...]` CSV as a DataFrame (all columns text), checked for duplicates and gaps."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such label file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise cli.UserError(f"{path}: not a label CSV ({e})") from e
    missing = [c for c in (FNAME, LABEL) if c not in frame.columns]
    if missing:
        raise cli.UserError(f"{path}: missing column(s) {missing}; expected the header 'fname,label'")
    empty = frame[(frame[FNAME] == "") | (frame[LABEL] == "")]
    if len(empty):
        raise cli.UserError(f"{path}: {len(empty)} row(s) with an empty fname or label, e.g. lines "
                            f"{(empty.index[:_EXAMPLES] + 2).tolist()}")
    check_unique(frame[FNAME].tolist(), path, "fname")
    return frame


def read_label_dict(path):
    """{fname: label} of a `fname,label` CSV (read_label_csv's checks): a submission, a solution."""
    frame = read_label_csv(path)
    return dict(zip(frame[FNAME], frame[LABEL]))
