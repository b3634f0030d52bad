"""Population methods: PBT and PB2 over a task's LR, on Ray Tune's schedulers.

A bench suite lists them under ``populations`` (``{name: pbt, population: 4,
perturbation_interval: 100}``; the keys: ``autolr.population.config``); each cell is one
whole population run (``autolr.population.run``), charged every member's steps, reported
by its selected member. Ray is imported on first use (``pip install -e ".[ray]"``).
"""
