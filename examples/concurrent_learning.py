"""A concurrent-learning loop in the shape of DP-GEN / TESLA, small enough for a laptop.

Each iteration trains an ensemble of models on the labelled data, explores new
configurations, screens them by model deviation (the spread of the ensemble's
predictions), labels the selected ones with a reference calculator (ASE's EMT standing in
for DFT) in parallel slices, and merges them into the data. The loop is a recursive
``Steps`` that calls itself until few candidates remain or ``max_iter`` is reached.

Labelling tolerates failures the way a DFT campaign must: a configuration with
overlapping atoms is refused (FatalError), and the step succeeds if at least half of the
slices do (``continue_on_success_ratio``).

    python examples/concurrent_learning.py [--max-iter 4]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import List

from hpcflow import (
    InputArtifact,
    InputParameter,
    Inputs,
    OutputArtifact,
    OutputParameter,
    Outputs,
    Step,
    Steps,
    Workflow,
    if_expression,
)
from hpcflow.python import OP, Artifact, FatalError, PythonOPTemplate, Slices

CUTOFF, BINS = 5.0, 24


def _atoms(structure: dict):
    from ase import Atoms

    return Atoms("Cu%d" % len(structure["positions"]), positions=structure["positions"],
                 cell=structure["cell"], pbc=True)


def _features(structure: dict):
    """A radial distribution histogram per atom: a simple, smooth descriptor of a structure."""
    import numpy as np
    from ase.neighborlist import neighbor_list

    atoms = _atoms(structure)
    d = neighbor_list("d", atoms, CUTOFF)
    hist, _ = np.histogram(d, bins=BINS, range=(1.5, CUTOFF))
    return np.concatenate([hist / len(atoms), [1.0]])


def _structure(atoms) -> dict:
    return {"positions": atoms.get_positions().round(5).tolist(), "cell": atoms.get_cell().round(5).tolist()}


@OP.function
def init_data(n: int, seed: int) -> {"data": Artifact(Path)}:
    """A few labelled configurations near equilibrium to start from."""
    import numpy as np
    from ase.build import bulk
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    records = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
        atoms.rattle(0.05, seed=int(rng.integers(1 << 30)))
        atoms.calc = EMT()
        records.append({**_structure(atoms), "energy": atoms.get_potential_energy() / len(atoms)})
    Path("data.json").write_text(json.dumps(records))
    return {"data": Path("data.json")}


@OP.function
def train(data: Artifact(Path), seed: int) -> {"model": Artifact(Path), "rmse": float}:
    """One ensemble member: ridge regression on a bootstrap sample of the data."""
    import numpy as np

    records = json.loads(Path(data).read_text())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(records), len(records))
    x = np.array([_features(records[i]) for i in idx])
    y = np.array([records[i]["energy"] for i in idx])
    lam = 1e-3 * (1 + seed)
    w = np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)
    rmse = float(np.sqrt(np.mean((x @ w - y) ** 2)))
    Path("model.json").write_text(json.dumps({"w": w.tolist(), "seed": seed}))
    return {"model": Path("model.json"), "rmse": rmse}


@OP.function
def explore(iteration: int, n: int, seed: int) -> {"candidates": Artifact(Path)}:
    """New configurations: strained, more strongly rattled crystals (hotter each iteration)."""
    import numpy as np
    from ase.build import bulk

    rng = np.random.default_rng(seed + 1000 * iteration)
    out = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.6 * (1 + rng.uniform(-0.04, 0.04)), cubic=True).repeat((2, 2, 2))
        atoms.rattle((0.03 + 0.02 * iteration) * rng.uniform(0.5, 1.5), seed=int(rng.integers(1 << 30)))
        out.append(_structure(atoms))
    Path("candidates.json").write_text(json.dumps(out))
    return {"candidates": Path("candidates.json")}


@OP.function
def screen(models: Artifact(List[Path]), candidates: Artifact(Path), lo: float, hi: float,
           max_select: int) -> {"selected": List[dict], "n_selected": int, "max_deviation": float}:
    """Keep candidates whose ensemble disagreement lies in the trust window [lo, hi)."""
    import numpy as np

    weights = [np.array(json.loads(Path(m).read_text())["w"]) for m in models]
    cands = json.loads(Path(candidates).read_text())
    devs = [float(np.std([_features(c) @ w for w in weights])) for c in cands]
    order = sorted(range(len(cands)), key=lambda i: -devs[i])
    chosen = [cands[i] for i in order if lo <= devs[i] < hi][:max_select]
    # Random order within the trust window, so the most distorted do not always come first.
    chosen = [chosen[i] for i in np.random.default_rng(len(cands)).permutation(len(chosen))]
    return {"selected": chosen, "n_selected": len(chosen), "max_deviation": max(devs, default=0.0)}


@OP.function
def label(structure: dict) -> {"record": dict}:
    """The reference calculation; refuses unphysical configurations like a DFT code would."""
    from ase.calculators.emt import EMT

    atoms = _atoms(structure)
    distances = atoms.get_all_distances(mic=True)
    if distances[distances > 0].min() < 2.15:
        raise FatalError("unphysical configuration: atoms closer than 2.15 Å")
    atoms.calc = EMT()
    return {"record": {**structure, "energy": atoms.get_potential_energy() / len(atoms)}}


@OP.function
def merge(data: Artifact(Path), new: List[dict]) -> {"data": Artifact(Path), "size": int}:
    records = json.loads(Path(data).read_text()) + list(new)
    Path("data.json").write_text(json.dumps(records))
    return {"data": Path("data.json"), "size": len(records)}


def build_loop(ensemble: int) -> Steps:
    loop = Steps(
        "cl-iteration",
        inputs=Inputs(parameters={"iter": InputParameter(), "max_iter": InputParameter(),
                                  "min_selected": InputParameter(value=2)},
                      artifacts={"data": InputArtifact()}),
        outputs=Outputs(parameters={"iterations": OutputParameter(), "size": OutputParameter()},
                        artifacts={"data": OutputArtifact(), "models": OutputArtifact()}),
    )
    it = loop.inputs.parameters["iter"]
    tr = Step("train", PythonOPTemplate(train, slices=Slices(input_parameter=["seed"],
                                                              output_artifact=["model"],
                                                              output_parameter=["rmse"])),
              parameters={"seed": list(range(ensemble))}, artifacts={"data": loop.inputs.artifacts["data"]},
              key="cl-%s-train-{{item}}" % it)
    ex = Step("explore", PythonOPTemplate(explore), parameters={"iteration": it, "n": 24, "seed": 7},
              key="cl-%s-explore" % it)
    loop.add([tr, ex])
    sc = Step("screen", PythonOPTemplate(screen),
              parameters={"lo": 0.0005, "hi": 0.05, "max_select": 8},
              artifacts={"models": tr.outputs.artifacts["model"], "candidates": ex.outputs.artifacts["candidates"]},
              key="cl-%s-screen" % it)
    loop.add(sc)
    lb = Step("label", PythonOPTemplate(label, slices=Slices(input_parameter=["structure"],
                                                              output_parameter=["record"])),
              parameters={"structure": sc.outputs.parameters["selected"]},
              continue_on_success_ratio=0.5, key="cl-%s-label-{{item}}" % it)
    loop.add(lb)
    mg = Step("merge", PythonOPTemplate(merge), parameters={"new": lb.outputs.parameters["record"]},
              artifacts={"data": loop.inputs.artifacts["data"]}, key="cl-%s-merge" % it)
    loop.add(mg)
    go_on = "%s < %s && %s >= %s" % (it + 1, loop.inputs.parameters["max_iter"],
                                       sc.outputs.parameters["n_selected"], loop.inputs.parameters["min_selected"])
    nxt = Step("next", loop, parameters={"iter": it + 1, "max_iter": loop.inputs.parameters["max_iter"],
                                          "min_selected": loop.inputs.parameters["min_selected"]},
               artifacts={"data": mg.outputs.artifacts["data"]}, when=go_on)
    loop.add(nxt)
    loop.outputs.parameters["iterations"].value_from_expression = if_expression(
        _if=go_on, _then=nxt.outputs.parameters["iterations"], _else=it + 1)
    loop.outputs.parameters["size"].value_from_expression = if_expression(
        _if=go_on, _then=nxt.outputs.parameters["size"], _else=mg.outputs.parameters["size"])
    loop.outputs.artifacts["data"].from_expression = if_expression(
        _if=go_on, _then=nxt.outputs.artifacts["data"], _else=mg.outputs.artifacts["data"])
    loop.outputs.artifacts["models"].from_expression = if_expression(
        _if=go_on, _then=nxt.outputs.artifacts["models"], _else=tr.outputs.artifacts["model"])
    return loop


def build(max_iter: int = 4, ensemble: int = 4) -> Workflow:
    wf = Workflow("concurrent-learning")
    init = Step("init-data", PythonOPTemplate(init_data), parameters={"n": 10, "seed": 1})
    wf.add(init)
    wf.add(Step("loop", build_loop(ensemble), parameters={"iter": 0, "max_iter": max_iter},
                artifacts={"data": init.outputs.artifacts["data"]}))
    return wf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=4)
    parser.add_argument("--ensemble", type=int, default=4)
    args = parser.parse_args()
    wf = build(args.max_iter, args.ensemble)
    wf.submit()
    status = wf.wait()
    loop = wf.query_step(name="loop")[0]
    print(f"workflow {wf.id} {status}")
    if status != "Succeeded":
        return 1
    p = {k: v.value for k, v in loop.outputs.parameters.items()}
    print(f"iterations {p['iterations']}, labelled configurations {p['size']}")
    for s in wf.query_step(name="screen"):
        print(f"  {s.key}: selected {s.outputs.parameters['n_selected'].value}, "
              f"max deviation {s.outputs.parameters['max_deviation'].value:.4f} eV/atom")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
