"""Output formats: nothing here computes a result, it only formats one. `check` (one class and
the workspace: text, JSON, SARIF), `map`, `keys`, `inspect`, `find` (text; the editor's fit
hint), the model's `size` (text; the editor's size lens and its hover), the constructor values;
`style` holds what the text reports share; `infer` the values a checkpoint was saved with. The
language server's words live here too: `hover` (markdown), `lens` (a linked class's code lens
title) and `status` (what it says about a document's analysis itself). Pure functions from
engine and api values to strings: no pygls, lsprotocol or torch."""
