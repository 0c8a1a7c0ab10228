"""The documentation holds together: every relative link and image in README.md, docs/*.md and
benchmarks/README.md resolves (a file that exists; an #anchor into a Markdown file names one of
its headings, GitHub style), every docs page is linked from the README, and the README stays short.
External http(s) links are not fetched."""
import re
from pathlib import Path

import pytest

#: The README is the front page: what it is, the two commands, the stage table, the layout, links.
README_MAX_LINES = 220

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target), with an optional "title"; <target> form too.
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def doc_files(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md")), root / "benchmarks" / "README.md"]


def _prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield n, line


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: inline markup dropped, lower case, punctuation removed,
    spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (repeated headings get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    out = set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        m = _HEADING.match(line)
        if not m:
            continue
        slug = github_slug(m.group(2))
        if slug in seen:
            seen[slug] += 1
            out.add(f"{slug}-{seen[slug]}")
        else:
            seen[slug] = 0
            out.add(slug)
    return out


def links(path: Path):
    """(line number, target) of every link, image and reference definition outside code."""
    for n, line in _prose_lines(path.read_text(encoding="utf-8")):
        line = _INLINE_CODE.sub("", line)
        for m in _LINK.finditer(line):
            yield n, m.group(1).strip("<>")
        m = _REF_DEF.match(line)
        if m:
            yield n, m.group(1).strip("<>")


def broken_links(path: Path) -> list[str]:
    """'file:line: target (why)' for every relative link of `path` that does not resolve."""
    bad = []
    for n, target in links(path):
        if _EXTERNAL.match(target):
            continue                                      # external: not fetched
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path}:{n}: {target}"
        if not dest.exists():
            bad.append(f"{where} (no such file: {dest})")
        elif anchor and dest.suffix.lower() == ".md":
            if dest.is_dir() or anchor not in anchors(dest):
                bad.append(f"{where} (no heading #{anchor} in {dest.name})")
    return bad


def test_every_relative_link_resolves(repo_root):
    files = doc_files(repo_root)
    assert all(f.exists() for f in files), [str(f) for f in files if not f.exists()]
    bad = [b for f in files for b in broken_links(f)]
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_every_docs_page_is_linked_from_the_readme(repo_root):
    linked = {(repo_root / t.partition("#")[0]).resolve() for _, t in links(repo_root / "README.md")
              if not _EXTERNAL.match(t) and t.partition("#")[0]}
    pages = sorted((repo_root / "docs").glob("*.md"))
    assert pages, "no docs pages"
    assert not [p.name for p in pages if p.resolve() not in linked]


def test_readme_is_short(repo_root):
    n = len((repo_root / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines (at most {README_MAX_LINES}: move detail to docs/)"


def test_checker_finds_broken_links(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "img.png").write_bytes(b"")
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Stage 5: fresh (default) `x`\n\n## Stage 5: fresh (default) `x`\n")
    doc = tmp_path / "README.md"
    doc.write_text(
        "# Title\n"
        "[ok](docs/page.md) [ok](docs/page.md#stage-5-fresh-default-x) [ok](docs/page.md#stage-5-fresh-default-x-1)\n"
        "![ok](img.png) [ok](#title) [ext](https://example.invalid/nothing) `[code](nowhere.md)`\n"
        "```\n[fenced](nowhere.md)\n```\n"
        "[gone](docs/missing.md) ![gone](docs/missing.png) [bad anchor](docs/page.md#no-such-heading)\n"
        "[bad self](#nothing) [ref]: docs/also_missing.md\n"
        "[ref]: docs/also_missing.md\n")
    bad = broken_links(doc)
    assert len(bad) == 5, bad
    for target in ("docs/missing.md", "docs/missing.png", "#no-such-heading", "#nothing", "docs/also_missing.md"):
        assert any(target in b for b in bad), (target, bad)
    assert sorted(int(b.split(":")[1]) for b in bad) == [7, 7, 7, 8, 9], bad      # the line of each


@pytest.mark.parametrize("heading, slug", [
    ("Experiments: configs, tags, and never a stale result", "experiments-configs-tags-and-never-a-stale-result"),
    ("The recipe (`egs2/dcase26t4/s5`)", "the-recipe-egs2dcase26t4s5"),
    ("The leaderboard (`RESULTS.md`)", "the-leaderboard-resultsmd"),
    ("Time-FiLM separator", "time-film-separator"),
])
def test_github_slug(heading, slug):
    assert github_slug(heading) == slug
