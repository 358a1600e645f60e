"""`python -m wattfolio.cli`: the same as the `wattfolio` console script."""
import sys

from .main import main

sys.exit(main())
