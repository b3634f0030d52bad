"""Loss-curve laws: fit one on runs, predict any schedule's curve, optimise a schedule.

    law = autolr.laws.fit(["runs/constant", "runs/cosine", "runs/two-stage"], form="mpl")
    curve = law.predict({"name": "wsd", "lr": 0.006, "total_steps": 3000,
                         "warmup_steps": 150, "decay_steps": 600}, 3000)
    schedule = law.optimize(3000, warmup_steps=150)   # a piecewise_linear Schedule
    law.save("law.json"); law = autolr.laws.load("law.json")

The forms (``autolr.laws.forms``): the multi-power law of Luo et al. (2025), "mpl", and the
form of Tissue et al. (2024), "tissue". ``docs/laws.md`` gives the formulas, the fitting
recipe and the command line (``autolr law fit|predict|optimize``).
"""

from autolr.laws.data import Curve, FitError, from_store, read_run
from autolr.laws.fit import fit
from autolr.laws.forms import FORMS, Form, get_form
from autolr.laws.io import LawFileError, load
from autolr.laws.law import Law

__all__ = [
    "FORMS",
    "Curve",
    "FitError",
    "Form",
    "Law",
    "LawFileError",
    "fit",
    "from_store",
    "get_form",
    "load",
    "read_run",
]
