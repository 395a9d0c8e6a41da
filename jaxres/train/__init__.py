"""The training engine: state, steps, parallelism, optimizers, checkpoints, the loop, and what a training leaves
in its workdir; import the submodule you need (`jaxres.train.loop`, `jaxres.train.checkpoint`, ...)."""
