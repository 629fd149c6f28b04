"""Builds a spotter folder: the int8 model and a decision rule calibrated for false-alarm rates.

Command line:

    python make_spotter.py --run_dir runs/N --streams data/val_stream data/val_negatives [--out runs/N/spotter]
    python make_spotter.py --model tf_files/N_int8.tflite --streams data/val_stream --out tf_files/N_spotter
    python spot_keywords.py --model runs/N/spotter --input long.wav --out detections.csv   # then use it

Reads:
- the model: `--run_dir R` (exported here with freeze_graph.py `--streaming`; the only path that
  needs TensorFlow) or `--model N_int8.tflite` (copied with `N_labels.txt` and, when present, the
  streaming export `N_streaming.json`, `N_features.tflite`, `N_classifier_int8.tflite` beside it;
  or a head on openWakeWord's embeddings, `N.tflite` with `N_embeddings.json`: oww_embeddings.py);
- `--streams V1 [V2 ...]`: folders of make_streaming_test.py (`stream.wav`, `labels.csv`,
  `stream.json`), e.g. a stream of words and a negatives-only stream. They are the calibration
  data: make them from the validation speakers (the clips the run's checkpoint was chosen on),
  never from the test stream the spotter is then scored on, or its figures are not a test;
- `--fa_streams N1 [N2 ...]` (optional): negatives-only streams of real talk (make_streaming_test.py
  `--negatives_only`) of other speakers than the model trained on. For a model whose keyword clips
  are not the user's voices (custom_keywords.py: synthetic ones), the words it finds in --streams
  say little of the real ones it will find, and synthetic talk little of real false alarms: then
  the false alarms are counted on these streams alone and the thresholds share them out
  (score_streaming.calibrate_shares), and --streams only choose the grid point.

What it does: the model in the folder (int8 TFLite, one thread, through
stream_models.load_stream_model: what spot_keywords.py runs) is run once over each stream, every
`--hop_ms`, and its per-hop probabilities are kept (the stream is followed by one window of
silence, the model's clip length, as spot_keywords.py feeds it). For every point of the grid
`--smooth_ms` x `--min_hops` the score traces are computed offline (streaming.trace_of) and
per-keyword thresholds calibrated for every false-alarm rate of `--targets` over all the streams
together (score_streaming.calibrate: the most command words found while the false alarms of all
streams per hour of their total time stay at or under the target; a keyword it cannot find within
the budget never fires; no threshold below the one global threshold that meets `--floor_factor`
times the target), or with `--fa_streams` over those alone (score_streaming.calibrate_shares: each
keyword an equal share of the false alarms, at its lowest threshold within it, the same floor).
The grid point with the most words found at `--default_target` wins (ties: the
smaller smooth_ms, then the smaller min_hops); a table of the grid is printed.

Writes `--out` (default `R/spotter`, or `N_spotter` beside `--model N_int8.tflite`), a folder
written whole or not at all (built in a temporary folder beside it, then renamed; an existing one
is replaced only with `--overwrite`, and only when it is a spotter folder; it may not be or hold
an input):
- the model as freeze_graph.py names its files, prefix `spotter`: `spotter_int8.tflite`,
  `spotter_labels.txt`, and for a log-mel/MFCC model `spotter_streaming.json`,
  `spotter_features.tflite`, `spotter_classifier_int8.tflite`; from `--run_dir` also
  `spotter_report.json` (freeze_graph's checks). The float exports and the `.pb` are not kept:
  the spotter runs the int8 model. A head on openWakeWord's embeddings is copied as `spotter.tflite`
  with `spotter_labels.txt` and `spotter_embeddings.json` (give it `--hop_ms 80`: one embedding a hop);
- `spotter.json`: {"format": 1, "model", "labels", "hop_ms", "smooth_ms", "min_hops",
  "refractory_ms", "default_target_fa_per_hour", "thresholds": {target: {keyword: threshold}}
  (targets as "0.5", "1", "2", "5"; a threshold above 1 never fires), "calibration": {"streams":
  [folders], "fa_streams": [folders], "rule" ("most words found" or "shares"), "hours" and
  "keyword_free_hours" (of the streams the false alarms are counted on), "tolerance_s",
  "floor_factor", "per_target": {target: {"recall",
  "found", "command_words", "false_alarms", "false_alarms_per_hour", "interval" (95% Poisson),
  "false_alarms_by_label"}}, "grid": [{"smooth_ms", "min_hops", "per_target": {...}}]}}.
  The figures are those on the calibration streams, where the thresholds were fitted: an
  optimistic estimate; score a test stream for the real ones (benchmarks/streaming.py).
"""

import argparse
import json
import logging
import os
import shutil
import sys

import numpy as np

from kws.data import audio
from kws import cli
from kws.data import labels as label_sets
from kws.export import runtime
from kws.stream import score_streaming
from kws.stream import stream_models
from kws.stream import streaming

log = logging.getLogger(__name__)

SPOTTER_FILE = stream_models.SPOTTER_FILE
PREFIX = "spotter"
DEFAULT_TARGET = 1.0  # false alarms per hour on the calibration streams; see --default_target
KEPT_EXPORTS = ("int8", "labels", "report", "features", "classifier_int8", "streaming")  # of freeze_graph's files


def stream_probabilities(model_path, wav_path, hop_samples, num_threads=1, tail_ms=None):
    """(labels, float32 [hops, classes]): the model's probabilities at every hop of a WAV (and its tail
    of silence: `tail_ms`, by default one window), as spot_keywords.py computes them."""
    model = stream_models.load_stream_model(model_path, hop_samples, num_threads)
    with open(wav_path, "rb") as f:
        blocks = streaming.wav_blocks(f, wav_path)
        probs = [model.stream.push(hop) for hop in
                 streaming.hops(blocks, hop_samples, stream_models.tail_samples(model, tail_ms))]
    return model.labels, np.array(probs, np.float32).reshape(len(probs), len(model.labels))


def read_stream(folder):
    """{"folder", "wav", "words", "duration_s"} of a make_streaming_test.py folder."""
    wav, labels_path = os.path.join(folder, "stream.wav"), os.path.join(folder, "labels.csv")
    for path in (wav, labels_path):
        if not os.path.isfile(path):
            raise cli.UserError(f"{folder}: no {os.path.basename(path)}; --streams takes folders of "
                                "make_streaming_test.py")
    return {"folder": folder, "wav": wav, "words": score_streaming.read_labels(labels_path),
            "duration_s": score_streaming.stream_duration_s(labels_path, None)}


def export_run(run_dir, folder, check_clips):
    """freeze_graph.py --streaming into folder/spotter*; the files the spotter does not run are removed."""
    from kws.export import freeze_graph  # TensorFlow: only this path

    written = freeze_graph.main(["--run_dir", run_dir, "--out", os.path.join(folder, PREFIX), "--streaming",
                                 "--check_clips", str(check_clips)])
    for kind, path in written.items():
        if kind not in KEPT_EXPORTS:
            os.remove(path)
    return os.path.basename(written["int8"]), os.path.basename(written["labels"])


def copy_model(model_path, folder):
    """The .tflite, its labels and its streaming export copied into folder as spotter*."""
    if not model_path.endswith(".tflite") or not os.path.isfile(model_path):
        raise cli.UserError(f"--model {model_path}: expected an existing .tflite of freeze_graph.py "
                            "(N_int8.tflite)")
    ours = runtime.export_paths(PREFIX)  # bare file names: the prefix has no folder
    name = ours["int8" if runtime.is_int8(model_path) else "tflite"]
    copies = {model_path: name, runtime.default_labels_path(model_path): ours["labels"]}
    if runtime.is_embedding_head(model_path):  # a head on openWakeWord's embeddings: its marker says so
        copies[runtime.head_marker_path(model_path)] = runtime.head_marker_path(name)
    streaming_files = runtime.streaming_files(model_path)
    if os.path.isfile(streaming_files["spec"]):
        ours_streaming = runtime.streaming_files(name)
        copies.update({streaming_files[kind]: ours_streaming[kind] for kind in streaming_files})
    for source, target in copies.items():
        if not os.path.isfile(source):
            raise cli.UserError(f"{source}: not found beside --model (freeze_graph.py writes it)")
        shutil.copyfile(source, os.path.join(folder, target))
    return name, ours["labels"]


FA_FIGURES = ("false_alarms", "hours", "keyword_free_hours", "false_alarms_per_hour", "interval",
              "false_alarms_by_label")  # of score_streaming.evaluate: those counted on --fa_streams when given


def calibrate_grid(probs, model_labels, streams, args, talk_probs=(), talk=()):
    """[{"smooth_ms", "min_hops", "thresholds": {target: {...}}, "per_target": {target: figures}}] of the grid.
    With talk streams (--fa_streams) the thresholds are score_streaming.calibrate_shares' on them and the
    figures' false alarms are theirs (the words found are the --streams'); else calibrate_targets' on
    the --streams."""
    hop_s = round(args.hop_ms * audio.SAMPLE_RATE / 1000) / audio.SAMPLE_RATE
    refractory_s = args.refractory_ms / 1000
    keywords = [label for label in model_labels if label not in (label_sets.SILENCE_LABEL, label_sets.UNKNOWN_LABEL)]
    grid = []
    for smooth_ms in sorted(set(args.smooth_ms)):
        smooth_hops = max(1, round(smooth_ms / args.hop_ms))

        def traces(folders, folder_probs):
            return [(s["words"], streaming.CompiledTrace(streaming.trace_of(p, model_labels, smooth_hops, hop_s)),
                     s["duration_s"]) for s, p in zip(folders, folder_probs)]

        calibration, talk_calibration = traces(streams, probs), traces(talk, talk_probs)
        for min_hops in sorted(set(args.min_hops)):
            rule = (refractory_s, min_hops, args.tolerance_s)
            if talk_calibration:
                thresholds = score_streaming.calibrate_shares(talk_calibration, keywords, args.targets, *rule,
                                                              args.floor_factor)
            else:
                thresholds = score_streaming.calibrate_targets(calibration, args.targets, *rule, args.floor_factor)
            # every keyword of the model is listed: one never on top in the calibration streams never fires
            never = dict.fromkeys(keywords, score_streaming.NEVER_FIRES)
            thresholds = {target: {**never, **values} for target, values in thresholds.items()}
            figures = {}
            for t in args.targets:
                figures[stream_models.target_key(t)] = score_streaming.evaluate(calibration, thresholds[t], *rule)
                if talk_calibration:
                    fa = score_streaming.evaluate(talk_calibration, thresholds[t], *rule)
                    figures[stream_models.target_key(t)].update({key: fa[key] for key in FA_FIGURES})
            grid.append({"smooth_ms": smooth_ms, "min_hops": min_hops, "per_target": figures,
                         "thresholds": {stream_models.target_key(t): v for t, v in thresholds.items()}})
            log.info("smooth %g ms, min_hops %d: %s", smooth_ms, min_hops,
                     ", ".join(f"{k} FA/h {f['recall']:.1%}" for k, f in figures.items()))
    return grid


def best_point(grid, default_target):
    key = stream_models.target_key(default_target)
    return max(grid, key=lambda p: (p["per_target"][key]["found"], -p["smooth_ms"], -p["min_hops"]))


def spotter_config(args, model_name, labels_name, streams, grid, talk=()):
    best = best_point(grid, args.default_target)
    first = grid[0]["per_target"][stream_models.target_key(args.default_target)]
    calibration = {"streams": [s["folder"] for s in streams], "fa_streams": [s["folder"] for s in talk],
                   "rule": "shares" if talk else "most words found", "hours": first["hours"],
                   "keyword_free_hours": first["keyword_free_hours"], "tolerance_s": args.tolerance_s,
                   "floor_factor": args.floor_factor,
                   "per_target": best["per_target"],
                   "grid": [{k: p[k] for k in ("smooth_ms", "min_hops", "per_target")} for p in grid]}
    return {"format": stream_models.SPOTTER_FORMAT, "model": model_name, "labels": labels_name,
            "hop_ms": args.hop_ms, "smooth_ms": best["smooth_ms"], "min_hops": best["min_hops"],
            "refractory_ms": args.refractory_ms, "default_target_fa_per_hour": args.default_target,
            "thresholds": best["thresholds"], "calibration": calibration}


def table(config):
    """Lines of the grid's recall per target, the chosen point marked."""
    targets = list(config["thresholds"])
    calibration = config["calibration"]
    counted_on = (f"{len(calibration['fa_streams'])} talk stream(s) (--fa_streams)" if calibration.get("fa_streams")
                  else f"{len(calibration['streams'])} stream(s)")
    lines = [f"calibration: false alarms on {calibration['hours']:.2f} h of {counted_on}, "
             f"{calibration['keyword_free_hours']:.2f} keyword-free; words found on {len(calibration['streams'])}",
             f"{'smooth_ms':>10}{'min_hops':>9}" + "".join(f"{'<= ' + t + ' FA/h':>16}" for t in targets)]
    for point in config["calibration"]["grid"]:
        chosen = (point["smooth_ms"], point["min_hops"]) == (config["smooth_ms"], config["min_hops"])
        lines.append(f"{point['smooth_ms']:>10g}{point['min_hops']:>9}" + "".join(
            f"{point['per_target'][t]['recall']:>10.1%} ({point['per_target'][t]['false_alarms']:>2})" for t in targets)
            + ("  <- chosen" if chosen else ""))
    for target, figures in config["calibration"]["per_target"].items():
        low, high = figures["interval"]
        lines.append(f"at <= {target} FA/h: {figures['found']} of {figures['command_words']} words "
                     f"({figures['recall']:.1%}), {figures['false_alarms']} false alarms "
                     f"({figures['false_alarms_per_hour']:.2f} per hour, 95% interval {low:.2f}-{high:.2f})")
    return lines


def check_out(out, inputs, overwrite):
    cli.refuse_inputs([out], inputs)
    if os.path.lexists(out):
        if not overwrite:
            raise cli.UserError(f"{out} already exists; pass --overwrite to replace it, or choose another --out")
        if not stream_models.is_spotter(out):
            raise cli.UserError(f"{out}: not a spotter folder (no {SPOTTER_FILE}); --overwrite replaces only "
                                "a spotter folder")


def replace_folder(built, out):
    """Renames the finished folder into place (an old spotter is moved aside first, then removed)."""
    old = None
    if os.path.lexists(out):
        old = cli.temporary_path(out, ".old")
        os.rename(out, old)
    os.rename(built, out)
    if old:
        shutil.rmtree(old)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run_dir", help="run folder of train.py, exported with freeze_graph.py --streaming "
                                          "(needs TensorFlow)")
    source.add_argument("--model", help="an N_int8.tflite of freeze_graph.py, copied with its labels and "
                                        "streaming files")
    parser.add_argument("--streams", nargs="+", required=True, metavar="FOLDER",
                        help="calibration streams of make_streaming_test.py, made of validation speakers "
                             "(never the test stream)")
    parser.add_argument("--fa_streams", nargs="+", default=[], metavar="FOLDER",
                        help="streams of real talk without the keywords (make_streaming_test.py --negatives_only, "
                             "other speakers than the model trained on): the false alarms are counted on them "
                             "alone, shared equally among the keywords (score_streaming.calibrate_shares); "
                             "--streams then only choose the smoothing and min_hops by the words found")
    parser.add_argument("--out", default=None,
                        help="spotter folder to write (default: R/spotter, or N_spotter beside --model)")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.5, 1.0, 2.0, 5.0],
                        help="false-alarm rates per hour to calibrate thresholds for (default: 0.5 1 2 5)")
    parser.add_argument("--default_target", type=float, default=DEFAULT_TARGET,
                        help="the target spot_keywords.py uses by default and the grid is chosen on (default: "
                             f"{DEFAULT_TARGET:g}: half the 2 per hour users accept, as calibration streams of "
                             "validation speakers rarely hold as many confusable real words as real talk)")
    parser.add_argument("--hop_ms", type=float, default=100.0, help="time between classifications in ms "
                                                                      "(default: 100)")
    parser.add_argument("--smooth_ms", type=float, nargs="+", default=[100.0, 300.0, 500.0, 800.0],
                        help="averaging times tried, ms (default: 100 300 500 800)")
    parser.add_argument("--min_hops", type=int, nargs="+", default=[1, 2, 3],
                        help="consecutive hops above the threshold tried (default: 1 2 3)")
    parser.add_argument("--refractory_ms", type=float, default=1000.0,
                        help="no detection for this long after one, ms (default: 1000)")
    parser.add_argument("--floor_factor", type=float, default=score_streaming.FLOOR_FACTOR,
                        help="no keyword's threshold below the one global threshold that meets this many times the "
                             f"target (default: {score_streaming.FLOOR_FACTOR:g}; 0: none): thresholds fitted to a few "
                             "hours without a false alarm of their keyword fire on new audio (score_streaming.calibrate)")
    parser.add_argument("--tolerance_s", type=float, default=1.0,
                        help="latest detection after a word's end that still finds it, s (default: 1.0, "
                             "score_streaming.py's)")
    parser.add_argument("--check_clips", type=int, default=300,
                        help="with --run_dir: validation clips freeze_graph.py checks the exports on (default: 300)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing spotter folder --out")
    args = parser.parse_args(argv)
    hop_samples = args.hop_ms * audio.SAMPLE_RATE / 1000
    if args.hop_ms <= 0 or hop_samples != int(hop_samples):
        parser.error(f"--hop_ms must be a positive whole number of samples at {audio.SAMPLE_RATE} Hz")
    if min(args.smooth_ms) < 0 or min(args.min_hops) < 1 or args.refractory_ms < 0 or args.tolerance_s < 0 \
            or args.floor_factor < 0 \
            or min(args.targets) < 0:
        parser.error("--smooth_ms, --refractory_ms, --tolerance_s, --floor_factor and --targets must be >= 0, "
                     "--min_hops >= 1")
    if args.default_target not in args.targets:
        parser.error(f"--default_target {args.default_target:g} is not one of --targets")
    if args.out is None:
        args.out = (os.path.join(args.run_dir, PREFIX) if args.run_dir else
                    runtime.export_prefix(args.model) + f"_{PREFIX}")
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    out = os.path.normpath(args.out)
    check_out(out, [args.run_dir or args.model, *args.streams, *args.fa_streams], args.overwrite)
    streams = [read_stream(folder) for folder in args.streams]
    talk = [read_stream(folder) for folder in args.fa_streams]
    spoken = [s["folder"] for s in talk if s["words"]]
    if spoken:
        raise cli.UserError(f"--fa_streams {spoken[0]}: its labels.csv has command words; give streams of talk "
                            "without the keywords (make_streaming_test.py --negatives_only)")
    built = cli.temporary_path(out)
    os.makedirs(built)
    try:
        if args.run_dir:
            model_name, labels_name = export_run(args.run_dir, built, args.check_clips)
        else:
            model_name, labels_name = copy_model(args.model, built)
        hop_samples = round(args.hop_ms * audio.SAMPLE_RATE / 1000)
        runs = [stream_probabilities(os.path.join(built, model_name), s["wav"], hop_samples) for s in streams + talk]
        model_labels = runs[0][0]
        if not any(label not in (label_sets.SILENCE_LABEL, label_sets.UNKNOWN_LABEL) for label in model_labels):
            raise cli.UserError(f"{model_name}: the model has no keyword among its labels")
        probs = [p for _, p in runs]
        grid = calibrate_grid(probs[:len(streams)], model_labels, streams, args, probs[len(streams):], talk)
        config = spotter_config(args, model_name, labels_name, streams, grid, talk)
        cli.write_text(os.path.join(built, SPOTTER_FILE), json.dumps(config, indent=2) + "\n")
        replace_folder(built, out)
    finally:
        if os.path.exists(built):
            shutil.rmtree(built)
    print("\n".join(table(config)))
    print(f"wrote {out}: {', '.join(sorted(os.listdir(out)))}")
    return {"out": out, "config": config, "path": os.path.join(out, SPOTTER_FILE)}

