"""The top entities of each type on the shared SaudiNewsNet days, for a reader to judge precision at a glance.

Runs khabar over the 3,335 real articles (unpacked once, never committed) with the layout their
files have, then prints the top N of each type with mentions and documents, as markdown, and the boilerplate
that the run found and kept out of the entities (tasks.boilerplate).

Usage: .venv/bin/python bench/real_news_top.py [--top 30] [--ner gazetteer] [--ner-model M] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from corpus import unpack_saudinewsnet

KHABAR = str(Path(sys.executable).with_name("khabar"))
LAYOUT = "{date}/{source}-{n}.txt"  # what tools/saudinewsnet_to_txt.py writes

TOP = """
with by_entity as (
    select type, canonical_key, count(*) as mentions, count(distinct doc_id) as documents
    from entities group by all
),
ranked as (
    select *, row_number() over (partition by type order by mentions desc, canonical_key) as rank
    from by_entity
),
final as (
    select type, rank, entity_names.name as shown_as, mentions, documents
    from ranked join entity_names using (type, canonical_key)
    where rank <= {top}
    order by type, rank
)
select * from final
"""

# What boilerplate detection marked (tasks.boilerplate): per source, and the texts marked most often.
BOILERPLATE = """
with marked as (
    select documents.source, sentences.doc_id, sentences.is_boilerplate,
        left(sentences.text, sentences.boilerplate_chars) as marked_text
    from sentences join documents using (doc_id)
    where sentences.boilerplate_chars > 0
),
final as (
    select source, marked_text, count(*) as sentences, count(distinct doc_id) as documents,
        bool_and(is_boilerplate) as whole
    from marked group by all
    order by documents desc, marked_text
    limit {top}
)
select * from final
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--ner", default="gazetteer")
    parser.add_argument("--ner-model")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="khabar-real-news-"))
    raw = work / "saudinewsnet"
    unpack_saudinewsnet(raw)
    out = work / f"out-{args.ner}"
    model = ["--ner-model", args.ner_model] if args.ner_model else []
    options = ["--raw", str(raw), "--out", str(out), "--layout", LAYOUT, "--ner", args.ner, *model]
    subprocess.run([KHABAR, "-q", "run", *options], check=True)
    subprocess.run([KHABAR, "-q", "reprocess", "--stale", *options], check=True)  # a kept folder, rules changed
    query = [KHABAR, "sql", TOP.format(top=args.top), "--out", str(out), "--format", "json", "--all"]
    rows = json.loads(subprocess.run(query, check=True, capture_output=True, text=True).stdout)
    n_docs = subprocess.run(
        [KHABAR, "sql", "select count(*) from documents", "--out", str(out), "--format", "csv"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    marked = subprocess.run(
        [KHABAR, "sql", BOILERPLATE.format(top=args.top), "--out", str(out), "--format", "json", "--all"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    print(f"Top {args.top} entities of each type, {args.ner} backend, {n_docs} SaudiNewsNet documents\n")
    for entity_type in sorted({r["type"] for r in rows}):
        print(f"**{entity_type}**: " + ", ".join(
            f"{r['shown_as']} {r['mentions']}" for r in rows if r["type"] == entity_type
        ) + "\n")  # fmt: skip
    print(f"Boilerplate marked (the {args.top} texts marked in the most documents):\n")
    for r in json.loads(marked):
        how = "whole sentence" if r["whole"] else "lead"
        print(f"- {r['source']}: {r['marked_text'][:80]} ({how}; {r['documents']} documents)")


if __name__ == "__main__":
    main()
