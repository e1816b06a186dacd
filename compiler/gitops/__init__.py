"""GitOps delivery: the hydrated layout, rendered diffs, publishing and Argo CD / Flux bootstrap.

`hydrate`, `diff` and `bootstrap` are pure; `git` and `publish` are the I/O edge (real `git`
through subprocess).
"""
