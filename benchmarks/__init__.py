"""rayrlhf's benchmark suite (``make bench``; benchmarks/README.md). Each module runs one comparison; run_all runs
them in turn and writes results.json, the plots and the ratios."""
