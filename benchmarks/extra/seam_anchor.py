"""Join/inside one-step jump ratio of long generated sequences with anchoring off (None) and on (0.8).

python benchmarks/extra/seam_anchor.py LENGTH
"""

import sys

import numpy as np
from _paths import ROOT
from beyond_windows import continuous_indices, join_positions, load_pipeline, seeded

pipe = load_pipeline(ROOT / "benchmarks" / "runs" / "bike" / "model")
length = int(sys.argv[1])
window = pipe.processor.sequence_length
for decay in (None, 0.8):
    pipe.anchor_decay = decay
    values = pipe(
        num_sequences=100,
        sequence_length=length,
        num_inference_steps=20,
        output_type="np",
        missing="none",
        generator=seeded(0),
    ).frames
    steps = np.abs(np.diff(values[..., continuous_indices(pipe.processor)], axis=1))
    at_join = np.zeros(length - 1, dtype=bool)
    at_join[[join - 1 for join in join_positions(window, length)]] = True
    inside = ~at_join
    inside[: window - 1] = False
    print(length, decay, "ratio", round(steps[:, at_join].mean() / steps[:, inside].mean(), 3), flush=True)
