"""Print the table reference in markdown: python -m schemas"""

from schemas import markdown

print(markdown(), end="")
