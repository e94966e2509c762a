"""``python -m rayrlhf.cli``: the ``rayrlhf`` command."""

import os
import sys

from rayrlhf.cli import main

if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
