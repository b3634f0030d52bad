"""One line style per method, shared by every figure of a report.

A report builds its style map once, from every method label of every task, so a method has
the same colour, line style and marker in the curves, the detail and the profile figures.
The line style says the method's kind (tuned baselines dashed, untuned defaults dotted,
peers dash-dot, controllers solid); colour and marker tell methods apart, and in greyscale
marker and line style do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autolr.bench.analysis import TaskReport

# colours and markers are handed out controllers first: the methods every figure shows
COLOUR_ORDER = ("self", "peer", "default", "eval", "replay")
LINESTYLES = {"eval": "--", "default": ":", "peer": "-.", "self": "-", "replay": ":"}
# matplotlib's tab10, a qualitative palette; 10 colours and 9 markers (coprime lengths), so
# method i gets (colour i mod 10, marker i mod 9): no two of the first 90 methods share both
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<")


@dataclass(frozen=True)
class Style:
    """How one method is drawn: matplotlib's ``color``, ``linestyle`` and ``marker``."""

    color: str
    linestyle: str
    marker: str

    def kwargs(self) -> dict[str, Any]:
        return {"color": self.color, "linestyle": self.linestyle, "marker": self.marker}


def style_map(tracks: Mapping[str, str]) -> dict[str, Style]:
    """``{method: Style}`` for ``tracks`` (``{method: track}``), in the order colours are
    handed out: methods are numbered by (track in ``COLOUR_ORDER``, label), and method i
    gets ``PALETTE[i % 10]`` and ``MARKERS[i % 9]``, with its track's line style. The map
    depends only on the set of methods, never on the order they were found in."""
    rank = {track: i for i, track in enumerate(COLOUR_ORDER)}
    ordered = sorted(tracks.items(), key=lambda kv: (rank.get(kv[1], len(rank)), kv[0]))
    return {
        method: Style(
            PALETTE[i % len(PALETTE)], LINESTYLES.get(track, "-"), MARKERS[i % len(MARKERS)]
        )
        for i, (method, track) in enumerate(ordered)
    }


def report_styles(reports: Iterable[TaskReport]) -> dict[str, Style]:
    """The style map of a whole report: every method of every task, not-applicable ones
    included (so a method keeps its style whichever tasks it ran on)."""
    tracks: dict[str, str] = {}
    for rep in reports:
        tracks.update({r.method: r.track for r in rep.rows.values()})
        tracks.update(dict(rep.not_applicable))
    return style_map(tracks)
