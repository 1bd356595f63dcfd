"""The static engine: source -> model tree -> predicted state_dict -> comparison -> findings."""
