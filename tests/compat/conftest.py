"""The downstream project has its own tests, run through ``hpcflow exec`` by
test_downstream_project.py; hpcflow's own pytest must not collect them."""

collect_ignore = ["downstream_project"]
