"""Synthetic scale data: a province of units, its people and inspections, N cases and their
sealed history (`manage.py generate_cases`).

- `vocabulary`: the words it is made of;
- `province`: what a province looks like (units, regions, people, inspections);
- `life`: how a case's life is drawn (status, path, dates, history rows);
- `drawing`: the cases of each inspection, block by block;
- `writer`: the one writer of their rows, as the services write them (history sealed by
  `cases.history_chain`);
- `bench`, `workers`: the bench-only fast path (COPY from worker processes);
- `indexes`, `checks`: its load into an empty database (secondary indexes built once, foreign
  keys checked in bulk);
- `run`: one generation, in one transaction.
"""
