"""Consortium's contribution service: each participant's Shapley value per round.

So far: :mod:`.scoring`, one round scored from what the coordinator stored (the round's
starting checkpoint and each participant's trained model) on the task's held-out set. The
consumer of round events, the store and the API come next (docs/contribution.md).
"""
