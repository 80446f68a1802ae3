#!/usr/bin/env python3
"""Draws the chat benchmark's chart: bench/chat/chart.py RESULTS.jsonl OUT.png

Three panels from one bench/chat/run.sh results file (medians per server,
as run.sh's tables): sustained deliveries/s at saturation (higher is
better), fan-out p99 in the rooms and one-room scenarios (lower is better)
and server RSS per idle client (lower is better). Standard library only;
the drawing needs gnuplot (Debian's gnuplot-nox), like bench/report.py.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ORDER = ["weft", "inspircd", "ngircd", "ircd-hybrid"]
NAMES = {"weft": "weft-chat", "inspircd": "InspIRCd", "ngircd": "ngIRCd", "ircd-hybrid": "ircd-hybrid"}
COLOURS = {"weft": "#d95f02", "inspircd": "#1b9e77", "ngircd": "#7570b3", "ircd-hybrid": "#e7298a"}


def medians(runs, label, key):
    """{impl: median of key} over the good runs with that label."""
    values = {}
    for r in runs:
        if r.get("label") == label and not r.get("failed") and r.get(key) is not None and r[key] >= 0:
            values.setdefault(r["impl"], []).append(r[key])
    return {impl: statistics.median(v) for impl, v in values.items()}


def panel(title, ylabel, rows, scale, decimals, log=False):
    """One gnuplot histogram panel; rows: [(category, {impl: value})]."""
    impls = [i for i in ORDER if any(i in values for _, values in rows)]
    if not impls:
        return "", None
    data = tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False)
    for category, values in rows:
        cells = [f"{values[i] / scale:.6g}" if i in values else "-" for i in impls]
        data.write(f'"{category}" ' + " ".join(cells) + "\n")
    data.close()
    plots = []
    for n, impl in enumerate(impls):
        column = n + 2
        first = f'"{data.name}"' if n == 0 else '""'
        xtic = ":xtic(1)" if n == 0 else ""
        plots.append(f'{first} using {column}{xtic} title "{NAMES[impl]}" lc rgb "{COLOURS[impl]}"')
    width = 0.9 / len(impls)
    for n, impl in enumerate(impls):
        offset = (n - (len(impls) - 1) / 2) * width
        plots.append(f'"" using ($0{offset:+.3f}):(${n + 2}):(sprintf("%.{decimals}f", ${n + 2})) '
                     f'with labels offset 0,0.7 font ",8" notitle')
    axis = "set logscale y 10\nset yrange [*:*]\n" if log else "unset logscale y\nset yrange [0:*]\n"
    script = f"""
set title "{title}"
set ylabel "{ylabel}"
{axis}plot {", ".join(plots)}
"""
    return script, data.name


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.splitlines()[0])
    if not shutil.which("gnuplot"):
        print("bench/chat/chart.py: gnuplot not found; no chart", file=sys.stderr)
        return
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    panels = [
        panel("Saturation, one room of 1,000 (higher is better)", "M deliveries/s",
              [("one-room", medians(runs, "saturation", "rate"))], 1e6, 2),
        panel("Fan-out p99 (lower is better; log scale)", "ms",
              [("rooms", medians(runs, "rooms", "p99_us")),
               ("one-room", medians(runs, "one-room", "p99_us"))], 1e3, 1, log=True),
        panel("Server RSS per idle client (lower is better)", "KiB",
              [("10,000 idle", medians(runs, "idle", "rss_kb_per_client"))], 1, 2),
    ]
    panels = [(s, d) for s, d in panels if d]
    if not panels:
        sys.exit(f"{sys.argv[1]}: nothing to draw")
    script = f"""
set terminal pngcairo size 1500,560 font "DejaVu Sans,11"
set output "{sys.argv[2]}"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key below font ",10"
set multiplot layout 1,{len(panels)}
""" + "".join(s for s, _ in panels) + "unset multiplot\n"
    try:
        result = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    finally:
        for _, d in panels:
            os.unlink(d)
    if result.returncode != 0:
        sys.exit(f"bench/chat/chart.py: gnuplot failed:\n{result.stderr}")
    print(f"bench/chat/chart.py: wrote {sys.argv[2]}", file=sys.stderr)


if __name__ == "__main__":
    main()
