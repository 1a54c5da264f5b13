"""Join/inside one-step jump ratio of long generated sequences with anchoring off (None) and on (0.8).

python benchmarks/extra/seam_anchor.py LENGTH
"""

import sys

from _paths import ROOT
from beyond_windows import continuous_indices, join_positions, join_steps, load_pipeline, seeded

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
    continuous = values[..., continuous_indices(pipe.processor)]
    steps, at_join, inside = join_steps(continuous, window, join_positions(window, length))
    print(length, decay, "ratio", round(steps[:, at_join].mean() / steps[:, inside].mean(), 3), flush=True)
