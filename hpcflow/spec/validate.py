"""Check a compiled workflow spec before anything runs: references, cycles, expressions.

Each problem is one :class:`SpecError` naming the template and the step at fault.
"""

from __future__ import annotations

from typing import Any

from hpcflow.errors import ExpressionError, SpecError
from hpcflow.spec.expr import parse, references, template_references


def value_refs(vspec: Any) -> list[tuple[str, ...]]:
    """References inside a compiled value spec (``{"t": ...}``, lists, dicts)."""
    if not isinstance(vspec, dict):
        return []
    if "t" in vspec:
        return template_references(vspec["t"])
    if "l" in vspec:
        return [r for v in vspec["l"] for r in value_refs(v)]
    if "d" in vspec:
        return [r for v in vspec["d"].values() for r in value_refs(v)]
    return []


def step_refs(step: dict[str, Any]) -> list[tuple[str, ...]]:
    refs: list[tuple[str, ...]] = []
    for v in list(step["parameters"].values()) + list(step["artifacts"].values()):
        refs += value_refs(v)
    for field in ("key", "with_param", "with_sequence"):
        refs += value_refs(step.get(field))
    if step.get("when"):
        refs += references(parse(step["when"]))
    return refs


def validate_spec(spec: dict[str, Any]) -> None:
    templates = spec["templates"]
    if spec["entrypoint"] not in templates:
        raise SpecError(f"workflow {spec['name']}: entrypoint {spec['entrypoint']!r} is not a template")
    for name, tmpl in templates.items():
        if tmpl["kind"] == "steps":
            _validate_steps(name, tmpl, templates)
        elif tmpl["kind"] == "dag":
            _validate_dag(name, tmpl, templates)
        else:
            _validate_hooks(name, tmpl)


def _validate_hooks(name: str, tmpl: dict[str, Any]) -> None:
    """pre_script / post_script: Python code of a Python OP template (as in Dflow)."""
    from hpcflow.runtime.hooks import FIELDS, compile_hook

    for which in FIELDS:
        text = tmpl.get(which) or ""
        if not text.strip():
            continue
        if tmpl["kind"] != "python":
            raise SpecError(
                f"template {name}: {which} is an option of PythonOPTemplate (Python code run "
                "around the OP); put shell or script lines into the script itself"
            )
        try:
            compile_hook(text, which, name, "/tmp")
        except (KeyError, IndexError, ValueError) as exc:
            raise SpecError(
                f"template {name}: {which} is a str.format template as in Dflow ({{tmp_root}} "
                f"is the step's directory): write {{{{ and }}}} for literal braces ({exc!r})"
            ) from None
        except SyntaxError as exc:
            raise SpecError(f"template {name}: {which} is not valid Python: {exc.msg} "
                            f"(line {exc.lineno})") from None


def _check_step_expressions(tmpl_name: str, step: dict[str, Any]) -> list[tuple[str, ...]]:
    try:
        return step_refs(step)
    except ExpressionError as exc:
        raise SpecError(f"template {tmpl_name}, step {step['name']}: {exc}") from exc


def _check_ref(
    tmpl_name: str,
    where: str,
    ref: tuple[str, ...],
    tmpl: dict[str, Any],
    visible: dict[str, dict[str, Any]],
    templates: dict[str, Any],
    sibling_kind: str,
) -> None:
    root = ref[0]
    if root == "inputs":
        if len(ref) < 3 or ref[1] not in ("parameters", "artifacts"):
            raise SpecError(f"template {tmpl_name}, {where}: bad reference {'.'.join(ref)}")
        if ref[2] not in tmpl["inputs"][ref[1]]:
            raise SpecError(
                f"template {tmpl_name}, {where}: {'.'.join(ref)} is not an input of {tmpl_name} "
                f"(inputs: {', '.join(sorted(tmpl['inputs'][ref[1]])) or 'none'})"
            )
    elif root in ("steps", "tasks"):
        if root != sibling_kind:
            raise SpecError(
                f"template {tmpl_name}, {where}: {'.'.join(ref)} refers to {root}, but this "
                f"template's children are {sibling_kind}"
            )
        name = ref[1]
        if name not in visible:
            raise SpecError(
                f"template {tmpl_name}, {where}: {'.'.join(ref)} refers to step {name!r}, which "
                "is not an earlier step of this template"
            )
        if len(ref) >= 5 and ref[2] == "outputs":
            produced = templates[visible[name]["template"]]["outputs"].get(ref[3], {})
            if ref[4] not in produced:
                raise SpecError(
                    f"template {tmpl_name}, {where}: step {name!r} has no output {ref[3][:-1]} "
                    f"{ref[4]!r} (outputs: {', '.join(sorted(produced)) or 'none'})"
                )


def _validate_steps(name: str, tmpl: dict[str, Any], templates: dict[str, Any]) -> None:
    visible: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for group in tmpl["groups"]:
        for step in group:
            if step["name"] in seen:
                raise SpecError(f"template {name}: two steps are named {step['name']!r}")
            seen.add(step["name"])
            for ref in _check_step_expressions(name, step):
                _check_ref(name, f"step {step['name']}", ref, tmpl, visible, templates, "steps")
        for step in group:
            visible[step["name"]] = step
    _validate_outputs(name, tmpl, visible, templates, "steps")


def _validate_dag(name: str, tmpl: dict[str, Any], templates: dict[str, Any]) -> None:
    tasks = {t["name"]: t for t in tmpl["tasks"]}
    if len(tasks) != len(tmpl["tasks"]):
        raise SpecError(f"template {name}: two tasks have the same name")
    deps: dict[str, set[str]] = {}
    for task in tmpl["tasks"]:
        deps[task["name"]] = set(task.get("dependencies", []))
        for d in deps[task["name"]]:
            if d not in tasks:
                raise SpecError(f"template {name}, task {task['name']}: depends on unknown task {d!r}")
        for ref in _check_step_expressions(name, task):
            _check_ref(name, f"task {task['name']}", ref, tmpl, tasks, templates, "tasks")
            if ref[0] == "tasks":
                deps[task["name"]].add(ref[1])
        task["dependencies"] = sorted(deps[task["name"]])
    cycle = find_cycle(deps)
    if cycle:
        raise SpecError(f"template {name}: the tasks form a cycle: {' -> '.join(cycle)}")
    _validate_outputs(name, tmpl, tasks, templates, "tasks")


def _validate_outputs(
    name: str, tmpl: dict[str, Any], visible: dict[str, Any], templates: dict[str, Any], kind: str
) -> None:
    for section in ("parameters", "artifacts"):
        for out_name, out in tmpl["outputs"][section].items():
            try:
                refs = value_refs(out.get("from"))
            except ExpressionError as exc:
                raise SpecError(f"template {name}, output {out_name}: {exc}") from exc
            for ref in refs:
                _check_ref(name, f"output {out_name}", ref, tmpl, visible, templates, kind)


def find_cycle(deps: dict[str, set[str]]) -> list[str] | None:
    """Return one dependency cycle (``a -> b -> a``) or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(deps.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(deps):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
