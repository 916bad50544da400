"""Search algorithms: pure functions of (settings, snapshot, rng) → decision."""
