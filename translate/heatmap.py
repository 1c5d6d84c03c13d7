"""Attention heatmaps as HTML: which source pieces the decoder looked at while writing each target piece.

HTML rather than a matplotlib image: the browser shapes Devanagari with a real font (Lohit or Noto Devanagari),
while matplotlib 3.11 draws some Devanagari clusters (e.g. हैं) rotated in tick labels. Strings in, string out.
"""

from collections.abc import Sequence
from html import escape

import numpy as np

from translate.normalize import is_devanagari

EOS_LABEL = "</s>"
MAX_PIECES = 80  # a bigger grid is unreadable on a page; the caller shows a note instead
# light-to-dark ramp (ColorBrewer OrRd): weight 0 → almost white, weight 1 → dark red
RAMP = np.array([(255, 247, 236), (253, 212, 158), (252, 141, 89), (215, 48, 31), (127, 0, 0)], dtype=float)

HEATMAP_CSS = """
.attn-wrap { overflow: auto; max-height: 640px; padding: 4px 0; }
.attn { border-collapse: separate !important; border-spacing: 2px; margin: 0 auto; border: none !important;
  width: auto !important; font-family: "Source Sans Pro", "Lohit Devanagari", "Noto Sans Devanagari", sans-serif; }
.attn th, .attn td { border: none !important; background: none; }
.attn th { font-weight: 400; font-size: 15px; color: var(--body-text-color); padding: 2px 6px; white-space: nowrap; }
.attn th.row { text-align: right; }
.attn th.col { vertical-align: bottom; text-align: center; }
.attn th.col.side { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; padding: 6px 2px; }
.attn th.axis { font-size: 12px; color: var(--body-text-color-subdued); text-align: left; }
.attn td { width: 30px; min-width: 30px; height: 30px; border-radius: 3px; }
.attn-legend { display: flex; align-items: center; justify-content: center; gap: 8px; font-size: 12px;
  color: var(--body-text-color-subdued); margin-top: 6px; }
.attn-legend span.bar { width: 160px; height: 10px; border-radius: 3px; }
"""


def piece_label(piece: str) -> str:
    """A SentencePiece piece without its word-start marker "▁"; a bare marker (a lone space) shows as "␣"."""
    return piece.replace("\u2581", "") or "\u2423"


def weight_color(weight: float) -> str:
    """CSS colour for an attention weight in [0, 1] on the light-to-dark ramp."""
    pos = min(max(float(weight), 0.0), 1.0) * (len(RAMP) - 1)
    low = min(int(pos), len(RAMP) - 2)
    r, g, b = RAMP[low] + (RAMP[low + 1] - RAMP[low]) * (pos - low)
    return f"#{round(r):02x}{round(g):02x}{round(b):02x}"


def attention_html(src_pieces: Sequence[str], tgt_pieces: Sequence[str], attn: np.ndarray,
                   src_name: str = "source", tgt_name: str = "target") -> str:
    """An HTML table for attn (len(tgt_pieces) + 1, len(src_pieces) + 1), EOS row and column last (</s>).

    Source pieces run down the rows (Devanagari labels stay horizontal), target pieces across the columns;
    each column shows where the decoder looked while writing that piece and sums to 1. Hover shows the weight.
    """
    rows = [piece_label(p) for p in src_pieces] + [EOS_LABEL]
    cols = [piece_label(p) for p in tgt_pieces] + [EOS_LABEL]
    attn = np.asarray(attn, dtype=float)
    if attn.shape != (len(cols), len(rows)):
        raise ValueError(f"attention shape {attn.shape} does not match {len(cols)} target x {len(rows)} source pieces")
    sideways = max(len(c) for c in cols) > 5 and not any(is_devanagari(ch) for c in cols for ch in c)
    col_class = "col side" if sideways else "col"
    head = "".join(f'<th class="{col_class}">{escape(c)}</th>' for c in cols)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f'<td style="background:{weight_color(attn[j, i])}" '
                        f'title="{escape(row)} → {escape(col)}: {attn[j, i]:.2f}"></td>' for j, col in enumerate(cols))
        body.append(f'<tr><th class="row">{escape(row)}</th>{cells}</tr>')
    gradient = ", ".join(weight_color(w) for w in np.linspace(0, 1, 6))
    return (f'<div class="attn-wrap"><table class="attn">'
            f'<tr><th class="axis">{escape(src_name)} ↓ &nbsp; {escape(tgt_name)} →</th>{head}</tr>'
            f'{"".join(body)}</table>'
            f'<div class="attn-legend">0<span class="bar" style="background:linear-gradient(to right, {gradient})">'
            f'</span>1 &nbsp;attention weight</div></div>')
