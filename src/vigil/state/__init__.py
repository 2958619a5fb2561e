"""State the runtime owns: keyed maps, event-time timers, windowed aggregates.

Everything here is plain, picklable data so a checkpoint is one atomic snapshot.
"""
