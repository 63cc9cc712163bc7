"""双随机一公开: frozen lists, committed draws, logged recusals, a verifier anyone can run."""
