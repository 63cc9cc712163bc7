"""一件事 bundles: several implementations applied for once, handled as parallel tasks.

The bundle workflow, its effect and its transition hook are plugged into the case engine
by the composition root (bundles/wiring.py), the same in every process.
"""
