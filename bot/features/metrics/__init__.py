"""Engineering metrics from Git alone: the DORA figures and the incident times."""
