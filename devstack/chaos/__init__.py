"""`paystream chaos`: the whole platform under gateway faults, process kills and broker
restarts, with every order checked against the gateway's ledger afterwards.

`report` holds the pure comparison (order views + ledger + client tallies -> report),
`traffic` the shopper traffic through the public edge, `run` the platform, the faults and
the kills, and the command itself.
"""
