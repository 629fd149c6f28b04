"""Converts a model's probability file to the 12 Kaggle classes, as CSV and as a uint8 memmap.

    python convert_probs.py --probs submissions/N_probs.csv --out submissions/N_kaggle [--unknown sum|max] \
        [--overwrite]

Reads any probability file `probs.read_probs` reads (CSV `fname,<model labels>`, or a memmap
with its JSON sidecar); every row must be a probability distribution (in [0, 1], summing to 1),
else the file is refused, naming the rows (a torn or edited file). The output columns are `labels.KAGGLE_PROB_ORDER`
(silence unknown yes no up down left right on off stop go), the order the winning team's
ensemble used:

- `--unknown sum` (default): every model label goes to its Kaggle class (`labels.kaggle_label`);
  `unknown` is the total probability of `_unknown_` and every non-command word. Rows still sum to 1
  (renormalised, for a memmap input and its rounding), and the argmax is the label
  `make_submission.py` writes.
- `--unknown max`: the winning code's rule, kept for comparison: each class takes the largest
  probability among its labels (so `unknown` = the max over `_unknown_` and the non-command
  words), then a softmax over the 12 values. It flattens the distribution: the top probability
  of a confident row falls from ~1.0 to ~0.2, so thresholds tuned on one rule do not carry over.

Writes (all three or none, each atomically, rows sorted by fname):
  PREFIX.csv            fname + 12 probability columns
  PREFIX.uint8.memmap   probability x 255, rounded, uint8 [rows, 12]
  PREFIX.json           sidecar: shape, classes, dtype, scale, fnames in row order
`probs.read_probs(PREFIX)` (or either file) reads the result back. Existing files are replaced only
with `--overwrite`; an output that is the input (`--probs P_probs.csv --out P_probs`) is an error.
"""

import argparse
import logging

from kws import cli
from kws.submit import probs as prob_files


def convert(probs_path, out_prefix, unknown="sum", overwrite=False):
    """Reads `probs_path`, writes the Kaggle-order CSV and memmap; returns the converted table."""
    csv_path, (data_path, sidecar_path) = out_prefix + ".csv", prob_files.memmap_paths(out_prefix)
    cli.check_outputs([csv_path, data_path, sidecar_path], prob_files.source_files(probs_path), overwrite)
    kaggle = prob_files.to_kaggle(prob_files.read_probs(probs_path), unknown)
    cli.write_all({csv_path: lambda tmp: prob_files.write_probs_csv(tmp, kaggle),
                   **prob_files.memmap_writers(out_prefix, kaggle)})
    return kaggle


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probs", required=True,
                        help="probability file to convert (CSV, memmap sidecar .json, .uint8.memmap or PREFIX)")
    parser.add_argument("--out", required=True,
                        help="output PREFIX: writes PREFIX.csv, PREFIX.uint8.memmap and PREFIX.json")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--unknown", choices=prob_files.UNKNOWN_RULES, default="sum",
                        help="how the non-command labels make the unknown class: 'sum' of their "
                             "probabilities (default) or the winning code's 'max' then softmax")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out_prefix = cli.out_prefix(args.out)
    kaggle = convert(args.probs, out_prefix, args.unknown, args.overwrite)
    data_path, sidecar_path = prob_files.memmap_paths(out_prefix)
    print(f"converted {len(kaggle.fnames)} rows to the 12 Kaggle classes (unknown rule: {args.unknown}): "
          f"{out_prefix}.csv, {data_path}, {sidecar_path}")
    return kaggle

