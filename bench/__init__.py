"""``make bench``: throughput of ttdf/tofnet stages against bare library calls (see ``python -m bench --help``)."""
