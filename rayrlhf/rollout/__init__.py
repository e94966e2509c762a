"""Rollout backends: vLLM engines (in Ray actors) and plain transformers ``generate``."""
