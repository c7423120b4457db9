"""A helper module the reduce imports at run time, shipped through ``upload_packages``."""


def scaled(total: int, factor: int) -> int:
    return total * factor
