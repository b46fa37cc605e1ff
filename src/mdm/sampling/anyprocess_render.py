"""Pictures of an any-process run: terminal frames and a PNG of the states, with the edits marked.

Each frame shows one state of a traced :func:`mdm.sampling.anyprocess.generate` run with what the next
transition does to it: positions about to be deleted (red), remasked (yellow), unmasked (green), and
where a MASK will be inserted (``+``).  The last frame is the final state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["trajectory_states", "render_anyprocess", "draw_trajectory", "plot_anyprocess"]

_DELETE, _REMASK, _UNMASK, _INSERT = "31", "33", "32", "36"  # ANSI colours


def trajectory_states(result, row: int = 0, *, mask_id: int) -> list[tuple[list[int], list[str]]]:
    """``[(tokens, edits)]`` of ``row``: each state that the next step changes and, per position, the
    edit it makes (``"delete"``, ``"remask"``, ``"insert"``, ``"remask+insert"`` or ``""``; a MASK with
    no edit is unmasked), then the final state."""
    if result.trace is None:
        raise ValueError("this result has no trace: generate(..., trace=True)")
    out = []
    for step in result.trace:
        n = int(step.lengths[row])
        tokens = step.tokens[row, :n].tolist()
        edits = []
        for i in range(n):
            e = []
            if bool(step.delete[row, i]) and tokens[i] == mask_id:
                e.append("delete")
            elif bool(step.remask[row, i]):
                e.append("remask")
            if bool(step.insert[row, i]) and e[:1] != ["delete"]:
                e.append("insert")
            edits.append("+".join(e))
        if any(edits) or mask_id in tokens:
            out.append((tokens, edits))
    final = result.tokens[row, : int(result.lengths[row])].tolist()
    out.append((final, [""] * len(final)))
    return out


def render_anyprocess(result, row: int = 0, *, decode: Callable[[int], str] = str, mask_id: int,
                      sep: str = " ", color: bool = False) -> list[str]:
    """One text frame per state of ``row``: ``_`` for MASK; with ``color``, the edit each position is
    about to undergo (red delete, yellow remask, green unmask) and a cyan ``+`` where a MASK is inserted."""
    frames = []
    for tokens, edits in trajectory_states(result, row, mask_id=mask_id):
        parts = []
        for tok, edit in zip(tokens, edits):
            text = "_" if tok == mask_id else decode(tok)
            code = (_DELETE if "delete" in edit and tok == mask_id else _REMASK if "remask" in edit
                    else _UNMASK if tok == mask_id else None)
            if color and code:
                text = f"\x1b[{code}m{text}\x1b[0m"
            if "insert" in edit:
                text += f"\x1b[{_INSERT}m+\x1b[0m" if color else "+"
            parts.append(text)
        frames.append(sep.join(parts))
    return frames


_COLOURS = {"delete": "#f4a6a6", "remask": "#f6e27a", "unmask": "#a8e6a3"}


def draw_trajectory(ax, states, *, decode: Callable[[int], str] = str, mask_id: int) -> None:
    """Draw ``states`` (:func:`trajectory_states`) on the matplotlib axes ``ax``: one line of boxes
    per state (top = first), coloured by the edit the next transition makes, a ``+`` after a
    position that inserts, and a legend naming each colour and mark."""
    from matplotlib.patches import Patch, Rectangle

    width = max(len(t) for t, _ in states)
    for y, (tokens, edits) in enumerate(states):
        for x, (tok, edit) in enumerate(zip(tokens, edits)):
            kind = ("delete" if "delete" in edit and tok == mask_id else "remask" if "remask" in edit
                    else "unmask" if tok == mask_id and y < len(states) - 1 else None)
            ax.add_patch(Rectangle((x, -y - 1), 0.95, 0.9, color=_COLOURS.get(kind, "#e8e8e8")))
            ax.text(x + 0.47, -y - 0.55, "_" if tok == mask_id else decode(tok), ha="center", va="center",
                    fontsize=7, family="monospace")
            if "insert" in edit:
                ax.text(x + 0.97, -y - 0.55, "+", ha="center", va="center", fontsize=8, color="#1f77b4",
                        weight="bold")
    ax.set_xlim(0, width + 0.5)
    ax.set_ylim(-len(states) - 0.2, 0.2)
    ax.axis("off")
    handles = [Patch(color=c, label=f"{k} next") for k, c in _COLOURS.items()]
    handles += [Patch(color="#e8e8e8", label="kept"),
                Patch(color="white", label="+ : insert a MASK after (blue)"),
                Patch(color="white", label="_ : MASK; rows: states, top first")]
    ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


def plot_anyprocess(result, path: str | Path, *, row: int = 0, decode: Callable[[int], str] = str,
                    mask_id: int, title: str = "", max_states: int = 40):
    """A PNG of :func:`draw_trajectory` for ``row`` of a traced run.  Returns the matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    states = trajectory_states(result, row, mask_id=mask_id)[:max_states]
    width = max(len(t) for t, _ in states)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.32 * width + 1) + 2.2, 0.32 * len(states) + 1))
    draw_trajectory(ax, states, decode=decode, mask_id=mask_id)
    ax.set_title(title or "AP-MDM trajectory (red: delete, yellow: remask, green: unmask, +: insert)",
                 fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")  # the title may be wider than a short sequence
    plt.close(fig)
    return fig
