"""Path values and Path annotations are recognised without pathlib imported by hpcflow."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import List

from hpcflow import codec
from hpcflow.pathtypes import is_path, is_path_type
from hpcflow.python.opio import artifact_structure
from hpcflow.python.typecheck import check_type


def test_paths_and_path_annotations_are_recognised() -> None:
    assert is_path(Path("a")) and is_path(PurePosixPath("a"))
    assert not is_path("a") and not is_path(os.DirEntry) and not is_path(None)
    assert is_path_type(Path) and not is_path_type(str) and not is_path_type(PurePosixPath)


def test_a_path_parameter_encodes_as_its_text() -> None:
    assert codec.encode(PurePosixPath("dir/file.txt")) == "dir/file.txt"
    assert codec.decode(codec.encode([Path("/x"), 1])) == [Path("/x"), 1]  # inside: jsonpickle


def test_path_annotations_accept_str_and_paths() -> None:
    assert check_type("a.txt", Path) and check_type(Path("a.txt"), Path)
    assert check_type("a.txt", os.PathLike) and not check_type(3, Path)
    assert artifact_structure(Path) == "path" and artifact_structure(List[Path]) == "list"  # noqa: UP006
