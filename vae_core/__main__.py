"""``python -m vae_core``: the command line (see ``vae_core.cli``)."""

import sys

from vae_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
