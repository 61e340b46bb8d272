"""Client records, consent and opt-outs."""
