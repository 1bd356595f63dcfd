"""The research corpus: real model code from public repositories, its cases and harness."""
