"""What runs on the compute node: ``python -m hpcflow.runtime UNIT_DIR [UNIT_DIR ...]``.

Each unit directory holds ``task.json`` written by the engine. The runtime loads inputs,
runs the OP (or script) in ``UNIT_DIR/work``, writes ``outputs.json``, and writes
``exit.json`` last, atomically: the exit record is the truth about how the unit ended.
This package must import quickly and depend on nothing heavy: it runs once per job.
"""
