"""一件事 bundles: several implementations applied for once, handled as parallel tasks.

Importing the package plugs the bundle workflow and its transition hook into the case
engine, so every process that loads the models (API, CLI, worker, tests) moves bundles
when their tasks move.
"""


def _register() -> None:
    from tongban.bundles import service

    service.register()


_register()
