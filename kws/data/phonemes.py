"""eSpeak NG languages and phoneme edits, for corpora of your own keywords (make_synthetic_dataset.py).

- Languages: `resolve_language(voices, "fr-fr")` gives the language's voice and its family (every
  voice whose first language has the same primary subtag: fr, fr-be, fr-ch); `accent_voices` the
  voices of other languages that may read the keywords with an accent; `language_lines` the table
  that `--list_languages` prints. `voices` comes from `espeak.Engine().voices()`.
- Phonemes are eSpeak's ASCII mnemonics as `espeak.Engine.phonemes` returns them: a list of words,
  each a list of phonemes, a stress mark on its phoneme ("'a"), pauses starting with "_".
  `near_miss_candidates` makes the sound-alikes of a keyword (a changed vowel, a dropped, replaced or
  swapped consonant, the keyword inside a longer word, a word of a phrase alone), `draw_near_misses`
  draws some deterministically, `key` compares pronunciations, `speakable` writes the `[[...]]`
  phoneme input eSpeak reads back.
- `plan_near_misses` and `plan_other_words` make a corpus's `_unknown_` words with an engine passed
  in (the planning phase of make_synthetic_dataset.py, in the parent process).

This module is a library: nothing runs at import; only the two `plan_` functions call eSpeak.
"""

import logging

import numpy as np

from kws import cli

log = logging.getLogger(__name__)

STRESS = "',%="  # primary, secondary, unstressed, ... marks eSpeak puts before a phoneme
VOWEL_STARTS = set("aeiouyAEIOUVY@0369&{}8W")  # Kirshenbaum-style vowel mnemonics (ɒ ɜ ɐ œ æ ɵ ...)
KINDS = ("word", "vowel", "drop", "replace", "swap", "prefix", "suffix")  # "word": a phrase's word alone
# Languages whose voices read other languages' Latin-script words as an accented speaker would
AUDIBLE_PEAK = 1000  # int16: a phoneme edit quieter than this everywhere (-30 dBFS) speaks as silence
FILLER_NUMBERS = ("1", "2", "3", "4", "5", "6")  # short words every language has: fused as prefix/suffix
INVENTORY_NUMBERS = tuple(str(n) for n in range(31)) + ("100", "1000")  # a language's phonemes, from its numbers
ACCENT_LANGUAGES = ("en-us", "en-gb", "de", "fr-fr", "es", "it", "pt", "pt-br", "nl", "pl", "sv", "tr",
                    "cs", "ro", "hu", "fi", "id", "vi", "hi", "ru")


def primary(language):
    """'fr-be' -> 'fr'."""
    return language.split("-")[0]


def resolve_language(voices, language):
    """(the language's voice, its family: that voice first, then the other voices of its primary subtag).

    `language` is any language a voice lists ('fr', 'fr-fr', 'en-us') or a voice key ('en-gb-x-rp');
    the voice listing it with the best priority wins (ties: the first key).
    """
    wanted = language.strip().lower()
    matches = [v for v in voices if v.key == wanted or wanted in v.languages]
    if not matches:
        raise cli.UserError(f"--language {language!r}: eSpeak NG has no such language; "
                            "`python make_synthetic_dataset.py --list_languages` lists them")
    voice = min(matches, key=lambda v: (v.key != wanted and v.languages.index(wanted), v.key))
    family = [v for v in voices
              if v.languages and v != voice and primary(v.languages[0]) == primary(voice.languages[0])]
    return voice, [voice] + family


def accent_voices(voices, family):
    """Voices of ACCENT_LANGUAGES outside the family, in ACCENT_LANGUAGES order."""
    primaries = {primary(v.languages[0]) for v in family}
    by_language = {v.languages[0]: v for v in voices if v.languages}
    return [by_language[lang] for lang in ACCENT_LANGUAGES
            if lang in by_language and primary(lang) not in primaries]


def language_lines(voices):
    """One line per voice: the language `--language` takes, the voice key, the name."""
    return [f"{v.languages[0]:<18} {v.key:<22} {v.name}" for v in voices if v.languages]


def bare(phoneme):
    """The phoneme without its stress mark."""
    return phoneme.lstrip(STRESS)


def is_pause(phoneme):
    return bare(phoneme).startswith("_") or not bare(phoneme)


def is_vowel(phoneme):
    return not is_pause(phoneme) and bare(phoneme)[0] in VOWEL_STARTS


def key(words):
    """What two pronunciations must share to be the same: the phonemes without stress and pauses."""
    return " ".join("".join(bare(p) for p in word if not is_pause(p)) for word in words if word).strip()


def speakable(words):
    """eSpeak's phoneme input for the words (read with the espeakPHONEMES flag)."""
    return "[[" + " ".join("".join(word) for word in words) + "]]"


def inventory(pronunciations):
    """(vowels, consonants) seen in the pronunciations, without stress, sorted: the language's phonemes
    that its voice is sure to know."""
    phonemes = {bare(p) for words in pronunciations for word in words for p in word if not is_pause(p)}
    return sorted(p for p in phonemes if p[0] in VOWEL_STARTS), sorted(p for p in phonemes if p[0] not in VOWEL_STARTS)


def _positions(words, test):
    return [(w, i) for w, word in enumerate(words) for i, p in enumerate(word) if test(p)]


def _replaced(words, w, i, new):
    """The words with phoneme (w, i) replaced by the list `new` (empty: dropped), stress kept."""
    old = words[w][i]
    stress = old[: len(old) - len(bare(old))]
    new = [stress + new[0], *new[1:]] if new else []
    return [word[:i] + new + word[i + 1:] if n == w else list(word) for n, word in enumerate(words)]


def near_miss_candidates(words, word_alone, vowels, consonants, fillers):
    """Every sound-alike of a keyword, by kind: {kind: [words, ...]}.

    `words`: the keyword's pronunciation; `word_alone`: each word of a phrase pronounced alone (empty
    for one word); `vowels`, `consonants`: the language's inventory; `fillers`: short words of the
    language, fused unstressed before or after the keyword (the keyword inside a longer word).
    """
    found = {kind: [] for kind in KINDS}
    found["word"] = [w for w in word_alone if w]
    for w, i in _positions(words, is_vowel):
        found["vowel"] += [_replaced(words, w, i, [v]) for v in vowels if v != bare(words[w][i])]
    consonant_places = _positions(words, lambda p: not is_pause(p) and not is_vowel(p))
    for w, i in consonant_places:
        if any(is_vowel(p) for p in words[w][:i] + words[w][i + 1:]):  # a word keeps a vowel
            found["drop"].append(_replaced(words, w, i, []))
        found["replace"] += [_replaced(words, w, i, [c]) for c in consonants if c != bare(words[w][i])]
    for (w1, i1), (w2, i2) in zip(consonant_places, consonant_places[1:]):
        if bare(words[w1][i1]) != bare(words[w2][i2]):
            swapped = _replaced(words, w1, i1, [bare(words[w2][i2])])
            found["swap"].append(_replaced(swapped, w2, i2, [bare(words[w1][i1])]))
    for filler in fillers:
        unstressed = [bare(p) for word in filler for p in word if not is_pause(p)]
        found["prefix"].append([unstressed + [p for p in words[0] if not is_pause(p)]] + words[1:])
        found["suffix"].append(words[:-1] + [words[-1] + unstressed])
    return found


def draw_near_misses(rng, candidates, count, forbidden):
    """Up to `count` (kind, words) drawn from the candidates: a phrase's words alone first, then the
    other kinds in turn, each a random candidate; none whose `key` is in `forbidden` (the keywords'
    pronunciations, the near misses drawn before), which grows with each one drawn."""
    pools = {kind: list(found) for kind, found in candidates.items() if found}
    drawn = []
    while len(drawn) < count and pools:
        kinds = ["word"] if "word" in pools else [k for k in KINDS if k in pools]
        kind = kinds[sum(k != "word" for k, _ in drawn) % len(kinds)]
        pool = pools[kind]
        words = pool.pop(int(rng.integers(len(pool))) if kind != "word" else 0)
        if not pool:
            del pools[kind]
        if key(words) and key(words) not in forbidden:
            forbidden.add(key(words))
            drawn.append((kind, words))
    return drawn



def number_pool(rng):
    """Numbers to speak as other words: 0-99 in random order, then 100-999 (short words first)."""
    return [int(n) for n in rng.permutation(100)] + [100 + int(n) for n in rng.permutation(900)]


def plan_near_misses(engine, voice, phrases, keywords, count, rng):
    """{keyword label: [{"folder", "kind", "phonemes"}]}: `count` near misses per keyword, phonemes
    from `voice`; an edit that speaks as silence (or fails) is skipped with a log line."""
    pronounce = {label: engine.phonemes(phrases[label], voice) for label in keywords}
    vowels, consonants = inventory([*pronounce.values(), *(engine.phonemes(n, voice) for n in INVENTORY_NUMBERS)])
    fillers = [engine.phonemes(n, voice) for n in FILLER_NUMBERS]
    forbidden, result = {key(words) for words in pronounce.values()}, {}
    for label in keywords:
        parts = phrases[label].split()
        alone = [engine.phonemes(part, voice) for part in parts] if len(parts) > 1 else []
        candidates = near_miss_candidates(pronounce[label], alone, vowels, consonants, fillers)
        result[label] = []
        for kind, words in draw_near_misses(rng, candidates, count, forbidden):
            text = speakable(words)
            try:
                audible = np.max(np.abs(engine.synthesize(text, voice=voice)), initial=0) >= AUDIBLE_PEAK
            except RuntimeError as e:  # espeak.EspeakError
                audible = log.warning("near miss %s of %r failed (%s): skipped", text, label, e)
            if not audible:
                log.info("near miss %s (%s) of %r speaks as silence: skipped", text, kind, label)
                continue
            result[label].append({"folder": f"nearmiss_{label}_{len(result[label])}", "kind": kind, "phonemes": text})
    return result


def plan_other_words(engine, voice, pool, keyword_texts, taken, count):
    """[(label, text)] of `count` ordinary words from `pool` ((label, text) in drawing order), none
    whose label is `taken` or whose pronunciation is a keyword's (a homophone would be a keyword)."""
    keyword_keys = {key(engine.phonemes(text, voice)) for text in keyword_texts}
    chosen = []
    for label, text in pool:
        if len(chosen) == count:
            break
        if label in taken:
            continue
        if key(engine.phonemes(text, voice)) in keyword_keys:
            log.info("other word %r sounds like a keyword: skipped", text)
            continue
        chosen.append((label, text))
        taken = taken | {label}
    if len(chosen) < count:
        log.warning("only %d other words available (asked for %d)", len(chosen), count)
    return chosen
