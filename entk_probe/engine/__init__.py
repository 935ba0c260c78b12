"""The kernel engine: the empirical NTK of one model on one probe, exact, within a memory budget.

``kernel`` is the entry point (``compute_entk``, ``compute_entk_result``). The kernel is a sum
over layers: ``layers`` says which modules can be captured, ``capture`` records their inputs and
output cotangents and checks them against autograd, ``costmodel`` and ``layerplan`` choose a path
per layer, ``structured`` computes the captured layers' Gram matrices, and ``jacobian`` with
``planning`` and ``contributions`` does the rest from per-sample Jacobians; ``gram`` multiplies
symmetric Gram blocks; ``modes``, ``parameters``, ``conditions`` and ``memory`` hold the kernel
modes, the parameter filter, eval mode and TF32, and the budget. ``partial`` splits a plan into
parts whose kernels sum to the whole one (``part=`` of ``compute_entk_result``; ``--shard parameters``).
"""
