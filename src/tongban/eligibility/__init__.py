"""Eligibility (一键核对, 免申即享): policies written once as versioned rule sets citing
their legal source, evaluated for one subject with an explanation per rule, and over a
whole population as columns, reading the base registries only under sharing's grants."""
