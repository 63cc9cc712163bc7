"""Supervision (电子监察): warnings, ratings, complaints, metrics and random inspections."""
