"""Output formats: nothing here computes a result, it only formats one. `check` (one class and
the workspace: text, JSON, SARIF), `map`, `keys`, `inspect`, `find` (text), the model's `size`, the constructor values; `style`
holds what the text reports share; `infer` the values a checkpoint was saved with."""
