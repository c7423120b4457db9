"""Property-based tests (hypothesis) of what parses user text: the expression language and
the site-file loader. On any input they return a value or raise one of hpcflow's own
errors (the HpcflowError tree), never a bare ValueError, RecursionError or a hang.

Runs are derandomized (the same examples every run, no example database), so a failure
replays as it was found; hypothesis prints the falsifying example.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcflow.errors import ExpressionError, HpcflowError
from hpcflow.resources import normalize_resources
from hpcflow.site import load_site, parse_site
from hpcflow.spec.evaluate import FUNCTIONS, Evaluator, evaluate_condition, to_text
from hpcflow.spec.expr import parse, references, template_references

PROPERTIES = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------ expressions

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["[1, 2]", '{"a": 1}', "3", "2.5", "true", "[", "{", "[[[[[[[[[[", "1e999"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)

NUMBERS = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e999", "9" * 5000, "1" * 400, "1" + "0" * 300, "99999999999", ".5", "1.", "0e0",
                     "00", "1e-999"]),
)
QUOTED = st.one_of(
    st.text(max_size=10).map(json.dumps),
    st.text(alphabet='ab\\"\'{}=ux0', max_size=10).map(lambda s: f'"{s}"'),
    st.text(alphabet="ab\\'{}=", max_size=10).map(lambda s: f"'{s}'"),
    st.sampled_from(["'%999999999d'", "'x'", "'[1, 2]'", '"["', "'3'"]),
)
REFERENCES = st.sampled_from([
    "inputs.parameters.x", "inputs.artifacts.f", "steps.a.outputs.parameters.y", "steps['a'].outputs",
    "tasks.t.outputs.parameters['z']", "item", "item.order", "item[0]", "workflow.parameters.p",
    "steps.a.status", "inputs", "outputs.parameters.q", "{{item}}", "{{inputs.parameters.x}}",
    "{{=item}}", "{{nope}}", "'{{inputs.parameters.x}}'", "x",
])
NAMES = sorted(FUNCTIONS) + ["cond", "sprig.fromJson", "true", "false", "null", "nil", "None"]
BINARY = ["||", "&&", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "in", "and", "or"]
TOKENS = st.one_of(NUMBERS, QUOTED, REFERENCES, st.sampled_from(NAMES + BINARY),
                   st.sampled_from(list("!?:()[].,{}-") + ["{{", "}}", "not", "=", "@", "$"]))


ATOMS = st.one_of(NUMBERS, QUOTED, REFERENCES, st.sampled_from(["true", "false", "null"]))


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    args = st.lists(inner, max_size=3).map(", ".join)
    return st.one_of(
        st.tuples(inner, st.sampled_from(BINARY), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["!", "-", "not "]), inner).map("".join),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        st.tuples(st.sampled_from(NAMES[:-5]), args).map(lambda t: f"{t[0]}({t[1]})"),
        args.map(lambda a: f"[{a}]"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.lists(st.tuples(inner, inner), max_size=2).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"),
        inner.map(lambda e: json.dumps("{{=" + e + "}}")),  # a string holding a placeholder
    )


# deferred, not st.recursive: the repr of a recursive strategy that uses ``inner`` many
# times grows exponentially and hypothesis builds it on every failure.
_EXPRESSION: st.SearchStrategy[str] = st.deferred(lambda: st.one_of(ATOMS, ATOMS, _compound(_EXPRESSION)))


EXPRESSIONS = _EXPRESSION
TOKEN_SOUP = st.lists(TOKENS, max_size=25).map(" ".join)


def _lookup(values: dict[str, Any]):
    def lookup(parts: Any) -> Any:
        key = ".".join(parts)
        if key not in values:
            raise ExpressionError(f"{key} has no value")
        return values[key]
    return lookup


REFERENCE_VALUES = st.fixed_dictionaries({}, optional={
    "inputs.parameters.x": JSON_VALUES, "inputs.artifacts.f": st.text(max_size=8),
    "steps.a.outputs.parameters.y": JSON_VALUES, "steps.a.status": st.sampled_from(["Succeeded", "Failed"]),
    "tasks.t.outputs.parameters.z": JSON_VALUES, "item": JSON_VALUES, "workflow.parameters.p": JSON_VALUES,
    "outputs.parameters.q": JSON_VALUES,
})


def _only_our_errors(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except HpcflowError:
        return None


@PROPERTIES
@given(st.one_of(st.text(max_size=40), TOKEN_SOUP, EXPRESSIONS))
def test_parsing_any_text_returns_a_tree_or_an_expression_error(text: str) -> None:
    try:
        tree = parse(text)
        refs = references(tree)  # placeholders inside string literals are parsed here
    except ExpressionError:
        return
    assert isinstance(tree, tuple) and tree
    assert all(isinstance(ref, tuple) and all(isinstance(p, str) for p in ref) for ref in refs)


@PROPERTIES
@given(st.one_of(st.text(max_size=40), TOKEN_SOUP, EXPRESSIONS), REFERENCE_VALUES)
def test_evaluating_any_expression_returns_a_value_or_an_expression_error(text: str, values: dict) -> None:
    lookup = _lookup(values)
    try:
        value = Evaluator(lookup).eval(parse(text))
    except ExpressionError:
        return
    assert isinstance(to_text(value), str)  # every result can be put into a string
    _only_our_errors(evaluate_condition, text, lookup)


@PROPERTIES
@given(st.lists(st.one_of(st.text(max_size=6), EXPRESSIONS.map(lambda e: "{{=" + e + "}}"), REFERENCES),
                max_size=5).map("".join), REFERENCE_VALUES)
def test_rendering_any_template_returns_a_value_or_an_expression_error(text: str, values: dict) -> None:
    _only_our_errors(template_references, text)
    _only_our_errors(Evaluator(_lookup(values)).render, text)


#: Operands where operators and functions are most fragile: huge numbers, non-numbers,
#: format strings, JSON text, references to a 500-digit numeric string.
AWKWARD_OPERANDS = ["99999999999", "1" + "0" * 300, "1" * 400, "-1", "0", "0.0", "1e308", "'x'",
                    "'%999999999d'", "'[1, 2]'", "'[[['", "'3'", "[1]", "[]", "{}", "true", "null",
                    "inputs.parameters.x"]
HUGE_TEXT = {"inputs.parameters.x": "9" * 500}
OPERANDS = st.one_of(st.sampled_from(AWKWARD_OPERANDS), NUMBERS, QUOTED, REFERENCES)


def _value_or_our_error(text: str, values: dict) -> None:
    value = _only_our_errors(lambda: Evaluator(_lookup(values)).eval(parse(text)))
    assert isinstance(to_text(value), str)  # every result can be put into a string


def test_every_operator_on_every_awkward_pair_is_a_value_or_an_expression_error() -> None:
    """Exhaustive over the small awkward set (~5000 expressions, well under a second)."""
    for a in AWKWARD_OPERANDS:
        for op in BINARY:
            for b in AWKWARD_OPERANDS:
                _value_or_our_error(f"{a} {op} {b}", HUGE_TEXT)
        _value_or_our_error(f"-{a}", HUGE_TEXT)
        _value_or_our_error(f"{a}[0]", HUGE_TEXT)


def test_every_function_on_awkward_arguments_is_a_value_or_an_expression_error() -> None:
    arg_lists = [[]] + [[a] for a in AWKWARD_OPERANDS] + [[a, b] for a in AWKWARD_OPERANDS[:9]
                                                          for b in AWKWARD_OPERANDS[:9]]
    for name in [*sorted(FUNCTIONS), "cond"]:
        for args in arg_lists + [["3", "0", "''", "'%999999999d'"], ["3", "0", "''", "'%s%s'"]]:
            _value_or_our_error(f"{name}({', '.join(args)})", HUGE_TEXT)


@PROPERTIES
@given(OPERANDS, st.sampled_from(BINARY), OPERANDS, REFERENCE_VALUES)
def test_any_operator_on_any_operands_is_a_value_or_an_expression_error(
    a: str, op: str, b: str, values: dict
) -> None:
    _value_or_our_error(f"{a} {op} {b}", values)


@PROPERTIES
@given(st.sampled_from([*sorted(FUNCTIONS), "cond"]), st.lists(OPERANDS, max_size=4), REFERENCE_VALUES)
def test_any_function_on_any_arguments_is_a_value_or_an_expression_error(
    name: str, args: list, values: dict
) -> None:
    _value_or_our_error(f"{name}({', '.join(args)})", values)


def test_deep_nesting_is_an_expression_error_not_a_crash() -> None:
    for text in ["(" * 5000 + "1" + ")" * 5000, "!" * 5000 + "true", "-" * 5000 + "1",
                 "[" * 5000 + "]" * 5000, "a" + "[0]" * 5000, "{{=" * 100 + "1" + "}}" * 100]:
        _only_our_errors(lambda t: Evaluator(_lookup({})).eval(parse(t)), text)


# ------------------------------------------------------------------------ site files

#: Values that have broken parsers before: huge, infinite, empty, half-formed, variables.
AWKWARD_TEXT = st.sampled_from([
    "10G", "1e400G", "9" * 400 + "G", "500M", "2 gigs", "-1G", "0M", "4Gi", "1-00:00:00", "99:99:99",
    "1-", "-", "1-2:3:4", ":", "9" * 5000, "00:00:00", "0", "$HOME/x", "$NOPE/x", "~/x", "~nobody",
    "${USER}", "/a:/b:ro", "a:b:c:d", "a,b", "", " ", "slurm", "local", "s3", "shared", "apptainer",
    "nvidia", "--qos=x", "x\ny", "\x00",
])
AWKWARD_NUMBERS = st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e400, -1, 0, 10**400, 2**63, True])
AWKWARD = st.one_of(AWKWARD_TEXT, AWKWARD_NUMBERS)
SITE_TEXT = st.one_of(st.text(max_size=12), AWKWARD_TEXT)
SITE_SCALARS = st.one_of(
    AWKWARD, SITE_TEXT, st.integers(), st.booleans(), st.floats(),
    st.datetimes(), st.dates(), st.times(),
)
SITE_VALUES = st.recursive(SITE_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(SITE_TEXT, inner, max_size=3), max_leaves=6)
FIELD = st.one_of(AWKWARD_NUMBERS, AWKWARD_TEXT, SITE_SCALARS, SITE_VALUES)  # awkward values often


def _table(keys: list[str]) -> st.SearchStrategy[dict]:
    """A table with any of the schema's ``keys`` (and sometimes an unknown one)."""
    return st.dictionaries(st.sampled_from([*keys, "bogus"]), FIELD, min_size=1, max_size=4)


DEFAULT_KEYS = ["cpus", "memory", "gpus", "time", "partition", "account", "qos", "constraint", "extra_sbatch"]
PARTITION_KEYS = ["max_time", "max_cpus", "max_memory", "gpus", "default"]
TOP_KEYS = ["scheduler", "work_root", "python", "max_queued_jobs", "setup", "exit_record_grace_s", "poll_max_s",
            "defaults", "partitions", "containers", "storage"]
SECTIONS = st.one_of(  # one section at a time gets every key of it exercised
    _table(DEFAULT_KEYS).map(lambda t: {"defaults": t}),
    st.dictionaries(SITE_TEXT, _table(PARTITION_KEYS), min_size=1, max_size=2).map(lambda t: {"partitions": t}),
    _table(["runtime", "executable", "binds", "options", "gpu"]).map(lambda t: {"containers": t}),
    _table(["kind", "endpoint_url", "bucket", "prefix", "region", "credentials_file",
            "multipart_threshold_mb", "aws_secret_access_key"]).map(lambda t: {"storage": t}),
    _table(TOP_KEYS),
)
SITE = st.tuples(st.one_of(st.just("site"), SITE_TEXT), st.lists(SECTIONS, min_size=1, max_size=3)).map(
    lambda t: {"name": t[0]} | {k: v for section in t[1] for k, v in section.items()})


@PROPERTIES
@given(SITE)
def test_any_site_mapping_loads_or_is_a_config_error(data: dict) -> None:
    from hpcflow.engine.site_adapter import settings_from_site

    try:
        config = parse_site(data, "gen.toml")
    except HpcflowError as exc:
        assert str(exc).startswith("gen.toml")
        return
    settings_from_site(config, Path("/nonexistent-home"))  # a valid site always converts


@PROPERTIES
@given(st.one_of(
    st.binary(max_size=60),
    st.lists(st.sampled_from(['name = "x"', "[defaults]", "[partitions.p]", 'memory = "1e400G"',
                              "max_memory = inf", "max_time = 1e400", "cpus = 0", "time = 1979-05-27",
                              'work_root = "$NOPE"', "\xff", "[[x]]", "a = [1, {b = 2}]"]),
             max_size=6).map("\n".join).map(lambda s: s.encode("utf-8", "surrogateescape")),
))
def test_any_site_file_loads_or_is_a_config_error(tmp_path_factory: Any, content: bytes) -> None:
    path = tmp_path_factory.mktemp("site") / "site.toml"
    path.write_bytes(content)
    _only_our_errors(load_site, path)


# ------------------------------------------------------------------------ resources

RESOURCE_KEYS = ["cpu", "cpus", "memory", "mem", "gpus", "nvidia.com/gpu", "time", "walltime",
                 "time_limit_s", "partition", "extra_options", "exclude", "ephemeral-storage", "bogus"]


@PROPERTIES
@given(st.dictionaries(st.sampled_from(RESOURCE_KEYS), st.one_of(FIELD, st.lists(SITE_TEXT, max_size=2),
                                                                 st.sampled_from(["500m", "1.5", "2", "4Gi"])),
                       max_size=4))
def test_any_resource_request_normalizes_or_is_a_spec_error(request: dict) -> None:
    _only_our_errors(normalize_resources, request)


def test_printable_alphabet_is_covered() -> None:
    """The tokenizer's alphabet: every printable character either tokenizes or is refused."""
    for ch in string.printable:
        _only_our_errors(parse, ch)


# ------------------------------------------------------------------------ what was found
# Each of these escaped as a bare Python exception (or exhausted memory) before; now each
# is one of our errors with a message that says what is wrong.

def _error_of(fn: Any, *args: Any) -> str:
    try:
        fn(*args)
    except HpcflowError as exc:
        return str(exc)
    raise AssertionError(f"{fn.__name__}{args!r:.80} raised nothing")


def _eval(text: str) -> Any:
    return Evaluator(_lookup(HUGE_TEXT)).eval(parse(text))


def test_found_in_the_expression_language() -> None:
    assert references(parse("{[]: 0}")) == []  # a list as a dict key was hashed: TypeError
    assert "has more than 400 characters" in _error_of(parse, "9" * 5000)  # int() refused it
    assert "bad string '\"\\\\q\"': Invalid \\escape" in _error_of(parse, '"\\q"')  # JSONDecodeError
    assert "nested more than 64 deep" in _error_of(parse, "(" * 300 + "1" + ")" * 300)  # RecursionError
    assert "nested more than 64 deep" in _error_of(parse, "a" + "[0]" * 100)  # RecursionError in eval
    assert "'x' is not a number" in _error_of(_eval, "'x' * 99999999999")  # MemoryError
    assert "is not a number" in _error_of(_eval, "'%999999999d' % 1")  # a 1 GB string
    assert "cannot compute" in _error_of(_eval, "1" + "0" * 350 + " / 1")  # OverflowError
    assert "too large a number" in _error_of(_eval, "inputs.parameters.x * inputs.parameters.x")
    assert "more than the 1000000 a fan-out may have" in _error_of(_eval, "range(99999999999)")
    assert "width of 1000 or more" in _error_of(_eval, "sequence(3, 0, '', '%999999999d')")
    assert "cond takes one argument, got 0" in _error_of(_eval, "cond()")  # IndexError
    assert _eval("'ab' + 'c'") == "abc" and _eval("[1] + [2]") == [1, 2] and _eval("'2' * 3") == 6


def test_found_in_site_files(tmp_path: Path) -> None:
    assert _error_of(parse_site, {"name": "x", "defaults": {"memory": float("inf")}}, "s.toml") == (
        "s.toml: defaults.memory: cannot parse inf as a memory size (e.g. '2G', '500M')")  # OverflowError
    assert _error_of(parse_site, {"name": "x", "defaults": {"time": "9" * 5000}}, "s.toml").startswith(
        "s.toml: defaults.time: cannot parse")  # a SpecError without the file and key
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('name = "caf\xe9"'.encode("latin-1"))
    assert _error_of(load_site, bad) == f"{bad}: not UTF-8 text (byte 11): TOML files are UTF-8"


def test_found_in_resource_requests() -> None:
    assert _error_of(normalize_resources, {"time": "1-"}) == (
        "resource 'time': cannot parse '1-' as a time limit (use e.g. '01:30:00')")  # ValueError
    assert _error_of(normalize_resources, {"gpus": float("inf")}) == (
        "resource 'gpus': cannot use inf as a GPU count")  # OverflowError
    assert _error_of(normalize_resources, {"cpus": "abc"}) == "resource 'cpus': cannot use 'abc'"
    assert _error_of(normalize_resources, {"exclude": 0}) == "resource 'exclude': cannot use 0"
    assert normalize_resources({"extra_options": "--exclusive"}) == {"extra_options": ["--exclusive"]}
