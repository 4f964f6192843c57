"""One module's CPython source -> source MicroPython 1.27 runs (see the package docstring).

Each step is a small `ast` pass; `rewrite_tree` runs them in order. Constructs no pass can
translate raise `LightRewriteError` with one reason per construct.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
from collections.abc import Iterable, Iterator

HELPER = "_statesync_light"
"""The run-time helper module every rewritten module may import (shipped in the bundle)."""

TYPING_MODULES = frozenset({"typing", "typing_extensions", "collections.abc", "__future__"})
TYPING_ONLY = frozenset({"typing", "typing_extensions", "__future__"})
ABC_AT_RUN_TIME = frozenset({"Mapping", "MutableMapping", "Sequence", "MutableSequence", "Set",
                             "MutableSet"})
"""collections.abc names the helper provides (for `isinstance`; see `_statesync_light`)."""
TYPE_EXPRESSION_HEADS = frozenset({"dict", "list", "tuple", "set", "frozenset", "type"})
MISSING_BUILTINS = frozenset({"TimeoutError", "ConnectionError", "ConnectionResetError",
                              "ConnectionRefusedError", "BrokenPipeError", "PermissionError",
                              "FileNotFoundError", "NotADirectoryError", "IsADirectoryError",
                              "ProcessLookupError", "InterruptedError", "ChildProcessError",
                              "BlockingIOError", "ConnectionAbortedError", "FileExistsError"})
"""Built-in names MicroPython lacks; the helper defines them (`TimeoutError` is asyncio's)."""
MISSING_METHODS = frozenset({"removeprefix", "removesuffix", "isascii", "isalnum",
                             "isidentifier", "is_integer", "ljust", "rjust", "zfill", "title",
                             "capitalize", "casefold", "swapcase", "isdecimal", "isnumeric",
                             "expandtabs", "hexdigest"})
"""Methods of `str` / `float` / `hashlib` hashes MicroPython lacks: calls go through
`_statesync_light.method`, which implements them for those types and calls the real method on
anything else."""
ORDERED_CONFIG_KEYS = frozenset({"states", "on", "after"})
"""State-config keys whose dict's order is the machine's meaning (document order, transition
priority): their dict displays become `OrderedDict`s, since MicroPython's dicts are unordered."""
BUILTIN_EXCEPTIONS = frozenset(
    name for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException))
DATACLASS_OPTIONS = frozenset({"frozen", "slots", "eq", "repr", "init", "kw_only"})
FIELD_OPTIONS = frozenset({"default", "default_factory", "repr", "compare", "hash", "init",
                           "kw_only"})


class LightRewriteError(Exception):
    """The module uses constructs the rewrite cannot translate; `reasons` names each."""

    def __init__(self, filename: str, reasons: list[str]) -> None:
        super().__init__(f"{filename}: " + "; ".join(reasons))
        self.filename = filename
        self.reasons = reasons


@functools.lru_cache(maxsize=512)
def rewrite_source(source: str, filename: str = "<module>") -> str:
    """The MicroPython form of one module's source (cached: a pure function of its text)."""
    tree = ast.parse(source, filename=filename)
    return ast.unparse(rewrite_tree(tree, filename)) + "\n"


def rewrite_tree(tree: ast.Module, filename: str = "<module>") -> ast.Module:
    """Apply every pass to `tree` (changed in place and returned)."""
    reasons: list[str] = []
    unsupported(tree, reasons)
    typing_names, abc_imports = drop_typing_imports(tree)
    redirect_imports(tree)
    drop_type_checking_blocks(tree)
    expand_dataclasses(tree, reasons)
    helper = _HelperUses()
    OrderedSets(helper).visit(tree)
    strip_annotations(tree)
    drop_type_aliases(tree, typing_names)
    drop_typing_bases(tree, typing_names)
    single_builtin_exception_base(tree)
    AsyncGenerators(helper, reasons).visit(tree)
    ast_fixes = [OrderedConfigs(helper), Displays(helper), Signatures(helper),
                 MissingMethods(helper), MissingAttributes(helper), BuiltinKeywords(),
                 FStringTrailingBrace()]
    for fix in ast_fixes:
        fix.visit(tree)
    keep_used_abc_names(tree, abc_imports, helper, reasons)
    import_missing_builtins(tree, helper)
    if reasons:
        raise LightRewriteError(filename, reasons)
    drop_docstrings(tree)
    helper.insert_import(tree)
    return ast.fix_missing_locations(tree)


def drop_docstrings(tree: ast.Module) -> None:
    """Docstrings go (MicroPython keeps no `__doc__`): a third of the bytes the page loads."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            if node.body and _is_docstring(node.body[0]):
                node.body = node.body[1:] or [ast.Pass()]


# -- what cannot be translated ---------------------------------------------------------------


RE_FUNCTIONS = frozenset({"compile", "match", "search", "sub"})
"""What MicroPython's `re` module has."""
RE_UNSUPPORTED = (
    (re.compile(r"\(\?P"), "named groups"),
    (re.compile(r"\(\?[=!<]"), "lookaround"),
    (re.compile(r"\(\?[aiLmsux]"), "inline flags"),
    (re.compile(r"(?<!\\)\{\d*,?\d*\}"), "counted repeats {m,n}"),
    (re.compile(r"\\[1-9bBAZ]"), "backreferences or \\b \\A \\Z"),
)
"""Regular-expression syntax MicroPython's `re` lacks (some of it it reads as literal text)."""


def _regex_reasons(node: ast.Call, where: str) -> list[str]:
    func = node.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id == "re"):
        return []
    if func.attr not in RE_FUNCTIONS:
        return [f"{where}: re.{func.attr} (MicroPython's re has {', '.join(sorted(RE_FUNCTIONS))})"]
    pattern = node.args[0] if node.args else None
    if not (isinstance(pattern, ast.Constant) and isinstance(pattern.value, str)):
        return []
    return [f"{where}: a regular expression with {what}, which MicroPython's re lacks"
            for syntax, what in RE_UNSUPPORTED if syntax.search(pattern.value)]


def _json_reasons(node: ast.Call, where: str) -> list[str]:
    func = node.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id == "json" and func.attr in ("dumps", "dump", "loads", "load")):
        return []
    return [f"{where}: json.{func.attr}({k.arg}=...), which MicroPython's json lacks"
            for k in node.keywords if k.arg != "separators"]


def unsupported(tree: ast.Module, reasons: list[str]) -> None:
    """Constructs MicroPython 1.27 rejects and no pass rewrites."""
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call):
            reasons.extend(_regex_reasons(node, where))
            reasons.extend(_json_reasons(node, where))
        if isinstance(node, ast.Match):
            reasons.append(f"{where}: `match` statement")
        elif isinstance(node, ast.TryStar):
            reasons.append(f"{where}: `except*`")
        elif isinstance(node, ast.ClassDef) and node.keywords:
            reasons.append(f"{where}: class keywords (metaclass=...) in class {node.name}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                isinstance(d, ast.Name) and d.id == "overload" for d in node.decorator_list):
            reasons.append(f"{where}: typing.overload")
        elif isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id in ("NamedTuple", "TypedDict", "Enum", "IntEnum")
                for b in node.bases):
            reasons.append(f"{where}: class {node.name} derives from a typing/enum class")


# -- typing ---------------------------------------------------------------------------------


def drop_typing_imports(tree: ast.Module) -> tuple[set[str], dict[str, str]]:
    """Remove imports from `__future__`, `typing` and `collections.abc` (the abc names still
    used at run time come back from the helper, see `keep_used_abc_names`). Returns the
    local names those imports bound, and `{local name: abc name}` for collections.abc."""
    names: set[str] = set()
    abc: dict[str, str] = {}

    def keep(stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.ImportFrom) and stmt.module in TYPING_MODULES and not stmt.level:
            names.update(alias.asname or alias.name for alias in stmt.names)
            if stmt.module == "collections.abc":
                abc.update((alias.asname or alias.name, alias.name) for alias in stmt.names)
            return False
        if isinstance(stmt, ast.Import) and any(a.name in TYPING_ONLY for a in stmt.names):
            names.update(a.asname or a.name for a in stmt.names if a.name in TYPING_ONLY)
            stmt.names = [a for a in stmt.names if a.name not in TYPING_ONLY]
            return bool(stmt.names)
        return True

    _filter_bodies(tree, keep)
    return names, abc


REDIRECTED = {("types", "MappingProxyType"), ("collections", "deque")}
"""`from module import name` pairs MicroPython's module lacks or stubs, taken from the helper."""


REPLACED_MODULES = {"asyncio": "_statesync_asyncio"}
"""Modules MicroPython has in part: the stand-in (which adds the rest) is imported instead."""


def redirect_imports(tree: ast.Module) -> None:
    """`from types import MappingProxyType` (MicroPython's is None) and `from collections
    import deque` (MicroPython's is a fixed-size ring) -> from the helper; `asyncio` -> its
    stand-in (`REPLACED_MODULES`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and all(
                (node.module, alias.name) in REDIRECTED for alias in node.names):
            node.module = HELPER
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module in REPLACED_MODULES:
            node.module = REPLACED_MODULES[node.module]
        elif isinstance(node, ast.Import):
            node.names = [ast.alias(name=REPLACED_MODULES[a.name], asname=a.asname or a.name)
                          if a.name in REPLACED_MODULES else a for a in node.names]


def drop_type_checking_blocks(tree: ast.Module) -> None:
    """`if TYPE_CHECKING: ...` -> its `else` part (or nothing)."""
    def replace(stmt: ast.stmt) -> list[ast.stmt] | None:
        if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
            return stmt.orelse
        return None

    _splice_bodies(tree, replace)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def strip_annotations(tree: ast.Module) -> None:
    """Drop argument and return annotations; `x: T = v` -> `x = v`; a bare `x: T` goes."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
        if isinstance(node, ast.arguments):
            for arg in (*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg):
                if arg is not None:
                    arg.annotation = None
            # MicroPython has no positional-only marker: they become ordinary parameters.
            node.args = [*node.posonlyargs, *node.args]
            node.posonlyargs = []

    def replace(stmt: ast.stmt) -> list[ast.stmt] | None:
        if not isinstance(stmt, ast.AnnAssign):
            return None
        if stmt.value is None:
            return []
        return [ast.copy_location(ast.Assign(targets=[stmt.target], value=stmt.value), stmt)]

    _splice_bodies(tree, replace)


def drop_type_aliases(tree: ast.Module, typing_names: set[str]) -> None:
    """Module-level `Alias = dict[str, Any]` (a subscripted type, a `|` union of types, or a
    typing name) is only for type checkers, and MicroPython cannot subscript types: the name
    stays (other modules may import it) bound to None."""
    for stmt in tree.body:
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and _is_type_expression(stmt.value, typing_names, top=True)):
            stmt.value = ast.Constant(None)


def _is_type_expression(node: ast.expr, typing_names: set[str], top: bool = False) -> bool:
    if isinstance(node, ast.Subscript):
        return _type_head(node.value, typing_names)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return all(_is_type_expression(side, typing_names) or _is_plain_type(side)
                   for side in (node.left, node.right)) and any(
            _is_type_expression(side, typing_names) for side in (node.left, node.right))
    if isinstance(node, ast.Name | ast.Attribute) and not top:
        return _type_head(node, typing_names)
    if isinstance(node, ast.Name) and top:
        return node.id in typing_names and node.id not in ABC_AT_RUN_TIME
    return False


def _type_head(node: ast.expr, typing_names: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in typing_names or node.id in TYPE_EXPRESSION_HEADS
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
        node.value.id in typing_names)


def _is_plain_type(node: ast.expr) -> bool:
    return isinstance(node, ast.Name | ast.Attribute) or (
        isinstance(node, ast.Constant) and node.value is None)


def drop_typing_bases(tree: ast.Module, typing_names: set[str]) -> None:
    """`class Socket(Protocol)` / `Generic[T]` bases go: they only inform type checkers."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            node.bases = [b for b in node.bases if not _type_head(
                b.value if isinstance(b, ast.Subscript) else b, typing_names - ABC_AT_RUN_TIME)]


def keep_used_abc_names(tree: ast.Module, imported: dict[str, str], helper: _HelperUses,
                        reasons: list[str]) -> None:
    """collections.abc names still read at run time (`isinstance(x, Mapping)`) come from the
    helper, which maps them to MicroPython's built-in types (`ABC_AT_RUN_TIME`)."""
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    for local, original in sorted(imported.items()):
        if local in used and original in ABC_AT_RUN_TIME:
            helper.names.add((original, local))
        elif local in used:
            reasons.append(f"collections.abc.{original} is used at run time")


def import_missing_builtins(tree: ast.Module, helper: _HelperUses) -> None:
    """Built-in exceptions MicroPython lacks (`TimeoutError`, ...) come from the helper."""
    bound = _bound_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in MISSING_BUILTINS and node.id not in bound:
            helper.names.add((node.id, node.id))


def _bound_names(tree: ast.Module) -> set[str]:
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).partition(".")[0])
    return bound


def single_builtin_exception_base(tree: ast.Module) -> None:
    """MicroPython cannot derive from two built-in exception classes ("multiple bases have
    instance lay-out conflict"): a built-in exception listed after another base is dropped, so
    `class DefinitionError(StatesyncError, ValueError)` keeps `StatesyncError` only."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and len(node.bases) > 1:
            node.bases = [node.bases[0]] + [
                b for b in node.bases[1:]
                if not (isinstance(b, ast.Name) and b.id in BUILTIN_EXCEPTIONS)]


# -- dataclasses ----------------------------------------------------------------------------


def expand_dataclasses(tree: ast.Module, reasons: list[str]) -> None:
    """`@dataclass(...)` classes become plain classes with the methods the decorator would
    generate (`__init__`, `__repr__`, `__eq__`, `__hash__` when frozen, a `__setattr__` that
    refuses when frozen), and `__dataclass_fields__` for the helper's `replace` / `fields`."""
    fields_of: dict[str, list[_Field]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        decorator = next((d for d in node.decorator_list if _is_dataclass_decorator(d)), None)
        if decorator is None:
            continue
        where = f"line {node.lineno}: dataclass {node.name}"
        options = _dataclass_options(decorator, where, reasons)
        inherited: list[_Field] = []
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in fields_of:
                inherited = [*inherited, *fields_of[base.id]]
            elif not (isinstance(base, ast.Name) and base.id == "object"):
                reasons.append(f"{where}: a base the rewrite cannot see ({ast.unparse(base)})")
        own = _dataclass_fields(node, options, where, reasons)
        fields = [f for f in inherited if f.name not in {o.name for o in own}] + own
        fields_of[node.name] = fields
        node.decorator_list = [d for d in node.decorator_list if d is not decorator]
        methods = _dataclass_methods(node.name, fields, options, node)
        docstring = node.body[:1] if node.body and _is_docstring(node.body[0]) else []
        rest = node.body[len(docstring):]
        node.body = [*docstring, *methods, *rest] or [ast.Pass()]


class _Field:
    def __init__(self, name: str, default: ast.expr | None, factory: ast.expr | None,
                 repr_: bool, compare: bool, init: bool, kw_only: bool) -> None:
        self.name, self.default, self.factory = name, default, factory
        self.repr, self.compare, self.init, self.kw_only = repr_, compare, init, kw_only


def _is_dataclass_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Name) and target.id == "dataclass") or (
        isinstance(target, ast.Attribute) and target.attr == "dataclass")


def _constant_keywords(call: ast.Call, allowed: frozenset[str], where: str,
                       reasons: list[str]) -> dict[str, object]:
    found: dict[str, object] = {}
    for keyword in call.keywords:
        if keyword.arg not in allowed:
            reasons.append(f"{where}: unsupported option {keyword.arg}=")
        elif keyword.arg in ("default", "default_factory"):
            found[keyword.arg] = keyword.value
        elif isinstance(keyword.value, ast.Constant):
            found[keyword.arg] = keyword.value.value
        else:
            reasons.append(f"{where}: {keyword.arg}= must be a constant")
    return found


def _dataclass_options(decorator: ast.expr, where: str, reasons: list[str]) -> dict[str, object]:
    options: dict[str, object] = {"frozen": False, "eq": True, "repr": True, "init": True,
                                  "kw_only": False}
    if isinstance(decorator, ast.Call):
        options.update(_constant_keywords(decorator, DATACLASS_OPTIONS, where, reasons))
    return options


def _dataclass_fields(node: ast.ClassDef, options: dict[str, object], where: str,
                      reasons: list[str]) -> list[_Field]:
    fields = []
    body = []
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            body.append(stmt)
            continue
        annotation = ast.unparse(stmt.annotation)
        if annotation.startswith(("ClassVar", "typing.ClassVar")):
            body.append(stmt)
            continue
        default, factory, flags = stmt.value, None, {}
        if isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Name) and (
                stmt.value.func.id == "field"):
            flags = _constant_keywords(stmt.value, FIELD_OPTIONS, f"{where}.{stmt.target.id}",
                                       reasons)
            default = flags.get("default")  # type: ignore[assignment]
            factory = flags.get("default_factory")  # type: ignore[assignment]
        fields.append(_Field(stmt.target.id, default, factory, bool(flags.get("repr", True)),
                             bool(flags.get("compare", True)), bool(flags.get("init", True)),
                             bool(flags.get("kw_only", options["kw_only"]))))
    node.body = body
    return fields


def _dataclass_methods(name: str, fields: list[_Field], options: dict[str, object],
                       node: ast.ClassDef) -> list[ast.stmt]:
    frozen = bool(options["frozen"])
    defined = {s.name for s in node.body if isinstance(s, ast.FunctionDef)}
    names = ", ".join(repr(f.name) for f in fields)
    lines = [f"__dataclass_fields__ = ({names}{',' if len(fields) == 1 else ''})"]
    if options.get("slots"):
        lines.append(f"__slots__ = __dataclass_fields__")
    if options["init"] and "__init__" not in defined:
        lines.extend(_init_lines(fields, frozen, "__post_init__" in defined))
    if options["repr"] and "__repr__" not in defined:
        shown = ", ".join(f"{f.name}={{self.{f.name}!r}}" for f in fields if f.repr)
        lines += ["def __repr__(self):", f"    return f'{{type(self).__name__}}({shown})'"]
    compared = "".join(f"self.{f.name}, " for f in fields if f.compare)
    other = "".join(f"other.{f.name}, " for f in fields if f.compare)
    if options["eq"] and "__eq__" not in defined:
        lines += ["def __eq__(self, other):",
                  "    if other.__class__ is not self.__class__:",
                  "        return NotImplemented",
                  f"    return ({compared}) == ({other})",
                  "def __ne__(self, other):",
                  "    equal = self.__eq__(other)",
                  "    return equal if equal is NotImplemented else not equal"]
        if frozen and "__hash__" not in defined:
            lines += ["def __hash__(self):", f"    return hash(({compared}))"]
        elif "__hash__" not in defined:
            lines.append("__hash__ = None")
    if frozen:
        lines += ["def __setattr__(self, name, value):",
                  f"    raise {HELPER}.FrozenInstanceError(f'cannot assign to field {{name!r}}')",
                  "def __delattr__(self, name):",
                  f"    raise {HELPER}.FrozenInstanceError(f'cannot delete field {{name!r}}')"]
    return ast.parse("\n".join(lines)).body


def _init_lines(fields: list[_Field], frozen: bool, post_init: bool) -> list[str]:
    positional, keyword, body = [], [], []
    for f in fields:
        if not f.init:
            value = (f"({ast.unparse(f.factory)})()" if f.factory is not None
                     else ast.unparse(f.default) if f.default is not None else None)
            if value is not None:
                body.append(_set(f.name, value, frozen))
            continue
        if f.factory is not None:
            parameter = f"{f.name}={HELPER}.MISSING"
            body.append(_set(f.name, f"({ast.unparse(f.factory)})() if {f.name} is "
                                     f"{HELPER}.MISSING else {f.name}", frozen))
        else:
            default = "" if f.default is None else f"={ast.unparse(f.default)}"
            parameter = f"{f.name}{default}"
            body.append(_set(f.name, f.name, frozen))
        (keyword if f.kw_only else positional).append(parameter)
    parameters = ["self", *positional, *(["*", *keyword] if keyword else [])]
    if post_init:
        body.append("self.__post_init__()")
    return [f"def __init__({', '.join(parameters)}):", *(f"    {b}" for b in body or ["pass"])]


def _set(name: str, value: str, frozen: bool) -> str:
    return f"object.__setattr__(self, {name!r}, {value})" if frozen else f"self.{name} = {value}"


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(
        stmt.value.value, str)


# -- expressions ----------------------------------------------------------------------------


class _HelperUses:
    """Which parts of the helper module a rewritten module needs."""

    def __init__(self) -> None:
        self.module = False
        self.names: set[tuple[str, str]] = set()  # (helper's name, local name)

    def attribute(self, name: str, node: ast.AST) -> ast.Attribute:
        self.module = True
        return ast.copy_location(
            ast.Attribute(value=ast.Name(id=HELPER, ctx=ast.Load()), attr=name, ctx=ast.Load()),
            node)

    def call(self, name: str, args: list[ast.expr], node: ast.AST) -> ast.Call:
        return ast.copy_location(ast.Call(func=self.attribute(name, node), args=args,
                                          keywords=[]), node)

    def insert_import(self, tree: ast.Module) -> None:
        statements: list[ast.stmt] = []
        # Generated code (dataclass methods) names the helper directly.
        if self.module or any(isinstance(n, ast.Name) and n.id == HELPER for n in ast.walk(tree)):
            statements.append(ast.Import(names=[ast.alias(name=HELPER)]))
        if self.names:
            statements.append(ast.ImportFrom(
                module=HELPER, level=0,
                names=[ast.alias(name=n, asname=None if n == local else local)
                       for n, local in sorted(self.names)]))
        if not statements:
            return
        at = 1 if tree.body and _is_docstring(tree.body[0]) else 0
        tree.body[at:at] = statements


class OrderedSets(ast.NodeTransformer):
    """Insertion-ordered sets, the core's form of XState's ordered `Set`s, become
    `OrderedDict`s (MicroPython's dicts are unordered): `x: dict[K, None] = {}` (or a
    comprehension), a display of non-constant keys whose values are all None (`{root: None}`;
    `{"error": None}` is data and stays a dict), and every
    `dict.fromkeys(...)`; `dict(x)` keeps an `OrderedDict` one."""

    def __init__(self, helper: _HelperUses) -> None:
        self.helper = helper

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AnnAssign:
        self.generic_visit(node)
        if node.value is not None and _is_ordered_set_type(node.annotation) and isinstance(
                node.value, ast.Dict | ast.DictComp):
            node.value = self.helper.call("ordered", [node.value], node.value)
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        self.generic_visit(node)
        if node.keys and all(k is not None and not isinstance(k, ast.Constant) for k in node.keys) \
                and all(isinstance(v, ast.Constant) and v.value is None for v in node.values):
            return self.helper.call("ordered", [node], node)  # `{root: None}`, not `{"a": None}`
        return node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr == "fromkeys"
                and isinstance(func.value, ast.Name) and func.value.id == "dict"):
            return self.helper.call("ordered_set", node.args, node)
        if (isinstance(func, ast.Name) and func.id == "dict" and len(node.args) == 1
                and not node.keywords and not isinstance(node.args[0], ast.Starred)):
            return self.helper.call("copy_dict", node.args, node)  # an ordered set stays one
        return node


def _is_ordered_set_type(annotation: ast.expr) -> bool:
    return (isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name)
            and annotation.value.id == "dict" and isinstance(annotation.slice, ast.Tuple)
            and len(annotation.slice.elts) == 2 and isinstance(annotation.slice.elts[1], ast.Constant)
            and annotation.slice.elts[1].value is None)


class OrderedConfigs(ast.NodeTransformer):
    """A dict display or comprehension under "states", "on" or "after" (in a dict display, or
    assigned to `config["states"]`) becomes an `OrderedDict` (MicroPython's dicts forget
    insertion order, and these orders are the machine's document order and transition
    priority)."""

    def __init__(self, helper: _HelperUses) -> None:
        self.helper = helper

    def visit_Assign(self, node: ast.Assign) -> ast.Assign:
        self.generic_visit(node)
        target = node.targets[0]
        if (len(node.targets) == 1 and isinstance(target, ast.Subscript)
                and isinstance(target.slice, ast.Constant)
                and target.slice.value in ORDERED_CONFIG_KEYS
                and isinstance(node.value, ast.Dict | ast.DictComp)):
            node.value = self.helper.call("ordered", [node.value], node.value)
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        self.generic_visit(node)
        for index, (key, value) in enumerate(zip(node.keys, node.values)):
            if (isinstance(key, ast.Constant) and key.value in ORDERED_CONFIG_KEYS
                    and isinstance(value, ast.Dict | ast.DictComp | ast.Call)):
                node.values[index] = self.helper.call("ordered", [value], value) if not (
                    isinstance(value, ast.Call) and _is_helper_call(value)) else value
        return node


def _is_helper_call(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) and (
        node.func.value.id == HELPER)


class Displays(ast.NodeTransformer):
    """`{**a, "k": v}` -> `merge(a, {"k": v})`; `[*a, b]` -> `[*a] + [b]` spelled as
    `list(a) + [b]`; the same for tuples and sets (MicroPython has none of these displays).
    An ordered dict display (see `OrderedConfigs`) becomes `ordered([(k, v), ...])`."""

    def __init__(self, helper: _HelperUses) -> None:
        self.helper = helper

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        if _is_helper_call(node) and isinstance(node.func, ast.Attribute) and (
                node.func.attr == "ordered") and node.args and isinstance(node.args[0], ast.Dict):
            node.args[0] = _pairs(node.args[0]) if None not in node.args[0].keys else node.args[0]
        elif _is_helper_call(node) and isinstance(node.func, ast.Attribute) and (
                node.func.attr == "ordered") and node.args and isinstance(node.args[0], ast.DictComp):
            comp = node.args[0]
            node.args[0] = ast.copy_location(ast.GeneratorExp(
                elt=ast.Tuple(elts=[comp.key, comp.value], ctx=ast.Load()),
                generators=comp.generators), comp)
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        self.generic_visit(node)
        if None not in node.keys:
            return node
        parts: list[ast.expr] = []
        pending = ast.Dict(keys=[], values=[])
        for key, value in zip(node.keys, node.values):
            if key is None:
                if pending.keys:
                    parts.append(pending)
                    pending = ast.Dict(keys=[], values=[])
                parts.append(value)
            else:
                pending.keys.append(key)
                pending.values.append(value)
        if pending.keys:
            parts.append(pending)
        return self.helper.call("merge", parts, node)

    def visit_List(self, node: ast.List) -> ast.expr:
        return self._starred(node, "list", lambda elts: ast.List(elts=elts, ctx=ast.Load()))

    def visit_Tuple(self, node: ast.Tuple) -> ast.expr:
        if not isinstance(node.ctx, ast.Load):
            return node
        return self._starred(node, "tuple", lambda elts: ast.Tuple(elts=elts, ctx=ast.Load()))

    def visit_Set(self, node: ast.Set) -> ast.expr:
        return self._starred(node, "set", lambda elts: ast.Set(elts=elts), union=True)

    def _starred(self, node: ast.List | ast.Tuple | ast.Set, kind: str, display,
                 union: bool = False) -> ast.expr:
        self.generic_visit(node)
        if not any(isinstance(e, ast.Starred) for e in node.elts):
            return node
        parts: list[ast.expr] = []
        plain: list[ast.expr] = []
        for element in node.elts:
            if isinstance(element, ast.Starred):
                if plain:
                    parts.append(display(plain))
                    plain = []
                parts.append(ast.Call(func=ast.Name(id=kind, ctx=ast.Load()),
                                      args=[element.value], keywords=[]))
            else:
                plain.append(element)
        if plain:
            parts.append(display(plain))
        result = parts[0]
        for part in parts[1:]:
            result = ast.BinOp(left=result, op=ast.BitOr() if union else ast.Add(), right=part)
        return ast.copy_location(result, node)


def _pairs(node: ast.Dict) -> ast.expr:
    return ast.copy_location(ast.Tuple(
        elts=[ast.Tuple(elts=[k, v], ctx=ast.Load()) for k, v in zip(node.keys, node.values)],
        ctx=ast.Load()), node)


class Signatures(ast.NodeTransformer):
    """MicroPython cannot tell a function's parameters at run time, and statesync calls
    implementations by their signature (`params`, `sender=`). Every function or lambda that
    does not take the default `(context, event)` shape (more positional parameters, `*args`,
    or a parameter named `sender`) is registered with its parameters in the helper, where the
    light `inspect.signature` finds them. Methods other than `__call__` are not registered."""

    def __init__(self, helper: _HelperUses) -> None:
        self.helper = helper
        self.in_class = False

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        outer, self.in_class = self.in_class, True
        self.generic_visit(node)
        self.in_class = outer
        return node

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.stmt:
        in_class, self.in_class = self.in_class, False
        self.generic_visit(node)
        self.in_class = in_class
        if in_class and node.name != "__call__":
            return node
        spec = _signature_spec(node.args)
        if spec is not None:
            node.decorator_list.append(self.helper.call("signature", [spec], node))
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _function  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> ast.expr:
        in_class, self.in_class = self.in_class, False
        self.generic_visit(node)
        self.in_class = in_class
        spec = _signature_spec(node.args)
        if spec is None:
            return node
        register = self.helper.call("signature", [spec], node)
        return ast.copy_location(ast.Call(func=register, args=[node], keywords=[]), node)


POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD, VAR_POSITIONAL, KEYWORD_ONLY, VAR_KEYWORD = range(5)


def _signature_spec(args: ast.arguments) -> ast.expr | None:
    """`((name, kind, has_default), ...)` as a tuple display, or None for a plain shape."""
    entries: list[tuple[str, int, bool]] = []
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    for index, arg in enumerate(positional):
        kind = POSITIONAL_ONLY if index < len(args.posonlyargs) else POSITIONAL_OR_KEYWORD
        entries.append((arg.arg, kind, index >= first_default))
    if args.vararg:
        entries.append((args.vararg.arg, VAR_POSITIONAL, False))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        entries.append((arg.arg, KEYWORD_ONLY, default is not None))
    if args.kwarg:
        entries.append((args.kwarg.arg, VAR_KEYWORD, False))
    plain = len(positional) <= 2 and not args.vararg and all(
        name != "sender" for name, _, _ in entries)
    if plain:
        return None
    return ast.parse(repr(tuple(entries)), mode="eval").body


MISSING_ATTRIBUTES = {("time", "monotonic"), ("time", "perf_counter"),
                      ("base64", "urlsafe_b64decode"), ("base64", "urlsafe_b64encode")}
"""`module.name`s MicroPython lacks: read from the helper instead."""


class MissingAttributes(ast.NodeTransformer):
    """`time.monotonic` -> `_statesync_light.monotonic` (see `MISSING_ATTRIBUTES`: MicroPython
    has no monotonic clock in `time`, and its `base64.urlsafe_*` raise NotImplementedError)."""

    def __init__(self, helper: _HelperUses) -> None:
        self.helper = helper

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.value, ast.Name) and (node.value.id, node.attr) in MISSING_ATTRIBUTES:
            return self.helper.attribute(node.attr, node)
        return node


EMIT = "_statesync_emit"


class AsyncGenerators(ast.NodeTransformer):
    """MicroPython has no async generators (`async for` over one fails): an `async def` that
    yields becomes a plain function returning `_statesync_light.AsyncGenerator(body)`, its
    body an inner coroutine where `yield x` is `await _statesync_emit(x)`. The body runs in a
    task, one item ahead of the consumer at most; `aclose()` cancels it (its `finally` runs)."""

    def __init__(self, helper: _HelperUses, reasons: list[str]) -> None:
        self.helper = helper
        self.reasons = reasons

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.stmt:
        self.generic_visit(node)
        yields = [n for n in _own_nodes(node) if isinstance(n, ast.Yield | ast.YieldFrom)]
        if not yields:
            return node
        for found in yields:
            if isinstance(found, ast.YieldFrom) or not _is_statement(found, node):
                self.reasons.append(f"line {found.lineno}: an async generator's yield used "
                                    f"as a value (asend)")
                return node
        node.body = [_EmitYields().visit(stmt) for stmt in node.body]
        body = ast.AsyncFunctionDef(
            name="_statesync_body", args=ast.arguments(
                posonlyargs=[], args=[ast.arg(arg=EMIT)], kwonlyargs=[], kw_defaults=[],
                defaults=[]), body=node.body, decorator_list=[], returns=None)
        wrapper = self.helper.call("AsyncGenerator", [ast.Name(id="_statesync_body",
                                                               ctx=ast.Load())], node)
        plain = ast.FunctionDef(name=node.name, args=node.args,
                                body=[body, ast.Return(value=wrapper)],
                                decorator_list=node.decorator_list, returns=None)
        return ast.copy_location(plain, node)


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of `function`'s body, not of the functions or classes nested in it."""
    for child in ast.iter_child_nodes(function):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        yield child
        yield from _own_nodes(child)


def _is_statement(found: ast.Yield, function: ast.AST) -> bool:
    return any(isinstance(n, ast.Expr) and n.value is found for n in _own_nodes(function))


class _EmitYields(ast.NodeTransformer):
    def visit_FunctionDef(self, node: ast.AST) -> ast.AST:
        return node  # nested functions keep their own yields

    visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef

    def visit_Expr(self, node: ast.Expr) -> ast.stmt:
        if isinstance(node.value, ast.Yield):
            value = node.value.value or ast.Constant(None)
            call = ast.Call(func=ast.Name(id=EMIT, ctx=ast.Load()), args=[value], keywords=[])
            return ast.copy_location(ast.Expr(value=ast.Await(value=call)), node)
        return node


class MissingMethods(ast.NodeTransformer):
    """`s.removeprefix(p)` -> `_statesync_light.method(s, "removeprefix", p)` for the methods
    MicroPython's `str`, `float` and hashes lack (see `MISSING_METHODS`)."""

    def __init__(self, helper: _HelperUses) -> None:
        self.helper = helper

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in MISSING_METHODS and not node.keywords \
                and not any(isinstance(a, ast.Starred) for a in node.args):
            return self.helper.call("method", [func.value, ast.Constant(func.attr), *node.args],
                                    node)
        return node


POSITIONAL_KEYWORDS = {"int": ("base",), "round": ("ndigits",), "split": ("sep", "maxsplit"),
                       "rsplit": ("sep", "maxsplit")}
"""Built-ins MicroPython accepts these arguments of by position only."""


def _is_union(node: ast.expr) -> bool:
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr)


def _union_members(node: ast.expr) -> Iterator[ast.expr]:
    if _is_union(node):
        yield from _union_members(node.left)  # type: ignore[attr-defined]
        yield from _union_members(node.right)  # type: ignore[attr-defined]
    elif isinstance(node, ast.Constant) and node.value is None:
        yield ast.Call(func=ast.Name(id="type", ctx=ast.Load()), args=[node], keywords=[])
    else:
        yield node


class BuiltinKeywords(ast.NodeTransformer):
    """MicroPython's built-ins take no keyword arguments: `zip(a, b, strict=True)` loses its
    check (`strict` only raises on unequal lengths), `int(s, base=16)` and `s.split(maxsplit=1)`
    pass them by position. `isinstance(x, int | float)` gets a tuple (MicroPython's types have
    no `|`)."""

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else None)
        if isinstance(func, ast.Name) and name in ("isinstance", "issubclass") and len(
                node.args) == 2 and _is_union(node.args[1]):
            node.args[1] = ast.Tuple(elts=list(_union_members(node.args[1])), ctx=ast.Load())
        elif isinstance(func, ast.Name) and name == "zip":
            node.keywords = [k for k in node.keywords if k.arg != "strict"]
        elif name in POSITIONAL_KEYWORDS and node.keywords and not any(
                isinstance(a, ast.Starred) for a in node.args) and all(
                k.arg in POSITIONAL_KEYWORDS[name] for k in node.keywords):
            given = {k.arg: k.value for k in node.keywords}
            slots = POSITIONAL_KEYWORDS[name]
            first = len(node.args) - (1 if name in ("int", "round") else 0)
            missing = slots[first:]
            last = max(i for i, slot in enumerate(missing) if slot in given)
            defaults = {"sep": ast.Constant(None), "maxsplit": ast.Constant(-1)}
            node.args = [*node.args, *(given.get(slot, defaults.get(slot)) for slot in missing[:last + 1])]
            node.keywords = []
        return node


class FStringTrailingBrace(ast.NodeTransformer):
    """MicroPython rejects an f-string ending in `{{` (a literal `{`): `f"{x} {{"` becomes
    `f"{x} " + "{"`."""

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.expr:
        last = node.values[-1] if node.values else None
        if not (isinstance(last, ast.Constant) and isinstance(last.value, str)
                and last.value.endswith("{")):
            return node
        head = last.value.rstrip("{")
        braces = last.value[len(head):]
        values = [*node.values[:-1], *([ast.Constant(head)] if head else [])]
        if not values:
            return ast.copy_location(ast.Constant(last.value), node)
        return ast.copy_location(ast.BinOp(left=ast.JoinedStr(values=values), op=ast.Add(),
                                           right=ast.Constant(braces)), node)


# -- statement-list surgery -----------------------------------------------------------------


def _bodies(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield node, field
        for handler in getattr(node, "handlers", []):
            yield handler, "body"


def _filter_bodies(tree: ast.AST, keep) -> None:
    for node, field in list(_bodies(tree)):
        statements = [s for s in getattr(node, field) if keep(s)]
        setattr(node, field, statements or ([] if field != "body" else [ast.Pass()]))


def _splice_bodies(tree: ast.AST, replace) -> None:
    for node, field in list(_bodies(tree)):
        statements: list[ast.stmt] = []
        for stmt in getattr(node, field):
            replaced = replace(stmt)
            statements.extend([stmt] if replaced is None else replaced)
        setattr(node, field, statements or ([] if field != "body" else [ast.Pass()]))


def iter_imports(tree: ast.AST) -> Iterable[tuple[str, int, bool]]:
    """(module, level, inside a function) for every import statement of `tree`."""
    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, 0, in_function
            elif isinstance(child, ast.ImportFrom):
                yield child.module or "", child.level, in_function
            yield from walk(child, inside)

    return walk(tree, False)
