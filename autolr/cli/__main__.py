import sys

from autolr.cli import main

sys.exit(main())
