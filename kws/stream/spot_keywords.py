"""Spots keywords in long audio or a live microphone: the model's window slid over a stream.

Command line:

    python spot_keywords.py --model tf_files/N_int8.tflite --input long.wav --out detections.csv
    arecord -f S16_LE -r 48000 -c 1 -t raw | python spot_keywords.py --model tf_files/N_int8.tflite \\
        --input - --sample_rate 48000 --out detections.csv
    python spot_keywords.py --model runs/N/spotter --input long.wav --out detections.csv   # calibrated rule
    python spot_keywords.py --model runs/N/spotter --input long.wav --target_fa_per_hour 0.5 --out d.csv
    python spot_keywords.py --model runs/N --input stream.wav --threshold 0 --out trace.csv   # score trace

What it does: every hop (`--hop_ms`) the model classifies the last window of audio (its clip
length, read from the model: one second unless it was trained on other clips); the
probabilities of the last `--smooth_ms` are averaged, and the top label is reported as a
detection when it is a keyword (not `_silence_`/`_unknown_`) whose averaged score has reached
its threshold for `--min_hops` consecutive hops, unless it was the keyword last reported and has
stayed on top since, or less than `--refractory_ms` have passed since the last detection
(streaming.py has the rule). With `--threshold 0` every hop's top label and score are written
(all labels, no suppression): a score trace from which score_streaming.py draws the curve of
misses against false alarms per hour and replays the rule at any threshold.

The rule's settings: a spotter folder (make_spotter.py: a folder holding `spotter.json`) brings
its own -- hop_ms, smooth_ms, min_hops, refractory_ms and per-keyword thresholds calibrated for
several false-alarm rates, of which `--target_fa_per_hour` picks one (default: the folder's
default target; an error names the folder's targets when it lacks the one asked). Every flag
given on the command line overrides the folder's value (`--threshold X`: one threshold for every
keyword). Any other model uses `--hop_ms 100 --smooth_ms 500 --threshold 0.7 --min_hops 1
--refractory_ms 1000` unless given. The closing report's first line names the rule used.

Reads:
- `--model`: a spotter folder (its `.tflite` model and labels, numpy and ai-edge-litert only), a
  run folder (a folder without spotter.json) or `.keras` file (TensorFlow), a frozen graph `.pb`
  (TensorFlow) or a
  `.tflite` (float or int8; numpy and ai-edge-litert only, as make_submission_on_rpi.py). With the
  streaming export of freeze_graph.py `--streaming` beside a `.tflite`, a hop computes the
  features of its new audio only (stream_models.py); `--full_window` recomputes the whole window.
  Labels: the run's labels.txt, `N_labels.txt` beside the model, the spotter's, or `--labels`.
- `--input`: a WAV file of any format audio.py reads (any rate, channels, bit depth, any length;
  read block by block), or `-`: standard input, either a WAV stream or raw 16-bit little-endian
  PCM at `--sample_rate` with `--channels` (`arecord -t raw`; a WAV header is recognised).
  Other rates are resampled to 16 kHz with numpy (audio.Resampler). After the end of the input
  `--tail_ms` (default: one window, 1000 ms for a 1 s model) of silence are fed, so that a word at
  the very end is reported too.

Writes `--out` (default: standard output; an existing file is replaced only with `--overwrite`, and
never when it is the input or the model): a CSV `time_s,label,score` (JSON lines
{"time_s", "label", "score"} with `--json`), one row per detection, where time_s is the end of the
audio heard when the detection was made (seconds from the start of the input). Each row is
written and flushed as it is found -- not atomically: the file is a log, and a Ctrl-C or a killed
pipe leaves every detection made so far in it, each row whole. With `--input -` (a stream) rows
are also printed to standard output as they happen. At the end (or on Ctrl-C) a report goes to
standard error: the rule used (and where its settings came from), audio time, detections,
processing time and the real-time factor (processing time / audio time) of the whole loop and of
the model alone (wall time, and the CPU time of its thread, which other processes' load does not
inflate), and for a `.tflite` the Raspberry Pi 3 estimate per hop (benchmark_model.py's stated
assumption, not a measurement). A Ctrl-C ends the run with exit status 130 after the report; a
user error prints `error: ...` and exits with 2.
"""

import argparse
import logging
import os
import sys

from kws import cli
from kws.data import audio
from kws.export import runtime
from kws.stream import stream_models
from kws.stream import streaming

log = logging.getLogger(__name__)

def open_input(args):
    """Blocks of float32 16 kHz samples of `--input` (see the module docstring)."""
    if args.input == "-":
        stream = sys.stdin.buffer
        if not args.raw and stream.peek(4)[:4] == b"RIFF":
            return streaming.wav_blocks(stream, "<standard input>")
        return streaming.pcm_blocks(stream, args.sample_rate, args.channels)
    if not os.path.isfile(args.input):
        raise runtime.InputError(f"{args.input}: no such input file")
    stream = open(args.input, "rb")  # noqa: SIM115  (read lazily by the generator, closed at exit)
    if args.raw:
        return streaming.pcm_blocks(stream, args.sample_rate, args.channels)
    return streaming.wav_blocks(stream, args.input)


def report(stats, model, writer, hop_ms, live):
    """Lines of the closing report (standard error)."""
    audio_s = max(stats["audio_s"], 1e-9)
    lines = [f"model: {model.description}",
             f"audio: {stats['audio_s']:.1f} s in {stats['hops']} hops of {hop_ms:g} ms"
             + (" (interrupted)" if stats["interrupted"] else ""),
             f"detections: {writer.count}" + (" (score trace: every hop)" if writer.count and stats["trace"] else "")]
    if not live:
        lines.append(f"processing: {stats['total_s']:.2f} s, real-time factor {stats['total_s'] / audio_s:.4f} "
                     "(reading, resampling, model, decisions)")
    lines.append(f"model alone: {stats['model_s']:.2f} s, real-time factor {stats['model_s'] / audio_s:.4f}, "
                 f"{1e3 * stats['model_s'] / max(stats['hops'], 1):.3f} ms per hop (CPU time of this thread: "
                 f"{stats['model_cpu_s']:.2f} s, real-time factor {stats['model_cpu_s'] / audio_s:.4f})")
    return lines + pi3_estimate(model, hop_ms)


def pi3_estimate(model, hop_ms):
    """[the line of the Raspberry Pi 3 estimate per hop], or [] for a model without multiply-adds."""
    pi3_ms = model.pi3_hop_ms()
    if pi3_ms is None:
        return []
    return [f"Raspberry Pi 3 estimate: {pi3_ms:.2f} ms per hop, real-time factor {pi3_ms / hop_ms:.3f} "
            f"({hop_ms / pi3_ms:.0f}x headroom) -- an estimate from multiply-adds (runtime.PI3_ASSUMPTION), "
            "not a measurement"]


def parse_args(argv):
    defaults = stream_models.DEFAULT_RULE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="spotter folder of make_spotter.py, run folder, .keras, frozen .pb or .tflite "
                             "(float or int8) of freeze_graph.py")
    parser.add_argument("--input", required=True, help="WAV file, or - for standard input (WAV or raw PCM)")
    parser.add_argument("--out", default=None, help="detections file (default: standard output)")
    parser.add_argument("--json", action="store_true", help="write JSON lines instead of CSV")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--labels", default=None, help="labels file (default: the model's, see above)")
    parser.add_argument("--sample_rate", type=int, default=audio.SAMPLE_RATE,
                        help=f"sample rate of raw PCM input in Hz (default: {audio.SAMPLE_RATE}; "
                             "a USB microphone: 44100 or 48000)")
    parser.add_argument("--channels", type=int, default=1, help="channels of raw PCM input, averaged (default: 1)")
    parser.add_argument("--raw", action="store_true", help="read --input as raw 16-bit PCM even if it looks like a WAV")
    parser.add_argument("--hop_ms", type=float, default=None,
                        help="time between classifications in ms (default: the spotter's, else "
                             f"{defaults['hop_ms']:g}; "
                             "a multiple of the model's frame step for the split model)")
    parser.add_argument("--smooth_ms", type=float, default=None,
                        help=f"probabilities are averaged over this many ms of hops (default: the spotter's, else "
                             f"{defaults['smooth_ms']:g})")
    parser.add_argument("--threshold", type=float, default=None,
                        help="averaged score every keyword needs (default: the spotter's per-keyword thresholds, "
                             f"else {defaults['threshold']:g}); 0 writes every hop's top label "
                             "(a score trace for score_streaming.py)")
    parser.add_argument("--min_hops", type=int, default=None,
                        help="consecutive hops a keyword must stay on top at or above its threshold (default: the "
                             f"spotter's, else {defaults['min_hops']})")
    parser.add_argument("--refractory_ms", type=float, default=None,
                        help=f"no detection for this long after one, in ms (default: the spotter's, else "
                             f"{defaults['refractory_ms']:g})")
    parser.add_argument("--target_fa_per_hour", type=float, default=None,
                        help="a spotter folder only: use its thresholds for this false-alarm rate (default: its "
                             "default target)")
    parser.add_argument("--tail_ms", type=float, default=None,
                        help="silence fed after the end of the input, in ms (default: the model's window, "
                             "1000 for a 1 s model)")
    parser.add_argument("--num_threads", type=int, default=1, help="TFLite / TensorFlow threads (default: 1)")
    parser.add_argument("--full_window", action="store_true",
                        help="run the whole model on the whole window every hop, even where a split model exists")
    args = parser.parse_args(argv)
    if any(value is not None and value < 0 for value in (args.smooth_ms, args.refractory_ms, args.threshold)) \
            or (args.tail_ms or 0) < 0 or (args.threshold is not None and args.threshold > 1):
        parser.error("--smooth_ms, --refractory_ms and --tail_ms must be >= 0 and --threshold in [0, 1]")
    if args.min_hops is not None and args.min_hops < 1:
        parser.error("--min_hops must be >= 1")
    if args.num_threads < 1 or args.sample_rate < 1 or args.channels < 1:
        parser.error("--num_threads, --sample_rate and --channels must be >= 1")
    return args


def resolve_rule(args):
    """(model path, labels path or None, rule): stream_models.resolve_rule of the flags."""
    return stream_models.resolve_rule(args.model, args.labels, args.target_fa_per_hour,
                                      {key: getattr(args, key) for key in (*stream_models.SPOTTER_RULE_KEYS,
                                                                           "threshold")})


def rule_line(rule):
    thresholds = rule["thresholds"]
    shown = (", ".join(f"{k} {v:.3f}" for k, v in sorted(thresholds.items())) if isinstance(thresholds, dict)
             else f"{thresholds:g}" + (" (score trace)" if thresholds <= 0 else ""))
    return (f"rule ({rule['source']}): hop {rule['hop_ms']:g} ms, smoothing {rule['smooth_ms']:g} ms, "
            f"min_hops {rule['min_hops']}, refractory {rule['refractory_ms']:g} ms, thresholds {shown}")


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    model_path, labels_path, rule = resolve_rule(args)
    if args.out:
        cli.check_outputs([args.out], [args.input, args.model, model_path, labels_path], args.overwrite)
    model = stream_models.load_stream_model(model_path, stream_models.hop_samples_of(rule), args.num_threads,
                                            labels_path, args.full_window)
    blocks = open_input(args)
    writer = stream_models.DetectionWriter(args.out, args.json, echo=args.input == "-")
    try:
        stats = stream_models.spot_with_rule(model, rule, blocks, writer, args.tail_ms)
    finally:
        writer.close()
    print("\n".join([rule_line(rule)] + report(stats, model, writer, rule["hop_ms"], live=args.input == "-")),
          file=sys.stderr)
    if stats["interrupted"]:
        raise KeyboardInterrupt  # every detection is written: cli.run exits with the shell's 130
    return stats

