"""The chart of `!metrics`: weekly deploys and change failure rate, and the weekly median lead
time, as a PNG drawn with matplotlib's Agg backend (the optional `charts` extra).

Drawn on a `Figure` of its own, never through pyplot's global state, so that it is safe in the
engine's worker thread, where handlers run (never on the event loop).
"""

import io
from dataclasses import dataclass

from bot.features.metrics.figures import Report

SIZE = (8.0, 5.0)  # inches
DPI = 100


@dataclass(frozen=True)
class Png:
    data: bytes
    width: int
    height: int


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw(report: Report) -> Png | None:
    """The chart, or None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    weeks = report.weeks
    labels = [w.start.strftime("%m-%d") for w in weeks]
    # Weeks at 0, 1, 2...: plotting the labels themselves would make matplotlib map every
    # string to a category on each call, for the same picture.
    xs = list(range(len(weeks)))
    figure = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.bar(xs, [w.deploys for w in weeks], color="#4c78a8", label="deploys")
    top.set_ylabel("deploys / week")
    rate = top.twinx()
    rate.plot(
        xs,
        [100 * (w.failure_rate or 0.0) for w in weeks],
        color="#e45756",
        marker="o",
        label="change failure rate",
    )
    rate.set_ylabel("failure rate %")
    rate.set_ylim(0, 100)
    # A title placed where it is asked (y=1): left to itself, matplotlib measures every tick
    # label of the axes on each draw to lift the title over them, and nothing is up there.
    top.set_title(f"{report.scope}: {report.since:%Y-%m-%d} to {report.until:%Y-%m-%d}", y=1.0)
    leads = [(w.lead_median or 0.0) / 3600 for w in weeks]
    bottom.plot(xs, leads, color="#54a24b", marker="o")
    bottom.set_ylabel("lead time median (h)")
    bottom.set_xticks(xs, labels)
    bottom.tick_params(axis="x", labelrotation=60, labelsize=7)
    # Fixed margins: tight_layout measures every label first, and costs more than the drawing.
    figure.subplots_adjust(left=0.09, right=0.91, top=0.93, bottom=0.14, hspace=0.12)
    out = io.BytesIO()
    # zlib's fastest level: a third of the time of the default for a file about 7% larger.
    figure.savefig(out, format="png", pil_kwargs={"compress_level": 1})
    width, height = (int(v) for v in figure.get_size_inches() * DPI)
    return Png(out.getvalue(), width, height)
