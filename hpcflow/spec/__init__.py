"""The workflow spec: the typed model (model.py), how the DSL compiles to it (build.py),
its checks (validate.py) and the expression language (expr.py, evaluate.py)."""
