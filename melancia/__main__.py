import sys

from melancia.cli import main

sys.exit(main())
