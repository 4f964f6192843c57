"""The light rewrite (`statesync_server.web.light`), checked in CPython: each pass yields the
source form MicroPython needs and the rewritten code still means the same (it is executed
here against the run-time helper, which is plain Python)."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from statesync_server.web.light import (
    SUPPORT_DIR,
    SUPPORT_FILES,
    LightRewriteError,
    check_light,
    compile_bundle,
    light_bundle,
    pack_bundle,
    rewrite_source,
    unpack_bundle,
)
from statesync_server.web.light.rewrite import HELPER



@pytest.fixture(scope="module")
def helper() -> ModuleType:
    """The run-time helper, imported from its file (its directory is not put on sys.path:
    its stand-ins `inspect`, `dataclasses`, ... would shadow CPython's)."""
    spec = importlib.util.spec_from_file_location(HELPER, SUPPORT_DIR / f"{HELPER}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[HELPER] = module
    sys.modules["_statesync_asyncio"] = asyncio  # the stand-in's part, played by CPython's own
    yield module
    del sys.modules[HELPER], sys.modules["_statesync_asyncio"]


def rewrite(source: str) -> str:
    return rewrite_source(textwrap.dedent(source))


def run(source: str, helper: ModuleType) -> dict[str, Any]:
    """Rewrite `source`, execute it, return its namespace."""
    namespace: dict[str, Any] = {"__name__": "rewritten"}
    exec(compile(rewrite(source), "<rewritten>", "exec"), namespace)
    return namespace


def test_annotations_future_typing_and_type_checking_blocks_go() -> None:
    out = rewrite('''
        """Doc."""
        from __future__ import annotations
        from typing import TYPE_CHECKING, Any
        from collections.abc import Callable
        if TYPE_CHECKING:
            from .machine import Machine
        Handler = Callable[[Any], None]
        Value = str | dict[str, Any]
        def f(x: int, *rest: str, key: Any = None) -> list[int]:
            y: int = x
            z: str
            return [y]
        ''')
    tree = ast.parse(out)
    assert "annotations" not in out and "typing" not in out and "TYPE_CHECKING" not in out
    assert "Machine" not in out and "Callable" not in out
    assert not any(isinstance(n, ast.AnnAssign) for n in ast.walk(tree))
    assert "def f(x, *rest, key=None):" in out
    assert "Handler = None" in out and "Value = None" in out  # importable, no subscripting
    assert ast.get_docstring(tree) is None  # MicroPython keeps no __doc__


def test_mapping_kept_for_isinstance_from_the_helper(helper: ModuleType) -> None:
    out = rewrite('''
        from collections.abc import Callable, Mapping
        def is_map(x: Callable) -> bool:
            return isinstance(x, Mapping)
        ''')
    assert f"from {HELPER} import Mapping" in out and "Callable" not in out
    assert run('''
        from collections.abc import Mapping
        ok = isinstance({}, Mapping) and not isinstance([], Mapping)
        ''', helper)["ok"]


def test_abc_names_without_a_stand_in_cannot_be_used_at_run_time() -> None:
    with pytest.raises(LightRewriteError, match="collections.abc.Callable is used at run time"):
        rewrite("from collections.abc import Callable\nok = isinstance(len, Callable)\n")


def test_dict_and_star_displays_become_calls_with_the_same_value(helper: ModuleType) -> None:
    source = '''
        a, b = {"x": 1, "y": 2}, {"y": 3}
        merged = {**a, "z": 0, **b}
        items = [0, *range(2), *[5], 9]
        pair = (*"ab", "c")
        chars = {*"ab", "c"}
        '''
    out = rewrite(source)
    assert "**a" not in out and "*range" not in out and '*"ab"' not in out
    namespace = run(source, helper)
    assert namespace["merged"] == {"x": 1, "y": 3, "z": 0}
    assert namespace["items"] == [0, 0, 1, 5, 9]
    assert namespace["pair"] == ("a", "b", "c")
    assert namespace["chars"] == {"a", "b", "c"}


def test_starred_assignment_targets_and_calls_stay() -> None:
    out = rewrite("first, *rest = [1, 2]\nprint(*rest, **{})\n")
    assert "first, *rest = [1, 2]" in out and "print(*rest, **{})" in out


def test_frozen_dataclass_expands_to_a_plain_class(helper: ModuleType) -> None:
    source = '''
        from dataclasses import dataclass, field, replace
        @dataclass(frozen=True, slots=True)
        class Point:
            """A point."""
            x: int
            y: int = 0
            tags: list = field(default_factory=list)
            def norm(self) -> int:
                return abs(self.x) + abs(self.y)
        '''
    out = rewrite(source)
    assert "@dataclass" not in out and "def __init__(self, x, y=0, tags=" in out
    Point = run(source, helper)["Point"]
    p = Point(1, -2)
    assert p.norm() == 3 and p.tags == [] and Point(1).tags is not Point(1).tags
    assert p == Point(1, -2, []) and p != Point(1, 2)
    assert hash(Point(1, -2, ())) == hash(Point(1, -2, ()))
    assert repr(p) == "Point(x=1, y=-2, tags=[])"
    with pytest.raises(AttributeError):
        p.x = 5
    assert p.__dataclass_fields__ == ("x", "y", "tags")


def test_mutable_dataclass_post_init_kw_only_and_field_flags(helper: ModuleType) -> None:
    Item = run('''
        from dataclasses import dataclass, field
        @dataclass(kw_only=True)
        class Item:
            name: str
            seen: int = field(default=0, compare=False, repr=False)
            def __post_init__(self):
                self.name = self.name.strip()
        ''', helper)["Item"]
    item = Item(name=" a ")
    item.seen = 3
    assert item.name == "a" and item == Item(name="a") and repr(item) == "Item(name='a')"
    assert Item.__hash__ is None
    with pytest.raises(TypeError):
        Item("a")


def test_dataclass_bases_in_the_same_module_contribute_their_fields(helper: ModuleType) -> None:
    Child = run('''
        from dataclasses import dataclass
        @dataclass
        class Base:
            a: int
        @dataclass
        class Child(Base):
            b: int = 2
        ''', helper)["Child"]
    assert repr(Child(1)) == "Child(a=1, b=2)"


def test_dataclass_features_the_rewrite_does_not_know_are_refused() -> None:
    with pytest.raises(LightRewriteError, match="order="):
        rewrite("from dataclasses import dataclass\n@dataclass(order=True)\nclass A:\n    x: int\n")
    with pytest.raises(LightRewriteError, match="a base the rewrite cannot see"):
        rewrite("from dataclasses import dataclass\nfrom m import B\n@dataclass\nclass A(B):\n    x: int\n")


def test_one_builtin_exception_base_is_kept() -> None:
    out = rewrite("class Base(Exception):\n    pass\nclass Bad(Base, ValueError):\n    pass\n")
    assert "class Bad(Base):" in out


def test_non_plain_signatures_are_recorded_for_the_light_inspect(helper: ModuleType) -> None:
    namespace = run('''
        def plain(context, event):
            pass
        def with_params(context, event, params):
            pass
        def with_sender(context, event, *, sender):
            pass
        lam = lambda c, e, p: p
        class Guard:
            def __call__(self, context, event, params):
                return True
            def helper(self, a, b, c):
                pass
        ''', helper)
    signatures = helper.SIGNATURES
    assert namespace["plain"] not in signatures
    assert signatures[namespace["with_params"]] == (
        ("context", 1, False), ("event", 1, False), ("params", 1, False))
    assert signatures[namespace["with_sender"]][-1] == ("sender", 3, False)
    assert namespace["lam"](1, 2, 3) == 3 and len(signatures[namespace["lam"]]) == 3
    assert namespace["Guard"].__call__ in signatures
    assert namespace["Guard"].helper not in signatures


def test_missing_str_methods_go_through_the_helper(helper: ModuleType) -> None:
    namespace = run('''
        a = "v1.2".removeprefix("v")
        b = "x".rjust(3, "-")
        c = "12".isascii() and not "é".isascii()
        d = (2.0).is_integer() and not (2.5).is_integer()
        class Other:
            def title(self):
                return "own"
        e = Other().title()
        ''', helper)
    assert (namespace["a"], namespace["b"], namespace["c"], namespace["d"], namespace["e"]) == (
        "1.2", "--x", True, True, "own")


def test_fstring_ending_in_a_literal_brace_is_split(helper: ModuleType) -> None:
    source = 'name = "s"\nline = f"state {name} {{"\n'
    out = rewrite(source)
    assert "{{'" not in out.replace(" ", "") and run(source, helper)["line"] == "state s {"


def test_config_orders_and_ordered_sets_become_ordered_dicts(helper: ModuleType) -> None:
    namespace = run('''
        config = {"id": "m", "states": {"b": {}, "a": {"on": {"GO": "b"}, "after": {100: "b"}}}}
        nodes: dict[str, None] = {}
        also = dict.fromkeys("xy")
        root = object()
        one = {root: None}
        copied = dict(also)
        context = {"b": 1, "a": 2}
        data = {"error": None}
        built = {}
        built["states"] = {k: {} for k in "ba"}
        ''', helper)
    assert type(namespace["config"]) is dict and type(namespace["context"]) is dict
    assert type(namespace["data"]) is dict
    assert isinstance(namespace["config"]["states"], OrderedDict)
    assert list(namespace["config"]["states"]) == ["b", "a"]
    assert isinstance(namespace["config"]["states"]["a"]["on"], OrderedDict)
    assert isinstance(namespace["config"]["states"]["a"]["after"], OrderedDict)
    assert list(namespace["built"]["states"]) == ["b", "a"]
    for name in ("nodes", "also", "one", "copied"):
        assert isinstance(namespace[name], OrderedDict), name
    assert type(run("x = dict({'a': 1})\n", helper)["x"]) is dict


def test_redirected_imports_come_from_the_helper(helper: ModuleType) -> None:
    namespace = run('''
        from collections import deque
        from types import MappingProxyType
        queue = deque()
        queue.append(1); queue.append(2); queue.appendleft(0)
        first = queue.popleft()
        view = MappingProxyType({"a": 1})
        ''', helper)
    assert namespace["first"] == 0 and list(namespace["queue"]) == [1, 2]
    with pytest.raises(TypeError):
        namespace["view"]["b"] = 2


def test_async_generators_become_async_iterators(helper: ModuleType) -> None:
    source = '''
        import asyncio
        log = []
        async def numbers(n):
            try:
                for i in range(n):
                    await asyncio.sleep(0)
                    yield i * 10
                    log.append(f"after {i}")
            finally:
                log.append("finally")
        async def collect():
            got = [x async for x in numbers(3)]
            early = numbers(5)
            async for x in early:
                break
            await early.aclose()
            return got, x
        '''
    out = rewrite(source)
    assert "async def numbers" not in out and "AsyncGenerator" in out
    namespace = run(source, helper)
    assert asyncio.run(namespace["collect"]()) == ([0, 10, 20], 0)
    assert namespace["log"] == ["after 0", "after 1", "after 2", "finally", "finally"]


def test_an_async_generators_yield_used_as_a_value_is_refused() -> None:
    with pytest.raises(LightRewriteError, match="yield used as a value"):
        rewrite("async def f():\n    x = yield 1\n")


def test_union_types_in_isinstance_become_tuples(helper: ModuleType) -> None:
    source = "ok = isinstance(None, int | float | None) and not isinstance('a', int | bool)\n"
    assert "(int, float, type(None))" in rewrite(source) and run(source, helper)["ok"]


def test_missing_builtin_exceptions_come_from_the_helper() -> None:
    out = rewrite("try:\n    pass\nexcept (TimeoutError, ConnectionError):\n    pass\n")
    assert f"from {HELPER} import ConnectionError, TimeoutError" in out


def test_constructs_micropython_lacks_are_refused() -> None:
    with pytest.raises(LightRewriteError) as info:
        rewrite("match x:\n    case 1:\n        pass\nclass A(metaclass=type):\n    pass\n")
    assert len(info.value.reasons) == 2


def test_check_light_names_imports_micropython_lacks(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("import os\nimport pydantic\n")
    (tmp_path / "machines.py").write_text(
        "import json\nimport helpers\nfrom statesync import Machine\n"
        "def later():\n    import sqlite3\n")
    reasons = check_light(tmp_path / "machines.py")
    assert reasons == [
        "helpers.py: imports pydantic, which MicroPython does not have",
        "machines.py: imports sqlite3 (inside a function), which MicroPython does not have",
    ]
    (tmp_path / "ok.py").write_text("from dataclasses import dataclass\nimport re, json, math\n")
    assert check_light(tmp_path / "ok.py") == []


def test_check_light_names_constructs_the_rewrite_refuses(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("def f(x):\n    match x:\n        case _:\n            pass\n")
    assert check_light(str(tmp_path / "m.py")) == ["m.py: line 2: `match` statement"]


def test_bundle_holds_the_package_and_the_support_files() -> None:
    bundle = light_bundle(["statesync"])
    assert set(SUPPORT_FILES) <= set(bundle)
    assert {"statesync/__init__.py", "statesync/machine.py", "statesync/client/client.py"} <= set(bundle)
    for path, source in bundle.items():
        ast.parse(source, filename=path)  # valid Python
        if path.startswith("statesync/"):
            assert "from __future__" not in source and "@dataclass" not in source, path
    only_client = light_bundle(["statesync.client"])
    assert "statesync/client/client.py" in only_client and "statesync/machine.py" not in only_client


def test_regular_expressions_micropython_cannot_run_are_named() -> None:
    with pytest.raises(LightRewriteError) as info:
        rewrite('import re\nA = re.compile(r"(?P<year>[0-9]{4})")\nB = re.fullmatch("a", "a")\n')
    assert info.value.reasons == [
        "line 2: a regular expression with named groups, which MicroPython's re lacks",
        "line 2: a regular expression with counted repeats {m,n}, which MicroPython's re lacks",
        "line 3: re.fullmatch (MicroPython's re has compile, match, search, sub)",
    ]
    rewrite('import re\nA = re.compile(r"^([a-z_]+)@(\\d\\d)$")\n')  # fine there


def test_compiled_bundle_is_micropython_1_27_bytecode() -> None:
    compiled = compile_bundle(light_bundle(["statesync"]))
    assert "statesync/machine.mpy" in compiled and "_statesync_light.mpy" in compiled
    assert all(data[:2] == b"M\x06" for data in compiled.values())  # .mpy format 6 (1.27)
    with pytest.raises(LightRewriteError, match="broken.py"):
        compile_bundle({"broken.py": "def f(:\n"})


def test_a_packed_bundle_unpacks_to_its_files_in_order() -> None:
    files = {"b.mpy": b"M\x06\x00", "pkg/é.py": "x = 'é'\n", "empty.py": ""}
    packed = pack_bundle(files)
    index_size = int.from_bytes(packed[:4], "little")
    assert packed[4:4 + index_size] == b'[["b.mpy",3],["pkg/\\u00e9.py",9],["empty.py",0]]'
    assert unpack_bundle(packed) == {"b.mpy": b"M\x06\x00", "pkg/é.py": "x = 'é'\n".encode(),
                                     "empty.py": b""}
