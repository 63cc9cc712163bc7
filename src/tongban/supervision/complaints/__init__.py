"""12345 complaints: tickets, routing to departments, returns and reassignment, merging
duplicates, deadlines in working days, replies and the complainant's satisfaction."""
