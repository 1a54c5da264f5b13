"""Train a TimeAutoDiff pipeline: `accelerate launch training/train_timeautodiff.py --train_file t.csv ...`.

Stage 1 fits the processor and the VAE, stage 2 the latent denoiser on the frozen VAE; both run through
`accelerate.Accelerator` (one CPU, several GPUs or machines, unchanged). The logic lives in
`timeautodiff_hf.trainer` so that `timeautodiff train` runs exactly the same code.
"""

from timeautodiff_hf.trainer import main, parse_args

if __name__ == "__main__":
    main(parse_args())
