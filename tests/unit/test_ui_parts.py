"""Pure parts of the dashboard: Host rules, log tails, previews, the tree and its SVG."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hpcflow.ui import files, present
from hpcflow.ui.security import host_allowed
from hpcflow.ui.svg import render
from hpcflow.ui.tree import build_tree, dag_layers


@pytest.mark.parametrize("host, ok", [
    ("localhost:8080", True), ("127.0.0.1", True), ("[::1]:9", True), ("LOCALHOST:1", True),
    ("localhost.evil.example", False), ("evil.example:8080", False), ("127.0.0.2:80", False),
    ("", False), (None, False), ("[::1", False), ("localhost:80:80", False),
])
def test_host_allowed(host, ok):
    assert host_allowed(host) is ok


def test_tail_starts_at_a_line_and_reads_from_an_offset(tmp_path: Path):
    log = tmp_path / "log.txt"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(10_000)))
    tail = files.read_tail(log, max_bytes=100)
    assert tail.truncated and tail.text.startswith("line ") and tail.text.endswith("line 9999\n")
    assert tail.end == tail.size == log.stat().st_size
    part = files.read_from(log, 0, max_bytes=14)
    assert part.text == "line 0\nline 1\n" and part.end == 14
    assert files.read_tail(tmp_path / "missing").exists is False


def test_a_succeeded_units_log_is_its_window_of_the_merged_log(tmp_path: Path):
    import json

    merged = tmp_path / "units.log"
    merged.write_bytes(b"==> a <==\nfirst unit\n==> b <==\nsecond unit\nline 2\n==> c <==\nthird\n")
    start = merged.read_bytes().index(b"second")
    unit = tmp_path / "attempt-1"
    unit.mkdir()
    length = len(b"second unit\nline 2\n")
    (unit / "exit.json").write_text(json.dumps(
        {"status": "succeeded", "log": {"file": str(merged), "offset": start, "length": length}}))
    source = files.log_path({"dir": str(unit)})
    assert source.exists() and source.path == merged
    assert files.read_tail(source).text == "second unit\nline 2\n"
    assert files.read_tail(source, max_bytes=9).text == "line 2\n"
    part = files.read_from(source, 7)
    assert part.text == "unit\nline 2\n" and part.size == length


def test_a_chunk_never_splits_a_utf8_character(tmp_path: Path):
    log = tmp_path / "log.txt"
    log.write_bytes("aé€😀".encode())  # 1 + 2 + 3 + 4 bytes
    for cut in range(1, 11):
        chunk = files.read_from(log, 0, max_bytes=cut)
        assert "�" not in chunk.text
        rest = files.read_from(log, chunk.end)
        assert chunk.text + rest.text == "aé€😀"


def test_control_characters_are_neutralised(tmp_path: Path):
    log = tmp_path / "log.txt"
    log.write_bytes(b"ok\x1b[31mred\x00\n\tindent\n")
    assert files.read_tail(log).text == "ok�[31mred�\n\tindent\n"


def test_preview_is_bounded_and_elides_long_lists():
    text = present.preview(list(range(100_000)))
    assert len(text) < 700 and "99970 more" in text
    long_text = present.preview({"a": "x" * 10_000})
    assert len(long_text) < 320 and long_text.endswith('…"}')


def test_artifact_entries_and_images():
    assert files.artifact_entries(["/a/p.png", {"k": "s3://b/k.svg"}, None]) == ["/a/p.png", "s3://b/k.svg"]
    assert files.image_type("/x/plot.PNG") == "image/png"
    assert files.image_type("s3://bucket/plot.png") is None  # the dashboard fetches nothing remote
    assert files.image_type("/x/data.json") is None


def _rows(*specs):
    return [{"path": p, "parent": parent, "name": p.rsplit("/", 1)[-1] or "wf", "template": t, "type": ty,
             "phase": ph, "key": None, "message": None, "attempts": 1, "started_at": None,
             "finished_at": None, "data": {}} for p, parent, t, ty, ph in specs]


SPEC = {"templates": {
    "main": {"kind": "steps", "groups": [[{"name": "fan", "template": "op"}, {"name": "d", "template": "dag"}],
                                         [{"name": "later", "template": "op", "when": "1 > 2"}]]},
    "dag": {"kind": "dag", "tasks": [{"name": "a", "template": "op", "dependencies": []},
                                     {"name": "b", "template": "op", "dependencies": ["a"]},
                                     {"name": "c", "template": "op", "dependencies": ["a", "b"]}]},
    "op": {"kind": "python"},
}}


def test_tree_orders_by_spec_adds_ghosts_and_draws_dependencies():
    rows = _rows(("", None, "main", "Steps", "Running"), ("fan", "", "op", "FanOut", "Running"),
                 ("d", "", "dag", "DAG", "Running"), ("d/a", "d", "op", "Pod", "Succeeded"))
    root = build_tree(rows, {"fan": {"Succeeded": 5, "Failed": 1, "Running": 2}}, SPEC)
    assert [c.name for c in root.children] == ["fan", "d", "later"]
    later = root.children[2]
    assert later.ghost and later.when == "1 > 2" and later.column == 1
    d = root.children[1]
    assert [(c.name, c.ghost, c.column) for c in d.children] == [("a", False, 0), ("b", True, 1), ("c", True, 2)]
    assert root.children[0].progress == {"done": 5, "running": 2, "failed": 1, "pending": 0, "total": 8}
    svg = render(root, "/wf/x/node?path=")
    assert svg.count('class="edge"') == 3 + 1  # a→b, a→c, b→c, and group 1 → group 2
    assert 'href="/wf/x/node?path=d%2Fa"' in svg
    assert "✓5 ▶2 ✗1 …0 /8" in svg
    assert re.search(r'class="node phase-Not-started type-Step ghost" data-path="d/b"', svg)
    assert 'href="/wf/x/node?path=d%2Fb"' not in svg  # a ghost is no link


def test_dag_layers_follow_the_longest_chain():
    tasks = [{"name": "e", "dependencies": ["d"]}, {"name": "d", "dependencies": ["b", "c"]},
             {"name": "c", "dependencies": ["a"]}, {"name": "b", "dependencies": ["a"]},
             {"name": "a", "dependencies": []}]
    assert dag_layers(tasks) == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3}


def test_a_huge_tree_is_drawn_with_closed_containers():
    specs = [("", None, "main", "Steps", "Running")]
    for i in range(400):
        specs += [(f"s{i}", "", "inner", "Steps", "Succeeded"), (f"s{i}/u", f"s{i}", "op", "Pod", "Succeeded")]
    spec = {"templates": {"main": {"kind": "steps", "groups": [[{"name": f"s{i}", "template": "inner"}
                                                                  for i in range(400)]]},
                          "inner": {"kind": "steps", "groups": [[{"name": "u", "template": "op"}]]},
                          "op": {"kind": "python"}}}
    svg = render(build_tree(_rows(*specs), {}, spec), "/n?p=", max_boxes=100)
    assert svg.count("<rect") < 130 and "… 340 more steps" in svg
    assert 'data-path="s10/u"' in svg and 'data-path="s59"' in svg and 'data-path="s60"' not in svg
