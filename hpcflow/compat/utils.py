"""Dflow's file and command helpers (``dflow.utils``), with Dflow's behaviour.

``run_command`` takes an argv list (a string is split like a shell would, without one);
only an explicit ``shell=True`` or ``try_bash=True`` from the caller runs a shell.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import random
import selectors
import shlex
import shutil
import string
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Literal, TextIO


class TempDir(tempfile.TemporaryDirectory[str]):
    """A temporary directory whose cleanup never raises."""

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            super().cleanup()


def randstr(length: int = 5) -> str:
    """Random lowercase letters and digits."""
    return "".join(random.choices(string.digits + string.ascii_lowercase, k=length))


def get_md5(f: str | os.PathLike[str]) -> str:
    md5 = hashlib.md5()
    with open(f, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            md5.update(chunk)
    return md5.hexdigest()


@contextlib.contextmanager
def set_directory(dirname: str | os.PathLike[str], mkdir: bool = False) -> Iterator[Path]:
    """Work in ``dirname`` inside the block (created first if ``mkdir``); yields its absolute path."""
    previous = os.getcwd()
    path = Path(dirname).resolve()
    if mkdir:
        path.mkdir(parents=True, exist_ok=True)
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(previous)


def run_command(cmd: list[Any] | str, raise_error: bool = True, input: str | None = None,
                try_bash: bool = False, login: bool = True, interactive: bool = True,
                shell: bool = False, print_oe: bool = False, stdout: TextIO | None = None,
                stderr: TextIO | None = None, **kwargs: Any) -> tuple[int, str, str]:
    """Run a command; return ``(return_code, stdout, stderr)``.

    As in Dflow: a failure raises AssertionError when ``raise_error``; ``print_oe`` (or
    ``stdout``/``stderr`` streams) echoes the output while it runs.
    """
    if print_oe:
        stdout, stderr = sys.stdout, sys.stderr
    if isinstance(cmd, str):
        argv: list[str] | str = cmd if shell else shlex.split(cmd)
    else:
        argv = [str(c) for c in cmd]
    if try_bash:
        text = argv if isinstance(argv, str) else shlex.join(argv)
        bash = shutil.which("bash")
        argv = [bash, "-lc" if login and interactive else "-c", text] if bash else ["sh", "-c", text]
        shell = False
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, shell=shell, **kwargs) as proc:
        if stdout is not None or stderr is not None:
            out, err = _echo(proc, input, stdout, stderr)
        else:
            out_b, err_b = proc.communicate(input.encode() if input else None)
            out, err = out_b.decode(errors="replace"), err_b.decode(errors="replace")
        code = proc.wait()
    if raise_error:
        assert code == 0, f"Command {argv} failed: \n{err}"
    return code, out, err


def _echo(proc: subprocess.Popen[bytes], input: str | None, stdout: TextIO | None,
          stderr: TextIO | None) -> tuple[str, str]:
    """Read both pipes line by line, echoing each line to its stream as it comes."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    if input is not None:
        proc.stdin.write(input.encode())
    proc.stdin.close()
    collected = {proc.stdout: [], proc.stderr: []}  # type: dict[Any, list[str]]
    echo: dict[Any, TextIO | None] = {proc.stdout: stdout, proc.stderr: stderr}
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        open_pipes = 2
        while open_pipes:
            for key, _ in sel.select():
                line = key.fileobj.readline().decode(errors="replace")  # type: ignore[union-attr]  # pipes, not fds
                if not line:
                    sel.unregister(key.fileobj)
                    open_pipes -= 1
                    continue
                collected[key.fileobj].append(line)
                stream = echo[key.fileobj]
                if stream is not None:
                    stream.write(line)
                    stream.flush()
    return "".join(collected[proc.stdout]), "".join(collected[proc.stderr])


# ----------------------------------------------------------------------------- files


def force_move(src: str, dst: str) -> None:
    if os.path.exists(dst):
        if os.path.samefile(src, dst):
            return
        os.remove(dst)
    shutil.move(src, dst)


def merge_dir(src: str, dst: str, func: Callable[[str, str], Any] = force_move) -> None:
    """Put every file of ``src`` at the same place under ``dst`` with ``func`` (move by default)."""
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s):
            if os.path.isfile(d):
                os.remove(d)
            os.makedirs(d, exist_ok=True)
            merge_dir(s, d, func)
        elif os.path.isfile(s):
            if os.path.isdir(d):
                shutil.rmtree(d)
            func(s, d)


def link(src: str, dst: str) -> None:
    """A hard link to ``src`` (to its target, if ``src`` is a symlink)."""
    os.link(os.path.realpath(src) if os.path.islink(src) else src, dst)


def try_link(src: str, dst: str) -> None:
    """Hard-link, or copy where linking is impossible (another filesystem)."""
    try:
        if os.path.isfile(dst):
            os.remove(dst)
        link(src, dst)
    except OSError:
        shutil.copy(src, dst)


def copy_file(src: str, dst: str, func: Callable[[str, str], Any] = try_link) -> None:
    """Copy a file or a directory tree to ``dst`` (replacing it), linking files where possible."""
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    if os.path.isdir(src):
        if os.path.islink(dst) or os.path.isfile(dst):
            os.remove(dst)
        if os.path.isdir(dst):
            shutil.rmtree(dst)
        shutil.copytree(src, dst, copy_function=func)
    elif os.path.isfile(src):
        func(src, dst)
    else:
        raise FileNotFoundError(f"File {src} not found")


def force_link(src: str, dst: str, func: Callable[[str, str], Any] = os.symlink) -> None:
    if os.path.exists(dst) and os.path.samefile(src, dst):
        return
    if os.path.islink(dst):
        os.remove(dst)
    func(src, dst)


def linktree(src: str, dst: str, func: Callable[[str, str], Any] = os.symlink) -> None:
    """Link every file of ``src`` at the same place under ``dst``."""
    merge_dir(src, dst, partial(force_link, func=func))


def remove_empty_dir_tag(path: str) -> None:
    for dirpath, _dirs, files in os.walk(path, followlinks=True):
        if ".empty_dir" in files:
            os.remove(os.path.join(dirpath, ".empty_dir"))


# -------------------------------------------------------------------------- artifacts


def path_object_of_artifact(art: Any, **_ignored: Any) -> Any:
    """The paths of an artifact with its list/dict structure (a stored artifact's value)."""
    return getattr(art, "value", art)


def path_list_of_artifact(art: Any, **_ignored: Any) -> list[str]:
    """Every path of an artifact, in order."""
    from hpcflow.compat.helpers import flatten

    value = path_object_of_artifact(art)
    if isinstance(value, (list, dict)):
        return [str(v) for v in flatten(value).values() if v is not None]
    return [] if value is None else [str(value)]


class ProcessPoolExecutor(concurrent.futures.ProcessPoolExecutor):
    """Leaving the block does not wait for the workers (Dflow's work-around for hangs)."""

    def __exit__(self, *exc: Any) -> Literal[False]:
        self.shutdown(wait=False)
        return False
