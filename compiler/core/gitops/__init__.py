"""GitOps, the pure half: diffs of rendered trees, Argo CD / Flux objects, hydrator files."""
