"""Thin optional layers over ``autolr.attach`` and the Session: each module imports its
library (an extra of the autolr package) only when it is imported itself.

- ``autolr.integrations.lightning``: ``AutoLRCallback`` for a ``lightning.Trainer``
  (extra ``[lightning]``);
- ``autolr.integrations.transformers``: a scheduler and callback pair for the Hugging Face
  ``Trainer`` (extra ``[hf]``);
- ``autolr.integrations.tensorboard``: a run's scalars as TensorBoard events (extra
  ``[tensorboard]``), behind ``autolr run/bench --tensorboard DIR``.
"""
