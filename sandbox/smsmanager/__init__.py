"""The SmsManager sandbox: the legacy HTTP API (http-api.smsmanager.cz) and XML API
(xml-api.smsmanager.cz, on the same server) as their public documentation and public
clients describe them, at their least favourable reading, with the shared fault
injection, counting and `/_sandbox/*` control routes.  See `sandbox.smsmanager.app`.

Like every module of `sandbox/`, it imports nothing of the code it judges.
"""
