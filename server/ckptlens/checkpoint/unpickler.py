"""A restricted pickle machine: protocols 0-5, written from scratch so that nothing in it can
import a module or call an object the pickle names.

`pickle.Unpickler` with `find_class` overridden never imports either, but it cannot be bounded:
a small file can make it build millions of objects, and a tuple nested 300,000 deep used as a
dict key crashes CPython when hashed. Here every global goes through `policy.resolve_global`,
every call through our own inert builders, and work, stack, memo, nesting and key depth are
capped so a hostile file fails fast with a `CheckpointError`.

This file: the machine (reading, the stack, the memo, the caps, the data opcodes); the opcodes
that name globals, call them and build objects are in `pickle_objects.py`.
"""

from __future__ import annotations

import codecs
import gc
import re
import struct
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ckptlens.checkpoint.index import CheckpointError, LimitExceeded
from ckptlens.checkpoint.pickle_objects import GlobalsAndObjects, PersistentLoad
from ckptlens.checkpoint.pickled import (
    NumpyArray,
    OpaqueObject,
)
from ckptlens.checkpoint.policy import (
    SafeGlobal,
    check_key,
)
from ckptlens.checkpoint.weights_only import (
    TORCH_OPCODE_TABLE,
    WeightsOnlyAudit,
)


class PickleTruncated(CheckpointError):
    """The data ends before the pickle's STOP: a cut-off file, or (for a remote file read by a
    growing prefix) a prefix not yet long enough. `needed`: how long the data must be to go on
    (None: unknown, a text line without its end)."""

    needed: int | None = None


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile pickle from eating time or memory. Real checkpoints stay far
    below them: a tensor costs ~30 opcodes, and pickle batches list/dict items by 1000."""

    max_ops: int = 10_000_000
    max_stack: int = 1_000_000
    max_memo: int = 4_000_000
    max_marks: int = 10_000
    max_long_bytes: int = 1024  # ints beyond ~2400 digits cannot even be printed by Python
    max_line: int = 1 << 16
    # Estimated bytes of everything built (objects, copies, memo entries), by sys.getsizeof:
    # a 300 KiB pickle copying one blob 6,000 times, or memoising millions of dicts, stops here.
    max_bytes: int = 128 << 20  # a checkpoint of 90,000 tensors takes ~120 MiB


DEFAULT_LIMITS = Limits()

class Unpickler(GlobalsAndObjects):
    """Runs one pickle from `data[start:]`; `load()` returns the object and leaves `pos`
    just past its STOP opcode (the legacy format has several pickles back to back)."""

    def __init__(
        self,
        data: bytes | Any,  # bytes or an mmap: anything with slicing, indexing and find()
        *,
        start: int = 0,
        persistent_load: PersistentLoad | None = None,
        limits: Limits = DEFAULT_LIMITS,
        name: str = "pickle",
        audit: WeightsOnlyAudit | None = None,
    ) -> None:
        self.data = data
        self.pos = start
        self.end = len(data)  # the pickle may stop earlier; the data may not (see `_run`)
        self.persistent_load = persistent_load
        self.limits = limits
        self.name = name
        self.memo: dict[int, Any] = {}
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.proto = 0
        self.ops = 0
        self.opaque: dict[str, None] = {}  # unknown globals met, in order (a set that keeps it)
        self.audit = audit if audit is not None else WeightsOnlyAudit()
        self.mem = 0  # bytes charged so far (see Limits.max_bytes)
        self.globals_seen = 0
        # Objects torch's weights_only BUILD accepts (by id; the values keep the ids alive).
        self._buildable: dict[int, Any] = {}
        self._bad_ops: set[int] = set()  # opcodes met that torch's weights_only lacks
        self._dispatch = self._make_dispatch()

    # --- driving -----------------------------------------------------------------------

    def load(self) -> Any:
        try:
            with _gc_paused():
                return self._run()
        except KeyError as exc:
            raise self._corrupt(f"refers to memo entry {exc}, which was never stored") from None

    def _run(self) -> Any:
        """Run to STOP. The opcodes a torch state_dict is made of (memo, small ints, MARK,
        strings, tuples, REDUCE, storages) are handled inline with the stack in a local: a
        method call per opcode would double the time of indexing a big checkpoint. The rest
        go through `_dispatch`, with `self.pos` / `self.stack` synced around the call."""
        data, dispatch, end, memo = self.data, self._dispatch, self.end, self.memo
        max_ops, max_stack = self.limits.max_ops, self.limits.max_stack
        max_memo, max_marks = self.limits.max_memo, self.limits.max_marks
        metastack, persistent = self.metastack, self._persistent
        ops, pos, stack = self.ops, self.pos, self.stack
        max_bytes, buildable, torch_ops = self.limits.max_bytes, self._buildable, TORCH_OPCODE_TABLE
        bad_ops = self._bad_ops
        getsizeof = sys.getsizeof
        mem = 0  # bytes charged by the inline opcodes since the last check (handlers: self.mem)
        budget = 64  # opcodes until the next check of the caps
        try:
            while True:
                op = data[pos]  # IndexError at the end of the data: truncated
                pos += 1
                budget -= 1
                # Literal opcodes (LOAD_CONST) in frequency order; names in the comments.
                if op == 0x72:  # LONG_BINPUT
                    memo[_U32.unpack_from(data, pos)[0]] = stack[-1]
                    pos += 4
                elif op == 0x68:  # BINGET
                    stack.append(memo[data[pos]])
                    pos += 1
                elif op == 0x71:  # BINPUT
                    memo[data[pos]] = stack[-1]
                    pos += 1
                elif op == 0x4B:  # BININT1
                    stack.append(data[pos])
                    pos += 1
                elif op == 0x4D:  # BININT2
                    stack.append(data[pos] | data[pos + 1] << 8)
                    pos += 2
                elif op == 0x28:  # MARK
                    if len(metastack) >= max_marks:
                        raise LimitExceeded(f"{self.name} nests deeper than {max_marks:,} levels")
                    metastack.append(stack)
                    stack = []
                    mem += 56
                elif op == 0x58:  # BINUNICODE
                    stop = pos + 4 + _U32.unpack_from(data, pos)[0]
                    if stop > end:
                        raise self._truncated(stop)
                    mem += 4 * (stop - pos) + 56  # one char may take 4 bytes
                    if stop - pos > 1 << 16:  # a big one is checked before it is built
                        self._charge(mem)
                        mem = 0
                    try:
                        stack.append(data[pos + 4 : stop].decode("utf-8", "surrogatepass"))
                    except UnicodeDecodeError as exc:
                        raise self._corrupt("a string is not valid UTF-8") from exc
                    pos = stop
                elif op == 0x74:  # TUPLE
                    if not metastack:
                        raise self._corrupt("closes a MARK that was never opened")
                    items = tuple(stack)
                    stack = metastack.pop()
                    stack.append(items)
                    mem += getsizeof(items)
                elif op == 0x52:  # REDUCE
                    args = stack.pop()
                    func = stack[-1]
                    if type(func) is SafeGlobal and type(args) is tuple:
                        arity = func.arity
                        if arity is not None and not arity[0] <= len(args) <= arity[1]:
                            self._check_arity(func, args)
                        try:
                            result = func.call(*args)
                        except TypeError as exc:  # wrong arity: our builders never raise it else
                            raise self._corrupt(
                                f"{func.qualname} gets arguments it does not take"
                            ) from exc
                        if func.buildable:
                            buildable[id(result)] = result
                        stack[-1] = result
                        mem += getsizeof(result)
                        if type(result) is NumpyArray and result.data is not None:
                            mem += len(result.data)
                    else:
                        stack[-1] = self._call(func, args)
                elif op == 0x86:  # TUPLE2
                    stack[-2:] = [(stack[-2], stack[-1])]
                    mem += 56
                elif op == 0x29:  # EMPTY_TUPLE
                    stack.append(())
                elif op == 0x89:  # NEWFALSE
                    stack.append(False)
                elif op == 0x51:  # BINPERSID
                    stack[-1] = persistent(stack[-1])
                elif op == 0x7D:  # EMPTY_DICT
                    stack.append({})
                    mem += 64
                elif op == 0x5D:  # EMPTY_LIST
                    stack.append([])
                    mem += 56
                elif op == 0x61 and type(stack[-2]) is list:  # APPEND to a list
                    stack[-2].append(stack.pop())
                    mem += 8
                elif op == 0x94:  # MEMOIZE (protocol 4+, so not torch's)
                    memo[len(memo)] = stack[-1]
                    if op not in bad_ops:
                        self._bad_opcode(op)
                else:
                    self.pos, self.stack = pos, stack
                    handler = dispatch[op]
                    if handler is None:
                        raise self._corrupt(f"unknown opcode 0x{op:02x} at byte {pos - 1}")
                    if not torch_ops[op] and op not in bad_ops:
                        self._bad_opcode(op)
                    if handler() is _STOP:
                        self.ops = ops + 64 - budget
                        self.mem += mem
                        return self._result
                    pos, stack = self.pos, self.stack
                # One opcode grows the stack or the memo by at most one item: checking every
                # 64th opcode is enough.
                if not budget:
                    budget = 64
                    ops += 64
                    if ops > max_ops:
                        raise LimitExceeded(
                            f"{self.name} needs more than {max_ops:,} pickle operations: refusing to go on"
                        )
                    if len(stack) > max_stack:
                        raise LimitExceeded(
                            f"{self.name} piles up more than {max_stack:,} objects at once: refusing to go on"
                        )
                    if len(memo) > max_memo:
                        raise LimitExceeded(
                            f"{self.name} memoizes more than {max_memo:,} objects"
                        )
                    self.mem += mem
                    mem = 0
                    if self.mem + getsizeof(memo) + 32 * len(memo) > max_bytes:
                        raise self._too_big()
        except (IndexError, struct.error):
            # The inline opcodes leave bounds to Python: reading past the end is a truncated
            # file, popping an empty stack a corrupt one.
            self.pos = pos
            if pos >= end or pos + _INLINE_ARG_BYTES.get(op, 0) > end:
                raise self._truncated(pos + 1 + _INLINE_ARG_BYTES.get(op, 0)) from None
            raise self._corrupt("an opcode finds too little on the stack") from None

    def _bad_opcode(self, op: int) -> None:
        self._bad_ops.add(op)
        self.audit.opcode(op, self.name)

    def _charge(self, n: int) -> None:
        """Count `n` bytes about to be allocated; refuse before allocating past the cap."""
        self.mem += n
        if self.mem > self.limits.max_bytes:
            raise self._too_big()

    def _too_big(self) -> CheckpointError:
        return LimitExceeded(
            f"{self.name} would build more than {self.limits.max_bytes >> 20:,} MiB of objects: "
            "refusing to go on"
        )

    def _truncated(self, needed: int | None = None) -> CheckpointError:
        error = PickleTruncated(f"truncated {self.name}: it ends before its STOP opcode")
        error.needed = needed
        return error

    def _corrupt(self, what: str) -> CheckpointError:
        return CheckpointError(f"corrupt {self.name}: {what}")

    # --- reading -----------------------------------------------------------------------

    def _read(self, n: int) -> bytes:
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise self._truncated(pos + n if n >= 0 else None)
        self._charge(n + 33)
        self.pos = pos + n
        return self.data[pos : pos + n]  # bytes (from bytes or an mmap)

    def _byte(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise self._truncated(pos + 1)
        self.pos = pos + 1
        return self.data[pos]

    def _unpack(self, fmt: struct.Struct) -> Any:
        pos = self.pos
        if pos + fmt.size > self.end:
            raise self._truncated(pos + fmt.size)
        self.pos = pos + fmt.size
        return fmt.unpack_from(self.data, pos)[0]

    def _readline(self, limit: int | None = None) -> bytes:
        limit = self.limits.max_line if limit is None else limit
        stop = self.data.find(b"\n", self.pos, min(self.end, self.pos + limit + 1))
        if stop < 0:
            if self.end - self.pos <= limit:
                raise self._truncated(self.pos + limit + 1)
            raise self._corrupt("a text field is too long")
        self._charge(stop - self.pos + 33)
        line = bytes(self.data[self.pos : stop])
        self.pos = stop + 1
        return line

    # --- stack ---------------------------------------------------------------------------

    def _pop(self) -> Any:
        if not self.stack:
            raise self._corrupt("pops from an empty stack")
        return self.stack.pop()

    def _top(self) -> Any:
        if not self.stack:
            raise self._corrupt("reads an empty stack")
        return self.stack[-1]

    def _pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise self._corrupt("closes a MARK that was never opened")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    # --- opcodes ---------------------------------------------------------------------------

    def _make_dispatch(self) -> list[Callable[[], Any] | None]:
        table: list[Callable[[], Any] | None] = [None] * 256
        for code, method in _OPCODES.items():
            table[ord(code)] = getattr(self, method)
        return table

    def op_proto(self) -> None:
        self.proto = self._byte()
        if self.proto > 5:
            raise self._corrupt(f"unsupported pickle protocol {self.proto}")

    def op_frame(self) -> None:
        self._read(8)  # frames only batch reads; the data is already in memory or mapped

    def op_stop(self) -> object:
        self._result = self._pop()
        return _STOP

    def op_pop(self) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark()

    def op_pop_mark(self) -> None:
        self._pop_mark()

    def op_dup(self) -> None:
        self.stack.append(self._top())

    # numbers

    def op_int(self) -> None:
        self.stack.append(self._parse_int(self._readline(64), c_int=True))

    def op_long(self) -> None:
        line = self._readline(self.limits.max_long_bytes * 3)
        self.stack.append(self._parse_int(line[:-1] if line.endswith(b"L") else line))

    def _parse_int(self, text: bytes, c_int: bool = False) -> int:
        try:
            return parse_int_field(text) if c_int else int(text, 0)
        except ValueError as exc:
            raise self._corrupt("an integer field is not a number") from exc

    def op_binint(self) -> None:
        self.stack.append(self._unpack(_I32))

    def op_long1(self) -> None:
        self.stack.append(self._long(self._byte()))

    def op_long4(self) -> None:
        self.stack.append(self._long(self._unpack(_I32)))

    def _long(self, size: int) -> int:
        if size < 0 or size > self.limits.max_long_bytes:
            raise self._corrupt("an integer is too large")
        return int.from_bytes(self._read(size), "little", signed=True)

    def op_float(self) -> None:
        self.mem += 24
        try:
            self.stack.append(float(self._readline(64)))
        except ValueError as exc:
            raise self._corrupt("a float field is not a number") from exc

    def op_binfloat(self) -> None:
        self.mem += 24
        self.stack.append(self._unpack(_F64))

    def op_none(self) -> None:
        self.stack.append(None)

    def op_newtrue(self) -> None:
        self.stack.append(True)

    # strings and bytes

    def _text(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise self._corrupt("a string is not valid UTF-8") from exc

    def _py2_str(self, raw: bytes) -> str:
        # Python 2 `str` fields; torch.load decodes them as UTF-8, latin-1 never fails.
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin1")

    def op_string(self) -> None:
        line = self._readline(self.end - self.pos)
        if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
            raise self._corrupt("a STRING field is not quoted")
        try:
            raw = codecs.escape_decode(line[1:-1])[0]
        except ValueError as exc:
            raise self._corrupt("a STRING field has a bad escape") from exc
        self.stack.append(self._py2_str(raw))

    def op_binstring(self) -> None:
        self.stack.append(self._py2_str(self._read(self._unpack(_I32))))

    def op_short_binstring(self) -> None:
        raw = self._read(self._byte())
        try:
            text = raw.decode("utf-8")  # torch.load decodes with encoding="utf-8", strictly
        except UnicodeDecodeError:
            self.audit.reject(f"{self.name} holds a Python 2 string that is not UTF-8")
            text = raw.decode("latin1")
        self.stack.append(text)

    def op_unicode(self) -> None:
        line = self._readline(self.end - self.pos)
        try:
            self.stack.append(line.decode("raw-unicode-escape"))
        except UnicodeDecodeError as exc:
            raise self._corrupt("a UNICODE field has a bad escape") from exc

    def op_short_binunicode(self) -> None:
        self.stack.append(self._text(self._read(self._byte())))

    def op_binunicode8(self) -> None:
        n = self._unpack(_U64)
        self._charge(3 * min(n, self.end))  # the decoded text may take 4 bytes a character
        self.stack.append(self._text(self._read(n)))

    def op_binbytes(self) -> None:
        self.stack.append(self._read(self._unpack(_U32)))

    def op_short_binbytes(self) -> None:
        self.stack.append(self._read(self._byte()))

    def op_binbytes8(self) -> None:
        self.stack.append(self._read(self._unpack(_U64)))

    def op_bytearray8(self) -> None:
        raw = self._read(self._unpack(_U64))
        self._charge(len(raw) + 57)
        self.stack.append(bytearray(raw))

    def op_next_buffer(self) -> None:
        raise self._corrupt("it expects out-of-band buffers, which a file cannot carry")

    def op_readonly_buffer(self) -> None:
        self._top()

    # containers

    # Whatever pops a MARK swaps `self.stack`: compute first, then push on the outer stack.

    def op_tuple1(self) -> None:
        stack = self.stack
        if not stack:
            raise self._corrupt("pops from an empty stack")
        stack[-1] = (stack[-1],)
        self.mem += 48

    def op_tuple3(self) -> None:
        c = self._pop()
        b = self._pop()
        a = self._pop()
        self.stack.append((a, b, c))
        self.mem += 64

    def op_empty_list(self) -> None:
        self.stack.append([])
        self.mem += 56

    def op_list(self) -> None:
        items = self._pop_mark()
        self.stack.append(items)

    def op_append(self) -> None:
        stack = self.stack
        if len(stack) < 2:
            raise self._corrupt("APPEND without a list")
        value = stack.pop()
        target = stack[-1]
        if type(target) is list:
            target.append(value)
            self.mem += 8
        else:
            self._extend(target, [value])

    def op_appends(self) -> None:
        items = self._pop_mark()
        self._extend(self._top(), items)

    def _extend(self, target: Any, items: list[Any]) -> None:
        self.mem += 8 * len(items)
        if type(target) is not list:
            self.audit.reject(f"{self.name} appends to something that is not a list")
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, OpaqueObject):
            if target.list_items is None:
                target.list_items = []
            target.list_items.extend(items)
        else:
            raise self._corrupt(f"appends to a {type(target).__name__}")

    def op_empty_dict(self) -> None:
        self.stack.append({})
        self.mem += 64

    def op_dict(self) -> None:
        items = self._pop_mark()
        result: dict[Any, Any] = {}
        self._set_items(result, items)
        self.stack.append(result)

    def op_setitem(self) -> None:
        value = self._pop()
        key = self._pop()
        self._set_items(self._top(), [key, value])

    def op_setitems(self) -> None:
        items = self._pop_mark()
        self._set_items(self._top(), items)

    def _set_items(self, target: Any, items: list[Any]) -> None:
        if len(items) % 2:
            raise self._corrupt("dict items are not key/value pairs")
        if type(target) is dict:
            pass
        elif isinstance(target, dict):
            self.audit.reject(f"{self.name} sets items on an object that is not a dict")
        elif isinstance(target, OpaqueObject):
            self.audit.reject(f"{self.name} sets items on an object that is not a dict")
            if target.dict_items is None:
                target.dict_items = {}
            target = target.dict_items
        else:
            raise self._corrupt(f"sets items on a {type(target).__name__}")
        before = sys.getsizeof(target)
        for i in range(0, len(items), 2):
            key = items[i]
            target[key if type(key) is str else check_key(key)] = items[i + 1]
        self.mem += sys.getsizeof(target) - before

    def op_empty_set(self) -> None:
        self.stack.append(set())
        self.mem += 216

    def op_additems(self) -> None:
        items = self._pop_mark()
        target = self._top()
        if isinstance(target, set):
            before = sys.getsizeof(target)
            target.update(check_key(item) for item in items)
            self.mem += sys.getsizeof(target) - before
        elif isinstance(target, OpaqueObject):
            self._extend(target, items)
        else:
            raise self._corrupt(f"adds set items to a {type(target).__name__}")

    def op_frozenset(self) -> None:
        items = frozenset(check_key(item) for item in self._pop_mark())
        self.mem += sys.getsizeof(items)
        self.stack.append(items)

    # memo

    def _memo_put(self, index: int) -> None:
        memo = self.memo
        if len(memo) >= self.limits.max_memo and index not in memo:
            raise LimitExceeded(
                f"{self.name} memoizes more than {self.limits.max_memo:,} objects"
            )
        if not self.stack:
            raise self._corrupt("memoizes from an empty stack")
        memo[index] = self.stack[-1]

    def _memo_get(self, index: int) -> None:
        try:
            self.stack.append(self.memo[index])
        except KeyError:
            raise self._corrupt(f"refers to memo entry {index}, which was never stored") from None

    def op_put(self) -> None:
        self._memo_put(self._parse_int(self._readline(32)))

    def op_memoize(self) -> None:
        self._memo_put(len(self.memo))

    def op_get(self) -> None:
        self._memo_get(self._parse_int(self._readline(32)))

    def op_long_binget(self) -> None:
        self._memo_get(self._unpack(_U32))

@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a pickle is decoded. A hostile pickle piling up a million
    lists makes it rescan every live object again and again (4x the time of the read); what
    is built here holds no garbage cycles worth collecting before the read ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_STOP = object()
# Argument bytes of the opcodes `_run` reads inline (LONG_BINPUT, BINGET, BINPUT, BININT1,
# BININT2, BINUNICODE's length).
_INLINE_ARG_BYTES = {0x72: 4, 0x68: 1, 0x71: 1, 0x4B: 1, 0x4D: 2, 0x58: 4}
_I32 = struct.Struct("<i")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct(">d")

# Opcodes `_run` does not handle inline, by method; a byte missing here and there is unknown.
_OPCODES = {
    "\x80": "op_proto",
    "\x95": "op_frame",
    ".": "op_stop",
    "0": "op_pop",
    "1": "op_pop_mark",
    "2": "op_dup",
    "I": "op_int",
    "L": "op_long",
    "J": "op_binint",
    "\x8a": "op_long1",
    "\x8b": "op_long4",
    "F": "op_float",
    "G": "op_binfloat",
    "N": "op_none",
    "\x88": "op_newtrue",
    "S": "op_string",
    "T": "op_binstring",
    "U": "op_short_binstring",
    "V": "op_unicode",
    "\x8c": "op_short_binunicode",
    "\x8d": "op_binunicode8",
    "B": "op_binbytes",
    "C": "op_short_binbytes",
    "\x8e": "op_binbytes8",
    "\x96": "op_bytearray8",
    "\x97": "op_next_buffer",
    "\x98": "op_readonly_buffer",
    "\x85": "op_tuple1",
    "\x87": "op_tuple3",
    "]": "op_empty_list",
    "l": "op_list",
    "a": "op_append",
    "e": "op_appends",
    "}": "op_empty_dict",
    "d": "op_dict",
    "s": "op_setitem",
    "u": "op_setitems",
    "\x8f": "op_empty_set",
    "\x90": "op_additems",
    "\x91": "op_frozenset",
    "p": "op_put",
    "\x94": "op_memoize",
    "g": "op_get",
    "j": "op_long_binget",
    "c": "op_global",
    "\x93": "op_stack_global",
    "\x81": "op_newobj",
    "\x92": "op_newobj_ex",
    "i": "op_inst",
    "o": "op_obj",
    "b": "op_build",
    "P": "op_persid",
    "\x82": "op_ext",
    "\x83": "op_ext",
    "\x84": "op_ext",
}


# C's strtol(s, &end, 0), as `_pickle.c`'s load_int parses INT: "010" is octal 8, "0x1f" hex.
_STRTOL = re.compile(rb"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def parse_int_field(line: bytes) -> int | bool:
    """The INT opcode's value as CPython computes it: strtol with base 0 when the whole line
    parses and fits a C long (`00`/`01` are False/True), else `int(line, 0)`."""
    match = _STRTOL.fullmatch(line)
    if match is not None:
        sign, digits = match.groups()
        if digits[:2] in (b"0x", b"0X"):
            value = int(digits[2:], 16)
        elif digits[:1] == b"0" and len(digits) > 1:
            value = int(digits[1:], 8)
        else:
            value = int(digits)
        value = -value if sign == b"-" else value
        if -(1 << 63) <= value < (1 << 63):
            if len(line) == 2 and value in (0, 1):
                return bool(value)
            return value
    return int(line, 0)


def unpickle(
    data: bytes | Any,
    *,
    persistent_load: PersistentLoad | None = None,
    name: str = "pickle",
    limits: Limits = DEFAULT_LIMITS,
    audit: WeightsOnlyAudit | None = None,
) -> Any:
    """One pickle from the start of `data` (used for zip members and tests)."""
    return Unpickler(
        data, persistent_load=persistent_load, name=name, limits=limits, audit=audit
    ).load()
