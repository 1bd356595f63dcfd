"""The link model: a class linked to a checkpoint (`Link`), what one file holds (`FileScan`:
classes, directives, load sites, imports), and where a checkpoint was found (`Resolution`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ckptlens.engine.mapping_code import ParsedMapping
from ckptlens.findings import SourceRange

DIRECTIVE = "directive"
PYPROJECT = "pyproject"
SETTING = "setting"
LOAD_FROM_CHECKPOINT = "load_from_checkpoint"
FROM_PRETRAINED = "from_pretrained"
LOAD_STATE_DICT = "load_state_dict"
EXPLICIT_KINDS = frozenset({DIRECTIVE, PYPROJECT, SETTING})


@dataclass(frozen=True, eq=False)
class Link:
    """One class linked to one checkpoint, and where the link is written."""

    kind: str  # DIRECTIVE | PYPROJECT | SETTING | LOAD_FROM_CHECKPOINT | FROM_PRETRAINED | LOAD_STATE_DICT
    class_file: str
    class_name: str
    checkpoint: str  # as written
    search_dirs: tuple[str, ...]  # where a relative `checkpoint` is looked for, in order
    site_file: str | None = None  # the file that writes `checkpoint` (None: pyproject / setting)
    path_range: SourceRange | None = None  # the path expression at the site (diagnostics)
    literal_range: SourceRange | None = None  # the string literal itself (document links)
    class_range: SourceRange | None = None  # the class name, filled in when the class is found
    init: tuple[tuple[str, Any], ...] = ()  # literal keyword arguments at the site
    init_positional: tuple[tuple[int, Any], ...] = ()  # literal positional arguments, by index
    config: str | None = None  # as written, resolved like `checkpoint`
    strict_false: bool = False  # load_state_dict(..., strict=False)
    map_location: bool | None = None  # None: the call takes no map_location
    call_range: SourceRange | None = None  # the whole load call
    state_arg_range: SourceRange | None = None  # load_state_dict's first argument
    site_mapping: ParsedMapping | None = None  # a generated mapping applied at the load site
    # load_state_dict(torch.load(p)["state_dict"]) -> ("state_dict",): the entries the load site
    # selects from the file before passing it; None: not a plain selection (not checked)
    state_entries: tuple[str, ...] | None = None
    origin: str = ""  # pyproject.toml path, or "settings"

    @property
    def key(self) -> str:
        """Identity for de-duplication: same class, same file, same arguments, same site."""
        return repr(
            (
                self.class_file,
                self.class_name,
                self.checkpoint,
                self.search_dirs,
                self.init,
                self.init_positional,
                self.config,
                self.site_mapping,
                self.path_range,
            )
        )

    @property
    def is_explicit(self) -> bool:
        return self.kind in EXPLICIT_KINDS

    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.init)


@dataclass(frozen=True)
class ClassDecl:
    name: str
    name_range: SourceRange
    first_line: int  # decorators included
    last_line: int
    body_indent: str
    mapping: (
        ParsedMapping | None
    )  # a generated remap method registered as a load_state_dict pre-hook
    has_hook: bool  # a load_state_dict pre-hook is registered in the class
    init_lines: tuple[int, int] | None  # `__init__`'s first and last lines


@dataclass(frozen=True)
class LoadSite:
    """A load call before its class is resolved: `class_ref` is the dotted class expression."""

    kind: str
    class_ref: tuple[str, ...]
    checkpoint: str
    path_range: SourceRange
    literal_range: SourceRange
    call_range: SourceRange
    init: tuple[tuple[str, Any], ...] = ()
    init_positional: tuple[tuple[int, Any], ...] = ()
    strict_false: bool = False
    map_location: bool | None = None
    state_arg_range: SourceRange | None = None
    site_mapping: ParsedMapping | None = None
    state_entries: tuple[str, ...] | None = None  # see `Link.state_entries`


@dataclass(frozen=True)
class ImportRef:
    module: str  # dotted module ("" for `from . import x`)
    level: int
    name: str | None  # the imported attribute (None for `import module`)


@dataclass(frozen=True)
class FileScan:
    path: str
    classes: dict[str, ClassDecl]
    directives: tuple[Link, ...]
    sites: tuple[LoadSite, ...]
    imports: dict[str, ImportRef]
    mapping_functions: dict[str, ParsedMapping]  # module-level generated mapping functions
    ok: bool = True  # False: the text does not parse (and there was no earlier good scan)
    stale: bool = False  # True: a syntax error; this is the last good scan

    def class_at_line(self, line: int) -> ClassDecl | None:
        """The innermost class whose lines hold `line`."""
        best = None
        for decl in self.classes.values():
            if decl.first_line <= line <= decl.last_line and (
                best is None or decl.first_line >= best.first_line
            ):
                best = decl
        return best


EMPTY_SCAN = FileScan("", {}, (), (), {}, {}, ok=False)


@dataclass(frozen=True)
class Resolution:
    path: str | None  # the existing file or folder
    tried: tuple[str, ...]  # what was looked at, for the message
    hub_id: str | None = None  # a Hugging Face hub id that is not in the local cache (then
    # `path` is its `hf://` reference, read from the Hub)
