"""Print the table reference in markdown (python -m schemas), or rewrite the docs' copy (--readme docs/tables.md)."""

import sys
from pathlib import Path

from schemas import markdown

START, END = "<!-- tables:start -->\n", "<!-- tables:end -->"

if len(sys.argv) == 3 and sys.argv[1] == "--readme":
    readme = Path(sys.argv[2])
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    readme.write_text(head + START + markdown() + END + rest.split(END, 1)[1], encoding="utf-8")
else:
    print(markdown(), end="")
