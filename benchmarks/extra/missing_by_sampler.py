"""Generated pm2.5 missing rate and share of windows with a gap, per sampler (500 sequences, two seeds each).

python benchmarks/extra/missing_by_sampler.py [MODEL_DIR]
"""

import json
import sys
import time

import torch
from _paths import ROOT
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from timeautodiff_hf import TimeAutoDiffPipeline

model = sys.argv[1] if len(sys.argv) > 1 else ROOT / "benchmarks" / "runs" / "pm25" / "model"
pipe = TimeAutoDiffPipeline.from_pretrained(model)
pipe.set_progress_bar_config(disable=True)
config = pipe.scheduler.config
print("training rate", pipe.processor.columns[0]["missing_rate"])
samplers = [(DPMSolverMultistepScheduler, 20), (DDPMScheduler, 50), (DDIMScheduler, 50), (DDPMScheduler, 1000)]
for scheduler, steps in samplers:
    pipe.scheduler = scheduler.from_config(config)
    for seed in (0, 1):
        started = time.time()
        frame = pipe.generate(
            num_sequences=500,
            num_inference_steps=steps,
            missing="as_data",
            generator=torch.Generator().manual_seed(seed),
        )
        missing = frame["pm2.5"].isna().to_numpy().reshape(500, -1)
        row = {
            "sampler": scheduler.__name__,
            "steps": steps,
            "seed": seed,
            "rate": float(missing.mean()),
            "share_windows_with_gap": float(missing.any(axis=1).mean()),
            "seconds": round(time.time() - started, 1),
        }
        print(json.dumps(row), flush=True)
