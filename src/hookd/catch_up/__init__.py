"""Catch-up: deliveries a forge failed to make while hookd was away, asked for again.

GitHub and GitLab keep a record of each webhook delivery (three days, seven days) and
redeliver one on request. hookd lists the deliveries of every hook that delivers to an
endpoint, and asks for each one whose attempts all failed and that it does not hold.
`selection` decides what to ask for (sans I/O), `forges` speaks to the forge's REST API,
`hooks` knows which hooks there are, `run` does one catch-up, `schedule` runs it in
`hookd serve`.
"""
