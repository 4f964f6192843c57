"""`importlib.import_module` for MicroPython (statesync's light runtime)."""

import sys


def import_module(name, package=None):
    if name.startswith("."):
        if not package:
            raise TypeError("a relative import needs a package")
        name = package + name if name[1:2] != "." else package.rpartition(".")[0] + name[1:]
    __import__(name)
    return sys.modules[name]


def invalidate_caches():
    pass
