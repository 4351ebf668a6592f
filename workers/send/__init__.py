"""The stages of sending one batch (`workers.sender.BatchSender`), one module each.

- `state`: what a run holds (the provider, its limits and facts, the claim token);
- `claiming`: which destinations this run may send; unknown outcomes asked about;
- `gating`: what may go now (validity, delivery window, limits gate);
- `requesting`: one request per admitted group, with quick retries;
- `deciding`: what each answer means (`Decisions`), nothing written yet;
- `recording`: the decisions carried out (park, follow-ups, side effects, events).

Each stage is a mixin on the previous one (Gating → Requesting → Claiming → Deciding →
SenderState), so a stage calls only those below it; recording is plain functions.
"""
