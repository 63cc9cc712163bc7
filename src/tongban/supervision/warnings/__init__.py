"""预警纠错, 督查督办: warnings that escalate, supervision orders and their answers."""
