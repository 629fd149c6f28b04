"""A small ctypes binding to eSpeak NG, as shipped by the pip package `espeakng-loader`.

`espeakng_loader` carries `libespeak-ng.so` and its `espeak-ng-data` folder, so no system package
is needed. The engine is driven through its C API in synchronous mode: `espeak_Synth` runs the
synthesis in the calling thread and hands the 16-bit samples to a callback.

    engine = espeak.Engine()                       # loads and initialises the library once
    samples = engine.synthesize("yes?", voice="en-us+f2", rate_wpm=160, pitch=55, pitch_range=60)
    engine.sample_rate                             # 22050
    engine.synthesize("[[h@l'oU]]", voice="en-us")  # phoneme mnemonics inside [[ ]] (espeakPHONEMES)
    engine.voices()                                # every voice: Voice(name, identifier, languages, gender)
    engine.phonemes("licht an", voice="de")        # [["l", "'I", "C", "t"], ["_|", "'a", "n"]]: words of mnemonics

    FreshProcessPool(target, chunks, target_args, workers=2, timeout_s=20, progress=bar).run()

Determinism: the library keeps state between calls (function-static pitch-flutter counters,
waveform phase, echo and filter memories), so the same call gives slightly different samples each
time within one process (measured: differing lengths and bytes for every voice, even with the
random generator reseeded). Its random generator (breath noise of voices such as f5, whisperf,
Alicia) is seeded from the clock at initialisation, so `synthesize` reseeds it with its `seed`
argument. A fresh process replaying the same sequence of calls then gives the same bytes, which
is how `make_synthetic_dataset.py` uses this module. The library is also not thread-safe: one
`Engine` per process at a time (a second one re-initialises the library; each sets its callback
before it synthesises, so none calls into a collected one).

Hangs: an eSpeak call has been seen to block forever inside the library. `FreshProcessPool` runs
each chunk of work in a new process forked from a server that never synthesised (multiprocessing's
"forkserver"; "spawn" where there is no fork), at most `workers` at a time; a process that reports
no progress for `timeout_s` is killed and its chunk rerun from the start in a new process (same
calls from the same fresh state, so the same bytes). After `MAX_HANGS` hangs on one item, the rerun
asks the target to render that item "plainly" (the caller's safer fallback); a second `MAX_HANGS`
stops the run with an error naming the item. A target is called as
`target(items, attempt, plain_indexes, *target_args, conn)` and sends on `conn` ("ready",) once
started, ("done", index) after each item, ("finished", cpu_seconds) at the end, or ("error", text);
`cpu_s` sums the CPU time the finished chunks report.
"""

import collections
import ctypes
import dataclasses
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import sys
import time

import numpy as np

log = logging.getLogger(__name__)

# espeak_AUDIO_OUTPUT and flags from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PHONEMES = 0x100  # espeak_Synth flag: text inside [[ ]] is phoneme mnemonics
_PHONEME_SEPARATOR = "\t"  # between the mnemonics espeak_TextToPhonemes returns (a tab is in none of them)
# espeak_PARAMETER
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.c_void_p)


class _VoiceStruct(ctypes.Structure):
    """espeak_VOICE of speak_lib.h."""
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


@dataclasses.dataclass(frozen=True)
class Voice:
    """A voice eSpeak ships: `key` (its file name, lower case, what synthesize's `voice` takes: 'en-us',
    'fr-be'), its name ('French (Belgium)'), its languages in priority order ('fr-be', 'fr'), gender."""
    key: str
    name: str
    identifier: str  # path inside espeak-ng-data/voices, e.g. 'roa/fr-BE'
    languages: tuple
    gender: int  # 0 none, 1 male, 2 female


class EspeakError(RuntimeError):
    """The eSpeak NG library refused a call; the message names the call and its arguments."""


def _load_library():
    """The packaged libespeak-ng with argument types declared, and the path of its data folder."""
    import espeakng_loader  # only here: importing this module must not load the library

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    return lib, espeakng_loader.get_data_path()


class Engine:
    """One initialised eSpeak NG engine (synchronous output, samples returned as int16)."""

    def __init__(self):
        self._lib, data_path = _load_library()
        self.sample_rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(),
                                                       _INITIALIZE_DONT_EXIT)
        if self.sample_rate <= 0:
            raise EspeakError(f"espeak_Initialize failed for data folder {data_path}")
        self._chunks = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # kept referenced: the library calls it later
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples, events):
        if num_samples > 0:
            self._chunks.append(ctypes.string_at(wav, num_samples * 2))
        return 0  # 0 = continue synthesis

    def _check(self, status, call):
        if status != 0:
            raise EspeakError(f"{call} failed with eSpeak error code {status}")

    def synthesize(self, text, voice="en-us", rate_wpm=175, pitch=50, pitch_range=50, volume=100, seed=0):
        """Speech for `text` as int16 samples at `self.sample_rate` Hz.

        `voice` is a voice name with an optional variant ("en-gb-x-rp+m3"); `pitch` and `pitch_range`
        are eSpeak's 0-100 scales relative to the voice's own pitch; `rate_wpm` is words per minute;
        `seed` seeds the engine's random generator (breath noise) for this call. Text inside [[ ]] is
        read as phoneme mnemonics (the espeakPHONEMES flag is set only then: plain text is unaffected).
        """
        self._lib.espeak_ng_SetRandSeed(int(seed))
        self._check(self._lib.espeak_SetVoiceByName(voice.encode()), f"espeak_SetVoiceByName({voice!r})")
        for param, value in ((_PARAM_RATE, rate_wpm), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range),
                             (_PARAM_VOLUME, volume)):
            self._check(self._lib.espeak_SetParameter(param, int(value), 0), f"espeak_SetParameter({param}, {value})")
        data = text.encode("utf-8") + b"\0"
        self._chunks = []
        self._lib.espeak_SetSynthCallback(self._callback)  # another Engine of this process may have set its own
        flags = _CHARS_UTF8 | (_PHONEMES if "[[" in text else 0)
        self._check(self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, flags, None, None),
                    f"espeak_Synth({text!r})")
        samples = np.frombuffer(b"".join(self._chunks), dtype="<i2").astype(np.int16)
        self._chunks = []
        return samples

    def voices(self):
        """Every voice of the data folder (espeak_ListVoices), sorted by key."""
        array, found = self._lib.espeak_ListVoices(None), []
        for index in itertools.count():
            if not array[index]:
                break
            voice = array[index].contents
            languages, address = [], voice.languages
            while address and ctypes.c_ubyte.from_address(address).value:  # priority byte, then a C string
                language = ctypes.string_at(address + 1)
                languages.append(language.decode())
                address += 2 + len(language)
            identifier = voice.identifier.decode()
            found.append(Voice(identifier.rsplit("/", 1)[-1].lower(), voice.name.decode(), identifier,
                               tuple(languages), voice.gender))
        return sorted(found, key=lambda v: v.key)

    def phonemes(self, text, voice):
        """eSpeak's phoneme mnemonics for `text` in `voice`'s language: a list of words, each a list of
        phonemes (a stress mark stays on its phoneme: "'a"; pauses are "_" phonemes)."""
        self._check(self._lib.espeak_SetVoiceByName(voice.encode()), f"espeak_SetVoiceByName({voice!r})")
        buffer = ctypes.create_string_buffer(text.encode("utf-8") + b"\0")
        pointer, words = ctypes.c_char_p(ctypes.addressof(buffer)), []
        mode = ord(_PHONEME_SEPARATOR) << 8  # ASCII mnemonics, separated
        while pointer.value:  # one call per clause; the library advances the pointer (NULL at the end)
            clause = self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, mode) or b""
            words += [[p for p in word.split(_PHONEME_SEPARATOR) if p] for word in clause.decode().split(" ")]
        return [word for word in words if word]


MAX_HANGS = 3


@dataclasses.dataclass
class _Job:
    chunk: int
    attempt: int
    plain: frozenset  # item indexes to render plainly after repeated hangs
    process: object
    reader: object
    last_progress: float
    done: int = 0


def _start_method(preload):
    """forkserver: every worker is forked from a server process that never ran eSpeak.

    The server imports `preload` (and the main script) once, so a worker starts in milliseconds.
    Python 3.11's server ignores the parent's sys.path, so it gets it through PYTHONPATH while it
    starts; otherwise it fails to preload the project's modules (or dies on the main script) when
    the current folder is not the project's.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # fresh interpreters: slower to start, equally fresh
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", *preload])
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)
    try:
        multiprocessing.forkserver.ensure_running()  # no-op when the server already runs
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    return context


class FreshProcessPool:
    """Runs chunks in fresh processes, at most `workers` at once; one silent for `timeout_s` is killed and rerun.

    `progress` is anything with `update(n)` (a tqdm bar), told of every item done once.
    """

    def __init__(self, target, chunks, target_args, workers, timeout_s, progress, preload=()):
        self.target, self.chunks, self.target_args = target, chunks, target_args
        self.workers, self.timeout_s = workers, timeout_s
        self.progress, self.context = progress, _start_method(("numpy", __name__, target.__module__, *preload))
        self.pending = collections.deque((index, 0, frozenset()) for index in range(len(chunks)))
        self.running, self.hangs, self.counted = {}, collections.Counter(), [0] * len(chunks)
        self.cpu_s = 0.0

    def run(self):
        """Runs every chunk; returns self (see `cpu_s`)."""
        try:
            while self.pending or self.running:
                while self.pending and len(self.running) < self.workers:
                    self._start(*self.pending.popleft())
                ready = multiprocessing.connection.wait(list(self.running), timeout=min(1.0, self.timeout_s / 4))
                for reader in ready:
                    self._receive(self.running[reader])
                now = time.monotonic()
                for job in [j for j in self.running.values() if now - j.last_progress > self.timeout_s]:
                    self._rerun(job, f"no progress for {self.timeout_s:g} s")
        finally:
            for job in list(self.running.values()):
                self._stop(job)
        return self

    def _start(self, chunk, attempt, plain):
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=self.target, daemon=True,
                                       args=(self.chunks[chunk], attempt, plain, *self.target_args, writer))
        process.start()
        writer.close()  # the child holds the only writer: its death shows as end-of-file here
        self.running[reader] = _Job(chunk, attempt, plain, process, reader, time.monotonic())

    def _stop(self, job):
        job.process.kill()
        job.process.join()
        job.reader.close()
        del self.running[job.reader]

    def _receive(self, job):
        try:
            message = job.reader.recv()
        except EOFError:
            job.process.join()
            return self._rerun(job, f"worker exited with code {job.process.exitcode}")
        job.last_progress = time.monotonic()
        if message[0] == "done":
            job.done = message[1] + 1
            if job.done > self.counted[job.chunk]:  # a rerun counts only the clips not counted before
                self.progress.update(job.done - self.counted[job.chunk])
                self.counted[job.chunk] = job.done
        elif message[0] == "finished":
            self.cpu_s += message[1]
            self._stop(job)
        elif message[0] == "error":
            raise RuntimeError(f"a worker failed: {message[1]}")

    def _rerun(self, job, reason):
        """Kills the job and queues its chunk again; after MAX_HANGS on one item, it goes plain."""
        self._stop(job)
        stuck = job.done
        item = self.chunks[job.chunk][min(stuck, len(self.chunks[job.chunk]) - 1)]
        path = getattr(item, "path", repr(item))
        log.warning("%s (attempt %d, at %s): killed the worker, rerunning its chunk", reason, job.attempt + 1, path)
        self.hangs[job.chunk, stuck] += 1
        plain = job.plain
        if self.hangs[job.chunk, stuck] >= MAX_HANGS:
            if stuck in plain:
                raise RuntimeError(f"{path}: the worker failed {2 * MAX_HANGS} times on this item ({reason}), "
                                   "even when rendered plainly")
            plain, self.hangs[job.chunk, stuck] = plain | {stuck}, 0
        self.pending.appendleft((job.chunk, job.attempt + 1, plain))
