"""Makes `benchmarks/` importable and names the repository root for the drivers in this folder."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
