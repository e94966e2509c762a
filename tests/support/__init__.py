"""What the tests share: one CLI runner and environment (cli.py), the browser fixture (browser.py), tiny models,
annotation and bad-input helpers, the fault harness, and the python sources tests name in configs (helpers.py)."""
