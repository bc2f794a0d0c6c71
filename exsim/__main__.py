import sys

from exsim.cli import main

sys.exit(main())
