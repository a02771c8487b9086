"""``python -m iop_workflow`` is the ``iop`` command."""

from iop_workflow.cli.main import main

if __name__ == "__main__":
    main()
