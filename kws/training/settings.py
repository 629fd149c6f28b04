"""Training settings: one flat namespace of typed, documented settings for `train.py`.

Every setting has its type, default and help text written once, next to its field in `Settings` or,
for the augmentation, `AugmentSettings` (the type input_data.AudioProcessor takes), with a short
*why* where it is not obvious; each has a command-line flag of the same name (`--batch_size 64`,
`--no-circular_shift` for a boolean). Other modules take defaults from here (the data loader's
keyword arguments, `python input_data.py`'s flags), never write them again. This module imports
no Keras or TensorFlow, so light scripts can read a run's settings.

Resolution order: defaults < experiment file (TOML) < command-line flags.

An experiment file `experiments/<number>_<name>.toml` holds only what differs from the defaults.
It may group keys in tables for readability, named after the settings' groups: `[run]`, `[data]`,
`[model]`, `[train]`, `[augment]` (a setting may sit in any of them, once; tables do not nest).
`[model_params]` is not a group but a setting, the keyword arguments of the model builder
(`model.build_model(name, num_classes, **params)`).
An unknown key, an unknown table (a misspelled `[modle]` would otherwise hide its settings), a value
of the wrong type, a repeated key or malformed TOML raises `SettingsError` (a `cli.UserError`)
naming the file and the key.

`config.json` of a run folder stores the resolved settings in sections (`model`, `data`, `train`);
`settings_from_config` reads them back, the one reader of every script that needs a run's
settings (`train.py --resume`, freeze_graph.py's clip choice); a setting the file lacks (an older
run, a hand-made folder) takes its default.

This module is a library: nothing runs at import.
"""

import argparse
import dataclasses
import tomllib
import typing

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data.labels import COMMAND_WORDS

OPTIMIZERS = ("sgd", "adam", "nadam", "rmsprop")
LR_SCHEDULES = ("constant", "plateau", "cosine", "steps")
STRATEGIES = ("default", "mirrored", "multiworker")
# Settings that a resumed run may change: they decide when to stop or how often to save, not
# what a training step computes (changing `epochs` does change a cosine schedule's length).
RESUMABLE_CHANGES = ("epochs", "max_minutes", "save_state_every_steps", "save_state_every_seconds",
                     "loader_threads")
TABLES = ("run", "data", "model", "train", "augment")  # the settings' groups: an experiment file's tables


class SettingsError(cli.UserError):
    """A setting that cannot be used; the message names the file (or flag) and the key."""


def _setting(default, group, help_text):
    metadata = {"group": group, "help": help_text}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def check_probability(value, name):
    """`value` as a float, or a UserError naming `name` unless it lies in [0, 1]."""
    if not 0.0 <= float(value) <= 1.0:
        raise cli.UserError(f"{name} is a probability in [0, 1], got {value}")
    return float(value)


_RANGES = ("background_volume_range", "silence_volume_range", "volume_range", "speed_range", "stream_snr_db")
_PROBABILITIES = ("background_frequency", "time_shift_probability", "volume_probability",
                  "speed_probability", "eval_background_frequency", "stream_probability",
                  "stream_partial_probability", "stream_neighbour_probability")


CLIP_DURATION_MS_RANGE = (500, 3000)  # shorter cuts a word; longer makes a spotter slow to decide
CLIP_DURATION_STEP_MS = 10  # whole 10 ms feature frames, so the feature front ends fit any length


def check_clip_duration(clip_duration_ms):
    """`clip_duration_ms` as an int, or a UserError unless it is a multiple of 10 ms in 500..3000."""
    low, high = CLIP_DURATION_MS_RANGE
    if not (low <= clip_duration_ms <= high and clip_duration_ms % CLIP_DURATION_STEP_MS == 0):
        raise SettingsError(f"setting 'clip_duration_ms' must be a multiple of {CLIP_DURATION_STEP_MS} ms "
                            f"from {low} to {high}, got {clip_duration_ms}")
    return int(clip_duration_ms)


def check_time_shift(augment, clip_duration_ms):
    """A UserError unless the augmentation's time shift stays within one clip."""
    if augment.time_shift_ms > clip_duration_ms:
        raise SettingsError(f"time_shift_ms must be within one clip (0..{clip_duration_ms}, the clip_duration_ms), "
                            f"got {augment.time_shift_ms}")


@dataclasses.dataclass(frozen=True)
class AugmentSettings:
    """Training augmentation (input_data.AudioProcessor); each effect has a probability per sample and a range."""

    background_frequency: float = _setting(0.8, "augment", "chance of adding a random slice of a random noise "
                                                           "file to a word (tutorial: 0.8)")
    background_volume_range: tuple = _setting((0.0, 0.1), "augment", "that slice times a uniform factor from this "
                                                                     "range (tutorial: up to 0.1)")
    silence_volume_range: tuple = _setting((0.001, 0.3), "augment", "RMS of silence samples, log-uniform: real "
                                                                    "silence clips range from near 0 to 0.3 RMS "
                                                                    "(median ~0.02), far louder than the dataset's "
                                                                    "noise files")
    time_shift_ms: float = _setting(100.0, "augment", "uniform time shift within +-this (tutorial: 100), "
                                                      "zero-filled unless circular_shift")
    time_shift_probability: float = _setting(1.0, "augment", "chance of a time shift")
    circular_shift: bool = _setting(False, "augment", "wrap a shifted clip around instead of zero-filling it")
    volume_probability: float = _setting(1.0, "augment", "chance of a foreground gain from volume_range")
    volume_range: tuple = _setting((0.7, 1.3), "augment", "foreground gain (result clipped to [-1, 1])")
    speed_probability: float = _setting(0.0, "augment", "chance of playing a word faster/slower by a factor from "
                                                        "speed_range (pitch follows)")
    speed_range: tuple = _setting((0.9, 1.1), "augment", "speed factor, about the clip centre, by linear "
                                                         "interpolation (no anti-alias filter: meant for factors "
                                                         "near 1)")
    eval_background_frequency: float = _setting(0.0, "augment", "chance that a validation/testing word gets noise "
                                                                "(0: clean words, so scores measure the model "
                                                                "rather than the noise draw)")
    stream_probability: float = _setting(0.0, "augment", "chance that a training word becomes a window as a sliding "
                                                         "spotter sees it (stream_augment.py: the word anywhere in "
                                                         "the window, cut by its edges, neighbouring words, noise "
                                                         "at a drawn SNR); 0 = off")
    stream_partial_probability: float = _setting(0.25, "augment", "share of those windows whose word a window edge "
                                                                  "cuts (10-50% of it shows), labelled _unknown_")
    stream_neighbour_probability: float = _setting(0.5, "augment", "chance, on each side of the word, of a "
                                                                   "neighbouring word cut by the window edge")
    stream_snr_db: tuple = _setting((0.0, 25.0), "augment", "signal-to-noise ratio of the word over the noise in "
                                                            "those windows, in dB")

    def __post_init__(self):
        for name in _RANGES:
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 2 or not 0 <= value[0] <= value[1]:
                raise cli.UserError(f"augmentation {name} must be [low, high] with 0 <= low <= high, got {value}")
            object.__setattr__(self, name, value)  # TOML/JSON give lists; keep tuples
        for name in _PROBABILITIES:
            check_probability(getattr(self, name), f"augmentation {name}")
        if self.silence_volume_range[0] <= 0 or self.speed_range[0] <= 0:
            raise cli.UserError("silence_volume_range (log-uniform) and speed_range must start above 0")
        if self.time_shift_ms < 0:
            raise cli.UserError(f"time_shift_ms must be >= 0, got {self.time_shift_ms}")

    @classmethod
    def from_dict(cls, settings):
        """Settings from a dict (experiment file); unknown keys are an error naming them."""
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise cli.UserError(f"unknown augmentation setting(s) {unknown}; known settings: {known}")
        return cls(**settings)

    def to_dict(self):
        """JSON-able dict (ranges as lists) that `from_dict` accepts."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass
class Settings:
    """What `train.py` does; the augmentation settings (`AugmentSettings`) are added to these."""

    # run
    seed: int = _setting(0, "run", "seed of weights, data order, augmentation and dropout")
    epochs: int = _setting(30, "run", "training epochs")
    steps_per_epoch: int = _setting(0, "run", "batches per epoch, at most one pass over the training split "
                                              "(a cap for short runs); 0 = one pass")
    batch_size: int = _setting(100, "run", "samples per step (the TensorFlow tutorial's batch size)")
    max_minutes: float = _setting(0.0, "run", "time budget: stop at the epoch boundary where one more epoch "
                                              "would exceed it (at least one epoch); 0 = no limit")
    strategy: str = _setting("default", "run", f"tf.distribute strategy: {'|'.join(STRATEGIES)} "
                                               "(multiworker reads TF_CONFIG)")
    save_state_every_steps: int = _setting(200, "run", "save the resume state every this many steps (0 = never)")
    save_state_every_seconds: float = _setting(300.0, "run", "... and every this many seconds (0 = never); "
                                                             "it is always saved at each epoch end")
    loader_threads: int = _setting(2, "run", "threads preparing the next batches (results do not depend on it)")
    # data
    data_dir: list[str] = _setting(["data/train"], "data", "dataset folders (Kaggle, tarball or audio/ layout)")
    wanted_words: list[str] = _setting(list(COMMAND_WORDS), "data",
                                  "the words with their own output, or 'all' (every word found: an all-words head)")
    clip_duration_ms: int = _setting(audio.CLIP_MS, "data", "clip length in ms: the model's input is this many "
                                                            "ms of 16 kHz samples, every clip is padded or cut to "
                                                            "it (a multiple of 10 from 500 to 3000; a corpus of "
                                                            "long phrases needs more than 1000)")
    silence_percentage: float = _setting(10.0, "data", "silence samples, in % of the wanted-word clips")
    unknown_percentage: float = _setting(10.0, "data", "unknown-word samples, in % of the wanted-word clips")
    validation_percentage: float = _setting(corpus.SPLIT_PERCENTAGE, "data", "validation share where no list files "
                                                                             "exist (the speaker hash)")
    testing_percentage: float = _setting(corpus.SPLIT_PERCENTAGE, "data", "testing share where no list files exist")
    pseudo_labels: list[str] = _setting([], "data", "CSV files path,label of pseudo-labelled clips to mix in "
                                                    "(none by default; '' = none)")
    pseudo_ratio: float = _setting(0.2, "data", "probability that a training sample is a pseudo-labelled clip")
    pseudo_only_epochs: int = _setting(0, "data", "first epochs that train on pseudo-labelled clips only")
    pseudo_ramp_epochs: int = _setting(0, "data", "then epochs of a linear ramp from 1.0 down to pseudo_ratio")
    teacher_probs: str = _setting("", "data", "probability CSV (fname,<labels>) of a teacher to distil ('' = none)")
    teacher_runs: list[str] = _setting([], "data", "run folders of a teacher ensemble to distil: the mean of their "
                                                   "probabilities on every training and pseudo-labelled clip "
                                                   "(written to teacher_probs.csv in the run) are the soft targets")
    teacher_tta: bool = _setting(True, "data", "teacher_runs predict each clip as recorded, shifted left by 1,500 "
                                               "samples and 1.2x louder, and average (the winning entry's TTA)")
    teacher_online: bool = _setting(False, "data", "teacher_runs label every training sample as the student sees it "
                                                   "(augmented; silence too) at each step, instead of once per clip "
                                                   "(~2x slower steps; no teacher_probs.csv)")
    # model
    model: str = _setting("conv", "model", "model.MODELS entry")
    model_params: dict = _setting({}, "model", "model builder parameters, as KEY=VALUE (TOML values)")
    init_from: str = _setting("", "model", "start from these weights (fine-tuning): a run folder (its best.keras; its "
                                           "labels must match) or a .keras file; '' = random initialisation")
    batch_norm_momentum: float = _setting(0.0, "model", "momentum of every batch norm's moving statistics; "
                                                        "0 = the model's own (Keras: 0.99, which needs thousands of "
                                                        "steps before inference-mode scores mean anything; 0.9 suits "
                                                        "short runs)")
    # train
    optimizer: str = _setting("adam", "train", f"optimizer: {'|'.join(OPTIMIZERS)}")
    learning_rate: float = _setting(1e-3, "train", "initial learning rate")
    momentum: float = _setting(0.9, "train", "momentum of sgd and rmsprop")
    nesterov: bool = _setting(False, "train", "Nesterov momentum (sgd)")
    weight_decay: float = _setting(0.0, "train", "decoupled weight decay: w -= learning_rate * weight_decay * w "
                                                  "per step (biases, norm scales and offsets excluded)")
    label_smoothing: float = _setting(0.0, "train", "label smoothing of the hard-label cross-entropy")
    ema_momentum: float = _setting(0.0, "train", "exponential moving average of the weights, updated every step with "
                                                 "this momentum, is what validation scores and checkpoints keep "
                                                 "(0 = off; 0.99 averages over ~100 steps)")
    lr_schedule: str = _setting("constant", "train", f"learning-rate schedule: {'|'.join(LR_SCHEDULES)}")
    lr_warmup_epochs: float = _setting(0.0, "train", "linear warm-up from 0 over this many epochs (any schedule)")
    lr_min: float = _setting(0.0, "train", "floor of the cosine and plateau schedules")
    lr_plateau_factor: float = _setting(0.5, "train", "plateau: multiply the rate by this ...")
    lr_plateau_patience: int = _setting(3, "train", "... after this many epochs without a better val. accuracy")
    lr_step_epochs: list[int] = _setting([], "train", "steps: epochs at which the rate drops")
    lr_step_factor: float = _setting(0.1, "train", "steps: factor applied at each drop")
    lr_step_values: list[float] = _setting([], "train", "steps: explicit rates after each drop (instead of the factor)")
    distill_temperature: float = _setting(2.0, "train", "distillation temperature T")
    distill_weight: float = _setting(0.5, "train", "distillation weight w: (1-w) CE + w T^2 KL")
    negative_weight: float = _setting(1.0, "train", "loss weight of the samples whose label is _silence_ or "
                                                    "_unknown_ (a false accept costs this many times a miss; "
                                                    "1 = none), reached after negative_weight_ramp_epochs")
    negative_weight_ramp_epochs: int = _setting(0, "train", "the negative weight rises linearly from 1 over this "
                                                            "many epochs (0 = from the first step)")


def _spec():
    """{name: (type, default, group, help)} of every setting, augmentation included."""
    spec = {}
    for settings_type in (Settings, AugmentSettings):
        hints = typing.get_type_hints(settings_type)
        for f in dataclasses.fields(settings_type):
            if f.name in spec:
                raise RuntimeError(f"{settings_type.__name__}.{f.name} clashes with another setting of the same name")
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            spec[f.name] = (hints[f.name], default, f.metadata["group"], f.metadata["help"])
    return spec


def defaults():
    """{name: default value} of every setting."""
    return {name: default for name, (_, default, _, _) in _spec().items()}


def _coerce(name, value, kind, where):
    """`value` as the setting's type, or a SettingsError naming `where` and the key."""
    def fail(expected):
        raise SettingsError(f"{where}: setting {name!r} must be {expected}, got {value!r}")

    origin = typing.get_origin(kind) or kind
    if kind is bool:
        return value if isinstance(value, bool) else fail("true or false")
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else fail("an integer")
    if kind is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else fail("a number")
    if kind is str:
        return value if isinstance(value, str) else fail("a string")
    if kind is dict:
        return dict(value) if isinstance(value, dict) else fail("a table")
    if origin in (list, tuple):
        items = [value] if isinstance(value, str) else value  # 'all' or one folder without brackets
        if not isinstance(items, (list, tuple)):
            fail("a list")
        if origin is list and typing.get_args(kind)[0] is str:
            items = [item for item in items if item != ""]  # '' on the command line: none
        item_type = typing.get_args(kind)[0] if origin is list else float  # tuples: augmentation ranges
        coerced = [_coerce(name, item, item_type, where) for item in items]
        return coerced if origin is list else tuple(coerced)
    raise RuntimeError(f"setting {name!r} has an unsupported type {kind!r}")


def _flatten_toml(table, path, spec, flat, group=None):
    """Collects {setting: value} from the top level and the TABLES of a TOML file; keys must be unique settings."""
    for key, value in table.items():
        where = f"{group}.{key}" if group else key
        if isinstance(value, dict) and not (key in spec and spec[key][0] is dict):
            if group is not None or key not in TABLES:
                raise SettingsError(f"{path}: unknown table [{where}]; tables are named {', '.join(TABLES)} "
                                    "(and [model_params], the model builder's parameters)")
            _flatten_toml(value, path, spec, flat, group=key)  # a group such as [model]
        elif key in spec:
            if key in flat:
                raise SettingsError(f"{path}: setting {key!r} appears more than once")
            flat[key] = _coerce(key, value, spec[key][0], path)
        else:
            raise SettingsError(f"{path}: unknown setting {where!r} (see `python train.py --help`)")


def load_experiment(path):
    """{setting: value} of an experiment TOML file, checked (names and types)."""
    try:
        with open(path, "rb") as f:
            content = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{path}: malformed TOML ({e})") from e
    except OSError as e:
        raise SettingsError(f"{path}: cannot read ({e.strerror or e})") from e
    flat = {}
    _flatten_toml(content, path, _spec(), flat)
    return flat


def _parse_param(text):
    """KEY=VALUE with VALUE a TOML literal (0.25, true, "logmel", [1, 2]) or else a bare string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value


def add_arguments(parser, names=None):
    """One `--<name>` flag per setting, or per setting in `names` (default SUPPRESS: only given flags
    override; `resolve` fills in the rest)."""
    groups = {}
    for name, (kind, default, group, help_text) in _spec().items():
        if names is not None and name not in names:
            continue
        if group not in groups:
            groups[group] = parser.add_argument_group(f"{group} settings")
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        options = {"default": argparse.SUPPRESS, "help": f"{help_text} (default: {shown})".replace("%", "%%")}
        origin = typing.get_origin(kind) or kind
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif kind is dict:
            options.update(nargs="+", type=_parse_param, metavar="KEY=VALUE")
        elif origin is list:
            options.update(nargs="*", type=typing.get_args(kind)[0])
        elif origin is tuple:  # the augmentation ranges: [low, high]
            options.update(nargs=len(default), type=float, metavar=("LOW", "HIGH")[:len(default)] or None)
        else:
            options["type"] = kind
        groups[group].add_argument(f"--{name}", **options)


def resolve(experiment_values, args, base=None):
    """Settings {name: value}: `base` (default: the defaults) < experiment values < given flags."""
    spec = _spec()
    resolved = dict(base if base is not None else defaults())
    resolved.update(experiment_values)
    for name in spec:
        if name in vars(args):
            value = getattr(args, name)
            if spec[name][0] is dict:
                value = {**resolved[name], **dict(value)}
            resolved[name] = _coerce(name, value, spec[name][0], f"--{name}")
    return resolved


def given_flags(args):
    """Names of the settings given on the command line."""
    return [name for name in _spec() if name in vars(args)]


def augment_settings(values):
    """The AugmentSettings of resolved settings."""
    return AugmentSettings(**{f.name: values[f.name] for f in dataclasses.fields(AugmentSettings)})


def check(values):
    """Raises SettingsError for values that no training could use."""
    choices = {"optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES, "strategy": STRATEGIES}
    for name, allowed in choices.items():
        if values[name] not in allowed:
            raise SettingsError(f"setting {name!r} must be one of {', '.join(allowed)}, got {values[name]!r}")
    for name in ("epochs", "batch_size", "loader_threads"):
        if values[name] < 1:
            raise SettingsError(f"setting {name!r} must be >= 1, got {values[name]}")
    bounded = {"label_smoothing": (0.0, 1.0), "distill_weight": (0.0, 1.0), "pseudo_ratio": (0.0, 1.0),
               "batch_norm_momentum": (0.0, 1.0), "ema_momentum": (0.0, 1.0)}
    for name, (low, high) in bounded.items():
        if not low <= values[name] <= high:
            raise SettingsError(f"setting {name!r} must be in [{low}, {high}], got {values[name]}")
    if values["learning_rate"] <= 0 or values["distill_temperature"] <= 0 or values["negative_weight"] <= 0:
        raise SettingsError("learning_rate, distill_temperature and negative_weight must be > 0")
    if values["negative_weight_ramp_epochs"] < 0:
        raise SettingsError(f"setting 'negative_weight_ramp_epochs' must be >= 0, got {values['negative_weight_ramp_epochs']}")
    if values["lr_step_values"] and len(values["lr_step_values"]) != len(values["lr_step_epochs"]):
        raise SettingsError("lr_step_values needs one rate per lr_step_epochs entry")
    if not values["data_dir"] or not values["wanted_words"]:
        raise SettingsError("data_dir and wanted_words need at least one value")
    if values["teacher_probs"] and values["teacher_runs"]:
        raise SettingsError("teacher_probs and teacher_runs are two ways to give a teacher: use one")
    check_clip_duration(values["clip_duration_ms"])
    try:
        augment = augment_settings(values)
    except ValueError as e:
        raise SettingsError(str(e)) from e
    check_time_shift(augment, values["clip_duration_ms"])


def clip_samples(values):
    """Samples per clip of resolved settings (the model's input length)."""
    return audio.clip_samples(values["clip_duration_ms"])


def wanted_words_argument(values):
    """wanted_words as input_data.AudioProcessor takes it ('all' or a list)."""
    words = values["wanted_words"]
    return "all" if words == ["all"] else list(words)


def config_sections(values):
    """{"model", "data", "train"} sections of config.json (seed is stored at the top level)."""
    spec = _spec()
    sections = {"model": {"name": values["model"], "params": values["model_params"]},
                "data": {"augment": {}}, "train": {}}
    for name, (_, _, group, _) in spec.items():
        if name in ("seed", "model", "model_params"):
            continue
        value = list(values[name]) if isinstance(values[name], tuple) else values[name]
        if group == "augment":
            sections["data"]["augment"][name] = value
        else:
            sections["data" if group == "data" else "train"][name] = value
    return sections


def settings_from_config(config, path):
    """Settings {name: value} stored in a run's config.json (see `config_sections`)."""
    spec = _spec()
    model = config.get("model", {})
    stored = {"seed": config.get("seed"), "model": model.get("name"), "model_params": model.get("params")}
    stored = {name: value for name, value in stored.items() if value is not None}  # absent: the default
    stored.update(config.get("train", {}))
    stored.update({k: v for k, v in config.get("data", {}).items() if k != "augment"})
    stored.update(config.get("data", {}).get("augment", {}))
    values = defaults()
    for name, value in stored.items():
        if name not in spec:
            raise SettingsError(f"{path}: unknown setting {name!r} (written by another version of train.py?)")
        values[name] = _coerce(name, value, spec[name][0], path)
    return values
