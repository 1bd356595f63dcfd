"""The abstract interpreter: runs a class's `__init__` over abstract values, never executing it.

Values are Python literals and containers, `Unknown`, `TensorValue`, `ModuleValue` (a module
under construction) and references to code (`ClassRef`, `FunctionRef`, `ExternalRef`). Library
layers come from the layer catalog; user classes and helpers are interpreted from source.
Whatever cannot be known becomes `Unknown` and flows on silently; structure that depends on it
becomes an opaque (unknown) part of the model.

The package, from the entry point down: `interpreter` (the class, its state and budget), one
mixin per concern (`imports`, `statements`, `branches`, `assignment`, `expressions`,
`attributes` — the object model —, `calls`, `layers`, `operators`), their shared interface
`host`, the module scope and frames (`scope`, `frame`), and the tables of Python builtins,
library functions, `nn.Module` methods and library hooks (`builtins`, `library_hooks`, ...),
which depend only on the interface `runtime.Runtime`.

Import what you need from its module (`ckptlens.engine.interp.interpreter.Interpreter`): this
`__init__` imports nothing, so importing one part (a frame, the runtime interface) never
loads the whole interpreter.
"""
