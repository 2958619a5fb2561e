"""Trained models: the on-disk registry, bring-your-own-data tabular models (``tabular/``)
and the simulator's refund model (``refund/``).

Nothing is imported here, so ``import vigil.models.registry`` stays cheap.
"""
