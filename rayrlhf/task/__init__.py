"""The built-in task: an offline summarisation world, its gold oracle r*, the initial policy and the sources (README, "The built-in task")."""
