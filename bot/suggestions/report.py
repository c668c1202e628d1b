"""`vigie suggestions report`: the figures, as text for a terminal.

Targets (issue 16), on mentions the model never saw: sentiment accuracy ≥ 75 % and
macro-F1 ≥ 0.72, French no more than 5 points below English; category macro-F1 ≥ 0.70; urgent
recall ≥ 0.8. Each is printed met or not, with its figure.
"""

from __future__ import annotations

from typing import Any

TARGETS = {"sentiment_accuracy": 0.75, "sentiment_macro_f1": 0.72, "language_gap": 0.05,
           "category_macro_f1": 0.70, "urgent_recall": 0.8}


def lines(figures: dict[str, Any]) -> list[str]:
    """Accuracy, macro-F1, per language, and per label precision and recall."""
    out: list[str] = []
    for task in ("sentiment", "category", "priority"):
        part = figures.get(task)
        if not part or not part["n"]:
            out.append(f"{task}: no labelled mention")
            continue
        languages = "  ".join(f"{lang} {v['accuracy']:.1%} (n={v['n']})"
                              for lang, v in part["languages"].items())
        out.append(f"{task}: accuracy {part['accuracy']:.1%}  macro-F1 {part['macro_f1']:.2f}"
                   f"  n={part['n']}  |  {languages}")
        for label, v in part["labels"].items():
            if not v["support"] and not v["said"]:
                continue
            out.append(f"  {label:<10} precision {v['precision']:6.1%}  recall {v['recall']:6.1%}"
                       f"  support {v['support']}")
    return out


def target_lines(figures: dict[str, Any]) -> list[str]:
    sentiment, category, priority = (figures[t] for t in ("sentiment", "category", "priority"))
    langs = sentiment["languages"]
    # French as good as English within 5 points: French may be better, not worse by more.
    gap = (langs["en"]["accuracy"] - langs["fr"]["accuracy"]
           if "fr" in langs and "en" in langs else None)
    urgent = priority["labels"]["urgent"]
    checks = [
        ("sentiment accuracy ≥ 75%", sentiment["accuracy"] >= TARGETS["sentiment_accuracy"],
         f"{sentiment['accuracy']:.1%}"),
        ("sentiment macro-F1 ≥ 0.72", sentiment["macro_f1"] >= TARGETS["sentiment_macro_f1"],
         f"{sentiment['macro_f1']:.2f}"),
        ("French at most 5 points below English", gap is not None
         and gap <= TARGETS["language_gap"] + 1e-9,
         "n/a" if gap is None else f"French {-gap * 100:+.1f} points "
         f"(fr n={langs['fr']['n']}, en n={langs['en']['n']})"),
        ("category macro-F1 ≥ 0.70", category["macro_f1"] >= TARGETS["category_macro_f1"],
         f"{category['macro_f1']:.2f}"),
        ("urgent recall ≥ 0.8", bool(urgent["support"])
         and urgent["recall"] >= TARGETS["urgent_recall"],
         f"{urgent['recall']:.2f} ({round(urgent['recall'] * urgent['support'])} of "
         f"{urgent['support']}, {urgent['said']} flagged)"),
    ]
    return [f"  {'met    ' if ok else 'NOT MET'} {name}: {value}" for name, ok, value in checks]
