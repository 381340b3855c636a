"""``python -m tests.reliability FILE``: the table of the figures saved in FILE (what
``make reliability`` prints after running the suite on each database)."""

import json
import sys
from pathlib import Path

from . import record, table

for part, row in json.loads(Path(sys.argv[1]).read_text()).items():
    record(part, **row)
print("\n".join(table() or ["no figures were recorded"]))
