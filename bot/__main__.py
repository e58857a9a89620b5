"""`python -m bot` is `warroom`."""

import sys

from bot.cli import main

sys.exit(main())
