"""The domain core: one module per area, owning its rules and its queries, callable
without a request (the actor and the clock are arguments)."""
