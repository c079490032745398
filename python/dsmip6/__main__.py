import sys

from dsmip6.cli import main

sys.exit(main())
