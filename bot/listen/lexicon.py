"""Words to sum up a burst: a short list of negative-looking words and of stop words, in
French and English, matched on folded text (no case, no accents).

This is a rough signal for a spike alert ("70% negative-looking words"), not sentiment
analysis: staff qualify mentions themselves.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from bot.text import fold, keyword_pattern

NEGATIVE = [
    # fr
    "honte", "honteux", "honteuse", "scandale", "scandaleux", "nul", "nulle", "nuls",
    "lamentable", "pathetique", "mensonge", "menteur", "menteurs", "mensonges", "boycott",
    "boycotter", "degage", "demission", "inadmissible", "inacceptable", "degoute", "degoutant",
    "colere", "rage", "indigne", "indignation", "faux", "fake", "propagande", "manipulation",
    "censure", "bidon", "minable", "ridicule", "pire", "horrible", "catastrophe", "desabonne",
    "desabonner", "arnaque", "mepris", "insupportable", "vergogne", "complice", "raciste",
    "sexiste", "haine", "debile", "stupide", "idiot", "degueulasse", "pitoyable",
    # en
    "shame", "shameful", "disgrace", "disgraceful", "disgusting", "awful", "terrible",
    "worst", "liar", "liars", "lies", "lying", "boycott", "unsubscribe", "outrage",
    "outrageous", "pathetic", "ridiculous", "propaganda", "biased", "bias", "hate", "angry",
    "furious", "unacceptable", "resign", "fire", "scam", "trash", "garbage", "stupid",
    "idiot", "racist", "sexist", "censorship", "clown", "joke", "embarrassing", "horrible",
]

_STOP_WORDS = """
a à afin ai aie aient ainsi alors au aucun aussi autre aux avait avant avec avez avoir
ce ceci cela celle celui ces cet cette chez ci comme comment dans de des donc dont du
elle elles en encore est et etait ete etre eu fait faire faut il ils je jour la le les
leur leurs lui ma mais me meme mes moi mon ne ni nos notre nous on ont ou par pas peu
peut plus pour pourquoi qu quand que quel quelle qui sa sans se sera ses si son sont
sur ta te tes toi ton tous tout toute toutes tres tu un une vos votre vous vraiment ça
c d j l m n s t y va vais via voila deja bien fois apres aujourd hui
the a an and are as at be been but by can could did do does for from had has have he
her here him his how i if in into is it its just me my no not now of on or our out she
so some than that the their them then there these they this to too up us was we were
what when where which who why will with would you your yours about all also am any
get got just like more most much only over really should still such very rt
http https www com
"""
STOP = frozenset(fold(w) for w in _STOP_WORDS.split())

_TOKEN = re.compile(r"[^\W\d_][\w'-]{2,}", re.UNICODE)
_URL = re.compile(r"https?://\S+")
_NEGATIVE = keyword_pattern(NEGATIVE)


def looks_negative(text: str) -> bool:
    return bool(_NEGATIVE and _NEGATIVE.search(fold(text)))


def negative_share(texts: Iterable[str]) -> float:
    items = list(texts)
    if not items:
        return 0.0
    return sum(1 for t in items if looks_negative(t)) / len(items)


def top_terms(texts: Iterable[str], *, exclude: Iterable[str] = (), limit: int = 5
              ) -> list[str]:
    """The words most mentions share (each mention counts a word once)."""
    skip = STOP | {fold(w).lstrip("@#") for w in exclude}
    counts: Counter[str] = Counter()
    for text in texts:
        words = {w.strip("'-") for w in _TOKEN.findall(_URL.sub(" ", fold(text)))}
        counts.update(w for w in words if len(w) >= 3 and w not in skip)
    return [word for word, n in counts.most_common(limit) if n > 1]
