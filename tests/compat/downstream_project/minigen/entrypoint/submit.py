"""``python -m minigen.entrypoint.submit input.json``: build and submit the workflow."""

import json
import sys
import time

from dflow import Step, Workflow, upload_artifact
from dflow.python import Slices, upload_packages

import minigen
from minigen.op import PrepSquareTasks, RunTask
from minigen.superop import Block, PrepRunTasks

upload_packages.append(minigen.__path__[0])


def make_workflow(config: dict) -> Workflow:
    prep_run = PrepRunTasks("prep-run-tasks", PrepSquareTasks, config.get("run_op", RunTask),
                            prep_config=config.get("prep"), run_config=config.get("run"))
    block = Block("block", prep_run)
    iterations = config["iterations"]
    init_model = config.get("init_model")
    wf = Workflow(name=config.get("name", "minigen"))
    wf.add(Step(
        "blocks",
        template=block,
        parameters={
            "block_id": ["iter-%03d" % i for i in range(len(iterations))],
            "confs": iterations,
            "template": config.get("template", {"scale": 1}),
            "run_config": config.get("run_config", {}),
            "optional_parameter": config.get("optional_parameter", {}),
        },
        artifacts={"init_model": upload_artifact(init_model) if init_model else None},
        slices=Slices(input_parameter=["block_id", "confs"], output_parameter=["total", "envs"]),
    ))
    return wf


def submit(config: dict) -> Workflow:
    wf = make_workflow(config)
    wf.submit()
    return wf


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as fh:
        config = json.load(fh)
    wf = submit(config)
    while wf.query_status() in ("Pending", "Running"):
        time.sleep(1)
    status = wf.query_status()
    totals = wf.query_step(name="blocks")[0].outputs.parameters["total"].value
    print("minigen: workflow %s %s totals=%s" % (wf.id, status, json.dumps(totals)))
    return 0 if status == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
