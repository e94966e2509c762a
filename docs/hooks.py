"""MkDocs hook: pages kept beside the code they describe are part of the site too. ``benchmarks/README.md`` (which
``make bench`` rewrites) with its plots, ``clusters/README.md`` and ``CHANGELOG.md`` become the pages
``benchmarks-full.md``, ``clusters.md`` and ``changelog.md``."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"benchmarks-full.md": "benchmarks/README.md", "clusters.md": "clusters/README.md", "changelog.md": "CHANGELOG.md"}


def on_files(files, config):
    for page, source in PAGES.items():
        files.append(File.generated(config, page, abs_src_path=str(ROOT / source)))
    for plot in sorted((ROOT / "benchmarks" / "results").glob("*.png")):  # the benchmarks page's images
        files.append(File.generated(config, f"results/{plot.name}", abs_src_path=str(plot)))
    return files
