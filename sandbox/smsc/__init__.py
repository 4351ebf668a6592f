"""The SMSC.ru sandbox gateway: `POST|GET /sys/send.php` and `/sys/status.php`.

Built from SMSC.ru's public HTTP API (the seed's status answers and error codes, and
smsc.ru/api/http/): login/psw auth (or an API key as psw with an empty login), a request
`id` shared by every number of a request (a message is (id, phone)), `phones` + `mes` or
`list`, `fmt` 0-3 answers, `op=1` / `err=1` number lists, status requests one at a time or
several at once, and error 9 for too many concurrent or too frequent requests.  It shares
the ANTS sandbox's fault injection, counting state and `/_sandbox/*` control routes; its
own knobs are `/_sandbox/smsc` (`SmscSettings`).  It imports nothing outside `sandbox/`.
"""
