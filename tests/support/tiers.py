"""The tiny scales every test runs at: a task that builds in seconds, and a run of two short iterations."""

TINY_TASK = ["task.num_train=64", "task.num_eval=24", "task.num_heldout=12", "task.sft_steps=20", "task.judge_lm_steps=10"]

# examples/quickstart.yaml routes prompts to the label model where its accuracy is certified (oracle.route), trains
# every ranking pair with an NLL anchor and a step budget; the tests that use it as a base are about other things and
# get the plain quickstart (people label all 128 prompts, one best/worst pair each, DPO alone); routed tests say so.
UNROUTED = ["oracle.route=all", "oracle.labels_per_iteration=null", "train.prompts_per_iteration=128",
            "transfer.pairs=best_worst", "oracle.burn_in=paced", "transfer.credit=people", "optim.nll_weight=0",
            "optim.max_steps=null"]

TINY_RUN = ["train.prompts_per_iteration=16", "train.responses_per_prompt=4", "transfer.best_of_n=4",
            "transfer.num_replace=2", "transfer.refresh_every=8", "train.iterations=2", "eval.num_prompts=12",
            "optim.batch_size=8", "optim.micro_batch_size=4", "optim.warmup_steps=0.1", "optim.epochs=1", "optim.lr=1e-3", "rollout.max_new_tokens=16", "rollout.num_cpus=0.5"]
