"""Python sources used by the end-to-end tests (importable inside Ray actors as ``tests.helpers``)."""

import os


def length_then_die_once(prompts, responses, references=None):
    """Scores by length; the first call in a run kills its own process (the reward actor) once."""
    marker = os.environ.get("RAYRLHF_TEST_DIE_ONCE")
    if marker and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return [float(len(r)) for r in responses]
