"""Equation of state of fcc copper: prepare → compute energies (sliced) → fit.

The shape of Dflow's FPOP EOS flow: one step makes the lattice constants, a sliced step
computes the energy of the crystal at each one (one Slurm array task per slice on a
cluster), and a reduce step fits a Birch–Murnaghan equation of state and plots it.

    python examples/eos.py                       # local mode
    hpcflow --site site-configs/slurm-test.toml run examples/eos.py
    python examples/eos.py --image /path/to/image   # the compute step in a container
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import List

from hpcflow import Step, Workflow
from hpcflow.python import OP, Artifact, PythonOPTemplate, Slices


@OP.function
def prepare(a0: float, spread: float, n: int) -> {"lattice": List[float]}:
    """``n`` lattice constants evenly spaced within ±spread (relative) around ``a0``."""
    step = 2 * spread * a0 / (n - 1)
    return {"lattice": [round(a0 * (1 - spread) + i * step, 6) for i in range(n)]}


@OP.function
def energy(lattice: float) -> {"volume": float, "energy": float}:
    """Energy per atom of fcc Cu at lattice constant ``lattice`` (ASE's EMT calculator)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    atoms = bulk("Cu", "fcc", a=lattice)
    atoms.calc = EMT()
    return {"volume": atoms.get_volume() / len(atoms), "energy": atoms.get_potential_energy() / len(atoms)}


@OP.function
def fit(volumes: List[float], energies: List[float]) -> {"v0": float, "e0": float, "bulk_modulus_gpa": float, "plot": Artifact(Path), "result": Artifact(Path)}:
    """Fit E(V) with a Birch–Murnaghan equation of state; write the numbers and a plot."""
    import matplotlib

    matplotlib.use("Agg")
    from ase.eos import EquationOfState
    from ase.units import GPa

    eos = EquationOfState(volumes, energies, eos="birchmurnaghan")
    v0, e0, b = eos.fit()
    eos.plot("eos.png", show=False)
    result = {"v0_A3_per_atom": v0, "e0_eV_per_atom": e0, "bulk_modulus_GPa": b / GPa, "points": len(volumes)}
    Path("eos.json").write_text(json.dumps(result, indent=2))
    return {"v0": float(v0), "e0": float(e0), "bulk_modulus_gpa": float(b / GPa),
            "plot": Path("eos.png"), "result": Path("eos.json")}


def build(n: int = 15, image: str | None = None) -> Workflow:
    wf = Workflow("eos-cu")
    prep = Step("prepare", PythonOPTemplate(prepare), parameters={"a0": 3.6, "spread": 0.05, "n": n})
    compute = Step(
        "energy",
        PythonOPTemplate(energy, image=image,
                         slices=Slices(input_parameter=["lattice"], output_parameter=["volume", "energy"])),
        parameters={"lattice": prep.outputs.parameters["lattice"]},
        key="eos-energy-{{item}}",
    )
    post = Step("fit", PythonOPTemplate(fit),
                parameters={"volumes": compute.outputs.parameters["volume"],
                            "energies": compute.outputs.parameters["energy"]})
    wf.add(prep)
    wf.add(compute)
    wf.add(post)
    return wf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=15, help="number of lattice constants")
    parser.add_argument("--image", default=None, help="container image for the energy step")
    args = parser.parse_args()
    wf = build(args.points, args.image)
    wf.submit()
    status = wf.wait()
    if status != "Succeeded":
        print(f"workflow {wf.id} {status}")
        return 1
    step = wf.query_step(name="fit")[0]
    out = {k: v.value for k, v in step.outputs.parameters.items()}
    print(f"workflow {wf.id} {status}")
    print(f"equilibrium volume {out['v0']:.3f} Å^3/atom, bulk modulus {out['bulk_modulus_gpa']:.1f} GPa, "
          f"E0 {out['e0']:.4f} eV/atom")
    print(f"plot: {step.outputs.artifacts['plot'].value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
