"""A step that asks for a GPU the stand-in cluster does not have (its node has none)."""

import json
import os
import socket

from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate

IMAGE = os.environ.get("HPCFLOW_TEST_IMAGE", "/var/tmp/hpcflow-test-image")


@OP.function
def where() -> {"host": str}:
    return {"host": socket.gethostname()}


if __name__ == "__main__":
    wf = Workflow("gpu")
    wf.add(Step("train", PythonOPTemplate(where, image=IMAGE, requests={"nvidia.com/gpu": 1})))
    wf.submit()
    print(json.dumps({"id": wf.id}))
