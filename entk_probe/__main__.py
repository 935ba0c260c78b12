"""``python -m entk_probe ...`` runs the command line, as torchrun needs (``torchrun -m entk_probe``)."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="entk-probe")
