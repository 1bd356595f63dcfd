"""Source edits that make code and checkpoint agree: the quick fixes of the language server.

Pure (libcst and ast, no pygls). One fix per file: `rename` (renamed-module), `shape` (shape-mismatch), `mapping`
("Generate key mapping"), `saved_value` (a shape-mismatch naming the value the checkpoint was saved with: the
default, the load site's argument, the directive's entry); `classes` parses the class they edit, `edits` applies edits.
Each function returns a `Fix` (title + text edits in the
engine's coordinates: 1-based lines, 0-based character columns) or None when no edit is sure
to fix the finding. libcst parses only the class concerned (a whole 1,000-line module costs
~0.4 s; one class a few ms), so positions are shifted back by the class's first line.
"""
