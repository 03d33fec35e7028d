import sys

from backend.host.server import main

sys.exit(main())
