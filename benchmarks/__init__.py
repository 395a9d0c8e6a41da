"""Side-by-side benchmarks of jaxres and PyTorch; see benchmarks/run.py and docs/BENCHMARKS.md."""
