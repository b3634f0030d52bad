"""Running a config: validation (``config``), the runner and its outputs (metrics, summary,
checkpoints, plots), ``find_lr``, and small I/O primitives shared by the CLI verbs."""
