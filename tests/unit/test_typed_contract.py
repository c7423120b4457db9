"""The engine and the runtime read the spec through the typed model (hpcflow.spec.model),
never a spec dictionary by string key; and the model round-trips what the DSL builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hpcflow.errors import SpecError
from hpcflow.spec.model import READABLE_VERSIONS, SPEC_VERSION, WorkflowSpec

REPO = Path(__file__).resolve().parents[2]

#: How spec dictionaries were read before the model: a template, step, slices, task record
#: or declaration indexed by a string literal.
SPEC_INDEXING = re.compile(
    r"\b(tmpl|template|step|spec|slices|task|decl|target|executor_spec)(\[\s*[\"']|\.get\(\s*[\"'])"
)


@pytest.mark.parametrize("package", ["engine", "runtime"])
def test_engine_and_runtime_index_no_spec_dictionary_by_string(package: str):
    offenders = []
    for path in sorted((REPO / "hpcflow" / package).rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if SPEC_INDEXING.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def _example_specs():
    import runpy

    from hpcflow import Workflow

    built = []
    for name in ("eos", "concurrent_learning"):
        module = runpy.run_path(str(REPO / "examples" / f"{name}.py"), run_name="not_main")
        wf = module["build"]()
        assert isinstance(wf, Workflow)
        built.append(wf)
    return built


def test_the_model_round_trips_the_examples_specs():
    for wf in _example_specs():
        spec = wf.build()
        again = WorkflowSpec.from_json(spec.to_json())
        assert again == spec
        assert again.to_json() == spec.to_json()


def test_a_newer_spec_version_is_refused_naming_both_versions():
    spec = _example_specs()[0].to_spec()
    spec["version"] = SPEC_VERSION + 1
    with pytest.raises(SpecError, match=rf"spec version {SPEC_VERSION + 1}.*{SPEC_VERSION}"):
        WorkflowSpec.from_json(spec)
    spec["version"] = 1  # stored before the model: the same JSON, so it loads
    assert 1 in READABLE_VERSIONS and WorkflowSpec.from_json(spec).name == spec["name"]


def test_validation_does_not_change_what_it_checks():
    import copy

    from hpcflow.spec.validate import validate_spec

    spec = _example_specs()[1].to_spec()
    before = copy.deepcopy(spec)
    validate_spec(spec)
    assert spec == before
