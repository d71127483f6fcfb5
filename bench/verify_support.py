"""How well the support check tells good LLM answers from junk: the share of content words held by the cited
passages for every claim of ``tests/fixtures/llm_outputs.json``, and, for each threshold, how many good
answers keep every claim and how many junk outputs lose every claim.

    python bench/verify_support.py [--json]

The threshold in ``bot/answering/verify.py`` (``SUPPORT_MIN``) is the one this prints as the widest gap.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from unittest import mock

from bot.answering import verify as verification
from bot.answering.verify import claims, verify

CASES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "llm_outputs.json"


def outcome(text: str, sources: dict[int, list[str]], question: str, prompt: str, threshold: float) -> str:
    with mock.patch.object(verification, "SUPPORT_MIN", threshold):
        return verify(text, sources, question=question, prompt=prompt).text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import prompts
    from bot.answering import NO_ANSWER

    cases = json.loads(CASES.read_text(encoding="utf-8"))
    sources = {int(k): v for k, v in cases["sources"].items()}
    prompt = prompts.load("answer", no_answer=NO_ANSWER)
    question = cases["question"]
    rows = []
    for t in [x / 20 for x in range(4, 19)]:
        good = sum(outcome(g, sources, question, prompt, t) == g for g in cases["good"])
        junk = sum(outcome(j, sources, question, prompt, t) == "" for j, _ in cases["junk"])
        rows.append({"threshold": t, "good_kept": good, "junk_dropped": junk})
    reasons = []
    for text, kind in cases["junk"]:
        v = verify(text, sources, question=question, prompt=prompt)
        reasons.append({"kind": kind, "kept": v.text, "why": [d.reason for d in v.dropped]})
    good_drops = []
    for text in cases["good"]:
        v = verify(text, sources, question=question, prompt=prompt)
        good_drops += [{"claim": d.claim, "why": d.reason} for d in v.dropped]
    report = {
        "good": len(cases["good"]),
        "junk": len(cases["junk"]),
        "sweep": rows,
        "junk_reasons": reasons,
        "good_dropped": good_drops,
        "claims": sum(len(claims(g)) for g in cases["good"]),
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{report['good']} good answers, {report['junk']} junk outputs")
    print("threshold  good kept whole  junk dropped whole")
    for r in rows:
        print(f"{r['threshold']:9.2f}  {r['good_kept']:15d}  {r['junk_dropped']:18d}")
    for r in reasons:
        print(f"junk ({r['kind']}): {'KEPT ' + r['kept'] if r['kept'] else 'dropped'}: {'; '.join(r['why'])}")
    for d in good_drops:
        print(f"good claim dropped: {d['claim']} ({d['why']})")


if __name__ == "__main__":
    main()
