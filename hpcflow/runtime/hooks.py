"""A Python OP template's ``pre_script`` and ``post_script``, run in the job around the OP.

Dflow puts ``pre_script`` at the top of the script it generates for a step and
``post_script`` at its end, so both run in the step's Python process with one namespace:
the first before the OP is imported and its inputs are read, the second after ``execute``
returned. Both are ``str.format`` templates, as in Dflow: ``{tmp_root}`` is the step's
working directory and ``{{`` / ``}}`` are literal braces. ``post_script`` also sees the
names Dflow's generated script defines: ``op_obj``, ``input`` and ``output``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpcflow.spec.model import OPTemplateSpec

#: The template fields, in the order they run.
FIELDS = ("pre_script", "post_script")


class HookError(Exception):
    """A pre_script or post_script raised (TransientError and FatalError pass unchanged)."""


def render(text: str, tmp_root: str) -> str:
    """The code a hook runs: Dflow's ``text.format(tmp_root=...)``, dedented (Dflow users
    indent ``post_script`` to sit inside the generated script's ``if __name__`` block)."""
    import textwrap  # only a step with hooks pays for it

    return textwrap.dedent(text.format(tmp_root=tmp_root))


def compile_hook(text: str, which: str, step: str, tmp_root: str) -> Any:
    """Compile one hook; tracebacks show its lines under ``<pre_script of step S>``."""
    import linecache  # (and tokenize) only a step with hooks pays for it

    source = render(text, tmp_root)
    filename = f"<{which} of step {step}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec")


class Hooks:
    """The hooks of one unit and the namespace they share."""

    def __init__(self, template: OPTemplateSpec, step: str, tmp_root: str) -> None:
        self.template = template
        self.step = step
        self.tmp_root = tmp_root
        self.namespace: dict[str, Any] = {"__name__": "__main__"}

    def run(self, which: str, **names: Any) -> None:
        """Run ``pre_script`` or ``post_script`` (if the template has one)."""
        text = getattr(self.template, which) or ""
        if not text.strip():
            return
        from hpcflow.python.op import FatalError, TransientError

        self.namespace.update(names)
        try:
            exec(compile_hook(text, which, self.step, self.tmp_root), self.namespace)
        except (TransientError, FatalError):
            raise
        except Exception as exc:
            raise HookError(f"{which} of step {self.step} failed: {type(exc).__name__}: {exc}") from exc
