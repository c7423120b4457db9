"""Step settings from the JSON config, as Dflow projects keep them."""

from copy import deepcopy

from dflow.plugins.dispatcher import DispatcherExecutor
from dflow.utils import flatten

DEFAULTS = {"template_config": {}, "executor": None, "continue_on_success_ratio": None,
            "parallelism": None}


def normalize(conf: dict) -> dict:
    out = deepcopy(DEFAULTS)
    unknown = set(flatten({k: 0 for k in conf})) - set(DEFAULTS)
    if unknown:
        raise ValueError("unknown step settings: %s" % sorted(unknown))
    out.update(deepcopy(conf))
    return out


def init_executor(conf):
    if conf is None:
        return None
    conf = dict(conf)
    kind = conf.pop("type")
    if kind != "dispatcher":
        raise RuntimeError("unknown executor type %s" % kind)
    return DispatcherExecutor(**conf)
