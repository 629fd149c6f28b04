"""input_data.py: splits, folder forms, cache, augmentation, determinism, pseudo labels, teacher targets."""

import hashlib
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from kws.data import audio
from kws.data import corpus as layout  # "corpus" names the test corpus here
from kws.data import input_data
from kws.data import labels
from kws.data import samples
from kws.training.settings import AugmentSettings

SR = audio.SAMPLE_RATE
CLIP = audio.CLIP_SAMPLES
WORDS = ("yes", "no", "up", "cat", "dog")
WANTED = ["yes", "no", "up"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_AUGMENT = {"background_frequency": 0.0, "volume_range": (1.0, 1.0), "time_shift_ms": 0.0}


def tone(frequency_hz, amplitude=0.3):
    t = np.arange(CLIP) / SR
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def make_corpus(root, words=WORDS, speakers=30, clip_fn=None, noise=True):
    """root/<word>/spkNNN_nohash_0.wav (a tone per word unless clip_fn) and two noise files."""
    for w, word in enumerate(words):
        (root / word).mkdir(parents=True)
        for s in range(speakers):
            samples = clip_fn(word, s) if clip_fn else tone(300 + 100 * w)
            audio.write_wav(str(root / word / f"spk{s:03d}_nohash_0.wav"), samples)
    if noise:
        noise_dir = root / labels.BACKGROUND_NOISE_DIR
        noise_dir.mkdir()
        white = np.random.default_rng(0).normal(0.0, 0.1, 3 * SR)
        audio.write_wav(str(noise_dir / "white.wav"), np.clip(white, -1, 1))
        audio.write_wav(str(noise_dir / "hum.wav"), tone(50, 0.2)[:SR // 2])  # shorter than a clip: tiled
    return root


def processor(root, **kwargs):
    settings = dict(wanted_words=WANTED, validation_percentage=20.0, testing_percentage=20.0, progress=False)
    settings.update(kwargs)
    return input_data.AudioProcessor([str(root)], **settings)


def all_batches(ds):
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return np.concatenate(xs), np.concatenate(ys)


def rms(x):
    return np.sqrt(np.mean(np.square(x.astype(np.float64)), axis=-1))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "train")


def tutorial_which_set(filename, validation_percentage, testing_percentage):
    """The tutorial's rule written out independently: sha1 of the speaker, mod 2**27, scaled."""
    speaker = os.path.basename(filename).split("_nohash_")[0]
    value = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16) % 2 ** 27
    percentage = value * (100.0 / (2 ** 27 - 1))
    if percentage < validation_percentage:
        return "validation"
    return "testing" if percentage < validation_percentage + testing_percentage else "training"


def test_which_set_known_answers():
    names = ["0a7c2a8d_nohash_0.wav", "yes/0a7c2a8d_nohash_1.wav", "bed/988e2f9a_nohash_0.wav",
             "clip_0a1b2c3d.wav", "spk001_nohash_3.wav", "sprecher_ü_nohash_0.wav"]
    names += [f"{i:08x}_nohash_0.wav" for i in range(0, 3000, 7)]
    for percentages in [(10, 10), (20, 10), (0, 0), (50, 50), (5, 30)]:
        for name in names:
            assert layout.which_set(name, *percentages) == tutorial_which_set(name, *percentages), name
    # speaker-level: every clip of a speaker lands together; proportions follow the percentages
    assert len({layout.which_set(f"{w}/0a7c2a8d_nohash_{i}.wav", 10, 10) for w in WORDS for i in range(4)}) == 1
    sets = [layout.which_set(f"{i:08x}_nohash_0.wav", 10, 10) for i in range(3000)]
    assert abs(sets.count("validation") / 3000 - 0.1) < 0.02 and abs(sets.count("testing") / 3000 - 0.1) < 0.02


def test_which_set_puts_official_v002_test_speakers_in_testing(real_train_dir):
    # The five v0.02-only words of the shared data come from the official v0.02 testing list,
    # which the dataset built with this rule at 10/10: an external known answer.
    for word in ("backward", "follow", "forward", "learn", "visual"):
        for name in os.listdir(os.path.join(real_train_dir, word)):
            assert layout.which_set(f"{word}/{name}", 10, 10) == "testing", name


def test_shared_data_list_files_honoured(real_train_dir, capsys):
    report = input_data.main([real_train_dir, "--json"])
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(report))
    assert [report["splits"][s]["clips"] for s in layout.SPLITS] == [1545, 366, 382]
    assert report["data_dirs"][0]["split_by"] == "list files"
    assert report["speakers_disjoint"] and report["unreadable"] == []
    assert report["noise"]["files"] == 7 and report["noise"]["seconds"] > 500


def test_hash_splits_are_speaker_disjoint_and_complete(corpus):
    ap = processor(corpus)
    speakers = {s: {layout.speaker_of(k) for k, _, _ in ap.clips(s)} for s in layout.SPLITS}
    assert all(speakers.values()), "every split should have speakers in this corpus"
    assert not (speakers["training"] & speakers["validation"]) and not (speakers["training"] & speakers["testing"])
    assert not (speakers["validation"] & speakers["testing"]) and ap.speakers_in_several_splits == []
    assert sum(len(ap.clips(s)) for s in layout.SPLITS) == 30 * len(WORDS)
    for split in layout.SPLITS:
        for key, _, label_index in ap.clips(split):
            assert layout.which_set(key, 20, 20) == split
            word = key.split("/")[0]
            assert ap.labels[label_index] == (word if word in WANTED else labels.UNKNOWN_LABEL)


def write_lists(folder, validation, testing):
    (folder / "validation_list.txt").write_text("".join(f"{e}\n" for e in validation))
    (folder / "testing_list.txt").write_text("".join(f"{e}\n" for e in testing))


def test_three_folder_forms_and_list_files(tmp_path, caplog):
    validation = [f"{w}/spk00{s}_nohash_0.wav" for w in WORDS for s in range(3)] + ["yes/ghost_nohash_0.wav"]
    testing = [f"{w}/spk00{s}_nohash_0.wav" for w in WORDS for s in range(3, 6)]
    make_corpus(tmp_path / "kaggle" / "audio", speakers=8)
    write_lists(tmp_path / "kaggle", validation, testing)
    make_corpus(tmp_path / "tarball", speakers=8)
    write_lists(tmp_path / "tarball", validation, testing)
    forms = [tmp_path / "kaggle", tmp_path / "kaggle" / "audio", tmp_path / "tarball"]
    results = []
    for folder in forms:
        ap = processor(folder)
        assert ap.folders[0].split_by == "list files"
        assert ap.folders[0].missing_list_entries == ["yes/ghost_nohash_0.wav"]
        assert len(ap.noise) == 2
        results.append({s: [(k, i) for k, _, i in ap.clips(s)] for s in layout.SPLITS})
    assert results[0] == results[1] == results[2]
    assert sorted(k for k, _ in results[0]["validation"]) == sorted(validation[:-1])
    assert sorted(k for k, _ in results[0]["testing"]) == sorted(testing)
    assert len(results[0]["training"]) == 2 * len(WORDS)
    assert "no file" in caplog.text


def test_list_files_that_split_a_speaker_are_reported(tmp_path, caplog):
    make_corpus(tmp_path / "train", speakers=6)
    write_lists(tmp_path / "train", ["cat/spk005_nohash_0.wav"], [f"{w}/spk004_nohash_0.wav" for w in WORDS])
    ap = processor(tmp_path / "train")
    assert ap.speakers_in_several_splits == ["spk005"]
    assert "more than one split" in caplog.text
    report = input_data.describe(ap)
    assert not report["speakers_disjoint"] and report["speakers_in_several_splits"] == ["spk005"]


def test_training_epoch_label_proportions(corpus):
    ap = processor(corpus, silence_percentage=20.0, unknown_percentage=30.0)
    composition = ap.composition("training")
    n_words = composition["words"]
    assert composition == {"words": n_words, "unknown": math.ceil(n_words * 0.3),
                           "silence": math.ceil(n_words * 0.2)}
    ds = ap.dataset("training", batch_size=16)
    assert len(ds) == math.ceil(ap.split_size("training") / 16)
    ds.set_epoch(1)
    x, y = all_batches(ds)
    assert x.shape == (ap.split_size("training"), CLIP) and x.dtype == np.float32 and y.dtype == np.int32
    counts = np.bincount(y, minlength=len(ap.labels))
    assert counts[input_data.SILENCE_INDEX] == composition["silence"]
    assert counts[input_data.UNKNOWN_INDEX] == composition["unknown"]
    for word in WANTED:  # every wanted-word clip exactly once per epoch
        index = ap.labels.index(word)
        assert counts[index] == sum(1 for _, _, i in ap.clips("training") if i == index)
    assert np.abs(x).max() <= 1.0


def test_unknown_slots_draw_from_the_whole_pool(corpus):
    ap = processor(corpus, unknown_percentage=30.0)
    pool = {p for _, p, i in ap.clips("training") if i == input_data.UNKNOWN_INDEX}
    drawn = set()
    for epoch in range(6):
        for batch in range(math.ceil(ap.split_size("training") / 16)):
            plan = ap.training_plan(epoch, batch, 16)
            unknown_rows = plan.rows[plan.label == input_data.UNKNOWN_INDEX]
            drawn |= {ap._paths[r] for r in unknown_rows}
    assert drawn <= pool and len(drawn) > len(pool) / 2


def ramp(word, speaker):
    return np.linspace(-0.5, 0.5, CLIP).astype(np.float32)


@pytest.mark.parametrize("circular", [False, True])
def test_time_shift(tmp_path, circular):
    root = make_corpus(tmp_path / "train", words=("yes", "no"), speakers=10, clip_fn=ramp)
    augment = dict(NO_AUGMENT, time_shift_ms=100.0, circular_shift=circular)
    ap = processor(root, wanted_words=["yes", "no"], silence_percentage=0.0, augment=augment)
    ds = ap.dataset("training", batch_size=8)
    reference = audio.int16_to_float(audio.float_to_int16(ramp(None, None)))
    shifts = []
    for batch in range(len(ds)):
        plan = ap.training_plan(0, batch, 8)
        x, _ = ds[batch]
        for row, shift in zip(x, plan.shift):
            if circular:
                expected = np.roll(reference, shift)
            else:
                expected = np.zeros(CLIP, np.float32)
                expected[max(shift, 0):CLIP + min(shift, 0)] = reference[max(-shift, 0):CLIP - max(shift, 0)]
            np.testing.assert_array_equal(row, expected)
            shifts.append(shift)
    assert max(np.abs(shifts)) <= SR // 10 and min(shifts) < 0 < max(shifts)


def test_background_noise_level_bounds(tmp_path):
    root = make_corpus(tmp_path / "train", words=("yes", "no"), speakers=30,
                       clip_fn=lambda w, s: np.zeros(CLIP, np.float32))
    augment = dict(NO_AUGMENT, background_frequency=0.5, background_volume_range=(0.0, 0.1))
    ap = processor(root, wanted_words=["yes", "no"], silence_percentage=0.0, augment=augment)
    noisy_rows = total = 0
    for epoch in range(5):
        for batch in range(math.ceil(ap.split_size("training") / 16)):
            plan = ap.training_plan(epoch, batch, 16)
            x = ap.render(plan)
            for r in range(len(x)):
                total += 1
                if plan.noise_file[r] < 0:
                    assert not x[r].any()
                    continue
                noisy_rows += 1
                noise = ap.noise[plan.noise_file[r]][plan.noise_start[r]:plan.noise_start[r] + CLIP]
                assert len(noise) == CLIP and 0 <= plan.noise_gain[r] <= 0.1
                np.testing.assert_allclose(x[r], plan.noise_gain[r] * noise, atol=1e-6)
                assert np.abs(x[r]).max() <= 0.1 * np.abs(noise).max() + 1e-6
    assert abs(noisy_rows / total - 0.5) < 0.15


def test_silence_samples_are_noise_at_the_configured_rms(corpus):
    augment = {"silence_volume_range": (0.01, 0.2)}
    ap = processor(corpus, silence_percentage=100.0, augment=augment)
    ds = ap.dataset("training", batch_size=32)
    levels = []
    for epoch in range(3):
        ds.set_epoch(epoch)
        x, y = all_batches(ds)
        levels += list(rms(x[y == input_data.SILENCE_INDEX]))
    assert 0.01 * 0.99 <= min(levels) and max(levels) <= 0.2 * 1.01
    assert min(levels) < 0.03 and max(levels) > 0.1  # log-uniform: quiet and loud
    val = ap.dataset("validation", batch_size=32)
    x, y = all_batches(val)
    silence = rms(x[y == input_data.SILENCE_INDEX])
    assert len(silence) == ap.composition("validation")["silence"] > 0
    assert silence.min() >= 0.01 * 0.99 and silence.max() <= 0.2 * 1.01  # real noise, not zeros


def test_training_batches_are_a_pure_function_of_seed_epoch_batch(corpus):
    first = processor(corpus, seed=3).dataset("training", batch_size=16)
    first.set_epoch(2)
    in_order = [first[i] for i in range(4)]
    alone = processor(corpus, seed=3).dataset("training", batch_size=16)
    alone.set_epoch(2)
    for i in (3, 1):
        np.testing.assert_array_equal(alone[i][0], in_order[i][0])
        np.testing.assert_array_equal(alone[i][1], in_order[i][1])
    alone.start_batch = 3
    assert len(alone) == len(first) - 3
    np.testing.assert_array_equal(alone[0][0], in_order[3][0])
    alone.set_epoch(2)
    assert alone.start_batch == 3  # same epoch: the resume point stays
    alone.set_epoch(3)
    assert alone.start_batch == 0 and len(alone) == len(first)
    assert not np.array_equal(alone[0][0], in_order[0][0])  # another epoch, another batch
    other_seed = processor(corpus, seed=4).dataset("training", batch_size=16)
    other_seed.set_epoch(2)
    assert not np.array_equal(other_seed[0][0], in_order[0][0])


def test_validation_is_fixed_and_includes_the_last_partial_batch(corpus):
    a = processor(corpus, seed=5).dataset("validation", batch_size=7)
    b = processor(corpus, seed=5).dataset("validation", batch_size=7)
    b.set_epoch(9)  # the epoch does not matter for validation
    n = a.processor.split_size("validation")
    assert n % 7 and len(a) == math.ceil(n / 7) and len(a[len(a) - 1][1]) == n % 7
    xa, ya = all_batches(a)
    xb, yb = all_batches(b)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, a.labels_array())
    np.testing.assert_array_equal(yb, ya)
    assert len(ya) == n


def test_pseudo_labels_mixing_and_mapping(tmp_path):
    root = make_corpus(tmp_path / "train", words=("yes", "no", "cat"), speakers=20)
    pseudo_dir = tmp_path / "pseudo"
    pseudo_dir.mkdir()
    written = ["yes", "silence", "_unknown_", "cat", "left", "_silence_", "no", "unknown"]
    for i in range(len(written)):
        audio.write_wav(str(pseudo_dir / f"clip_{i:04x}.wav"), np.full(CLIP, 0.9, np.float32))
    rows = [f"{'' if i % 2 else str(pseudo_dir) + os.sep}clip_{i:04x}.wav,{label}" for i, label in enumerate(written)]
    (pseudo_dir / "pseudo.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    ap = processor(root, wanted_words=["yes", "no"], silence_percentage=0.0, augment=NO_AUGMENT,
                   pseudo_labels=str(pseudo_dir / "pseudo.csv"), pseudo_probability=0.3)
    expected = ["yes", "_silence_", "_unknown_", "_unknown_", "_unknown_", "_silence_", "no", "_unknown_"]
    assert [ap.labels[i] for _, _, i in ap.pseudo_clips()] == expected
    assert [k for k, _, _ in ap.pseudo_clips()] == [f"clip_{i:04x}.wav" for i in range(len(written))]
    ds = ap.dataset("training", batch_size=32)
    pseudo = total = 0
    for epoch in range(8):
        ds.set_epoch(epoch)
        x, y = all_batches(ds)
        is_pseudo = np.isclose(x.max(axis=1), 0.9, atol=1e-3)
        pseudo, total = pseudo + is_pseudo.sum(), total + len(x)
        assert set(ap.labels[i] for i in y[is_pseudo]) <= set(expected)
    assert abs(pseudo / total - 0.3) < 0.07
    ds.set_epoch(0, pseudo_probability=0.0)
    assert not np.isclose(all_batches(ds)[0].max(axis=1), 0.9, atol=1e-3).any()
    ds.set_epoch(0, pseudo_probability=1.0)
    assert np.isclose(all_batches(ds)[0].max(axis=1), 0.9, atol=1e-3).all()


def test_missing_pseudo_files_are_a_clear_error(corpus, tmp_path):
    csv_path = tmp_path / "pseudo.csv"
    csv_path.write_text("path,label\nnowhere/clip_1.wav,yes\n")
    with pytest.raises(ValueError, match=r"pseudo\.csv.*do not exist.*nowhere/clip_1\.wav"):
        processor(corpus, pseudo_labels=str(csv_path))
    csv_path.write_text("file,label\nx.wav,yes\n")
    with pytest.raises(ValueError, match="path,label"):
        processor(corpus, pseudo_labels=str(csv_path))


def test_teacher_targets_are_packed(corpus):
    base = processor(corpus)
    c = len(base.labels)
    teacher = {}
    for key, _, label_index in base.clips("training")[1:]:  # the first clip has no teacher
        teacher[key] = np.full(c, 0.2 / (c - 1), np.float32)
        teacher[key][label_index] = 0.8
    ap = processor(corpus, teacher_probs=teacher)
    ds = ap.dataset("training", batch_size=16)
    _, y = all_batches(ds)
    assert y.shape == (ap.split_size("training"), 2 * c + 1) and y.dtype == np.float32
    hard, soft, mask = y[:, :c], y[:, c:2 * c], y[:, 2 * c]
    np.testing.assert_array_equal(hard.sum(axis=1), 1.0)
    silence = hard.argmax(axis=1) == input_data.SILENCE_INDEX
    assert (mask[silence] == 0).all() and not soft[silence].any()
    with_teacher = mask == 1
    assert with_teacher.sum() >= ap.composition("training")["words"] - 1
    np.testing.assert_array_equal(soft[with_teacher].argmax(axis=1), hard[with_teacher].argmax(axis=1))
    assert not soft[mask == 0].any()
    assert ap.dataset("validation", batch_size=16)[0][1].dtype == np.int32  # packing is for training only
    with pytest.raises(ValueError, match="shape"):
        processor(corpus, teacher_probs={base.clips("training")[0][0]: np.ones(3)})


def test_an_online_teacher_labels_every_rendered_training_sample(corpus):
    ap = processor(corpus)
    c = len(ap.labels)

    def teacher(x):  # depends on the rendered audio: each sample's own loudness decides
        loud = (np.abs(x).max(axis=1) > 0.3).astype(np.float32)
        return np.stack([1.0 - loud, loud] + [np.zeros(len(x), np.float32)] * (c - 2), axis=1)

    ap.set_teacher_function(teacher)
    ds = ap.dataset("training", batch_size=16)
    ds.set_epoch(2)
    x, y = ds[1]
    assert y.shape == (len(x), 2 * c + 1)
    np.testing.assert_array_equal(y[:, c:2 * c], teacher(x))  # the samples as the student sees them
    assert (y[:, 2 * c] == 1).all()  # silence samples too
    np.testing.assert_array_equal(y[:, :c].argmax(axis=1), ap.training_plan(2, 1, 16).label)
    assert ap.dataset("validation", batch_size=16)[0][1].dtype == np.int32


def test_unreadable_clips_are_skipped_counted_and_the_cache_stays_aligned(tmp_path, capsys):
    root = make_corpus(tmp_path / "train", words=("yes", "no", "cat"), speakers=12,
                       clip_fn=lambda w, s: tone(200 + 50 * s + 7 * len(w)))
    (root / "no" / "aaa_nohash_0.wav").write_bytes(b"not a wav at all")
    (root / "yes" / "spk003_nohash_1.wav").write_bytes(b"")
    ap = processor(root, wanted_words=["yes", "no"], validation_percentage=30.0, testing_percentage=30.0)
    assert sorted(os.path.basename(p) for p, _ in ap.unreadable) == ["aaa_nohash_0.wav", "spk003_nohash_1.wav"]
    assert sum(len(ap.clips(s)) for s in layout.SPLITS) == 3 * 12
    for split in ("validation", "testing"):
        plan = ap.eval_plan(split)
        x = ap.render(plan)
        for r in np.flatnonzero(plan.rows >= 0):  # each cached row still holds its own file
            np.testing.assert_array_equal(x[r], audio.load_clip(ap._paths[plan.rows[r]]))
    report = input_data.main([str(root), "--json", "--wanted_words", "yes", "no"])
    capsys.readouterr()
    assert len(report["unreadable"]) == 2 and "empty file" in json.dumps(report["unreadable"])


def test_describe_output(corpus, capsys):
    report = input_data.main([str(corpus), "--json", "--wanted_words", "yes", "no", "up",
                              "--validation_percentage", "20", "--testing_percentage", "20"])
    printed = json.loads(capsys.readouterr().out)
    ap = processor(corpus)
    for split in layout.SPLITS:
        assert printed["splits"][split]["clips"] == len(ap.clips(split))
        assert printed["splits"][split]["samples_per_pass"] == ap.split_size(split)
        assert sum(printed["splits"][split]["words"].values()) == len(ap.clips(split))
    assert printed["labels"] == labels.model_labels(WANTED) and printed["speakers_disjoint"]
    assert printed["noise"] == {"files": 2, "seconds": 4.0, "paths": report["noise"]["paths"]}
    assert printed["cache_bytes"] == 150 * input_data.CLIP_BYTES
    input_data.main([str(corpus), "--wanted_words", "all"])
    text = capsys.readouterr().out
    assert "speaker-disjoint" in text and "noise files: 2" in text and "dog" in text


def test_describing_a_corpus_loads_no_tensorflow_until_a_dataset_is_made(corpus):
    # A fresh interpreter in which importing TensorFlow (or Keras, JAX, torch) fails: `python input_data.py
    # DIR` must run where TensorFlow is slow or absent; only the Keras dataset needs it. (This interpreter
    # has TensorFlow from other tests; starting it in the child would cost seconds.)
    script = f"""if True:
        import json, sys
        sys.modules.update(dict.fromkeys(['tensorflow', 'keras', 'jax', 'torch']))  # an import of any fails
        from kws.data import input_data
        report = input_data.main([{str(corpus)!r}, '--json', '--wanted_words', 'yes', 'no', 'up'])
        values = {{**input_data.settings.defaults(), 'data_dir': [{str(corpus)!r}], 'wanted_words': ['yes', 'no']}}
        try:
            input_data.AudioProcessor.from_settings(values, progress=False).dataset('validation', 8)
            refused = None
        except ImportError as error:
            refused = str(error)
        print(json.dumps({{'clips': sum(s['clips'] for s in report['splits'].values()), 'dataset': refused}}))
    """
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["clips"] == 150
    assert outcome["dataset"] and ("keras" in outcome["dataset"] or "tensorflow" in outcome["dataset"])
    import keras  # the dataset itself, where TensorFlow is

    dataset = processor(corpus, wanted_words=["yes", "no"]).dataset("validation", 8)
    assert isinstance(dataset, keras.utils.PyDataset) and dataset[0][0].shape[1] == CLIP


def test_wanted_words_all_and_errors(corpus):
    ap = processor(corpus, wanted_words="all")
    assert ap.labels == labels.model_labels(sorted(WORDS)) and ap.composition("training")["unknown"] == 0
    with pytest.raises(ValueError, match="left"):
        processor(corpus, wanted_words=["yes", "left"])
    with pytest.raises(ValueError, match="no readable clips"):
        processor(corpus, wanted_words=None)  # the 10 command words are not all in this corpus


def test_several_data_folders_and_their_noise(corpus, tmp_path):
    extra = make_corpus(tmp_path / "extra", words=("yes",), speakers=4, noise=False)
    (extra / labels.BACKGROUND_NOISE_DIR).mkdir()
    audio.write_wav(str(extra / labels.BACKGROUND_NOISE_DIR / "tap.wav"), tone(80, 0.1))
    (extra / "yes" / "spk000_nohash_0.wav").rename(extra / "yes" / "other_nohash_0.wav")
    ap = input_data.AudioProcessor([str(corpus), str(extra)], wanted_words=WANTED, progress=False)
    assert sum(len(ap.clips(s)) for s in layout.SPLITS) == 150 + 4 and len(ap.noise) == 3


def test_speed_change_and_augment_settings(corpus):
    impulse = np.zeros(CLIP, np.float32)
    impulse[CLIP // 2] = 1.0
    np.testing.assert_array_equal(samples.change_speed(impulse, 1.0), impulse)
    ramp_clip = ramp(None, None)
    faster = samples.change_speed(ramp_clip, 1.25)
    assert faster[0] == 0 and faster[-1] == 0 and np.all(np.diff(faster[3000:13000]) > 0)
    ap = processor(corpus, augment={"speed_probability": 1.0, "speed_range": [0.8, 1.2]})
    x, _ = ap.dataset("training", batch_size=8)[0]
    assert np.isfinite(x).all() and np.abs(x).max() <= 1.0
    settings = AugmentSettings.from_dict({"volume_range": [0.5, 1.5], "circular_shift": True})
    assert settings.volume_range == (0.5, 1.5)
    assert AugmentSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="backround_frequency"):
        AugmentSettings.from_dict({"backround_frequency": 0.5})
    with pytest.raises(ValueError, match="probability"):
        AugmentSettings(background_frequency=1.5)
