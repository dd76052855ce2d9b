import sys

from runwire.cli.main import main

sys.exit(main())
