"""The native unified model: one block-causal Transformer over interleaved per-unit token groups.

Layout per 160 ms unit (4 ticks): user video patches, user audio tokens, user text bytes, the
decision token, avatar text bytes, avatar audio tokens, avatar video tokens. Attention is full
within a unit and causal across units; a pinned sink (persona prompt + identity frame) is always
visible. No public weights exist: train with `duet-engine train`.
"""
