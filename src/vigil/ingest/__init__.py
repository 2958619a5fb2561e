"""Getting records in: sources with replayable positions, and the dead-letter store."""
