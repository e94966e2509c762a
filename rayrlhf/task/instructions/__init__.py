"""The instruction-following world (``task.name: instructions``): prompts with verifiable rules, a hidden rubric as
``r*``, and sources that each see part of it."""
