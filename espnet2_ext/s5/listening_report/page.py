"""The report's ``index.html``: one static page, inline CSS and a few lines of plain JavaScript.

Everything shown is escaped with :func:`espnet2_ext.names.html_text` (``html.escape``, quotes
included) and every link is a relative, percent-encoded path below the report folder
(:func:`espnet2_ext.names.url_path`), so the folder can be copied or served
as it is and opened from the file system. The inline script only checks the media:
when every ``<img>`` has decoded (``naturalWidth > 0``) and every ``<audio>`` has its
metadata (``loadedmetadata`` with a finite duration) or failed (``error``), it writes
the outcome into ``<p id="load-status" data-state="ok|error">`` (``pending`` until then),
which users see and the browser test reads.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence

from espnet2_ext.names import html_text as esc
from espnet2_ext.names import url_path
from espnet2_ext.s5.labels import CLASSES

STATUS_ID = "load-status"


@dataclass
class Clip:
    """One waveform on the page: relative audio and image paths and its caption."""

    audio: str
    image: str
    caption: str


@dataclass
class Line:
    """A line of a soundscape's table: ``kind`` is match / miss / false alarm / mixture."""

    kind: str
    ref: Optional[Clip]
    est: Optional[Clip]
    figures: str = ""


@dataclass
class Section:
    """One soundscape: title, why it is shown, its CAPI-SDRi and its lines."""

    soundscape: str
    reasons: Sequence[str]
    capi: Optional[float]
    lines: List[Line]


_CSS = """
body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f2f2f2}
figure{margin:0}
figcaption{font-size:.85em;margin-bottom:2px}
img.spec{display:block;width:320px;height:96px;image-rendering:pixelated}
audio{width:320px;height:32px}
.tag{display:inline-block;background:#e8eef8;border-radius:3px;padding:0 5px;margin-left:4px;font-size:.8em}
tr.miss td:first-child,tr.false-alarm td:first-child{color:#b00020;font-weight:bold}
tr.match td:first-child{color:#1b5e20}
#load-status{padding:4px 8px;background:#fff8e1}
#load-status[data-state=ok]{background:#e8f5e9}
#load-status[data-state=error]{background:#ffebee}
section{margin-top:1.5em}
"""

_SCRIPT = """
(function () {
  var imgs = Array.prototype.slice.call(document.images);
  var auds = Array.prototype.slice.call(document.getElementsByTagName("audio"));
  var total = imgs.length + auds.length, ok = 0, bad = [];
  var el = document.getElementById("%(id)s");
  function show() {
    var left = total - ok - bad.length;
    el.setAttribute("data-state", left > 0 ? "pending" : (bad.length ? "error" : "ok"));
    el.textContent = "Media check: " + imgs.length + " images, " + auds.length + " audio clips; " +
      ok + " loaded, " + bad.length + " errors" + (left > 0 ? ", " + left + " pending" : "") +
      (bad.length ? " (" + bad.join(", ") + ")" : "");
  }
  function done(e, good) {
    if (e.getAttribute("data-checked")) return;
    e.setAttribute("data-checked", good ? "ok" : "error");
    if (good) ok++; else bad.push(e.getAttribute("src"));
    show();
  }
  imgs.forEach(function (i) {
    if (i.complete) { done(i, i.naturalWidth > 0); return; }
    i.addEventListener("load", function () { done(i, i.naturalWidth > 0); });
    i.addEventListener("error", function () { done(i, false); });
  });
  auds.forEach(function (a) {
    var loaded = function () { done(a, isFinite(a.duration) && a.duration > 0); };
    if (a.error) { done(a, false); return; }
    if (a.readyState >= 1) { loaded(); return; }
    a.addEventListener("loadedmetadata", loaded);
    a.addEventListener("error", function () { done(a, false); });
  });
  show();
})();
""" % {"id": STATUS_ID}


def href(relpath: str) -> str:
    """A relative path as an escaped, percent-encoded attribute value."""
    return esc(url_path(relpath))


def fmt_db(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.2f} dB"


def _clip_html(clip: Optional[Clip]) -> str:
    if clip is None:
        return "<td>—</td>"
    return (f'<td><figure><figcaption>{esc(clip.caption)}</figcaption>'
            f'<img class="spec" src="{href(clip.image)}" alt="spectrogram: {esc(clip.caption)}" '
            f'width="320" height="96">'
            f'<audio controls preload="metadata" src="{href(clip.audio)}"></audio></figure></td>')


def _summary_html(summary: Mapping) -> str:
    acc = summary["label_metrics"]
    capi, ca = summary["CAPI-SDRi"]["mean"], summary["CA-SDRi_2025"]["mean"]
    head = ["CAPI-SDRi", "Accuracy mixture", "Accuracy source", "CA-SDRi 2025", "mixtures",
            "with events"]
    cells = [fmt_db(capi), f"{acc['accuracy_mix']:.3f} %", f"{acc['accuracy_src']:.3f} %", fmt_db(ca),
             summary["n_mixtures"], summary["n_scored_mixtures"]]
    per_class = summary["per_class_CAPI-SDRi"]
    class_rows = "".join(
        f"<tr><td>{esc(c)}</td><td>{esc(fmt_db(per_class[c]['mean']))}</td>"
        f"<td>{esc(per_class[c]['count'])}</td></tr>" for c in CLASSES if c in per_class)
    return ("<h2>Summary</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr><tr>"
            + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr></table>"
            "<details><summary>Per-class CAPI-SDRi (misses and false alarms count 0)</summary>"
            "<table><tr><th>class</th><th>CAPI-SDRi</th><th>values</th></tr>"
            + class_rows + "</table></details>")


def _section_html(index: int, section: Section) -> str:
    tags = "".join(f'<span class="tag">{esc(r)}</span>' for r in section.reasons)
    lines = []
    for line in section.lines:
        if line.kind == "mixture":
            lines.append(f'<tr class="mixture"><td>mixture (channel 0)</td>{_clip_html(line.ref)}'
                         f"<td></td><td></td></tr>")
            continue
        mark = {"miss": "✗ miss", "false alarm": "✗ false alarm"}.get(line.kind, "✓ match")
        lines.append(f'<tr class="{esc(line.kind.replace(" ", "-"))}"><td>{esc(mark)}</td>'
                     f"{_clip_html(line.ref)}{_clip_html(line.est)}<td>{esc(line.figures)}</td></tr>")
    return (f'<section id="mix{index}"><h3>{esc(section.soundscape)}{tags}</h3>'
            f"<p>CAPI-SDRi: {esc(fmt_db(section.capi))}</p><table>"
            "<tr><th></th><th>reference</th><th>estimate</th><th>SDR / SDRi</th></tr>"
            + "".join(lines) + "</table></section>")


def render_page(system: str, summary: Mapping, sections: Sequence[Section], note: str) -> str:
    """The whole ``index.html`` (UTF-8 text)."""
    toc = "".join(f'<li><a href="#mix{i}">{esc(s.soundscape)}</a> {esc(fmt_db(s.capi))} '
                  f'{"".join(f"<span class=tag>{esc(r)}</span>" for r in s.reasons)}</li>'
                  for i, s in enumerate(sections))
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Listening report: {esc(system)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>Listening report: {esc(system)}</h1>\n"
        f"<p>Generated {esc(stamp)} by espnet2_ext.bin.s5_score. {esc(note)}</p>\n"
        f'<p id="{STATUS_ID}" data-state="pending">Media check: needs JavaScript.</p>\n'
        + _summary_html(summary)
        + f"\n<h2>Soundscapes ({len(sections)} of {esc(summary['n_mixtures'])})</h2><ol start=\"0\">{toc}</ol>\n"
        + "\n".join(_section_html(i, s) for i, s in enumerate(sections))
        + f"\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )
