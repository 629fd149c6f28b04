"""A Raspberry Pi model that is right on real voices: the teacher ensemble and its distilled students,
each measured in the form it ships.

    python benchmarks/pi_real_speech.py --run_dir runs/pi_real_speech [--seeds 0 1 2]
        [--teacher_experiment 301] [--students 310 320 330] [--unlabelled DIR] [--synth_dir data/synth]
        [--real_train ../shared/data/speech_commands_real]
        [--real_test ../shared/data/speech_commands_real_test] [--students_dir students] [--retrain]
        [--train_args ARG ...]

Steps (each skipped when its result is there and still valid, so an interrupted run continues):
 1. the synthetic corpus (`--synth_dir`, generated with seed 1 when missing);
 2. the teacher: per seed, experiment 300 on the synthetic corpus (pre-training), then
    `--teacher_experiment` fine-tuned on the real training split with the synthetic clips mixed
    in; a finished run is reused only if its settings and training code are those of now
    (`train.finished_run_differs`), else retrained;
 3. the teacher ensemble on the real test: each seed's TTA probabilities (make_submission.py),
    averaged (ensemble.py), scored;
 4. unlabelled audio labelled by the ensemble (`--unlabelled`, by default the synthetic corpus's
    test clips, 1,000 clips of speakers that no model trained on; the winning entry used the
    challenge's 158,538 test clips): TTA probabilities, their mean, create_pseudo_with_thresh.py
    --threshold 0;
 5. each student experiment (`--students`), distilled from the teacher runs (`--teacher_runs`: their
    mean TTA probabilities are the soft targets of the real training clips, the synthetic clips
    and the unlabelled clips), seed 0; a student whose experiment starts from a pre-training
    (`init_from`) starts from the teacher's seed-0 pre-training;
 6. each student through freeze_graph.py (.pb, float and int8 TFLite; int8 agreement with Keras
    on the validation clips, shown even below freeze_graph's 97% gate; exported again when the export
    code changed), then its Keras model (make_submission.py, no TTA) and its float and
    int8 TFLite files through make_submission_on_rpi.py (batch 1, as on the Pi) on the real test,
    and benchmark_model.py (bytes, multiply-adds, latency with 1 thread here, the Pi 3 estimate).

Writes `RUN_DIR/pretrain/seed<k>/`, `RUN_DIR/teacher/seed<k>/` (run folders), `RUN_DIR/submissions/`
(the teachers' CSVs), and in `RUN_DIR/students/` (`--students_dir`: a variant, e.g. other unlabelled
audio, in a folder of its own reuses the teachers) `<name>/` (run folders), `submissions/`,
`unlabelled_pseudo/` (pseudo labels), `tf_files/<name>*` (exports) and `pi_real_speech.json`; prints one table:
accuracy on the real test in Keras, float TFLite and int8 TFLite (the Pi script), int8 agreement,
int8 bytes, multiply-adds, latency, the Pi 3 estimate, and each student's int8 accuracy over the
teacher ensemble's. Checkpoints are chosen on the validation list, never on the test.
"""

import argparse
import json
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from kws import cli
from kws.data import corpus
from kws.submit import ensemble
import real_speech
from kws import runs
from kws.submit import score_submission
from kws.training import settings


def pretrain_args(args):
    return lambda seed: ["--experiment", "300", "--data_dir", os.path.join(args.synth_dir, "train"),
                         "--pseudo_labels", ""]


def teacher_args(args, clips_csv):
    return lambda seed: ["--experiment", args.teacher_experiment, "--data_dir", args.real_train,
                         "--pseudo_labels", clips_csv, "--init_from", os.path.join(args.run_dir, "pretrain", f"seed{seed}")]


def train_teachers(args, clips_csv):
    """{seed: teacher run folder}; minutes of training (pre-training included)."""
    teachers, minutes = {}, 0.0
    for seed in args.seeds:
        pretrain = real_speech.train(os.path.join(args.run_dir, "pretrain", f"seed{seed}"), pretrain_args(args), seed,
                                     args.retrain, args.train_args)
        run_dir = os.path.join(args.run_dir, "teacher", f"seed{seed}")
        metrics = real_speech.train(run_dir, teacher_args(args, clips_csv), seed, args.retrain, args.train_args)
        teachers[seed] = run_dir
        minutes += (pretrain["train_seconds"] + metrics["train_seconds"]) / 60
    return teachers, minutes


def ensemble_probs(teachers, test_dir, out_prefix, retrain):
    """The mean of the teachers' TTA probabilities on the WAVs of `test_dir`; returns its prefix."""
    probs = [real_speech.submit(run_dir, test_dir, f"{out_prefix}_seed{seed}", retrain, variants=("tta",))["tta"]
             for seed, run_dir in teachers.items()]
    ensemble.ensemble(probs, [1.0] * len(probs), out_prefix, overwrite=True)
    return out_prefix


def label_unlabelled(args, teachers):
    """pseudo_labels.csv of the unlabelled clips, labelled by the teacher ensemble (threshold 0: all)."""
    out = os.path.join(args.students_dir, "unlabelled_pseudo")
    prefix = ensemble_probs(teachers, args.unlabelled, os.path.join(args.students_dir, "submissions", "unlabelled"),
                            args.retrain)
    csv_path = os.path.join(out, corpus.PSEUDO_LABELS_FILE)
    if args.retrain or not os.path.isfile(csv_path) or os.path.getmtime(csv_path) < os.path.getmtime(f"{prefix}_probs.csv"):
        real_speech.python("create_pseudo_with_thresh.py", "--probs", f"{prefix}_probs.csv", "--threshold", 0,
                           "--test_dir", args.unlabelled, "--out", out, "--overwrite")
    return csv_path


def student_args(args, name, teachers, pseudo_csvs):
    """train.py arguments of a student experiment; one that starts from a pre-training (its `init_from`)
    starts from the seed-0 pre-training of the teacher here."""
    path = runs.find_experiment(os.path.join(ROOT, "experiments"), name)
    pretrained = bool(settings.load_experiment(path).get("init_from"))
    extra = ["--init_from", os.path.join(args.run_dir, "pretrain", f"seed{args.seeds[0]}")] if pretrained else []
    return lambda seed: ["--experiment", name, "--data_dir", args.real_train, "--pseudo_labels", *pseudo_csvs,
                         "--teacher_runs", *teachers.values(), *extra]


def pi_accuracy(model_path, args, out_csv):
    """Accuracy of a .tflite through make_submission_on_rpi.py (batch 1) on the real test."""
    real_speech.python("make_submission_on_rpi.py", "--model", model_path, "--test_data",
                       os.path.join(args.real_test, "audio"), "--submission_fn", out_csv, "--restart",
                       "--overwrite", "--num_threads", 1)
    return real_speech.accuracy(os.path.join(args.real_test, "solution.csv"), out_csv)


def model_figures(model_path):
    """benchmark_model.py --json of a model: bytes, multiply-adds, 1-thread latency, Pi 3 estimate."""
    output = real_speech.python("benchmark_model.py", "--model", model_path, "--threads", 1, "--runs", 100, "--json",
                                capture=True)
    report = json.loads(output)
    return {"bytes": report["file_bytes"], "macs": report["macs"], "latency_ms": report["latency"]["1"]["median_ms"],
            "pi3_estimate_ms": report["pi3_estimate_ms"]}


def measure_student(args, name, run_dir):
    """Every figure of one student (see the module docstring)."""
    prefix = os.path.join(args.students_dir, "tf_files", name)
    exported = real_speech.export(run_dir, prefix, args.retrain)["exports"]
    submissions = os.path.join(args.students_dir, "submissions")
    keras_probs = real_speech.submit(run_dir, args.real_test, os.path.join(submissions, name), args.retrain,
                                     variants=("plain",))["plain"]
    solution = os.path.join(args.real_test, "solution.csv")
    return {"keras": real_speech.accuracy(solution, keras_probs.replace("_probs.csv", ".csv")),
            "float_tflite": pi_accuracy(f"{prefix}.tflite", args, os.path.join(submissions, f"{name}_rpi_float.csv")),
            "int8_tflite": pi_accuracy(f"{prefix}_int8.tflite", args, os.path.join(submissions, f"{name}_rpi_int8.csv")),
            "int8_agreement": exported["int8"]["agreement"], **model_figures(f"{prefix}_int8.tflite"),
            "val_accuracy": runs.read_json(os.path.join(run_dir, runs.METRICS_FILE))["best_val_accuracy"],
            "minutes": runs.read_json(os.path.join(run_dir, runs.METRICS_FILE))["train_seconds"] / 60}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", required=True, help="folder for runs, submissions, exports and the report")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="seeds of the teacher ensemble (default: 0 1 2)")
    parser.add_argument("--teacher_experiment", default="301",
                        help="the teacher's fine-tuning experiment (default: 301, the real-speech recipe)")
    parser.add_argument("--students", nargs="+", default=["310", "320", "330"],
                        help="student experiments (default: 310 ds_cnn, 320 pi, 330 micro)")
    parser.add_argument("--unlabelled", default=None,
                        help="folder of unlabelled WAVs for the students (default: the synthetic corpus's test clips)")
    parser.add_argument("--synth_dir", default=os.path.join(ROOT, "data", "synth"),
                        help="synthetic corpus (default: data/synth; generated when missing)")
    parser.add_argument("--real_train", default=os.path.join(real_speech.SHARED, "speech_commands_real"),
                        help="real training data with list files (default: ../shared/data/speech_commands_real)")
    parser.add_argument("--real_test", default=os.path.join(real_speech.SHARED, "speech_commands_real_test"),
                        help="real test folder: audio/ and solution.csv (default: ../shared/data/...real_test)")
    parser.add_argument("--students_dir", default="students",
                        help="folder of the students, their exports, submissions, pseudo labels and the report, "
                             "inside --run_dir (default: students; another one keeps a variant apart)")
    parser.add_argument("--retrain", action="store_true", help="retrain and remake everything")
    parser.add_argument("--train_args", nargs=argparse.REMAINDER, default=[],
                        help="more train.py arguments for every run (last; e.g. --epochs 1 for a smoke test)")
    args = parser.parse_args(argv)
    args.unlabelled = args.unlabelled or os.path.join(args.synth_dir, "test", "audio")
    args.students_dir = os.path.join(args.run_dir, args.students_dir)
    for name in ("run_dir", "synth_dir", "real_train", "real_test", "unlabelled"):  # scripts run in the project
        setattr(args, name, os.path.abspath(getattr(args, name)))
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    for folder in (args.real_train, args.real_test):
        if not os.path.isdir(folder):
            raise cli.UserError(f"{folder}: not found (the team's shared real data; see --real_train/--real_test)")
    os.makedirs(os.path.join(args.students_dir, "submissions"), exist_ok=True)
    os.makedirs(os.path.join(args.run_dir, "submissions"), exist_ok=True)
    report_path = os.path.join(args.students_dir, "pi_real_speech.json")
    clips_csv = real_speech.ensure_synthetic_corpus(args.synth_dir)
    teachers, teacher_minutes = train_teachers(args, clips_csv)
    solution = os.path.join(args.real_test, "solution.csv")
    teacher_prefix = ensemble_probs(teachers, os.path.join(args.real_test, "audio"),
                                    os.path.join(args.run_dir, "submissions", "teacher_ensemble"), args.retrain)
    report = {"seeds": args.seeds, "teacher_experiment": args.teacher_experiment, "unlabelled": args.unlabelled,
              "test_clips": score_submission.score_files(solution, f"{teacher_prefix}.csv")["rows"],
              "teacher": {"keras_tta": real_speech.accuracy(solution, f"{teacher_prefix}.csv"),
                          "minutes": teacher_minutes, "runs": list(teachers.values())},
              "students": {}}
    pseudo_csvs = [clips_csv, label_unlabelled(args, teachers)]
    for name in args.students:
        run_dir = os.path.join(args.students_dir, name)
        real_speech.train(run_dir, student_args(args, name, teachers, pseudo_csvs), 0, args.retrain, args.train_args)
        report["students"][name] = measure_student(args, name, run_dir)
        runs.write_json(report_path, report)
    report["minutes"] = (time.monotonic() - started) / 60
    runs.write_json(report_path, report)
    print(format_report(report))
    return report


def format_report(report):
    """The table: the teacher ensemble, then each student as it ships."""
    teacher = report["teacher"]["keras_tta"]
    lines = [f"teacher: {len(report['seeds'])}-seed ensemble of experiment {report['teacher_experiment']} with TTA, "
             f"{report['teacher']['minutes']:.1f} min of training; students distilled on the real training clips, "
             f"the synthetic clips and {report['unlabelled']}; accuracy on the real test ({report['test_clips']} clips)",
             f"{'model':<26}{'train min':>10}{'val':>8}{'Keras':>8}{'float':>8}{'int8':>8}{'agree':>8}"
             f"{'int8 bytes':>12}{'MMACs':>8}{'ms here':>9}{'Pi 3 ms':>9}{'int8/teacher':>14}",
             f"{'teacher ensemble (TTA)':<26}{report['teacher']['minutes']:>10.1f}{'':>8}{teacher:>8.4f}"]
    for name, s in report["students"].items():
        lines.append(f"{name:<26}{s['minutes']:>10.1f}{s['val_accuracy']:>8.4f}{s['keras']:>8.4f}"
                     f"{s['float_tflite']:>8.4f}{s['int8_tflite']:>8.4f}{s['int8_agreement']:>8.2%}"
                     f"{s['bytes']:>12,}{s['macs'] / 1e6:>8.2f}{s['latency_ms']:>9.3f}{s['pi3_estimate_ms']:>9.2f}"
                     f"{s['int8_tflite'] / teacher:>13.3f}x")
    if "minutes" in report:
        lines.append(f"benchmark time: {report['minutes']:.1f} min (2-core figures; reused runs cost nothing)")
    return "\n".join(lines)


if __name__ == "__main__":
    cli.run(main)
