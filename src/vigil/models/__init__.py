"""Trained models: the on-disk registry, bring-your-own-data tabular models (``tabular/``)
and the simulator's refund model (``refund/``).

Nothing is imported here, so ``import vigil.models.registry`` stays cheap.

One setting is made here, before any model code loads LightGBM: its OpenMP threads wait for
work passively (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose otherwise. By default they
spin, and on a machine whose other core is busy (a shared laptop, CI, the runtime beside the
API) a two-thread fit then runs more than ten times slower: 200 rounds on 20,000 rows took
21.5 s with one core busy elsewhere, and 1.6 s with passive waiting (measured here).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
