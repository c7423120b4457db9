"""Draw a step tree as SVG: nested boxes, Steps groups as columns, DAG tasks in layers.

A container (Steps or DAG) is a box holding its children; a Steps group is a column and
an arrow leads from each group to the next; DAG tasks sit in layers by their longest
dependency chain, with one arrow per dependency. A fan-out is a single box with its
counts; a ``when``-skipped step is dashed; a step not started yet is a ghost. Past
``max_boxes`` boxes, deeper containers are drawn closed (a link to their own page), so
the drawing stays small at any size. Colours come from the stylesheet (classes only:
the page's CSP allows no inline style).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote

from hpcflow.ui.tree import StepView

BOX_W, BOX_H = 176, 60
GAP_X, GAP_Y = 34, 12
PAD, HEADER = 10, 26
#: A container shows at most this many of its children; one box stands for the rest.
MAX_CHILDREN = 60


@dataclass
class _Shape:
    view: StepView
    w: float
    h: float
    parts: list[_Shape] = field(default_factory=list)
    x: float = 0.0
    y: float = 0.0

    @property
    def open(self) -> bool:
        return bool(self.parts)


def render(root: StepView, link: str, max_boxes: int = 300) -> str:
    """The SVG of ``root``'s tree; ``link`` is the URL prefix a step path is appended to."""
    budget = [max_boxes]
    shape = _measure(root, budget, top=True)
    out: list[str] = []
    _emit(shape, 0.0, 0.0, link, out)
    w, h = shape.w + 2, shape.h + 2
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{w:.0f}" height="{h:.0f}"'
        f' viewBox="-1 -1 {w:.0f} {h:.0f}" role="img" aria-label="steps of {escape(root.name)}">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" class="arrowhead"/>'
        "</marker></defs>" + "".join(out) + "</svg>"
    )


def _measure(view: StepView, budget: list[int], top: bool = False) -> _Shape:
    budget[0] -= 1
    if not view.is_container or not view.children or (budget[0] <= 0 and not top):
        return _Shape(view, BOX_W, BOX_H)
    columns: dict[int, list[_Shape]] = {}
    shown = view.children[:MAX_CHILDREN]
    if len(view.children) > MAX_CHILDREN:
        rest = len(view.children) - MAX_CHILDREN
        shown = [*shown, StepView(path=view.path, name=f"… {rest} more steps", type="more",
                                  phase="see the step tree", ghost=True, column=shown[-1].column)]
    for child in shown:
        columns.setdefault(child.column, []).append(_measure(child, budget))
    x: float = PAD
    height = 0.0
    parts = []
    for col in sorted(columns):
        y: float = HEADER
        for s in columns[col]:
            s.x, s.y = x, y
            y += s.h + GAP_Y
            parts.append(s)
        height = max(height, y - GAP_Y)
        x += max(s.w for s in columns[col]) + GAP_X
    return _Shape(view, max(BOX_W, x - GAP_X + PAD), height + PAD, parts)


def _emit(s: _Shape, ox: float, oy: float, link: str, out: list[str]) -> None:
    v = s.view
    x, y = ox + s.x, oy + s.y
    classes = ["node", f"phase-{v.phase.replace(' ', '-')}", f"type-{v.type}"]
    if v.ghost:
        classes.append("ghost")
    if s.open:
        classes.append("container")
    attrs = f'class="{" ".join(classes)}" data-path="{escape(v.path)}" data-phase="{escape(v.phase)}"'
    out.append(f"<g {attrs}>")
    if not v.ghost:
        out.append(f'<a href="{escape(link + quote(v.path, safe=""))}">')
    out.append(f"<title>{escape(_tooltip(v))}</title>")
    out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{s.w:.0f}" height="{s.h:.0f}" rx="6"/>')
    if s.open:
        label = f"{v.name} · {v.type}" + (f" · iteration {v.iteration}" if v.iteration else "")
        out.append(_text(x + 8, y + 17, label, "title", limit=int(s.w // 7)))
        if not v.ghost:
            out.append("</a>")
        _edges(s, x, y, out)
        for part in s.parts:
            _emit(part, x, y, link, out)
    else:
        out.append(_text(x + 8, y + 18, v.name, "title"))
        out.append(_text(x + 8, y + 35, _subtitle(v), "sub"))
        out.append(_text(x + 8, y + 51, _status_line(v), "status"))
        if not v.ghost:
            out.append("</a>")
    out.append("</g>")


def _edges(s: _Shape, x: float, y: float, out: list[str]) -> None:
    """Arrows inside a container: group to group for Steps, dependency to task for a DAG."""
    if s.view.type == "DAG":
        by_name = {p.view.name: p for p in s.parts}
        for p in s.parts:
            for dep in p.view.depends:
                src = by_name.get(dep)
                if src is not None:
                    out.append(_arrow(x + src.x + src.w, y + src.y + BOX_H / 2,
                                      x + p.x, y + p.y + BOX_H / 2))
        return
    firsts: dict[float, _Shape] = {}
    for p in s.parts:
        firsts.setdefault(p.x, p)
    cols = [firsts[k] for k in sorted(firsts)]
    for a, b in zip(cols, cols[1:], strict=False):
        out.append(_arrow(x + a.x + a.w, y + a.y + BOX_H / 2, x + b.x, y + b.y + BOX_H / 2))


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    mid = (x1 + x2) / 2
    return (f'<path class="edge" d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f}'
            f' {x2 - 2:.0f},{y2:.0f}" marker-end="url(#arrow)"/>')


def _text(x: float, y: float, text: str, cls: str, limit: int = 26) -> str:
    return f'<text x="{x:.0f}" y="{y:.0f}" class="{cls}">{escape(_fit(text, limit))}</text>'


def _fit(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _subtitle(v: StepView) -> str:
    kind = "slices" if v.type == "FanOut" else v.type
    if v.key:
        return f"{kind} · {v.key}"
    if v.iteration:
        return f"{kind} · iteration {v.iteration}"
    return kind


def _status_line(v: StepView) -> str:
    if v.progress is not None:
        p = v.progress
        return f"✓{p['done']} ▶{p['running']} ✗{p['failed']} …{p['pending']} /{p['total']}"
    if v.phase == "Skipped" and v.when:
        return "skipped: when false"
    extra = f" · {v.attempts} attempts" if v.attempts > 1 else ""
    return v.phase + extra


def _tooltip(v: StepView) -> str:
    lines = [f"{v.path or v.name}: {v.phase}"]
    if v.when:
        lines.append(f"when {v.when}")
    if v.message:
        lines.append(v.message)
    return "\n".join(lines)
