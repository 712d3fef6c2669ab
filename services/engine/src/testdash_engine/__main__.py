"""python -m testdash_engine."""

from testdash_engine.cli import main

if __name__ == "__main__":
    main()
