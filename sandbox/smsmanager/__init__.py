"""The SmsManager sandbox: the legacy HTTP API (http-api.smsmanager.cz) as its public
documentation and public clients describe it, with the shared fault injection, counting
and `/_sandbox/*` control routes.  See `sandbox.smsmanager.app`.

Like every module of `sandbox/`, it imports nothing of the code it judges.
"""
