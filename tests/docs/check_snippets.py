#!/usr/bin/env python3
"""Checks that the guides show the code the suite compiles and runs.

Every fenced code block in docs/ (and README.md) that follows a line

    <!-- snippet: <path from the repository root>#<region> -->

must equal that region of the file: the lines between `// [region]` and
`// [/region]` (`#whole`: the whole file), with the region's common
indentation removed. A line count written `17 <!-- lines: <path> -->` must
be the number of lines of code (neither blank nor comment) in that file.
Exit status 1 names every block and count that differs.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
marker = re.compile(r"^<!-- snippet: ([^#]+)#([A-Za-z0-9_-]+) -->$")
# "17 <!-- lines: path -->": the program at path has 17 lines that are
# neither blank nor comments (//, %% and # comments).
line_count = re.compile(r"(\d+) <!-- lines: ([^ ]+) -->")


def code_lines(path: pathlib.Path) -> int:
    comment = re.compile(r"^\s*(//|%%|#(?!include))")
    return sum(1 for l in path.read_text().splitlines() if l.strip() and not comment.match(l))


def region_of(source: pathlib.Path, name: str) -> list[str]:
    lines = source.read_text().splitlines()
    if name == "whole":
        body = lines
    else:
        start = [i for i, l in enumerate(lines) if l.strip() == f"// [{name}]"]
        end = [i for i, l in enumerate(lines) if l.strip() == f"// [/{name}]"]
        if len(start) != 1 or len(end) != 1:
            raise SystemExit(f"{source}: region '{name}' must open and close exactly once")
        body = lines[start[0] + 1 : end[0]]
    indent = min((len(l) - len(l.lstrip(" ")) for l in body if l.strip()), default=0)
    return [l[indent:] for l in body]


checked = 0
failures = []
for doc in sorted(list((root / "docs").rglob("*.md")) + [root / "README.md"]):
    lines = doc.read_text().splitlines()
    for i, line in enumerate(lines):
        for stated, path in line_count.findall(line):
            checked += 1
            actual = code_lines(root / path)
            if int(stated) != actual:
                failures.append(f"{doc}:{i + 1}: {path} has {actual} lines of code, the page says {stated}")
        m = marker.match(line)
        if not m:
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            failures.append(f"{doc}:{i + 1}: a snippet marker must be followed by a fenced code block")
            continue
        shown = []
        for code in lines[i + 2 :]:
            if code.startswith("```"):
                break
            shown.append(code)
        expected = region_of(root / m.group(1), m.group(2))
        checked += 1
        if shown != expected:
            failures.append(
                f"{doc}:{i + 1}: the block differs from {m.group(1)}#{m.group(2)}\n--- shown\n"
                + "\n".join(shown)
                + f"\n--- in {m.group(1)}\n"
                + "\n".join(expected)
            )

if checked == 0:
    raise SystemExit("no snippet markers found: this check checks nothing")
for f in failures:
    print(f, file=sys.stderr)
print(f"{checked} snippet(s) checked, {len(failures)} differ")
sys.exit(1 if failures else 0)
