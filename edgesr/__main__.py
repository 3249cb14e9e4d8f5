import sys

from edgesr.cli import main

sys.exit(main())
