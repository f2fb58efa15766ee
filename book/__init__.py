"""The reception book (sổ tiếp công dân), the watch list and the reports the offices owe."""
