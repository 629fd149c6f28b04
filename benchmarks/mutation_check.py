"""Does the test suite catch small, plausible bugs? Applies one-line mutations to a scratch copy of the tree.

    python benchmarks/mutation_check.py [--only NAME ...] [--list] [--timeout_s 900]

Each mutation (MUTATIONS below) replaces one exact piece of code in one file of a scratch copy
of the repository (the files git tracks, as they are in the working tree) with a bug, then runs
the tests that should catch it (`pytest -x -q` on the named test files, in the scratch copy). A
mutation whose tests still pass "survived": the suite has a hole there. A mutation whose original
text is no longer found is reported as "stale" (the code moved: update the entry). Add each new
kind of bug found in review to the list, with the tests that must catch it. First the tests of
the chosen mutations run once on the unmutated copy: one that fails there (broken, or flaky on
this machine) is an error, since it would count every mutation as killed.

Prints one line per mutation (killed / SURVIVED / stale, seconds, the failing test) and a summary;
exits 1 if any mutation survived or is stale. Writes nothing in the repository (the scratch copy
lives in a temporary folder, removed afterwards).
"""

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from kws import cli


@dataclasses.dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the repository root
    original: str  # exact text, found exactly once
    mutated: str
    tests: tuple  # test files (or node ids) that must fail


MUTATIONS = (
    Mutation("render ignores the speed factor", "kws/data/samples.py",
             "int(plan.shift[r]), float(plan.speed[r]),", "int(plan.shift[r]), 1.0,",
             ("tests/test_render_exact.py", "tests/test_input_data.py")),
    Mutation("render ignores the volume gain", "kws/data/samples.py",
             "x *= (plan.gain / 32768.0).astype(np.float32)[:, None]",
             "x *= np.float32(1.0 / 32768.0)", ("tests/test_render_exact.py", "tests/test_input_data.py")),
    Mutation("training forces the distillation weight to 0", "kws/training/train_loop.py",
             'loss_options = {key: values[key] for key in ("label_smoothing", "distill_temperature", "distill_weight")}',
             'loss_options = {key: values[key] for key in ("label_smoothing", "distill_temperature", "distill_weight")}; '
             'loss_options["distill_weight"] = 0.0', ("tests/test_train.py",)),
    Mutation("freeze_graph does not compare the .pb with Keras", "kws/export/freeze_graph.py",
             'return predict_graph(tf.compat.v1.GraphDef.FromString(content), check)',
             'return predict_tflite(exports["tflite"], check)',
             ("tests/test_export_checks.py", "tests/test_freeze_graph.py")),
    Mutation("probability tables are not aligned by fname", "kws/submit/probs.py",
             "order = pd.Index(table.fnames).get_indexer(reference.fnames)",
             "order = np.arange(len(table.fnames))",
             ("tests/test_ensemble_alignment.py", "tests/test_ensemble.py", "tests/test_probs.py")),
    Mutation("the mel filterbank is a dense matrix product again (int8 loses log-mel models)", "kws/models/features.py",
             "mel_power = apply_sparse_filterbank(power, self._mel_filterbank, self.num_mel_bins)",
             "mel_power = ops.matmul(power, mel_weight_matrix(self.num_mel_bins, self.fft_length // 2 + 1, "
             "self.sample_rate, self.fmin_hz, self.sample_rate / 2 if self.fmax_hz is None else self.fmax_hz))",
             ("tests/test_int8.py",)),
    Mutation("EMA weights are not what validation and checkpoints use", "kws/training/train_loop.py",
             "        if not self.optimizer.use_ema:\n", "        if True:\n", ("tests/test_train.py",)),
    Mutation("the online teacher labels the clean clip, not the augmented sample", "kws/data/input_data.py",
             "y[:, c:2 * c] = self._teacher_function(x)", "y[:, c:2 * c] = self._teacher_function(x * 0.5)",
             ("tests/test_input_data.py",)),
    Mutation("teacher_runs ignore the TTA variants", "kws/training/teachers.py",
             "x = np.stack([variant.apply(clips) for variant in variants])", "x = np.stack([clips for _ in variants])",
             ("tests/test_train.py",)),
    Mutation("the raw-waveform models lose their mu-law input", "kws/models/model.py",
             'x = MuLaw(name="mu_law")(waveform) if mu_law else waveform', "x = waveform",
             ("tests/test_model.py::test_raw_waveform_models_compand_their_input_by_default",)),
    Mutation("the int8 export forgets its bias correction", "kws/export/freeze_graph.py",
             "else tflite_int8(source)", "else tflite_int8(keras_model)",
             ("tests/test_freeze_graph.py",)),
    Mutation("the layer that reads the waveform is quantised again", "kws/export/freeze_graph.py",
             "float_layer = quantization.waveform_layer(keras_model) if float_waveform_layer and not full else None",
             "float_layer = None", ("tests/test_freeze_graph.py",)),
    Mutation("bias correction measures the mean shift of the float kernels against themselves", "kws/export/quantization.py",
             "shift = (_mean_output(stored, mean_input) - _mean_output(kernels, mean_input))",
             "shift = (_mean_output(kernels, mean_input) - _mean_output(kernels, mean_input))",
             ("tests/test_quantization.py",)),
    Mutation("freeze_graph accepts an int8 export that disagrees", "kws/export/freeze_graph.py",
             'if kind.endswith("int8") and result["agreement"] < min_int8_agreement:',
             'if kind.endswith("int8") and result["agreement"] < 0.0:', ("tests/test_freeze_graph.py",)),
    Mutation("numpy resampling is off by one input sample", "kws/data/audio.py",
             "self._offset = (half_len + pre_pad) // self.down * self.down - pre_pad",
             "self._offset = (half_len + pre_pad) // self.down * self.down - pre_pad + 1", ("tests/test_audio.py",)),
    Mutation("the cached feature window is one frame late", "kws/stream/streaming.py",
             "first = self.window_start // self.step - self.features_start",
             "first = self.window_start // self.step - self.features_start + 1", ("tests/test_streaming.py",)),
    Mutation("a word held over several hops is reported at every hop", "kws/stream/streaming.py",
             "if self.latched is not None and not (active and label == self.latched):",
             "if self.latched is not None:", ("tests/test_streaming.py",)),
    Mutation("a repeated detection of a found word counts as a hit", "kws/stream/score_streaming.py",
             'words[i][0] == label and outcome[i] != "found"', "words[i][0] == label",
             ("tests/test_score_streaming.py",)),
    Mutation("a keyword missing from the per-keyword thresholds fires at any score", "kws/stream/streaming.py",
             "return lambda label: table.get(label, NEVER_FIRES)", "return lambda label: table.get(label, 0.0)",
             ("tests/test_streaming.py",)),
    Mutation("the minimum number of hops above the threshold is ignored online", "kws/stream/streaming.py",
             "and self.run_hops >= self.min_hops", "and self.run_hops >= 1", ("tests/test_streaming.py",)),
    Mutation("the calibration skips the joint replay that enforces the budget", "kws/stream/score_streaming.py",
             "        if sum(false_alarms.values()) <= budget:\n            return thresholds",
             "        if True:\n            return thresholds", ("tests/test_score_streaming.py",)),
    Mutation("a stream may place a clip twice", "kws/stream/make_streaming_test.py",
             "if not self.clips or (self.uses and not self.reuse):", "if not self.clips:",
             ("tests/test_make_streaming_test.py",)),
    Mutation("the streaming test ignores its seed", "kws/stream/make_streaming_test.py",
             "rng = np.random.default_rng(args.seed)", "rng = np.random.default_rng()",
             ("tests/test_make_streaming_test.py",)),
    Mutation("a word cut by the window edge keeps its keyword label", "kws/data/input_data.py",
             'label[windows["on"] & windows["partial"]] = UNKNOWN_INDEX',
             'label[windows["on"] & windows["partial"]] = label[windows["on"] & windows["partial"]]',
             ("tests/test_stream_augment.py",)),
    Mutation("a neighbouring word is shown whole", "kws/data/stream_augment.py",
             "end = min(word_start - gap_samples, round(shown * part_len))", "end = word_start - gap_samples",
             ("tests/test_stream_augment.py",)),
    Mutation("the talk's false-alarm shares are rounded down (a budget under one a keyword is never spent)",
             "kws/stream/score_streaming.py", "share = -(-budget // max(len(keywords), 1))",
             "share = budget // max(len(keywords), 1)", ("tests/test_score_streaming.py",)),
    Mutation("make_spotter ignores the talk streams' false alarms", "kws/stream/make_spotter.py",
             "            if talk_calibration:\n                thresholds",
             "            if False:\n                thresholds", ("tests/test_make_spotter.py",)),
    Mutation("custom keywords calibrate on the talk the model trained on", "kws/custom_keywords.py",
             '*common, "--split", "validation", "--minutes", args.talk_minutes',
             '*common, "--split", "training", "--minutes", args.talk_minutes', ("tests/test_custom_keywords.py",)),
    Mutation("a head trains without its sample weights", "kws/models/oww_embeddings.py",
             "sample_weight=balanced_weights(labels, num_classes, sample_weights)",
             "sample_weight=balanced_weights(labels, num_classes)", ("tests/test_oww_embeddings.py",)),
    Mutation("the head with recordings embeds the corpus again", "kws/custom_keywords.py",
             "        if self.front_end is None:\n            self._start()", "        if True:\n            self._start()",
             ("tests/test_custom_keywords.py::test_the_head_with_recordings_continues_the_synthetic_heads_examples",)),
    Mutation("the training-code fingerprint misses the imports inside functions", "kws/runs.py",
             "    for node in ast.walk(tree):\n        if isinstance(node, ast.Import):",
             "    for node in tree.body:\n        if isinstance(node, ast.Import):", ("tests/test_runs.py",)),
    Mutation("the submission's fnames are not compared with the solution's", "kws/submit/score_submission.py",
             "prob_files.describe_difference(solution[prob_files.FNAME], submission[prob_files.FNAME],",
             "prob_files.describe_difference(solution[prob_files.FNAME], solution[prob_files.FNAME],",
             ("tests/test_score.py",)),
)


def tracked_files():
    result = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in result.stdout.decode().split("\0") if p]


def scratch_copy(destination):
    """The tracked files of the working tree, copied (tests then import the copy, not the repository)."""
    for relative in tracked_files():
        source = os.path.join(ROOT, relative)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(os.path.join(destination, relative)), exist_ok=True)
            shutil.copy2(source, os.path.join(destination, relative))


def apply(scratch, mutation):
    """Writes the mutation into the scratch copy; False when its original text is not there exactly once."""
    path = os.path.join(scratch, mutation.path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.count(mutation.original) != 1:
        return False
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(mutation.original, mutation.mutated))
    return True


def run_tests(scratch, tests, timeout_s):
    """None when `tests` pass in the scratch copy, else the first failing test (or why pytest stopped)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        result = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"(timed out after {timeout_s} s)"
    if result.returncode == 0:
        return None
    failed = re.findall(r"^FAILED (\S+)", result.stdout, re.MULTILINE)
    return failed[0] if failed else f"(pytest exit {result.returncode})"


def check_baseline(mutations, timeout_s):
    """The tests of `mutations` must pass on the unmutated tree: a test that fails anyway (broken, or flaky
    here) would count every mutation it runs after as killed."""
    tests = list(dict.fromkeys(test for m in mutations for test in m.tests))
    with tempfile.TemporaryDirectory(prefix="kws-mutation-") as scratch:
        scratch_copy(scratch)
        failed = run_tests(scratch, tests, timeout_s)
    if failed:
        raise cli.UserError(f"{failed} fails without any mutation: fix it first (the check would be meaningless)")


def check(mutation, timeout_s):
    """("killed", the failing test), ("SURVIVED", "") or ("stale", why) for one mutation."""
    with tempfile.TemporaryDirectory(prefix="kws-mutation-") as scratch:
        scratch_copy(scratch)
        if not apply(scratch, mutation):
            return "stale", "original text not found exactly once"
        failed = run_tests(scratch, mutation.tests, timeout_s)
    return ("killed", failed) if failed else ("SURVIVED", "")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=None, help="run only the mutations whose name contains these")
    parser.add_argument("--list", action="store_true", help="list the mutations and their tests, run nothing")
    parser.add_argument("--timeout_s", type=float, default=900.0, help="per mutation (default: 900)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or any(word in m.name for word in args.only)]
    if args.list:
        for m in chosen:
            print(f"{m.name}  [{m.path}] -> {' '.join(m.tests)}")
        return {}
    started = time.monotonic()
    check_baseline(chosen, args.timeout_s)
    print(f"baseline: the tests of the {len(chosen)} mutation(s) pass unmutated "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    outcomes = {}
    for m in chosen:
        started = time.monotonic()
        outcome, detail = check(m, args.timeout_s)
        outcomes[m.name] = outcome
        print(f"{outcome:<9}{time.monotonic() - started:>7.0f} s  {m.name}  {detail}", flush=True)
    survived = [name for name, outcome in outcomes.items() if outcome != "killed"]
    print(f"{len(outcomes) - len(survived)} of {len(outcomes)} mutations killed"
          + (f"; not killed: {', '.join(survived)}" if survived else ""))
    if survived:
        sys.exit(1)
    return outcomes


if __name__ == "__main__":
    cli.run(main)
